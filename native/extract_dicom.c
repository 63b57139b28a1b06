/*
 * extract_dicom.c: DICOM upper layer (PS3.8 section 9.3) association PDUs.
 *
 * A-ASSOCIATE-RQ (0x01) and -AC (0x02): AE titles, the implementation class UID and
 * version name (user information sub-items 0x52, 0x55), the abstract syntaxes proposed
 * (0x30, mapped to a modality), and the result. A-ASSOCIATE-RJ (0x03): the result.
 * P-DATA-TF (0x04) carries patient data: only its 6-byte PDU header is looked at, to
 * label the flow. The user identity sub-item (0x58) carries credentials: it is stepped
 * over by its length, never read.
 *
 * Lying lengths: items are walked inside min(PDU length, captured bytes); an item that
 * claims to run past its PDU makes the whole PDU malformed and nothing of it is sent
 * (fingerprints are collected first and sent only when the PDU checked out). A PDU cut
 * short by segmentation gives what lies complete in the packet, counted as partial.
 */
#include <string.h>

#include "engine.h"

#define PDU_HEADER 6
#define ASSOC_FIXED 68 /* version .. reserved, after the PDU header */
#define MAX_FOUND 24

struct found {
    enum fp_kind kind;
    const uint8_t *value;
    size_t len;
};

struct modality {
    const char *uid; /* exact SOP class UID, or a prefix ending in '.' */
    const char *code;
};

/* Storage SOP classes (PS3.4 annex B.5) by the modality that sends them. */
static const struct modality MODALITIES[] = {
    {"1.2.840.10008.5.1.4.1.1.2", "CT"},       {"1.2.840.10008.5.1.4.1.1.2.1", "CT"},
    {"1.2.840.10008.5.1.4.1.1.2.2", "CT"},     {"1.2.840.10008.5.1.4.1.1.4", "MR"},
    {"1.2.840.10008.5.1.4.1.1.4.1", "MR"},     {"1.2.840.10008.5.1.4.1.1.4.2", "MR"},
    {"1.2.840.10008.5.1.4.1.1.6.1", "US"},     {"1.2.840.10008.5.1.4.1.1.6.2", "US"},
    {"1.2.840.10008.5.1.4.1.1.3.1", "US"},     {"1.2.840.10008.5.1.4.1.1.1", "CR"},
    {"1.2.840.10008.5.1.4.1.1.1.1", "DX"},     {"1.2.840.10008.5.1.4.1.1.1.1.1", "DX"},
    {"1.2.840.10008.5.1.4.1.1.1.2", "MG"},     {"1.2.840.10008.5.1.4.1.1.1.2.1", "MG"},
    {"1.2.840.10008.5.1.4.1.1.13.1.3", "MG"},  {"1.2.840.10008.5.1.4.1.1.1.3", "IO"},
    {"1.2.840.10008.5.1.4.1.1.20", "NM"},      {"1.2.840.10008.5.1.4.1.1.128", "PT"},
    {"1.2.840.10008.5.1.4.1.1.130", "PT"},     {"1.2.840.10008.5.1.4.1.1.12.1", "XA"},
    {"1.2.840.10008.5.1.4.1.1.12.1.1", "XA"},  {"1.2.840.10008.5.1.4.1.1.12.2", "RF"},
    {"1.2.840.10008.5.1.4.1.1.12.2.1", "RF"},  {"1.2.840.10008.5.1.4.1.1.481.", "RT"},
    {"1.2.840.10008.5.1.4.1.1.9.1.", "ECG"},   {"1.2.840.10008.5.1.4.1.1.9.4.1", "ECG"},
    {"1.2.840.10008.5.1.4.1.1.9.3.1", "HD"},   {"1.2.840.10008.5.1.4.1.1.77.1.1", "ES"},
    {"1.2.840.10008.5.1.4.1.1.77.1.2", "GM"},  {"1.2.840.10008.5.1.4.1.1.77.1.4", "XC"},
    {"1.2.840.10008.5.1.4.1.1.77.1.5.", "OP"}, {"1.2.840.10008.5.1.4.1.1.66", "SEG"},
    {"1.2.840.10008.5.1.4.1.1.88.", "SR"},     {"1.2.840.10008.5.1.4.1.1.7", "OT"},
};

static const char *modality_of(const uint8_t *uid, size_t len)
{
    for (size_t i = 0; i < sizeof MODALITIES / sizeof MODALITIES[0]; i++) {
        size_t n = strlen(MODALITIES[i].uid);
        int prefix = MODALITIES[i].uid[n - 1] == '.';
        if ((prefix ? len > n : len == n) && !memcmp(uid, MODALITIES[i].uid, n))
            return MODALITIES[i].code;
    }
    return NULL;
}

/* UIDs are digits and dots (PS3.5 9.1), padded with a NUL to even length. */
static int uid_ok(const uint8_t *v, size_t *len)
{
    if (*len && v[*len - 1] == 0)
        (*len)--;
    if (!*len || *len > 64)
        return 0;
    for (size_t i = 0; i < *len; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || v[i] == '.'))
            return 0;
    return 1;
}

/* AE titles: 16 bytes of printable ASCII (no backslash, no control characters). */
static int ae_ok(const uint8_t *v)
{
    for (int i = 0; i < 16; i++)
        if (v[i] < 0x20 || v[i] > 0x7e || v[i] == '\\')
            return 0;
    return 1;
}

static int add(struct found *f, int *n, enum fp_kind kind, const uint8_t *v, size_t len)
{
    if (*n == MAX_FOUND)
        return 0;
    f[(*n)++] = (struct found){kind, v, len};
    return 1;
}

/* The user information item (0x50): implementation class UID and version name. */
static int user_info(const uint8_t *v, uint32_t len, struct found *f, int *n)
{
    for (uint32_t off = 0; off + 4 <= len;) {
        uint8_t type = v[off];
        uint32_t sub_len = ext_get16(v + off + 2);
        if (off + 4 + sub_len > len)
            return 0;
        const uint8_t *s = v + off + 4;
        size_t slen = sub_len;
        if (type == 0x52) {
            if (!uid_ok(s, &slen))
                return 0;
            add(f, n, FP_DICOM_IMPL_UID, s, slen);
        } else if (type == 0x55) {
            for (size_t i = 0; i < slen; i++)
                if (s[i] < 0x20 || s[i] > 0x7e)
                    return 0;
            add(f, n, FP_DICOM_IMPL_VERSION, s, slen);
        }
        /* 0x58 user identity (credentials), 0x51, 0x53, 0x54, 0x56 ...: skipped */
        off += 4 + sub_len;
    }
    return 1;
}

/* A presentation context of an RQ (0x20): its abstract syntax (0x30). */
static int presentation_context(const uint8_t *v, uint32_t len, struct found *f, int *n)
{
    for (uint32_t off = 4; off + 4 <= len;) { /* id, 3 reserved bytes, then sub-items */
        uint8_t type = v[off];
        uint32_t sub_len = ext_get16(v + off + 2);
        if (off + 4 + sub_len > len)
            return 0;
        const uint8_t *s = v + off + 4;
        size_t slen = sub_len;
        if (type == 0x30) {
            if (!uid_ok(s, &slen))
                return 0;
            add(f, n, FP_DICOM_ABSTRACT_SYNTAX, s, slen);
            const char *modality = modality_of(s, slen);
            if (modality)
                add(f, n, FP_DICOM_MODALITY, (const uint8_t *)modality, strlen(modality));
        }
        off += 4 + sub_len;
    }
    return 1;
}

static void emit_found(struct fp_sink *sink, const struct found *f, int n)
{
    for (int i = 0; i < n; i++)
        fp_emit_trimmed(sink, sink->mac, f[i].kind, f[i].value, f[i].len);
}

enum extract_result extract_dicom(const uint8_t *d, uint32_t len, struct fp_sink *sink)
{
    if (len < PDU_HEADER)
        return len >= 2 && d[1] == 0 ? EXTRACT_PARTIAL : EXTRACT_NOT_MINE;
    uint8_t type = d[0];
    uint32_t pdu_len = ext_get32(d + 2);
    if (d[1] != 0 || type < 1 || type > 7)
        return EXTRACT_NOT_MINE;
    switch (type) {
    case 0x04: /* P-DATA-TF: patient data. The header is all that is ever read. */
        return pdu_len >= 6 ? EXTRACT_OK : EXTRACT_MALFORMED;
    case 0x05:
    case 0x06:
    case 0x07:
        return pdu_len == 4 ? EXTRACT_OK : EXTRACT_NOT_MINE;
    case 0x03: {
        if (pdu_len != 4)
            return EXTRACT_NOT_MINE;
        if (len < 10)
            return EXTRACT_PARTIAL;
        const char *r = d[7] == 1 ? "rejected-permanent" : d[7] == 2 ? "rejected-transient" : NULL;
        if (!r)
            return EXTRACT_MALFORMED;
        fp_emit(sink, FP_DICOM_RESULT, (const uint8_t *)r, strlen(r));
        return EXTRACT_OK;
    }
    default:
        break;
    }
    /* A-ASSOCIATE-RQ / -AC */
    if (pdu_len < ASSOC_FIXED || pdu_len > 1u << 20)
        return EXTRACT_NOT_MINE;
    if (len < PDU_HEADER + ASSOC_FIXED)
        return EXTRACT_PARTIAL;
    if (!(ext_get16(d + 6) & 1) || !ae_ok(d + 10) || !ae_ok(d + 26))
        return EXTRACT_MALFORMED;
    struct found f[MAX_FOUND];
    int n = 0;
    /* RQ: its own title is the calling one; AC: the called one (the acceptor's). */
    add(f, &n, FP_DICOM_AE_TITLE, type == 1 ? d + 26 : d + 10, 16);
    if (type == 1)
        add(f, &n, FP_DICOM_CALLED_AE, d + 10, 16);
    uint32_t end = PDU_HEADER + pdu_len, avail = end < len ? end : len;
    int partial = end > len;
    for (uint32_t off = PDU_HEADER + ASSOC_FIXED; off < avail;) {
        if (off + 4 > avail) {
            if (!partial)
                return EXTRACT_MALFORMED;
            break;
        }
        uint8_t item = d[off];
        uint32_t item_len = ext_get16(d + off + 2);
        if (off + 4 + item_len > end)
            return EXTRACT_MALFORMED; /* claims to run past its PDU */
        if (off + 4 + item_len > avail)
            break; /* segmented: the rest is in later packets */
        const uint8_t *v = d + off + 4;
        int ok = 1;
        if (item == 0x20 && type == 1)
            ok = presentation_context(v, item_len, f, &n);
        else if (item == 0x50)
            ok = user_info(v, item_len, f, &n);
        else if (item != 0x10 && item != 0x21 && item != 0x20)
            ok = 0;
        if (!ok)
            return EXTRACT_MALFORMED;
        off += 4 + item_len;
    }
    emit_found(sink, f, n);
    if (type == 2)
        fp_emit(sink, FP_DICOM_RESULT, (const uint8_t *)"accepted", 8);
    return partial ? EXTRACT_PARTIAL : EXTRACT_OK;
}
