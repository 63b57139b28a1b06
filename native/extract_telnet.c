/*
 * extract_telnet.c: telnet (RFC 854), a clear-text login. Labelled from option
 * negotiation (IAC followed by SB, WILL, WONT, DO or DONT) on any port, and on port 23
 * also from text (a login prompt sent without negotiation).
 *
 * Read: the first two or three bytes of a direction's first payload, only to recognise
 * it. Nothing is emitted: the label is the fact.
 * Never read: every byte after them (the terminal session: login names, passwords,
 * screens), and no later payload.
 */
#include "extract.h"

#define IAC 0xff

enum extract_result extract_telnet(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    if (len >= 3 && d[0] == IAC && d[1] >= 250 && d[1] <= 254)
        return EXTRACT_OK;
    if (x->server_port != 23)
        return EXTRACT_NOT_MINE;
    /* text: a printable character, or CR / LF first (a prompt after a blank line) */
    return (d[0] >= 0x20 && d[0] < 0x7f) || d[0] == '\r' || d[0] == '\n' ? EXTRACT_OK
                                                                         : EXTRACT_NOT_MINE;
}
