/*
 * flowtable.c: the bidirectional flow table, expiry and the output ring, as
 * docs/flow-semantics.md specifies them (a flow's history and TCP state: conn_state.c;
 * the types: flowtable.h).
 *
 * Memory is fixed in engine_new(): the slots, the hash buckets, the fragment memory,
 * the output ring and one deferred-frame buffer. Nothing is allocated afterwards.
 *
 * Expiry is ordered: each timeout class keeps its flows in one list ordered by last
 * packet time (a touched flow normally moves to the tail), so a scan stops at the first flow
 * still alive, and the stalest flow of the table is the oldest of the list heads.
 *
 * The output ring never overflows. The rule:
 *   1. Before a frame is processed, expiry runs by the clock the frame brought. If the
 *      ring fills up during it, expiry stops and the frame is copied aside (deferred).
 *   2. Processing one frame emits at most ENGINE_RECORDS_PER_PACKET records; a frame is
 *      deferred too when the ring has less room than that.
 *   3. engine_resume() first finishes the expiry, then the deferred frame; the capture
 *      loop calls it before it reads the next frame and returns to Python while it
 *      reports 0. So records and counters never depend on the ring or batch size.
 * The capture loop also stops when the room falls below ENGINE_RECORDS_PER_PACKET, so
 * deferring is the rare case (long expiry bursts), not the common one.
 *
 * Timestamps whose order goes backwards (merged sources, odd files) never move a
 * flow's record start or last-packet time backwards: such a packet counts at the
 * record's start offset 0 at the earliest, and its flow is placed in its list by its
 * (unchanged) last packet time, see list_insert().
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "conn_state.h"

/* ---------------------------------------------------------------- settings */

const char *engine_settings_check(const struct engine_settings *s)
{
    if (s->max_flows < 1 || s->max_flows > (1u << 24))
        return "max_flows must be between 1 and 16777216";
    if (s->ring_records < 16 || s->ring_records > (1u << 20))
        return "ring_records must be between 16 and 1048576";
    if (!s->tcp_idle_us || !s->tcp_syn_idle_us || !s->udp_idle_us || !s->icmp_idle_us ||
        !s->other_idle_us || !s->tcp_linger_us)
        return "idle timeouts and the TCP linger must be positive";
    if (s->active_us < 1000000 || s->active_us > ENGINE_MAX_ACTIVE_US)
        return "active timeout must be between 1 s and 3600 s";
    if (s->max_devices > (1u << 20))
        return "max_devices must be between 0 and 1048576";
    return NULL;
}

/* ---------------------------------------------------------------- hashing */


/* SipHash-1-3 under a random per-engine key (siphash.h): without the key nobody who only
 * controls the traffic can build keys that share a bucket. (The seeded multiply-mix it
 * replaced could be steered: the review built 8-way collisions whatever the seed.) */
static inline uint64_t key_hash(const struct siphash_key *hash_key, const struct flow_key *key)
{
    if (key->family == 4) {
        /* An IPv4 key's addresses are 4 bytes each, the other 24 zero: hashing the 20
         * bytes that can differ takes three SipHash compressions instead of six. The
         * family byte (and the length) keeps these messages apart from IPv6 keys. */
        const uint8_t *p = (const uint8_t *)key;
        uint32_t a, b, tail;
        memcpy(&a, key->addr[0], 4);
        memcpy(&b, key->addr[1], 4);
        memcpy(&tail, p + offsetof(struct flow_key, proto), 4);
        uint64_t words[3] = {(uint64_t)a | (uint64_t)b << 32,
                             load64(p + offsetof(struct flow_key, port)), tail};
        return siphash13(hash_key, words, 20);
    }
    return siphash13(hash_key, key, sizeof *key);
}

_Static_assert(sizeof(struct flow_key) == 44, "flow_key must have no hidden padding");
_Static_assert(offsetof(struct flow_key, port) == 32 && offsetof(struct flow_key, vlan) == 36 &&
                   offsetof(struct flow_key, proto) == 40 && offsetof(struct flow_key, family) == 41 &&
                   offsetof(struct flow_key, vlan_count) == 42,
               "key_from_packet stores ports and VLANs as one word, the small fields as another");

/* Keys taken from the clock since the process started (every table, devices.c's too). */
static _Atomic uint32_t seed_fallbacks;

int engine_random_seed(uint64_t *seed, size_t count)
{
    if (getrandom(seed, count * sizeof seed[0], GRND_NONBLOCK) == (ssize_t)(count * sizeof seed[0]))
        return 1;
    /* No entropy yet (early boot): still differ per table and per start, and say so. */
    seed_fallbacks++;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t mix = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)seed;
    for (size_t i = 0; i < count; i++) {
        seed[i] = mix;
        mix = rotl64(mix, 29) ^ (uint64_t)ts.tv_sec;
    }
    return 0;
}

/* ---------------------------------------------------------------- life cycle */

struct engine *engine_new(const struct engine_settings *settings)
{
    if (engine_settings_check(settings))
        return NULL;
    struct engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->settings = *settings;
    uint32_t buckets = 1;
    while (buckets < settings->max_flows)
        buckets <<= 1;
    e->bucket_mask = buckets - 1;
    e->slots = calloc(settings->max_flows, sizeof *e->slots);
    e->buckets = malloc((size_t)buckets * sizeof *e->buckets);
    e->ring = calloc(settings->ring_records, sizeof *e->ring);
    e->expiring = calloc(settings->ring_records, sizeof *e->expiring);
    e->deferred_frame = malloc(ENGINE_MAX_FRAME);
    struct siphash_key frag_key;
    engine_random_seed(e->hash_key.k, 2);
    engine_random_seed(frag_key.k, 2);
    e->frags = fragments_new(&frag_key);
    e->macs = mac_table_new(settings->max_flows);
    if (settings->max_devices) {
        e->devices = devices_new(settings->max_devices, ENGINE_DEVICE_EVENTS);
        e->names = server_names_new(settings->max_flows, &e->counters.server_names_replaced);
        if (e->devices)
            devices_set_names(e->devices, e->names);
    }
    if (!e->slots || !e->buckets || !e->frags || !e->macs || !e->ring ||
        !e->expiring || !e->deferred_frame || (settings->max_devices && (!e->devices || !e->names))) {
        engine_free(e);
        return NULL;
    }
    memset(e->buckets, 0xff, (size_t)buckets * sizeof *e->buckets);
    e->free_head = NIL;
    e->never_used = 0;
    e->last_flow = NIL;
    for (int l = 0; l < LIST_COUNT; l++)
        e->list_head[l] = e->list_tail[l] = NIL;
    e->expiry_due_us = UINT64_MAX;
    e->timeout_us[LIST_TCP] = settings->tcp_idle_us;
    e->timeout_us[LIST_TCP_SYN] = settings->tcp_syn_idle_us;
    e->timeout_us[LIST_TCP_CLOSING] = settings->tcp_linger_us;
    e->timeout_us[LIST_UDP] = settings->udp_idle_us;
    e->timeout_us[LIST_ICMP] = settings->icmp_idle_us;
    e->timeout_us[LIST_OTHER] = settings->other_idle_us;
    return e;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    free(e->slots);
    free(e->buckets);
    fragments_free(e->frags);
    mac_table_free(e->macs);
    server_names_free(e->names);
    free(e->ring);
    free(e->expiring);
    free(e->deferred_frame);
    devices_free(e->devices);
    free(e);
}

/* ---------------------------------------------------------------- lists */

static inline uint64_t flow_last_us(const struct flow_slot *s)
{
    return sat_add64(s->start_us, s->last_off_us);
}

/* A flow just became the head of its list: expiry may come due earlier. */
static inline void expiry_due_lower(struct engine *e, uint32_t idx, uint8_t list)
{
    uint64_t due = sat_add64(flow_last_us(&e->slots[idx]), e->timeout_us[list]);
    if (due < e->expiry_due_us)
        e->expiry_due_us = due;
}

static void list_unlink(struct engine *e, uint32_t idx)
{
    struct flow_slot *s = &e->slots[idx];
    if (s->lru_prev != NIL) {
        e->slots[s->lru_prev].lru_next = s->lru_next;
    } else {
        e->list_head[s->list] = s->lru_next;
        if (s->lru_next != NIL)
            expiry_due_lower(e, s->lru_next, s->list);
    }
    if (s->lru_next != NIL)
        e->slots[s->lru_next].lru_prev = s->lru_prev;
    else
        e->list_tail[s->list] = s->lru_prev;
}

/* How far back from the tail a flow is moved to keep its list ordered by last packet
 * time when packets arrive out of timestamp order (merged sources). Past this bound the
 * flow stays where the walk ended: expiry and eviction may then act up to that disorder
 * late, but a capture with wild timestamps cannot make each packet cost O(flows). */
#define LIST_ORDER_WALK 128

/* Insert the flow into `list` ordered by (last packet time, touch order): normally at
 * the tail, as the flow just got the newest packet. */
static void list_insert(struct engine *e, uint32_t idx, uint8_t list)
{
    struct flow_slot *s = &e->slots[idx];
    uint64_t last = flow_last_us(s);
    uint32_t after = e->list_tail[list];
    for (int steps = 0; after != NIL && steps < LIST_ORDER_WALK; steps++) {
        if (flow_last_us(&e->slots[after]) <= last)
            break;
        after = e->slots[after].lru_prev;
    }
    s->list = list;
    s->lru_prev = after;
    s->lru_next = after != NIL ? e->slots[after].lru_next : e->list_head[list];
    if (after != NIL) {
        e->slots[after].lru_next = idx;
    } else {
        e->list_head[list] = idx;
        expiry_due_lower(e, idx, list);
    }
    if (s->lru_next != NIL)
        e->slots[s->lru_next].lru_prev = idx;
    else
        e->list_tail[list] = idx;
}

static uint8_t flow_list_for(const struct flow_slot *s)
{
    switch (s->key.proto) {
    case 6: {
        uint8_t a = s->tcp_state[0], b = s->tcp_state[1];
        if (a == TCP_RESET || b == TCP_RESET || (a == TCP_CLOSED && b == TCP_CLOSED))
            return LIST_TCP_CLOSING;
        if ((a == TCP_SYN_SENT && b == TCP_INACTIVE) || (b == TCP_SYN_SENT && a == TCP_INACTIVE))
            return LIST_TCP_SYN;
        return LIST_TCP;
    }
    case 17:
        return LIST_UDP;
    case 1:
    case 58:
        return LIST_ICMP;
    default:
        return LIST_OTHER;
    }
}

/* ---------------------------------------------------------------- output ring */

static struct flow_record *ring_push(struct engine *e)
{
    if (e->ring_count == e->settings.ring_records) {
        e->records_lost++; /* only when a caller ignores engine_resume(); see the top */
        return NULL;
    }
    uint32_t pos = e->ring_head + e->ring_count;
    if (pos >= e->settings.ring_records)
        pos -= e->settings.ring_records;
    e->ring_count++;
    return &e->ring[pos];
}

uint32_t engine_ring_count(const struct engine *e) { return e->ring_count; }

uint32_t engine_ring_room(const struct engine *e)
{
    return e->settings.ring_records - e->ring_count;
}

int engine_output_low(const struct engine *e)
{
    return e->settings.ring_records - e->ring_count < ENGINE_RECORDS_PER_PACKET ||
           (e->devices && devices_events_low(e->devices));
}

const struct flow_record *engine_ring_peek(const struct engine *e, uint32_t i)
{
    uint32_t pos = e->ring_head + i;
    if (pos >= e->settings.ring_records)
        pos -= e->settings.ring_records;
    return &e->ring[pos];
}

void engine_ring_consume(struct engine *e, uint32_t n)
{
    if (n > e->ring_count)
        n = e->ring_count;
    e->ring_head = (uint32_t)(((uint64_t)e->ring_head + n) % e->settings.ring_records);
    e->ring_count -= n;
}

void engine_ring_discard(struct engine *e) { engine_ring_consume(e, e->ring_count); }

/* ---------------------------------------------------------------- emitting and ending */

static void emit_record(struct engine *e, const struct flow_slot *s, enum end_reason reason)
{
    e->counters.flows_ended[reason]++;
    struct flow_record *r = ring_push(e);
    if (!r)
        return;
    int orig = s->bits & FLOW_ORIG_DIR_1 ? 1 : 0;
    int dirs[2] = {orig, !orig};
    r->serial = s->serial;
    r->ts_us = s->start_us;
    r->duration_us = flow_last_us(s) - s->start_us;
    for (int i = 0; i < 2; i++) {
        int d = dirs[i];
        r->pkts[i] = s->pkts[d];
        r->ip_bytes[i] = s->ip_bytes[d];
        r->payload_bytes[i] = s->payload_bytes[d];
        memcpy(r->addr[i], s->key.addr[d], 16);
        r->port[i] = s->key.port[d];
        r->tcp_flags[i] = s->tcp_flags[d];
        r->vlan[i] = s->key.vlan[i];
    }
    r->vlan_count = s->key.vlan_count;
    r->family = s->key.family;
    r->proto = s->key.proto;
    r->end_reason = (uint8_t)reason;
    r->service = (uint8_t)s->service;
    r->mac_seen = 0;
    for (int i = 0; i < 2; i++) {
        if (s->bits & (FLOW_MAC_0 << dirs[i])) {
            memcpy(r->mac[i], mac_table_get(e->macs, s->mac[dirs[i]]), 6);
            r->mac_seen |= (uint8_t)(1u << i);
        }
    }
    const char *name = e->names ? server_names_get(e->names, r->family, r->addr[1]) : NULL;
    if (name)
        memcpy(r->server_name, name, strlen(name) + 1);
    else
        r->server_name[0] = '\0';
    history_text(s->history, r->history);
    const char *state;
    if (s->key.proto == 6)
        state = tcp_conn_state(s, orig, r->history);
    else if (s->key.proto == 17)
        state = (s->bits & (FLOW_SENT_0 | FLOW_SENT_1)) == (FLOW_SENT_0 | FLOW_SENT_1) ? "SF"
                                                                                      : "S0";
    else
        state = "OTH";
    strcpy(r->conn_state, state);
}

static void hash_unlink(struct engine *e, uint32_t idx)
{
    struct flow_slot *s = &e->slots[idx];
    uint32_t *link = &e->buckets[key_hash(&e->hash_key, &s->key) & e->bucket_mask];
    while (*link != idx)
        link = &e->slots[*link].hash_next;
    *link = s->hash_next;
}

/* Emit the flow's last record and give its slot back. */
static void flow_end(struct engine *e, uint32_t idx, enum end_reason reason)
{
    struct flow_slot *s = &e->slots[idx];
    emit_record(e, s, reason);
    for (int d = 0; d < 2; d++)
        if (s->bits & (FLOW_MAC_0 << d))
            mac_table_release(e->macs, s->mac[d]);
    list_unlink(e, idx);
    hash_unlink(e, idx);
    s->list = LIST_FREE;
    s->serial = 0;
    s->lru_next = e->free_head;
    e->free_head = idx;
    e->flows_active--;
}

/* In-place heapsort by serial: qsort may allocate, and nothing allocates after
 * engine_new(). */
static void expiring_sift_down(struct expiring *a, uint32_t root, uint32_t n)
{
    for (;;) {
        uint32_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && a[child + 1].serial > a[child].serial)
            child++;
        if (a[root].serial >= a[child].serial)
            return;
        struct expiring tmp = a[root];
        a[root] = a[child];
        a[child] = tmp;
        root = child;
    }
}

static void expiring_sort_by_serial(struct expiring *a, uint32_t n)
{
    for (uint32_t i = n / 2; i-- > 0;)
        expiring_sift_down(a, i, n);
    for (uint32_t end = n; end-- > 1;) {
        struct expiring tmp = a[0];
        a[0] = a[end];
        a[end] = tmp;
        expiring_sift_down(a, 0, end);
    }
}

/* End every flow idle past its timeout, in serial order (the order in which the flows
 * began), as far as the ring has room; 0 when the ring interrupted the scan. When more
 * flows expire at once than the ring holds, each part is in serial order. */
static __attribute__((noinline)) int expire_scan(struct engine *e)
{
    uint32_t room = engine_ring_room(e), n = 0;
    int complete = 1;
    for (int l = 0; l < LIST_COUNT && complete; l++) {
        uint8_t reason = l == LIST_TCP_CLOSING ? END_END : END_IDLE;
        for (uint32_t idx = e->list_head[l]; idx != NIL; idx = e->slots[idx].lru_next) {
            if (e->clock_us <= sat_add64(flow_last_us(&e->slots[idx]), e->timeout_us[l]))
                break;
            if (n == room) {
                complete = 0;
                break;
            }
            e->expiring[n++] = (struct expiring){e->slots[idx].serial, idx, reason};
        }
    }
    expiring_sort_by_serial(e->expiring, n);
    for (uint32_t i = 0; i < n; i++)
        flow_end(e, e->expiring[i].slot, (enum end_reason)e->expiring[i].reason);
    if (complete) { /* exact again: the earliest due time among the remaining heads */
        e->expiry_due_us = UINT64_MAX;
        for (uint8_t l = 0; l < LIST_COUNT; l++)
            if (e->list_head[l] != NIL)
                expiry_due_lower(e, e->list_head[l], l);
    }
    return complete;
}

/* Most packets: nothing can be due yet (one compare, inlined). */
static inline int expire(struct engine *e)
{
    return e->clock_us <= e->expiry_due_us ? 1 : expire_scan(e);
}

/* The flow with the oldest last packet (the one touched first among equals): the
 * oldest of the list heads. */
static void evict_stalest(struct engine *e)
{
    uint32_t victim = NIL;
    uint64_t oldest = UINT64_MAX, oldest_touch = UINT64_MAX;
    for (int l = 0; l < LIST_COUNT; l++) {
        uint32_t idx = e->list_head[l];
        if (idx == NIL)
            continue;
        uint64_t last = flow_last_us(&e->slots[idx]), touch = e->slots[idx].last_touch;
        if (last < oldest || (last == oldest && touch < oldest_touch)) {
            oldest = last;
            oldest_touch = touch;
            victim = idx;
        }
    }
    flow_end(e, victim, END_RESOURCES);
}

/* ---------------------------------------------------------------- lookup */

/* The first 8 bytes at p as a number that orders like memcmp does. */
static inline uint64_t load64_ordered(const uint8_t *p)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap64(load64(p));
#else
    return load64(p);
#endif
}

/* memcmp(a, b, 16) < 0, == 0, > 0 as -1, 0, 1, without a library call. */
static inline int addr_compare(const uint8_t *a, const uint8_t *b)
{
    uint64_t a0 = load64_ordered(a), b0 = load64_ordered(b);
    if (a0 != b0)
        return a0 > b0 ? 1 : -1;
    uint64_t a1 = load64_ordered(a + 8), b1 = load64_ordered(b + 8);
    return (a1 > b1) - (a1 < b1);
}

/* Every byte of the key is written (no memset): padding and unused VLANs are zero. The
 * addresses are read as 8-byte words and the key is stored as such (on little-endian hosts
 * ports, VLANs and the small fields are assembled in registers first), so key_hash and
 * key_equal read back whole stores instead of stalling on pieces of narrower ones. */
static inline int key_from_packet(const struct packet *p, struct flow_key *k)
{
    uint64_t s0 = load64(p->src), s1 = load64(p->src + 8);
    uint64_t d0 = load64(p->dst), d1 = load64(p->dst + 8);
    int c = addr_compare(p->src, p->dst);
    int dir = c > 0 || (c == 0 && p->sport > p->dport);
    uint8_t vlan_count = p->vlan_count > 2 ? 2 : p->vlan_count;
    uint16_t vlan0 = vlan_count > 0 ? p->vlan[0] : 0, vlan1 = vlan_count > 1 ? p->vlan[1] : 0;
    uint64_t a0 = dir ? d0 : s0, a1 = dir ? d1 : s1, b0 = dir ? s0 : d0, b1 = dir ? s1 : d1;
    memcpy(k->addr[0], &a0, 8);
    memcpy(k->addr[0] + 8, &a1, 8);
    memcpy(k->addr[1], &b0, 8);
    memcpy(k->addr[1] + 8, &b1, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint16_t port0 = dir ? p->dport : p->sport, port1 = dir ? p->sport : p->dport;
    uint64_t ports_vlans = (uint64_t)port0 | (uint64_t)port1 << 16 | (uint64_t)vlan0 << 32 |
                           (uint64_t)vlan1 << 48;
    uint32_t tail = (uint32_t)p->proto | (uint32_t)p->family << 8 | (uint32_t)vlan_count << 16;
    memcpy(k->port, &ports_vlans, 8);
    memcpy(&k->proto, &tail, 4);
#else
    k->port[dir] = p->sport;
    k->port[!dir] = p->dport;
    k->vlan[0] = vlan0;
    k->vlan[1] = vlan1;
    k->proto = p->proto;
    k->family = p->family;
    k->vlan_count = vlan_count;
    k->zero = 0;
#endif
    return dir;
}

/* memcmp of the 44 key bytes, as five 8-byte words and one 4-byte tail, inlined. */
static inline int key_equal(const struct flow_key *a, const struct flow_key *b)
{
    const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
    uint64_t diff = (load64(x) ^ load64(y)) | (load64(x + 8) ^ load64(y + 8)) |
                    (load64(x + 16) ^ load64(y + 16)) | (load64(x + 24) ^ load64(y + 24)) |
                    (load64(x + 32) ^ load64(y + 32));
    uint32_t tx, ty;
    memcpy(&tx, x + 40, sizeof tx);
    memcpy(&ty, y + 40, sizeof ty);
    return diff == 0 && tx == ty;
}

static inline uint32_t flow_find(const struct engine *e, const struct flow_key *k, uint32_t bucket)
{
    uint32_t idx = e->buckets[bucket];
    while (idx != NIL && !key_equal(&e->slots[idx].key, k))
        idx = e->slots[idx].hash_next;
    return idx;
}

/* A slot for a new flow, or NIL when every slot holds one. */
static uint32_t slot_take(struct engine *e)
{
    uint32_t idx = e->free_head;
    if (idx != NIL)
        e->free_head = e->slots[idx].lru_next;
    else if (e->never_used < e->settings.max_flows)
        idx = e->never_used++;
    return idx;
}

static uint32_t flow_create(struct engine *e, const struct flow_key *k, uint32_t bucket,
                            const struct packet *p, int dir)
{
    uint32_t idx = slot_take(e);
    if (idx == NIL) {
        evict_stalest(e);
        idx = slot_take(e);
    }
    struct flow_slot *s = &e->slots[idx];
    memset(s, 0, sizeof *s);
    s->key = *k;
    s->start_us = p->ts_us;
    s->serial = e->next_serial++; /* from 0, as tests/reference.py counts */
    int orig = dir;
    /* A SYN+ACK seen first: its receiver is the one who sent the SYN. */
    if (p->proto == 6 && (p->tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) {
        orig = !dir;
        history_add_code(s, 1); /* '^' */
    }
    s->bits = orig ? FLOW_ORIG_DIR_1 : 0;
    s->hash_next = e->buckets[bucket];
    e->buckets[bucket] = idx;
    s->list = LIST_FREE;
    e->flows_active++;
    e->counters.flows_created++;
    return idx;
}

/* ---------------------------------------------------------------- accounting */

/* The periodic report: emit what the record holds, start the next one with this packet. */
static void active_check(struct engine *e, struct flow_slot *s, uint64_t ts_us)
{
    /* As a difference: start + active_us may not fit in 64 bits near 2^64. */
    if (ts_us < s->start_us || ts_us - s->start_us < e->settings.active_us)
        return;
    emit_record(e, s, END_ACTIVE);
    memset(s->pkts, 0, sizeof s->pkts);
    memset(s->ip_bytes, 0, sizeof s->ip_bytes);
    memset(s->payload_bytes, 0, sizeof s->payload_bytes);
    memset(s->tcp_flags, 0, sizeof s->tcp_flags);
    s->last_off_us = 0;
    s->start_us = ts_us;
}

/* A full table is tried again on the direction's next frame. */
static __attribute__((noinline)) void record_mac(struct engine *e, struct flow_slot *s,
                                                 const struct packet *p, int dir)
{
    uint16_t held = mac_table_hold(e->macs, p->mac_src);
    if (held == MAC_NONE) {
        e->counters.flow_macs_unrecorded++;
        return;
    }
    s->mac[dir] = held;
    s->bits |= dir ? FLOW_MAC_1 : FLOW_MAC_0;
}

static void count_packet(struct engine *e, uint32_t idx, const struct packet *p, int dir)
{
    struct flow_slot *s = &e->slots[idx];
    s->pkts[dir]++;
    s->ip_bytes[dir] += p->ip_len;
    s->payload_bytes[dir] += p->payload_len;
    uint32_t off = p->ts_us > s->start_us ? (uint32_t)(p->ts_us - s->start_us) : 0;
    if (off > s->last_off_us)
        s->last_off_us = off;
    s->bits |= dir ? FLOW_SENT_1 : FLOW_SENT_0;
    if (p->payload_len > 0)
        s->bits |= dir ? FLOW_PAYLOAD_1 : FLOW_PAYLOAD_0;
    /* The direction's first Ethernet source, kept for the flow's life (across active
     * records); out of line, since it happens once per direction. */
    if (p->has_macs && !(s->bits & (dir ? FLOW_MAC_1 : FLOW_MAC_0)))
        record_mac(e, s, p, dir);
    s->last_touch = ++e->touches;
    e->counters.packets_in_flows++;
}

/* After a packet: the flow's place in its list, by (last packet time, touch order).
 * state_changed: 0 when the packet left the TCP endpoint states as they were, so the
 * list the flow is in is still the one they call for. */
static void touch(struct engine *e, uint32_t idx, int state_changed)
{
    struct flow_slot *s = &e->slots[idx];
    uint8_t list = !state_changed && s->list != LIST_FREE ? (uint8_t)s->list : flow_list_for(s);
    if (s->list == list) {
        /* A late packet that left the last packet time alone keeps the flow where it
         * is, however many newer flows follow it. */
        uint32_t next = s->lru_next;
        if (next == NIL || flow_last_us(&e->slots[next]) > flow_last_us(s))
            return;
    }
    if (s->list != LIST_FREE)
        list_unlink(e, idx);
    list_insert(e, idx, list);
}

/* A flow past its own timeout that the ordered scan missed (its list was out of order
 * beyond LIST_ORDER_WALK), or by the time of a packet the clock held back: end it now,
 * before the packet at `ts_us` is counted to it. */
static int end_if_timed_out(struct engine *e, uint32_t idx, uint64_t ts_us)
{
    struct flow_slot *s = &e->slots[idx];
    uint64_t now = ts_us > e->clock_us ? ts_us : e->clock_us;
    if (now <= sat_add64(flow_last_us(s), e->timeout_us[s->list]))
        return 0;
    flow_end(e, idx, s->list == LIST_TCP_CLOSING ? END_END : END_IDLE);
    return 1;
}

static void account_later_fragment(struct engine *e, const struct packet *p)
{
    uint32_t idx;
    uint64_t serial;
    int dir;
    if (fragments_find(e->frags, p, &idx, &serial, &dir)) {
        struct flow_slot *s = &e->slots[idx];
        /* The first fragment's flow must still run (and not be overdue to end). */
        if (s->list != LIST_FREE && s->serial == serial && !end_if_timed_out(e, idx, p->ts_us)) {
            active_check(e, s, p->ts_us);
            count_packet(e, idx, p, dir);
            touch(e, idx, 0);
            return;
        }
    }
    e->counters.fragments_unmatched++;
}

static void account_packet(struct engine *e, const struct packet *p)
{
    struct flow_key key;
    int dir = key_from_packet(p, &key);
    uint32_t idx = e->last_flow, bucket = 0;
    int hashed = 0;
    /* Keys are unique in the table: a slot in use with this key is what flow_find finds. */
    if (idx == NIL || e->slots[idx].list == LIST_FREE || !key_equal(&e->slots[idx].key, &key)) {
        bucket = (uint32_t)key_hash(&e->hash_key, &key) & e->bucket_mask;
        hashed = 1;
        idx = flow_find(e, &key, bucket);
    }
    if (idx != NIL && end_if_timed_out(e, idx, p->ts_us))
        idx = NIL;
    if (idx == NIL) {
        if (!hashed)
            bucket = (uint32_t)key_hash(&e->hash_key, &key) & e->bucket_mask;
        idx = flow_create(e, &key, bucket, p, dir);
    } else {
        active_check(e, &e->slots[idx], p->ts_us);
    }
    e->last_flow = idx;
    struct flow_slot *s = &e->slots[idx];
    int responder = dir != (s->bits & FLOW_ORIG_DIR_1 ? 1 : 0);
    /* Most packets of a flow start nothing for the device table (not their direction's
     * first packet or first payload, no MLLP block of an HL7 feed): only its counters
     * move, without building the flow view. The bits say what this direction sent so far
     * (before count_packet sets them). */
    unsigned side = (unsigned)s->bits >> dir; /* this direction's bits at _0 */
    if (!e->devices) {
        /* extraction off */
    } else if ((side & FLOW_PAYLOAD_0 || (side & FLOW_SENT_0 && !p->payload_len)) &&
               !devices_wants_later(s->service, s->payload_bytes[dir], p)) {
        /* count_packet sets SENT with PAYLOAD; an HL7 flow's packet matters only when it
         * starts an MLLP block (0x0B), a DHCP flow's every message (engine.h). */
        devices_count_packet(e->devices, p);
    } else {
        struct flow_view view = {
            .responder = (uint8_t)responder,
            .first_of_side = !(s->bits & (dir ? FLOW_SENT_1 : FLOW_SENT_0)),
            .first_payload =
                p->payload_len > 0 && !(s->bits & (dir ? FLOW_PAYLOAD_1 : FLOW_PAYLOAD_0)),
            .service = (uint8_t)s->service,
            /* Extractors that must not trust a mid-stream segment (DICOM) ask for it. */
            .start_seen = (s->history_seen >> history_role_bit(H_SYN, 0)) & 1,
            .sent = s->payload_bytes[dir] < UINT32_MAX ? (uint32_t)s->payload_bytes[dir]
                                                       : UINT32_MAX,
        };
        uint8_t label = devices_ip_packet(e->devices, p, view) & 0x1f;
        if (label != view.service) /* rarely: a store into the bitfield only then */
            s->service = label;
    }
    count_packet(e, idx, p, dir);
    int state_changed = 0;
    if (p->proto == 6) {
        s->tcp_flags[dir] |= p->tcp_flags;
        uint16_t before;
        memcpy(&before, s->tcp_state, sizeof before);
        tcp_endpoint_update(s->tcp_state, dir, p->tcp_flags, p->payload_len);
        state_changed = memcmp(&before, s->tcp_state, sizeof before) != 0;
        tcp_history_update(s, responder, p->tcp_flags, p->payload_len);
    } else if (p->payload_len > 0) {
        history_add(s, responder, H_DATA);
    }
    touch(e, idx, state_changed);
    if (p->is_fragment)
        fragments_remember(e->frags, p, idx, s->serial, dir);
}

static void process_frame(struct engine *e, int linktype, const uint8_t *frame, uint32_t caplen,
                          uint32_t wire_len, uint64_t ts_us)
{
    struct packet pkt;
    pkt.ts_us = ts_us;
    enum parse_result res = parse_frame(linktype, frame, caplen, wire_len, &pkt);
    e->counters.packets_seen++;
    e->counters.bytes_seen += wire_len;
    switch (res) {
    case PARSE_OK:
        account_packet(e, &pkt);
        break;
    case PARSE_FRAGMENT_LATER:
        account_later_fragment(e, &pkt);
        break;
    case PARSE_NON_IP:
        e->counters.non_ip++;
        if (e->devices)
            devices_l2_frame(e->devices, &pkt);
        break;
    case PARSE_MALFORMED:
        e->counters.malformed++;
        break;
    case PARSE_TRUNCATED:
        e->counters.truncated++;
        break;
    }
}

/* ---------------------------------------------------------------- entry points */

int engine_resume(struct engine *e)
{
    if (!expire(e))
        return 0;
    if (e->has_deferred) {
        if (engine_ring_room(e) < ENGINE_RECORDS_PER_PACKET)
            return 0;
        e->has_deferred = 0;
        process_frame(e, e->deferred_linktype, e->deferred_frame, e->deferred_caplen,
                      e->deferred_wire_len, e->deferred_ts_us);
    }
    return 1;
}

/* A time more than ENGINE_CLOCK_STEP_US ahead of the clock (rare: out of line, so the
 * per-frame path stays small enough to inline into the capture loop). */
static __attribute__((noinline)) void clock_offer_far(struct engine *e, uint64_t t)
{
    uint64_t held = e->clock_held_us;
    int agrees = held && (t > held ? t - held : held - t) <= ENGINE_CLOCK_STEP_US;
    if (e->clock_us && !agrees) {
        e->clock_held_us = t;
        e->counters.clock_steps_held++;
        return;
    }
    e->clock_us = t;
    e->clock_held_us = 0;
}

/* Move the clock to `t`: a packet's time, or the wall clock when live and idle. A time
 * more than ENGINE_CLOCK_STEP_US ahead moves it only when the time offered just before
 * was held back too and lies within ENGINE_CLOCK_STEP_US of it (two in a row agree that
 * time moved on: a gap in the capture, a clock set right), or at the end (engine_flush);
 * otherwise it is held back and counted. The first time sets the clock. */
static inline void clock_offer(struct engine *e, uint64_t t)
{
    if (t <= e->clock_us) {
        e->clock_held_us = 0;
    } else if (t - e->clock_us <= ENGINE_CLOCK_STEP_US) {
        e->clock_us = t;
        e->clock_held_us = 0;
    } else {
        clock_offer_far(e, t);
    }
}

void engine_handle_frame(struct engine *e, int linktype, const uint8_t *frame, uint32_t caplen,
                         uint32_t wire_len, uint64_t ts_us)
{
    if (e->has_deferred) {
        /* Caller ignored engine_resume(): finish the old frame, losing (and counting)
         * records that do not fit, rather than losing packets. */
        while (!engine_resume(e)) {
            e->records_lost += e->ring_count;
            engine_ring_discard(e);
        }
    }
    clock_offer(e, ts_us);
    if (expire(e) && engine_ring_room(e) >= ENGINE_RECORDS_PER_PACKET) {
        process_frame(e, linktype, frame, caplen, wire_len, ts_us);
        return;
    }
    e->has_deferred = 1;
    e->deferred_linktype = linktype;
    e->deferred_caplen = caplen < ENGINE_MAX_FRAME ? caplen : ENGINE_MAX_FRAME;
    e->deferred_wire_len = wire_len;
    e->deferred_ts_us = ts_us;
    if (frame && e->deferred_caplen)
        memcpy(e->deferred_frame, frame, e->deferred_caplen);
}

void engine_advance_clock(struct engine *e, uint64_t now_us)
{
    if (e->has_deferred)
        return; /* the deferred frame must be processed by the clock it brought */
    clock_offer(e, now_us);
    expire(e);
}

uint32_t engine_flush(struct engine *e)
{
    if (!engine_resume(e))
        return e->flows_active + 1;
    if (e->clock_held_us) {
        /* Nothing came after the time held back: the end confirms it (a capture's last
         * packet after a quiet spell ends the idle flows as idle, as it always did). */
        e->clock_us = e->clock_held_us;
        e->clock_held_us = 0;
        if (!expire(e))
            return e->flows_active + 1;
    }
    for (int l = 0; l < LIST_COUNT; l++) {
        while (e->list_head[l] != NIL) {
            if (engine_ring_room(e) == 0)
                return e->flows_active;
            flow_end(e, e->list_head[l], END_FORCED);
        }
    }
    return 0;
}

const struct engine_counters *engine_counters(const struct engine *e) { return &e->counters; }

uint32_t engine_flows_active(const struct engine *e) { return e->flows_active; }

uint64_t engine_clock_us(const struct engine *e) { return e->clock_us; }

uint32_t engine_random_seed_fallbacks(void) { return seed_fallbacks; }

uint32_t engine_max_flows(const struct engine *e) { return e->settings.max_flows; }

size_t engine_slot_bytes(void) { return sizeof(struct flow_slot); }

size_t engine_table_bytes(const struct engine *e)
{
    return (size_t)e->settings.max_flows * sizeof(struct flow_slot) +
           ((size_t)e->bucket_mask + 1) * sizeof(uint32_t) + mac_table_bytes(e->macs);
}

uint64_t engine_records_lost(const struct engine *e) { return e->records_lost; }

struct device_table *engine_devices(struct engine *e) { return e->devices; }

void engine_add_drops(struct engine *e, uint64_t kernel_drops, uint64_t interface_drops)
{
    e->counters.kernel_drops += kernel_drops;
    e->counters.interface_drops += interface_drops;
}
