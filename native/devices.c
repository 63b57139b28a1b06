/*
 * devices.c: the device table (keyed by MAC, fixed memory) and the fingerprint events.
 *
 * Memory is fixed in devices_new(): the device slots, their hash buckets and the event
 * ring. When every slot is taken, the device that transmitted least recently makes room
 * (counted as devices_evicted). Per frame the table costs one or two hash lookups; the
 * extractors run only on the first payload packet of each flow direction.
 *
 * Fingerprints leave as events (MAC, kind, value) through the ring; each device
 * remembers hashes of the last DEVICE_FP_SEEN values it sent, so a fingerprint seen on
 * every flow (a JA4, an SNI) is sent once, not per flow. A full ring drops new events
 * and counts them; the capture loop returns to Python before that can happen
 * (DEVICE_EVENTS_PER_PACKET), so only a caller that never drains loses any.
 *
 * IP-to-MAC learning: the source address of IP packets, ARP senders and DHCP
 * assignments. Behind a router every remote address arrives with the router's MAC: a
 * device keeps DEVICE_MAX_V4 / _V6 addresses and counts the rest (addresses_overflow),
 * which marks routers rather than growing without bound.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define NIL UINT32_MAX
#define DEVICE_FP_SEEN 16 /* fp_seen_before() compares them as four vectors of four */
#define PEER_REGISTERS 64 /* HyperLogLog registers: ~13% error, fixed 64 bytes */
#define RECENT 64 /* recently looked-up devices, direct-mapped: a power of two */

const char *const APP_SERVICE_NAMES[SVC_COUNT] = {
    [SVC_NONE] = "",         [SVC_DHCP] = "dhcp",   [SVC_DHCPV6] = "dhcpv6",
    [SVC_DNS] = "dns",       [SVC_MDNS] = "mdns",   [SVC_SSDP] = "ssdp",
    [SVC_TLS] = "ssl",       [SVC_HTTP] = "http",   [SVC_DICOM] = "dicom",
    [SVC_HL7] = "hl7",       [SVC_POCT1] = "poct1", [SVC_INTELLIVUE] = "intellivue",
    [SVC_ARP] = "arp",       [SVC_LLDP] = "lldp",   [SVC_CDP] = "cdp",
};

const char *const FP_KIND_NAMES[FP_KIND_COUNT] = {
    [FP_DHCP_PARAMS] = "dhcp_parameter_list",
    [FP_DHCP_VENDOR] = "dhcp_vendor_class",
    [FP_DHCP_HOSTNAME] = "dhcp_hostname",
    [FP_DHCP_CLIENT_ID] = "dhcp_client_id",
    [FP_DHCP_ASSIGNED] = "dhcp_assigned_address",
    [FP_DHCPV6_VENDOR] = "dhcpv6_vendor_class",
    [FP_LLDP_NAME] = "lldp_system_name",
    [FP_LLDP_DESCRIPTION] = "lldp_system_description",
    [FP_CDP_NAME] = "cdp_device_id",
    [FP_CDP_PLATFORM] = "cdp_platform",
    [FP_CDP_DESCRIPTION] = "cdp_software_version",
    [FP_MDNS_SERVICE] = "mdns_service",
    [FP_SSDP_SERVER] = "ssdp_server",
    [FP_TLS_SNI] = "tls_sni",
    [FP_TLS_JA4_RAW] = "tls_ja4_raw",
    [FP_HTTP_USER_AGENT] = "http_user_agent",
    [FP_HTTP_SERVER] = "http_server",
    [FP_DICOM_AE_TITLE] = "dicom_ae_title",
    [FP_DICOM_CALLED_AE] = "dicom_called_ae_title",
    [FP_DICOM_IMPL_UID] = "dicom_implementation_class_uid",
    [FP_DICOM_IMPL_VERSION] = "dicom_implementation_version",
    [FP_DICOM_ABSTRACT_SYNTAX] = "dicom_abstract_syntax",
    [FP_DICOM_MODALITY] = "dicom_modality",
    [FP_DICOM_RESULT] = "dicom_association_result",
    [FP_HL7_SENDING_APP] = "hl7_sending_application",
    [FP_HL7_SENDING_FACILITY] = "hl7_sending_facility",
    [FP_HL7_RECEIVING_APP] = "hl7_receiving_application",
    [FP_HL7_RECEIVING_FACILITY] = "hl7_receiving_facility",
    [FP_HL7_MESSAGE_TYPE] = "hl7_message_type",
    [FP_HL7_PROCESSING_ID] = "hl7_processing_id",
    [FP_HL7_VERSION] = "hl7_version",
    [FP_POCT1_VENDOR] = "poct1_vendor",
    [FP_POCT1_MODEL] = "poct1_model",
    [FP_POCT1_VERSION] = "poct1_version",
    [FP_INTELLIVUE] = "intellivue",
};

struct device {
    /* identity and housekeeping */
    uint8_t mac[6];
    uint8_t used, changed, is_new, fp_next;
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
    uint32_t fp_seen[DEVICE_FP_SEEN]; /* hashes of fingerprints already sent */
    uint32_t fp_gen;   /* counts hashes entered into fp_seen */
    uint32_t set_gen;  /* fp_gen when set_hash was noted */
    uint64_t set_hash; /* the last fingerprint set that brought nothing new (fp_set_*) */
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
    uint64_t seed;
    /* Devices looked up lately, direct-mapped by key: a wing's traffic is dominated by
     * a few MACs (the gateway, servers), so most lookups stop at one compare here. */
    uint64_t recent_key[RECENT];
    uint32_t recent_idx[RECENT];
    struct device_event *events;
    uint32_t event_capacity, event_head, event_count;
    uint8_t events_low; /* less than DEVICE_EVENTS_PER_PACKET of room (asked per frame) */
    struct device_counters counters;
};

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
    t->events = calloc(event_capacity, sizeof *t->events);
    t->event_capacity = event_capacity;
    t->events_low = event_capacity < DEVICE_EVENTS_PER_PACKET;
    if (!t->slots || !t->links || !t->buckets || !t->events) {
        devices_free(t);
        return NULL;
    }
    memset(t->buckets, 0xff, (size_t)buckets * sizeof *t->buckets);
    t->free_head = NIL;
    t->never_used = 0;
    t->lru_head = t->lru_tail = NIL;
    memset(t->recent_key, 0xff, sizeof t->recent_key);
    engine_random_seed(&t->seed, 1);
    return t;
}

void devices_free(struct device_table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->links);
    free(t->buckets);
    free(t->events);
    free(t);
}

/* ---------------------------------------------------------------- lookup */

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

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
    return (uint32_t)mix64(key ^ t->seed) & t->bucket_mask;
}

/* The slot index of the device with this key, or NIL. */
static inline uint32_t recent_slot(uint64_t key)
{
    return (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 58) & (RECENT - 1);
}

static inline uint32_t device_index(struct device_table *t, uint64_t key)
{
    uint32_t r = recent_slot(key);
    if (t->recent_key[r] == key)
        return t->recent_idx[r];
    for (uint32_t i = t->buckets[key_bucket(t, key)]; i != NIL; i = t->links[i].hash_next)
        if (t->links[i].key == key) {
            t->recent_key[r] = key;
            t->recent_idx[r] = i;
            return i;
        }
    return NIL;
}

static inline struct device *device_find_key(struct device_table *t, uint64_t key)
{
    uint32_t i = device_index(t, key);
    return i == NIL ? NULL : &t->slots[i];
}

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

/* A MAC that can be a device's own: unicast, not all zero. */
static inline int mac_is_station(const uint8_t *mac)
{
    static const uint8_t zero[6];
    return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

static inline struct device *device_find(struct device_table *t, const uint8_t *mac)
{
    return device_find_key(t, mac_key(mac));
}

/* The same for parse.c's keys: the first byte of the MAC is the key's low byte. */
static inline int key_is_station(uint64_t key) { return key && !(key & 1); }

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

static void device_add_address(struct device_table *t, struct device *d, int family,
                               const uint8_t *a)
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

void devices_learn_address(struct device_table *t, const uint8_t *mac, int family,
                           const uint8_t *addr, uint64_t ts_us)
{
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

static uint32_t peers_estimate(const struct device *d)
{
    double sum = 0;
    int zeros = 0;
    for (int i = 0; i < PEER_REGISTERS; i++) {
        sum += 1.0 / (double)(1ULL << d->peer_registers[i]);
        zeros += d->peer_registers[i] == 0;
    }
    double m = PEER_REGISTERS, estimate = 0.709 * m * m / sum; /* alpha for m = 64 */
    if (estimate <= 2.5 * m && zeros) { /* small range: linear counting */
        double ratio = m / zeros, ln = 0;
        /* ln(ratio) without libm: ln(r) = 2 atanh((r-1)/(r+1)), a few series terms */
        double z = (ratio - 1) / (ratio + 1), z2 = z * z, term = z;
        for (int k = 1; k < 40; k += 2) {
            ln += term / k;
            term *= z2;
        }
        estimate = m * 2 * ln;
    }
    return (uint32_t)(estimate + 0.5);
}

/* ---------------------------------------------------------------- events */

/* A value's bytes mixed into h, eight bytes a step (a byte-wise hash cost more than the
 * rest of the deduplication). The last bytes are read as one (overlapping) word of the
 * value, never beyond it. */
static inline uint64_t mix_bytes(uint64_t h, const uint8_t *v, size_t len)
{
    uint64_t w = 0, tail = 0;
    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8) {
            memcpy(&w, v + i, 8);
            h = (h ^ w) * 0xff51afd7ed558ccdULL;
            h ^= h >> 29;
        }
        memcpy(&tail, v + len - 8, 8);
    } else if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, v, 4);
        memcpy(&b, v + len - 4, 4);
        tail = (uint64_t)a << 32 | b;
    } else if (len) {
        tail = (uint64_t)v[0] << 16 | (uint64_t)v[len / 2] << 8 | v[len - 1];
    }
    return (h ^ tail) * 0xc4ceb9fe1a85ec53ULL;
}

/* The length in the seed tells values apart that differ only by trailing zero bytes;
 * the table's random seed keeps colliding values from being crafted from outside (a
 * collision would keep a fingerprint from being sent). */
static inline uint32_t fp_hash(uint64_t seed, enum fp_kind kind, const uint8_t *v, size_t len)
{
    uint64_t h = mix_bytes(seed ^ 0x9e3779b97f4a7c15ULL ^ ((uint64_t)kind << 32) ^ len, v, len);
    return (uint32_t)(h ^ h >> 32) | 1; /* 0 marks an empty slot */
}

/* Sent already by this device (one of its last DEVICE_FP_SEEN values)? Else remember it.
 * Branch-free compare of all the slots. */
static inline int fp_seen_before(struct device *d, uint32_t h)
{
    typedef uint32_t u32x4 __attribute__((vector_size(16)));
    u32x4 q[4], hv = {h, h, h, h};
    memcpy(q, d->fp_seen, sizeof q);
    u32x4 m = (u32x4)((q[0] == hv) | (q[1] == hv) | (q[2] == hv) | (q[3] == hv));
    uint64_t w[2];
    memcpy(w, &m, sizeof w);
    if (w[0] | w[1])
        return 1;
    d->fp_seen[d->fp_next] = h;
    d->fp_next = (uint8_t)((d->fp_next + 1) % DEVICE_FP_SEEN);
    d->fp_gen++;
    return 0;
}

static __attribute__((noinline)) void fp_event_add(struct fp_sink *sink, const uint8_t *mac,
                                                   enum fp_kind kind, const uint8_t *value,
                                                   size_t len)
{
    struct device_table *t = sink->table;
    if (sink->emitted >= DEVICE_EVENTS_PER_PACKET || t->event_count == t->event_capacity) {
        t->counters.events_dropped++;
        return;
    }
    sink->emitted++;
    uint32_t pos = t->event_head + t->event_count;
    if (pos >= t->event_capacity)
        pos -= t->event_capacity;
    t->event_count++;
    t->events_low = t->event_capacity - t->event_count < DEVICE_EVENTS_PER_PACKET;
    struct device_event *ev = &t->events[pos];
    ev->ts_us = sink->ts_us;
    memcpy(ev->mac, mac, 6);
    ev->kind = (uint8_t)kind;
    ev->len = (uint16_t)len;
    memcpy(ev->value, value, len);
    t->counters.events_emitted++;
}

static inline void fp_note(struct fp_sink *sink, const uint8_t *mac, enum fp_kind kind,
                           const uint8_t *value, size_t len)
{
    if (len > FP_VALUE_MAX)
        len = FP_VALUE_MAX;
    /* The sender's own entry exists only for a station MAC: no station test then. */
    struct device *d = mac == sink->mac ? sink->device : NULL;
    if (!d) {
        if (!mac_is_station(mac)) /* no link layer (raw IP captures): nobody to describe */
            return;
        d = device_find(sink->table, mac);
    }
    if (d && fp_seen_before(d, fp_hash(sink->table->seed, kind, value, len)))
        return;
    fp_event_add(sink, mac, kind, value, len);
}

/* Spaces, tabs, CR, LF and NUL: cut from both ends of a value. */
static inline int trim_byte(uint8_t c)
{
    return c <= ' ' && ((1ULL << c) & ((1ULL << ' ') | (1ULL << '\t') | (1ULL << '\r') |
                                       (1ULL << '\n') | 1ULL));
}

void fp_emit_trimmed(struct fp_sink *sink, const uint8_t *mac, enum fp_kind kind,
                     const uint8_t *value, size_t len)
{
    while (len && trim_byte(value[0])) {
        value++;
        len--;
    }
    while (len && trim_byte(value[len - 1]))
        len--;
    if (len)
        fp_note(sink, mac, kind, value, len);
}

void fp_emit_for(struct fp_sink *sink, const uint8_t *mac, enum fp_kind kind,
                 const uint8_t *value, size_t len)
{
    fp_note(sink, mac, kind, value, len);
}

uint64_t fp_set_start(const struct fp_sink *sink) { return sink->table->seed; }

uint64_t fp_set_hash(uint64_t h, const uint8_t *v, size_t len)
{
    h = mix_bytes((h ^ len) * 0xff51afd7ed558ccdULL, v, len);
    return h ^ h >> 31;
}

/* The set is known when it is the sender's last set that brought nothing new, and nothing
 * was entered into its fingerprint memory since: every value of it is still there. */
int fp_set_seen(struct fp_sink *sink, uint64_t h)
{
    struct device *d = sink->device;
    if (!d)
        return 0;
    sink->set_gen = d->fp_gen;
    return d->set_hash == (h | 1) && d->set_gen == d->fp_gen;
}

void fp_set_done(struct fp_sink *sink, uint64_t h)
{
    struct device *d = sink->device;
    if (d && d->fp_gen == sink->set_gen) { /* every value was remembered already */
        d->set_hash = h | 1;
        d->set_gen = d->fp_gen;
    }
}

void fp_emit(struct fp_sink *sink, enum fp_kind kind, const uint8_t *value, size_t len)
{
    fp_emit_for(sink, sink->mac, kind, value, len);
}

uint32_t devices_event_count(const struct device_table *t) { return t->event_count; }

uint32_t devices_event_room(const struct device_table *t)
{
    return t->event_capacity - t->event_count;
}

int devices_events_low(const struct device_table *t) { return t->events_low; }

const struct device_event *devices_event_peek(const struct device_table *t, uint32_t i)
{
    uint32_t pos = t->event_head + i;
    if (pos >= t->event_capacity)
        pos -= t->event_capacity;
    return &t->events[pos];
}

void devices_event_consume(struct device_table *t, uint32_t n)
{
    if (n > t->event_count)
        n = t->event_count;
    t->event_head = (uint32_t)(((uint64_t)t->event_head + n) % t->event_capacity);
    t->event_count -= n;
    t->events_low = t->event_capacity - t->event_count < DEVICE_EVENTS_PER_PACKET;
}

/* ---------------------------------------------------------------- extraction */

#define PROTO_TCP 6
#define PROTO_UDP 17

static inline int port_is(const struct packet *p, uint16_t port)
{
    return p->sport == port || p->dport == port;
}

static inline int starts_with(const uint8_t *d, uint32_t len, const char *s)
{
    size_t n = strlen(s);
    return len >= n && !memcmp(d, s, n);
}

static int looks_like_http(const uint8_t *d, uint32_t len)
{
    return starts_with(d, len, "GET ") || starts_with(d, len, "POST ") ||
           starts_with(d, len, "HEAD ") || starts_with(d, len, "PUT ") ||
           starts_with(d, len, "HTTP/1.") || starts_with(d, len, "OPTIONS ") ||
           starts_with(d, len, "DELETE ") || starts_with(d, len, "NOTIFY ") ||
           starts_with(d, len, "M-SEARCH ");
}

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

/* The first payload of a flow direction: which protocol, and its fingerprints. Labels
 * come from the content; ports only pick which parser gets to look (UDP) or which
 * content must be refused loudly (garbage on the DICOM and HL7 ports is malformed). */
static uint8_t extract_payload(struct device_table *t, const struct packet *p,
                               struct fp_sink *sink)
{
    const uint8_t *d = p->payload;
    uint32_t n = p->payload_caplen;
    if (!d || !n)
        return SVC_NONE;
    if (p->proto == PROTO_UDP) {
        if (port_is(p, 67) || port_is(p, 68))
            return count_result(t, extract_dhcp(d, n, sink), SVC_DHCP);
        if (port_is(p, 546) || port_is(p, 547))
            return count_result(t, extract_dhcpv6(d, n, sink), SVC_DHCPV6);
        if (port_is(p, 5353))
            return count_result(t, extract_dns_like(d, n, 1, sink), SVC_MDNS);
        if (port_is(p, 53))
            return count_result(t, extract_dns_like(d, n, 0, sink), SVC_DNS);
        if (port_is(p, 1900))
            return count_result(t, extract_ssdp(d, n, sink), SVC_SSDP);
        if (port_is(p, 24005) || port_is(p, 24105))
            return count_result(t, extract_intellivue(d, n, sink), SVC_INTELLIVUE);
        return SVC_NONE;
    }
    if (p->proto != PROTO_TCP)
        return SVC_NONE;
    enum extract_result r = EXTRACT_NOT_MINE;
    if (d[0] == 0x16)
        r = extract_tls(d, n, sink);
    if (r != EXTRACT_NOT_MINE)
        return count_result(t, r, SVC_TLS);
    if (d[0] == 0x0b || port_is(p, 2575)) {
        r = extract_hl7(d, n, sink);
        if (r == EXTRACT_NOT_MINE && port_is(p, 2575))
            r = EXTRACT_MALFORMED;
        if (r != EXTRACT_NOT_MINE)
            return count_result(t, r, SVC_HL7);
    }
    if (d[0] >= 0x01 && d[0] <= 0x07) {
        r = extract_dicom(d, n, sink);
        if (r == EXTRACT_NOT_MINE && (port_is(p, 104) || port_is(p, 11112)))
            r = EXTRACT_MALFORMED;
        if (r != EXTRACT_NOT_MINE)
            return count_result(t, r, SVC_DICOM);
    } else if (port_is(p, 104) || port_is(p, 11112)) {
        return count_result(t, EXTRACT_MALFORMED, SVC_DICOM);
    }
    if (looks_like_http(d, n))
        return count_result(t, extract_http(d, n, sink), SVC_HTTP);
    if (d[0] == '<' || d[0] == 0xef) /* XML, maybe after a UTF-8 byte order mark */
        return count_result(t, extract_poct1(d, n, sink), SVC_POCT1);
    return SVC_NONE;
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
    struct fp_sink sink = {t, src, p->mac_src, p->ts_us, 0};
    if (!v->first_payload) {
        /* Count it, note its message type (of the first 16 messages of a device, then
         * of every 16th: a feed repeats a few types, and reading each MSH of a busy
         * feed costs more than all the rest). */
        if (src->hl7_messages < 16 || (src->hl7_messages & 15) == 0)
            extract_hl7_message_type(p->payload, p->payload_caplen, &sink);
        src->hl7_messages++;
        t->counters.hl7_messages++;
        return v->service;
    }
    uint8_t found = extract_payload(t, p, &sink);
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

/* device_index() for a packet's MAC key, NIL when it is no station's. The recent cache
 * is asked first: only stations' keys ever enter it, so a hit needs no station check. */
static inline uint32_t station_index(struct device_table *t, uint64_t key)
{
    uint32_t r = recent_slot(key);
    if (t->recent_key[r] == key)
        return t->recent_idx[r];
    return key_is_station(key) ? device_index(t, key) : NIL;
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
    if (v.first_payload || (v.service == SVC_HL7 && src && p->payload_caplen &&
                             p->payload[0] == 0x0b))
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
    struct fp_sink sink = {t, src, p->mac_src, p->ts_us, 0};
    uint8_t found = SVC_NONE;
    if (p->l2_type == L2_TYPE_ARP) {
        /* Ethernet/IPv4 ARP: htype 1, ptype 0800, hlen 6, plen 4; sender at 8 and 14. */
        static const uint8_t arp_eth_ip[6] = {0x00, 0x01, 0x08, 0x00, 0x06, 0x04};
        if (d && n >= 28 && !memcmp(d, arp_eth_ip, 6) && !memcmp(d + 8, p->mac_src, 6)) {
            device_add_address(t, src, 4, d + 14);
            found = SVC_ARP;
        }
    } else if (p->l2_type == L2_TYPE_LLDP && d) {
        found = count_result(t, extract_lldp(d, n, &sink), SVC_LLDP);
    } else if (p->l2_type == L2_TYPE_CDP && d) {
        found = count_result(t, extract_cdp(d, n, &sink), SVC_CDP);
    }
    if (found && !(src->protocols & (1u << found))) {
        src->protocols |= 1u << found;
        src->changed = 1;
    }
}

/* ---------------------------------------------------------------- reading out */

void devices_visit(struct device_table *t, int changed_only,
                   int (*fn)(const struct device_view *, void *), void *arg)
{
    for (uint32_t i = 0; i < t->never_used; i++) {
        struct device *d = &t->slots[i];
        if (!d->used || (changed_only && !d->changed))
            continue;
        struct device_view v;
        memset(&v, 0, sizeof v);
        memcpy(v.mac, d->mac, 6);
        v.n_v4 = d->n_v4;
        v.n_v6 = d->n_v6;
        v.n_vlans = d->n_vlans;
        v.n_services = d->n_services;
        v.is_new = d->is_new;
        v.first_seen_us = d->first_seen_us;
        const struct device_link *hot = &t->links[i];
        v.last_seen_us = hot->last_seen_us;
        v.pkts_sent = hot->pkts_sent;
        v.bytes_sent = hot->bytes_sent;
        v.pkts_received = hot->pkts_received;
        v.bytes_received = hot->bytes_received;
        v.hl7_messages = d->hl7_messages;
        v.protocols = d->protocols;
        v.peers_estimate = peers_estimate(d);
        memcpy(v.v4, d->v4, sizeof v.v4);
        memcpy(v.v6, d->v6, sizeof v.v6);
        memcpy(v.vlans, d->vlans, sizeof v.vlans);
        memcpy(v.service_ports, d->service_ports, sizeof v.service_ports);
        memcpy(v.service_protos, d->service_protos, sizeof v.service_protos);
        if (fn(&v, arg))
            return; /* the caller failed (no memory): marks stay for the next call */
        if (changed_only)
            d->changed = d->is_new = 0;
    }
}

const struct device_counters *devices_counters(const struct device_table *t)
{
    return &t->counters;
}

uint32_t devices_max(const struct device_table *t) { return t->max_devices; }

uint32_t devices_active(const struct device_table *t) { return t->active; }
