/*
 * extract_dhcp.c: DHCPv4 (RFC 2131/2132) and DHCPv6 (RFC 8415) fingerprints.
 *
 * DHCPv4: option 55 (parameter request list, order kept: it is the fingerprint), 60
 * vendor class, 12 hostname, 61 client id; from an ACK the assigned address (yiaddr).
 * Everything is attributed to chaddr, the client, whoever relayed the packet. Other
 * options (81 FQDN, 82 relay info ...) are stepped over unread.
 * DHCPv6: option 16, vendor class (enterprise number and its first data item).
 * Never read: sname, file, and every other option (81 FQDN, 82 relay agent information,
 * 43 vendor-specific ...); DHCPv6 options other than 16, relay messages' contents.
 */
#include <stdio.h>
#include <string.h>

#include "extract.h"

#define BOOTP_FIXED 236
#define DHCP_ACK 5

enum extract_result extract_dhcp(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    struct fp_sink *sink = x->sink;
    static const uint8_t cookie[4] = {0x63, 0x82, 0x53, 0x63};
    if (len < BOOTP_FIXED + 4)
        return len >= 4 && (d[0] == 1 || d[0] == 2) ? EXTRACT_PARTIAL : EXTRACT_MALFORMED;
    if ((d[0] != 1 && d[0] != 2) || d[1] != 1 || d[2] != 6 ||
        memcmp(d + BOOTP_FIXED, cookie, 4) != 0)
        return EXTRACT_MALFORMED;
    const uint8_t *chaddr = d + 28;
    int is_request = d[0] == 1, message_type = 0;
    /* One pass to find the message type and check every option lies in the packet. */
    uint32_t off = BOOTP_FIXED + 4;
    enum extract_result result = EXTRACT_PARTIAL; /* until the end option is found */
    while (off < len) {
        uint8_t code = d[off];
        if (code == 255) {
            result = EXTRACT_OK;
            break;
        }
        if (code == 0) {
            off++;
            continue;
        }
        if (off + 2 > len || off + 2 + d[off + 1] > len)
            break; /* cut short: keep what lay before */
        uint8_t olen = d[off + 1];
        const uint8_t *v = d + off + 2;
        if (code == 53 && olen == 1)
            message_type = v[0];
        if (is_request) {
            if (code == 55 && olen) {
                char text[255 * 4]; /* "255," at most per code */
                size_t n = 0;
                for (uint8_t i = 0; i < olen; i++) {
                    if (i)
                        text[n++] = ',';
                    if (v[i] >= 100)
                        text[n++] = (char)('0' + v[i] / 100);
                    if (v[i] >= 10)
                        text[n++] = (char)('0' + v[i] / 10 % 10);
                    text[n++] = (char)('0' + v[i] % 10);
                }
                fp_emit_for(sink, chaddr, FP_DHCP_PARAMS, (const uint8_t *)text, n);
            } else if (code == 60) {
                fp_emit_trimmed(sink, chaddr, FP_DHCP_VENDOR, v, olen);
            } else if (code == 12) {
                fp_emit_trimmed(sink, chaddr, FP_DHCP_HOSTNAME, v, olen);
            } else if (code == 61 && olen) {
                static const char digits[] = "0123456789abcdef";
                char hex[255 * 2];
                for (uint8_t i = 0; i < olen; i++) {
                    hex[2 * i] = digits[v[i] >> 4];
                    hex[2 * i + 1] = digits[v[i] & 15];
                }
                fp_emit_for(sink, chaddr, FP_DHCP_CLIENT_ID, (const uint8_t *)hex,
                            2 * (size_t)olen);
            }
        }
        off += 2u + olen;
    }
    if (!is_request && message_type == DHCP_ACK) {
        const uint8_t *yiaddr = d + 16;
        if (yiaddr[0] | yiaddr[1] | yiaddr[2] | yiaddr[3]) {
            char text[16];
            int n = snprintf(text, sizeof text, "%u.%u.%u.%u", yiaddr[0], yiaddr[1], yiaddr[2],
                             yiaddr[3]);
            fp_learn_address(sink, chaddr, 4, yiaddr);
            fp_emit_for(sink, chaddr, FP_DHCP_ASSIGNED, (const uint8_t *)text, (size_t)n);
        }
    }
    return result;
}

enum extract_result extract_dhcpv6(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    struct fp_sink *sink = x->sink;
    if (len < 4)
        return EXTRACT_MALFORMED;
    uint8_t type = d[0];
    if (type < 1 || type > 13)
        return EXTRACT_MALFORMED;
    uint32_t off = 4;
    if (type == 12 || type == 13) /* relay messages: hop count, two addresses */
        return len >= 34 ? EXTRACT_OK : EXTRACT_PARTIAL;
    while (off + 4 <= len) {
        uint16_t code = ext_get16(d + off), olen = ext_get16(d + off + 2);
        if (off + 4u + olen > len)
            return EXTRACT_PARTIAL;
        const uint8_t *v = d + off + 4;
        if (code == 16 && olen >= 6) { /* enterprise (4), then length-prefixed items */
            uint16_t item = ext_get16(v + 4);
            if (6u + item <= olen) {
                char text[FP_VALUE_MAX];
                int n = snprintf(text, sizeof text, "%u:", (unsigned)ext_get32(v));
                size_t take = item < sizeof text - (size_t)n ? item : sizeof text - (size_t)n;
                memcpy(text + n, v + 6, take);
                fp_emit_trimmed(sink, sink->mac, FP_DHCPV6_VENDOR, (const uint8_t *)text,
                                (size_t)n + take);
            }
        }
        off += 4u + olen;
    }
    return off == len ? EXTRACT_OK : EXTRACT_PARTIAL;
}
