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
 * Never read: MSH-7 (time), MSH-8 (security), MSH-10 (control id), MSH-13 on, and every
 * segment after MSH.
 */
#include <string.h>

#include "extract.h"

#define MSH_MAX_BYTES 1024 /* an MSH longer than this is not believed */

/* The allowlisted fields of the MSH at d (after the optional 0x0B); up to MSH-last_field. */
static enum extract_result read_msh(const uint8_t *d, uint32_t len, int last_field,
                                    struct fp_sink *sink);

enum extract_result extract_hl7(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    return read_msh(d, len, 12, x->sink);
}

void extract_hl7_message_type(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    read_msh(d, len, 9, x->sink);
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
     * separator after it. One pass finds the end and the separators of the wanted
     * fields, and refuses a control byte (tab allowed) before the end. */
    uint32_t seg = start + 4;
    uint32_t limit = len - start < MSH_MAX_BYTES ? len : start + MSH_MAX_BYTES;
    unsigned want = last_field < 12 ? (unsigned)last_field - 1 : 11; /* separators noted */
    uint32_t seps[11];
    unsigned n_seps = 0;
    uint32_t end = limit;
    uint32_t i = seg;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Eight bytes a step: a word without a separator or control byte is passed at once,
     * the others are looked at byte by byte where they have one (exact per byte). */
    const uint64_t ones = 0x0101010101010101ULL, lows = 0x7f7f7f7f7f7f7f7fULL;
    const uint64_t seps8 = sep * ones;
    for (; i + 8 <= limit; i += 8) {
        uint64_t x;
        memcpy(&x, d + i, 8);
        uint64_t y = x ^ seps8;
        uint64_t at = ~((((x & lows) + 0x6060606060606060ULL) | x | lows) & /* < 0x20 */
                        (((y & lows) + lows) | y | lows));                  /* == sep */
        while (at) {
            uint32_t k = i + ((uint32_t)__builtin_ctzll(at) >> 3);
            uint8_t c = d[k];
            if (c == sep) {
                if (n_seps < want) {
                    seps[n_seps++] = k;
                    if (n_seps == want && last_field < 12) {
                        end = k;
                        goto scanned;
                    }
                }
            } else if (c == '\r' || c == 0x1c) {
                end = k;
                goto scanned;
            } else if (c != '\t') {
                return EXTRACT_MALFORMED; /* binary garbage in a text segment */
            }
            at &= at - 1;
        }
    }
#endif
    for (; i < limit; i++) {
        uint8_t c = d[i];
        if (c == sep) {
            if (n_seps < want) {
                seps[n_seps++] = i;
                if (n_seps == want && last_field < 12) {
                    end = i;
                    break;
                }
            }
        } else if (c < 0x20) {
            if (c == '\r' || c == 0x1c) {
                end = i;
                break;
            }
            if (c != '\t')
                return EXTRACT_MALFORMED; /* binary garbage in a text segment */
        }
    }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
scanned:;
#endif
    int cut = end == len;
    if (!cut && end == limit && !(last_field < 12 && d[end] == sep))
        return EXTRACT_MALFORMED; /* longer than any real MSH */
    /* The allowlist: MSH-3, 4, 5, 6, 9, 11, 12 (MSH-9 alone for a later message). MSH-7
     * and MSH-10 are never looked at. MSH-k lies between separators k-3 and k-2 (MSH-2
     * starts the segment); the field after the last separator runs to the end, unless
     * the packet cut it (it may go on in the next packet: not taken), and no field after
     * it exists. */
    static const struct {
        uint8_t msh;
        uint8_t kind;
    } ALLOWED[] = {
        {3, FP_HL7_SENDING_APP},   {4, FP_HL7_SENDING_FACILITY}, {5, FP_HL7_RECEIVING_APP},
        {6, FP_HL7_RECEIVING_FACILITY}, {9, FP_HL7_MESSAGE_TYPE}, {11, FP_HL7_PROCESSING_ID},
        {12, FP_HL7_VERSION},
    };
    uint8_t component = d[start + 4] != sep ? d[start + 4] : '^';
    /* MSH-9 up to its second component: type^event. */
    const uint8_t *v9 = NULL;
    size_t len9 = 0;
    if (n_seps > 7 || (n_seps == 7 && !cut)) {
        v9 = d + seps[6] + 1;
        len9 = (n_seps > 7 ? seps[7] : end) - (seps[6] + 1);
        const uint8_t *c1 = memchr(v9, component, len9);
        const uint8_t *c2 = c1 ? memchr(c1 + 1, component, len9 - (size_t)(c1 + 1 - v9)) : NULL;
        if (c2)
            len9 = (size_t)(c2 - v9);
    }
    /* A whole header (all seven fields) is one fingerprint set: MSH-3..6 and MSH-11..12
     * are each one run of bytes between separators. A device sends the same header on
     * every message: when its entry has all of it already, nothing is sent again. */
    int whole = last_field == 12 && (n_seps > 10 || (n_seps == 10 && !cut));
    uint64_t set = 0;
    if (whole) {
        uint32_t b = seps[8] + 1, b_end = n_seps > 10 ? seps[10] : end;
        set = fp_set_hash(fp_set_start(sink) ^ sep, d + seps[0] + 1, seps[4] - (seps[0] + 1));
        set = fp_set_hash(set, v9, len9);
        set = fp_set_hash(set, d + b, b_end - b);
        if (fp_set_seen(sink, set))
            return cut ? EXTRACT_PARTIAL : EXTRACT_OK;
    }
    size_t first = last_field == 12 ? 0 : 4, count = last_field == 12 ? 7 : 5;
    for (size_t f = first; f < count; f++) {
        unsigned k = ALLOWED[f].msh - 2u;
        if (k > n_seps || (k == n_seps && cut))
            break;
        uint32_t field_start = seps[k - 1] + 1; /* k >= 1: MSH-3 onwards */
        const uint8_t *v = d + field_start;
        size_t vlen = (k < n_seps ? seps[k] : end) - field_start;
        if (ALLOWED[f].msh == 9)
            vlen = len9;
        fp_emit_trimmed(sink, sink->mac, (enum fp_kind)ALLOWED[f].kind, v, vlen);
    }
    if (whole)
        fp_set_done(sink, set);
    return cut ? EXTRACT_PARTIAL : EXTRACT_OK;
}
