/*
 * extract_http_auth.c: HTTP Basic authentication seen (RFC 7617): a password sent in
 * base64, readable by anyone on the path unless the connection is TLS. A browser asks
 * without credentials, gets a 401 with the challenge, and retries on the same
 * connection: so the first 4 KiB of each direction of an HTTP flow are read
 * (DEVICES_EARLY_MESSAGES), each payload that starts an HTTP message.
 *
 * Read: header names; the first word (the scheme) of two headers:
 *   a response's WWW-Authenticate: Basic ...  -> `http_basic_auth` "offered" (server)
 *   a request's Authorization: Basic ...      -> `http_basic_auth` "sent" (client)
 * Never read: the credentials after the scheme (base64 user:password), the realm, any
 * other header's value, the body.
 */
#include <string.h>
#include <strings.h>

#include "extract.h"

/* value (after the colon) starts, after spaces, with the scheme "Basic" as a word */
static int scheme_is_basic(const uint8_t *v, uint32_t n)
{
    uint32_t i = 0;
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    return n - i >= 5 && !strncasecmp((const char *)v + i, "Basic", 5) &&
           (n - i == 5 || v[i + 5] == ' ' || v[i + 5] == ',');
}

void ext_http_basic_auth(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    int response = len >= 7 && !memcmp(d, "HTTP/1.", 7);
    /* A challenge comes with a 401 only (RFC 9110 11.6.1): other responses not scanned. */
    if (response && (len < 12 || memcmp(d + 8, " 401", 4)))
        return;
    const char *name = response ? "WWW-Authenticate" : "Authorization";
    size_t name_len = strlen(name);
    const uint8_t *end_of_data = d + len;
    const uint8_t *line = memchr(d, '\n', len); /* past the request or status line */
    /* Every header line: a server may send several challenges, Basic not the first.
     * memchr finds line ends (vectorised); a line is compared only when its first
     * letter matches (this runs on every HTTP message of a flow's first 4 KiB). */
    while (line && ++line < end_of_data) {
        const uint8_t *eol = memchr(line, '\n', (size_t)(end_of_data - line));
        if (!eol)
            return; /* cut short */
        uint32_t n = (uint32_t)(eol - line);
        if (n && line[n - 1] == '\r')
            n--;
        if (!n)
            return; /* the blank line: the body follows, never read */
        if ((line[0] | 0x20) == (name[0] | 0x20) && n > name_len && line[name_len] == ':' &&
            !strncasecmp((const char *)line, name, name_len) &&
            scheme_is_basic(line + name_len + 1, n - (uint32_t)name_len - 1)) {
            const char *fact = response ? "offered" : "sent";
            fp_emit(x->sink, FP_HTTP_BASIC_AUTH, (const uint8_t *)fact, strlen(fact));
            return;
        }
        line = eol;
    }
}

/* Does d start an HTTP/1.x message: a status line, or a request line "METHOD SP"? */
static int starts_message(const uint8_t *d, uint32_t len)
{
    if (len >= 7 && !memcmp(d, "HTTP/1.", 7))
        return 1;
    uint32_t i = 0;
    while (i < len && i < 16 && d[i] >= 'A' && d[i] <= 'Z')
        i++;
    return i >= 3 && i < len && d[i] == ' ';
}

enum extract_result extract_http_auth(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    if (!starts_message(d, len))
        return EXTRACT_NOT_MINE; /* a body's next segment: not read */
    ext_http_basic_auth(d, len, x);
    return EXTRACT_OK;
}
