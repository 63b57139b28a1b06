/*
 * device_table.h: the device table's layout and lookups, private to devices.c (the
 * per-packet path and learning) and devices_readout.c (what Python reads).
 */
#ifndef IOMT_DEVICE_TABLE_H
#define IOMT_DEVICE_TABLE_H

#include <string.h>

#include "engine.h"
#include "siphash.h"

#define NIL UINT32_MAX
#define PEER_REGISTERS 64 /* HyperLogLog registers: ~13% error, fixed 64 bytes */
#define RECENT_BITS 8
#define RECENT (1u << RECENT_BITS) /* recently looked-up devices, direct-mapped */

struct device {
    /* identity and housekeeping */
    uint8_t mac[6];
    uint8_t used, changed, is_new;
    uint32_t lru_prev, lru_next; /* ordered by last transmission */
    /* statistics */
    uint64_t first_seen_us, hl7_messages;
    uint32_t protocols; /* bit per enum app_service */
    /* what it is reachable at and answers on */
    uint8_t n_v4, n_v6, n_vlans, n_services;
    uint8_t v4[DEVICE_MAX_V4][4];
    uint8_t v6[DEVICE_MAX_V6][16];
    uint16_t vlans[DEVICE_MAX_VLANS];
    uint16_t service_ports[DEVICE_MAX_SERVICES];
    uint8_t service_protos[DEVICE_MAX_SERVICES];
    uint8_t peer_registers[PEER_REGISTERS];
    struct fp_memory fp; /* what it sent already (the fingerprint sink's) */
};

/* What every packet touches, apart from the big entries: lookup and counting stay in
 * a few cache lines per device (the entries are read on a flow's first packets only). */
struct device_link {
    uint64_t key; /* the MAC in the low 48 bits (mac_key) */
    uint32_t hash_next;
    uint32_t _pad;
    uint64_t last_seen_us;
    /* Not in pairs: next to each other, a packet's two additions to pkts_ and bytes_
     * were made one vector addition (six instructions instead of two). */
    uint64_t pkts_sent, pkts_received, bytes_sent, bytes_received;
    uint64_t _pad_to_64; /* one cache line each; the index scales by a shift */
};
_Static_assert(sizeof(struct device_link) == 64, "a device's hot record is one cache line");

struct device_table {
    struct device *slots;
    struct device_link *links; /* parallel to slots */
    uint32_t *buckets;
    uint32_t bucket_mask, max_devices, active;
    uint32_t free_head;  /* evicted slots, linked by lru_next */
    uint32_t never_used; /* slots from here on never held a device: untouched, not resident */
    uint32_t lru_head, lru_tail;
    struct siphash_key hash_key; /* random: MACs that share a bucket cannot be chosen */
    uint64_t fp_seed;            /* random: the fingerprint sink's hashes */
    /* Devices looked up lately, direct-mapped by key: a wing's traffic is dominated by
     * a few MACs (the gateway, servers), so most lookups stop at one compare here. */
    uint64_t recent_key[RECENT];
    uint32_t recent_idx[RECENT];
    struct fp_ring ring;   /* fingerprint events waiting for Python */
    struct fp_owner owner; /* how the sink reaches devices other than the sender */
    struct device_counters counters;
    struct fp_names names;       /* the engine's server names (devices_set_names) */
    const struct fp_names *names_sink; /* &names, or NULL: none kept */
};

/* ---------------------------------------------------------------- lookup */

/* Same value as parse.c's mac_*_key (little-endian hosts; big-endian: still a key). */
static inline uint64_t mac_key(const uint8_t *mac)
{
    uint64_t v = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&v, mac, 6);
#else
    for (int i = 0; i < 6; i++)
        v |= (uint64_t)mac[i] << (8 * i);
#endif
    return v;
}

static inline uint32_t key_bucket(const struct device_table *t, uint64_t key)
{
    return (uint32_t)siphash13_u64(&t->hash_key, key) & t->bucket_mask;
}

/* The slot index of the device with this key, or NIL. */
static inline uint32_t recent_slot(uint64_t key)
{
    return (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> (64 - RECENT_BITS));
}

static inline uint32_t device_index(struct device_table *t, uint64_t key)
{
    uint32_t r = recent_slot(key);
    if (t->recent_key[r] == key)
        return t->recent_idx[r];
    uint32_t i = t->buckets[key_bucket(t, key)];
    while (i != NIL && t->links[i].key != key)
        i = t->links[i].hash_next;
    /* Absent keys are remembered too (NIL): a receiver that never sends is looked up on
     * every frame to it. device_get() overwrites the entry when it creates the device. */
    t->recent_key[r] = key;
    t->recent_idx[r] = i;
    return i;
}

static inline struct device *device_find_key(struct device_table *t, uint64_t key)
{
    uint32_t i = device_index(t, key);
    return i == NIL ? NULL : &t->slots[i];
}

static inline struct device *device_find(struct device_table *t, const uint8_t *mac)
{
    return device_find_key(t, mac_key(mac));
}

/* The same for parse.c's keys: the first byte of the MAC is the key's low byte. */
static inline int key_is_station(uint64_t key) { return key && !(key & 1); }

/* device_index() for a packet's MAC key, NIL when it is no station's. The recent cache
 * is asked first: only stations' keys ever enter it, so a hit needs no station check. */
static inline uint32_t station_index(struct device_table *t, uint64_t key)
{
    uint32_t r = recent_slot(key);
    if (t->recent_key[r] == key)
        return t->recent_idx[r];
    return key_is_station(key) ? device_index(t, key) : NIL;
}

#endif
