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
 * An association is read only when it can be one: the flow's start (the TCP handshake)
 * was seen, so the PDU is the first payload of its direction, and it carries the DICOM
 * application context item (0x10, "1.2.840.10008.3.1.1.1"). A segment met mid-stream
 * that happens to start like an A-ASSOCIATE-RQ (bytes 10-41 of which would pass for AE
 * titles: a patient's name, a record number) is not DICOM's and nothing of it is sent.
 *
 * Lying lengths: items are walked inside min(PDU length, captured bytes); an item that
 * claims to run past its PDU makes the whole PDU malformed and nothing of it is sent
 * (fingerprints are collected first and sent only when the PDU checked out). A PDU cut
 * short by segmentation gives what lies complete in the packet, counted as partial.
 */
#include <string.h>

#include "extract.h"

#define PDU_HEADER 6
#define ASSOC_FIXED 68 /* version .. reserved, after the PDU header */
#define MAX_FOUND 24
#define APP_CONTEXT "1.2.840.10008.3.1.1.1" /* DICOM application context name (PS3.7 A.2.1) */

struct found {
    enum fp_kind kind;
    const uint8_t *value;
    size_t len;
};

struct modality {
    const char *uid; /* exact SOP class UID, or a prefix ending in '.' */
    uint8_t len;     /* strlen(uid) */
    char code[4];
};
#define M(uid, code) {uid, sizeof uid - 1, code}
/* Every one starts with the storage root: a UID without it is no modality's. */
#define STORAGE_ROOT "1.2.840.10008.5.1.4.1.1."

/* Storage SOP classes (PS3.4 annex B.5) by the modality that sends them. */
static const struct modality MODALITIES[] = {
    M("1.2.840.10008.5.1.4.1.1.2", "CT"),
    M("1.2.840.10008.5.1.4.1.1.2.1", "CT"),
    M("1.2.840.10008.5.1.4.1.1.2.2", "CT"),
    M("1.2.840.10008.5.1.4.1.1.4", "MR"),
    M("1.2.840.10008.5.1.4.1.1.4.1", "MR"),
    M("1.2.840.10008.5.1.4.1.1.4.2", "MR"),
    M("1.2.840.10008.5.1.4.1.1.6.1", "US"),
    M("1.2.840.10008.5.1.4.1.1.6.2", "US"),
    M("1.2.840.10008.5.1.4.1.1.3.1", "US"),
    M("1.2.840.10008.5.1.4.1.1.1", "CR"),
    M("1.2.840.10008.5.1.4.1.1.1.1", "DX"),
    M("1.2.840.10008.5.1.4.1.1.1.1.1", "DX"),
    M("1.2.840.10008.5.1.4.1.1.1.2", "MG"),
    M("1.2.840.10008.5.1.4.1.1.1.2.1", "MG"),
    M("1.2.840.10008.5.1.4.1.1.13.1.3", "MG"),
    M("1.2.840.10008.5.1.4.1.1.1.3", "IO"),
    M("1.2.840.10008.5.1.4.1.1.20", "NM"),
    M("1.2.840.10008.5.1.4.1.1.128", "PT"),
    M("1.2.840.10008.5.1.4.1.1.130", "PT"),
    M("1.2.840.10008.5.1.4.1.1.12.1", "XA"),
    M("1.2.840.10008.5.1.4.1.1.12.1.1", "XA"),
    M("1.2.840.10008.5.1.4.1.1.12.2", "RF"),
    M("1.2.840.10008.5.1.4.1.1.12.2.1", "RF"),
    M("1.2.840.10008.5.1.4.1.1.481.", "RT"),
    M("1.2.840.10008.5.1.4.1.1.9.1.", "ECG"),
    M("1.2.840.10008.5.1.4.1.1.9.4.1", "ECG"),
    M("1.2.840.10008.5.1.4.1.1.9.3.1", "HD"),
    M("1.2.840.10008.5.1.4.1.1.77.1.1", "ES"),
    M("1.2.840.10008.5.1.4.1.1.77.1.2", "GM"),
    M("1.2.840.10008.5.1.4.1.1.77.1.4", "XC"),
    M("1.2.840.10008.5.1.4.1.1.77.1.5.", "OP"),
    M("1.2.840.10008.5.1.4.1.1.66", "SEG"),
    M("1.2.840.10008.5.1.4.1.1.88.", "SR"),
    M("1.2.840.10008.5.1.4.1.1.7", "OT"),
};
#undef M

static const char *modality_of(const uint8_t *uid, size_t len)
{
    if (len <= sizeof STORAGE_ROOT - 1 || memcmp(uid, STORAGE_ROOT, sizeof STORAGE_ROOT - 1))
        return NULL;
    for (size_t i = 0; i < sizeof MODALITIES / sizeof MODALITIES[0]; i++) {
        size_t n = MODALITIES[i].len;
        int prefix = MODALITIES[i].uid[n - 1] == '.';
        if ((prefix ? len > n : len == n) && !memcmp(uid, MODALITIES[i].uid, n))
            return MODALITIES[i].code;
    }
    return NULL;
}

/* Eight bytes at a time, exact per byte, in any byte order: the high bit of each byte of
 * the result says whether that byte of x is below c (c <= 0x80), or equal to c. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define LOWS 0x7f7f7f7f7f7f7f7fULL
static inline uint64_t bytes_below(uint64_t x, unsigned c)
{
    return ~(((x & LOWS) + (0x80 - c) * ONES) | x) & HIGHS;
}
static inline uint64_t bytes_equal(uint64_t x, unsigned c)
{
    uint64_t y = x ^ (c * ONES);
    return ~(((y & LOWS) + LOWS) | y) & HIGHS;
}

/* Bytes that are no digit and no dot. */
static inline uint64_t not_uid_bytes(uint64_t x)
{
    return bytes_below(x, '.') | (~bytes_below(x, '9' + 1) & HIGHS) | bytes_equal(x, '/');
}

/* UIDs are digits and dots (PS3.5 9.1), padded with a NUL to even length. */
static int uid_ok(const uint8_t *v, size_t *len)
{
    if (*len && v[*len - 1] == 0)
        (*len)--;
    if (!*len || *len > 64)
        return 0;
    if (*len < 8) {
        for (size_t i = 0; i < *len; i++)
            if (!((v[i] >= '0' && v[i] <= '9') || v[i] == '.'))
                return 0;
        return 1;
    }
    uint64_t x, bad = 0;
    for (size_t i = 0; i + 8 < *len; i += 8) {
        memcpy(&x, v + i, 8);
        bad |= not_uid_bytes(x);
    }
    memcpy(&x, v + *len - 8, 8); /* the last eight (overlapping) */
    return !(bad | not_uid_bytes(x));
}

/* AE titles: 16 bytes of printable ASCII (no backslash, no control characters). */
static int ae_ok(const uint8_t *v)
{
    uint64_t x, y;
    memcpy(&x, v, 8);
    memcpy(&y, v + 8, 8);
    uint64_t bad = bytes_below(x, 0x20) | (~bytes_below(x, 0x7f) & HIGHS) | bytes_equal(x, '\\') |
                   bytes_below(y, 0x20) | (~bytes_below(y, 0x7f) & HIGHS) | bytes_equal(y, '\\');
    return !bad;
}

static int add(struct found *f, int *n, enum fp_kind kind, const uint8_t *v, size_t len)
{
    if (*n == MAX_FOUND)
        return 0;
    f[(*n)++] = (struct found){kind, v, len};
    return 1;
}

/* One sub-item of an item's value: its type and its bytes. */
struct sub_item {
    uint8_t type;
    const uint8_t *value;
    size_t len;
};

/* The sub-item at *off of an item's value `v` (len bytes): 1 with *it set and *off past
 * it; 0 at the end (fewer than a header's 4 bytes left); -1 when it claims to run past
 * the value (malformed). */
static int next_sub_item(const uint8_t *v, uint32_t len, uint32_t *off, struct sub_item *it)
{
    if (*off + 4 > len)
        return 0;
    uint32_t sub_len = ext_get16(v + *off + 2);
    if (*off + 4 + sub_len > len)
        return -1;
    it->type = v[*off];
    it->value = v + *off + 4;
    it->len = sub_len;
    *off += 4 + sub_len;
    return 1;
}

/* The user information item (0x50): implementation class UID and version name. */
static int user_info(const uint8_t *v, uint32_t len, struct found *f, int *n)
{
    struct sub_item it;
    uint32_t off = 0;
    int more;
    while ((more = next_sub_item(v, len, &off, &it)) > 0) {
        size_t slen = it.len;
        if (it.type == 0x52) {
            if (!uid_ok(it.value, &slen))
                return 0;
            add(f, n, FP_DICOM_IMPL_UID, it.value, slen);
        } else if (it.type == 0x55) {
            for (size_t i = 0; i < slen; i++)
                if (it.value[i] < 0x20 || it.value[i] > 0x7e)
                    return 0;
            add(f, n, FP_DICOM_IMPL_VERSION, it.value, slen);
        }
        /* 0x58 user identity (credentials), 0x51, 0x53, 0x54, 0x56 ...: skipped */
    }
    return more == 0;
}

/* A presentation context of an RQ (0x20): its abstract syntax (0x30). */
static int presentation_context(const uint8_t *v, uint32_t len, struct found *f, int *n)
{
    struct sub_item it;
    uint32_t off = 4; /* id, 3 reserved bytes, then sub-items */
    int more;
    while ((more = next_sub_item(v, len, &off, &it)) > 0) {
        size_t slen = it.len;
        if (it.type == 0x30) {
            if (!uid_ok(it.value, &slen))
                return 0;
            add(f, n, FP_DICOM_ABSTRACT_SYNTAX, it.value, slen);
            const char *modality = modality_of(it.value, slen);
            if (modality)
                add(f, n, FP_DICOM_MODALITY, (const uint8_t *)modality, strlen(modality));
        }
    }
    return more == 0;
}

static void emit_found(struct fp_sink *sink, const struct found *f, int n)
{
    for (int i = 0; i < n; i++)
        fp_emit_trimmed(sink, sink->mac, f[i].kind, f[i].value, f[i].len);
}

enum extract_result extract_dicom(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    struct fp_sink *sink = x->sink;
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
    /* A-ASSOCIATE-RQ / -AC: only at the start of a flow whose start was seen */
    if (pdu_len < ASSOC_FIXED || pdu_len > 1u << 20 || !x->start_seen)
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
    int partial = end > len, app_context = 0;
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
        else if (item == 0x10) /* the UID, maybe NUL-padded to even length */
            app_context |= (item_len == sizeof APP_CONTEXT - 1 ||
                            (item_len == sizeof APP_CONTEXT && v[item_len - 1] == 0)) &&
                           !memcmp(v, APP_CONTEXT, sizeof APP_CONTEXT - 1);
        else if (item != 0x21 && item != 0x20)
            ok = 0;
        if (!ok)
            return EXTRACT_MALFORMED;
        off += 4 + item_len;
    }
    /* Without DICOM's application context no field of it is believed: cut short before
     * the item (it comes first), what was captured may still be an association. */
    if (!app_context)
        return partial && avail < PDU_HEADER + ASSOC_FIXED + 4 + sizeof APP_CONTEXT - 1
                   ? EXTRACT_PARTIAL
                   : EXTRACT_NOT_MINE;
    /* What an association sends is one fingerprint set: a modality opens the same
     * association again and again, and its entry has all of it after the first. */
    uint64_t set = fp_set_start(sink) ^ type;
    for (int i = 0; i < n; i++)
        set = fp_set_hash(set ^ (uint64_t)f[i].kind << 32, f[i].value, f[i].len);
    if (!fp_set_seen(sink, set)) {
        emit_found(sink, f, n);
        if (type == 2)
            fp_emit(sink, FP_DICOM_RESULT, (const uint8_t *)"accepted", 8);
        fp_set_done(sink, set);
    }
    return partial ? EXTRACT_PARTIAL : EXTRACT_OK;
}
