/*
 * extract_ftp.c: the FTP control channel (RFC 959; AUTH TLS, RFC 4217). Labelled from a
 * server's 220 greeting that names FTP (on port 21, any 220 greeting), or a client's
 * AUTH TLS / AUTH SSL (on port 21 or after a greeting, any command). The first 4 KiB of
 * each direction are read (DEVICES_EARLY_MESSAGES), a line at a time from each payload's
 * start, for:
 *   a client's AUTH TLS / AUTH SSL            `ftp_auth_tls` "yes" (the client asked)
 *   a server's 234 reply (AUTH accepted)      `ftp_auth_tls` "yes" (the server does TLS)
 *   a client's USER command in clear          `ftp_cleartext_login` "yes"
 *   a server's 331 reply (password wanted)    `ftp_cleartext_login` "yes"
 * After AUTH TLS the channel is TLS: nothing in it looks like a command or reply.
 * Never read: the argument of any command (user names, PASS's password, paths), reply
 * texts (only the greeting's first line is searched for "FTP"), the data channels.
 */
#include <string.h>
#include <strings.h>

#include "engine.h" /* SVC_FTP: a flow already labelled by its greeting */
#include "extract.h"

static int is_reply(const uint8_t *d, uint32_t len, const char *code)
{
    return len >= 4 && !memcmp(d, code, 3) && (d[3] == ' ' || d[3] == '-');
}

/* A command word (case-insensitive) followed by a space or CR. */
static int is_command(const uint8_t *d, uint32_t len, const char *word)
{
    size_t n = strlen(word);
    return len > n && !strncasecmp((const char *)d, word, n) && (d[n] == ' ' || d[n] == '\r');
}

/* The greeting's first line mentions FTP (vsFTPd, ProFTPD, "Microsoft FTP Service"),
 * and is no SMTP greeting. */
static int greeting_names_ftp(const uint8_t *d, uint32_t len)
{
    uint32_t end = len < 256 ? len : 256;
    const uint8_t *eol = memchr(d, '\n', end);
    if (eol)
        end = (uint32_t)(eol - d);
    int ftp = 0;
    for (uint32_t i = 4; i + 3 <= end; i++) {
        if ((d[i] | 0x20) == 'f' && (d[i + 1] | 0x20) == 't' && (d[i + 2] | 0x20) == 'p') {
            if (i > 4 && (d[i - 1] | 0x20) == 's') /* "SMTP" has no "ftp"; "sftp" is ok */
                continue;
            ftp = 1;
        }
        if (i + 4 <= end && !strncasecmp((const char *)d + i, "smtp", 4))
            return 0;
    }
    return ftp;
}

static void emit_yes(struct fp_sink *sink, enum fp_kind kind)
{
    fp_emit(sink, kind, (const uint8_t *)"yes", 3);
}

enum extract_result extract_ftp(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    int known = x->service == SVC_FTP || x->server_port == 21;
    if (len >= 4 && d[0] >= '1' && d[0] <= '5' && (d[3] == ' ' || d[3] == '-')) {
        if (!x->responder)
            return EXTRACT_NOT_MINE; /* replies come from the server */
        if (is_reply(d, len, "220"))
            return known || greeting_names_ftp(d, len) ? EXTRACT_OK : EXTRACT_NOT_MINE;
        if (!known)
            return EXTRACT_NOT_MINE;
        if (is_reply(d, len, "234"))
            emit_yes(x->sink, FP_FTP_AUTH_TLS);
        else if (is_reply(d, len, "331"))
            emit_yes(x->sink, FP_FTP_CLEARTEXT_LOGIN);
        return EXTRACT_OK;
    }
    if (x->responder)
        return EXTRACT_NOT_MINE;
    if (is_command(d, len, "AUTH TLS") || is_command(d, len, "AUTH SSL")) {
        emit_yes(x->sink, FP_FTP_AUTH_TLS);
        return EXTRACT_OK;
    }
    if (!known)
        return EXTRACT_NOT_MINE;
    if (is_command(d, len, "USER"))
        emit_yes(x->sink, FP_FTP_CLEARTEXT_LOGIN);
    return EXTRACT_OK;
}
