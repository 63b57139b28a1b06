/*
 * siphash.h: SipHash-1-3, the keyed hash for every table whose keys come off the wire
 * (flows, fragments, devices). Header only; no other engine header needed.
 *
 * Why: with a plain seeded mix an attacker who controls the key bytes can cancel the
 * seed (the review's IPv6 first fragments: the fragment id cancels the first source
 * word, so ~2^32 keys share one bucket whatever the seed). SipHash is a PRF under a
 * 128-bit secret key: without the key, colliding keys cannot be built. 1-3 rounds (as
 * CPython, Rust and Linux's hsiphash use for hash tables) rather than 2-4: hash
 * flooding needs the keys to be unpredictable, not a MAC. Plain 64-bit adds, rotates
 * and xors: no AES or CRC instructions, so it costs the same on a Pi 4 (Cortex-A72
 * without the crypto extension) as anywhere.
 *
 * How to use:
 *     struct siphash_key key;               // one per table, kept with the table
 *     engine_random_seed(key.k, 2);         // engine.h: getrandom, or the clock fallback
 *     uint64_t h = siphash13(&key, bytes, len);        // any byte string
 *     uint64_t h = siphash13_u64(&key, word);          // one 64-bit value (a MAC, an id)
 *     bucket = (uint32_t)h & bucket_mask;              // every output bit is usable
 * Hash exactly the bytes that decide equality: no struct padding (zero it or hash the
 * fields), and a fixed layout for fixed-size keys (the length is part of the input, so
 * "ab" and "ab\0" differ).
 * siphash13_u64(k, w) equals siphash13(k, the 8 little-endian bytes of w, 8).
 * siphash24() is here for the reference test vectors (native/tests/test_siphash.c);
 * tables use siphash13().
 *
 * Reference: Aumasson and Bernstein, "SipHash: a fast short-input PRF" (2012), and its
 * reference implementation (github.com/veorq/SipHash), whose vectors the test checks.
 */
#ifndef IOMT_SIPHASH_H
#define IOMT_SIPHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct siphash_key {
    uint64_t k[2]; /* k[0] is the key's first 8 bytes read little-endian, k[1] the rest */
};

static inline uint64_t siphash_rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* Little-endian whatever the host: the reference defines the message as LE words. */
static inline uint64_t siphash_load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

struct siphash_state {
    uint64_t v0, v1, v2, v3;
};

static inline void siphash_round(struct siphash_state *s)
{
    s->v0 += s->v1;
    s->v1 = siphash_rotl(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = siphash_rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = siphash_rotl(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = siphash_rotl(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = siphash_rotl(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = siphash_rotl(s->v2, 32);
}

static inline struct siphash_state siphash_init(const struct siphash_key *key)
{
    struct siphash_state s = {
        key->k[0] ^ 0x736f6d6570736575ULL,
        key->k[1] ^ 0x646f72616e646f6dULL,
        key->k[0] ^ 0x6c7967656e657261ULL,
        key->k[1] ^ 0x7465646279746573ULL,
    };
    return s;
}

static inline void siphash_compress(struct siphash_state *s, uint64_t m, int c_rounds)
{
    s->v3 ^= m;
    for (int i = 0; i < c_rounds; i++)
        siphash_round(s);
    s->v0 ^= m;
}

static inline uint64_t siphash_finish(struct siphash_state *s, int d_rounds)
{
    s->v2 ^= 0xff;
    for (int i = 0; i < d_rounds; i++)
        siphash_round(s);
    return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/* SipHash-c-d over len bytes. Called with constant rounds, so the loops unroll. */
static inline uint64_t siphash_cd(const struct siphash_key *key, const void *data, size_t len,
                                  int c_rounds, int d_rounds)
{
    const uint8_t *p = data;
    struct siphash_state s = siphash_init(key);
    const uint8_t *end = p + (len & ~(size_t)7);
    for (; p != end; p += 8)
        siphash_compress(&s, siphash_load_le64(p), c_rounds);
    /* The last word: the 0..7 bytes left, and the length's low byte on top. */
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        last |= (uint64_t)p[i] << (8 * i);
    siphash_compress(&s, last, c_rounds);
    return siphash_finish(&s, d_rounds);
}

static inline uint64_t siphash13(const struct siphash_key *key, const void *data, size_t len)
{
    return siphash_cd(key, data, len, 1, 3);
}

static inline uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len)
{
    return siphash_cd(key, data, len, 2, 4);
}

/* One 64-bit value: the same as siphash13() over its 8 little-endian bytes, without the
 * byte loop. */
static inline uint64_t siphash13_u64(const struct siphash_key *key, uint64_t word)
{
    struct siphash_state s = siphash_init(key);
    siphash_compress(&s, word, 1);
    siphash_compress(&s, (uint64_t)8 << 56, 1);
    return siphash_finish(&s, 3);
}

#endif
