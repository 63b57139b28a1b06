/*
 * server_names.c: address -> last name seen (server_names.h). Entries are handed out in
 * order from a fixed array; when every entry is in use the oldest made is unlinked from
 * its chain and reused (first in, first out: cheaper than an LRU, and a name seen again
 * is written again, which makes it new).
 */
#include "server_names.h"

#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "siphash.h"

#define NAME_NONE UINT32_MAX

struct name_entry {
    uint8_t addr[16]; /* IPv4 in the first 4 bytes, the rest zero */
    uint8_t family;   /* 0: never used */
    uint8_t len;
    char name[SERVER_NAME_LEN + 1];
    uint32_t next; /* bucket chain */
};

struct server_names {
    struct siphash_key key;
    struct name_entry *entries;
    uint32_t *buckets;
    uint32_t bucket_mask, capacity, next_free;
    uint64_t *replaced;
};

struct server_names *server_names_new(uint32_t capacity, uint64_t *replaced)
{
    struct server_names *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->capacity = capacity < SERVER_NAMES_MAX ? capacity : SERVER_NAMES_MAX;
    if (!t->capacity)
        t->capacity = 1;
    uint32_t buckets = 1;
    while (buckets < t->capacity)
        buckets <<= 1;
    t->bucket_mask = buckets - 1;
    t->entries = calloc(t->capacity, sizeof *t->entries);
    t->buckets = malloc(buckets * sizeof *t->buckets);
    if (!t->entries || !t->buckets) {
        server_names_free(t);
        return NULL;
    }
    for (uint32_t i = 0; i < buckets; i++)
        t->buckets[i] = NAME_NONE;
    t->replaced = replaced;
    engine_random_seed(t->key.k, 2);
    return t;
}

void server_names_free(struct server_names *t)
{
    if (!t)
        return;
    free(t->entries);
    free(t->buckets);
    free(t);
}

static void address_key(int family, const uint8_t *addr, uint8_t out[17])
{
    memset(out, 0, 17);
    out[0] = (uint8_t)family;
    memcpy(out + 1, addr, family == 4 ? 4 : 16);
}

static uint32_t *bucket_of(const struct server_names *t, const uint8_t key[17])
{
    return &t->buckets[siphash13(&t->key, key, 17) & t->bucket_mask];
}

static uint32_t find(const struct server_names *t, const uint8_t key[17])
{
    for (uint32_t i = *bucket_of(t, key); i != NAME_NONE; i = t->entries[i].next) {
        const struct name_entry *e = &t->entries[i];
        if (e->family == key[0] && !memcmp(e->addr, key + 1, 16))
            return i;
    }
    return NAME_NONE;
}

/* The oldest entry made, out of its chain, ready to be filled. */
static uint32_t take_entry(struct server_names *t)
{
    uint32_t i = t->next_free;
    t->next_free = i + 1 < t->capacity ? i + 1 : 0;
    struct name_entry *e = &t->entries[i];
    if (e->family) {
        uint8_t key[17];
        address_key(e->family, e->addr, key);
        uint32_t *link = bucket_of(t, key);
        while (*link != i)
            link = &t->entries[*link].next;
        *link = e->next;
        (*t->replaced)++;
    }
    return i;
}

void server_names_put(struct server_names *t, int family, const uint8_t *addr,
                      const uint8_t *name, size_t len)
{
    if (len && name[len - 1] == '.')
        len--;
    for (size_t i = 0; i < len; i++)
        if (name[i] == ':') { /* an HTTP Host's port; IPv6 literals are no names either */
            len = i;
            break;
        }
    if (!len || len > SERVER_NAME_LEN || (family != 4 && family != 6))
        return;
    for (size_t i = 0; i < len; i++)
        if (name[i] < 0x21 || name[i] > 0x7e)
            return;
    uint8_t key[17];
    address_key(family, addr, key);
    uint32_t i = find(t, key);
    if (i == NAME_NONE) {
        i = take_entry(t);
        struct name_entry *e = &t->entries[i];
        e->family = (uint8_t)family;
        memcpy(e->addr, key + 1, 16);
        uint32_t *head = bucket_of(t, key);
        e->next = *head;
        *head = i;
    }
    struct name_entry *e = &t->entries[i];
    for (size_t c = 0; c < len; c++)
        e->name[c] = (char)(name[c] >= 'A' && name[c] <= 'Z' ? name[c] + 32 : name[c]);
    e->name[len] = '\0';
    e->len = (uint8_t)len;
}

const char *server_names_get(const struct server_names *t, int family, const uint8_t *addr)
{
    uint8_t key[17];
    address_key(family, addr, key);
    uint32_t i = find(t, key);
    return i == NAME_NONE ? NULL : t->entries[i].name;
}

size_t server_names_bytes(const struct server_names *t)
{
    return sizeof *t + t->capacity * sizeof *t->entries +
           (t->bucket_mask + 1) * sizeof *t->buckets;
}
