/*
 * devices.c: the device table (keyed by MAC, fixed memory): what each device is, whom it
 * talks to, and which payloads go to the extractors (extract_table.c).
 *
 * Memory is fixed in devices_new(): the device slots, their hash buckets and the event
 * ring. When every slot is taken, the device that transmitted least recently makes room
 * (counted as devices_evicted). Per frame the table costs one or two hash lookups; the
 * extractors run only on the first payload packet of each flow direction.
 *
 * Fingerprints leave as events (MAC, kind, value) through the fingerprint sink's ring
 * (fingerprint.c); each device keeps the sink's memory of what it sent (struct
 * fp_memory), so a fingerprint seen on every flow is sent once, not per flow.
 *
 * IP-to-MAC learning: the source address of IP packets, ARP senders and DHCP
 * assignments. Behind a router every remote address arrives with the router's MAC: a
 * device keeps DEVICE_MAX_V4 / _V6 addresses and counts the rest (addresses_overflow),
 * which marks routers rather than growing without bound.
 */
#include <stdlib.h>
#include <string.h>

#include "device_table.h"
#include "engine.h"
#include "extract.h"
#include "server_names.h"

static struct fp_memory *memory_of(void *table, const uint8_t *mac);
static void learn_address(void *table, const uint8_t *mac, int family, const uint8_t *addr,
                          uint64_t ts_us);

/* ---------------------------------------------------------------- life cycle */

struct device_table *devices_new(uint32_t max_devices, uint32_t event_capacity)
{
    struct device_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    uint32_t buckets = 1;
    while (buckets < max_devices)
        buckets <<= 1;
    t->bucket_mask = buckets - 1;
    t->max_devices = max_devices;
    t->slots = calloc(max_devices, sizeof *t->slots);
    t->links = calloc(max_devices, sizeof *t->links);
    t->buckets = malloc((size_t)buckets * sizeof *t->buckets);
    engine_random_seed(t->hash_key.k, 2);
    engine_random_seed(&t->fp_seed, 1);
    int ring_failed = fp_ring_init(&t->ring, event_capacity, t->fp_seed,
                                   &t->counters.events_emitted, &t->counters.events_dropped);
    if (!t->slots || !t->links || !t->buckets || ring_failed) {
        devices_free(t);
        return NULL;
    }
    t->owner = (struct fp_owner){t, memory_of, learn_address};
    memset(t->buckets, 0xff, (size_t)buckets * sizeof *t->buckets);
    t->free_head = NIL;
    t->never_used = 0;
    t->lru_head = t->lru_tail = NIL;
    memset(t->recent_key, 0xff, sizeof t->recent_key);
    return t;
}

void devices_free(struct device_table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->links);
    free(t->buckets);
    fp_ring_release(&t->ring);
    free(t);
}

/* ---------------------------------------------------------------- eviction order */

static void lru_unlink(struct device_table *t, uint32_t i)
{
    struct device *d = &t->slots[i];
    if (d->lru_prev != NIL)
        t->slots[d->lru_prev].lru_next = d->lru_next;
    else
        t->lru_head = d->lru_next;
    if (d->lru_next != NIL)
        t->slots[d->lru_next].lru_prev = d->lru_prev;
    else
        t->lru_tail = d->lru_prev;
}

static void lru_append(struct device_table *t, uint32_t i)
{
    struct device *d = &t->slots[i];
    d->lru_prev = t->lru_tail;
    d->lru_next = NIL;
    if (t->lru_tail != NIL)
        t->slots[t->lru_tail].lru_next = i;
    else
        t->lru_head = i;
    t->lru_tail = i;
}

static void device_evict_stalest(struct device_table *t)
{
    uint32_t i = t->lru_head;
    struct device *d = &t->slots[i];
    lru_unlink(t, i);
    uint32_t *link = &t->buckets[key_bucket(t, t->links[i].key)];
    while (*link != i)
        link = &t->links[*link].hash_next;
    *link = t->links[i].hash_next;
    d->used = 0;
    d->lru_next = t->free_head;
    t->free_head = i;
    t->active--;
    t->counters.devices_evicted++;
    uint32_t r = recent_slot(t->links[i].key);
    if (t->recent_key[r] == t->links[i].key)
        t->recent_key[r] = UINT64_MAX; /* no MAC key has the top bits set */
}

/* A slot for a new device, or NIL when every slot holds one. */
static uint32_t device_slot_take(struct device_table *t)
{
    uint32_t i = t->free_head;
    if (i != NIL)
        t->free_head = t->slots[i].lru_next;
    else if (t->never_used < t->max_devices)
        i = t->never_used++;
    return i;
}

static struct device *device_get(struct device_table *t, const uint8_t *mac, uint64_t ts_us)
{
    struct device *d = device_find(t, mac);
    if (d)
        return d;
    uint32_t i = device_slot_take(t);
    if (i == NIL) {
        device_evict_stalest(t);
        i = device_slot_take(t);
    }
    d = &t->slots[i];
    memset(d, 0, sizeof *d);
    memcpy(d->mac, mac, 6);
    d->used = 1;
    d->is_new = 1;
    d->changed = 1;
    d->first_seen_us = ts_us;
    memset(&t->links[i], 0, sizeof t->links[i]);
    t->links[i].last_seen_us = ts_us;
    t->links[i].key = mac_key(mac);
    uint32_t b = key_bucket(t, t->links[i].key);
    t->links[i].hash_next = t->buckets[b];
    t->buckets[b] = i;
    uint32_t r = recent_slot(t->links[i].key); /* it may be remembered as absent */
    t->recent_key[r] = t->links[i].key;
    t->recent_idx[r] = i;
    lru_append(t, i);
    t->active++;
    t->counters.devices_created++;
    return d;
}

/* The sender transmitted now: newest in the eviction order. */
static void device_touch(struct device_table *t, struct device *d, uint64_t ts_us)
{
    uint32_t i = (uint32_t)(d - t->slots);
    if (ts_us > t->links[i].last_seen_us)
        t->links[i].last_seen_us = ts_us;
    if (t->lru_tail != i) {
        lru_unlink(t, i);
        lru_append(t, i);
    }
}

/* ---------------------------------------------------------------- facts */

static int address_usable(int family, const uint8_t *a)
{
    if (family == 4)
        return (a[0] | a[1] | a[2] | a[3]) && a[0] < 224 && a[0] != 127;
    static const uint8_t zero[16];
    return a[0] != 0xff && memcmp(a, zero, 16) != 0;
}

/* Inlined: out of line (it has three callers) it cost device_side_start ~8 instructions
 * a call. */
static inline __attribute__((always_inline)) void
device_add_address(struct device_table *t, struct device *d, int family, const uint8_t *a)
{
    /* Known already (the common case: a device's own address on each of its flows)?
     * Only usable addresses are ever kept, so the usability test waits until adding. */
    if (family == 4) {
        uint32_t a4;
        memcpy(&a4, a, 4);
        for (int i = 0; i < d->n_v4; i++) {
            uint32_t k;
            memcpy(&k, d->v4[i], 4);
            if (k == a4)
                return;
        }
        if (!address_usable(family, a))
            return;
        if (d->n_v4 == DEVICE_MAX_V4) {
            t->counters.addresses_overflow++;
            return;
        }
        memcpy(d->v4[d->n_v4++], a, 4);
    } else {
        for (int i = 0; i < d->n_v6; i++)
            if (!memcmp(d->v6[i], a, 16))
                return;
        if (!address_usable(family, a))
            return;
        if (d->n_v6 == DEVICE_MAX_V6) {
            t->counters.addresses_overflow++;
            return;
        }
        memcpy(d->v6[d->n_v6++], a, 16);
    }
    d->changed = 1;
}

/* The fingerprint sink's questions (struct fp_owner): a device's memory by MAC, and an
 * address an extractor saw assigned (DHCP). */
static struct fp_memory *memory_of(void *table, const uint8_t *mac)
{
    struct device *d = device_find(table, mac);
    return d ? &d->fp : NULL;
}

static void learn_address(void *table, const uint8_t *mac, int family, const uint8_t *addr,
                          uint64_t ts_us)
{
    struct device_table *t = table;
    if (!mac_is_station(mac))
        return;
    /* Never evict for it: the eviction could take the very sender whose packet this is. */
    struct device *d = device_find(t, mac);
    if (!d && t->active < t->max_devices)
        d = device_get(t, mac, ts_us);
    if (d)
        device_add_address(t, d, family, addr);
}

static void device_add_vlans(struct device *d, const struct packet *p)
{
    for (int v = 0; v < p->vlan_count && v < 2; v++) {
        int known = 0;
        for (int i = 0; i < d->n_vlans && !known; i++)
            known = d->vlans[i] == p->vlan[v];
        if (!known && d->n_vlans < DEVICE_MAX_VLANS) {
            d->vlans[d->n_vlans++] = p->vlan[v];
            d->changed = 1;
        }
    }
}

static void device_add_service(struct device *d, uint8_t proto, uint16_t port)
{
    for (int i = 0; i < d->n_services; i++)
        if (d->service_ports[i] == port && d->service_protos[i] == proto)
            return;
    if (d->n_services == DEVICE_MAX_SERVICES)
        return;
    d->service_ports[d->n_services] = port;
    d->service_protos[d->n_services++] = proto;
    d->changed = 1;
}

/* HyperLogLog over the peer's address: first 6 hash bits pick a register, the rest's
 * leading zeros are the rank. A fixed hash (not the table's random seed): the same
 * traffic gives the same estimate, and choosing addresses only ever inflates it. */
static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

#define MIX_OF_GOLDEN 0x9ca066f1a4ab2eeaULL /* mix64(0x9e3779b97f4a7c15) */
static void device_add_peer(struct device *d, const uint8_t *a)
{
    uint64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, a + 8, 8);
    /* IPv4 peers have y == 0: the inner mix is then a constant (0x9e37.. mixed). */
    uint64_t h = mix64(x ^ (y ? mix64(y ^ 0x9e3779b97f4a7c15ULL) : MIX_OF_GOLDEN));
    uint32_t reg = (uint32_t)(h >> 58);
    uint64_t rest = h << 6;
    uint8_t rank = rest ? (uint8_t)(__builtin_clzll(rest) + 1) : 59;
    if (rank > d->peer_registers[reg])
        d->peer_registers[reg] = rank;
}

/* ---------------------------------------------------------------- extraction */

#define PROTO_TCP 6
#define PROTO_UDP 17

/* The label an extractor's result gives (the table's row's, when it recognised the
 * payload), counted. */
static uint8_t count_result(struct device_table *t, enum extract_result r, uint8_t service)
{
    switch (r) {
    case EXTRACT_OK:
        t->counters.extract_ok++;
        return service;
    case EXTRACT_PARTIAL:
        t->counters.extract_partial++;
        return service;
    case EXTRACT_MALFORMED:
        t->counters.extract_malformed++;
        return SVC_NONE;
    default:
        return SVC_NONE;
    }
}

/* The sender's first packet of a flow direction: its address, VLANs, a peer, and the
 * port it answers on. Out of line: the per-packet path stays short. */
static __attribute__((noinline)) void device_side_start(struct device_table *t,
                                                        struct device *src,
                                                        const struct packet *p,
                                                        const struct flow_view *v)
{
    /* The eviction order moves here, not per packet (cheaper; a device that only ever
     * sends on one old flow may be evicted early). The caller set its last-seen time. */
    uint32_t i = (uint32_t)(src - t->slots);
    if (t->lru_tail != i) {
        lru_unlink(t, i);
        lru_append(t, i);
    }
    device_add_address(t, src, p->family, p->src);
    if (p->vlan_count)
        device_add_vlans(src, p);
    device_add_peer(src, p->dst);
    if (v->responder &&
        (p->proto == PROTO_UDP || (p->proto == PROTO_TCP && (p->tcp_flags & 0x12) == 0x12)))
        device_add_service(src, p->proto, p->sport);
}

/* A payload worth reading: a direction's first, or a later MLLP block of an HL7 flow. */
static __attribute__((noinline)) uint8_t device_payload(struct device_table *t,
                                                        struct device *src,
                                                        const struct packet *p,
                                                        const struct flow_view *v)
{
    struct fp_sink sink = {.ring = &t->ring,
                           .owner = &t->owner,
                           .memory = src ? &src->fp : NULL,
                           .mac = p->mac_src,
                           .addr = p->src,
                           .family = p->family,
                           .names = t->names_sink,
                           .dst = p->dst,
                           .ts_us = p->ts_us};
    struct extract_ctx x = {&sink, v->responder, v->start_seen, v->service, 0, v->sent};
    if (!v->first_payload && devices_wants_early(v->service, v->sent, p)) {
        /* A later message of a handshake (engine.h): read, not counted as a payload. */
        extract_early(v->service, p->payload, p->payload_caplen, &x);
        return v->service;
    }
    if (!v->first_payload && v->service == SVC_DHCP) {
        /* Every DHCP message: many clients share one broadcast flow. */
        count_result(t, extract_dhcp(p->payload, p->payload_caplen, &x), SVC_DHCP);
        return v->service;
    }
    if (!v->first_payload && v->service != SVC_HL7) {
        extract_later(p, &x, v->service);
        return v->service;
    }
    if (!v->first_payload) {
        if (!src) /* no link layer: nobody to count for */
            return v->service;
        /* Count it, note its message type (of the first 16 messages of a device, then
         * of every 16th: a feed repeats a few types, and reading each MSH of a busy
         * feed costs more than all the rest). */
        if (src->hl7_messages < 16 || (src->hl7_messages & 15) == 0)
            extract_hl7_message_type(p->payload, p->payload_caplen, &x);
        src->hl7_messages++;
        t->counters.hl7_messages++;
        return v->service;
    }
    uint8_t service = SVC_NONE;
    enum extract_result r = extract_ip(p, &x, &service);
    uint8_t found = count_result(t, r, service);
    if (found == SVC_HL7 && src) {
        src->hl7_messages++;
        t->counters.hl7_messages++;
    }
    if (found && src && !(src->protocols & (1u << found))) {
        src->protocols |= 1u << found;
        src->changed = 1;
    }
    return v->service ? v->service : found;
}

uint8_t devices_ip_packet(struct device_table *t, const struct packet *p, struct flow_view v)
{
    struct device *src = NULL;
    if (p->has_macs) {
        uint32_t i = station_index(t, p->mac_src_key);
        if (i != NIL || key_is_station(p->mac_src_key)) {
            if (i == NIL)
                i = (uint32_t)(device_get(t, p->mac_src, p->ts_us) - t->slots);
            struct device_link *hot = &t->links[i];
            hot->pkts_sent++;
            hot->bytes_sent += p->wire_len;
            if (p->ts_us > hot->last_seen_us)
                hot->last_seen_us = p->ts_us;
            src = &t->slots[i];
            if (v.first_of_side)
                device_side_start(t, src, p, &v);
        }
        if ((i = station_index(t, p->mac_dst_key)) != NIL) {
            t->links[i].pkts_received++;
            t->links[i].bytes_received += p->wire_len;
        }
    }
    if (v.first_payload || devices_wants_later(v.service, v.sent, p))
        return device_payload(t, src, p, &v);
    return v.service;
}

void devices_count_packet(struct device_table *t, const struct packet *p)
{
    /* No has_macs test: without MACs both keys are 0, which is no station's and never
     * in the recent cache, so both lookups say NIL. */
    uint32_t i = station_index(t, p->mac_src_key);
    if (i == NIL && key_is_station(p->mac_src_key)) /* evicted since its side started */
        i = (uint32_t)(device_get(t, p->mac_src, p->ts_us) - t->slots);
    /* After device_get: creating the sender may have evicted the receiver. */
    uint32_t j = station_index(t, p->mac_dst_key);
    if (i != NIL) {
        struct device_link *hot = &t->links[i];
        hot->pkts_sent++;
        hot->bytes_sent += p->wire_len;
        if (p->ts_us > hot->last_seen_us)
            hot->last_seen_us = p->ts_us;
    }
    if (j != NIL) {
        t->links[j].pkts_received++;
        t->links[j].bytes_received += p->wire_len;
    }
}

void devices_l2_frame(struct device_table *t, const struct packet *p)
{
    if (!p->has_macs || !mac_is_station(p->mac_src))
        return;
    struct device *src = device_get(t, p->mac_src, p->ts_us);
    device_touch(t, src, p->ts_us);
    t->links[src - t->slots].pkts_sent++;
    t->links[src - t->slots].bytes_sent += p->wire_len;
    if (p->vlan_count)
        device_add_vlans(src, p);
    const uint8_t *d = p->l2_payload;
    uint32_t n = p->l2_caplen;
    uint8_t found = SVC_NONE;
    if (p->l2_type == L2_TYPE_ARP) {
        /* Ethernet/IPv4 ARP: htype 1, ptype 0800, hlen 6, plen 4; sender at 8 and 14. */
        static const uint8_t arp_eth_ip[6] = {0x00, 0x01, 0x08, 0x00, 0x06, 0x04};
        if (d && n >= 28 && !memcmp(d, arp_eth_ip, 6) && !memcmp(d + 8, p->mac_src, 6)) {
            device_add_address(t, src, 4, d + 14);
            found = SVC_ARP;
        }
    } else {
        struct fp_sink sink = {.ring = &t->ring,
                               .owner = &t->owner,
                               .memory = &src->fp,
                               .mac = p->mac_src,
                               .ts_us = p->ts_us};
        struct extract_ctx x = {&sink, 0, 0, SVC_NONE, 0, 0};
        uint8_t service = SVC_NONE;
        enum extract_result r = extract_l2(p, &x, &service);
        found = count_result(t, r, service);
    }
    if (found && !(src->protocols & (1u << found))) {
        src->protocols |= 1u << found;
        src->changed = 1;
    }
}

static void put_server_name(void *table, int family, const uint8_t *addr, const uint8_t *name,
                            size_t len)
{
    server_names_put(table, family, addr, name, len);
}

void devices_set_names(struct device_table *t, struct server_names *names)
{
    t->names = (struct fp_names){names, put_server_name};
    t->names_sink = names ? &t->names : NULL;
}
