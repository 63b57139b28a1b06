/*
 * extract.h: what every extractor (extract_*.c) is given and returns, and the dispatch
 * table (extract_table.c) that says which extractor looks at which payload.
 *
 * An extractor reads captured bytes d[0..len) (every read inside them), finds the
 * allowlisted fields of its protocol (docs/DEVICES.md; each file's header says what it
 * reads and what it never reads) and hands them to the fingerprint sink. It depends on
 * this header and fingerprint.h only: never on the device table or the flow table.
 *
 * Adding a protocol: one extract_<name>.c with its function, its prototype below, and
 * one row in extract_table.c (EtherType, UDP port or TCP content test).
 */
#ifndef IOMT_EXTRACT_H
#define IOMT_EXTRACT_H

#include <stdint.h>

#include "fingerprint.h"

/* What an extractor reports back. */
enum extract_result {
    EXTRACT_NOT_MINE = 0, /* does not look like the protocol */
    EXTRACT_OK,           /* recognised (label the flow) */
    EXTRACT_PARTIAL,      /* recognised, but cut short (segmented / snapped): what fit */
    EXTRACT_MALFORMED     /* claims to be the protocol, but lies: nothing trusted */
};

/* The flow a payload belongs to, as far as an extractor may know it. */
struct extract_ctx {
    struct fp_sink *sink; /* where fingerprints go */
    uint8_t responder;    /* the payload comes from the flow's responder */
    uint8_t start_seen;   /* the flow's start was seen (TCP: the originator's SYN) */
    /* The per-flow state an extractor has: the flow's label so far (enum app_service,
     * 5 bits, kept in the flow slot). More would cost bytes in every flow slot. */
    uint8_t service;
    /* The port of the flow's responder (set by the dispatch: FTP's and telnet's own port
     * make a greeting without the protocol's name theirs). */
    uint16_t server_port;
    /* Payload bytes this direction sent before this payload: 0 for the first; where a
     * later message of a multi-message handshake starts (DEVICES_EARLY_MESSAGES). */
    uint32_t stream_offset;
};

typedef enum extract_result (*extractor_fn)(const uint8_t *d, uint32_t len,
                                            struct extract_ctx *x);

/* Big-endian reads for extractors, only after a length check covered the bytes. */
static inline uint16_t ext_get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t ext_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
/* Lower-case hex of v (4 digits) at out; returns out + 4. */
static inline char *ext_hex16(char *out, uint16_t v)
{
    static const char digits[] = "0123456789abcdef";
    out[0] = digits[v >> 12];
    out[1] = digits[(v >> 8) & 15];
    out[2] = digits[(v >> 4) & 15];
    out[3] = digits[v & 15];
    return out + 4;
}

/* Text protocols (HTTP, SSDP, SIP, RTSP; extract_http.c): header `name` (case-insensitive,
 * e.g. "User-Agent") among the header lines after the first line of d[0..len): its value
 * in *value / *value_len. Returns 1 found, 0 absent (headers complete), -1 absent but the
 * headers were cut short. The body after the blank line is never looked at. */
int ext_header_value(const uint8_t *d, uint32_t len, const char *name, const uint8_t **value,
                     uint32_t *value_len);
/* The protocol token of a text protocol's first line: "SIP/2.0" for "INVITE sip:x
 * SIP/2.0" and for "SIP/2.0 200 OK". 1 when it is `version`, 0 when not, -1 when the
 * first line does not end inside the captured bytes (at most 512 of them are looked at). */
int ext_first_line_is(const uint8_t *d, uint32_t len, const char *version);
/* A request line's start: capital letters (1-16), a space, then `scheme` ("sip:"). */
int ext_request_starts(const uint8_t *d, uint32_t len, const char *scheme);
/* What software a text protocol's message names: a response's Server header as
 * `server_kind`, a request's User-Agent as `agent_kind`. Returns ext_header_value's 1, 0
 * or -1 (the headers were cut short). */
int ext_software_header(const uint8_t *d, uint32_t len, struct extract_ctx *x, int response,
                        enum fp_kind server_kind, enum fp_kind agent_kind);

/* ---- the extractors (one file each, or one per family of protocols) ---- */
enum extract_result extract_dhcp(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_dhcpv6(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_dns(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_mdns(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_ssdp(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_tls(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_http(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_dicom(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_hl7(const uint8_t *d, uint32_t len, struct extract_ctx *x);
/* A later message of an HL7 flow: only MSH-9 (type^event), the MSH read up to it. */
void extract_hl7_message_type(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_poct1(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_intellivue(const uint8_t *d, uint32_t len, struct extract_ctx *x);
/* A later message of an IntelliVue flow: the model of an MDS Create event report. */
void extract_intellivue_model(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_lldp(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_cdp(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_sip(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_rtsp(const uint8_t *d, uint32_t len, struct extract_ctx *x);
/* Issue 14, the protocols that make a device risky (each file's header: what it reads). */
enum extract_result extract_telnet(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_ftp(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_ssh(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_rdp(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_vnc(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_smb(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_snmp(const uint8_t *d, uint32_t len, struct extract_ctx *x);
/* HTTP Basic authentication (extract_http_auth.c): the header scan extract_http calls on
 * a first payload, and the reader of an HTTP flow's later messages. */
void ext_http_basic_auth(const uint8_t *d, uint32_t len, struct extract_ctx *x);
enum extract_result extract_http_auth(const uint8_t *d, uint32_t len, struct extract_ctx *x);
/* TLS versions (extract_tls_version.c): a ServerHello's chosen version, and the name
 * ("tls1.2") of a version number, NULL when none. */
enum extract_result extract_tls_server_hello(const uint8_t *d, uint32_t len,
                                             struct extract_ctx *x);
const char *ext_tls_version_name(uint16_t version);

/* ---- dispatch (extract_table.c): which extractor, by the table ----
 * Each returns the extractor's result and sets *service to its row's label (unchanged
 * when no row matched: the result is then EXTRACT_NOT_MINE). */
struct packet;
enum extract_result extract_l2(const struct packet *p, struct extract_ctx *x, uint8_t *service);
enum extract_result extract_ip(const struct packet *p, struct extract_ctx *x, uint8_t *service);
/* A later message of a flow labelled `service` that devices_wants_message() let through
 * (DHCP: every message; IntelliVue: the MDS Create event report). HL7's later messages
 * are the device table's (it samples them per device). */
void extract_later(const struct packet *p, struct extract_ctx *x, uint8_t service);
/* A later message of a flow labelled `service` (DEVICES_EARLY_MESSAGES), starting at
 * x->stream_offset of its direction: the label's reader, if it has one. */
enum extract_result extract_early(uint8_t service, const uint8_t *d, uint32_t len,
                                  struct extract_ctx *x);

#endif
