/*
 * mac_table.c: counted, shared MACs for flow slots (mac_table.h). Chained hashing under
 * its own SipHash key: the MACs are the sender's choice, so a flood of chosen MACs must
 * not make one long chain.
 */
#include "mac_table.h"

#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "siphash.h"

struct mac_entry {
    uint8_t mac[6];
    uint16_t next;   /* bucket chain, or free list when refs is 0 */
    uint16_t bucket; /* its chain: release unlinks it without hashing again */
    uint32_t refs;
};

struct mac_table {
    struct siphash_key key;
    struct mac_entry *entries;
    uint16_t *buckets;
    uint32_t bucket_mask;
    uint32_t capacity;
    uint16_t free_head;
    uint16_t last; /* the last entry held: flows come in runs from one MAC (the router) */
};

struct mac_table *mac_table_new(uint32_t max_flows)
{
    struct mac_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    uint64_t want = 2ULL * max_flows;
    t->capacity = want < MAC_TABLE_MAX ? (uint32_t)want : MAC_TABLE_MAX;
    uint32_t buckets = 1;
    while (buckets < t->capacity)
        buckets <<= 1;
    t->bucket_mask = buckets - 1;
    t->entries = calloc(t->capacity, sizeof *t->entries);
    t->buckets = malloc(buckets * sizeof *t->buckets);
    if (!t->entries || !t->buckets) {
        mac_table_free(t);
        return NULL;
    }
    for (uint32_t i = 0; i < buckets; i++)
        t->buckets[i] = MAC_NONE;
    for (uint32_t i = 0; i < t->capacity; i++)
        t->entries[i].next = i + 1 < t->capacity ? (uint16_t)(i + 1) : MAC_NONE;
    t->free_head = 0;
    t->last = MAC_NONE;
    engine_random_seed(t->key.k, 2);
    return t;
}

void mac_table_free(struct mac_table *t)
{
    if (!t)
        return;
    free(t->entries);
    free(t->buckets);
    free(t);
}

uint16_t mac_table_hold(struct mac_table *t, const uint8_t *mac)
{
    if (t->last != MAC_NONE && t->entries[t->last].refs &&
        !memcmp(t->entries[t->last].mac, mac, 6)) {
        t->entries[t->last].refs++;
        return t->last;
    }
    uint16_t bucket = (uint16_t)(siphash13(&t->key, mac, 6) & t->bucket_mask);
    uint16_t *head = &t->buckets[bucket];
    for (uint16_t i = *head; i != MAC_NONE; i = t->entries[i].next) {
        if (!memcmp(t->entries[i].mac, mac, 6)) {
            t->entries[i].refs++;
            t->last = i;
            return i;
        }
    }
    uint16_t i = t->free_head;
    if (i == MAC_NONE)
        return MAC_NONE;
    struct mac_entry *e = &t->entries[i];
    t->free_head = e->next;
    memcpy(e->mac, mac, 6);
    e->refs = 1;
    e->bucket = bucket;
    e->next = *head;
    *head = i;
    t->last = i;
    return i;
}

void mac_table_release(struct mac_table *t, uint16_t index)
{
    struct mac_entry *e = &t->entries[index];
    if (--e->refs)
        return;
    uint16_t *link = &t->buckets[e->bucket];
    while (*link != index)
        link = &t->entries[*link].next;
    *link = e->next;
    e->next = t->free_head;
    t->free_head = index;
}

const uint8_t *mac_table_get(const struct mac_table *t, uint16_t index)
{
    return t->entries[index].mac;
}

size_t mac_table_bytes(const struct mac_table *t)
{
    return sizeof *t + t->capacity * sizeof *t->entries +
           (t->bucket_mask + 1) * sizeof *t->buckets;
}
