/*
 * extract_hl7.c: HL7 v2 over MLLP: the MSH segment's allowlisted fields only.
 *
 * Frame: 0x0B, the message, 0x1C 0x0D; segments end with CR. MSH-1 is the field
 * separator itself, so after "MSH" + separator the n-th field is MSH-(n+1). Sent:
 * MSH-3, 4, 5, 6 (applications, facilities), MSH-9 (type^event: its first two
 * components), MSH-11 (processing id), MSH-12 (version). Never MSH-7 (time), MSH-10
 * (control id), nor any byte after the MSH segment's CR: PID, PV1, OBX ... carry names,
 * record numbers, birth dates and results.
 *
 * The whole MSH segment is checked (printable text, a sane separator) before anything
 * is sent; a segment cut short by segmentation gives only the fields that end inside
 * the packet (partial). No MSH after 0x0B, or binary bytes, is malformed: nothing sent.
 */
#include <string.h>

#include "engine.h"

#define MSH_MAX_BYTES 1024 /* an MSH longer than this is not believed */

enum extract_result extract_hl7(const uint8_t *d, uint32_t len, struct fp_sink *sink)
{
    uint32_t start = len && d[0] == 0x0b ? 1 : 0;
    if (len < start + 8)
        return start && len >= 1 ? EXTRACT_PARTIAL : EXTRACT_NOT_MINE;
    if (memcmp(d + start, "MSH", 3) != 0)
        return start ? EXTRACT_MALFORMED : EXTRACT_NOT_MINE;
    uint8_t sep = d[start + 3];
    if (sep < 0x21 || sep > 0x7e || (sep >= '0' && sep <= '9') || (sep >= 'A' && sep <= 'Z') ||
        (sep >= 'a' && sep <= 'z'))
        return EXTRACT_MALFORMED;
    /* The MSH segment: up to CR (or the MLLP end 0x1C), inside the captured bytes. */
    uint32_t seg = start + 4, end = seg;
    while (end < len && d[end] != '\r' && d[end] != 0x1c && end - start < MSH_MAX_BYTES) {
        if (d[end] < 0x20 && d[end] != '\t')
            return EXTRACT_MALFORMED; /* binary garbage in a text segment */
        end++;
    }
    int cut = end == len;
    if (!cut && d[end] != '\r' && d[end] != 0x1c)
        return EXTRACT_MALFORMED; /* longer than any real MSH */
    /* fields[i] = MSH-(i+2): MSH-2 encoding characters first. */
    enum { FIELDS = 11 };
    static const enum fp_kind KIND_OF_FIELD[FIELDS + 2] = {
        [3] = FP_HL7_SENDING_APP,   [4] = FP_HL7_SENDING_FACILITY,
        [5] = FP_HL7_RECEIVING_APP, [6] = FP_HL7_RECEIVING_FACILITY,
        [9] = FP_HL7_MESSAGE_TYPE,  [11] = FP_HL7_PROCESSING_ID,
        [12] = FP_HL7_VERSION,
    };
    uint8_t component = d[start + 4] != sep ? d[start + 4] : '^';
    uint32_t field_start = seg;
    int msh = 2;
    for (uint32_t i = seg; i <= end && msh <= 12; i++) {
        int at_end = i == end;
        if (!at_end && d[i] != sep)
            continue;
        if (at_end && cut)
            break; /* this field may go on in the next packet: not taken */
        const uint8_t *v = d + field_start;
        size_t vlen = i - field_start;
        /* MSH-7 and MSH-10 are never looked at: their kinds stay unset (0 is DHCP's
         * parameter list, so the switch below lists the allowed fields explicitly). */
        switch (msh) {
        case 9: { /* type^event: the first two components */
            int comps = 0;
            for (size_t k = 0; k < vlen; k++)
                if (v[k] == component && ++comps == 2) {
                    vlen = k;
                    break;
                }
        }
            /* fall through */
        case 3:
        case 4:
        case 5:
        case 6:
        case 11:
        case 12:
            fp_emit_trimmed(sink, sink->mac, KIND_OF_FIELD[msh], v, vlen);
            break;
        default:
            break;
        }
        msh++;
        field_start = i + 1;
    }
    return cut ? EXTRACT_PARTIAL : EXTRACT_OK;
}
