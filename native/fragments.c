/*
 * fragments.c: which flow a later IP fragment belongs to. Only the first fragment
 * carries the ports, so the engine remembers, for the last ENGINE_FRAG_ENTRIES first
 * fragments, the flow each one counted to; a later fragment with the same (source,
 * destination, protocol, fragment id) counts to that flow (docs/flow-semantics.md).
 * Fixed memory, allocated once; the oldest entry is forgotten when it is full.
 */
#include <stdlib.h>
#include <string.h>

#include "flowtable.h"

#define FRAG_BUCKETS 4096 /* power of two */
#define FRAG_NIL 0xffff

/* A first fragment seen: later fragments with the same key count to its flow. */
struct frag_entry {
    uint8_t src[16], dst[16];
    uint32_t frag_id;
    uint32_t slot;
    uint64_t serial; /* the flow still in `slot` must have this serial */
    uint16_t chain_next;         /* hash bucket chain */
    uint16_t age_prev, age_next; /* oldest-first list of used entries; free list: age_next */
    uint8_t proto;
    uint8_t dir;
};

struct fragments {
    struct frag_entry entries[ENGINE_FRAG_ENTRIES];
    uint16_t buckets[FRAG_BUCKETS];
    uint16_t oldest, newest, free; /* the age list's ends, the free list's head */
    uint64_t seed;                 /* keyed hash: chains cannot be steered from outside */
};

struct fragments *fragments_new(uint64_t seed)
{
    struct fragments *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    memset(m->buckets, 0xff, sizeof m->buckets);
    for (uint16_t i = 0; i < ENGINE_FRAG_ENTRIES; i++)
        m->entries[i].age_next = i + 1 < ENGINE_FRAG_ENTRIES ? (uint16_t)(i + 1) : FRAG_NIL;
    m->free = 0;
    m->oldest = m->newest = FRAG_NIL;
    m->seed = seed;
    return m;
}

void fragments_free(struct fragments *m) { free(m); }

static uint32_t frag_hash(const struct fragments *m, const uint8_t *src, const uint8_t *dst,
                          uint8_t proto, uint32_t frag_id)
{
    uint64_t h = m->seed ^ ((uint64_t)frag_id << 8) ^ proto;
    for (int i = 0; i < 16; i += 8) {
        h = rotl64(h ^ (load64(src + i) * 0x87c37b91114253d5ULL), 31) * 0x4cf5ad432745937fULL;
        h = rotl64(h ^ (load64(dst + i) * 0x87c37b91114253d5ULL), 31) * 0x4cf5ad432745937fULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (uint32_t)h & (FRAG_BUCKETS - 1);
}

static int frag_matches(const struct frag_entry *f, const struct packet *p)
{
    return f->frag_id == p->frag_id && f->proto == p->proto && !memcmp(f->src, p->src, 16) &&
           !memcmp(f->dst, p->dst, 16);
}

static uint16_t frag_find(const struct fragments *m, const struct packet *p, uint32_t bucket)
{
    uint16_t i = m->buckets[bucket];
    while (i != FRAG_NIL && !frag_matches(&m->entries[i], p))
        i = m->entries[i].chain_next;
    return i;
}

/* Take an entry out of its bucket chain and the age list, onto the free list. */
static void frag_forget(struct fragments *m, uint16_t i)
{
    struct frag_entry *f = &m->entries[i];
    uint16_t *link = &m->buckets[frag_hash(m, f->src, f->dst, f->proto, f->frag_id)];
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
    uint32_t bucket = frag_hash(m, p->src, p->dst, p->proto, p->frag_id);
    uint16_t old = frag_find(m, p, bucket);
    if (old != FRAG_NIL)
        frag_forget(m, old);
    if (m->free == FRAG_NIL)
        frag_forget(m, m->oldest);
    uint16_t i = m->free;
    struct frag_entry *f = &m->entries[i];
    m->free = f->age_next;
    memcpy(f->src, p->src, 16);
    memcpy(f->dst, p->dst, 16);
    f->frag_id = p->frag_id;
    f->proto = p->proto;
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
    uint16_t i = frag_find(m, p, frag_hash(m, p->src, p->dst, p->proto, p->frag_id));
    if (i == FRAG_NIL)
        return 0;
    *slot = m->entries[i].slot;
    *serial = m->entries[i].serial;
    *dir = m->entries[i].dir;
    return 1;
}
