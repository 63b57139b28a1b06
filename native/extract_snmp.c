/*
 * extract_snmp.c: SNMP over UDP 161/162 (RFC 1157, 3416, 3412): the version, and whether
 * a device answers or sends traps with a well-known community.
 *
 * A message is SEQUENCE { INTEGER version, OCTET STRING community (v1, v2c), PDU }.
 * Read -> on the sender:
 *   `snmp_version`: "1", "2c" or "3"
 *   `snmp_default_community`: "yes" or "no", for a GetResponse, Trap, SNMPv2-Trap or
 *     Report (sent by the agent: it accepted or uses that community), v1/v2c only. The
 *     community is compared in place (case-insensitively) with a short list of vendor
 *     defaults; only the yes/no leaves.
 * Never read: the community's bytes beyond that comparison (never copied or emitted),
 * a request's community, the variable bindings (OIDs and values: names, locations,
 * configuration), SNMPv3 security parameters (user names).
 */
#include <string.h>
#include <strings.h>

#include "extract.h"

#define BER_SEQUENCE 0x30
#define BER_INTEGER 0x02
#define BER_OCTETS 0x04
#define PDU_RESPONSE 0xa2
#define PDU_TRAP_V1 0xa4
#define PDU_TRAP_V2 0xa7
#define PDU_REPORT 0xa8

/* Communities devices ship with or installers pick first. */
static const char *const DEFAULT_COMMUNITIES[] = {
    "public", "private", "community", "snmp", "snmpd", "admin", "manager", "default",
    "cisco",  "monitor", "read",      "write", "secret", "test", "ILMI",
};

static int is_default(const uint8_t *c, uint32_t len)
{
    for (size_t i = 0; i < sizeof DEFAULT_COMMUNITIES / sizeof DEFAULT_COMMUNITIES[0]; i++)
        if (strlen(DEFAULT_COMMUNITIES[i]) == len &&
            !strncasecmp((const char *)c, DEFAULT_COMMUNITIES[i], len))
            return 1;
    return 0;
}

/* A BER tag and definite length at d[*off]; the value starts at the new *off.
 * 1: read; 0: cut short; -1: not BER we accept (indefinite, over 3 length bytes). */
static int ber_header(const uint8_t *d, uint32_t len, uint32_t *off, uint8_t *tag,
                      uint32_t *value_len)
{
    if (*off + 2 > len)
        return 0;
    *tag = d[*off];
    uint8_t first = d[*off + 1];
    *off += 2;
    if (first < 0x80) {
        *value_len = first;
        return 1;
    }
    uint32_t n = first & 0x7f;
    if (n == 0 || n > 3)
        return -1;
    if (*off + n > len)
        return 0;
    uint32_t v = 0;
    for (uint32_t i = 0; i < n; i++)
        v = (v << 8) | d[(*off)++];
    *value_len = v;
    return 1;
}

enum extract_result extract_snmp(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    uint32_t off = 0, vlen;
    uint8_t tag;
    int r = ber_header(d, len, &off, &tag, &vlen);
    if (r <= 0 || tag != BER_SEQUENCE)
        return r == 0 && d[0] == BER_SEQUENCE ? EXTRACT_PARTIAL : EXTRACT_MALFORMED;
    r = ber_header(d, len, &off, &tag, &vlen);
    if (r == 0)
        return EXTRACT_PARTIAL;
    if (r < 0 || tag != BER_INTEGER || vlen != 1)
        return EXTRACT_MALFORMED;
    if (off + 1 > len)
        return EXTRACT_PARTIAL;
    uint8_t version = d[off++];
    const char *name = version == 0 ? "1" : version == 1 ? "2c" : version == 3 ? "3" : NULL;
    if (!name)
        return EXTRACT_MALFORMED;
    if (version == 3) { /* no community; the security parameters are never read */
        fp_emit(x->sink, FP_SNMP_VERSION, (const uint8_t *)name, strlen(name));
        return EXTRACT_OK;
    }
    r = ber_header(d, len, &off, &tag, &vlen);
    if (r == 0)
        return EXTRACT_PARTIAL;
    if (r < 0 || tag != BER_OCTETS)
        return EXTRACT_MALFORMED;
    if (off + vlen + 1 > len)
        return EXTRACT_PARTIAL; /* the community and the PDU's tag must be captured */
    const uint8_t *community = d + off;
    uint8_t pdu = d[off + vlen];
    if (pdu < 0xa0 || pdu > 0xa8)
        return EXTRACT_MALFORMED;
    fp_emit(x->sink, FP_SNMP_VERSION, (const uint8_t *)name, strlen(name));
    if (pdu == PDU_RESPONSE || pdu == PDU_TRAP_V1 || pdu == PDU_TRAP_V2 || pdu == PDU_REPORT) {
        const char *answer = is_default(community, vlen) ? "yes" : "no";
        fp_emit(x->sink, FP_SNMP_DEFAULT_COMMUNITY, (const uint8_t *)answer, strlen(answer));
    }
    return EXTRACT_OK;
}
