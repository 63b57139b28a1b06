/*
 * extract_smb.c: SMB over NetBIOS session service / direct TCP (ports 139, 445): which
 * dialect a device speaks. Each message starts with a 4-byte session header, then the
 * SMB1 (0xFF 'SMB'), SMB2/3 (0xFE 'SMB') or encrypted SMB3 (0xFD 'SMB') header. The first
 * 4 KiB of each direction are read (DEVICES_EARLY_MESSAGES): a client that opens with an
 * SMB1 negotiate offering "SMB 2.???" gets an SMB2 answer and negotiates again.
 *
 * Read -> `smb_dialect` on the sender:
 *   a server's SMB2 NEGOTIATE response: its DialectRevision ("2.0.2", "2.1", "3.0",
 *     "3.0.2", "3.1.1"; "2.x" for the wildcard answer to an SMB1 negotiate)
 *   a server's SMB1 NEGOTIATE response that chose a dialect: "1"
 *   a client's SMB1 NEGOTIATE offering no SMB 2 dialect: "1"
 *   any other SMB1 message: "1" (it speaks SMB1)
 * Never read: anything after the negotiate fields named above: session setup (NTLM
 * user, domain and host names, the security blobs), tree connects (share paths), file
 * names and file data; the GUIDs, security mode and capabilities; a port 139 session
 * request's NetBIOS names (only its length is tested, to label the flow).
 */
#include <stdio.h>
#include <string.h>

#include "extract.h"

#define NB_HEADER 4
#define SMB1_HEADER 32
#define SMB2_HEADER 64
#define SMB_NEGOTIATE_1 0x72
#define SMB1_FLAGS_REPLY 0x80

static uint16_t get16le(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void emit_dialect(struct fp_sink *sink, const char *name)
{
    fp_emit(sink, FP_SMB_DIALECT, (const uint8_t *)name, strlen(name));
}

static const char *dialect_name(uint16_t revision)
{
    switch (revision) {
    case 0x0202: return "2.0.2";
    case 0x0210: return "2.1";
    case 0x0300: return "3.0";
    case 0x0302: return "3.0.2";
    case 0x0311: return "3.1.1";
    case 0x02ff: return "2.x";
    default: return NULL;
    }
}

/* An SMB1 NEGOTIATE request's dialect strings at d[0..len) (0x02 then a NUL-terminated
 * name, each): 1 when one is "SMB 2...", 0 when none, -1 when cut short. */
static int offers_smb2(const uint8_t *d, uint32_t len)
{
    uint32_t off = 0;
    while (off < len) {
        if (d[off] != 0x02)
            return 0; /* not a dialect: the list is over (or malformed) */
        off++;
        if (len - off >= 5 && !memcmp(d + off, "SMB 2", 5))
            return 1;
        const uint8_t *nul = memchr(d + off, 0, len - off);
        if (!nul)
            return -1;
        off = (uint32_t)(nul - d) + 1;
    }
    return 0;
}

static enum extract_result smb1(const uint8_t *h, uint32_t len, struct extract_ctx *x)
{
    if (len < SMB1_HEADER + 1)
        return EXTRACT_PARTIAL;
    int reply = h[9] & SMB1_FLAGS_REPLY;
    if (h[4] != SMB_NEGOTIATE_1 || reply) {
        /* A negotiate reply with word count 1 and index 0xFFFF chose nothing. */
        if (h[4] == SMB_NEGOTIATE_1 && h[32] == 1 && len >= SMB1_HEADER + 3 &&
            get16le(h + 33) == 0xffff)
            return EXTRACT_OK;
        emit_dialect(x->sink, "1");
        return EXTRACT_OK;
    }
    uint32_t words = SMB1_HEADER + 1 + 2u * h[32]; /* the byte count follows the words */
    if (words + 2 > len)
        return EXTRACT_PARTIAL;
    uint32_t count = get16le(h + words), start = words + 2;
    uint32_t end = start + count < len ? start + count : len;
    int smb2 = offers_smb2(h + start, end - start);
    if (smb2 < 0 || (smb2 == 0 && start + count > len))
        return EXTRACT_PARTIAL;
    if (!smb2)
        emit_dialect(x->sink, "1");
    return EXTRACT_OK;
}

static enum extract_result smb2(const uint8_t *h, uint32_t len, struct extract_ctx *x)
{
    if (len < SMB2_HEADER)
        return EXTRACT_PARTIAL;
    uint16_t command = get16le(h + 12);
    int response = h[16] & 1; /* SMB2_FLAGS_SERVER_TO_REDIR */
    if (command != 0 || !response)
        return EXTRACT_OK;
    /* NEGOTIATE response: StructureSize 65, SecurityMode, DialectRevision */
    if (len < SMB2_HEADER + 6)
        return EXTRACT_PARTIAL;
    if (get16le(h + SMB2_HEADER) != 65)
        return EXTRACT_MALFORMED;
    uint16_t revision = get16le(h + SMB2_HEADER + 4);
    const char *name = dialect_name(revision);
    char hex[8];
    if (!name) {
        snprintf(hex, sizeof hex, "0x%04x", (unsigned)revision);
        name = hex;
    }
    emit_dialect(x->sink, name);
    return EXTRACT_OK;
}

enum extract_result extract_smb(const uint8_t *d, uint32_t len, struct extract_ctx *x)
{
    if (len >= 4 && d[0] == 0x81 && d[1] == 0 && ext_get16(d + 2) == 68)
        return EXTRACT_OK; /* NetBIOS session request (port 139): the names are not read */
    if (len < NB_HEADER + 4 || d[0] != 0 || memcmp(d + NB_HEADER + 1, "SMB", 3))
        return EXTRACT_NOT_MINE;
    const uint8_t *h = d + NB_HEADER;
    uint32_t n = len - NB_HEADER;
    switch (h[0]) {
    case 0xff: return smb1(h, n, x);
    case 0xfe: return smb2(h, n, x);
    case 0xfd: return EXTRACT_OK; /* encrypted (SMB 3.x): nothing readable */
    default: return EXTRACT_NOT_MINE;
    }
}
