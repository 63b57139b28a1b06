/*
 * engine.h: the one internal header of the flow engine.
 *
 * Pipeline inside the extension:
 *   capture.c  (libpcap: files and live interfaces, the loop, GIL released)
 *     -> parse.c     (link layer .. L4 ports, every read bounded by caplen)
 *     -> flowtable.c (bidirectional flow table, expiry, eviction; its own types in
 *                     flowtable.h, TCP state and history in conn_state.h/.c, IP
 *                     fragments in fragments.c)
 *     -> devices.c, extract_*.c (device table and fingerprints, docs/DEVICES.md)
 *     -> output ring (finished flow records, drained by Python in batches)
 *   module.c, module_records.c, module_devices.c
 *              (CPython binding only, behind module.h: plain values cross the boundary)
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

struct packet { /* a new field must also be zeroed in parse.c's packet_clear() */
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
    /* Ethernet (DLT_EN10MB) only, for the device table (devices.c): */
    uint8_t mac_src[6], mac_dst[6];
    uint64_t mac_src_key, mac_dst_key; /* the same in the low 48 bits (native order) */
    uint8_t has_macs;      /* the link layer carried MAC addresses */
    uint16_t l2_type;      /* EtherType after the VLAN tags; L2_TYPE_CDP: 802.3 SNAP CDP */
    const uint8_t *l2_payload; /* PARSE_NON_IP frames: the bytes after the link header */
    uint32_t l2_caplen;        /* of them, captured */
};
/* The 6 bytes of a MAC loaded as the first 6 of a little-endian uint64 (x86, ARM). */
#define MAC_KEY_MASK 0x0000ffffffffffffULL
#define L2_TYPE_ARP 0x0806
#define L2_TYPE_LLDP 0x88cc
#define L2_TYPE_CDP 0x2000 /* Cisco's SNAP protocol id (OUI 00000c) of an 802.3 frame */

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
    uint64_t clock_steps_held;    /* times more than ENGINE_CLOCK_STEP_US ahead of the clock
                                     that did not move it (the next time was not) */
    uint64_t kernel_drops;        /* pcap_stats ps_drop, summed over live sources */
    uint64_t interface_drops;     /* pcap_stats ps_ifdrop */
    uint64_t flow_macs_unrecorded; /* a flow direction's Ethernet source not kept: the MAC
                                      table was full (mac_table.h) */
    uint64_t server_names_replaced; /* a server name forgotten for a newer one: the name
                                       table was full (server_names.h) */
};

/* ---- the engine: flow table + counters + output ring (flowtable.c) ----
 * Entry points shared by capture.c, the binding (module*.c) and the fuzz harness.
 * flowtable.c owns the definitions; its owner may add functions, but these keep their
 * meaning. */
struct engine_settings {
    uint32_t max_flows;            /* preallocated slots; no growth, ever */
    uint32_t ring_records;         /* capacity of the finished-record ring */
    uint64_t tcp_idle_us, tcp_syn_idle_us, udp_idle_us, icmp_idle_us, other_idle_us;
    uint64_t tcp_linger_us;        /* after FIN both ways or RST */
    uint64_t active_us;            /* periodic report of long flows */
    uint32_t max_devices;          /* device table slots; 0: no device table, no extractors */
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

/* Python must drain before the next frame: the record ring or the device event ring is
 * too low for what one frame may add (the capture loop's check, one call per frame). */
int engine_output_low(const struct engine *engine);

/* Drop every waiting record (the fuzz harness's drain; module_records.c converts them). */
void engine_ring_discard(struct engine *engine);

/* End every flow with END_FORCED, as far as the ring has room; returns flows left. */
uint32_t engine_flush(struct engine *engine);

const struct engine_counters *engine_counters(const struct engine *engine);

/* Hash seeds for tables that face hostile keys: random (returns 1), or (getrandom
 * failed: no entropy yet at early boot) at least different per table and per start,
 * derived from the clock (returns 0; guessable, so health reports it). */
int engine_random_seed(uint64_t *seed, size_t count);
/* How many hash keys this process took from the clock because getrandom failed (0 is
 * the healthy answer; health reports it as hash_keys_from_clock). */
uint32_t engine_random_seed_fallbacks(void);

/* ---- added by flowtable.c / capture.c (the engine's owner): records, resumption ---- */

/* One finished flow record as it waits in the output ring. Index 0 of the per-direction
 * arrays is the originator, 1 the responder. */
struct flow_record {
    uint64_t serial;         /* flow serial, the same for every record of a flow */
    uint64_t ts_us;          /* first packet of the record */
    uint64_t duration_us;    /* last packet - first packet of the record */
    uint64_t pkts[2], ip_bytes[2], payload_bytes[2];
    uint8_t addr[2][16];     /* family 4: the first 4 bytes */
    uint16_t port[2];
    uint16_t vlan[2];        /* outer, inner: valid per vlan_count */
    uint8_t vlan_count, family, proto, end_reason; /* end_reason: enum end_reason */
    uint8_t tcp_flags[2];
    char conn_state[8];      /* NUL-terminated Zeek conn_state */
    char history[17];        /* NUL-terminated Zeek history, at most 16 letters */
    uint8_t service;         /* enum app_service: the extractors' label, 0 none */
    uint8_t mac_seen;        /* bit i: mac[i] holds that end's Ethernet source (first seen) */
    uint8_t mac[2][6];
    /* The responder's name when the sensor saw one (server_names.h), NUL-terminated;
     * empty when none. */
    char server_name[254];
};

/* Largest active timeout: record times are kept as 32-bit microsecond offsets. */
#define ENGINE_MAX_ACTIVE_US 3600000000ULL
/* Farthest one packet (or one idle tick of the wall clock) may move the engine clock on
 * its own: a time further ahead moves it only when the next time offered is that far
 * ahead too and within this of it, so one packet from the future (a bad file record, a
 * clock stepped for a moment) cannot make every flow look idle. Below every default
 * idle timeout. */
#define ENGINE_CLOCK_STEP_US 10000000ULL
/* Fragment memory: first fragments remembered, the oldest overwritten. */
#define ENGINE_FRAG_ENTRIES 4096
/* Largest frame the engine keeps when it must defer one (the largest snap length). */
#define ENGINE_MAX_FRAME 262144
/* Most records that processing one packet can emit once expiry is done (an active
 * report of the hit flow, or the eviction that makes room for a new one). */
#define ENGINE_RECORDS_PER_PACKET 1
/* Capacity of the device event ring (fingerprints waiting for Python). */
#define ENGINE_DEVICE_EVENTS 2048

/* NULL when the settings are usable, else what is wrong with them. */
const char *engine_settings_check(const struct engine_settings *settings);

/* Finish work a full ring interrupted (expiry, then a deferred frame). Returns 1 when the
 * engine is ready for the next frame, 0 while the ring is too full (drain it, retry).
 * engine_handle_frame() defers (copies) a frame it cannot finish for lack of ring room;
 * call this before handing it the next frame, or records that do not fit are lost
 * (counted by engine_records_lost). */
int engine_resume(struct engine *engine);

/* Move the clock forward without a packet (idle live capture) and expire by it. */
void engine_advance_clock(struct engine *engine, uint64_t now_us);

/* The i-th oldest waiting record (i < engine_ring_count), and dropping the n oldest. */
const struct flow_record *engine_ring_peek(const struct engine *engine, uint32_t i);
void engine_ring_consume(struct engine *engine, uint32_t n);

uint32_t engine_flows_active(const struct engine *engine);
/* The engine's clock: the largest packet time seen (live and idle: the wall clock). */
uint64_t engine_clock_us(const struct engine *engine);
uint32_t engine_max_flows(const struct engine *engine);
/* Bytes of one flow slot, and of the whole flow table (slots + hash buckets). */
size_t engine_slot_bytes(void);
size_t engine_table_bytes(const struct engine *engine);
/* Records lost because a caller fed a frame while the ring was full (must stay 0). */
uint64_t engine_records_lost(const struct engine *engine);

/* Add pcap_stats drop deltas of a live source. */
void engine_add_drops(struct engine *engine, uint64_t kernel_drops, uint64_t interface_drops);

/* ---- device inventory (devices.c) and fingerprint extractors (extract_*.c) ----
 * The flow table calls the device table once per frame; it reads fingerprints from the
 * first payload packet of each flow direction only (HL7 also counts later messages of a
 * flow it labelled). What it finds goes out as events through a fixed ring, deduplicated
 * per device; Python keeps the fingerprint lists (agent/devices.py). docs/DEVICES.md. */

/* Application labels of flows (FlowRecord.service); 0 = none. Fits in 5 bits. */
enum app_service {
    SVC_NONE = 0,
    SVC_DHCP,
    SVC_DHCPV6,
    SVC_DNS,
    SVC_MDNS,
    SVC_SSDP,
    SVC_TLS,
    SVC_HTTP,
    SVC_DICOM,
    SVC_HL7,
    SVC_POCT1,
    SVC_INTELLIVUE,
    SVC_ARP,
    SVC_LLDP,
    SVC_CDP,
    SVC_SIP,
    SVC_RTSP,
    SVC_TELNET,
    SVC_FTP,
    SVC_SSH,
    SVC_RDP,
    SVC_VNC,
    SVC_SMB,
    SVC_SNMP,
    SVC_COUNT
};
extern const char *const APP_SERVICE_NAMES[SVC_COUNT]; /* Zeek-style: "ssl", "http" ... */

#include "fingerprint.h"

/* Counters of the device table and extractors (exported to Python by name). */
struct device_counters {
    uint64_t devices_created;
    uint64_t devices_evicted;   /* table full: the stalest device made room */
    uint64_t events_emitted;
    uint64_t events_dropped;    /* event ring full */
    uint64_t extract_ok;        /* payloads recognised */
    uint64_t extract_partial;   /* recognised but cut short (segmented, snapped) */
    uint64_t extract_malformed; /* claimed a protocol and lied; nothing kept */
    uint64_t addresses_overflow; /* addresses beyond a device's slots (routers) */
    uint64_t hl7_messages;
};

/* A flow packet as the device table sees it (flowtable.c fills it). */
struct flow_view {
    uint8_t responder;      /* the packet comes from the flow's responder */
    uint8_t first_of_side;  /* the first packet of its direction */
    uint8_t first_payload;  /* the first packet with payload of its direction */
    uint8_t service;        /* the flow's label so far (enum app_service) */
    uint8_t start_seen;     /* TCP: the originator's SYN was seen (not joined mid-stream) */
    uint32_t sent;          /* payload bytes this direction sent before (this record) */
};

/* A later payload of a labelled flow that the device table still reads (the flow table
 * asks for packets that start nothing else): an MLLP block of an HL7 feed (each message
 * is counted), every DHCP message (all clients share the 0.0.0.0:68 -> broadcast flow,
 * so each message is read and attributed to its chaddr), and IntelliVue messages (the
 * monitor's model comes in the event report after the association). */
#define DEVICES_EVERY_MESSAGE ((1u << SVC_HL7) | (1u << SVC_DHCP) | (1u << SVC_INTELLIVUE))
static inline int devices_wants_message(unsigned service, const struct packet *p)
{
    /* One test for every other label (the per-packet path of almost every flow). */
    if (__builtin_expect(!((1u << service) & DEVICES_EVERY_MESSAGE), 1) || !p->payload_caplen)
        return 0;
    if (service == SVC_HL7)
        return p->payload[0] == 0x0b;
    /* IntelliVue: only an MDS Create event report (event type 0x0D06 at 24), not the
     * stream of polls and results that follows it. */
    return service == SVC_DHCP || (p->payload_caplen >= 38 && p->payload[0] == 0xe1 &&
                                   p->payload[24] == 0x0d && p->payload[25] == 0x06);
}

/* Labels whose handshake spans a few messages (a 401 then the retried request, FTP's AUTH
 * TLS, VNC's security types, SMB's second negotiate): their payloads that start within
 * the first DEVICES_EARLY_BYTES of a direction are read too, not just the first. */
#define DEVICES_EARLY_MESSAGES                                                            \
    ((1u << SVC_HTTP) | (1u << SVC_FTP) | (1u << SVC_VNC) | (1u << SVC_SMB))
#define DEVICES_EARLY_BYTES 4096
static inline int devices_wants_early(unsigned service, uint64_t sent, const struct packet *p)
{
    if (__builtin_expect(!((1u << service) & DEVICES_EARLY_MESSAGES), 1) ||
        sent >= DEVICES_EARLY_BYTES || !p->payload_caplen)
        return 0;
    /* Only payloads that can start a message of the handshake: a body's next segment
     * costs no call. */
    uint8_t first = p->payload[0];
    switch (service) {
    case SVC_HTTP: return first >= 'A' && first <= 'Z'; /* a request or status line */
    case SVC_VNC: return sent == 12;                      /* the security handshake */
    case SVC_SMB: return first == 0;                      /* a session message */
    default: return 1;                                    /* FTP: every line */
    }
}
/* Either of the two, for the per-packet path: one test of the label for almost every
 * packet (the label is in neither set). */
static inline int devices_wants_later(unsigned service, uint64_t sent, const struct packet *p)
{
    if (__builtin_expect(!((1u << service) & (DEVICES_EVERY_MESSAGE | DEVICES_EARLY_MESSAGES)),
                         1))
        return 0;
    return devices_wants_message(service, p) || devices_wants_early(service, sent, p);
}

struct device_table;
struct device_table *devices_new(uint32_t max_devices, uint32_t event_capacity);
void devices_free(struct device_table *t);
/* Where the extractors put server names (server_names.h): the engine's table. */
struct server_names;
void devices_set_names(struct device_table *t, struct server_names *names);
/* An IP packet of a flow; returns the flow's (possibly new) label. */
uint8_t devices_ip_packet(struct device_table *t, const struct packet *p, struct flow_view v);
/* The same for a packet that starts nothing (view: not first of its side, no first
 * payload, the flow not HL7): counts it only. */
void devices_count_packet(struct device_table *t, const struct packet *p);
/* A frame without IP (ARP, LLDP, CDP, anything else with MACs). */
void devices_l2_frame(struct device_table *t, const struct packet *p);
uint32_t devices_event_count(const struct device_table *t);
uint32_t devices_event_room(const struct device_table *t);
/* devices_event_room() < DEVICE_EVENTS_PER_PACKET, kept as a flag (asked once per frame). */
int devices_events_low(const struct device_table *t);
const struct device_event *devices_event_peek(const struct device_table *t, uint32_t i);
void devices_event_consume(struct device_table *t, uint32_t n);
const struct device_counters *devices_counters(const struct device_table *t);
uint32_t devices_max(const struct device_table *t);
uint32_t devices_active(const struct device_table *t);

/* A device's state as Python reads it (module_devices.c). */
#define DEVICE_MAX_V4 4
#define DEVICE_MAX_V6 4
#define DEVICE_MAX_VLANS 4
#define DEVICE_MAX_SERVICES 16
struct device_view {
    uint8_t mac[6];
    uint8_t n_v4, n_v6, n_vlans, n_services;
    uint8_t is_new; /* created since the last changes were taken */
    uint64_t first_seen_us, last_seen_us;
    uint64_t pkts_sent, bytes_sent, pkts_received, bytes_received;
    uint64_t hl7_messages;
    uint32_t protocols;  /* bit per enum app_service seen */
    uint32_t peers_estimate;
    uint8_t v4[DEVICE_MAX_V4][4];
    uint8_t v6[DEVICE_MAX_V6][16];
    uint16_t vlans[DEVICE_MAX_VLANS];
    uint16_t service_ports[DEVICE_MAX_SERVICES];
    uint8_t service_protos[DEVICE_MAX_SERVICES];
};
/* Devices with a new address, service or VLAN, or new, since the last call (changed_only),
 * or every device; calls fn for each and clears their change marks when changed_only. */
void devices_visit(struct device_table *t, int changed_only,
                   int (*fn)(const struct device_view *, void *), void *arg);

/* The engine's device table (NULL when max_devices is 0: extraction off). */
struct device_table *engine_devices(struct engine *engine);

/* ---- capture sources (capture.c): up to CAPTURE_MAX_SOURCES feed one engine ---- */
#define CAPTURE_MAX_SOURCES 8
#define CAPTURE_DEFAULT_SNAPLEN 262144
#define CAPTURE_DEFAULT_BUFFER_BYTES (32 * 1024 * 1024)

enum capture_status {
    CAPTURE_OK = 0,        /* open_*: the source is added */
    CAPTURE_EOF,           /* run: every file source is at its end (and no live source) */
    CAPTURE_TIMEOUT,       /* run: the time given is up */
    CAPTURE_RING_FULL,     /* run: drain the records, then run again */
    CAPTURE_STOPPED,       /* run: capture_stop() was called */
    CAPTURE_PACED,         /* run: file frames are read up to the pace set (replay speed) */
    CAPTURE_ERR_OPEN,      /* open_*: not a capture, no such interface, no permission ... */
    CAPTURE_ERR_LINKTYPE,  /* open_*: a link type the parser does not decode */
    CAPTURE_ERR_FILTER,    /* open_live: the BPF filter does not compile or apply */
    CAPTURE_ERR_LIMIT,     /* open_*: already CAPTURE_MAX_SOURCES sources */
    CAPTURE_ERR_READ,      /* run: a source failed while reading */
    CAPTURE_ERR_TRUNCATED  /* run: a capture file ends in the middle of a packet */
};

struct capture;
struct capture_live_options {
    int snaplen;          /* bytes kept per packet */
    int promiscuous;
    int buffer_bytes;     /* kernel capture buffer */
    int timeout_ms;       /* packet buffer timeout (immediate mode makes it moot) */
    const char *bpf_filter; /* NULL or "" for none */
};

/* NULL on allocation failure. The capture does not own the engine. */
struct capture *capture_new(struct engine *engine);
void capture_free(struct capture *capture);
/* Error text (pcap's message, naming the call and the source) goes into err. */
enum capture_status capture_open_file(struct capture *capture, const char *path, char *err,
                                      size_t err_len);
enum capture_status capture_open_live(struct capture *capture, const char *interface,
                                      const struct capture_live_options *options, char *err,
                                      size_t err_len);
/* Capture until a status other than CAPTURE_OK; blocks at most about timeout_ms. */
enum capture_status capture_run(struct capture *capture, int timeout_ms, char *err,
                                size_t err_len);
/* Replay pacing: capture_run stops reading files once it has read a frame later than
 * until_us (so at most one frame runs ahead) and returns CAPTURE_PACED until the pace is
 * moved on. 0 switches pacing off (the default: as fast as possible). */
void capture_set_pace(struct capture *capture, uint64_t until_us);
/* Async-signal-safe and thread-safe: the running capture_run returns CAPTURE_STOPPED
 * (after the frame in hand, or within IDLE_POLL_MS when live and quiet). Only sets a
 * flag: it never touches the sources, which the running loop may be closing. */
void capture_stop(struct capture *capture);
int capture_source_count(const struct capture *capture);

#endif /* IOMT_ENGINE_H */
