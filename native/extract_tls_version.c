/*
 * extract_tls_version.c: the TLS version a server accepted (its ServerHello), and the
 * names of versions, for extract_tls.c's offered version.
 *
 * Read: the ServerHello's legacy version and, when present, its supported_versions
 * extension (TLS 1.3 says "1.3" only there) -> `tls_version` on the server ("tls1.2").
 * Never read: the random, session id, cipher suite, any other extension, and every
 * record after the ServerHello (certificates are not read either).
 */
#include <string.h>

#include "extract.h"

const char *ext_tls_version_name(uint16_t version)
{
    switch (version) {
    case 0x0300: return "ssl3";
    case 0x0301: return "tls1.0";
    case 0x0302: return "tls1.1";
    case 0x0303: return "tls1.2";
    case 0x0304: return "tls1.3";
    default: return NULL;
    }
}

enum extract_result extract_tls_server_hello(const uint8_t *d, uint32_t len,
                                             struct extract_ctx *x)
{
    /* record header (5), handshake type 2 and length (4), then the hello */
    if (len < 9 || d[5] != 2)
        return EXTRACT_NOT_MINE;
    uint32_t hello_end = 9 + (((uint32_t)d[6] << 16) | ((uint32_t)d[7] << 8) | d[8]);
    if (len < 11)
        return EXTRACT_PARTIAL;
    uint16_t version = ext_get16(d + 9);
    uint32_t off = 9 + 2 + 32; /* the random */
    if (off + 1 > len)
        return EXTRACT_PARTIAL;
    off += 1u + d[off]; /* session id */
    off += 2 + 1;       /* cipher suite, compression method */
    if (off + 2 <= hello_end) { /* extensions */
        if (off + 2 > len)
            return EXTRACT_PARTIAL;
        uint32_t exts_end = off + 2 + ext_get16(d + off);
        if (exts_end > hello_end)
            return EXTRACT_MALFORMED;
        for (uint32_t e = off + 2; e + 4 <= exts_end;) {
            if (e + 4 > len)
                return EXTRACT_PARTIAL;
            uint16_t type = ext_get16(d + e), elen = ext_get16(d + e + 2);
            if (type == 0x002b && elen == 2) { /* supported_versions: the selected one */
                if (e + 6 > len)
                    return EXTRACT_PARTIAL;
                version = ext_get16(d + e + 4);
                break;
            }
            e += 4u + elen;
        }
    } else if (off > hello_end) {
        return EXTRACT_MALFORMED;
    }
    const char *name = ext_tls_version_name(version);
    if (!name)
        return EXTRACT_MALFORMED;
    fp_emit(x->sink, FP_TLS_VERSION, (const uint8_t *)name, strlen(name));
    return EXTRACT_OK;
}
