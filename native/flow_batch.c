/*
 * flow_batch.c: a batch of finished flow records, encoded as the flows body of wire
 * schema 3 (keys 16..27, docs/WIRE.md) for the daemon's path. The independent Python
 * encoder (agent/wire/encode.py) produces the same bytes; tests/test_flow_batch*.py hold
 * the two together.
 *
 * Per encode: records sorted by (ts_us, serial) (once per batch), addresses into a keyed
 * open-addressing table (distinct IPv4 radix-sorted, IPv6 sorted bytewise), then one walk
 * in sorted order fills the shape, responder, MAC, (address, MAC) and name tables in
 * order of first use and writes the 13 LEB128 columns; a second short pass writes the MAC
 * codes once each address's default MAC is known. Tables are sized to the range (load at
 * most 1/2). Their keys come off the wire, so they are hashed with keys an attacker cannot
 * know: fixed-size keys by vector multiply-shift (Thorup, "High speed hashing for
 * integers and strings", 2015: strongly universal over 32-bit chunks with random 64-bit
 * multipliers, the top bits taken), ten times cheaper than SipHash for the six lookups a
 * record needs; names by SipHash. No input can make probes long without the batch's
 * random key, which never leaves the process. Every output write is preceded by a
 * reservation of its worst case.
 */
#include "flow_batch.h"

#include <stdlib.h>
#include <string.h>

#include "siphash.h"

#define CONN_STATE_COUNT 13
static const char *const CONN_STATES[CONN_STATE_COUNT] = {
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"};
#define CONN_STATE_UNKNOWN 0xff
#define HISTORY_MAX 16
#define NAME_MAX_BYTES 253
#define NO_INDEX UINT32_MAX
#define COLUMNS 13
#define VARINT_MAX 10 /* a 64-bit value (a zigzag serial delta: 65 bits) in LEB128 */
#define CBOR_HEAD_MAX 9
#define V6_TAG 0x80000000u /* an end's address entry is an IPv6 one */
#define HASH_CHUNKS 8      /* 32-bit chunks of the longest fixed-size key (a shape) */

/* A record as the batch keeps it: what the schema carries, names in the batch's arena. */
struct batch_record {
    uint64_t serial, ts_us, duration_us;
    uint64_t pkts[2], ip_bytes[2], payload_bytes[2];
    uint8_t addr[2][16]; /* IPv4: the first 4 bytes */
    uint64_t name_at;    /* offset of the server name in the arena; name_len 0: none */
    uint16_t port[2];
    uint16_t vlan[2];
    uint8_t name_len;
    uint8_t vlan_count, family, proto, end_reason, conn_state, service, mac_seen;
    uint8_t tcp_flags[2];
    uint8_t mac[2][6];
    char history[HISTORY_MAX + 1];
};

struct flow_batch {
    struct batch_record *records;
    uint32_t count, capacity;
    uint32_t *order; /* positions in (ts_us, serial) order, valid while `sorted` */
    int sorted;
    int collect_names;
    char *names; /* arena of NUL-terminated server names */
    size_t names_len, names_capacity;
    struct siphash_key key;               /* names */
    uint64_t multipliers[HASH_CHUNKS + 1]; /* fixed-size keys; the last one is added */
};

struct flow_batch *flow_batch_new(int collect_names)
{
    struct flow_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->collect_names = collect_names != 0;
    engine_random_seed(b->key.k, 2);
    engine_random_seed(b->multipliers, HASH_CHUNKS + 1);
    return b;
}

void flow_batch_free(struct flow_batch *b)
{
    if (!b)
        return;
    free(b->records);
    free(b->order);
    free(b->names);
    free(b);
}

uint32_t flow_batch_count(const struct flow_batch *b) { return b->count; }

void flow_batch_clear(struct flow_batch *b)
{
    b->count = 0;
    b->names_len = 0;
    b->sorted = 0;
}

static uint8_t conn_state_code(const char *text)
{
    for (uint8_t i = 0; i < CONN_STATE_COUNT; i++)
        if (strncmp(text, CONN_STATES[i], 8) == 0)
            return i;
    return CONN_STATE_UNKNOWN;
}

/* Room for `more` bytes in a growing buffer; 0, or -1 (nothing changed). */
static int grow_bytes(char **data, size_t *capacity, size_t used, size_t more)
{
    if (more <= *capacity - used)
        return 0;
    if (more > SIZE_MAX / 2 - used)
        return -1;
    size_t want = *capacity ? *capacity : 4096;
    while (want < used + more)
        want *= 2;
    char *grown = realloc(*data, want);
    if (!grown)
        return -1;
    *data = grown;
    *capacity = want;
    return 0;
}

enum flow_batch_status flow_batch_add(struct flow_batch *b, const struct flow_record *r)
{
    if (b->count == b->capacity) {
        if (b->capacity >= FLOW_BATCH_MAX_RECORDS)
            return FLOW_BATCH_FULL;
        uint32_t want = b->capacity ? b->capacity * 2 : 256;
        struct batch_record *grown = realloc(b->records, (size_t)want * sizeof *grown);
        if (!grown)
            return FLOW_BATCH_NOMEM;
        b->records = grown;
        uint32_t *order = realloc(b->order, (size_t)want * sizeof *order);
        if (!order)
            return FLOW_BATCH_NOMEM; /* records grew, capacity did not: retried next time */
        b->order = order;
        b->capacity = want;
    }
    size_t name_len = b->collect_names ? strnlen(r->server_name, sizeof r->server_name) : 0;
    if (name_len > NAME_MAX_BYTES)
        return FLOW_BATCH_BAD_RECORD;
    if (name_len && grow_bytes(&b->names, &b->names_capacity, b->names_len, name_len + 1) < 0)
        return FLOW_BATCH_NOMEM;
    struct batch_record *out = &b->records[b->count];
    memset(out, 0, sizeof *out);
    out->serial = r->serial;
    out->ts_us = r->ts_us;
    out->duration_us = r->duration_us;
    for (int i = 0; i < 2; i++) {
        out->pkts[i] = r->pkts[i];
        out->ip_bytes[i] = r->ip_bytes[i];
        out->payload_bytes[i] = r->payload_bytes[i];
        memcpy(out->addr[i], r->addr[i], r->family == 4 ? 4 : 16);
        out->port[i] = r->port[i];
        out->vlan[i] = r->vlan[i];
        out->tcp_flags[i] = r->tcp_flags[i];
        if (r->mac_seen & (1u << i))
            memcpy(out->mac[i], r->mac[i], 6);
    }
    out->vlan_count = r->vlan_count;
    out->family = r->family;
    out->proto = r->proto;
    out->end_reason = r->end_reason;
    out->conn_state = conn_state_code(r->conn_state);
    out->service = r->service < SVC_COUNT ? r->service : 0;
    out->mac_seen = r->mac_seen & 3;
    memcpy(out->history, r->history, strnlen(r->history, HISTORY_MAX));
    if (name_len) {
        out->name_at = b->names_len;
        out->name_len = (uint8_t)name_len;
        memcpy(b->names + b->names_len, r->server_name, name_len);
        b->names[b->names_len + name_len] = 0;
        b->names_len += name_len + 1;
    }
    b->count++;
    b->sorted = 0;
    return FLOW_BATCH_OK;
}

/* ---------------------------------------------------------------- sorting */

struct sort_key {
    uint64_t ts_us, serial;
    uint32_t at; /* the record's position: equal keys keep it (stable) */
};

static int key_before(const struct sort_key *a, const struct sort_key *b)
{
    return a->ts_us < b->ts_us || (a->ts_us == b->ts_us && a->serial < b->serial);
}

/* Bottom-up merge sort (stable); records mostly arrive near their order, so a sorted run
 * costs one pass. */
static int sort_batch(struct flow_batch *b)
{
    uint32_t n = b->count;
    struct sort_key *keys = malloc((size_t)n * sizeof *keys);
    struct sort_key *spare = malloc((size_t)n * sizeof *spare);
    if (!keys || !spare) {
        free(keys);
        free(spare);
        return -1;
    }
    int in_order = 1;
    for (uint32_t i = 0; i < n; i++) {
        keys[i] = (struct sort_key){b->records[i].ts_us, b->records[i].serial, i};
        if (i && key_before(&keys[i], &keys[i - 1]))
            in_order = 0;
    }
    for (uint32_t width = 1; !in_order && width < n; width *= 2) {
        for (uint32_t lo = 0; lo < n; lo += 2 * width) {
            uint32_t mid = n - lo > width ? lo + width : n;
            uint32_t hi = n - mid > width ? mid + width : n;
            uint32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                spare[k++] = key_before(&keys[j], &keys[i]) ? keys[j++] : keys[i++];
            while (i < mid)
                spare[k++] = keys[i++];
            while (j < hi)
                spare[k++] = keys[j++];
        }
        struct sort_key *t = keys;
        keys = spare;
        spare = t;
    }
    for (uint32_t i = 0; i < n; i++)
        b->order[i] = keys[i].at;
    free(keys);
    free(spare);
    b->sorted = 1;
    return 0;
}

/* ---------------------------------------------------------------- tables */

/* Open addressing over entry numbers (slot holds entry + 1; 0 is empty), at most half
 * full: sized for `capacity` entries when made. */
struct table {
    uint32_t *slots;
    uint32_t mask, count;
    int shift; /* 64 - log2(slots): the hash's top bits pick the slot */
};

static int table_init(struct table *t, uint32_t capacity)
{
    uint32_t size = 16;
    int bits = 4;
    while (size < 2 * (uint64_t)capacity) {
        size *= 2;
        bits++;
    }
    t->slots = calloc(size, sizeof *t->slots);
    t->mask = size - 1;
    t->shift = 64 - bits;
    t->count = 0;
    return t->slots ? 0 : -1;
}

/* Vector multiply-shift over the key's 32-bit chunks: the sum's top bits are the slot. */
static inline uint32_t slot_of(const struct table *t, const uint64_t *multipliers,
                               const uint32_t *chunks, int n)
{
    uint64_t h = multipliers[HASH_CHUNKS];
    for (int i = 0; i < n; i++)
        h += multipliers[i] * chunks[i];
    return (uint32_t)(h >> t->shift);
}

/* The entry of a 64-bit key: found, or added as entry `t->count` (keys[] grows with it). */
static uint32_t table_u64(struct table *t, uint64_t *keys, uint64_t key,
                          const uint64_t *multipliers)
{
    uint32_t chunks[2] = {(uint32_t)key, (uint32_t)(key >> 32)};
    uint32_t at = slot_of(t, multipliers, chunks, 2);
    for (;;) {
        uint32_t slot = t->slots[at];
        if (!slot) {
            keys[t->count] = key;
            t->slots[at] = ++t->count;
            return t->count - 1;
        }
        if (keys[slot - 1] == key)
            return slot - 1;
        at = (at + 1) & t->mask;
    }
}

/* The same for byte-string keys; keys[] holds pointers to them (they outlive the table).
 * `len` a multiple of 4 up to 4 * HASH_CHUNKS: multiply-shift; other lengths: SipHash. */
static uint32_t table_bytes(struct table *t, const uint8_t **keys, uint8_t *lengths,
                            const uint8_t *key, uint8_t len, const struct flow_batch *b)
{
    uint32_t at;
    if (len % 4 == 0 && len <= 4 * HASH_CHUNKS) {
        uint32_t chunks[HASH_CHUNKS];
        memcpy(chunks, key, len);
        at = slot_of(t, b->multipliers, chunks, len / 4);
    } else {
        at = (uint32_t)siphash13(&b->key, key, len) & t->mask;
    }
    for (;;) {
        uint32_t slot = t->slots[at];
        if (!slot) {
            keys[t->count] = key;
            lengths[t->count] = len;
            t->slots[at] = ++t->count;
            return t->count - 1;
        }
        if (lengths[slot - 1] == len && memcmp(keys[slot - 1], key, len) == 0)
            return slot - 1;
        at = (at + 1) & t->mask;
    }
}

/* ---------------------------------------------------------------- output */

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* A signed serial step as zigzag (2n, or -2n-1): up to 65 bits, written as (low, high). */
static inline uint8_t *put_serial_delta(uint8_t *p, uint64_t serial, uint64_t previous)
{
    uint64_t lo, hi;
    if (serial >= previous) {
        uint64_t d = serial - previous;
        lo = d << 1;
        hi = d >> 63;
    } else {
        uint64_t d = previous - serial; /* >= 1: 2d - 1 */
        lo = (d << 1) - 1;
        hi = d >> 63;
    }
    while (hi || lo >= 0x80) {
        *p++ = (uint8_t)(lo | 0x80);
        lo = (lo >> 7) | (hi << 57);
        hi >>= 7;
    }
    *p++ = (uint8_t)lo;
    return p;
}

static uint8_t *put_head(uint8_t *p, unsigned major, uint64_t v)
{
    uint8_t m = (uint8_t)(major << 5);
    if (v < 24) {
        *p++ = m | (uint8_t)v;
    } else if (v <= 0xff) {
        *p++ = m | 24;
        *p++ = (uint8_t)v;
    } else if (v <= 0xffff) {
        *p++ = m | 25;
        *p++ = (uint8_t)(v >> 8);
        *p++ = (uint8_t)v;
    } else if (v <= 0xffffffffu) {
        *p++ = m | 26;
        for (int s = 24; s >= 0; s -= 8)
            *p++ = (uint8_t)(v >> s);
    } else {
        *p++ = m | 27;
        for (int s = 56; s >= 0; s -= 8)
            *p++ = (uint8_t)(v >> s);
    }
    return p;
}

/* A growing output buffer: reserve the worst case, then write without checks. */
struct out {
    char *data;
    size_t len, capacity;
    int failed;
};

static uint8_t *reserve(struct out *o, size_t more)
{
    if (o->failed || grow_bytes(&o->data, &o->capacity, o->len, more) < 0) {
        o->failed = 1;
        return NULL;
    }
    return (uint8_t *)o->data + o->len;
}

static void commit(struct out *o, const uint8_t *end) { o->len = (size_t)(end - (uint8_t *)o->data); }

/* key, then a byte string head and `len` bytes */
static void put_bstr(struct out *o, unsigned key, const uint8_t *bytes, size_t len)
{
    uint8_t *p = reserve(o, 2 * CBOR_HEAD_MAX + len);
    if (!p)
        return;
    p = put_head(p, 0, key);
    p = put_head(p, 2, len);
    memcpy(p, bytes, len);
    commit(o, p + len);
}

static void put_uint_entry(struct out *o, unsigned key, uint64_t v)
{
    uint8_t *p = reserve(o, 2 * CBOR_HEAD_MAX);
    if (p)
        commit(o, put_head(put_head(p, 0, key), 0, v));
}

/* ---------------------------------------------------------------- encoding */

struct v6_entry {
    uint8_t address[16];
    uint32_t entry;
};

/* Everything one encode allocates, freed together. */
struct scratch {
    struct table v4, v6, shapes, responders, macs, addr_macs, pairs, names;
    uint64_t *v4_keys, *responder_keys, *mac_keys, *addr_mac_keys, *pair_keys;
    const uint8_t **v6_keys, **shape_keys, **name_keys;
    uint8_t *v6_lengths, *shape_lengths, *name_lengths;
    uint64_t (*shape_words)[4]; /* proto .. vlan, inner vlan, history */
    uint32_t *ends;      /* 2 per record: address entry, then address index */
    uint32_t *end_macs;  /* 2 per record: MAC index or NO_INDEX */
    uint32_t *addr_mac_counts;
    uint32_t *rank;      /* address entry -> address index (v4 entries, then v6) */
    uint64_t *v4_sorted, *v4_spare;
    struct v6_entry *v6_sorted;
    uint32_t *default_mac, *default_count;
    uint8_t *columns;    /* COLUMNS + 2 (MAC codes, names) regions of n * VARINT_MAX */
    struct out shapes_out, responders_out, macs_out;
};

static void scratch_free(struct scratch *s)
{
    struct table *tables[] = {&s->v4,        &s->v6,        &s->shapes, &s->responders,
                              &s->macs,      &s->addr_macs, &s->pairs,  &s->names};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
        free(tables[i]->slots);
    void *arrays[] = {s->v4_keys,      s->responder_keys, s->mac_keys,       s->addr_mac_keys,
                      s->pair_keys,    (void *)s->v6_keys, (void *)s->shape_keys,
                      (void *)s->name_keys, s->v6_lengths, s->shape_lengths, s->name_lengths,
                      s->shape_words,  s->ends,           s->end_macs,       s->addr_mac_counts,
                      s->rank,         s->v4_sorted,      s->v4_spare,       s->v6_sorted,
                      s->default_mac,  s->default_count,  s->columns,        s->shapes_out.data,
                      s->responders_out.data, s->macs_out.data};
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++)
        free(arrays[i]);
}

static int scratch_init(struct scratch *s, uint32_t n)
{
    uint32_t ends = 2 * n; /* n <= 2^24: no overflow */
    int ok = table_init(&s->v4, ends) == 0 && table_init(&s->v6, ends) == 0 &&
             table_init(&s->shapes, n) == 0 && table_init(&s->responders, n) == 0 &&
             table_init(&s->macs, ends) == 0 && table_init(&s->addr_macs, ends) == 0 &&
             table_init(&s->pairs, n) == 0 && table_init(&s->names, n) == 0;
    s->v4_keys = malloc(ends * sizeof *s->v4_keys);
    s->responder_keys = malloc(n * sizeof *s->responder_keys);
    s->mac_keys = malloc(ends * sizeof *s->mac_keys);
    s->addr_mac_keys = malloc(ends * sizeof *s->addr_mac_keys);
    s->pair_keys = malloc(n * sizeof *s->pair_keys);
    s->v6_keys = malloc(ends * sizeof *s->v6_keys);
    s->v6_lengths = malloc(ends);
    s->shape_keys = malloc(n * sizeof *s->shape_keys);
    s->shape_lengths = malloc(n);
    s->shape_words = malloc(n * sizeof *s->shape_words);
    s->name_keys = malloc(n * sizeof *s->name_keys);
    s->name_lengths = malloc(n);
    s->ends = malloc(ends * sizeof *s->ends);
    s->end_macs = malloc(ends * sizeof *s->end_macs);
    s->addr_mac_counts = calloc(ends, sizeof *s->addr_mac_counts);
    s->rank = malloc(2 * (size_t)ends * sizeof *s->rank);
    s->v4_sorted = malloc(ends * sizeof *s->v4_sorted);
    s->v4_spare = malloc(ends * sizeof *s->v4_spare);
    s->v6_sorted = malloc(ends * sizeof *s->v6_sorted);
    s->default_mac = malloc(ends * sizeof *s->default_mac);
    s->default_count = calloc(ends, sizeof *s->default_count);
    s->columns = malloc((size_t)(COLUMNS + 2) * n * VARINT_MAX);
    return ok && s->v4_keys && s->responder_keys && s->mac_keys && s->addr_mac_keys &&
                   s->pair_keys && s->v6_keys && s->v6_lengths && s->shape_keys &&
                   s->shape_lengths && s->shape_words && s->name_keys && s->name_lengths &&
                   s->ends && s->end_macs && s->addr_mac_counts && s->rank && s->v4_sorted &&
                   s->v4_spare && s->v6_sorted && s->default_mac && s->default_count &&
                   s->columns
               ? 0
               : -1;
}

/* IPv4 keys (address << 32 | entry) into ascending address order: LSD radix on the
 * address's four bytes. */
static void radix_sort_v4(uint64_t *keys, uint64_t *spare, uint32_t n)
{
    for (int shift = 32; shift < 64; shift += 8) {
        uint32_t count[257] = {0};
        for (uint32_t i = 0; i < n; i++)
            count[((keys[i] >> shift) & 0xff) + 1]++;
        for (int d = 0; d < 256; d++)
            count[d + 1] += count[d];
        for (uint32_t i = 0; i < n; i++)
            spare[count[(keys[i] >> shift) & 0xff]++] = keys[i];
        uint64_t *t = keys;
        keys = spare;
        spare = t;
    }
    /* four passes: the sorted keys are back in the first array */
}

static int compare_v6(const void *a, const void *b)
{
    return memcmp(((const struct v6_entry *)a)->address, ((const struct v6_entry *)b)->address,
                  16);
}

static uint64_t load_be32(const uint8_t *p)
{
    return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
}

/* Addresses: tables, sorted order, and each record end's address index in s->ends. */
static uint32_t index_addresses(struct scratch *s, const struct batch_record *const *rec,
                                uint32_t n, const struct flow_batch *b, struct out *o)
{
    for (uint32_t k = 0; k < n; k++) {
        const struct batch_record *r = rec[k];
        for (int e = 0; e < 2; e++) {
            s->ends[2 * k + e] =
                r->family == 4
                    ? table_u64(&s->v4, s->v4_keys, load_be32(r->addr[e]), b->multipliers)
                    : V6_TAG | table_bytes(&s->v6, s->v6_keys, s->v6_lengths, r->addr[e], 16, b);
        }
    }
    uint32_t n4 = s->v4.count, n6 = s->v6.count;
    for (uint32_t i = 0; i < n4; i++)
        s->v4_sorted[i] = s->v4_keys[i] << 32 | i;
    radix_sort_v4(s->v4_sorted, s->v4_spare, n4);
    uint32_t *rank4 = s->rank, *rank6 = s->rank + n4;
    for (uint32_t i = 0; i < n4; i++)
        rank4[(uint32_t)s->v4_sorted[i]] = i;
    for (uint32_t i = 0; i < n6; i++) {
        memcpy(s->v6_sorted[i].address, s->v6_keys[i], 16);
        s->v6_sorted[i].entry = i;
    }
    qsort(s->v6_sorted, n6, sizeof *s->v6_sorted, compare_v6);
    for (uint32_t i = 0; i < n6; i++)
        rank6[s->v6_sorted[i].entry] = n4 + i;
    if (n4) {
        uint8_t *p = reserve(o, 2 * CBOR_HEAD_MAX + (size_t)n4 * 5);
        if (p) {
            uint8_t *body = p + 2 * CBOR_HEAD_MAX, *q = body;
            uint64_t previous = 0;
            for (uint32_t i = 0; i < n4; i++) {
                uint64_t address = s->v4_sorted[i] >> 32;
                q = put_varint(q, address - previous);
                previous = address;
            }
            size_t len = (size_t)(q - body);
            uint8_t *h = put_head(put_head(p, 0, 17), 2, len);
            memmove(h, body, len);
            commit(o, h + len);
        }
    }
    if (n6) {
        uint8_t *p = reserve(o, 2 * CBOR_HEAD_MAX + (size_t)n6 * 17);
        if (p) {
            p = put_head(put_head(p, 0, 18), 4, n6);
            for (uint32_t i = 0; i < n6; i++) {
                *p++ = 0x50; /* bstr .size 16 */
                memcpy(p, s->v6_sorted[i].address, 16);
                p += 16;
            }
            commit(o, p);
        }
    }
    for (uint32_t i = 0; i < 2 * n; i++) {
        uint32_t entry = s->ends[i];
        s->ends[i] = entry & V6_TAG ? rank6[entry & ~V6_TAG] : rank4[entry];
    }
    return n4 + n6;
}

/* One shape: [proto, conn_state, history, flags, flags, end_reason, service, vlan, vlan]. */
static void put_shape(struct out *o, const struct batch_record *r)
{
    const char *service = r->service ? APP_SERVICE_NAMES[r->service] : NULL;
    size_t service_len = service ? strlen(service) : 0;
    size_t history_len = strlen(r->history);
    uint8_t *p = reserve(o, 9 * CBOR_HEAD_MAX + history_len + service_len);
    if (!p)
        return;
    *p++ = 0x89;
    p = put_head(p, 0, r->proto);
    p = put_head(p, 0, r->conn_state);
    p = put_head(p, 3, history_len);
    memcpy(p, r->history, history_len);
    p += history_len;
    p = put_head(p, 0, r->tcp_flags[0]);
    p = put_head(p, 0, r->tcp_flags[1]);
    p = put_head(p, 0, r->end_reason);
    if (service) {
        p = put_head(p, 3, service_len);
        memcpy(p, service, service_len);
        p += service_len;
    } else {
        *p++ = 0xf6;
    }
    for (int i = 0; i < 2; i++)
        p = r->vlan_count > i ? put_head(p, 0, r->vlan[i]) : (*p++ = 0xf6, p);
    commit(o, p);
}

static uint32_t shape_index(struct scratch *s, const struct batch_record *r,
                            const struct flow_batch *b)
{
    uint64_t *w = s->shape_words[s->shapes.count];
    w[0] = (uint64_t)r->proto | (uint64_t)r->conn_state << 8 | (uint64_t)r->tcp_flags[0] << 16 |
           (uint64_t)r->tcp_flags[1] << 24 | (uint64_t)r->end_reason << 32 |
           (uint64_t)r->service << 40 | (uint64_t)(r->vlan_count > 2 ? 2 : r->vlan_count) << 48;
    w[1] = w[2] = w[3] = 0;
    if (r->vlan_count > 0)
        w[0] |= (uint64_t)r->vlan[0] << 50; /* <= 4095: checked before */
    if (r->vlan_count > 1)
        w[1] = r->vlan[1];
    memcpy(&w[2], r->history, strlen(r->history)); /* at most 16 bytes */
    uint32_t before = s->shapes.count;
    uint32_t index = table_bytes(&s->shapes, s->shape_keys, s->shape_lengths, (const uint8_t *)w,
                                 sizeof s->shape_words[0], b);
    if (s->shapes.count != before)
        put_shape(&s->shapes_out, r);
    return index;
}

enum flow_batch_status flow_batch_encode(struct flow_batch *b, uint32_t start, uint32_t stop,
                                         struct flow_batch_result *result)
{
    memset(result, 0, sizeof *result);
    if (start >= stop || stop > b->count)
        return FLOW_BATCH_BAD_RANGE;
    if (!b->sorted && sort_batch(b) < 0)
        return FLOW_BATCH_NOMEM;
    uint32_t n = stop - start;
    const struct batch_record **rec = malloc((size_t)n * sizeof *rec);
    if (!rec)
        return FLOW_BATCH_NOMEM;
    for (uint32_t k = 0; k < n; k++) {
        const struct batch_record *r = &b->records[b->order[start + k]];
        if (r->conn_state == CONN_STATE_UNKNOWN || r->end_reason >= END_REASON_COUNT ||
            (r->family != 4 && r->family != 6) || r->vlan_count > 2 ||
            (r->vlan_count > 0 && r->vlan[0] > 4095) || (r->vlan_count > 1 && r->vlan[1] > 4095)) {
            free(rec);
            return FLOW_BATCH_BAD_RECORD;
        }
        rec[k] = r;
    }
    struct scratch s = {0};
    struct out o = {0};
    enum flow_batch_status status = FLOW_BATCH_NOMEM;
    if (scratch_init(&s, n) < 0)
        goto done;
    const uint64_t *key = b->multipliers;
    uint8_t *p = reserve(&o, 2 * CBOR_HEAD_MAX);
    if (!p)
        goto done;
    commit(&o, put_head(put_head(p, 0, 16), 0, rec[0]->ts_us));
    uint32_t n_addresses = index_addresses(&s, rec, n, b, &o);
    if (o.failed)
        goto done;
    unsigned entries = 1 + (s.v4.count > 0) + (s.v6.count > 0); /* 16, 17, 18 */

    /* the walk: columns, shapes, responders, MACs, names in order of first use */
    uint8_t *col[COLUMNS + 2];
    for (int c = 0; c < COLUMNS + 2; c++)
        col[c] = s.columns + (size_t)c * n * VARINT_MAX;
    uint8_t *cur[COLUMNS + 2];
    memcpy(cur, col, sizeof col);
    uint8_t *responders = reserve(&s.responders_out, (size_t)n * 2 * VARINT_MAX);
    uint8_t *macs = reserve(&s.macs_out, (size_t)n * 12);
    if (!responders || !macs)
        goto done;
    uint8_t *responders_at = responders, *macs_at = macs;
    uint64_t previous_ts = rec[0]->ts_us, previous_serial = 0;
    int any_mac = 0, any_name = 0;
    for (uint32_t k = 0; k < n; k++) {
        const struct batch_record *r = rec[k];
        uint32_t orig = s.ends[2 * k], resp = s.ends[2 * k + 1];
        uint32_t shape = shape_index(&s, r, b);
        uint32_t before_responders = s.responders.count;
        uint32_t responder = table_u64(&s.responders, s.responder_keys,
                                       (uint64_t)resp << 16 | r->port[1], key);
        if (s.responders.count != before_responders) {
            responders_at = put_varint(responders_at, resp);
            responders_at = put_varint(responders_at, r->port[1]);
        }
        cur[0] = put_serial_delta(cur[0], r->serial, previous_serial);
        cur[1] = put_varint(cur[1], r->ts_us - previous_ts);
        cur[2] = put_varint(cur[2], r->duration_us);
        cur[3] = put_varint(cur[3], shape);
        cur[4] = put_varint(cur[4], orig);
        cur[5] = put_varint(cur[5], r->port[0]);
        cur[6] = put_varint(cur[6], responder);
        cur[7] = put_varint(cur[7], r->pkts[0]);
        cur[8] = put_varint(cur[8], r->ip_bytes[0]);
        cur[9] = put_varint(cur[9], r->payload_bytes[0]);
        cur[10] = put_varint(cur[10], r->pkts[1]);
        cur[11] = put_varint(cur[11], r->ip_bytes[1]);
        cur[12] = put_varint(cur[12], r->payload_bytes[1]);
        previous_ts = r->ts_us;
        previous_serial = r->serial;
        for (int e = 0; e < 2; e++) {
            uint32_t mac = NO_INDEX;
            if (r->mac_seen & (1u << e)) {
                uint64_t word = 0;
                memcpy(&word, r->mac[e], 6);
                uint32_t known = s.macs.count;
                mac = table_u64(&s.macs, s.mac_keys, word, key);
                if (s.macs.count != known) {
                    memcpy(macs_at, r->mac[e], 6);
                    macs_at += 6;
                }
                uint32_t address = s.ends[2 * k + e];
                uint32_t pair = table_u64(&s.addr_macs, s.addr_mac_keys,
                                          (uint64_t)address << 32 | mac, key);
                s.addr_mac_counts[pair]++;
                any_mac = 1;
            }
            s.end_macs[2 * k + e] = mac;
        }
        uint32_t name = 0;
        if (r->name_len) {
            name = 1 + table_bytes(&s.names, s.name_keys, s.name_lengths,
                                   (const uint8_t *)b->names + r->name_at, r->name_len, b);
            any_name = 1;
        }
        cur[COLUMNS + 1] = put_varint(cur[COLUMNS + 1], name);
    }
    commit(&s.responders_out, responders_at);
    commit(&s.macs_out, macs_at);

    /* each address's default MAC: most record ends, ties to the lowest MAC index */
    uint8_t *address_macs = NULL;
    size_t address_macs_len = 0;
    int any_pair = 0;
    struct out pairs_out = {0}, address_macs_out = {0};
    if (any_mac) {
        for (uint32_t a = 0; a < n_addresses; a++)
            s.default_mac[a] = NO_INDEX;
        for (uint32_t i = 0; i < s.addr_macs.count; i++) {
            uint32_t address = (uint32_t)(s.addr_mac_keys[i] >> 32);
            uint32_t mac = (uint32_t)s.addr_mac_keys[i];
            uint32_t count = s.addr_mac_counts[i];
            if (count > s.default_count[address] ||
                (count == s.default_count[address] && mac < s.default_mac[address])) {
                s.default_count[address] = count;
                s.default_mac[address] = mac;
            }
        }
        address_macs = reserve(&address_macs_out, (size_t)n_addresses * 5);
        uint8_t *pairs = reserve(&pairs_out, (size_t)n * 2 * 5);
        if (!address_macs || !pairs) {
            free(address_macs_out.data);
            free(pairs_out.data);
            goto done;
        }
        uint8_t *q = address_macs;
        for (uint32_t a = 0; a < n_addresses; a++)
            q = put_varint(q, s.default_mac[a] == NO_INDEX ? 0 : (uint64_t)s.default_mac[a] + 1);
        address_macs_len = (size_t)(q - address_macs);
        uint8_t *pairs_at = pairs;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t mo = s.end_macs[2 * k], mr = s.end_macs[2 * k + 1];
            int plain_o = mo == NO_INDEX || mo == s.default_mac[s.ends[2 * k]];
            int plain_r = mr == NO_INDEX || mr == s.default_mac[s.ends[2 * k + 1]];
            uint64_t code;
            if (plain_o && plain_r) {
                code = (uint64_t)(mo != NO_INDEX) | (uint64_t)(mr != NO_INDEX) << 1;
            } else {
                uint64_t o1 = mo == NO_INDEX ? 0 : (uint64_t)mo + 1;
                uint64_t r1 = mr == NO_INDEX ? 0 : (uint64_t)mr + 1;
                uint32_t known = s.pairs.count;
                uint32_t pair = table_u64(&s.pairs, s.pair_keys, o1 << 32 | r1, key);
                if (s.pairs.count != known) {
                    pairs_at = put_varint(pairs_at, o1);
                    pairs_at = put_varint(pairs_at, r1);
                }
                code = 4 + (uint64_t)pair;
                any_pair = 1;
            }
            cur[COLUMNS] = put_varint(cur[COLUMNS], code);
        }
        commit(&pairs_out, pairs_at);
    }

    /* 19 shapes, 20 responders, 21 N, 22 columns */
    p = reserve(&o, 2 * CBOR_HEAD_MAX + s.shapes_out.len);
    if (p) {
        p = put_head(put_head(p, 0, 19), 4, s.shapes.count);
        memcpy(p, s.shapes_out.data, s.shapes_out.len);
        commit(&o, p + s.shapes_out.len);
    }
    put_bstr(&o, 20, (const uint8_t *)s.responders_out.data, s.responders_out.len);
    put_uint_entry(&o, 21, n);
    p = reserve(&o, 2);
    if (p) {
        *p++ = 22;
        *p++ = 0x80 | COLUMNS;
        commit(&o, p);
    }
    for (int c = 0; c < COLUMNS; c++) {
        size_t len = (size_t)(cur[c] - col[c]);
        p = reserve(&o, CBOR_HEAD_MAX + len);
        if (p) {
            p = put_head(p, 2, len);
            memcpy(p, col[c], len);
            commit(&o, p + len);
        }
    }
    entries += 4;
    if (any_mac) {
        put_bstr(&o, 23, (const uint8_t *)s.macs_out.data, s.macs_out.len);
        put_bstr(&o, 24, address_macs, address_macs_len);
        put_bstr(&o, 25, col[COLUMNS], (size_t)(cur[COLUMNS] - col[COLUMNS]));
        entries += 3;
        if (any_pair) {
            put_bstr(&o, 26, (const uint8_t *)pairs_out.data, pairs_out.len);
            entries++;
        }
    }
    free(address_macs_out.data);
    free(pairs_out.data);
    if (any_name) {
        put_bstr(&o, 27, col[COLUMNS + 1], (size_t)(cur[COLUMNS + 1] - col[COLUMNS + 1]));
        entries++;
        result->names = malloc((size_t)s.names.count * sizeof *result->names);
        result->name_lengths = malloc(s.names.count);
        if (!result->names || !result->name_lengths) {
            free(result->names);
            free(result->name_lengths);
            result->names = NULL;
            result->name_lengths = NULL;
            goto done;
        }
        for (uint32_t i = 0; i < s.names.count; i++) {
            result->names[i] = (const char *)s.name_keys[i];
            result->name_lengths[i] = s.name_lengths[i];
        }
        result->name_count = s.names.count;
    }
    if (o.failed || s.shapes_out.failed) {
        flow_batch_result_free(result);
        goto done;
    }
    result->bytes = (uint8_t *)o.data;
    result->len = o.len;
    result->entries = entries;
    o.data = NULL;
    status = FLOW_BATCH_OK;
done:
    free(o.data);
    scratch_free(&s);
    free(rec);
    return status;
}

void flow_batch_result_free(struct flow_batch_result *result)
{
    free(result->bytes);
    free(result->names);
    free(result->name_lengths);
    memset(result, 0, sizeof *result);
}
