/*
 * parse.c: one captured frame -> struct packet (link layer .. L4 ports), per
 * docs/flow-semantics.md.
 *
 * Safety: every byte is read through a `span` (a base pointer and the number of bytes
 * captured from it) after a length check; sub-spans are cut with clamped lengths, so
 * no pointer is ever formed past the captured bytes. Lengths from headers are only
 * used for counting and for checks against each other, never for reading.
 *
 * Choices where the spec leaves room (tests/reference.py makes the same ones):
 * - IPv4: version and IHL (first byte), then the IHL*4 header captured, then total
 *   length. IPv6: version (first byte), then 40 bytes captured, then payload length.
 * - The wire frame bound ("total length larger than the wire frame allows") applies to
 *   IPv4 total length and to 40 + IPv6 payload length alike (wire_len - link header).
 * - Raw IP (12, 101): the version nibble picks v4 / v6; any other version is malformed.
 *   NULL/loopback: the AF value is read in either byte order (files from big-endian
 *   hosts); 2 is IPv4, 10/24/28/30 IPv6, anything else non-IP.
 * - SLL / SLL2 protocol fields go through the same VLAN tag walk as an EtherType.
 * - L4: an IP payload too short for the fixed L4 header (TCP 20, UDP 8, SCTP 12,
 *   ICMP 2) is malformed; enough payload but too few captured bytes is truncated.
 * - ICMP counterparts follow the protocol number (1: v4 table, 58: v6 table).
 * - IPv6: after 8 extension headers the walk stops and the next-header value is the
 *   protocol. A later fragment's protocol is its fragment header's next header.
 */
#include <string.h>

#include "engine.h"

/* ---- bounded reading ---- */

struct span {
    const uint8_t *base;
    uint32_t len; /* bytes captured from base on */
};

static inline int span_has(struct span s, uint32_t off, uint32_t n)
{
    return (uint64_t)off + n <= s.len;
}

/* The getters below are only called after span_has() covered the bytes they read. */
static inline uint8_t get8(struct span s, uint32_t off) { return s.base[off]; }

static inline uint16_t get16(struct span s, uint32_t off)
{
    return (uint16_t)(((unsigned)s.base[off] << 8) | s.base[off + 1]);
}

static inline uint32_t get32(struct span s, uint32_t off)
{
    return ((uint32_t)s.base[off] << 24) | ((uint32_t)s.base[off + 1] << 16) |
           ((uint32_t)s.base[off + 2] << 8) | s.base[off + 3];
}

/* Bytes from off on, at most max_len of them; empty (never past the end) when off is
 * at or beyond the captured bytes. */
static inline struct span span_sub(struct span s, uint32_t off, uint32_t max_len)
{
    struct span sub = {s.base, 0};
    if (off < s.len) {
        sub.base = s.base + off;
        sub.len = s.len - off < max_len ? s.len - off : max_len;
    }
    return sub;
}

/* ---- L4 ---- */

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58
#define PROTO_SCTP 132

/* The ICMP type that answers `type` (Zeek / Community ID), or -1 when it has none. */
static int icmp_counterpart(uint8_t proto, uint8_t type)
{
    if (proto == PROTO_ICMP) {
        switch (type) {
        case 8: return 0;
        case 0: return 8;
        case 13: return 14;
        case 14: return 13;
        case 15: return 16;
        case 16: return 15;
        case 10: return 9;
        case 9: return 10;
        case 17: return 18;
        case 18: return 17;
        default: return -1;
        }
    }
    switch (type) {
    case 128: return 129;
    case 129: return 128;
    case 133: return 134;
    case 134: return 133;
    case 135: return 136;
    case 136: return 135;
    case 130: return 131;
    case 131: return 130;
    case 139: return 140;
    case 140: return 139;
    case 144: return 145;
    case 145: return 144;
    default: return -1;
    }
}

/* Payload of l4_len - hdr_len bytes from header lengths; the captured part for
 * extractors (NULL and 0 when none of it was captured). */
static inline void set_payload(struct packet *pkt, struct span l4, uint32_t hdr_len,
                               uint32_t l4_len)
{
    pkt->payload_len = l4_len > hdr_len ? l4_len - hdr_len : 0;
    if (hdr_len < l4.len) {
        pkt->payload = l4.base + hdr_len;
        pkt->payload_caplen = l4.len - hdr_len;
    }
}

/* l4: the captured L4 bytes (already clamped to the IP payload); l4_len: the IP
 * payload length from the IP header(s). pkt->proto is set. */
static enum parse_result parse_l4(struct span l4, uint32_t l4_len, struct packet *pkt)
{
    switch (pkt->proto) {
    case PROTO_TCP: {
        if (l4_len < 20)
            return PARSE_MALFORMED;
        if (!span_has(l4, 0, 14))
            return PARSE_TRUNCATED;
        uint32_t hdr_len = (uint32_t)(get8(l4, 12) >> 4) * 4;
        if (hdr_len < 20 || hdr_len > l4_len)
            return PARSE_MALFORMED;
        pkt->sport = get16(l4, 0);
        pkt->dport = get16(l4, 2);
        pkt->tcp_flags = get8(l4, 13);
        set_payload(pkt, l4, hdr_len, l4_len);
        return PARSE_OK;
    }
    case PROTO_UDP:
    case PROTO_SCTP: {
        uint32_t hdr_len = pkt->proto == PROTO_UDP ? 8 : 12;
        if (l4_len < hdr_len)
            return PARSE_MALFORMED;
        if (!span_has(l4, 0, 4))
            return PARSE_TRUNCATED;
        pkt->sport = get16(l4, 0);
        pkt->dport = get16(l4, 2);
        set_payload(pkt, l4, hdr_len, l4_len);
        return PARSE_OK;
    }
    case PROTO_ICMP:
    case PROTO_ICMPV6: {
        if (l4_len < 2)
            return PARSE_MALFORMED;
        if (!span_has(l4, 0, 2))
            return PARSE_TRUNCATED;
        uint8_t type = get8(l4, 0), code = get8(l4, 1);
        int counterpart = icmp_counterpart(pkt->proto, type);
        pkt->icmp_type = type;
        pkt->icmp_code = code;
        pkt->sport = type;
        pkt->dport = counterpart >= 0 ? (uint16_t)counterpart : code;
        set_payload(pkt, l4, 8, l4_len);
        return PARSE_OK;
    }
    default:
        set_payload(pkt, l4, 0, l4_len);
        return PARSE_OK;
    }
}

/* ---- IP ---- */

/* A v4 address into the 16 bytes `to` (the rest stays zero), as two 8-byte stores: the
 * flow table reads the address back as 8-byte words, and a read that spans a 4-byte
 * store and an older one cannot be forwarded from the store buffer (a stall per frame). */
static inline void set_v4_address(uint8_t to[16], const uint8_t *from)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t a;
    memcpy(&a, from, 4);
    uint64_t low = a, high = 0;
    memcpy(to, &low, 8);
    memcpy(to + 8, &high, 8);
#else
    memcpy(to, from, 4);
#endif
}

/* ip: captured bytes from the IP header on; wire_room: bytes the wire frame has there. */
static enum parse_result parse_ipv4(struct span ip, uint32_t wire_room, struct packet *pkt)
{
    if (!span_has(ip, 0, 1))
        return PARSE_TRUNCATED;
    uint8_t ver_ihl = get8(ip, 0);
    uint32_t hdr_len = (uint32_t)(ver_ihl & 0x0f) * 4;
    if ((ver_ihl >> 4) != 4 || hdr_len < 20)
        return PARSE_MALFORMED;
    if (!span_has(ip, 0, hdr_len))
        return PARSE_TRUNCATED;
    uint32_t total_len = get16(ip, 2);
    if (total_len < hdr_len || total_len > wire_room)
        return PARSE_MALFORMED;

    pkt->family = 4;
    pkt->proto = get8(ip, 9);
    set_v4_address(pkt->src, ip.base + 12);
    set_v4_address(pkt->dst, ip.base + 16);
    pkt->ip_len = total_len;

    uint16_t flags_offset = get16(ip, 6);
    uint32_t l4_len = total_len - hdr_len;
    if (flags_offset & 0x1fff) { /* later fragment: no L4 header here */
        pkt->is_fragment = 1;
        pkt->frag_id = get16(ip, 4);
        pkt->payload_len = l4_len;
        return PARSE_FRAGMENT_LATER;
    }
    if (flags_offset & 0x2000) { /* first fragment */
        pkt->is_fragment = 1;
        pkt->frag_id = get16(ip, 4);
    }
    return parse_l4(span_sub(ip, hdr_len, l4_len), l4_len, pkt);
}

#define V6_HOP_BY_HOP 0
#define V6_ROUTING 43
#define V6_FRAGMENT 44
#define V6_AH 51
#define V6_DEST_OPTS 60
#define V6_MAX_EXT_HEADERS 8

static enum parse_result parse_ipv6(struct span ip, uint32_t wire_room, struct packet *pkt)
{
    if (!span_has(ip, 0, 1))
        return PARSE_TRUNCATED;
    if ((get8(ip, 0) >> 4) != 6)
        return PARSE_MALFORMED;
    if (!span_has(ip, 0, 40))
        return PARSE_TRUNCATED;
    uint32_t ip_len = 40 + (uint32_t)get16(ip, 4);
    if (ip_len > wire_room)
        return PARSE_MALFORMED;

    pkt->family = 6;
    memcpy(pkt->src, ip.base + 8, 16);
    memcpy(pkt->dst, ip.base + 24, 16);
    pkt->ip_len = ip_len;

    /* Headers must lie within the IP length: padding after it is not a header. */
    struct span hdrs = span_sub(ip, 0, ip_len);
    uint8_t next = get8(ip, 6);
    uint32_t off = 40; /* always <= ip_len */
    for (int walked = 0; walked < V6_MAX_EXT_HEADERS; walked++) {
        uint32_t ext_len;
        if (next == V6_HOP_BY_HOP || next == V6_ROUTING || next == V6_DEST_OPTS ||
            next == V6_AH) {
            if (!span_has(hdrs, off, 2))
                return ip_len - off < 2 ? PARSE_MALFORMED : PARSE_TRUNCATED;
            uint32_t units = get8(hdrs, off + 1);
            ext_len = next == V6_AH ? (units + 2) * 4 : (units + 1) * 8;
            next = get8(hdrs, off);
        } else if (next == V6_FRAGMENT) {
            if (!span_has(hdrs, off, 8))
                return ip_len - off < 8 ? PARSE_MALFORMED : PARSE_TRUNCATED;
            uint16_t offset_flags = get16(hdrs, off + 2);
            ext_len = 8;
            next = get8(hdrs, off);
            if (offset_flags & 0xfff8) { /* later fragment */
                pkt->proto = next;
                pkt->is_fragment = 1;
                pkt->frag_id = get32(hdrs, off + 4);
                pkt->payload_len = ip_len - off - 8;
                return PARSE_FRAGMENT_LATER;
            }
            if (offset_flags & 1) { /* first fragment (an atomic one is no fragment) */
                pkt->is_fragment = 1;
                pkt->frag_id = get32(hdrs, off + 4);
            }
        } else {
            break;
        }
        if (ext_len > ip_len - off)
            return PARSE_MALFORMED;
        off += ext_len;
    }
    pkt->proto = next;
    return parse_l4(span_sub(hdrs, off, ip_len - off), ip_len - off, pkt);
}

/* ---- link layer ---- */

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd

/* Skip 802.1Q / 802.1ad / 0x9100 tags at *off, keeping the first two VIDs. */
static inline enum parse_result skip_vlan_tags(struct span frame, uint32_t *off, uint16_t *ethertype,
                                        struct packet *pkt)
{
    while (*ethertype == 0x8100 || *ethertype == 0x88a8 || *ethertype == 0x9100) {
        if (!span_has(frame, *off, 4))
            return PARSE_TRUNCATED;
        if (pkt->vlan_count < 2)
            pkt->vlan[pkt->vlan_count++] = get16(frame, *off) & 0x0fff;
        *ethertype = get16(frame, *off + 2);
        *off += 4;
    }
    return PARSE_OK;
}

/* Find the IP header: its offset and an EtherType saying which IP it is. */
static enum parse_result link_layer(int linktype, struct span frame, struct packet *pkt,
                                    uint32_t *ip_off, uint16_t *ethertype)
{
    switch (linktype) {
    case IOMT_DLT_EN10MB: {
        if (!span_has(frame, 0, 14))
            return PARSE_TRUNCATED;
        memcpy(pkt->mac_dst, frame.base, 6);
        memcpy(pkt->mac_src, frame.base + 6, 6);
        /* 8-byte loads inside the 14 captured bytes, masked to 6: the device table's
         * keys, without a reload of the bytes just stored. */
        uint64_t dst_key, src_key;
        memcpy(&dst_key, frame.base, 8);
        memcpy(&src_key, frame.base + 6, 8);
        pkt->mac_dst_key = dst_key & MAC_KEY_MASK;
        pkt->mac_src_key = src_key & MAC_KEY_MASK;
        pkt->has_macs = 1;
        *ip_off = 14;
        *ethertype = get16(frame, 12);
        enum parse_result r = skip_vlan_tags(frame, ip_off, ethertype, pkt);
        /* 802.3 length field + LLC/SNAP (AA AA 03, OUI 00000c, PID 2000): CDP. */
        static const uint8_t snap_cdp[8] = {0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00};
        if (r == PARSE_OK && *ethertype <= 1500 && span_has(frame, *ip_off, 8) &&
            !memcmp(frame.base + *ip_off, snap_cdp, 8)) {
            *ethertype = L2_TYPE_CDP;
            *ip_off += 8;
        }
        return r;
    }
    case IOMT_DLT_LINUX_SLL:
        if (!span_has(frame, 0, 16))
            return PARSE_TRUNCATED;
        *ip_off = 16;
        *ethertype = get16(frame, 14);
        return skip_vlan_tags(frame, ip_off, ethertype, pkt);
    case IOMT_DLT_LINUX_SLL2:
        if (!span_has(frame, 0, 20))
            return PARSE_TRUNCATED;
        *ip_off = 20;
        *ethertype = get16(frame, 0);
        return skip_vlan_tags(frame, ip_off, ethertype, pkt);
    case IOMT_DLT_RAW:
    case IOMT_LINKTYPE_RAW:
        if (!span_has(frame, 0, 1))
            return PARSE_TRUNCATED;
        *ip_off = 0;
        switch (get8(frame, 0) >> 4) {
        case 4: *ethertype = ETHERTYPE_IPV4; return PARSE_OK;
        case 6: *ethertype = ETHERTYPE_IPV6; return PARSE_OK;
        default: return PARSE_MALFORMED;
        }
    case IOMT_DLT_IPV4:
        *ip_off = 0;
        *ethertype = ETHERTYPE_IPV4;
        return PARSE_OK;
    case IOMT_DLT_IPV6:
        *ip_off = 0;
        *ethertype = ETHERTYPE_IPV6;
        return PARSE_OK;
    case IOMT_DLT_NULL: {
        if (!span_has(frame, 0, 4))
            return PARSE_TRUNCATED;
        /* The AF value is in the capturing host's byte order; accept both. */
        uint32_t af = (uint32_t)frame.base[0] | ((uint32_t)frame.base[1] << 8) |
                      ((uint32_t)frame.base[2] << 16) | ((uint32_t)frame.base[3] << 24);
        if (af & 0xffff0000u)
            af = get32(frame, 0);
        *ip_off = 4;
        if (af == 2)
            *ethertype = ETHERTYPE_IPV4;
        else if (af == 10 || af == 24 || af == 28 || af == 30)
            *ethertype = ETHERTYPE_IPV6;
        else
            *ethertype = 0;
        return PARSE_OK;
    }
    default:
        return PARSE_NON_IP; /* refused at open; nothing here is known to be IP */
    }
}

/* Everything but the caller's timestamp starts at zero. Field by field, not memset: a
 * memset of the whole struct compiles to `rep stos` on x86, whose start-up cost was a third
 * of the parser's time. A new field of struct packet must be added here (engine.h says so
 * at the struct). */
static inline void packet_clear(struct packet *pkt, uint32_t wire_len)
{
    pkt->wire_len = wire_len;
    pkt->ip_len = 0;
    pkt->payload_len = 0;
    pkt->vlan[0] = pkt->vlan[1] = 0;
    pkt->vlan_count = pkt->family = pkt->proto = pkt->tcp_flags = 0;
    memset(pkt->src, 0, sizeof pkt->src);
    memset(pkt->dst, 0, sizeof pkt->dst);
    pkt->sport = pkt->dport = 0;
    pkt->icmp_type = pkt->icmp_code = pkt->is_fragment = pkt->_pad = 0;
    pkt->frag_id = 0;
    pkt->payload = NULL;
    pkt->payload_caplen = 0;
    memset(pkt->mac_src, 0, sizeof pkt->mac_src);
    memset(pkt->mac_dst, 0, sizeof pkt->mac_dst);
    pkt->mac_src_key = pkt->mac_dst_key = 0;
    pkt->has_macs = 0;
    pkt->l2_type = 0;
    pkt->l2_payload = NULL;
    pkt->l2_caplen = 0;
}

enum parse_result parse_frame(int linktype, const uint8_t *frame, uint32_t caplen,
                              uint32_t wire_len, struct packet *pkt)
{
    packet_clear(pkt, wire_len);

    struct span whole = {frame, frame ? caplen : 0};
    uint32_t ip_off = 0;
    uint16_t ethertype = 0;
    enum parse_result result = link_layer(linktype, whole, pkt, &ip_off, &ethertype);
    if (result != PARSE_OK)
        return result;

    /* A record whose wire length lies below the link header leaves no room at all. */
    uint32_t wire_room = wire_len > ip_off ? wire_len - ip_off : 0;
    struct span ip = span_sub(whole, ip_off, UINT32_MAX);
    if (ethertype == ETHERTYPE_IPV4)
        return parse_ipv4(ip, wire_room, pkt);
    if (ethertype == ETHERTYPE_IPV6)
        return parse_ipv6(ip, wire_room, pkt);
    /* Not IP: the device table still reads ARP, LLDP and CDP (extract_lldp_cdp.c). */
    pkt->l2_type = ethertype;
    pkt->l2_payload = ip.len ? ip.base : NULL;
    pkt->l2_caplen = ip.len;
    return PARSE_NON_IP;
}
