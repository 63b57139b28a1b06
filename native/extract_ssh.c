/*
 * extract_ssh.c: the SSH identification line each side sends first (RFC 4253 4.2),
 * "SSH-protoversion-softwareversion [SP comments]" CR LF, at most 255 bytes.
 *
 * Read: that line, as the sender's `ssh_banner` ("SSH-2.0-OpenSSH_9.2p1 Debian-2"): the
 * implementation and version to match advisories against, and protocol 1 ("SSH-1.5-").
 * Never read: anything after the line (the key exchange and everything encrypted after
 * it, where logins and passwords travel).
 */
#include <string.h>

#include "extract.h"

#define SSH_LINE_MAX 255

enum extract_result extract_ssh(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    if (len < 8 || memcmp(d, "SSH-", 4) || d[4] < '1' || d[4] > '2' || d[5] != '.')
        return EXTRACT_NOT_MINE;
    uint32_t window = len < SSH_LINE_MAX ? len : SSH_LINE_MAX;
    const uint8_t *eol = memchr(d, '\n', window);
    if (!eol)
        return len < SSH_LINE_MAX ? EXTRACT_PARTIAL : EXTRACT_MALFORMED;
    uint32_t end = (uint32_t)(eol - d);
    if (end && d[end - 1] == '\r')
        end--;
    const uint8_t *dash = memchr(d + 4, '-', end - 4); /* ends the protocol version */
    if (!dash || dash == d + end - 1)
        return EXTRACT_MALFORMED;
    for (uint32_t i = 0; i < end; i++)
        if (d[i] < 0x20 || d[i] > 0x7e) /* US-ASCII printable only (RFC 4253) */
            return EXTRACT_MALFORMED;
    fp_emit_trimmed(x->sink, x->sink->mac, FP_SSH_BANNER, d, end);
    return EXTRACT_OK;
}
