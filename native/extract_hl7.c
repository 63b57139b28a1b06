/*
 * extract_hl7.c: HL7 v2 over MLLP: the MSH segment's allowlisted fields, and the device
 * fields of PRT segments (v2.7+ participation information) whose participant is a device.
 *
 * Frame: 0x0B, the message, 0x1C 0x0D; segments end with CR. MSH-1 is the field
 * separator itself, so after "MSH" + separator the n-th field is MSH-(n+1). Sent:
 * MSH-3, 4, 5, 6 (applications, facilities), MSH-9 (type^event: its first two
 * components), MSH-11 (processing id), MSH-12 (version). From a PRT whose PRT-4 is EQUIP
 * (the first message of a flow direction only): PRT-10's first component (model text),
 * the 14-digit GTIN of a GS1 UDI in PRT-16 ("(01)" or "01" at its start), PRT-22 up to
 * its coding system (device type).
 *
 * The whole MSH segment is checked (printable text, a sane separator) before anything
 * is sent; a segment cut short by segmentation gives only the fields that end inside
 * the packet (partial). No MSH after 0x0B, or binary bytes, is malformed: nothing sent.
 * Never read: MSH-7 (time), MSH-8 (security), MSH-10 (control id), MSH-13 on; in a PRT,
 * PRT-5 (the person), PRT-19/20 (lot, serial), the rest of a UDI (lot, serial, dates),
 * every other PRT field and any PRT of a person or organisation; every other segment
 * (PID, PV1, OBX, NK1 ... carry names, record numbers, birth dates and results) is
 * passed by its CR without a field looked at.
 */
#include <string.h>

#include "extract.h"

#define MSH_MAX_BYTES 1024 /* an MSH longer than this is not believed */

/* The allowlisted fields of the MSH at d (after the optional 0x0B); up to MSH-last_field. */
static enum extract_result read_msh(const uint8_t *d, uint32_t len, int last_field,
                                    struct fp_sink *sink);
static void read_device_prts(const uint8_t *d, uint32_t len, uint32_t msh_end, uint8_t sep,
                             uint8_t component, struct fp_sink *sink);

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
    /* PRT exists from v2.7 on (MSH-12 "2.7", "2.8.1" ...): older messages are not searched. */
    int has_prt = 0;
    if (whole && !cut) {
        const uint8_t *ver = d + seps[9] + 1;
        size_t ver_len = (n_seps > 10 ? seps[10] : end) - (seps[9] + 1);
        has_prt = ver_len >= 3 && ver[0] == '2' && ver[1] == '.' && ver[2] >= '7' && ver[2] <= '9';
    }
    uint64_t set = 0;
    if (whole) {
        uint32_t b = seps[8] + 1, b_end = n_seps > 10 ? seps[10] : end;
        set = fp_set_hash(fp_set_start(sink) ^ sep, d + seps[0] + 1, seps[4] - (seps[0] + 1));
        set = fp_set_hash(set, v9, len9);
        set = fp_set_hash(set, d + b, b_end - b);
        if (fp_set_seen(sink, set)) {
            if (has_prt)
                read_device_prts(d, len, end, sep, component, sink);
            return cut ? EXTRACT_PARTIAL : EXTRACT_OK;
        }
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
    if (has_prt)
        read_device_prts(d, len, end, sep, component, sink);
    return cut ? EXTRACT_PARTIAL : EXTRACT_OK;
}

/* ---------------------------------------------------------------- PRT (v2.7+) */

#define PRT_MAX_SEGMENTS 64 /* segments passed looking for PRT: a message has a few dozen */
#define GTIN_DIGITS 14

/* The n-th component (1-based) of a field: [*v, *v + *vlen). */
static void component_of(const uint8_t *field, size_t flen, uint8_t component, unsigned n,
                         const uint8_t **v, size_t *vlen)
{
    const uint8_t *p = field, *end = field + flen;
    for (unsigned i = 1; i < n; i++) {
        const uint8_t *c = memchr(p, component, (size_t)(end - p));
        if (!c) {
            *v = end;
            *vlen = 0;
            return;
        }
        p = c + 1;
    }
    const uint8_t *c = memchr(p, component, (size_t)(end - p));
    *v = p;
    *vlen = (size_t)((c ? c : end) - p);
}

/* The GTIN of a GS1 UDI: "(01)" or "01" and 14 digits at its start; NULL when absent. The
 * rest of a UDI ((10) lot, (21) serial, (11)/(17) dates) is never looked at. */
static const uint8_t *udi_gtin(const uint8_t *v, size_t vlen)
{
    size_t at = vlen >= 4 && !memcmp(v, "(01)", 4) ? 4 : vlen >= 2 && !memcmp(v, "01", 2) ? 2 : 0;
    if (!at || vlen < at + GTIN_DIGITS)
        return NULL;
    for (size_t i = at; i < at + GTIN_DIGITS; i++)
        if (v[i] < '0' || v[i] > '9')
            return NULL;
    return v + at;
}

/* One PRT segment's fields (after "PRT" and the separator): when its participation
 * (PRT-4) is EQUIP, the device's model text (PRT-10, first component), its UDI's GTIN
 * (PRT-16) and its type (PRT-22, up to the coding system). PRT-5 (a person), PRT-19/20
 * (lot, serial) and every other field are stepped over by their separators. */
static void device_prt(const uint8_t *f, size_t n, uint8_t sep, uint8_t component,
                       struct fp_sink *sink)
{
    enum { WANT = 22 };
    const uint8_t *field[WANT + 1] = {0};
    size_t flen[WANT + 1] = {0};
    const uint8_t *p = f, *end = f + n;
    for (unsigned k = 1; k <= WANT && p <= end; k++) {
        const uint8_t *s = memchr(p, sep, (size_t)(end - p));
        field[k] = p;
        flen[k] = (size_t)((s ? s : end) - p);
        if (!s)
            break;
        p = s + 1;
    }
    const uint8_t *v;
    size_t vlen;
    if (!field[4])
        return;
    component_of(field[4], flen[4], component, 1, &v, &vlen);
    if (vlen != 5 || memcmp(v, "EQUIP", 5))
        return; /* a person's or an organisation's participation: nothing of it */
    if (field[10]) {
        component_of(field[10], flen[10], component, 1, &v, &vlen);
        fp_emit_trimmed(sink, sink->mac, FP_HL7_DEVICE_MODEL, v, vlen);
    }
    if (field[16]) {
        component_of(field[16], flen[16], component, 1, &v, &vlen);
        const uint8_t *gtin = udi_gtin(v, vlen);
        if (gtin)
            fp_emit(sink, FP_HL7_DEVICE_UDI_DI, gtin, GTIN_DIGITS);
    }
    if (field[22]) {
        const uint8_t *c3;
        size_t c3len;
        component_of(field[22], flen[22], component, 3, &c3, &c3len);
        size_t type_len = c3len ? (size_t)(c3 + c3len - field[22]) : flen[22];
        fp_emit_trimmed(sink, sink->mac, FP_HL7_DEVICE_TYPE, field[22], type_len);
    }
}

/* The segments after the MSH (which ends at msh_end, a CR): PRT segments go to
 * device_prt; every other segment (PID, PV1, OBX ...) is passed by its CR, none of its
 * fields looked at. A segment the packet cuts is not read. */
static void read_device_prts(const uint8_t *d, uint32_t len, uint32_t msh_end, uint8_t sep,
                             uint8_t component, struct fp_sink *sink)
{
    uint32_t seg = msh_end;
    for (int i = 0; i < PRT_MAX_SEGMENTS; i++) {
        while (seg < len && (d[seg] == '\r' || d[seg] == '\n'))
            seg++;
        if (seg >= len || d[seg] == 0x1c)
            return;
        const uint8_t *cr = memchr(d + seg, '\r', len - seg);
        if (!cr)
            return;
        uint32_t seg_end = (uint32_t)(cr - d);
        if (seg_end - seg > 4 && !memcmp(d + seg, "PRT", 3) && d[seg + 3] == sep)
            device_prt(d + seg + 4, seg_end - seg - 4, sep, component, sink);
        seg = seg_end + 1;
    }
}
