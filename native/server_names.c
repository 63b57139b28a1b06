/*
 * server_names.c: address -> last name seen (server_names.h). Entries are handed out in
 * order from a fixed array; when every entry is in use the oldest made is unlinked from
 * its chain and reused (first in, first out: cheaper than an LRU). A name put again for
 * its address is only compared, not written: putting it does not make the entry newer.
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

/* Most flows' responders have no name (a scan's targets, a wing's devices), and a record's
 * lookup is one SipHash. So a counting filter comes first: per slot, how many entries hold
 * an address with that unkeyed hash; a zero answers "no name" in a few instructions. The
 * hash need not resist an attacker: addresses built to share slots only make the filter
 * answer "maybe", and the lookup behind it is keyed. Counters are 16-bit: at most
 * SERVER_NAMES_MAX entries can share one. */
#define FILTER_SLOTS_PER_ENTRY 4

struct server_names {
    struct siphash_key key;
    struct name_entry *entries;
    uint32_t *buckets;
    uint16_t *filter;
    uint32_t bucket_mask, capacity, next_free, filter_shift;
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
    uint32_t filter_bits = 0;
    while ((1u << filter_bits) < buckets * FILTER_SLOTS_PER_ENTRY)
        filter_bits++;
    t->filter_shift = 32 - filter_bits;
    t->entries = calloc(t->capacity, sizeof *t->entries);
    t->buckets = malloc(buckets * sizeof *t->buckets);
    t->filter = calloc((size_t)1 << filter_bits, sizeof *t->filter);
    if (!t->entries || !t->buckets || !t->filter) {
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
    free(t->filter);
    free(t);
}

/* The bucket hash of an address: an IPv4 address as one 64-bit word (SipHash's shortest
 * input: two compressions), an IPv6 one as its 16 bytes after the family. The inputs'
 * lengths differ (8 and 17 bytes), so the two families never hash alike by construction. */
static uint64_t hash_address(const struct server_names *t, int family, const uint8_t *addr)
{
    if (family == 4) {
        uint32_t word;
        memcpy(&word, addr, 4);
        return siphash13_u64(&t->key, (uint64_t)word << 8 | 4);
    }
    uint8_t key[17];
    key[0] = 6;
    memcpy(key + 1, addr, 16);
    return siphash13(&t->key, key, sizeof key);
}

/* The address's filter slot: a multiplicative hash of its (folded) 32-bit words. */
static uint16_t *filter_of(const struct server_names *t, int family, const uint8_t *addr)
{
    uint32_t words[4];
    if (family == 4) {
        memcpy(words, addr, 4);
        words[1] = words[2] = words[3] = 0;
    } else {
        memcpy(words, addr, 16);
    }
    uint32_t folded = words[0] ^ words[1] ^ words[2] ^ words[3] ^ (uint32_t)family;
    return &t->filter[(folded * 0x9E3779B1u) >> t->filter_shift];
}

static uint32_t *bucket_of(const struct server_names *t, int family, const uint8_t *addr)
{
    return &t->buckets[hash_address(t, family, addr) & t->bucket_mask];
}

static uint32_t find(const struct server_names *t, int family, const uint8_t *addr)
{
    size_t addr_len = family == 4 ? 4 : 16;
    for (uint32_t i = *bucket_of(t, family, addr); i != NAME_NONE; i = t->entries[i].next) {
        const struct name_entry *e = &t->entries[i];
        if (e->family == family && !memcmp(e->addr, addr, addr_len))
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
        uint32_t *link = bucket_of(t, e->family, e->addr);
        while (*link != i)
            link = &t->entries[*link].next;
        *link = e->next;
        (*filter_of(t, e->family, e->addr))--;
        (*t->replaced)++;
    }
    return i;
}

static char lower(uint8_t c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* Whether the name is a host name as the table keeps them: every byte in '!'..'~'. */
static int printable(const uint8_t *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)(name[i] - 0x21) > 0x7e - 0x21)
            return 0;
    return 1;
}

void server_names_put(struct server_names *t, int family, const uint8_t *addr,
                      const uint8_t *name, size_t len)
{
    if (len && name[len - 1] == '.')
        len--;
    /* An HTTP Host's ":port" goes; IPv6 literals are no names either. */
    const uint8_t *colon = len ? memchr(name, ':', len) : NULL;
    if (colon)
        len = (size_t)(colon - name);
    if (!len || len > SERVER_NAME_LEN || (family != 4 && family != 6))
        return;
    uint32_t i = find(t, family, addr);
    struct name_entry *e;
    if (i != NAME_NONE) {
        /* The same name again (every answer for a busy server, every ClientHello to it):
         * nothing to write, nor to check (the kept name was checked). Writing would not
         * make the entry younger either: entries are replaced in the order they were made. */
        e = &t->entries[i];
        size_t same = 0;
        if (e->len == len)
            while (same < len && lower(name[same]) == e->name[same])
                same++;
        if (same == len || !printable(name, len))
            return;
    } else {
        if (!printable(name, len))
            return;
        i = take_entry(t);
        e = &t->entries[i];
        e->family = (uint8_t)family;
        memset(e->addr, 0, sizeof e->addr);
        memcpy(e->addr, addr, family == 4 ? 4 : 16);
        uint32_t *head = bucket_of(t, family, addr);
        e->next = *head;
        *head = i;
        (*filter_of(t, family, addr))++;
    }
    for (size_t c = 0; c < len; c++)
        e->name[c] = lower(name[c]);
    e->name[len] = '\0';
    e->len = (uint8_t)len;
}

const char *server_names_get(const struct server_names *t, int family, const uint8_t *addr)
{
    if (!*filter_of(t, family, addr)) /* no entry holds an address of this slot */
        return NULL;
    uint32_t i = find(t, family, addr);
    return i == NAME_NONE ? NULL : t->entries[i].name;
}

size_t server_names_bytes(const struct server_names *t)
{
    return sizeof *t + t->capacity * sizeof *t->entries +
           (t->bucket_mask + 1) * sizeof *t->buckets +
           ((size_t)1 << (32 - t->filter_shift)) * sizeof *t->filter;
}
