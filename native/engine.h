/*
 * engine.h: the one internal header of the flow engine.
 *
 * Pipeline inside the extension:
 *   capture.c  (libpcap: files and live interfaces, the loop, GIL released)
 *     -> parse.c     (link layer .. L4 ports, every read bounded by caplen)
 *     -> flowtable.c (bidirectional flow table, TCP state, expiry, eviction)
 *     -> output ring (finished flow records, drained by Python in batches)
 *   module.c   (CPython binding only: plain values cross the boundary)
 *
 * Semantics (what a flow is, conn_state, history, end reasons, counters) are
 * specified in docs/flow-semantics.md; the pure-Python reference in
 * tests/reference.py implements the same text, and the differential test
 * holds the two together.
 */
#ifndef IOMT_ENGINE_H
#define IOMT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* ---- link types we decode (pcap LINKTYPE_ / DLT_ values) ---- */
#define IOMT_DLT_NULL 0
#define IOMT_DLT_EN10MB 1
#define IOMT_DLT_RAW 12 /* DLT_RAW on Linux; LINKTYPE_RAW is 101 */
#define IOMT_LINKTYPE_RAW 101
#define IOMT_DLT_LINUX_SLL 113
#define IOMT_DLT_IPV4 228
#define IOMT_DLT_IPV6 229
#define IOMT_DLT_LINUX_SLL2 276

/* ---- end reasons: values cross into Python (agent/flowrecord.py) ---- */
enum end_reason {
    END_IDLE = 0,      /* no packet for the protocol's idle timeout */
    END_ACTIVE = 1,    /* periodic report of a long flow; the flow goes on */
    END_END = 2,       /* TCP closed (FIN both ways or RST), after the linger */
    END_FORCED = 3,    /* end of file or shutdown */
    END_RESOURCES = 4, /* table full: the stalest flow made room */
    END_REASON_COUNT
};

/* ---- result of parsing one frame (parse.c fills it, flowtable.c reads it) ---- */
enum parse_result {
    PARSE_OK = 0,        /* an IP packet with a flow key */
    PARSE_NON_IP,        /* a frame that carries no IPv4/IPv6 (ARP, LLDP, STP ...) */
    PARSE_MALFORMED,     /* header fields contradict themselves or the frame */
    PARSE_TRUNCATED,     /* captured bytes end before the headers we need */
    PARSE_FRAGMENT_LATER /* a non-first IP fragment: no ports, match by frag id */
};

struct packet {
    uint64_t ts_us;      /* capture timestamp, microseconds since the epoch */
    uint32_t wire_len;   /* original frame length */
    uint32_t ip_len;     /* IP total length from the header (v6: 40 + payload len) */
    uint32_t payload_len; /* L4 payload length from header lengths, not caplen */
    uint16_t vlan[2];    /* outer, inner 802.1Q/802.1ad VIDs */
    uint8_t vlan_count;  /* 0, 1 or 2 tags (deeper stacks: the first two kept) */
    uint8_t family;      /* 4 or 6 */
    uint8_t proto;       /* IP protocol number (after v6 extension headers) */
    uint8_t tcp_flags;   /* TCP flags byte (FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 ...) */
    uint8_t src[16];     /* v4 addresses use the first 4 bytes, rest zero */
    uint8_t dst[16];
    uint16_t sport;      /* TCP/UDP/SCTP ports; ICMP: type and counterpart/code (see spec) */
    uint16_t dport;
    uint8_t icmp_type;   /* raw ICMP/ICMPv6 type and code, when proto is ICMP */
    uint8_t icmp_code;
    uint8_t is_fragment; /* first fragment (offset 0, more fragments set) or later one */
    uint8_t _pad;
    uint32_t frag_id;    /* v4 identification or v6 fragment identification */
    const uint8_t *payload; /* first captured payload byte, for extractors */
    uint32_t payload_caplen; /* payload bytes actually captured (<= payload_len) */
};

/* Parse one captured frame of the given link type. Never reads beyond caplen. */
enum parse_result parse_frame(int linktype, const uint8_t *frame, uint32_t caplen,
                              uint32_t wire_len, struct packet *pkt);

/* ---- engine counters: every drop is counted (exported to Python by name) ---- */
struct engine_counters {
    uint64_t packets_seen;        /* frames handed to the engine */
    uint64_t bytes_seen;          /* their wire lengths */
    uint64_t packets_in_flows;    /* frames accounted to a flow */
    uint64_t non_ip;              /* frames without IP */
    uint64_t malformed;           /* PARSE_MALFORMED */
    uint64_t truncated;           /* PARSE_TRUNCATED */
    uint64_t fragments_unmatched; /* later fragments whose first fragment was not seen */
    uint64_t flows_created;
    uint64_t flows_ended[END_REASON_COUNT]; /* records emitted, by end reason */
    uint64_t kernel_drops;        /* pcap_stats ps_drop, summed over live sources */
    uint64_t interface_drops;     /* pcap_stats ps_ifdrop */
};

/* ---- the engine: flow table + counters + output ring (flowtable.c) ----
 * Entry points shared by capture.c, module.c and the fuzz harness. flowtable.c
 * owns the definitions; its owner may add functions, but these keep their meaning. */
struct engine_settings {
    uint32_t max_flows;            /* preallocated slots; no growth, ever */
    uint32_t ring_records;         /* capacity of the finished-record ring */
    uint64_t tcp_idle_us, tcp_syn_idle_us, udp_idle_us, icmp_idle_us, other_idle_us;
    uint64_t tcp_linger_us;        /* after FIN both ways or RST */
    uint64_t active_us;            /* periodic report of long flows */
};

struct engine;

/* NULL when memory for the preallocated tables cannot be had. */
struct engine *engine_new(const struct engine_settings *settings);
void engine_free(struct engine *engine);

/* Account one captured frame: parse, count, update or create its flow, expire. */
void engine_handle_frame(struct engine *engine, int linktype, const uint8_t *frame,
                         uint32_t caplen, uint32_t wire_len, uint64_t ts_us);

/* Finished records waiting in the ring, and room left (capture stops when low). */
uint32_t engine_ring_count(const struct engine *engine);
uint32_t engine_ring_room(const struct engine *engine);

/* Drop every waiting record (the fuzz harness's drain; module.c converts them). */
void engine_ring_discard(struct engine *engine);

/* End every flow with END_FORCED, as far as the ring has room; returns flows left. */
uint32_t engine_flush(struct engine *engine);

const struct engine_counters *engine_counters(const struct engine *engine);

#endif /* IOMT_ENGINE_H */
