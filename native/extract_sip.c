/*
 * extract_sip.c: SIP (RFC 3261) over UDP 5060 or TCP: what a phone, nurse-call station or
 * gateway says it is.
 *
 * Reads: a request's User-Agent header (sip_user_agent), a response's Server header
 * (sip_server), from the header lines of the first message of a flow direction.
 * Never read: the request URI, From, To, Contact, P-Asserted-Identity (names, extensions,
 * phone numbers), Via, Call-ID, Authorization, and the body (SDP).
 */
#include <string.h>

#include "extract.h"

enum extract_result extract_sip(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    int sip = ext_first_line_is(d, len, "SIP/2.0");
    if (sip < 0) /* the first line is cut: partial only when it starts like SIP's */
        return !memcmp(d, "SIP/2.0 ", len < 8 ? len : 8) || ext_request_starts(d, len, "sip")
                   ? EXTRACT_PARTIAL
                   : EXTRACT_NOT_MINE;
    if (sip == 0)
        return EXTRACT_NOT_MINE;
    int response = !memcmp(d, "SIP/2.0", 7);
    int found = ext_software_header(d, len, x, response, FP_SIP_SERVER, FP_SIP_USER_AGENT);
    return found < 0 ? EXTRACT_PARTIAL : EXTRACT_OK;
}
