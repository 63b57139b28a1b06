/*
 * conn_state.c: a flow's history and conn_state as text, once per record (the
 * per-packet updates are inline in conn_state.h).
 */
#include <string.h>

#include "conn_state.h"

static const char HISTORY_LETTERS[16] = " ^SHQDFRAshqdfra";

void history_text(uint64_t history, char *out)
{
    int n = 0;
    for (; history && n < 16; history >>= 4)
        out[n++] = HISTORY_LETTERS[history & 0xf];
    out[n] = '\0';
}

/* Zeek's RSTOS0 pattern ^\^?S[^HAFGIQ]*R over the history text. */
static int history_matches_rstos0(const char *h)
{
    if (*h == '^')
        h++;
    if (*h++ != 'S')
        return 0;
    for (; *h; h++) {
        if (*h == 'R')
            return 1;
        if (strchr("HAFGIQ", *h))
            return 0;
    }
    return 0;
}

const char *tcp_conn_state(const struct flow_slot *s, int orig, const char *history)
{
    uint8_t os = s->tcp_state[orig], rs = s->tcp_state[!orig];
    int os_quiet = os == TCP_INACTIVE || os == TCP_PARTIAL;
    int rs_quiet = rs == TCP_INACTIVE || rs == TCP_PARTIAL;
    if (rs == TCP_RESET) {
        /* "payload counters" are over the flow's life, like conn_state itself. */
        int no_payload = !(s->bits & (FLOW_PAYLOAD_0 | FLOW_PAYLOAD_1));
        if (os == TCP_SYN_SENT || os == TCP_SYN_ACK_SENT || (os == TCP_RESET && no_payload))
            return "REJ";
        return os_quiet ? "RSTRH" : "RSTR";
    }
    if (os == TCP_RESET) {
        if (rs_quiet)
            return history_matches_rstos0(history) ? "RSTOS0" : "OTH";
        return "RSTO";
    }
    if (os == TCP_CLOSED && rs == TCP_CLOSED)
        return "SF";
    if (os == TCP_CLOSED)
        return rs_quiet ? "SH" : "S2";
    if (rs == TCP_CLOSED)
        return os_quiet ? "SHR" : "S3";
    if (os == TCP_SYN_SENT && rs == TCP_INACTIVE)
        return "S0";
    if (os == TCP_ESTABLISHED && rs == TCP_ESTABLISHED)
        return "S1";
    return "OTH";
}

