/*
 * extract_http.c: HTTP/1.x (the first request's User-Agent, a response's Server) and
 * SSDP over UDP 1900 (the SERVER header of NOTIFY and search responses); the header-line
 * reader that SIP and RTSP share (ext_header_value, ext_software_header).
 *
 * Only header lines before the blank line are read; a body is never looked at. A header
 * whose line does not end inside the captured bytes is not taken (partial).
 * Never read: the URL, any header other than User-Agent / Server (SSDP: SERVER), the body.
 */
#include <string.h>
#include <strings.h>

#include "extract.h"

int ext_header_value(const uint8_t *d, uint32_t len, const char *name, const uint8_t **value,
                     uint32_t *value_len)
{
    size_t name_len = strlen(name);
    uint32_t line = 0;
    /* skip the request / status line */
    while (line < len && d[line] != '\n')
        line++;
    line++;
    while (line < len) {
        uint32_t eol = line;
        while (eol < len && d[eol] != '\n')
            eol++;
        if (eol == len)
            return -1; /* this line is cut */
        uint32_t content_end = eol > line && d[eol - 1] == '\r' ? eol - 1 : eol;
        if (content_end == line)
            return 0; /* blank line: end of headers, the body follows (never read) */
        if (content_end - line > name_len && d[line + name_len] == ':' &&
            !strncasecmp((const char *)d + line, name, name_len)) {
            *value = d + line + name_len + 1;
            *value_len = content_end - (line + (uint32_t)name_len + 1);
            return 1;
        }
        line = eol + 1;
    }
    return -1;
}

enum extract_result extract_http(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    int response = len >= 7 && !memcmp(d, "HTTP/1.", 7);
    int found = ext_software_header(d, len, x, response, FP_HTTP_SERVER, FP_HTTP_USER_AGENT);
    const uint8_t *host;
    uint32_t host_len;
    if (!response && ext_header_value(d, len, "Host", &host, &host_len) == 1) {
        while (host_len && (*host == ' ' || *host == '\t')) {
            host++;
            host_len--;
        }
        while (host_len && (host[host_len - 1] == ' ' || host[host_len - 1] == '\t' ||
                            host[host_len - 1] == '\r'))
            host_len--;
        fp_name_receiver(x->sink, host, host_len); /* the flow's server name */
    }
    ext_http_basic_auth(d, len, x); /* extract_http_auth.c */
    return found < 0 ? EXTRACT_PARTIAL : EXTRACT_OK;
}

enum extract_result extract_ssdp(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    struct fp_sink *sink = x->sink;
    if (!(len >= 7 && (!memcmp(d, "NOTIFY ", 7) || !memcmp(d, "HTTP/1.", 7) ||
                       (len >= 9 && !memcmp(d, "M-SEARCH ", 9)))))
        return EXTRACT_MALFORMED;
    const uint8_t *v;
    uint32_t vlen;
    int found = ext_header_value(d, len, "SERVER", &v, &vlen);
    if (found == 1)
        fp_emit_trimmed(sink, sink->mac, FP_SSDP_SERVER, v, vlen);
    return found < 0 ? EXTRACT_PARTIAL : EXTRACT_OK;
}

int ext_software_header(const uint8_t *d, uint32_t len, struct extract_ctx *x, int response,
                        enum fp_kind server_kind, enum fp_kind agent_kind)
{
    struct fp_sink *sink = x->sink;
    const uint8_t *v;
    uint32_t vlen;
    int found = ext_header_value(d, len, response ? "Server" : "User-Agent", &v, &vlen);
    if (found == 1)
        fp_emit_trimmed(sink, sink->mac, response ? server_kind : agent_kind, v, vlen);
    return found;
}

int ext_first_line_is(const uint8_t *d, uint32_t len, const char *version)
{
    size_t n = strlen(version);
    if (len > n && !memcmp(d, version, n) && d[n] == ' ')
        return 1; /* a status line */
    uint32_t window = len < 512 ? len : 512;
    const uint8_t *eol = memchr(d, '\n', window);
    if (!eol)
        return -1;
    uint32_t end = (uint32_t)(eol - d);
    if (end && d[end - 1] == '\r')
        end--;
    /* a request line: METHOD SP URI SP version */
    return end > n && d[end - n - 1] == ' ' && !memcmp(d + end - n, version, n);
}

int ext_request_starts(const uint8_t *d, uint32_t len, const char *scheme)
{
    uint32_t i = 0;
    while (i < len && i < 16 && d[i] >= 'A' && d[i] <= 'Z')
        i++;
    size_t n = strlen(scheme);
    return i && i < len && d[i] == ' ' && len - i - 1 >= n &&
           !strncasecmp((const char *)d + i + 1, scheme, n);
}
