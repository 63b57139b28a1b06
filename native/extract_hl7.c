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

/* The allowlisted fields of the MSH at d (after the optional 0x0B); up to MSH-last_field. */
static enum extract_result read_msh(const uint8_t *d, uint32_t len, int last_field,
                                    struct fp_sink *sink);

enum extract_result extract_hl7(const uint8_t *d, uint32_t len, struct fp_sink *sink)
{
    return read_msh(d, len, 12, sink);
}

void extract_hl7_message_type(const uint8_t *d, uint32_t len, struct fp_sink *sink)
{
    read_msh(d, len, 9, sink);
}

static enum extract_result read_msh(const uint8_t *d, uint32_t len, int last_field,
                                    struct fp_sink *sink)
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
    /* The MSH segment: up to CR (or the MLLP end 0x1C), inside the captured bytes and
     * MSH_MAX_BYTES; when only the fields up to MSH-last_field are wanted, up to the
     * separator after it. memchr finds the ends; one branch-free pass checks the text. */
    uint32_t seg = start + 4;
    uint32_t limit = len - start < MSH_MAX_BYTES ? len : start + MSH_MAX_BYTES;
    const uint8_t *cr = memchr(d + seg, '\r', limit - seg);
    uint32_t end = cr ? (uint32_t)(cr - d) : limit;
    const uint8_t *fs = memchr(d + seg, 0x1c, end - seg);
    if (fs)
        end = (uint32_t)(fs - d);
    if (last_field < 12) { /* stop at the separator after MSH-last_field */
        uint32_t at = seg;
        for (int field = 2; field <= last_field && at < end; field++) {
            const uint8_t *next = memchr(d + at, sep, end - at);
            if (!next)
                break;
            at = (uint32_t)(next - d) + (field < last_field);
            if (field == last_field)
                end = at;
        }
    }
    unsigned bad = 0;
    for (uint32_t i = seg; i < end; i++)
        bad |= (d[i] < 0x20) & (d[i] != '\t');
    if (bad)
        return EXTRACT_MALFORMED; /* binary garbage in a text segment */
    int cut = end == len;
    if (!cut && end == limit && !(last_field < 12 && d[end] == sep))
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
    for (int msh = 2; msh <= last_field && field_start <= end; msh++) {
        const uint8_t *next = memchr(d + field_start, sep, end - field_start);
        if (!next && cut)
            break; /* this field may go on in the next packet: not taken */
        const uint8_t *v = d + field_start;
        size_t vlen = (next ? (uint32_t)(next - d) : end) - field_start;
        /* MSH-7 and MSH-10 are never looked at: the switch lists the allowed fields. */
        switch (msh) {
        case 9: { /* type^event: the first two components */
            const uint8_t *first = memchr(v, component, vlen);
            const uint8_t *second =
                first ? memchr(first + 1, component, vlen - (size_t)(first + 1 - v)) : NULL;
            if (second)
                vlen = (size_t)(second - v);
        }
            /* fall through */
        case 3:
        case 4:
        case 5:
        case 6:
        case 11:
        case 12:
            if (msh == 9 || last_field == 12)
                fp_emit_trimmed(sink, sink->mac, KIND_OF_FIELD[msh], v, vlen);
            break;
        default:
            break;
        }
        if (!next)
            break;
        field_start = (uint32_t)(next - d) + 1;
    }
    return cut ? EXTRACT_PARTIAL : EXTRACT_OK;
}
