/*
 * extract_vnc.c: VNC's RFB handshake (RFC 6143 7.1). Each side starts with the 12-byte
 * version "RFB 003.008\n" (labels the flow). The message after it, at byte 12 of each
 * direction (DEVICES_EARLY_MESSAGES), is the security handshake:
 *   server, RFB 3.7+: a count and that many security types
 *                                     -> `vnc_security` on the server ("none,vnc-auth")
 *   server, RFB 3.3: a 4-byte type   -> `vnc_security` on the server
 *   client, RFB 3.7+: the one type it chose
 *                                     -> `vnc_security_chosen` on the client
 * Types by name: none (1), vnc-auth (2, a DES challenge: no TLS), ra2, ra2ne, tight,
 * ultra, tls (18), vencrypt (19), sasl, md5, xvp, apple-ard; others by number. A server
 * offering none or vnc-auth without tls/vencrypt can be controlled without TLS.
 * Never read: anything else, at any other offset: the VNC authentication challenge and
 * the response derived from the password, the client's and server's init messages (the
 * desktop name), the screen and the keystrokes.
 */
#include <stdio.h>
#include <string.h>

#include "extract.h"

#define RFB_VERSION_LEN 12

static const char *type_name(uint8_t type)
{
    switch (type) {
    case 1: return "none";
    case 2: return "vnc-auth";
    case 5: return "ra2";
    case 6: return "ra2ne";
    case 16: return "tight";
    case 17: return "ultra";
    case 18: return "tls";
    case 19: return "vencrypt";
    case 20: return "sasl";
    case 21: return "md5";
    case 22: return "xvp";
    case 30: return "apple-ard";
    default: return NULL;
    }
}

/* Append type's name (or number) to a comma-separated list at out, n bytes so far, when
 * it fits in FP_VALUE_MAX; 0 when it does not. */
static int append_type(char *out, size_t *n, uint8_t type)
{
    char number[4];
    const char *name = type_name(type);
    if (!name) {
        snprintf(number, sizeof number, "%u", (unsigned)type);
        name = number;
    }
    size_t k = strlen(name);
    if (*n + k + 1 > FP_VALUE_MAX)
        return 0;
    if (*n)
        out[(*n)++] = ',';
    memcpy(out + *n, name, k);
    *n += k;
    return 1;
}

/* The server's security message at d[0..len). */
static enum extract_result server_security(const uint8_t *d, uint32_t len,
                                           struct extract_ctx *x)
{
    char list[FP_VALUE_MAX];
    size_t n = 0;
    if (len == 4 && d[0] == 0 && d[1] == 0 && d[2] == 0) { /* RFB 3.3: the server decides */
        if (d[3] == 0)
            return EXTRACT_OK; /* connection failed */
        append_type(list, &n, d[3]);
    } else {
        uint32_t count = d[0];
        if (count == 0)
            return EXTRACT_OK; /* failed: a reason follows (not read) */
        if (1 + count > len)
            return EXTRACT_PARTIAL;
        for (uint32_t i = 1; i <= count; i++)
            if (!d[i] || !append_type(list, &n, d[i]))
                return EXTRACT_MALFORMED; /* type 0 is invalid; 255 types do not fit */
    }
    fp_emit(x->sink, FP_VNC_SECURITY, (const uint8_t *)list, n);
    return EXTRACT_OK;
}

static int is_version(const uint8_t *d, uint32_t len)
{
    return len >= RFB_VERSION_LEN && !memcmp(d, "RFB ", 4) && d[7] == '.' &&
           d[RFB_VERSION_LEN - 1] == '\n';
}

enum extract_result extract_vnc(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    if (x->stream_offset == 0) {
        if (!is_version(d, len))
            return len < RFB_VERSION_LEN && !memcmp(d, "RFB ", len < 4 ? len : 4)
                       ? EXTRACT_PARTIAL
                       : EXTRACT_NOT_MINE;
        /* a server that sent its security message in the same segment */
        if (x->responder && len > RFB_VERSION_LEN)
            server_security(d + RFB_VERSION_LEN, len - RFB_VERSION_LEN, x);
        return EXTRACT_OK;
    }
    if (x->stream_offset != RFB_VERSION_LEN)
        return EXTRACT_NOT_MINE; /* every later message: never read */
    if (x->responder)
        return server_security(d, len, x);
    if (len != 1) /* 3.3 has no choice: a 16-byte message here is a password's response */
        return EXTRACT_NOT_MINE;
    char one[FP_VALUE_MAX];
    size_t n = 0;
    append_type(one, &n, d[0]);
    fp_emit(x->sink, FP_VNC_SECURITY_CHOSEN, (const uint8_t *)one, n);
    return EXTRACT_OK;
}
