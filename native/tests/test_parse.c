/*
 * test_parse.c: unit test of parse_frame() over hand-built frames.
 *
 * Every frame is parsed from a heap copy of exactly its captured length, so under
 * AddressSanitizer (tools/sanitize.sh) a read one byte past caplen is a failure.
 * Build: cc -Inative native/parse.c native/tests/test_parse.c -o test_parse
 * Prints one line per failed check and a closing "N passed, M failed"; exit 1 on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static int passed, failed;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (cond) {                                                                      \
            passed++;                                                                    \
        } else {                                                                         \
            failed++;                                                                    \
            fprintf(stderr, "FAIL %s:%d: %s (in %s)\n", __FILE__, __LINE__, #cond,        \
                    current_test);                                                       \
        }                                                                                \
    } while (0)

static const char *current_test = "";

/* For checks made inside helpers on every parse: only failures are counted, so the
 * closing count reflects the assertions the tests spell out. */
#define CHECK_QUIET(cond)                                                                \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            failed++;                                                                    \
            fprintf(stderr, "FAIL %s:%d: %s (in %s)\n", __FILE__, __LINE__, #cond,       \
                    current_test);                                                       \
        }                                                                                \
    } while (0)

/* ---- frame building ---- */

struct frame {
    uint8_t b[2048];
    uint32_t n;
};

static void put8(struct frame *f, unsigned v) { f->b[f->n++] = (uint8_t)v; }
static void put16(struct frame *f, unsigned v)
{
    put8(f, v >> 8);
    put8(f, v & 0xff);
}
static void put32(struct frame *f, uint32_t v)
{
    put16(f, v >> 16);
    put16(f, v & 0xffff);
}
static void put_zeros(struct frame *f, unsigned n)
{
    memset(f->b + f->n, 0, n);
    f->n += n;
}
static void set16(struct frame *f, uint32_t at, unsigned v)
{
    f->b[at] = (uint8_t)(v >> 8);
    f->b[at + 1] = (uint8_t)(v & 0xff);
}

static void ethernet(struct frame *f, unsigned ethertype)
{
    for (int i = 0; i < 12; i++)
        put8(f, 0x02 + i);
    put16(f, ethertype);
}

static void vlan_tag(struct frame *f, unsigned tpid_before_overwrite, unsigned vid, unsigned next)
{
    /* The previous EtherType field becomes the TPID: rewrite it, then TCI + next. */
    set16(f, f->n - 2, tpid_before_overwrite);
    put16(f, 0xe000 | vid); /* priority bits must be masked off */
    put16(f, next);
}

static const uint8_t V4_SRC[4] = {10, 0, 0, 1}, V4_DST[4] = {10, 0, 0, 2};
static const uint8_t V6_SRC[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
static const uint8_t V6_DST[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};

/* IPv4 header with options_len bytes of options (multiple of 4); l4_len bytes follow. */
static uint32_t ipv4(struct frame *f, unsigned proto, unsigned options_len, unsigned frag_field,
                     unsigned ident, unsigned l4_len)
{
    uint32_t start = f->n;
    unsigned hdr_len = 20 + options_len;
    put8(f, 0x40 | (hdr_len / 4));
    put8(f, 0);
    put16(f, hdr_len + l4_len);
    put16(f, ident);
    put16(f, frag_field);
    put8(f, 64);
    put8(f, proto);
    put16(f, 0);
    for (int i = 0; i < 4; i++)
        put8(f, V4_SRC[i]);
    for (int i = 0; i < 4; i++)
        put8(f, V4_DST[i]);
    for (unsigned i = 0; i < options_len; i++)
        put8(f, i == 0 ? 0x94 : 1); /* router alert, then NOPs: content is skipped anyway */
    return start;
}

/* IPv6 fixed header; payload_len = everything after it (ext headers + L4). */
static void ipv6(struct frame *f, unsigned next, unsigned payload_len)
{
    put32(f, 0x60000000);
    put16(f, payload_len);
    put8(f, next);
    put8(f, 64);
    for (int i = 0; i < 16; i++)
        put8(f, V6_SRC[i]);
    for (int i = 0; i < 16; i++)
        put8(f, V6_DST[i]);
}

/* Generic 8-octet-unit extension header of total length len (multiple of 8). */
static void ext_header(struct frame *f, unsigned next, unsigned len)
{
    put8(f, next);
    put8(f, len / 8 - 1);
    put_zeros(f, len - 2);
}

static void tcp(struct frame *f, unsigned sport, unsigned dport, unsigned flags,
                unsigned hdr_len, unsigned payload_len)
{
    put16(f, sport);
    put16(f, dport);
    put32(f, 1000);
    put32(f, 0);
    put8(f, (hdr_len / 4) << 4);
    put8(f, flags);
    put16(f, 65535);
    put32(f, 0);
    put_zeros(f, hdr_len - 20);
    for (unsigned i = 0; i < payload_len; i++)
        put8(f, 'a' + i % 26);
}

static void udp(struct frame *f, unsigned sport, unsigned dport, unsigned payload_len)
{
    put16(f, sport);
    put16(f, dport);
    put16(f, 8 + payload_len);
    put16(f, 0);
    for (unsigned i = 0; i < payload_len; i++)
        put8(f, 'A' + i % 26);
}

static void icmp(struct frame *f, unsigned type, unsigned code, unsigned payload_len)
{
    put8(f, type);
    put8(f, code);
    put16(f, 0);
    put32(f, 0x00010001);
    put_zeros(f, payload_len);
}

/* ---- parsing from an exact-size heap copy ---- */

static enum parse_result parse_cut(int linktype, const struct frame *f, uint32_t caplen,
                                   uint32_t wire_len, struct packet *pkt)
{
    uint8_t *copy = malloc(caplen ? caplen : 1);
    if (!copy)
        abort();
    memcpy(copy, f->b, caplen);
    memset(pkt, 0xa5, sizeof *pkt); /* garbage the parser must overwrite */
    pkt->ts_us = 123456789;
    enum parse_result r = parse_frame(linktype, copy, caplen, wire_len, pkt);
    /* payload must point inside the copy, and stay there; checked before free. */
    if (pkt->payload_caplen) {
        CHECK_QUIET(pkt->payload >= copy && pkt->payload + pkt->payload_caplen <= copy + caplen);
        CHECK_QUIET(pkt->payload_caplen <= pkt->payload_len);
        volatile uint8_t last = pkt->payload[pkt->payload_caplen - 1]; /* ASan-checked */
        (void)last;
    } else {
        CHECK_QUIET(pkt->payload == NULL);
    }
    CHECK_QUIET(pkt->ts_us == 123456789);
    free(copy);
    return r;
}

static enum parse_result parse_whole(int linktype, const struct frame *f, struct packet *pkt)
{
    return parse_cut(linktype, f, f->n, f->n, pkt);
}

/* Every prefix of a valid frame: truncated, or the same answer as the whole frame
 * (bytes counted from headers, so a short capture must not change them). */
static void check_every_truncation(int linktype, const struct frame *f)
{
    struct packet full, cut;
    enum parse_result full_r = parse_whole(linktype, f, &full);
    int consistent = 1;
    for (uint32_t caplen = 0; caplen < f->n; caplen++) {
        enum parse_result r = parse_cut(linktype, f, caplen, f->n, &cut);
        if (r == PARSE_TRUNCATED)
            continue;
        if (r != full_r || cut.family != full.family || cut.proto != full.proto ||
            cut.sport != full.sport || cut.dport != full.dport || cut.ip_len != full.ip_len ||
            cut.payload_len != full.payload_len || memcmp(cut.src, full.src, 16) ||
            memcmp(cut.dst, full.dst, 16) || cut.vlan_count != full.vlan_count ||
            cut.frag_id != full.frag_id || cut.is_fragment != full.is_fragment) {
            fprintf(stderr, "  caplen %u of %u: result %d vs %d\n", caplen, f->n, r, full_r);
            consistent = 0;
        }
    }
    CHECK(consistent);
}

/* ---- tests ---- */

static void test_ethernet_ipv4_tcp(void)
{
    current_test = __func__;
    struct frame f = {0};
    struct packet p;
    ethernet(&f, 0x0800);
    ipv4(&f, 6, 0, 0x4000, 7, 32 + 5);
    tcp(&f, 40000, 104, 0x18, 32, 5);
    CHECK(parse_whole(1, &f, &p) == PARSE_OK);
    CHECK(p.family == 4 && p.proto == 6);
    CHECK(p.sport == 40000 && p.dport == 104);
    CHECK(p.tcp_flags == 0x18);
    CHECK(p.ip_len == 20 + 32 + 5 && p.payload_len == 5);
    CHECK(p.payload_caplen == 5);
    CHECK(p.wire_len == f.n);
    CHECK(memcmp(p.src, V4_SRC, 4) == 0 && memcmp(p.dst, V4_DST, 4) == 0);
    static const uint8_t zeros[12];
    CHECK(memcmp(p.src + 4, zeros, 12) == 0 && memcmp(p.dst + 4, zeros, 12) == 0);
    CHECK(p.vlan_count == 0 && p.vlan[0] == 0 && p.vlan[1] == 0);
    CHECK(p.is_fragment == 0 && p.frag_id == 0); /* DF alone is no fragment */
    CHECK(p.icmp_type == 0 && p.icmp_code == 0);
    check_every_truncation(1, &f);
}

static void test_ethernet_padding_is_ignored(void)
{
    current_test = __func__;
    struct frame f = {0};
    struct packet p;
    ethernet(&f, 0x0800);
    ipv4(&f, 17, 0, 0, 1, 8 + 2);
    udp(&f, 53, 5353, 2);
    put_zeros(&f, 60 - f.n); /* minimum Ethernet frame */
    CHECK(parse_whole(1, &f, &p) == PARSE_OK);
    CHECK(p.ip_len == 30 && p.payload_len == 2 && p.payload_caplen == 2);
}

static void test_short_snaplen_counts_header_lengths(void)
{
    current_test = __func__;
    struct frame f = {0};
    struct packet p;
    ethernet(&f, 0x0800);
    ipv4(&f, 6, 0, 0, 1, 20 + 1400);
    tcp(&f, 1, 2, 0x10, 20, 1400);
    CHECK(parse_cut(1, &f, 14 + 20 + 14, f.n, &p) == PARSE_OK); /* only ports + flags */
    CHECK(p.ip_len == 1440 && p.payload_len == 1400 && p.payload_caplen == 0);
    CHECK(p.tcp_flags == 0x10);
    CHECK(parse_cut(1, &f, 14 + 20 + 13, f.n, &p) == PARSE_TRUNCATED);
    CHECK(parse_cut(1, &f, 100, f.n, &p) == PARSE_OK);
    CHECK(p.payload_caplen == 100 - 54);
}

static void test_vlan_tags(void)
{
    current_test = __func__;
    struct packet p;
    struct frame one = {0};
    ethernet(&one, 0x8100);
    vlan_tag(&one, 0x8100, 42, 0x0800);
    ipv4(&one, 17, 0, 0, 1, 8);
    udp(&one, 1, 2, 0);
    CHECK(parse_whole(1, &one, &p) == PARSE_OK);
    CHECK(p.vlan_count == 1 && p.vlan[0] == 42 && p.vlan[1] == 0);
    CHECK(p.sport == 1 && p.dport == 2);
    check_every_truncation(1, &one);

    struct frame qinq = {0};
    ethernet(&qinq, 0);
    vlan_tag(&qinq, 0x88a8, 100, 0);
    vlan_tag(&qinq, 0x8100, 200, 0x86dd);
    ipv6(&qinq, 17, 8);
    udp(&qinq, 3, 4, 0);
    CHECK(parse_whole(1, &qinq, &p) == PARSE_OK);
    CHECK(p.vlan_count == 2 && p.vlan[0] == 100 && p.vlan[1] == 200);
    CHECK(p.family == 6 && p.sport == 3);
    check_every_truncation(1, &qinq);

    struct frame deep = {0};
    ethernet(&deep, 0);
    vlan_tag(&deep, 0x9100, 1, 0);
    vlan_tag(&deep, 0x88a8, 2, 0);
    vlan_tag(&deep, 0x8100, 4095, 0x0800);
    ipv4(&deep, 6, 0, 0, 1, 20);
    tcp(&deep, 5, 6, 0x02, 20, 0);
    CHECK(parse_whole(1, &deep, &p) == PARSE_OK);
    CHECK(p.vlan_count == 2 && p.vlan[0] == 1 && p.vlan[1] == 2);
    CHECK(p.sport == 5 && p.tcp_flags == 0x02);

    struct frame arp_in_vlan = {0};
    ethernet(&arp_in_vlan, 0);
    vlan_tag(&arp_in_vlan, 0x8100, 7, 0x0806);
    put_zeros(&arp_in_vlan, 28);
    CHECK(parse_whole(1, &arp_in_vlan, &p) == PARSE_NON_IP);
    CHECK(p.vlan_count == 1 && p.vlan[0] == 7);
}

static void test_non_ip_frames(void)
{
    current_test = __func__;
    struct packet p;
    struct frame arp = {0};
    ethernet(&arp, 0x0806);
    put_zeros(&arp, 28);
    CHECK(parse_whole(1, &arp, &p) == PARSE_NON_IP);
    CHECK(p.family == 0 && p.ip_len == 0 && p.wire_len == arp.n && p.vlan_count == 0);
    struct frame llc = {0};
    ethernet(&llc, 38); /* 802.3 length field: STP over LLC */
    put_zeros(&llc, 38);
    CHECK(parse_whole(1, &llc, &p) == PARSE_NON_IP);
    CHECK(parse_whole(147, &llc, &p) == PARSE_NON_IP); /* unknown link type */
    struct frame runt = {0};
    put_zeros(&runt, 13);
    CHECK(parse_whole(1, &runt, &p) == PARSE_TRUNCATED);
    CHECK(parse_frame(1, NULL, 0, 0, &p) == PARSE_TRUNCATED);
}

static void sll_header(struct frame *f, unsigned protocol)
{
    put16(f, 0);      /* packet type: to us */
    put16(f, 1);      /* ARPHRD_ETHER */
    put16(f, 6);      /* address length */
    put_zeros(f, 8);  /* address */
    put16(f, protocol);
}

static void sll2_header(struct frame *f, unsigned protocol)
{
    put16(f, protocol);
    put16(f, 0);      /* reserved */
    put32(f, 3);      /* interface index */
    put16(f, 1);      /* ARPHRD_ETHER */
    put8(f, 0);       /* packet type */
    put8(f, 6);       /* address length */
    put_zeros(f, 8);
}

static void test_linux_cooked(void)
{
    current_test = __func__;
    struct packet p;
    struct frame sll = {0};
    sll_header(&sll, 0x0800);
    ipv4(&sll, 17, 0, 0, 1, 8 + 3);
    udp(&sll, 67, 68, 3);
    CHECK(parse_whole(113, &sll, &p) == PARSE_OK);
    CHECK(p.sport == 67 && p.dport == 68 && p.payload_len == 3);
    check_every_truncation(113, &sll);

    struct frame sll_tagged = {0};
    sll_header(&sll_tagged, 0x8100);
    put16(&sll_tagged, 300);
    put16(&sll_tagged, 0x86dd);
    ipv6(&sll_tagged, 17, 8);
    udp(&sll_tagged, 9, 10, 0);
    CHECK(parse_whole(113, &sll_tagged, &p) == PARSE_OK);
    CHECK(p.vlan_count == 1 && p.vlan[0] == 300 && p.family == 6 && p.dport == 10);

    struct frame sll_arp = {0};
    sll_header(&sll_arp, 0x0806);
    put_zeros(&sll_arp, 28);
    CHECK(parse_whole(113, &sll_arp, &p) == PARSE_NON_IP);

    struct frame sll2 = {0};
    sll2_header(&sll2, 0x86dd);
    ipv6(&sll2, 6, 20);
    tcp(&sll2, 443, 50000, 0x12, 20, 0);
    CHECK(parse_whole(276, &sll2, &p) == PARSE_OK);
    CHECK(p.family == 6 && p.sport == 443 && p.tcp_flags == 0x12);
    CHECK(memcmp(p.src, V6_SRC, 16) == 0 && memcmp(p.dst, V6_DST, 16) == 0);
    check_every_truncation(276, &sll2);
}

static void test_raw_ip_link_types(void)
{
    current_test = __func__;
    struct packet p;
    struct frame v4 = {0}, v6 = {0}, bad = {0};
    ipv4(&v4, 17, 0, 0, 1, 8);
    udp(&v4, 123, 123, 0);
    ipv6(&v6, 58, 8);
    icmp(&v6, 128, 0, 0);
    for (int i = 0; i < 2; i++) {
        int lt = i ? 101 : 12;
        CHECK(parse_whole(lt, &v4, &p) == PARSE_OK && p.family == 4 && p.sport == 123);
        CHECK(parse_whole(lt, &v6, &p) == PARSE_OK && p.family == 6 && p.proto == 58);
        check_every_truncation(lt, &v4);
        check_every_truncation(lt, &v6);
    }
    CHECK(parse_whole(228, &v4, &p) == PARSE_OK && p.family == 4);
    CHECK(parse_whole(229, &v6, &p) == PARSE_OK && p.family == 6);
    CHECK(parse_whole(228, &v6, &p) == PARSE_MALFORMED); /* v6 on the v4-only link */
    CHECK(parse_whole(229, &v4, &p) == PARSE_MALFORMED); /* v4 on the v6-only link */
    put8(&bad, 0x50);
    put_zeros(&bad, 40);
    CHECK(parse_whole(12, &bad, &p) == PARSE_MALFORMED);
    struct frame empty = {0};
    CHECK(parse_whole(101, &empty, &p) == PARSE_TRUNCATED);
}

static void test_null_loopback(void)
{
    current_test = __func__;
    struct packet p;
    const uint8_t af_inet_le[4] = {2, 0, 0, 0}, af_inet_be[4] = {0, 0, 0, 2};
    /* AF_INET6 is 10 on Linux, 24 / 28 / 30 on the BSDs and macOS */
    const uint8_t af_inet6_le[4][4] = {{10, 0, 0, 0}, {24, 0, 0, 0}, {28, 0, 0, 0}, {30, 0, 0, 0}};
    struct frame f = {0};
    memcpy(f.b, af_inet_le, 4);
    f.n = 4;
    ipv4(&f, 1, 0, 0, 1, 8);
    icmp(&f, 8, 0, 0);
    CHECK(parse_whole(0, &f, &p) == PARSE_OK && p.family == 4 && p.proto == 1);
    check_every_truncation(0, &f);
    memcpy(f.b, af_inet_be, 4);
    CHECK(parse_whole(0, &f, &p) == PARSE_OK && p.family == 4);
    f.b[3] = 7; /* AF 7 (big-endian): not IP */
    CHECK(parse_whole(0, &f, &p) == PARSE_NON_IP);
    for (int i = 0; i < 4; i++) {
        struct frame g = {0};
        memcpy(g.b, af_inet6_le[i], 4);
        g.n = 4;
        ipv6(&g, 17, 8);
        udp(&g, 546, 547, 0);
        CHECK(parse_whole(0, &g, &p) == PARSE_OK && p.family == 6 && p.dport == 547);
    }
}

static void test_ipv4_options(void)
{
    current_test = __func__;
    struct packet p;
    for (unsigned opt = 4; opt <= 40; opt += 36) {
        struct frame f = {0};
        ethernet(&f, 0x0800);
        ipv4(&f, 17, opt, 0, 1, 8 + 4);
        udp(&f, 1111, 2222, 4);
        CHECK(parse_whole(1, &f, &p) == PARSE_OK);
        CHECK(p.sport == 1111 && p.dport == 2222);
        CHECK(p.ip_len == 20 + opt + 12 && p.payload_len == 4);
        check_every_truncation(1, &f);
    }
}

static void test_ipv4_malformed(void)
{
    current_test = __func__;
    struct packet p;
    struct frame base = {0};
    ethernet(&base, 0x0800);
    uint32_t ip = ipv4(&base, 6, 0, 0, 1, 20);
    tcp(&base, 1, 2, 0x02, 20, 0);

    struct frame f = base;
    f.b[ip] = 0x45 ^ 0x10; /* version 5 */
    CHECK(parse_whole(1, &f, &p) == PARSE_MALFORMED);
    f = base;
    f.b[ip] = 0x44; /* IHL 4 */
    CHECK(parse_whole(1, &f, &p) == PARSE_MALFORMED);
    f = base;
    set16(&f, ip + 2, 19); /* total length below the header */
    CHECK(parse_whole(1, &f, &p) == PARSE_MALFORMED);
    f = base;
    set16(&f, ip + 2, 41); /* one more byte than the wire frame has */
    CHECK(parse_whole(1, &f, &p) == PARSE_MALFORMED);
    /* ...but fine when the record says the wire frame was longer (short snap length) */
    CHECK(parse_cut(1, &f, f.n, f.n + 1, &p) == PARSE_OK && p.ip_len == 41);
    f = base;
    f.b[ip] = 0x4f; /* IHL 15: a 60-byte header, 40 bytes captured */
    CHECK(parse_whole(1, &f, &p) == PARSE_TRUNCATED);
    /* a record whose wire length lies below the IP header leaves the IP no room */
    CHECK(parse_cut(1, &base, base.n, 10, &p) == PARSE_MALFORMED && p.wire_len == 10);
    /* order of checks: version and IHL from the first byte, before the header is whole */
    f = base;
    f.b[ip] = 0x55;
    CHECK(parse_cut(1, &f, 14 + 1, f.n, &p) == PARSE_MALFORMED);
    f.b[ip] = 0x43;
    CHECK(parse_cut(1, &f, 14 + 1, f.n, &p) == PARSE_MALFORMED);
    /* ...then the IHL*4 header captured, and only then the total length */
    f = base;
    f.b[ip] = 0x46;
    set16(&f, ip + 2, 3);
    CHECK(parse_cut(1, &f, 14 + 23, f.n, &p) == PARSE_TRUNCATED);
    CHECK(parse_cut(1, &f, 14 + 24, f.n, &p) == PARSE_MALFORMED);

    f = base;
    f.b[ip + 20 + 12] = 0x40; /* TCP data offset 4 */
    CHECK(parse_whole(1, &f, &p) == PARSE_MALFORMED);
    f = base;
    f.b[ip + 20 + 12] = 0x60; /* data offset 6 = 24 bytes, IP payload has 20 */
    CHECK(parse_whole(1, &f, &p) == PARSE_MALFORMED);
    f = base;
    set16(&f, ip + 2, 39); /* IP payload of 19 bytes cannot hold a TCP header */
    CHECK(parse_whole(1, &f, &p) == PARSE_MALFORMED);

    struct frame u = {0};
    ethernet(&u, 0x0800);
    ip = ipv4(&u, 17, 0, 0, 1, 7);
    put_zeros(&u, 7);
    CHECK(parse_whole(1, &u, &p) == PARSE_MALFORMED);
    u.b[ip + 9] = 132; /* SCTP needs 12 */
    CHECK(parse_whole(1, &u, &p) == PARSE_MALFORMED);
    u.b[ip + 9] = 1; /* ICMP needs 2: 7 is fine */
    CHECK(parse_whole(1, &u, &p) == PARSE_OK && p.payload_len == 0);
    set16(&u, ip + 2, 21);
    CHECK(parse_whole(1, &u, &p) == PARSE_MALFORMED);
}

static void test_ipv4_fragments(void)
{
    current_test = __func__;
    struct packet p;
    struct frame first = {0};
    ethernet(&first, 0x0800);
    ipv4(&first, 17, 0, 0x2000, 0xbeef, 8 + 1472);
    udp(&first, 5000, 6000, 1472);
    CHECK(parse_whole(1, &first, &p) == PARSE_OK);
    CHECK(p.is_fragment == 1 && p.frag_id == 0xbeef);
    CHECK(p.sport == 5000 && p.dport == 6000 && p.payload_len == 1472);

    struct frame later = {0};
    ethernet(&later, 0x0800);
    ipv4(&later, 17, 0, 185, 0xbeef, 100); /* offset 185*8 = 1480, last fragment */
    /* bytes that look like ports must never be read as ports */
    put16(&later, 1234);
    put16(&later, 4321);
    put_zeros(&later, 96);
    CHECK(parse_whole(1, &later, &p) == PARSE_FRAGMENT_LATER);
    CHECK(p.is_fragment == 1 && p.frag_id == 0xbeef && p.proto == 17 && p.family == 4);
    CHECK(p.sport == 0 && p.dport == 0);
    CHECK(p.ip_len == 120 && p.payload_len == 100 && p.payload_caplen == 0);
    CHECK(memcmp(p.src, V4_SRC, 4) == 0 && memcmp(p.dst, V4_DST, 4) == 0);
    check_every_truncation(1, &later);

    struct frame middle = later;
    set16(&middle, 14 + 6, 0x2000 | 185); /* more fragments follow */
    CHECK(parse_whole(1, &middle, &p) == PARSE_FRAGMENT_LATER);

    /* a later fragment with IP options */
    struct frame opt = {0};
    ethernet(&opt, 0x0800);
    ipv4(&opt, 6, 8, 3, 9, 16);
    put_zeros(&opt, 16);
    CHECK(parse_whole(1, &opt, &p) == PARSE_FRAGMENT_LATER);
    CHECK(p.ip_len == 44 && p.payload_len == 16 && p.frag_id == 9 && p.proto == 6);
}

static void test_ipv6_extension_headers(void)
{
    current_test = __func__;
    struct packet p;
    struct frame f = {0};
    ethernet(&f, 0x86dd);
    ipv6(&f, 0, 8 + 16 + 24 + 20 + 3);
    ext_header(&f, 60, 8);  /* hop-by-hop */
    ext_header(&f, 43, 16); /* destination options */
    ext_header(&f, 6, 24);  /* routing */
    tcp(&f, 2575, 104, 0x18, 20, 3);
    CHECK(parse_whole(1, &f, &p) == PARSE_OK);
    CHECK(p.family == 6 && p.proto == 6 && p.sport == 2575 && p.dport == 104);
    CHECK(p.ip_len == 40 + 8 + 16 + 24 + 23 && p.payload_len == 3 && p.payload_caplen == 3);
    CHECK(p.is_fragment == 0);
    check_every_truncation(1, &f);

    struct frame ah = {0};
    ethernet(&ah, 0x86dd);
    ipv6(&ah, 51, 24 + 8);
    put8(&ah, 17);
    put8(&ah, 4); /* (4 + 2) * 4 = 24 bytes */
    put_zeros(&ah, 22);
    udp(&ah, 500, 500, 0);
    CHECK(parse_whole(1, &ah, &p) == PARSE_OK && p.proto == 17 && p.sport == 500);
    check_every_truncation(1, &ah);

    struct frame esp = {0};
    ethernet(&esp, 0x86dd);
    ipv6(&esp, 50, 32);
    put_zeros(&esp, 32);
    CHECK(parse_whole(1, &esp, &p) == PARSE_OK && p.proto == 50);
    CHECK(p.sport == 0 && p.dport == 0 && p.payload_len == 32);

    struct frame none = {0};
    ethernet(&none, 0x86dd);
    ipv6(&none, 0, 8);
    ext_header(&none, 59, 8);
    CHECK(parse_whole(1, &none, &p) == PARSE_OK && p.proto == 59 && p.payload_len == 0);

    /* nine extension headers: the walk stops after eight, the ninth is the protocol */
    struct frame deep = {0};
    ethernet(&deep, 0x86dd);
    ipv6(&deep, 60, 9 * 8 + 8);
    for (int i = 0; i < 9; i++)
        ext_header(&deep, i == 8 ? 17 : 60, 8);
    udp(&deep, 7, 7, 0);
    CHECK(parse_whole(1, &deep, &p) == PARSE_OK && p.proto == 60 && p.sport == 0);

    /* an extension header running past the IPv6 payload length */
    struct frame over = {0};
    ethernet(&over, 0x86dd);
    ipv6(&over, 0, 16);
    put8(&over, 17);
    put8(&over, 3); /* claims 32 bytes */
    put_zeros(&over, 30);
    CHECK(parse_whole(1, &over, &p) == PARSE_MALFORMED);
    /* the payload length ends right where a header should start */
    struct frame cut = {0};
    ethernet(&cut, 0x86dd);
    ipv6(&cut, 0, 0);
    put_zeros(&cut, 8); /* padding, not a header */
    CHECK(parse_whole(1, &cut, &p) == PARSE_MALFORMED);
    /* IPv6 payload length beyond the wire frame */
    struct frame longer = {0};
    ethernet(&longer, 0x86dd);
    ipv6(&longer, 17, 100);
    udp(&longer, 1, 2, 0);
    CHECK(parse_whole(1, &longer, &p) == PARSE_MALFORMED);
    struct frame badver = {0};
    ethernet(&badver, 0x86dd);
    ipv6(&badver, 17, 8);
    udp(&badver, 1, 2, 0);
    badver.b[14] = 0x40;
    CHECK(parse_whole(1, &badver, &p) == PARSE_MALFORMED);
}

static void fragment_header(struct frame *f, unsigned next, unsigned offset_units, int more,
                            uint32_t ident)
{
    put8(f, next);
    put8(f, 0);
    put16(f, (offset_units << 3) | (more ? 1 : 0));
    put32(f, ident);
}

static void test_ipv6_fragments(void)
{
    current_test = __func__;
    struct packet p;
    struct frame first = {0};
    ethernet(&first, 0x86dd);
    ipv6(&first, 0, 8 + 8 + 8 + 16);
    ext_header(&first, 44, 8);
    fragment_header(&first, 17, 0, 1, 0xdeadbeef);
    udp(&first, 4000, 4001, 16);
    CHECK(parse_whole(1, &first, &p) == PARSE_OK);
    CHECK(p.is_fragment == 1 && p.frag_id == 0xdeadbeef);
    CHECK(p.proto == 17 && p.sport == 4000 && p.payload_len == 16);
    check_every_truncation(1, &first);

    struct frame later = {0};
    ethernet(&later, 0x86dd);
    ipv6(&later, 0, 8 + 8 + 40);
    ext_header(&later, 44, 8);
    fragment_header(&later, 17, 3, 0, 0xdeadbeef);
    put16(&later, 9999);
    put16(&later, 9998);
    put_zeros(&later, 36);
    CHECK(parse_whole(1, &later, &p) == PARSE_FRAGMENT_LATER);
    CHECK(p.is_fragment == 1 && p.frag_id == 0xdeadbeef && p.proto == 17);
    CHECK(p.sport == 0 && p.dport == 0);
    CHECK(p.ip_len == 96 && p.payload_len == 40);
    check_every_truncation(1, &later);

    struct frame atomic = {0}; /* offset 0, no more fragments: not a fragment */
    ethernet(&atomic, 0x86dd);
    ipv6(&atomic, 44, 8 + 8);
    fragment_header(&atomic, 17, 0, 0, 77);
    udp(&atomic, 1, 2, 0);
    CHECK(parse_whole(1, &atomic, &p) == PARSE_OK);
    CHECK(p.is_fragment == 0 && p.frag_id == 0 && p.sport == 1);
}

static void test_l4_ports(void)
{
    current_test = __func__;
    struct packet p;
    struct {
        unsigned proto, family, type, code, sport, dport;
    } icmp_cases[] = {
        {1, 4, 8, 0, 8, 0},        {1, 4, 0, 0, 0, 8},        {1, 4, 13, 0, 13, 14},
        {1, 4, 16, 0, 16, 15},     {1, 4, 10, 0, 10, 9},      {1, 4, 18, 0, 18, 17},
        {1, 4, 3, 1, 3, 1},        {1, 4, 11, 0, 11, 0},      {58, 6, 128, 0, 128, 129},
        {58, 6, 129, 0, 129, 128}, {58, 6, 133, 0, 133, 134}, {58, 6, 134, 0, 134, 133},
        {58, 6, 135, 0, 135, 136}, {58, 6, 131, 0, 131, 130}, {58, 6, 139, 0, 139, 140},
        {58, 6, 145, 0, 145, 144}, {58, 6, 1, 4, 1, 4},       {58, 6, 8, 3, 8, 3},
    };
    for (size_t i = 0; i < sizeof icmp_cases / sizeof icmp_cases[0]; i++) {
        struct frame f = {0};
        ethernet(&f, icmp_cases[i].family == 4 ? 0x0800 : 0x86dd);
        if (icmp_cases[i].family == 4)
            ipv4(&f, icmp_cases[i].proto, 0, 0, 1, 8 + 10);
        else
            ipv6(&f, icmp_cases[i].proto, 8 + 10);
        icmp(&f, icmp_cases[i].type, icmp_cases[i].code, 10);
        CHECK(parse_whole(1, &f, &p) == PARSE_OK);
        CHECK(p.sport == icmp_cases[i].sport && p.dport == icmp_cases[i].dport);
        CHECK(p.icmp_type == icmp_cases[i].type && p.icmp_code == icmp_cases[i].code);
        CHECK(p.payload_len == 10 && p.payload_caplen == 10);
        if (i == 0)
            check_every_truncation(1, &f);
    }

    struct frame sctp = {0};
    ethernet(&sctp, 0x0800);
    ipv4(&sctp, 132, 0, 0, 1, 12 + 16);
    put16(&sctp, 2905);
    put16(&sctp, 2906);
    put_zeros(&sctp, 8 + 16);
    CHECK(parse_whole(1, &sctp, &p) == PARSE_OK);
    CHECK(p.sport == 2905 && p.dport == 2906 && p.payload_len == 16);
    check_every_truncation(1, &sctp);

    struct frame gre = {0};
    ethernet(&gre, 0x0800);
    ipv4(&gre, 47, 0, 0, 1, 24);
    put_zeros(&gre, 24);
    CHECK(parse_whole(1, &gre, &p) == PARSE_OK);
    CHECK(p.proto == 47 && p.sport == 0 && p.dport == 0 && p.payload_len == 24);
    CHECK(p.payload_caplen == 24);

    struct frame udp_lie = {0}; /* UDP length field is not trusted for counting */
    ethernet(&udp_lie, 0x0800);
    uint32_t ip = ipv4(&udp_lie, 17, 0, 0, 1, 8 + 10);
    udp(&udp_lie, 1, 2, 10);
    set16(&udp_lie, ip + 20 + 4, 9000);
    CHECK(parse_whole(1, &udp_lie, &p) == PARSE_OK && p.payload_len == 10);

    struct frame v6tcp = {0};
    ethernet(&v6tcp, 0x86dd);
    ipv6(&v6tcp, 6, 40 + 7);
    tcp(&v6tcp, 22, 60000, 0x11, 40, 7);
    CHECK(parse_whole(1, &v6tcp, &p) == PARSE_OK);
    CHECK(p.payload_len == 7 && p.tcp_flags == 0x11 && p.ip_len == 87);
    check_every_truncation(1, &v6tcp);
}

/* Random frames for every link type: results stay in range and nothing reads out of
 * bounds (the real check is ASan's; this only makes sure the code runs). */
static void test_random_frames_are_safe(void)
{
    current_test = __func__;
    static const int linktypes[] = {0, 1, 12, 101, 113, 228, 229, 276, 999};
    uint32_t seed = 12345;
    int in_range = 1;
    for (int round = 0; round < 20000; round++) {
        struct frame f = {0};
        seed = seed * 1103515245u + 12345u;
        f.n = (seed >> 8) % 128;
        for (uint32_t i = 0; i < f.n; i++) {
            seed = seed * 1103515245u + 12345u;
            f.b[i] = (uint8_t)(seed >> 16);
        }
        /* bias toward IP so the deeper layers get exercised */
        int lt = linktypes[round % 9];
        if (lt == 1 && f.n > 14) {
            f.b[12] = round & 1 ? 0x86 : 0x08;
            f.b[13] = round & 1 ? 0xdd : 0x00;
            f.b[14] = round & 1 ? 0x60 : 0x45;
        }
        struct packet p;
        enum parse_result r = parse_cut(lt, &f, f.n, f.n + (round % 3), &p);
        if ((unsigned)r > PARSE_FRAGMENT_LATER)
            in_range = 0;
    }
    CHECK(in_range);
}

int main(void)
{
    test_ethernet_ipv4_tcp();
    test_ethernet_padding_is_ignored();
    test_short_snaplen_counts_header_lengths();
    test_vlan_tags();
    test_non_ip_frames();
    test_linux_cooked();
    test_raw_ip_link_types();
    test_null_loopback();
    test_ipv4_options();
    test_ipv4_malformed();
    test_ipv4_fragments();
    test_ipv6_extension_headers();
    test_ipv6_fragments();
    test_l4_ports();
    test_random_frames_are_safe();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
