/*
 * flowtable.h: the flow table's own types, shared by its files and by nothing else
 * (the engine's interface is engine.h):
 *   flowtable.c    slots, hashing, expiry lists, the output ring, accounting
 *   conn_state.h/c Zeek's history letters, TCP endpoint states and conn_state
 *   fragments.c    which flow a later IP fragment belongs to
 */
#ifndef IOMT_FLOWTABLE_H
#define IOMT_FLOWTABLE_H

#include <string.h>

#include "engine.h"
#include "mac_table.h"
#include "server_names.h"
#include "siphash.h"

#define NIL UINT32_MAX

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

enum tcp_endpoint {
    TCP_INACTIVE,
    TCP_SYN_SENT,
    TCP_SYN_ACK_SENT,
    TCP_PARTIAL,
    TCP_ESTABLISHED,
    TCP_CLOSED,
    TCP_RESET
};

/* Timeout classes: one expiry list each. */
enum expiry_list {
    LIST_TCP,         /* tcp_idle_us */
    LIST_TCP_SYN,     /* a SYN_SENT endpoint and a silent peer: tcp_syn_idle_us */
    LIST_TCP_CLOSING, /* both CLOSED or either RESET: tcp_linger_us, ends with END_END */
    LIST_UDP,
    LIST_ICMP,
    LIST_OTHER,
    LIST_COUNT,
    LIST_FREE = 7 /* the slot holds no flow (fits the 3-bit field) */
};

/* The canonical key: the smaller (address, port) pair at index 0. Built with memset so
 * the padding byte is always zero and keys compare with memcmp. */
struct flow_key {
    uint8_t addr[2][16];
    uint16_t port[2];
    uint16_t vlan[2]; /* valid per vlan_count; zero otherwise */
    uint8_t proto;
    uint8_t family;
    uint8_t vlan_count;
    uint8_t zero; /* explicit padding, always 0 */
};

struct flow_slot {
    /* identity */
    struct flow_key key;

    /* per-direction state and statistics, indexed by canonical direction (0: key A) */
    uint8_t tcp_state[2];       /* enum tcp_endpoint, cumulative over the flow's life */
    uint8_t tcp_flags[2];       /* OR of the TCP flags in this record */
    uint64_t pkts[2];           /* this record */
    uint64_t ip_bytes[2];
    uint64_t payload_bytes[2];
    uint64_t start_us;          /* first packet of this record */
    uint32_t last_off_us;       /* last packet, as offset from start_us (< active_us) */
    /* Each canonical direction's Ethernet source, first seen (FLOW_MAC_0/1 say which are
     * set), as a held index into the engine's mac_table: 4 bytes where two MACs would
     * take 16 with the alignment, over the 160-byte budget (mac_table.h). */
    uint16_t mac[2];

    /* housekeeping */
    uint64_t serial;            /* unique per engine; every record of the flow carries it */
    uint64_t last_touch;        /* engine packet order of the last update: breaks time ties */
    uint64_t history;           /* 4-bit letter codes, the first letter in the low nibble */
    uint32_t lru_prev, lru_next; /* expiry list links (free list: lru_next only) */
    uint32_t hash_next;         /* bucket chain */
    /* 4 bytes, so the slot stays 152 bytes with the label; the per-packet flags get a
     * byte of their own (a flag set in a shared 32-bit bitfield cost a read-modify-write
     * of the word, several times per packet): */
    uint16_t history_seen;      /* one bit per (letter, role): each is recorded once */
    uint8_t bits;               /* FLOW_* flags below */
    uint8_t list : 3;           /* enum expiry_list, or LIST_FREE */
    uint8_t service : 5;        /* enum app_service: the extractors' label (devices.c) */
};
_Static_assert(SVC_COUNT <= 32, "the service label has 5 bits");
_Static_assert(LIST_COUNT < LIST_FREE, "the list field has 3 bits");
_Static_assert(sizeof(struct flow_slot) == 152, "a flow slot stays 152 bytes");

#define FLOW_ORIG_DIR_1 0x01 /* the originator is key index 1 */
#define FLOW_SENT_0 0x02     /* key index 0 ever sent a packet */
#define FLOW_SENT_1 0x04
#define FLOW_PAYLOAD_0 0x08  /* key index 0 ever sent payload (conn_state is cumulative) */
#define FLOW_PAYLOAD_1 0x10
#define FLOW_MAC_0 0x20      /* mac[0] holds a reference to key index 0's Ethernet source */
#define FLOW_MAC_1 0x40

/* History letters (conn_state.c): code 0 is "no letter", 1 is '^', then 7 per role. */
enum history_letter { H_SYN, H_SYNACK, H_SYNFIN, H_DATA, H_FIN, H_RST, H_ACK };



struct engine {
    struct engine_settings settings;
    uint64_t timeout_us[LIST_COUNT];
    struct siphash_key hash_key; /* flow buckets; fragments.c has its own */
    uint64_t clock_us; /* largest packet time seen, or wall time when live and idle */
    uint64_t clock_held_us; /* the last time offered, held back (too far ahead); 0: none */
    /* No flow can expire before this time: the earliest (last packet + timeout) of the
     * list heads, lowered whenever a list gets a new head. Spares most packets the
     * expiry scan. */
    uint64_t expiry_due_us;
    uint64_t next_serial;

    struct flow_slot *slots;
    uint32_t *buckets;
    uint32_t bucket_mask;
    uint32_t free_head;  /* slots whose flow ended, linked by lru_next */
    /* Slots from here on have never held a flow. Handing them out in order, instead of
     * threading a free list through all of them at start, leaves their pages untouched
     * (so not resident) until traffic needs that many flows: memory stays fixed, but a
     * quiet wing does not pay for the busiest one's table. */
    uint32_t never_used;
    uint32_t flows_active;
    uint32_t list_head[LIST_COUNT], list_tail[LIST_COUNT];

    struct fragments *frags; /* first fragments' flows (fragments.c) */

    /* expiry: the flows one scan ends, sorted by serial before they are emitted */
    struct expiring {
        uint64_t serial;
        uint32_t slot;
        uint8_t reason;
    } *expiring;
    uint64_t touches; /* packets accounted to flows so far: the touch order */
    /* The flow of the last packet: packets come in bursts of one flow (a DICOM transfer),
     * and a match here skips the hash and the bucket, a cache miss per packet otherwise. */
    uint32_t last_flow;

    struct flow_record *ring;
    uint32_t ring_head, ring_count;
    uint64_t records_lost;

    int has_deferred;
    int deferred_linktype;
    uint32_t deferred_caplen, deferred_wire_len;
    uint64_t deferred_ts_us;
    uint8_t *deferred_frame;

    struct engine_counters counters;
    struct device_table *devices; /* NULL: extraction off (max_devices 0) */
    struct mac_table *macs;       /* the flows' Ethernet sources, shared and counted */
    struct server_names *names;   /* servers' names (NULL: extraction off) */
};

/* Times near 2^64 (a bad record, a fuzzed one) must not wrap to the past. */
static inline uint64_t sat_add64(uint64_t a, uint64_t b)
{
    uint64_t sum;
    return __builtin_add_overflow(a, b, &sum) ? UINT64_MAX : sum;
}

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* fragments.c: a fixed memory of the last ENGINE_FRAG_ENTRIES first fragments. */
struct fragments;
/* hash_key: its own SipHash key (not the flow table's). NULL when out of memory. */
struct fragments *fragments_new(const struct siphash_key *hash_key);
void fragments_free(struct fragments *m);
/* The first fragment `p` carries the ports of flow `slot` (serial, direction): remember
 * it as the newest; a full memory forgets its oldest. */
void fragments_remember(struct fragments *m, const struct packet *p, uint32_t slot,
                        uint64_t serial, int dir);
/* The flow a later fragment belongs to, as remembered: 1 with *slot, *serial and *dir
 * set, or 0. The caller checks that the flow in the slot still has that serial. */
int fragments_find(const struct fragments *m, const struct packet *p, uint32_t *slot,
                   uint64_t *serial, int *dir);

#endif
