/*
 * extract_mdns.c: DNS header sanity (labels port-53 flows) and mDNS service types.
 *
 * mDNS (RFC 6762/6763) announcements and queries name DNS-SD services as
 *   [instance.]_service._tcp.local   (or _udp; subtypes: _sub._printer._tcp.local)
 * Only the service type "_service._tcp.local" is sent: instance names are chosen by
 * people ("Dr Jones's iPad") and never leave. Names are decoded with compression
 * pointers followed inside the message only, at most MAX_JUMPS times.
 * Never read: instance names (beyond finding where the service type starts), TXT, A/AAAA
 * and SRV record data of mDNS. Unicast DNS (port 53) has its header checked, to label,
 * and a response's A/AAAA answers name their addresses as servers (dns_answers; kept in
 * the engine for flow records, never sent as a fingerprint).
 */
#include <string.h>

#include "extract.h"

#define DNS_HEADER 12
#define MAX_RECORDS 32
#define MAX_JUMPS 16

/* Decode the name at *off into out (dot separated labels, at most 255 bytes), moving
 * *off past it. 0 when the name is malformed or not captured. */
static int read_name(const uint8_t *d, uint32_t len, uint32_t *off, char *out, size_t *out_len)
{
    uint32_t pos = *off, after = 0;
    int jumps = 0;
    size_t n = 0;
    for (;;) {
        if (pos >= len)
            return 0;
        uint8_t l = d[pos];
        if ((l & 0xc0) == 0xc0) {
            if (pos + 2 > len || ++jumps > MAX_JUMPS)
                return 0;
            if (!after)
                after = pos + 2;
            pos = ((uint32_t)(l & 0x3f) << 8) | d[pos + 1];
            continue;
        }
        if (l & 0xc0)
            return 0;
        if (l == 0) {
            pos++;
            break;
        }
        if (pos + 1 + l > len || n + l + 1 > 255)
            return 0;
        if (n)
            out[n++] = '.';
        memcpy(out + n, d + pos + 1, l);
        n += l;
        pos += 1u + l;
    }
    out[n] = '\0';
    *out_len = n;
    *off = after ? after : pos;
    return 1;
}

/* "_svc._tcp.local" out of a decoded name, when it names a DNS-SD service. */
static void emit_service_type(struct fp_sink *sink, const char *name, size_t len)
{
    static const char *const SUFFIXES[] = {"._tcp.local", "._udp.local"};
    for (int s = 0; s < 2; s++) {
        size_t sl = strlen(SUFFIXES[s]);
        if (len <= sl || memcmp(name + len - sl, SUFFIXES[s], sl) != 0)
            continue;
        /* the label before the suffix must start with '_' */
        size_t label_end = len - sl, label_start = label_end;
        while (label_start > 0 && name[label_start - 1] != '.')
            label_start--;
        if (name[label_start] != '_' || label_end - label_start < 2)
            return;
        if (label_end - label_start == 7 && !memcmp(name + label_start, "_dns-sd", 7))
            return; /* _services._dns-sd._udp.local, the meta-query, names no service */
        for (size_t i = label_start; i < len; i++)
            if ((uint8_t)name[i] < 0x21 || (uint8_t)name[i] > 0x7e)
                return;
        fp_emit(sink, FP_MDNS_SERVICE, (const uint8_t *)name + label_start, len - label_start);
        return;
    }
}

/* The records of an mDNS message whose header checked out: service types. Out of line:
 * the header check of every DNS flow stays small. */
static __attribute__((noinline)) enum extract_result mdns_records(const uint8_t *d, uint32_t len,
                                                                  uint32_t qd, uint32_t total,
                                                                  struct fp_sink *sink)
{
    uint32_t off = DNS_HEADER;
    char name[256];
    size_t name_len;
    for (uint32_t r = 0; r < total && r < MAX_RECORDS; r++) {
        if (!read_name(d, len, &off, name, &name_len))
            return r ? EXTRACT_PARTIAL : EXTRACT_MALFORMED;
        emit_service_type(sink, name, name_len);
        if (r < qd) {
            off += 4; /* type, class */
        } else {
            if (off + 10 > len)
                return EXTRACT_PARTIAL;
            uint16_t type = ext_get16(d + off), rdlen = ext_get16(d + off + 8);
            uint32_t rdata = off + 10;
            if (rdata + rdlen > len)
                return EXTRACT_PARTIAL;
            if (type == 12) { /* PTR: the target names the service too */
                uint32_t target = rdata;
                if (read_name(d, len, &target, name, &name_len))
                    emit_service_type(sink, name, name_len);
            }
            off = rdata + rdlen;
        }
        if (off > len)
            return EXTRACT_PARTIAL;
    }
    return EXTRACT_OK;
}

/* A unicast DNS response's A and AAAA answers name their addresses with the first
 * question's name (what the client asked for, before any CNAME): the server names of
 * the flows that follow (server_names.h). Out of line, like mdns_records. */
static __attribute__((noinline)) void dns_answers(const uint8_t *d, uint32_t len, uint32_t qd,
                                                  uint32_t an, struct fp_sink *sink)
{
    uint32_t off = DNS_HEADER;
    char question[256], name[256];
    size_t question_len = 0, name_len;
    for (uint32_t q = 0; q < qd; q++) {
        if (!read_name(d, len, &off, q ? name : question, q ? &name_len : &question_len))
            return;
        off += 4; /* type, class */
    }
    for (uint32_t r = 0; r < an && r < MAX_RECORDS; r++) {
        if (!read_name(d, len, &off, name, &name_len) || off + 10 > len)
            return;
        uint16_t type = ext_get16(d + off), rdlen = ext_get16(d + off + 8);
        uint32_t rdata = off + 10;
        if (rdata + rdlen > len)
            return;
        if (type == 1 && rdlen == 4)
            fp_name_server(sink, 4, d + rdata, (const uint8_t *)question, question_len);
        else if (type == 28 && rdlen == 16)
            fp_name_server(sink, 6, d + rdata, (const uint8_t *)question, question_len);
        off = rdata + rdlen;
    }
}

static enum extract_result dns_like(const uint8_t *d, uint32_t len, int mdns,
                                    struct fp_sink *sink)
{
    if (len < DNS_HEADER)
        return EXTRACT_MALFORMED;
    uint32_t qd = ext_get16(d + 4), an = ext_get16(d + 6), ns = ext_get16(d + 8),
             ar = ext_get16(d + 10);
    uint8_t opcode = (d[2] >> 3) & 0x0f;
    if (opcode > 6 || qd + an + ns + ar == 0 || qd > 64)
        return EXTRACT_MALFORMED;
    if (!mdns) {
        if ((d[2] & 0x80) && opcode == 0 && qd >= 1 && an && sink->names)
            dns_answers(d, len, qd, an, sink);
        return EXTRACT_OK;
    }
    return mdns_records(d, len, qd, qd + an + ns + ar, sink);
}

enum extract_result extract_dns(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    return dns_like(d, len, 0, x->sink);
}

enum extract_result extract_mdns(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    return dns_like(d, len, 1, x->sink);
}
