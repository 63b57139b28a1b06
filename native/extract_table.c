/*
 * extract_table.c: which extractor looks at which payload. One row per protocol; a new
 * protocol is one extract_<name>.c and one row here.
 *
 * Labels come from the content; ports only pick which extractor gets to look (UDP) or
 * which content must be refused loudly (TCP: garbage on the DICOM and HL7 ports is
 * malformed). Rows are tried in order, the first that claims the payload wins.
 *
 * The tables are X-macros: each expands into a chain of tests with constants, so the
 * content tests and extractors are direct calls the compiler can inline, and dispatch
 * costs what the hand-written chain of tests cost before the table (an array of rows
 * walked in a loop cost about 20 instructions more per payload: indirect calls).
 */
#include <string.h>

#include "engine.h"
#include "extract.h"

const char *const APP_SERVICE_NAMES[SVC_COUNT] = {
    [SVC_NONE] = "",         [SVC_DHCP] = "dhcp",   [SVC_DHCPV6] = "dhcpv6",
    [SVC_DNS] = "dns",       [SVC_MDNS] = "mdns",   [SVC_SSDP] = "ssdp",
    [SVC_TLS] = "ssl",       [SVC_HTTP] = "http",   [SVC_DICOM] = "dicom",
    [SVC_HL7] = "hl7",       [SVC_POCT1] = "poct1", [SVC_INTELLIVUE] = "intellivue",
    [SVC_ARP] = "arp",       [SVC_LLDP] = "lldp",   [SVC_CDP] = "cdp",
    [SVC_SIP] = "sip",       [SVC_RTSP] = "rtsp",
    [SVC_TELNET] = "telnet", [SVC_FTP] = "ftp",     [SVC_SSH] = "ssh",
    [SVC_RDP] = "rdp",       [SVC_VNC] = "vnc",     [SVC_SMB] = "smb",
    [SVC_SNMP] = "snmp",
};

#define PROTO_TCP 6
#define PROTO_UDP 17

/* Link-layer frames without IP, by EtherType (parse.c's l2_type). ARP is no extractor's:
 * the device table reads its sender address itself (devices.c).
 *   ROW(l2_type, service, extractor) */
#define L2_TABLE(ROW)                                                                     \
    ROW(L2_TYPE_LLDP, SVC_LLDP, extract_lldp)                                             \
    ROW(L2_TYPE_CDP, SVC_CDP, extract_cdp)

/* UDP, by either port.
 *   ROW(port, other port, service, extractor) */
#define UDP_TABLE(ROW)                                                                    \
    ROW(67, 68, SVC_DHCP, extract_dhcp)                                                   \
    ROW(546, 547, SVC_DHCPV6, extract_dhcpv6)                                             \
    ROW(5353, 5353, SVC_MDNS, extract_mdns)                                               \
    ROW(53, 53, SVC_DNS, extract_dns)                                                     \
    ROW(1900, 1900, SVC_SSDP, extract_ssdp)                                               \
    ROW(24005, 24105, SVC_INTELLIVUE, extract_intellivue)                                 \
    ROW(5060, 5060, SVC_SIP, extract_sip)                                                 \
    ROW(161, 162, SVC_SNMP, extract_snmp)

/* TCP, by content. On a claimed port (0: none) what the extractor does not recognise is
 * malformed, not someone else's; with read_unframed it reads there even what fails the
 * content test (HL7: an MSH without MLLP framing).
 *   ROW(content test, claimed port, other claimed port, read_unframed, service, extractor) */
#define TCP_TABLE(ROW)                                                                    \
    ROW(looks_tls, 0, 0, 0, SVC_TLS, extract_tls)                                         \
    ROW(looks_mllp, 2575, 2575, 1, SVC_HL7, extract_hl7)                                  \
    ROW(looks_dicom, 104, 11112, 0, SVC_DICOM, extract_dicom)                             \
    ROW(looks_sip, 0, 0, 0, SVC_SIP, extract_sip)                                         \
    ROW(looks_rtsp, 0, 0, 0, SVC_RTSP, extract_rtsp)                                      \
    ROW(looks_http, 0, 0, 0, SVC_HTTP, extract_http)                                      \
    ROW(looks_xml, 0, 0, 0, SVC_POCT1, extract_poct1)                                     \
    ROW(looks_ssh, 0, 0, 0, SVC_SSH, extract_ssh)                                         \
    ROW(looks_rfb, 0, 0, 0, SVC_VNC, extract_vnc)                                         \
    ROW(looks_tpkt, 0, 0, 0, SVC_RDP, extract_rdp)                                        \
    ROW(looks_netbios, 0, 0, 0, SVC_SMB, extract_smb)                                     \
    ROW(looks_ftp, 0, 0, 0, SVC_FTP, extract_ftp)                                         \
    ROW(looks_telnet, 23, 23, 1, SVC_TELNET, extract_telnet)

/* Later messages of a labelled flow (DEVICES_EARLY_MESSAGES in engine.h).
 *   ROW(service, extractor) */
#define EARLY_TABLE(ROW)                                                                  \
    ROW(SVC_HTTP, extract_http_auth)                                                      \
    ROW(SVC_FTP, extract_ftp)                                                             \
    ROW(SVC_VNC, extract_vnc)                                                             \
    ROW(SVC_SMB, extract_smb)

static inline int starts_with(const uint8_t *d, uint32_t len, const char *s)
{
    size_t n = strlen(s);
    return len >= n && !memcmp(d, s, n);
}

/* TCP content tests: is this payload worth the extractor's look? (len >= 1) */
static inline int looks_tls(const uint8_t *d, uint32_t len) { return (void)len, d[0] == 0x16; }
static inline int looks_mllp(const uint8_t *d, uint32_t len) { return (void)len, d[0] == 0x0b; }
static inline int looks_dicom(const uint8_t *d, uint32_t len)
{
    return (void)len, d[0] >= 0x01 && d[0] <= 0x07; /* PDU types 1-7 */
}
/* SIP and RTSP: a first line that ends in the protocol's version (a request) or starts
 * with it (a response), complete in the packet. Before HTTP: "OPTIONS rtsp://cam RTSP/1.0"
 * starts like an HTTP request. Text starts with a capital letter. */
static inline int looks_sip(const uint8_t *d, uint32_t len)
{
    return d[0] >= 'A' && d[0] <= 'Z' && ext_first_line_is(d, len, "SIP/2.0") == 1;
}
static inline int looks_rtsp(const uint8_t *d, uint32_t len)
{
    return d[0] >= 'A' && d[0] <= 'Z' &&
           (ext_first_line_is(d, len, "RTSP/1.0") == 1 ||
            ext_first_line_is(d, len, "RTSP/2.0") == 1);
}
static inline int looks_http(const uint8_t *d, uint32_t len)
{
    return starts_with(d, len, "GET ") || starts_with(d, len, "POST ") ||
           starts_with(d, len, "HEAD ") || starts_with(d, len, "PUT ") ||
           starts_with(d, len, "HTTP/1.") || starts_with(d, len, "OPTIONS ") ||
           starts_with(d, len, "DELETE ") || starts_with(d, len, "NOTIFY ") ||
           starts_with(d, len, "M-SEARCH ");
}
static inline int looks_xml(const uint8_t *d, uint32_t len)
{
    return (void)len, d[0] == '<' || d[0] == 0xef; /* maybe after a UTF-8 byte order mark */
}

/* Issue 14's protocols; each extractor decides, these only pick who looks. */
static inline int looks_ssh(const uint8_t *d, uint32_t len) { return starts_with(d, len, "SSH-"); }
static inline int looks_rfb(const uint8_t *d, uint32_t len) { return starts_with(d, len, "RFB "); }
static inline int looks_tpkt(const uint8_t *d, uint32_t len)
{
    return len >= 11 && d[0] == 3 && d[1] == 0; /* TPKT version 3 (RDP, also ISO-TSAP) */
}
static inline int looks_netbios(const uint8_t *d, uint32_t len)
{
    /* a NetBIOS session message holding an SMB header, or a session request (port 139) */
    return len >= 8 && ((d[0] == 0 && (d[4] == 0xff || d[4] == 0xfe || d[4] == 0xfd) &&
                         !memcmp(d + 5, "SMB", 3)) ||
                        (d[0] == 0x81 && d[1] == 0 && ext_get16(d + 2) == 68));
}
static inline int looks_ftp(const uint8_t *d, uint32_t len)
{
    /* a reply ("220 ", "220-") or a command word (3-4 letters, then a space or CR) */
    if (len >= 4 && d[0] >= '1' && d[0] <= '5' && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' &&
        d[2] <= '9')
        return d[3] == ' ' || d[3] == '-';
    uint32_t i = 0;
    while (i < len && i < 4 && ((d[i] | 0x20) >= 'a' && (d[i] | 0x20) <= 'z'))
        i++;
    return i >= 3 && i < len && (d[i] == ' ' || d[i] == '\r');
}
static inline int looks_telnet(const uint8_t *d, uint32_t len)
{
    return len >= 3 && d[0] == 0xff && d[1] >= 250 && d[1] <= 254; /* IAC SB/WILL/.../DONT */
}

static inline int port_is(const struct packet *p, uint16_t port)
{
    return p->sport == port || p->dport == port;
}

enum extract_result extract_l2(const struct packet *p, struct extract_ctx *x, uint8_t *service)
{
    if (!p->l2_payload)
        return EXTRACT_NOT_MINE;
#define L2_ROW(type, label, read)                                                         \
    if (p->l2_type == (type)) {                                                           \
        *service = (label);                                                               \
        return read(p->l2_payload, p->l2_caplen, x);                                      \
    }
    L2_TABLE(L2_ROW)
#undef L2_ROW
    return EXTRACT_NOT_MINE;
}

enum extract_result extract_ip(const struct packet *p, struct extract_ctx *x, uint8_t *service)
{
    const uint8_t *d = p->payload;
    uint32_t n = p->payload_caplen;
    if (!d || !n)
        return EXTRACT_NOT_MINE;
    x->server_port = x->responder ? p->sport : p->dport;
    if (p->proto == PROTO_UDP) {
#define UDP_ROW(port, other, label, read)                                                 \
    if (port_is(p, (port)) || port_is(p, (other))) {                                      \
        *service = (label);                                                               \
        return read(d, n, x);                                                             \
    }
        UDP_TABLE(UDP_ROW)
#undef UDP_ROW
        return EXTRACT_NOT_MINE;
    }
    if (p->proto != PROTO_TCP)
        return EXTRACT_NOT_MINE;
    enum extract_result r;
#define TCP_ROW(looks, port, other, read_unframed, label, read)                           \
    {                                                                                     \
        int claimed = (port) && (port_is(p, (port)) || port_is(p, (other)));              \
        r = looks(d, n) || (claimed && (read_unframed)) ? read(d, n, x) : EXTRACT_NOT_MINE; \
        if (r == EXTRACT_NOT_MINE && claimed)                                             \
            r = EXTRACT_MALFORMED;                                                        \
        if (r != EXTRACT_NOT_MINE) {                                                      \
            *service = (label);                                                           \
            return r;                                                                     \
        }                                                                                 \
    }
    TCP_TABLE(TCP_ROW)
#undef TCP_ROW
    return EXTRACT_NOT_MINE;
}

void extract_later(const struct packet *p, struct extract_ctx *x, uint8_t service)
{
    if (service == SVC_INTELLIVUE)
        extract_intellivue_model(p->payload, p->payload_caplen, x);
}

enum extract_result extract_early(uint8_t service, const uint8_t *d, uint32_t len,
                                  struct extract_ctx *x)
{
#define EARLY_ROW(label, read)                                                            \
    if (service == (label))                                                               \
        return read(d, len, x);
    EARLY_TABLE(EARLY_ROW)
#undef EARLY_ROW
    return EXTRACT_NOT_MINE;
}
