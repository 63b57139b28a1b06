/*
 * test_json_lines.c: native/json_lines.c on records made up by tests/test_json_lines.py,
 * which compares each output with agent/flowrecord.py's FlowRecord.to_json (edge cases no
 * capture reaches: serials and times near 2^64, names with bytes that need escapes).
 *
 * Reads lines from stdin, writes one output line for each:
 *   S US                      json_seconds(US): repr(US / 1e6) (json_float_shortest past
 *                             2^33 s: the binding uses CPython's repr there)
 *   R KEY SERIAL TS_US DURATION_US PROTO FAMILY ADDR0 ADDR1 PORT0 PORT1 VLAN_COUNT VLAN0
 *     VLAN1 PKTS0 PKTS1 IP_BYTES0 IP_BYTES1 BYTES0 BYTES1 CONN_STATE HISTORY END_REASON
 *     SERVICE MAC_SEEN MAC0 MAC1 SERVER_NAME
 *                             json_line() of that record, without its newline; KEY, the
 *                             addresses, MACs and the three strings in hex ("-": empty)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_lines.h"

static size_t unhex(const char *text, void *out, size_t cap)
{
    if (strcmp(text, "-") == 0)
        return 0;
    size_t n = strlen(text) / 2;
    if (n > cap)
        exit(2);
    for (size_t i = 0; i < n; i++) {
        unsigned byte;
        if (sscanf(text + 2 * i, "%2x", &byte) != 1)
            exit(2);
        ((uint8_t *)out)[i] = (uint8_t)byte;
    }
    return n;
}

int main(void)
{
    static char line[8192];
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 'S') {
            unsigned long long us = strtoull(line + 2, NULL, 10);
            struct json_lines j;
            json_lines_init(&j, (const uint8_t *)"", 0, NULL);
            char text[JSON_FLOAT_MAX];
            if (!json_seconds(&j, us, text))
                return 3;
            puts(text);
            continue;
        }
        char key[300], a0[40], a1[40], cs[40], hist[80], m0[20], m1[20], name[600];
        unsigned long long serial, ts, dur, pk0, pk1, ib0, ib1, pb0, pb1;
        unsigned proto, family, p0, p1, vc, v0, v1, er, svc, macs;
        int got = sscanf(line,
                         "R %299s %llu %llu %llu %u %u %39s %39s %u %u %u %u %u %llu %llu %llu "
                         "%llu %llu %llu %39s %79s %u %u %u %19s %19s %599s",
                         key, &serial, &ts, &dur, &proto, &family, a0, a1, &p0, &p1, &vc, &v0,
                         &v1, &pk0, &pk1, &ib0, &ib1, &pb0, &pb1, cs, hist, &er, &svc, &macs,
                         m0, m1, name);
        if (got != 27)
            return 2;
        struct flow_record r;
        memset(&r, 0, sizeof r);
        uint8_t boot_id[128];
        size_t key_len = unhex(key, boot_id, sizeof boot_id);
        r.serial = serial, r.ts_us = ts, r.duration_us = dur;
        r.proto = (uint8_t)proto, r.family = (uint8_t)family;
        unhex(a0, r.addr[0], 16);
        unhex(a1, r.addr[1], 16);
        r.port[0] = (uint16_t)p0, r.port[1] = (uint16_t)p1;
        r.vlan_count = (uint8_t)vc, r.vlan[0] = (uint16_t)v0, r.vlan[1] = (uint16_t)v1;
        r.pkts[0] = pk0, r.pkts[1] = pk1, r.ip_bytes[0] = ib0, r.ip_bytes[1] = ib1;
        r.payload_bytes[0] = pb0, r.payload_bytes[1] = pb1;
        unhex(cs, r.conn_state, sizeof r.conn_state - 1);
        unhex(hist, r.history, sizeof r.history - 1);
        r.end_reason = (uint8_t)er, r.service = (uint8_t)svc, r.mac_seen = (uint8_t)macs;
        unhex(m0, r.mac[0], 6);
        unhex(m1, r.mac[1], 6);
        unhex(name, r.server_name, sizeof r.server_name - 1);
        struct json_lines j;
        json_lines_init(&j, boot_id, key_len, NULL);
        char out[JSON_LINE_MAX];
        size_t n = json_line(&j, &r, out);
        if (!n || out[n - 1] != '\n')
            return 3;
        fwrite(out, 1, n, stdout);
    }
    return 0;
}
