/*
 * extract_rtsp.c: RTSP (RFC 2326 / 7826), the control channel of cameras and video
 * encoders (TCP 554 and others, by content).
 *
 * Reads: a request's User-Agent header (rtsp_user_agent), a response's Server header
 * (rtsp_server), from the header lines of the first message of a flow direction.
 * Never read: the request URI (stream paths name rooms and cameras), Authorization,
 * Session, Transport, and the body (SDP).
 */
#include <string.h>

#include "extract.h"

enum extract_result extract_rtsp(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    int rtsp = ext_first_line_is(d, len, "RTSP/1.0");
    if (rtsp == 0)
        rtsp = ext_first_line_is(d, len, "RTSP/2.0");
    if (rtsp < 0) /* the first line is cut: partial only when it starts like RTSP's */
        return !memcmp(d, "RTSP/", len < 5 ? len : 5) || ext_request_starts(d, len, "rtsp")
                   ? EXTRACT_PARTIAL
                   : EXTRACT_NOT_MINE;
    if (rtsp == 0)
        return EXTRACT_NOT_MINE;
    int response = !memcmp(d, "RTSP/", 5);
    int found = ext_software_header(d, len, x, response, FP_RTSP_SERVER, FP_RTSP_USER_AGENT);
    return found < 0 ? EXTRACT_PARTIAL : EXTRACT_OK;
}
