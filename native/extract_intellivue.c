/*
 * extract_intellivue.c: Philips IntelliVue Data Export, as far as it identifies a monitor.
 *
 * A monitor announces itself with a Connect Indication, a UDP broadcast to port 24005:
 * a session header (SPpdu, session id 0xE100), then a ROSE invoke (ro_type 1) of an
 * event report. Data export itself runs on UDP 24105 (association 0x0D/0x0E session
 * PDUs, then 0xE100 data). Sent: the presence ("connect-indication"), and from the MDS
 * Create event report a monitor sends after its association (a later message of the
 * 24105 flow, extract_intellivue_model), the model number of its NOM_ATTR_ID_MODEL
 * attribute (intellivue_model, "M8007A").
 * Never read: any other attribute (NOM_ATTR_ID_BED_LABEL: bed labels; NOM_ATTR_ID_PROD_SPECN:
 * serial numbers; NOM_ATTR_SYS_ID ...), the manufacturer string, the connect indication's
 * attribute list, and every other message (polls and their results carry patient
 * demographics and measurements).
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

/* An MDS Create event report, after the session header (0xE100, context id), the ROSE
 * invoke (ro_type 1, length), its command (invoke id, command type, length) and the
 * event report's header (object class, context, handle, time, event type, length): the
 * MDS object id, then the attribute list (count, length, {id, length, value} ...). */
#define ROIV_APDU 1
#define NOM_NOTI_MDS_CREAT 0x0d06
#define NOM_ATTR_ID_MODEL 0x0928
#define MDS_ATTRS 38 /* 4 session + 4 ROSE + 6 command + 14 event header + 6 object + 4 list */
#define MAX_ATTRS 64

void extract_intellivue_model(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    if (len < MDS_ATTRS || d[0] != 0xe1 || d[1] != 0x00 || ext_get16(d + 4) != ROIV_APDU ||
        ext_get16(d + 10) > 1 /* (confirmed) event report */ ||
        ext_get16(d + 24) != NOM_NOTI_MDS_CREAT)
        return;
    uint32_t count = ext_get16(d + 34), off = MDS_ATTRS;
    uint32_t end = MDS_ATTRS + ext_get16(d + 36);
    if (end > len)
        end = len; /* cut by the packet: the attributes that lie inside it */
    for (uint32_t i = 0; i < count && i < MAX_ATTRS && off + 4 <= end; i++) {
        uint16_t id = ext_get16(d + off), alen = ext_get16(d + off + 2);
        const uint8_t *v = d + off + 4;
        if (off + 4u + alen > end)
            return;
        if (id == NOM_ATTR_ID_MODEL && alen >= 4) {
            /* SystemModel: manufacturer, model number; each a length and its bytes */
            uint32_t mlen = ext_get16(v);
            if (2u + mlen + 2u > alen)
                return;
            const uint8_t *model = v + 2 + mlen + 2;
            uint32_t model_len = ext_get16(v + 2 + mlen);
            if (2u + mlen + 2u + model_len > alen)
                return;
            fp_emit_trimmed(x->sink, x->sink->mac, FP_INTELLIVUE_MODEL, model, model_len);
            return;
        }
        off += 4u + alen;
    }
}
