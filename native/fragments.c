/*
 * fragments.c: which flow a later IP fragment belongs to. Only the first fragment
 * carries the ports, so the engine remembers, for the last ENGINE_FRAG_ENTRIES first
 * fragments, the flow each one counted to; a later fragment with the same (VLANs, source,
 * destination, protocol, fragment id) counts to that flow (docs/flow-semantics.md).
 * Fixed memory, allocated once; the oldest entry is forgotten when it is full.
 */
#include <stdlib.h>
#include <string.h>

#include "flowtable.h"
#include "siphash.h"

#define FRAG_BUCKETS 4096 /* power of two */
#define FRAG_NIL 0xffff

/* What a later fragment must share with its first fragment. The VLANs belong to it: the
 * same addresses and id on two VLANs are two networks' datagrams. Laid out without hidden
 * padding, so it is hashed and compared as 44 bytes. */
struct frag_key {
    uint8_t src[16], dst[16];
    uint32_t frag_id;
    uint16_t vlan[2]; /* valid per vlan_count; zero otherwise */
    uint8_t proto;
    uint8_t vlan_count;
    uint8_t zero[2];
};
_Static_assert(sizeof(struct frag_key) == 44, "frag_key must have no hidden padding");

/* A first fragment seen: later fragments with the same key count to its flow. */
struct frag_entry {
    struct frag_key key;
    uint32_t slot;
    uint64_t serial; /* the flow still in `slot` must have this serial */
    uint16_t chain_next;         /* hash bucket chain */
    uint16_t age_prev, age_next; /* oldest-first list of used entries; free list: age_next */
    uint8_t dir;
};

struct fragments {
    struct frag_entry entries[ENGINE_FRAG_ENTRIES];
    uint16_t buckets[FRAG_BUCKETS];
    uint16_t oldest, newest, free; /* the age list's ends, the free list's head */
    /* SipHash key: which keys share a bucket cannot be steered from outside (a seeded
     * multiply-mix let the fragment id cancel the first source word: 2^32 colliding
     * IPv6 first fragments whatever the seed). */
    struct siphash_key hash_key;
};

struct fragments *fragments_new(const struct siphash_key *hash_key)
{
    struct fragments *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    memset(m->buckets, 0xff, sizeof m->buckets);
    for (uint16_t i = 0; i < ENGINE_FRAG_ENTRIES; i++)
        m->entries[i].age_next = i + 1 < ENGINE_FRAG_ENTRIES ? (uint16_t)(i + 1) : FRAG_NIL;
    m->free = 0;
    m->oldest = m->newest = FRAG_NIL;
    m->hash_key = *hash_key;
    return m;
}

void fragments_free(struct fragments *m) { free(m); }

static void frag_key_of(const struct packet *p, struct frag_key *k)
{
    memcpy(k->src, p->src, 16);
    memcpy(k->dst, p->dst, 16);
    k->frag_id = p->frag_id;
    k->vlan[0] = p->vlan_count > 0 ? p->vlan[0] : 0;
    k->vlan[1] = p->vlan_count > 1 ? p->vlan[1] : 0;
    k->proto = p->proto;
    k->vlan_count = p->vlan_count;
    k->zero[0] = k->zero[1] = 0;
}

static uint32_t frag_bucket(const struct fragments *m, const struct frag_key *k)
{
    return (uint32_t)siphash13(&m->hash_key, k, sizeof *k) & (FRAG_BUCKETS - 1);
}

static uint16_t frag_find(const struct fragments *m, const struct frag_key *k, uint32_t bucket)
{
    uint16_t i = m->buckets[bucket];
    while (i != FRAG_NIL && memcmp(&m->entries[i].key, k, sizeof *k))
        i = m->entries[i].chain_next;
    return i;
}

/* Take an entry out of its bucket chain and the age list, onto the free list. */
static void frag_forget(struct fragments *m, uint16_t i)
{
    struct frag_entry *f = &m->entries[i];
    uint16_t *link = &m->buckets[frag_bucket(m, &f->key)];
    while (*link != i)
        link = &m->entries[*link].chain_next;
    *link = f->chain_next;
    if (f->age_prev != FRAG_NIL)
        m->entries[f->age_prev].age_next = f->age_next;
    else
        m->oldest = f->age_next;
    if (f->age_next != FRAG_NIL)
        m->entries[f->age_next].age_prev = f->age_prev;
    else
        m->newest = f->age_prev;
    f->age_next = m->free;
    m->free = i;
}

/* Remember a first fragment's flow as the newest entry; a full memory forgets its oldest.
 * A repeated first fragment replaces its entry and becomes the newest. */
void fragments_remember(struct fragments *m, const struct packet *p, uint32_t slot,
                        uint64_t serial, int dir)
{
    struct frag_key k;
    frag_key_of(p, &k);
    uint32_t bucket = frag_bucket(m, &k);
    uint16_t old = frag_find(m, &k, bucket);
    if (old != FRAG_NIL)
        frag_forget(m, old);
    if (m->free == FRAG_NIL)
        frag_forget(m, m->oldest);
    uint16_t i = m->free;
    struct frag_entry *f = &m->entries[i];
    m->free = f->age_next;
    f->key = k;
    f->slot = slot;
    f->serial = serial;
    f->dir = (uint8_t)dir;
    f->chain_next = m->buckets[bucket];
    m->buckets[bucket] = i;
    f->age_next = FRAG_NIL;
    f->age_prev = m->newest;
    if (f->age_prev != FRAG_NIL)
        m->entries[f->age_prev].age_next = i;
    else
        m->oldest = i;
    m->newest = i;
}

int fragments_find(const struct fragments *m, const struct packet *p, uint32_t *slot,
                   uint64_t *serial, int *dir)
{
    struct frag_key k;
    frag_key_of(p, &k);
    uint16_t i = frag_find(m, &k, frag_bucket(m, &k));
    if (i == FRAG_NIL)
        return 0;
    *slot = m->entries[i].slot;
    *serial = m->entries[i].serial;
    *dir = m->entries[i].dir;
    return 1;
}
