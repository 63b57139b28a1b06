/*
 * blake2b.c: BLAKE2b from RFC 7693 (sections 2.4 G, 3.2 F, 3.3 the hash), keyed or not.
 *
 * Why not OpenSSL: the engine's only link dependency is libpcap, so a sensor built on the
 * Pi itself needs no libssl-dev; a flow uid hashes one 8-byte serial under a fixed key
 * (the key block is compressed once per batch, blake2b_absorb_key, then one compression
 * per uid), where a library's per-call set-up is a large part of the work
 * (docs/PERFORMANCE.md). Checked against RFC 7693 Appendix A and the BLAKE2 reference
 * keyed vectors (native/tests/test_digests.c) and against Python's hashlib on random
 * inputs, keys and digest sizes (tests/test_json_lines.py).
 */
#include "blake2b.h"

#include <string.h>

static const uint64_t IV[8] = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL,
                               0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
                               0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
                               0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

static const uint8_t SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

static inline uint64_t ror64(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

static inline uint64_t load_le64(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
#else
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | p[i];
    return x;
#endif
}

#define G(a, b, c, d, x, y)                                                                  \
    do {                                                                                     \
        v[a] = v[a] + v[b] + (x);                                                            \
        v[d] = ror64(v[d] ^ v[a], 32);                                                       \
        v[c] = v[c] + v[d];                                                                  \
        v[b] = ror64(v[b] ^ v[c], 24);                                                       \
        v[a] = v[a] + v[b] + (y);                                                            \
        v[d] = ror64(v[d] ^ v[a], 16);                                                       \
        v[c] = v[c] + v[d];                                                                  \
        v[b] = ror64(v[b] ^ v[c], 63);                                                       \
    } while (0)

/* F: compress one block into h; `last` marks the final block. */
static void compress(struct blake2b_state *s, const uint8_t block[BLAKE2B_BLOCK_BYTES], int last)
{
    uint64_t v[16], m[16];
    for (int i = 0; i < 8; i++) {
        v[i] = s->h[i];
        v[i + 8] = IV[i];
    }
    v[12] ^= s->t[0];
    v[13] ^= s->t[1];
    if (last)
        v[14] = ~v[14];
    for (int i = 0; i < 16; i++)
        m[i] = load_le64(block + 8 * i);
    /* Rounds written out, so each message word index is a constant. */
#define ROUND(r)                                                                             \
    do {                                                                                     \
        G(0, 4, 8, 12, m[SIGMA[r][0]], m[SIGMA[r][1]]);                                      \
        G(1, 5, 9, 13, m[SIGMA[r][2]], m[SIGMA[r][3]]);                                      \
        G(2, 6, 10, 14, m[SIGMA[r][4]], m[SIGMA[r][5]]);                                     \
        G(3, 7, 11, 15, m[SIGMA[r][6]], m[SIGMA[r][7]]);                                     \
        G(0, 5, 10, 15, m[SIGMA[r][8]], m[SIGMA[r][9]]);                                     \
        G(1, 6, 11, 12, m[SIGMA[r][10]], m[SIGMA[r][11]]);                                   \
        G(2, 7, 8, 13, m[SIGMA[r][12]], m[SIGMA[r][13]]);                                    \
        G(3, 4, 9, 14, m[SIGMA[r][14]], m[SIGMA[r][15]]);                                    \
    } while (0)
    ROUND(0);
    ROUND(1);
    ROUND(2);
    ROUND(3);
    ROUND(4);
    ROUND(5);
    ROUND(6);
    ROUND(7);
    ROUND(8);
    ROUND(9);
    ROUND(10);
    ROUND(11);
#undef ROUND
    for (int i = 0; i < 8; i++)
        s->h[i] ^= v[i] ^ v[i + 8];
}

static void count(struct blake2b_state *s, uint64_t n)
{
    s->t[0] += n;
    if (s->t[0] < n)
        s->t[1]++;
}

int blake2b_init(struct blake2b_state *s, size_t digest_len, const void *key, size_t key_len)
{
    if (digest_len < 1 || digest_len > BLAKE2B_MAX_DIGEST || key_len > BLAKE2B_MAX_KEY)
        return -1;
    memset(s, 0, sizeof *s);
    memcpy(s->h, IV, sizeof IV);
    /* Parameter block: digest length, key length, fanout 1, depth 1. */
    s->h[0] ^= 0x01010000ULL ^ ((uint64_t)key_len << 8) ^ digest_len;
    s->digest_len = digest_len;
    if (key_len) {
        memcpy(s->buf, key, key_len); /* zero-padded to a whole block */
        s->buf_len = BLAKE2B_BLOCK_BYTES;
    }
    return 0;
}

void blake2b_update(struct blake2b_state *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        if (s->buf_len == BLAKE2B_BLOCK_BYTES) { /* more is coming: not the last block */
            count(s, BLAKE2B_BLOCK_BYTES);
            compress(s, s->buf, 0);
            s->buf_len = 0;
        }
        size_t take = BLAKE2B_BLOCK_BYTES - s->buf_len;
        if (take > len)
            take = len;
        memcpy(s->buf + s->buf_len, p, take);
        s->buf_len += take;
        p += take;
        len -= take;
    }
}

void blake2b_absorb_key(struct blake2b_state *s)
{
    if (s->buf_len != BLAKE2B_BLOCK_BYTES || s->t[0] || s->t[1])
        return; /* not a fresh keyed state */
    count(s, BLAKE2B_BLOCK_BYTES);
    compress(s, s->buf, 0);
    s->buf_len = 0;
}

void blake2b_final(struct blake2b_state *s, uint8_t *out)
{
    count(s, s->buf_len);
    memset(s->buf + s->buf_len, 0, BLAKE2B_BLOCK_BYTES - s->buf_len);
    compress(s, s->buf, 1);
    for (size_t i = 0; i < s->digest_len; i++)
        out[i] = (uint8_t)(s->h[i / 8] >> (8 * (i % 8)));
}

int blake2b(uint8_t *out, size_t digest_len, const void *key, size_t key_len, const void *data,
            size_t len)
{
    struct blake2b_state s;
    if (blake2b_init(&s, digest_len, key, key_len) < 0)
        return -1;
    blake2b_update(&s, data, len);
    blake2b_final(&s, out);
    return 0;
}
