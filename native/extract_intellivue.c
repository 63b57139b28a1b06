/*
 * extract_intellivue.c: Philips IntelliVue Data Export, as far as it identifies a monitor.
 *
 * A monitor announces itself with a Connect Indication, a UDP broadcast to port 24005:
 * a session header (SPpdu, session id 0xE100), then a ROSE invoke (ro_type 1) of an
 * event report. Data export itself runs on UDP 24105 (association 0x0D/0x0E session
 * PDUs, then 0xE100 data). Only the presence is sent ("connect-indication"); the
 * attribute lists (which carry bed labels and patient demographics) are never read.
 */
#include <string.h>

#include "extract.h"

enum extract_result extract_intellivue(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    struct fp_sink *sink = x->sink;
    if (len < 4)
        return EXTRACT_MALFORMED;
    if (d[0] == 0xe1 && d[1] == 0x00) {
        if (len >= 6 && d[4] == 0x00 && d[5] == 0x01) /* ROapdus ro_type ROIV_APDU */
            fp_emit(sink, FP_INTELLIVUE, (const uint8_t *)"connect-indication", 18);
        return EXTRACT_OK;
    }
    /* association control: session PDUs (connect 0x0D, accept 0x0E, release, abort) */
    if (d[0] >= 0x0d && d[0] <= 0x19 && len >= 2)
        return EXTRACT_OK;
    return EXTRACT_MALFORMED;
}
