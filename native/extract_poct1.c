/*
 * extract_poct1.c: POCT1-A (CLSI POCT1-A2) point-of-care devices, XML over TCP.
 *
 * The device's hello, HEL.R01, carries a DEV element whose children name the device:
 *   <DEV.vendor_id V="..."/> <DEV.model_id V="..."/> <DEV.sw_version V="..."/>
 * Only those three are sent. DEV.device_id and DEV.serial_id are device identifiers
 * (HIPAA lists serial numbers) and observations (OBS.R01) carry patient results: neither
 * is read. Other POCT1 messages (ACK, DST, OBS ...) only label the flow.
 */
#include <string.h>

#include "extract.h"

/* The V="..." value of the first <name .../> element in d[0..len), or 0. */
static int attribute_value(const uint8_t *d, uint32_t len, const char *name, const uint8_t **v,
                           uint32_t *vlen)
{
    const uint8_t *at = memmem(d, len, name, strlen(name));
    if (!at)
        return 0;
    const uint8_t *end = d + len;
    const uint8_t *p = at + strlen(name);
    const uint8_t *close = memchr(p, '>', (size_t)(end - p));
    if (!close)
        return 0;
    const uint8_t *attr = memmem(p, (size_t)(close - p), "V=\"", 3);
    if (!attr)
        return 0;
    attr += 3;
    const uint8_t *quote = memchr(attr, '"', (size_t)(close - attr));
    if (!quote)
        return 0;
    for (const uint8_t *c = attr; c < quote; c++)
        if (*c < 0x20 || *c > 0x7e)
            return 0;
    *v = attr;
    *vlen = (uint32_t)(quote - attr);
    return 1;
}

enum extract_result extract_poct1(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    struct fp_sink *sink = x->sink;
    uint32_t window = len < 4096 ? len : 4096; /* the hello's header part */
    if (!memmem(d, window, ".R0", 3))
        return EXTRACT_NOT_MINE;
    if (!memmem(d, window, "<HEL.R01", 8))
        return EXTRACT_OK; /* another POCT1 message: label only */
    static const struct {
        const char *element;
        enum fp_kind kind;
    } FIELDS[] = {{"<DEV.vendor_id", FP_POCT1_VENDOR},
                  {"<DEV.model_id", FP_POCT1_MODEL},
                  {"<DEV.sw_version", FP_POCT1_VERSION}};
    int found = 0;
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        const uint8_t *v;
        uint32_t vlen;
        if (attribute_value(d, window, FIELDS[i].element, &v, &vlen)) {
            fp_emit_trimmed(sink, sink->mac, FIELDS[i].kind, v, vlen);
            found++;
        }
    }
    return found || memmem(d, window, "</HEL.R01>", 10) ? EXTRACT_OK : EXTRACT_PARTIAL;
}
