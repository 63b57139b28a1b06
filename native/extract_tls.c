/*
 * extract_tls.c: the TLS ClientHello: server name (SNI) and the inputs of JA4.
 *
 * JA4 (FoxIO, "JA4: TLS Client Fingerprinting", BSD-3 spec) is
 *   <t|q><version 2><d|i><ciphers 2><extensions 2><ALPN first+last char>
 *   _ sha256(sorted ciphers)[:12] _ sha256(sorted extensions minus SNI/ALPN, "_", sigalgs)[:12]
 * with GREASE values (0x?a?a, both bytes equal) left out everywhere. Hashing is done in
 * Python (agent/devices.py) once per distinct value; C sends the GREASE-free inputs:
 *   "<t><version><d|i>|<first ALPN hex>|<ciphers hex,>|<extensions hex,>|<sigalgs hex,>"
 * A ClientHello cut short (segmented, snapped) still gives its SNI when the server name
 * extension lies in the captured bytes, but no JA4 (counted as partial).
 * Never read: the random, session id, key shares, any extension's value other than SNI,
 * ALPN and signature algorithms, and anything after the ClientHello.
 */
#include <string.h>

#include "extract.h"

static inline int is_grease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

static const char *version_code(uint16_t v)
{
    switch (v) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0002: return "s2";
    case 0xfeff: return "d1";
    case 0xfefd: return "d2";
    case 0xfefc: return "d3";
    default: return "00";
    }
}

/* Append "%04x" to a comma separated list at out (n bytes so far) when it fits in an
 * FP_VALUE_MAX buffer with room for a terminator; 0 when it does not. */
static inline int append_hex16(char *out, size_t *n, uint16_t v)
{
    if (*n + 6 > FP_VALUE_MAX)
        return 0;
    if (*n)
        out[(*n)++] = ',';
    ext_hex16(out + *n, v);
    *n += 4;
    return 1;
}

enum extract_result extract_tls(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    struct fp_sink *sink = x->sink;
    /* record: type 22, version 3.x, length; handshake: type, 3-byte length */
    if (len < 9 || d[0] != 0x16 || d[1] != 0x03 || d[2] > 0x04)
        return EXTRACT_NOT_MINE;
    uint32_t record_len = ext_get16(d + 3);
    if (d[5] == 2) /* the ServerHello: the version chosen (extract_tls_version.c) */
        return extract_tls_server_hello(d, len, x); /* its sender chose */
    if (d[5] != 1) /* not a ClientHello: certificates ... */
        return d[5] <= 24 ? EXTRACT_OK : EXTRACT_MALFORMED;
    uint32_t hello_len = ((uint32_t)d[6] << 16) | ((uint32_t)d[7] << 8) | d[8];
    if (hello_len + 4 > record_len && record_len < 16384)
        return EXTRACT_MALFORMED; /* a ClientHello longer than its record (one record) */
    uint32_t end = 9 + hello_len; /* where the ClientHello ends, if all of it was captured */
    int cut = end > len;
    if (cut)
        end = len;
    uint32_t off = 9;
    if (off + 35 > end)
        return cut ? EXTRACT_PARTIAL : EXTRACT_MALFORMED;
    uint16_t version = ext_get16(d + off);
    off += 34;
    off += 1u + d[off]; /* session id */
    if (off + 2 > end)
        return cut ? EXTRACT_PARTIAL : EXTRACT_MALFORMED;
    uint32_t ciphers_len = ext_get16(d + off), ciphers_off = off + 2;
    off = ciphers_off + ciphers_len;
    if (off + 1 > end)
        return cut ? EXTRACT_PARTIAL : EXTRACT_MALFORMED;
    off += 1u + d[off]; /* compression methods */
    uint32_t exts_end = off, exts_off = off + 2;
    if (off + 2 <= end) {
        exts_end = exts_off + ext_get16(d + off);
        if (exts_end > 9 + hello_len)
            return EXTRACT_MALFORMED;
    }

    char ciphers[FP_VALUE_MAX], exts[FP_VALUE_MAX], sigalgs[FP_VALUE_MAX];
    size_t n_ciphers = 0, n_exts = 0, n_sig = 0;
    char alpn_hex[4];
    size_t n_alpn = 0;
    int has_sni = 0, complete = exts_end <= end, fits = 1;
    uint16_t best_version = 0;
    for (uint32_t c = ciphers_off; c + 2 <= ciphers_off + ciphers_len; c += 2) {
        uint16_t v = ext_get16(d + c);
        if (!is_grease(v))
            fits &= append_hex16(ciphers, &n_ciphers, v);
    }
    for (uint32_t e = exts_off; e + 4 <= exts_end && e + 4 <= end;) {
        uint16_t type = ext_get16(d + e), elen = ext_get16(d + e + 2);
        const uint8_t *v = d + e + 4;
        if (e + 4u + elen > end) {
            complete = 0;
            break;
        }
        e += 4u + elen;
        if (is_grease(type))
            continue;
        fits &= append_hex16(exts, &n_exts, type);
        if (type == 0x0000 && elen >= 5) { /* server_name: list, type 0 (host), name */
            has_sni = 1;
            uint16_t name_len = ext_get16(v + 3);
            if (v[2] == 0 && 5u + name_len <= elen) {
                fp_emit_trimmed(sink, sink->mac, FP_TLS_SNI, v + 5, name_len);
                fp_name_receiver(sink, v + 5, name_len); /* the flow's server name */
            }
        } else if (type == 0x0000) {
            has_sni = 1;
        } else if (type == 0x0010 && elen >= 3 && v[2] >= 1 && 3u + v[2] <= elen) {
            /* ALPN: list length, then the first protocol's length and bytes */
            /* first and last byte of the first protocol (the same when it has one) */
            ext_hex16(alpn_hex, (uint16_t)((v[3] << 8) | v[2 + v[2]]));
            n_alpn = 4;
        } else if (type == 0x000d && elen >= 2) { /* signature_algorithms, in order */
            uint16_t list = ext_get16(v);
            for (uint32_t s = 2; s + 2 <= elen && s + 2 <= 2u + list; s += 2) {
                uint16_t alg = ext_get16(v + s);
                if (!is_grease(alg))
                    fits &= append_hex16(sigalgs, &n_sig, alg);
            }
        } else if (type == 0x002b && elen >= 1) { /* supported_versions: the highest */
            for (uint32_t s = 1; s + 2 <= elen && s + 2 <= 1u + v[0]; s += 2) {
                uint16_t ver = ext_get16(v + s);
                if (!is_grease(ver) && ver > best_version)
                    best_version = ver;
            }
        }
    }
    if (!complete || cut)
        return EXTRACT_PARTIAL;
    const char *offered = ext_tls_version_name(best_version ? best_version : version);
    if (offered) /* the highest version offered (issue 14: old TLS) */
        fp_emit(sink, FP_TLS_VERSION_OFFERED, (const uint8_t *)offered, strlen(offered));
    if (!fits)
        return EXTRACT_OK; /* an absurdly long hello: labelled, no JA4 */
    /* "<t><version><d|i>|alpn|ciphers|extensions|sigalgs", assembled without printf */
    char raw[FP_VALUE_MAX];
    size_t w = 1 + 2 + 2 + n_alpn + 1 + n_ciphers + 1 + n_exts + 1 + n_sig;
    if (w > sizeof raw)
        return EXTRACT_OK; /* too long to be a real hello: labelled, no JA4 */
    char *o = raw;
    *o++ = 't';
    memcpy(o, version_code(best_version ? best_version : version), 2);
    o += 2;
    *o++ = has_sni ? 'd' : 'i';
    *o++ = '|';
    memcpy(o, alpn_hex, n_alpn);
    o += n_alpn;
    *o++ = '|';
    memcpy(o, ciphers, n_ciphers);
    o += n_ciphers;
    *o++ = '|';
    memcpy(o, exts, n_exts);
    o += n_exts;
    *o++ = '|';
    memcpy(o, sigalgs, n_sig);
    fp_emit(sink, FP_TLS_JA4_RAW, (const uint8_t *)raw, w);
    return EXTRACT_OK;
}
