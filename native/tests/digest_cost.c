/*
 * digest_cost.c: what one flow's digests cost, the engine's own SHA-1 and BLAKE2b against
 * OpenSSL 3's EVP used at its cheapest (algorithm fetched once, context reused: SHA-1 by
 * EVP_DigestInit_ex/Update/Final_ex, keyed BLAKE2b by the BLAKE2BMAC EVP_MAC re-initialised
 * with its key). A measurement for docs/PERFORMANCE.md, not a test: it needs libssl-dev,
 * which the engine itself does not.
 *
 *   gcc -std=c11 -O3 -D_GNU_SOURCE -Inative native/tests/digest_cost.c native/sha1.c \
 *       native/blake2b.c -lcrypto -o build/digest_cost
 *   for mode in none sha1 evp-sha1 blake2b evp-blake2b; do for n in 1000 101000; do
 *     valgrind --tool=callgrind --callgrind-out-file=build/cg.$mode.$n \
 *       build/digest_cost $mode $n; done; done
 *
 * Instructions per digest: (count at 101000 - count at 1000) / 100000, less the same for
 * "none" (the loop alone). Messages are Community ID's IPv4 shape (16 bytes) and a uid's
 * (the 8-byte serial, 13-byte digest keyed by a 16-byte boot id).
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blake2b.h"
#include "sha1.h"

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *mode = argv[1];
    long n = atol(argv[2]);
    uint8_t msg[16] = {0}, out[64] = {0}, key[16];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA1", NULL);
    EVP_MD_CTX *md_ctx = EVP_MD_CTX_new();
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "BLAKE2BMAC", NULL);
    EVP_MAC_CTX *mac_ctx = EVP_MAC_CTX_new(mac);
    size_t size = 13;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                           OSSL_PARAM_END};
    if (!md || !md_ctx || !mac_ctx || !EVP_MAC_init(mac_ctx, key, sizeof key, params))
        return 2;
    struct blake2b_state keyed;
    blake2b_init(&keyed, 13, key, sizeof key);
    blake2b_absorb_key(&keyed);
    unsigned sum = 0;
    for (long i = 0; i < n; i++) {
        memcpy(msg, &i, sizeof i);
        if (strcmp(mode, "sha1") == 0) {
            sha1(msg, 16, out);
        } else if (strcmp(mode, "evp-sha1") == 0) {
            unsigned len;
            EVP_DigestInit_ex(md_ctx, md, NULL);
            EVP_DigestUpdate(md_ctx, msg, 16);
            EVP_DigestFinal_ex(md_ctx, out, &len);
        } else if (strcmp(mode, "blake2b") == 0) {
            struct blake2b_state s = keyed;
            blake2b_update(&s, msg, 8);
            blake2b_final(&s, out);
        } else if (strcmp(mode, "evp-blake2b") == 0) {
            size_t len;
            EVP_MAC_init(mac_ctx, NULL, 0, NULL);
            EVP_MAC_update(mac_ctx, msg, 8);
            EVP_MAC_final(mac_ctx, out, &len, sizeof out);
        } else {
            out[0] = (uint8_t)i;
        }
        sum += out[0];
    }
    printf("%s %ld %u\n", mode, n, sum);
    return 0;
}
