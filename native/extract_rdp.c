/*
 * extract_rdp.c: the start of an RDP connection (MS-RDPBCGR 2.2.1.1, 2.2.1.2): TPKT
 * (version 3), then an X.224 Connection Request from the client or Connection Confirm
 * from the server. TPKT also carries ISO-TSAP (S7comm, port 102) and H.323, whose X.224
 * parameters (0xC0-0xC2) are not RDP's: those are not claimed.
 *
 * Recognised: a request whose variable part starts with a cookie or routing token
 * ("Cookie: ") or is an RDP_NEG_REQ; a confirm carrying RDP_NEG_RSP or RDP_NEG_FAILURE;
 * either with no variable part on port 3389 (clients and servers before RDP 5.2).
 * Read: the server's selectedProtocol -> `rdp_security` on the server: "rdp" (standard
 * RDP security: RC4 and no server authentication; also a confirm without negotiation),
 * "tls", "credssp" (NLA), "rdstls", "credssp-early", "aad", or the number in hex.
 * Never read: the cookie / routing token past its first 8 bytes ("Cookie: mstshash="
 * carries the user's login name), the client's requested protocols, anything after the
 * request / confirm (client name, user name, domain in the MCS and security exchange).
 */
#include <stdio.h>
#include <string.h>

#include "extract.h"

#define X224_CR 0xe0
#define X224_CC 0xd0
#define RDP_NEG_REQ 1
#define RDP_NEG_RSP 2
#define RDP_NEG_FAILURE 3

static uint32_t get32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static const char *protocol_name(uint32_t selected)
{
    switch (selected) {
    case 0x00: return "rdp";
    case 0x01: return "tls";
    case 0x02: return "credssp";
    case 0x04: return "rdstls";
    case 0x08: return "credssp-early";
    case 0x10: return "aad";
    default: return NULL;
    }
}

enum extract_result extract_rdp(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    if (len < 11 || d[0] != 3 || d[1] != 0)
        return EXTRACT_NOT_MINE;
    uint32_t tpkt_len = ext_get16(d + 2), li = d[4];
    uint8_t code = d[5] & 0xf0;
    if ((code != X224_CR && code != X224_CC) || li < 6 || 5 + li > tpkt_len)
        return EXTRACT_NOT_MINE;
    uint32_t var = 11, end = 5 + li; /* the X.224 variable part: [var, end) */
    if (end > len)
        end = len; /* cut: test what was captured */
    int port_3389 = x->server_port == 3389;
    if (code == X224_CR) {
        if (x->responder)
            return EXTRACT_NOT_MINE;
        if (var == 5 + li)
            return port_3389 ? EXTRACT_OK : EXTRACT_NOT_MINE;
        if (end - var >= 8 && (!memcmp(d + var, "Cookie: ", 8) ||
                               (d[var] == RDP_NEG_REQ && d[var + 2] == 8 && d[var + 3] == 0)))
            return EXTRACT_OK;
        return EXTRACT_NOT_MINE;
    }
    if (!x->responder)
        return EXTRACT_NOT_MINE;
    const char *name = NULL;
    char hex[16];
    if (var == 5 + li) {
        if (!port_3389)
            return EXTRACT_NOT_MINE;
        name = "rdp"; /* no negotiation: standard RDP security */
    } else if (end - var >= 8 && d[var + 2] == 8 && d[var + 3] == 0 &&
               (d[var] == RDP_NEG_RSP || d[var] == RDP_NEG_FAILURE)) {
        if (d[var] == RDP_NEG_FAILURE)
            return EXTRACT_OK;
        uint32_t selected = get32le(d + var + 4);
        name = protocol_name(selected);
        if (!name) {
            snprintf(hex, sizeof hex, "0x%x", (unsigned)selected);
            name = hex;
        }
    } else if (var < 5 + li && end - var < 8 && port_3389) {
        return EXTRACT_PARTIAL;
    } else {
        return EXTRACT_NOT_MINE;
    }
    fp_emit(x->sink, FP_RDP_SECURITY, (const uint8_t *)name, strlen(name));
    return EXTRACT_OK;
}
