/*
 * test_digests.c: native/sha1.c and native/blake2b.c against their known answers.
 *
 *   test_digests            the known-answer vectors; prints "N passed, M failed"
 *   test_digests diff       reads lines "sha1 - - MSG" or "blake2b DIGEST_LEN KEY MSG"
 *                           (hex, "-" for empty) and prints each digest in hex, one a
 *                           line: tests/test_json_lines.py compares them with hashlib
 *
 * Vectors: SHA-1 from FIPS 180-4's examples / RFC 3174 (abc, the 448-bit message, one
 * million 'a', the empty message); BLAKE2b-512 of "abc" from RFC 7693 Appendix A, the
 * empty message, and the BLAKE2 reference keyed vectors (blake2b-kat.txt: key 00..3f,
 * messages of 0, 1 and 255 bytes 00, 01, ...), plus every way of splitting a message
 * across blake2b_update calls and the absorbed-key shortcut json_lines.c uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blake2b.h"
#include "sha1.h"

static int passed, failed;

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = 0;
}

static void check(const char *what, const uint8_t *got, size_t n, const char *want)
{
    char text[2 * BLAKE2B_MAX_DIGEST + 1];
    hex(got, n, text);
    if (strcmp(text, want) == 0) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "FAIL %s: got %s want %s\n", what, text, want);
    }
}

static void known_answers(void)
{
    uint8_t d[BLAKE2B_MAX_DIGEST];
    sha1("abc", 3, d);
    check("sha1 abc", d, 20, "a9993e364706816aba3e25717850c26c9cd0d89d");
    sha1("", 0, d);
    check("sha1 empty", d, 20, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha1(m448, strlen(m448), d);
    check("sha1 448 bits", d, 20, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    char *million = malloc(1000000);
    if (!million)
        abort();
    memset(million, 'a', 1000000);
    sha1(million, 1000000, d);
    check("sha1 million a", d, 20, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    free(million);

    blake2b(d, 64, NULL, 0, "abc", 3);
    check("blake2b abc (RFC 7693 A)", d, 64,
          "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
          "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
    blake2b(d, 64, NULL, 0, "", 0);
    check("blake2b empty", d, 64,
          "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419"
          "d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce");
    uint8_t key[64], msg[255];
    for (int i = 0; i < 64; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 255; i++)
        msg[i] = (uint8_t)i;
    blake2b(d, 64, key, 64, msg, 0);
    check("blake2b keyed kat 0", d, 64,
          "10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786"
          "b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568");
    blake2b(d, 64, key, 64, msg, 1);
    check("blake2b keyed kat 1", d, 64,
          "961f6dd1e4dd30f63901690c512e78e4b45e4742ed197c3c5e45c549fd25f2e4"
          "187b0bc9fe30492b16b0d0bc4ef9b0f34c7003fac09a5ef1532e69430234cebd");
    const char *kat255 = "142709d62e28fcccd0af97fad0f8465b971e82201dc51070faa0372aa43e9248"
                         "4be1c1e73ba10906d5d1853db6a4106e0a7bf9800d373d6dee2d46d62ef2a461";
    blake2b(d, 64, key, 64, msg, 255);
    check("blake2b keyed kat 255", d, 64, kat255);
    /* The same message fed in two pieces, split everywhere. */
    for (size_t cut = 0; cut <= 255; cut++) {
        struct blake2b_state s;
        blake2b_init(&s, 64, key, 64);
        blake2b_update(&s, msg, cut);
        blake2b_update(&s, msg + cut, 255 - cut);
        blake2b_final(&s, d);
        check("blake2b keyed kat 255 split", d, 64, kat255);
    }
    /* The key block absorbed first (json_lines.c's uid path), then a non-empty message. */
    struct blake2b_state keyed;
    blake2b_init(&keyed, 64, key, 64);
    blake2b_absorb_key(&keyed);
    struct blake2b_state copy = keyed;
    blake2b_update(&copy, msg, 1);
    blake2b_final(&copy, d);
    check("blake2b absorbed key, kat 1", d, 64,
          "961f6dd1e4dd30f63901690c512e78e4b45e4742ed197c3c5e45c549fd25f2e4"
          "187b0bc9fe30492b16b0d0bc4ef9b0f34c7003fac09a5ef1532e69430234cebd");
    copy = keyed;
    blake2b_update(&copy, msg, 255);
    blake2b_final(&copy, d);
    check("blake2b absorbed key, kat 255", d, 64, kat255);
    /* Out-of-range lengths are refused. */
    struct blake2b_state s;
    if (blake2b_init(&s, 0, NULL, 0) == -1 && blake2b_init(&s, 65, NULL, 0) == -1 &&
        blake2b_init(&s, 32, key, 65) == -1)
        passed++;
    else
        failed++, fprintf(stderr, "FAIL blake2b_init accepted a bad length\n");
}

static size_t unhex(const char *text, uint8_t *out, size_t cap)
{
    if (strcmp(text, "-") == 0)
        return 0;
    size_t n = strlen(text) / 2;
    if (n > cap)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned byte;
        if (sscanf(text + 2 * i, "%2x", &byte) != 1)
            abort();
        out[i] = (uint8_t)byte;
    }
    return n;
}

/* One digest per input line, for the comparison with hashlib. */
static int differential(void)
{
    static char line[70000], alg[16], dlen[8], keyhex[200], msghex[66000];
    static uint8_t key[100], msg[33000];
    uint8_t d[BLAKE2B_MAX_DIGEST];
    char text[2 * BLAKE2B_MAX_DIGEST + 1];
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "%15s %7s %199s %65999s", alg, dlen, keyhex, msghex) != 4)
            return 1;
        size_t key_len = unhex(keyhex, key, sizeof key);
        size_t msg_len = unhex(msghex, msg, sizeof msg);
        size_t n;
        if (strcmp(alg, "sha1") == 0) {
            sha1(msg, msg_len, d);
            n = 20;
        } else {
            n = (size_t)atoi(dlen);
            if (blake2b(d, n, key, key_len, msg, msg_len) < 0)
                return 1;
        }
        hex(d, n, text);
        puts(text);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "diff") == 0)
        return differential();
    known_answers();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
