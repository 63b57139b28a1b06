/*
 * server_names.h: the last name the sensor saw for a server address, so that a flow's
 * record can say whom its responder was for the client (issue 14: allowlists name
 * destinations the way MUD does). Filled by the extractors through the fingerprint sink
 * (fp_name_server): a DNS answer's A/AAAA records name their addresses with the question's
 * name, a TLS ClientHello's SNI and an HTTP request's Host name the address they were
 * sent to. Read when a flow record is emitted (flowtable.c), for the responder's address.
 *
 * Fixed size (min(SERVER_NAMES_MAX, max_flows) entries), allocated once, chained under
 * its own SipHash key (the names and addresses are the network's choice). When full, the
 * oldest entry made gives its place to the new one (counted: server_names_replaced), so a
 * long-running sensor keeps the recent names and a flood of answers cannot grow memory.
 */
#ifndef IOMT_SERVER_NAMES_H
#define IOMT_SERVER_NAMES_H

#include <stddef.h>
#include <stdint.h>

#define SERVER_NAMES_MAX 4096
#define SERVER_NAME_LEN 253 /* the longest DNS name in text */

struct server_names;

/* NULL when out of memory. capacity >= 1; `replaced` is the owner's counter. */
struct server_names *server_names_new(uint32_t capacity, uint64_t *replaced);
void server_names_free(struct server_names *t);
/* Remember `name` (len bytes, as seen) for the address (family 4 or 6; addr holds 4 or 16
 * bytes). A name that is not a host name (empty, too long, a byte outside '!'..'~') is
 * ignored; it is kept lower-cased, without a trailing dot or an HTTP Host's ":port". */
void server_names_put(struct server_names *t, int family, const uint8_t *addr,
                      const uint8_t *name, size_t len);
/* The name for the address, NUL-terminated, or NULL when none is known. */
const char *server_names_get(const struct server_names *t, int family, const uint8_t *addr);
size_t server_names_bytes(const struct server_names *t);

#endif
