/*
 * conn_state.h: a flow's history letters and TCP endpoint states, and the conn_state
 * they add up to, as Zeek's conn.log defines them (docs/flow-semantics.md). The
 * per-packet updates are inline here (they run for every TCP packet); the per-record
 * text is in conn_state.c.
 */
#ifndef IOMT_CONN_STATE_H
#define IOMT_CONN_STATE_H

#include "flowtable.h"

/* Per record: the history as Zeek's letters, and the conn_state. */
void history_text(uint64_t history, char *out); /* out: at least 17 bytes */
const char *tcp_conn_state(const struct flow_slot *s, int orig, const char *history);

/* Per packet. */
static inline int history_role_bit(int letter, int responder) { return letter + 7 * responder; }

static inline void history_add_code(struct flow_slot *s, unsigned code)
{
    /* At most 15 distinct letters exist ('^' and 7 per role), so 16 nibbles never fill. */
    unsigned used = s->history ? (unsigned)(64 - __builtin_clzll(s->history) + 3) / 4 : 0;
    if (used < 16)
        s->history |= (uint64_t)code << (4 * used);
}

static inline void history_add(struct flow_slot *s, int responder, int letter)
{
    uint16_t bit = (uint16_t)(1u << history_role_bit(letter, responder));
    if (s->history_seen & bit)
        return;
    s->history_seen |= bit;
    history_add_code(s, (unsigned)(2 + letter + 7 * responder));
}

static inline void tcp_endpoint_update(uint8_t state[2], int dir, uint8_t flags,
                                       uint32_t payload_len)
{
    uint8_t *self = &state[dir], *peer = &state[!dir];
    if (*self == TCP_RESET || *self == TCP_CLOSED) /* final for this endpoint */
        return;
    if (flags & TCP_RST) {
        *self = TCP_RESET;
    } else if (flags & TCP_FIN) {
        *self = TCP_CLOSED;
    } else if (flags & TCP_SYN) {
        if (*self == TCP_INACTIVE)
            *self = (flags & TCP_ACK) ? TCP_SYN_ACK_SENT : TCP_SYN_SENT;
    } else if ((flags & TCP_ACK) || payload_len > 0) {
        if (*self == TCP_SYN_SENT || *self == TCP_SYN_ACK_SENT) {
            *self = TCP_ESTABLISHED;
            if (*peer == TCP_SYN_SENT || *peer == TCP_SYN_ACK_SENT)
                *peer = TCP_ESTABLISHED;
        } else if (*self == TCP_INACTIVE) {
            *self = TCP_PARTIAL;
        }
    }
}

static inline void tcp_history_update(struct flow_slot *s, int responder, uint8_t flags,
                                      uint32_t payload_len)
{
    int syn = flags & TCP_SYN, ack = flags & TCP_ACK, fin = flags & TCP_FIN,
        rst = flags & TCP_RST;
    if (syn && !ack)
        history_add(s, responder, H_SYN);
    if (syn && ack)
        history_add(s, responder, H_SYNACK);
    if (syn && (fin || rst))
        history_add(s, responder, H_SYNFIN);
    if (payload_len > 0)
        history_add(s, responder, H_DATA);
    if (fin)
        history_add(s, responder, H_FIN);
    if (rst)
        history_add(s, responder, H_RST);
    if (ack && !syn && !fin && !rst && payload_len == 0)
        history_add(s, responder, H_ACK);
}

#endif
