/*
 * test_hash_flooding.c: the review's colliding IPv6 first fragments (issue 10, item 9)
 * spread over the fragment memory's buckets.
 *
 * The set: fragment ids 0..N-1, each with the source address whose first 8 bytes (read
 * little-endian) are C1^-1 * (X ^ (id << 8)), C1 the odd multiplier of the old hash.
 * The old hash computed h = seed ^ (id << 8) ^ proto, then h ^ word0 * C1 first, so the
 * id cancels and all N keys share one bucket whatever the seed: this file checks that
 * against its own copy of the old hash, then that fragments.c (SipHash-1-3 under a random
 * key) spreads the same keys like random ones, and finds every one of them again.
 * fragments.c is included, so its static bucket function is what is measured.
 * Build: cc -D_GNU_SOURCE -Inative native/tests/test_hash_flooding.c -o test_hash_flooding
 * Prints each failure and "N passed, M failed"; exit 1 on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "../fragments.c"

#define SET_SIZE ENGINE_FRAG_ENTRIES
#define C1 0x87c37b91114253d5ULL

static int passed, failed;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (cond) {                                                                      \
            passed++;                                                                    \
        } else {                                                                         \
            failed++;                                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
        }                                                                                \
    } while (0)

static void random_words(uint64_t *w, size_t n)
{
    if (getrandom(w, n * sizeof *w, 0) != (ssize_t)(n * sizeof *w)) {
        perror("getrandom");
        exit(2);
    }
}

/* The multiplicative inverse of an odd number mod 2^64 (Newton's iteration). */
static uint64_t inverse64(uint64_t a)
{
    uint64_t x = a; /* correct to 3 bits; each step doubles them */
    for (int i = 0; i < 5; i++)
        x *= 2 - a * x;
    return x;
}

/* The fragment hash before issue 10, as the review attacked it. */
static uint32_t old_frag_hash(uint64_t seed, const struct packet *p)
{
    uint64_t h = seed ^ ((uint64_t)p->frag_id << 8) ^ p->proto;
    for (int i = 0; i < 16; i += 8) {
        h = rotl64(h ^ (load64(p->src + i) * C1), 31) * 0x4cf5ad432745937fULL;
        h = rotl64(h ^ (load64(p->dst + i) * C1), 31) * 0x4cf5ad432745937fULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (uint32_t)h & (FRAG_BUCKETS - 1);
}

static void colliding_fragment(uint32_t frag_id, struct packet *p)
{
    static const uint8_t dst[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};
    memset(p, 0, sizeof *p);
    p->family = 6;
    p->proto = 17;
    p->is_fragment = 1;
    p->frag_id = frag_id;
    uint64_t word0 = inverse64(C1) * (0x5eed5eed5eed5eedULL ^ ((uint64_t)frag_id << 8));
    memcpy(p->src, &word0, 8); /* little-endian, as the engine loads it (x86, ARM) */
    memset(p->src + 8, 0x11, 8);
    memcpy(p->dst, dst, 16);
}

/* Distinct buckets and longest chain of the set under `bucket_of`. */
struct spread {
    uint32_t buckets_used, longest;
};

static struct spread spread_of(uint32_t (*bucket_of)(const void *, const struct packet *),
                               const void *ctx)
{
    static uint32_t count[FRAG_BUCKETS];
    memset(count, 0, sizeof count);
    struct spread s = {0, 0};
    for (uint32_t id = 0; id < SET_SIZE; id++) {
        struct packet p;
        colliding_fragment(id, &p);
        uint32_t b = bucket_of(ctx, &p);
        if (count[b]++ == 0)
            s.buckets_used++;
        if (count[b] > s.longest)
            s.longest = count[b];
    }
    return s;
}

static uint32_t old_bucket(const void *seed, const struct packet *p)
{
    return old_frag_hash(*(const uint64_t *)seed, p);
}

static uint32_t new_bucket(const void *m, const struct packet *p)
{
    struct frag_key k;
    frag_key_of(p, &k);
    return frag_bucket(m, &k);
}

int main(void)
{
    /* The set is the review's: one bucket under the old hash, for any seed. */
    for (int round = 0; round < 4; round++) {
        uint64_t seed;
        random_words(&seed, 1);
        struct spread old = spread_of(old_bucket, &seed);
        CHECK(old.buckets_used == 1 && old.longest == SET_SIZE,
              "old hash, seed %016llx: %u buckets, longest chain %u", (unsigned long long)seed,
              old.buckets_used, old.longest);
    }
    /* Under SipHash it spreads as random keys would: 4096 keys into 4096 buckets use
     * about 4096 * (1 - 1/e) = 2589 of them (a few dozen either way), chains of 7-9. */
    for (int round = 0; round < 4; round++) {
        struct siphash_key key;
        random_words(key.k, 2);
        struct fragments *m = fragments_new(&key);
        CHECK(m != NULL, "out of memory");
        if (!m)
            return 1;
        struct spread now = spread_of(new_bucket, m);
        CHECK(now.buckets_used >= 2400 && now.longest <= 16,
              "siphash: %u buckets, longest chain %u", now.buckets_used, now.longest);
        /* And the memory still finds each of them. */
        for (uint32_t id = 0; id < SET_SIZE; id++) {
            struct packet p;
            colliding_fragment(id, &p);
            fragments_remember(m, &p, id, 1000 + id, (int)(id & 1));
        }
        uint32_t found = 0;
        for (uint32_t id = 0; id < SET_SIZE; id++) {
            struct packet p;
            colliding_fragment(id, &p);
            uint32_t slot;
            uint64_t serial;
            int dir;
            found += fragments_find(m, &p, &slot, &serial, &dir) && slot == id &&
                     serial == 1000 + id && dir == (int)(id & 1);
        }
        CHECK(found == SET_SIZE, "found %u of %u", found, SET_SIZE);
        /* The VLAN is part of the key: the same fragment on VLAN 7 is not found. */
        struct packet tagged;
        colliding_fragment(5, &tagged);
        tagged.vlan[0] = 7;
        tagged.vlan_count = 1;
        uint32_t slot;
        uint64_t serial;
        int dir;
        CHECK(!fragments_find(m, &tagged, &slot, &serial, &dir), "VLAN 7 matched untagged");
        fragments_free(m);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
