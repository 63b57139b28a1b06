/*
 * json_lines.c: flow records as `flows --json` lines (json_lines.h), the same bytes as
 * agent/flowrecord.py's FlowRecord.to_json through json.JSONEncoder(separators=(",", ":")).
 * tests/test_json_lines.py compares both on every record of real captures.
 *
 * Times: ts and duration are integer microseconds that Python divides by 1e6 and prints
 * with repr (the shortest text that reads back as the same double). For us < 2^33 * 10^6
 * that text is exactly the decimal us * 10^-6 with its trailing zeros dropped: there a
 * double's spacing is below 2^-20 s < 1 us, so no other multiple of 1 us (and no shorter
 * decimal, which is one) reads back as the same double. Those are written from the
 * integer; later times (after the year 2242, or a clock set wrong) go through float_repr.
 */
#include "json_lines.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sha1.h"

#define EXACT_US_LIMIT 8589934592000000ULL /* 2^33 s in microseconds */

static const char *const END_REASON_NAMES[END_REASON_COUNT] = {
    [END_IDLE] = "idle",     [END_ACTIVE] = "active",       [END_END] = "end",
    [END_FORCED] = "forced", [END_RESOURCES] = "resources",
};

static const char HEX[] = "0123456789abcdef";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---------------------------------------------------------------- small writers */

static inline char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LITERAL(p, s) put((p), (s), sizeof(s) - 1)

static const char DIGIT_PAIRS[] = "00010203040506070809101112131415161718192021222324"
                                  "25262728293031323334353637383940414243444546474849"
                                  "50515253545556575859606162636465666768697071727374"
                                  "75767778798081828384858687888990919293949596979899";

/* Decimal, two digits a step from the right. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    char *q = tmp + sizeof tmp;
    while (v >= 100) {
        unsigned pair = (unsigned)(v % 100);
        v /= 100;
        q -= 2;
        memcpy(q, DIGIT_PAIRS + 2 * pair, 2);
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, DIGIT_PAIRS + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    size_t n = (size_t)(tmp + sizeof tmp - q);
    memcpy(p, q, n);
    return p + n;
}

static char *put_u8(char *p, unsigned v)
{
    if (v >= 100) {
        *p++ = (char)('0' + v / 100);
        v %= 100;
        memcpy(p, DIGIT_PAIRS + 2 * v, 2);
        return p + 2;
    }
    if (v >= 10) {
        memcpy(p, DIGIT_PAIRS + 2 * v, 2);
        return p + 2;
    }
    *p++ = (char)('0' + v);
    return p;
}

/* A string as json.dumps writes it with ensure_ascii=True: '"' and '\\' escaped, the
 * five short escapes, other control characters and DEL as \u00XX, and what is not ASCII
 * decoded as UTF-8 (as the binding's PyUnicode_FromString does) and written as \uXXXX
 * (surrogate pairs above U+FFFF). The engine keeps names to '!'..'~', so the rest is for
 * bytes it never hands over; a byte that is not valid UTF-8 (where Python would fail to
 * make the str at all) is written as \ufffd. */
static char *put_u4(char *p, unsigned cp)
{
    *p++ = '\\';
    *p++ = 'u';
    *p++ = HEX[(cp >> 12) & 15];
    *p++ = HEX[(cp >> 8) & 15];
    *p++ = HEX[(cp >> 4) & 15];
    *p++ = HEX[cp & 15];
    return p;
}

/* Length of the valid UTF-8 sequence at s (1..4 bytes, its code point in *cp), 0 when
 * the bytes there are not one (CPython's strict decoder's rules: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
static size_t utf8_sequence(const uint8_t *s, size_t left, unsigned *cp)
{
    uint8_t c = s[0];
    size_t n;
    unsigned v, min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

static char *put_string(char *p, const char *text, size_t len)
{
    const uint8_t *s = (const uint8_t *)text;
    *p++ = '"';
    for (size_t i = 0; i < len;) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *p++ = (char)c;
            i++;
            continue;
        }
        if (c < 0x80) {
            i++;
            switch (c) {
            case '"': p = PUT_LITERAL(p, "\\\""); break;
            case '\\': p = PUT_LITERAL(p, "\\\\"); break;
            case '\n': p = PUT_LITERAL(p, "\\n"); break;
            case '\r': p = PUT_LITERAL(p, "\\r"); break;
            case '\t': p = PUT_LITERAL(p, "\\t"); break;
            case '\b': p = PUT_LITERAL(p, "\\b"); break;
            case '\f': p = PUT_LITERAL(p, "\\f"); break;
            default: p = put_u4(p, c); break;
            }
            continue;
        }
        unsigned cp;
        size_t n = utf8_sequence(s + i, len - i, &cp);
        if (!n) {
            p = put_u4(p, 0xfffd);
            i++;
        } else if (cp < 0x10000) {
            p = put_u4(p, cp);
            i += n;
        } else {
            cp -= 0x10000;
            p = put_u4(p, 0xd800 | (cp >> 10));
            p = put_u4(p, 0xdc00 | (cp & 0x3ff));
            i += n;
        }
    }
    *p++ = '"';
    return p;
}

static char *put_cstring(char *p, const char *text, size_t cap)
{
    return put_string(p, text, strnlen(text, cap));
}

/* base64 (RFC 4648, with padding) of n bytes. */
static char *put_base64(char *p, const uint8_t *b, size_t n)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
        *p++ = B64[v >> 18];
        *p++ = B64[(v >> 12) & 63];
        *p++ = B64[(v >> 6) & 63];
        *p++ = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)b[i] << 16;
        *p++ = B64[v >> 18];
        *p++ = B64[(v >> 12) & 63];
        *p++ = '=';
        *p++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8;
        *p++ = B64[v >> 18];
        *p++ = B64[(v >> 12) & 63];
        *p++ = B64[(v >> 6) & 63];
        *p++ = '=';
    }
    return p;
}

/* ---------------------------------------------------------------- floats */

/* Python's repr layout for the shortest digits `digits` (no trailing zeros) whose first
 * digit stands for 10^(decpt - 1): fixed notation for -4 < decpt <= 16, else d.ddde+XX. */
static size_t repr_layout(const char *digits, size_t n, int decpt, int negative, char *out)
{
    char *p = out;
    if (negative)
        *p++ = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            p = PUT_LITERAL(p, "0.");
            for (int i = 0; i < -decpt; i++)
                *p++ = '0';
            p = put(p, digits, n);
        } else if ((size_t)decpt >= n) {
            p = put(p, digits, n);
            for (size_t i = n; i < (size_t)decpt; i++)
                *p++ = '0';
            p = PUT_LITERAL(p, ".0");
        } else {
            p = put(p, digits, (size_t)decpt);
            *p++ = '.';
            p = put(p, digits + decpt, n - (size_t)decpt);
        }
    } else {
        *p++ = digits[0];
        if (n > 1) {
            *p++ = '.';
            p = put(p, digits + 1, n - 1);
        }
        int e = decpt - 1;
        *p++ = 'e';
        *p++ = e < 0 ? '-' : '+';
        if (e < 0)
            e = -e;
        if (e < 10)
            *p++ = '0';
        p = put_u64(p, (uint64_t)e);
    }
    *p = 0;
    return (size_t)(p - out);
}

size_t json_float_shortest(double x, char *out, size_t cap)
{
    if (cap < JSON_FLOAT_MAX)
        return 0;
    if (x == 0) {
        memcpy(out, x < 0 || 1 / x < 0 ? "-0.0" : "0.0", 5);
        return strlen(out);
    }
    char buf[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, sizeof buf, "%.*e", precision - 1, x);
        if (strtod(buf, NULL) == x || precision == 17)
            break;
    }
    /* buf: [-]d[.ddd]e[+-]XX */
    const char *p = buf;
    int negative = *p == '-';
    if (negative)
        p++;
    char digits[20];
    size_t n = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[n++] = *p;
    int exponent = atoi(p + 1);
    while (n > 1 && digits[n - 1] == '0')
        n--;
    return repr_layout(digits, n, exponent + 1, negative, out);
}

size_t json_seconds(const struct json_lines *j, uint64_t us, char *out)
{
    if (us >= EXACT_US_LIMIT) {
        json_float_repr repr = j->float_repr ? j->float_repr : json_float_shortest;
        return repr((double)us / 1e6, out, JSON_FLOAT_MAX);
    }
    if (us == 0) {
        memcpy(out, "0.0", 4);
        return 3;
    }
    /* The decimal digits of us, trailing zeros dropped; us * 10^-6 = 0.DIGITS * 10^decpt */
    char digits[20];
    int len = (int)(put_u64(digits, us) - digits);
    size_t n = (size_t)len;
    while (digits[n - 1] == '0')
        n--;
    return repr_layout(digits, n, len - 6, 0, out);
}

/* ---------------------------------------------------------------- uid, Community ID */

void json_lines_init(struct json_lines *j, const uint8_t *boot_id, size_t boot_id_len,
                     json_float_repr float_repr)
{
    size_t key_len = boot_id_len < BLAKE2B_MAX_KEY ? boot_id_len : BLAKE2B_MAX_KEY;
    blake2b_init(&j->uid_key, 13, boot_id, key_len);
    blake2b_absorb_key(&j->uid_key); /* a uid's message is never empty: 8 bytes */
    j->float_repr = float_repr;
}

void json_flow_uid(const struct json_lines *j, uint64_t serial, char out[19])
{
    uint8_t be[8], digest[13];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(serial >> (56 - 8 * i));
    struct blake2b_state s = j->uid_key;
    blake2b_update(&s, be, sizeof be);
    blake2b_final(&s, digest);
    char b64[20];
    put_base64(b64, digest, sizeof digest);
    out[0] = 'C';
    for (int i = 0; i < 17; i++) /* '+' and '/' become 'Z' and 'z': uids stay alphanumeric */
        out[1 + i] = b64[i] == '+' ? 'Z' : b64[i] == '/' ? 'z' : b64[i];
    out[18] = 0;
}

/* Community ID v1: ICMP types that have a counterpart (flowrecord.py's sets). */
static int icmp_two_way(int proto, unsigned type)
{
    if (proto == 1)
        return type == 8 || type == 0 || type == 13 || type == 14 || type == 15 ||
               type == 16 || type == 10 || type == 9 || type == 17 || type == 18;
    return type == 128 || type == 129 || type == 133 || type == 134 || type == 135 ||
           type == 136 || type == 130 || type == 131 || type == 139 || type == 140 ||
           type == 144 || type == 145;
}

void json_community_id(const struct flow_record *r, char out[31])
{
    size_t alen = r->family == 6 ? 16 : 4;
    const uint8_t *src = r->addr[0], *dst = r->addr[1];
    unsigned sport = r->port[0], dport = r->port[1];
    int proto = r->proto;
    int one_way = (proto == 1 || proto == 58) && !icmp_two_way(proto, sport);
    if (!one_way) {
        int order = memcmp(src, dst, alen);
        if (order > 0 || (order == 0 && sport > dport)) {
            const uint8_t *a = src;
            src = dst, dst = a;
            unsigned port = sport;
            sport = dport, dport = port;
        }
    }
    uint8_t data[2 + 16 + 16 + 2 + 4], *p = data;
    *p++ = 0, *p++ = 0; /* seed 0 */
    memcpy(p, src, alen), p += alen;
    memcpy(p, dst, alen), p += alen;
    *p++ = (uint8_t)proto, *p++ = 0;
    if (proto == 1 || proto == 6 || proto == 17 || proto == 58 || proto == 132) {
        *p++ = (uint8_t)(sport >> 8), *p++ = (uint8_t)sport;
        *p++ = (uint8_t)(dport >> 8), *p++ = (uint8_t)dport;
    }
    uint8_t digest[SHA1_DIGEST_BYTES];
    sha1(data, (size_t)(p - data), digest);
    char *q = PUT_LITERAL(out, "1:");
    q = put_base64(q, digest, sizeof digest);
    *q = 0;
}

/* ---------------------------------------------------------------- the line */

static char *put_address(char *p, int family, const uint8_t *addr)
{
    *p++ = '"';
    if (family != 6) {
        for (int i = 0; i < 4; i++) {
            if (i)
                *p++ = '.';
            p = put_u8(p, addr[i]);
        }
    } else {
        char text[INET6_ADDRSTRLEN];
        /* The C library's form, as Python's socket.inet_ntop (which calls it) prints. */
        inet_ntop(AF_INET6, addr, text, sizeof text);
        p = put(p, text, strlen(text));
    }
    *p++ = '"';
    return p;
}

static char *put_mac(char *p, const uint8_t mac[6])
{
    *p++ = '"';
    for (int i = 0; i < 6; i++) {
        if (i)
            *p++ = ':';
        *p++ = HEX[mac[i] >> 4];
        *p++ = HEX[mac[i] & 15];
    }
    *p++ = '"';
    return p;
}

static char *put_seconds(const struct json_lines *j, char *p, uint64_t us)
{
    char text[JSON_FLOAT_MAX];
    size_t n = json_seconds(j, us, text);
    if (!n)
        return NULL;
    return put(p, text, n);
}

size_t json_line(const struct json_lines *j, const struct flow_record *r, char *out)
{
    char *p = PUT_LITERAL(out, "{\"ts\":");
    if (!(p = put_seconds(j, p, r->ts_us)))
        return 0;
    char uid[19];
    json_flow_uid(j, r->serial, uid);
    p = PUT_LITERAL(p, ",\"uid\":\"");
    p = put(p, uid, 18);
    p = PUT_LITERAL(p, "\",\"id.orig_h\":");
    p = put_address(p, r->family, r->addr[0]);
    p = PUT_LITERAL(p, ",\"id.orig_p\":");
    p = put_u64(p, r->port[0]);
    p = PUT_LITERAL(p, ",\"id.resp_h\":");
    p = put_address(p, r->family, r->addr[1]);
    p = PUT_LITERAL(p, ",\"id.resp_p\":");
    p = put_u64(p, r->port[1]);
    p = PUT_LITERAL(p, ",\"proto\":");
    switch (r->proto) {
    case 1:
    case 58: p = PUT_LITERAL(p, "\"icmp\""); break;
    case 6: p = PUT_LITERAL(p, "\"tcp\""); break;
    case 17: p = PUT_LITERAL(p, "\"udp\""); break;
    case 132: p = PUT_LITERAL(p, "\"sctp\""); break;
    default: p = put_u64(p, r->proto); break;
    }
    if (r->service && r->service < SVC_COUNT) {
        p = PUT_LITERAL(p, ",\"service\":");
        p = put_cstring(p, APP_SERVICE_NAMES[r->service], 64);
    }
    p = PUT_LITERAL(p, ",\"duration\":");
    if (!(p = put_seconds(j, p, r->duration_us)))
        return 0;
    p = PUT_LITERAL(p, ",\"orig_pkts\":");
    p = put_u64(p, r->pkts[0]);
    p = PUT_LITERAL(p, ",\"orig_ip_bytes\":");
    p = put_u64(p, r->ip_bytes[0]);
    p = PUT_LITERAL(p, ",\"resp_pkts\":");
    p = put_u64(p, r->pkts[1]);
    p = PUT_LITERAL(p, ",\"resp_ip_bytes\":");
    p = put_u64(p, r->ip_bytes[1]);
    p = PUT_LITERAL(p, ",\"orig_bytes\":");
    p = put_u64(p, r->payload_bytes[0]);
    p = PUT_LITERAL(p, ",\"resp_bytes\":");
    p = put_u64(p, r->payload_bytes[1]);
    p = PUT_LITERAL(p, ",\"conn_state\":");
    p = put_cstring(p, r->conn_state, sizeof r->conn_state);
    p = PUT_LITERAL(p, ",\"history\":");
    p = put_cstring(p, r->history, sizeof r->history);
    if (r->vlan_count > 0) {
        p = PUT_LITERAL(p, ",\"vlan\":");
        p = put_u64(p, r->vlan[0]);
    }
    if (r->vlan_count > 1) {
        p = PUT_LITERAL(p, ",\"inner_vlan\":");
        p = put_u64(p, r->vlan[1]);
    }
    char cid[31];
    json_community_id(r, cid);
    p = PUT_LITERAL(p, ",\"community_id\":\"");
    p = put(p, cid, 30);
    p = PUT_LITERAL(p, "\",\"end_reason\":\"");
    const char *reason = END_REASON_NAMES[r->end_reason < END_REASON_COUNT ? r->end_reason : 0];
    p = put(p, reason, strlen(reason));
    *p++ = '"';
    if (r->mac_seen & 1) {
        p = PUT_LITERAL(p, ",\"orig_l2_addr\":");
        p = put_mac(p, r->mac[0]);
    }
    if (r->mac_seen & 2) {
        p = PUT_LITERAL(p, ",\"resp_l2_addr\":");
        p = put_mac(p, r->mac[1]);
    }
    if (r->server_name[0]) {
        p = PUT_LITERAL(p, ",\"server_name\":");
        p = put_cstring(p, r->server_name, sizeof r->server_name);
    }
    p = PUT_LITERAL(p, "}\n");
    return (size_t)(p - out);
}
