/*
 * extract_lldp_cdp.c: link-layer discovery (IEEE 802.1AB LLDP, Cisco CDP).
 *
 * LLDP: TLVs of a 7-bit type and a 9-bit length; 5 system name, 6 system description.
 * CDP (after the SNAP header parse.c strips): version, TTL, checksum, then TLVs of a
 * 16-bit type and a 16-bit length that includes the 4 header bytes; 0x0001 device id,
 * 0x0005 software version, 0x0006 platform. Chassis and port ids, addresses and
 * management fields are stepped over.
 * Never read: chassis and port ids, management addresses, CDP addresses, VTP domain,
 * native VLAN and every other TLV's value.
 */
#include "extract.h"

enum extract_result extract_lldp(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    struct fp_sink *sink = x->sink;
    uint32_t off = 0;
    while (off + 2 <= len) {
        uint16_t head = ext_get16(d + off);
        uint8_t type = (uint8_t)(head >> 9);
        uint32_t tlen = head & 0x1ff;
        if (type == 0)
            return EXTRACT_OK; /* end of LLDPDU */
        if (off + 2 + tlen > len)
            return EXTRACT_PARTIAL;
        if (type == 5)
            fp_emit_trimmed(sink, sink->mac, FP_LLDP_NAME, d + off + 2, tlen);
        else if (type == 6)
            fp_emit_trimmed(sink, sink->mac, FP_LLDP_DESCRIPTION, d + off + 2, tlen);
        off += 2 + tlen;
    }
    return off == len ? EXTRACT_OK : EXTRACT_PARTIAL;
}

enum extract_result extract_cdp(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    struct fp_sink *sink = x->sink;
    if (len < 4 || d[0] < 1 || d[0] > 2)
        return EXTRACT_MALFORMED;
    uint32_t off = 4;
    while (off + 4 <= len) {
        uint16_t type = ext_get16(d + off), tlen = ext_get16(d + off + 2);
        if (tlen < 4)
            return EXTRACT_MALFORMED;
        if (off + tlen > len)
            return EXTRACT_PARTIAL;
        const uint8_t *v = d + off + 4;
        uint32_t vlen = tlen - 4u;
        if (type == 0x0001)
            fp_emit_trimmed(sink, sink->mac, FP_CDP_NAME, v, vlen);
        else if (type == 0x0005)
            fp_emit_trimmed(sink, sink->mac, FP_CDP_DESCRIPTION, v, vlen);
        else if (type == 0x0006)
            fp_emit_trimmed(sink, sink->mac, FP_CDP_PLATFORM, v, vlen);
        off += tlen;
    }
    return EXTRACT_OK;
}
