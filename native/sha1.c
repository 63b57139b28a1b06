/*
 * sha1.c: SHA-1 from FIPS 180-4 (sections 5.1.1 padding, 6.1.2 computation), one shot.
 *
 * Why not OpenSSL: the engine's only link dependency is libpcap, so a sensor built on the
 * Pi itself needs no libssl-dev; Community ID hashes one short message per flow (16 or
 * 40 bytes: one 64-byte block), where a library's per-call set-up is a large part of the
 * work (docs/PERFORMANCE.md). Checked against the FIPS 180-4 / RFC 3174 known answers
 * (native/tests/test_digests.c) and against Python's hashlib on random inputs
 * (tests/test_json_lines.py).
 */
#include "sha1.h"

#include <string.h>

static inline uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static inline uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The schedule W(t) kept as a ring of 16 words (FIPS 180-4 6.1.3's alternate method). */
#define W(t)                                                                                 \
    ((t) < 16 ? w[(t)]                                                                       \
              : (w[(t)&15] = rol32(w[((t) + 13) & 15] ^ w[((t) + 8) & 15] ^                  \
                                       w[((t) + 2) & 15] ^ w[(t)&15],                        \
                                   1)))
#define CH(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define PARITY(x, y, z) ((x) ^ (y) ^ (z))
#define MAJ(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))
/* One round: T = ROTL5(a) + f(b, c, d) + e + K + W(t), then e..a shift along. Written in
 * place: the caller names the variables in their new roles for the next round. */
#define STEP(f, a, b, c, d, e, k, t)                                                        \
    do {                                                                                     \
        e += rol32(a, 5) + f(b, c, d) + (k) + W(t);                                          \
        b = rol32(b, 30);                                                                    \
    } while (0)
#define FIVE(f, k, t)                                                                        \
    do {                                                                                     \
        STEP(f, a, b, c, d, e, k, t);                                                        \
        STEP(f, e, a, b, c, d, k, (t) + 1);                                                  \
        STEP(f, d, e, a, b, c, k, (t) + 2);                                                  \
        STEP(f, c, d, e, a, b, k, (t) + 3);                                                  \
        STEP(f, b, c, d, e, a, k, (t) + 4);                                                  \
    } while (0)

static void sha1_block(uint32_t h[5], const uint8_t block[64])
{
    uint32_t w[16];
    for (int t = 0; t < 16; t++)
        w[t] = load_be32(block + 4 * t);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    FIVE(CH, 0x5a827999u, 0);
    FIVE(CH, 0x5a827999u, 5);
    FIVE(CH, 0x5a827999u, 10);
    FIVE(CH, 0x5a827999u, 15);
    FIVE(PARITY, 0x6ed9eba1u, 20);
    FIVE(PARITY, 0x6ed9eba1u, 25);
    FIVE(PARITY, 0x6ed9eba1u, 30);
    FIVE(PARITY, 0x6ed9eba1u, 35);
    FIVE(MAJ, 0x8f1bbcdcu, 40);
    FIVE(MAJ, 0x8f1bbcdcu, 45);
    FIVE(MAJ, 0x8f1bbcdcu, 50);
    FIVE(MAJ, 0x8f1bbcdcu, 55);
    FIVE(PARITY, 0xca62c1d6u, 60);
    FIVE(PARITY, 0xca62c1d6u, 65);
    FIVE(PARITY, 0xca62c1d6u, 70);
    FIVE(PARITY, 0xca62c1d6u, 75);
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void sha1(const void *data, size_t len, uint8_t out[SHA1_DIGEST_BYTES])
{
    uint32_t h[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
    const uint8_t *p = data;
    size_t left = len;
    for (; left >= 64; left -= 64, p += 64)
        sha1_block(h, p);
    /* Padding: 0x80, zeros, the message length in bits (64-bit big endian). */
    uint8_t tail[128] = {0};
    if (left)
        memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tail_len = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tail_len == 128)
        sha1_block(h, tail + 64);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}
