/*
 * pcapng.c: the engine's own pcapng reader (pcapng.h says what and why).
 *
 * One block at a time: its 8-byte header (12 for a section header, whose byte order is
 * known only from its byte-order magic), then the rest of the block into one buffer that
 * grows to the longest block seen (at most PCAPNG_MAX_BLOCK), then its trailer checked
 * against the header. Every field is read from inside the block that holds it, through
 * the bounds checked here; nothing read from the file sizes memory beyond those limits.
 * What libpcap refuses it refuses too, with the block's file offset in the message,
 * except where libpcap is wrong or stricter than the format (pcapng.h).
 */
#define _FILE_OFFSET_BITS 64
#include "pcapng.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define BT_SHB PCAPNG_MAGIC
#define BT_IDB 1u
#define BT_PB 2u /* obsolete Packet Block */
#define BT_SPB 3u
#define BT_EPB 6u

#define OPT_ENDOFOPT 0
#define IF_TSRESOL 9
#define IF_TSOFFSET 14

#define SHB_MIN 28u   /* header 8, magic 4, versions 4, section length 8, trailer 4 */
#define BLOCK_MIN 12u /* header 8, trailer 4 */
#define INITIAL_BUFFER (64u * 1024u)
#define US_PER_S 1000000u

struct iface {
    uint64_t units;   /* time units per second: 10^n, or 2^shift */
    int shift;        /* binary resolution: log2(units); -1 for decimal */
    int linktype;
    int64_t offset_s; /* if_tsoffset */
    uint32_t snaplen; /* 0 and anything above PCAPNG_MAX_SNAPLEN read as that */
};

struct pcapng {
    FILE *file;
    uint8_t *buf;
    uint32_t buf_size;
    int swapped;          /* this section's byte order is not the host's */
    struct iface *ifaces; /* this section's interfaces */
    uint32_t if_count, if_size;
    uint64_t offset; /* file offset of the next block */
    uint64_t block_offset; /* file offset of the block being read (messages) */
    int first_linktype;
    int finished;         /* END or an error: every later call returns `result` */
    enum pcapng_result result;
    char message[256];
    struct pcapng_stats stats;
};

int pcapng_is_pcapng(const uint8_t first4[4])
{
    return first4[0] == 0x0A && first4[1] == 0x0D && first4[2] == 0x0D && first4[3] == 0x0A;
}

static uint16_t get16(const uint8_t *p, int swapped)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return swapped ? __builtin_bswap16(v) : v;
}

static uint32_t get32(const uint8_t *p, int swapped)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swapped ? __builtin_bswap32(v) : v;
}

static uint64_t get64(const uint8_t *p, int swapped)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return swapped ? __builtin_bswap64(v) : v;
}

/* Record the outcome for this and every later call; PCAPNG_END has no message. */
__attribute__((format(printf, 3, 4))) static enum pcapng_result
stop(struct pcapng *r, enum pcapng_result result, const char *format, ...)
{
    r->finished = 1;
    r->result = result;
    r->message[0] = '\0';
    if (format) {
        va_list args;
        va_start(args, format);
        vsnprintf(r->message, sizeof r->message, format, args);
        va_end(args);
    }
    return result;
}

static enum pcapng_result read_failed(struct pcapng *r)
{
    return stop(r, PCAPNG_ERROR, "read error at offset %llu: %s",
                (unsigned long long)r->block_offset, strerror(errno));
}

static int grow_buffer(struct pcapng *r, uint32_t need)
{
    if (need <= r->buf_size)
        return 1;
    uint32_t size = r->buf_size;
    while (size < need)
        size = size > PCAPNG_MAX_BLOCK / 2 ? PCAPNG_MAX_BLOCK : size * 2;
    uint8_t *bigger = realloc(r->buf, size);
    if (!bigger)
        return 0;
    r->buf = bigger;
    r->buf_size = size;
    return 1;
}

/* One whole block into r->buf: its type, and its body (between header and trailer).
 * PCAPNG_FRAME when a block was read (a section header's body starts at its byte-order
 * magic, and the new byte order is in *section_swapped). */
static enum pcapng_result read_block(struct pcapng *r, uint32_t *type, const uint8_t **body,
                                     uint32_t *body_len, int *section_swapped)
{
    uint8_t head[12];
    uint32_t have = 8, length;
    int swapped = r->swapped;
    r->block_offset = r->offset;
    size_t got = fread(head, 1, 8, r->file);
    if (got == 0 && !ferror(r->file))
        return stop(r, PCAPNG_END, NULL);
    if (got < 8) {
        if (ferror(r->file))
            return read_failed(r);
        return stop(r, PCAPNG_TRUNCATED,
                    "truncated pcapng file: the block at offset %llu ends after %zu of its "
                    "8 header bytes",
                    (unsigned long long)r->block_offset, got);
    }
    if (pcapng_is_pcapng(head)) {
        /* A section header: its byte-order magic says how to read its length. */
        got = fread(head + 8, 1, 4, r->file);
        if (got < 4) {
            if (ferror(r->file))
                return read_failed(r);
            return stop(r, PCAPNG_TRUNCATED,
                        "truncated pcapng file: the section header at offset %llu ends after "
                        "%zu bytes",
                        (unsigned long long)r->block_offset, 8 + got);
        }
        uint32_t magic = get32(head + 8, 0); /* as this host reads it */
        if (magic == 0x1A2B3C4Du)
            swapped = 0;
        else if (magic == 0x4D3C2B1Au)
            swapped = 1;
        else
            return stop(r, PCAPNG_ERROR,
                        "the section header at offset %llu has a bad byte-order magic 0x%08x",
                        (unsigned long long)r->block_offset, magic);
        length = get32(head + 4, swapped);
        if (length < SHB_MIN || length > PCAPNG_MAX_SHB || length % 4 != 0)
            return stop(r, PCAPNG_ERROR,
                        "the section header at offset %llu has an invalid length %u",
                        (unsigned long long)r->block_offset, length);
        have = 12;
        *type = BT_SHB;
    } else {
        *type = get32(head, swapped);
        length = get32(head + 4, swapped);
        if (length < BLOCK_MIN || length % 4 != 0)
            return stop(r, PCAPNG_ERROR,
                        "the block at offset %llu has an invalid length %u (at least %u, a "
                        "multiple of 4)",
                        (unsigned long long)r->block_offset, length, BLOCK_MIN);
        if (length > PCAPNG_MAX_BLOCK)
            return stop(r, PCAPNG_ERROR,
                        "the block at offset %llu is %u bytes long, more than the %u accepted",
                        (unsigned long long)r->block_offset, length, PCAPNG_MAX_BLOCK);
    }
    if (!grow_buffer(r, length))
        return stop(r, PCAPNG_ERROR, "out of memory for a block of %u bytes at offset %llu",
                    length, (unsigned long long)r->block_offset);
    memcpy(r->buf, head, have);
    got = fread(r->buf + have, 1, length - have, r->file);
    if (got < length - have) {
        if (ferror(r->file))
            return read_failed(r);
        return stop(r, PCAPNG_TRUNCATED,
                    "truncated pcapng file: the block at offset %llu is %u bytes long, only "
                    "%zu are there",
                    (unsigned long long)r->block_offset, length, have + got);
    }
    uint32_t trailer = get32(r->buf + length - 4, swapped);
    if (trailer != length)
        return stop(r, PCAPNG_ERROR,
                    "the block at offset %llu has length %u in its header and %u in its "
                    "trailer",
                    (unsigned long long)r->block_offset, length, trailer);
    r->offset += length;
    r->stats.blocks++;
    *body = r->buf + 8;
    *body_len = length - BLOCK_MIN;
    *section_swapped = swapped;
    return PCAPNG_FRAME;
}

static enum pcapng_result new_section(struct pcapng *r, const uint8_t *body, uint32_t len,
                                      int swapped, int first)
{
    (void)len; /* at least 16: read_block checked SHB_MIN */
    uint16_t major = get16(body + 4, swapped), minor = get16(body + 6, swapped);
    /* libpcap: major 1 in every section; minor 0 or 2 in the first. */
    if (major != 1 || (first && minor != 0 && minor != 2))
        return stop(r, PCAPNG_ERROR, "the section at offset %llu has pcapng version %u.%u",
                    (unsigned long long)r->block_offset, major, minor);
    r->swapped = swapped;
    r->if_count = 0;
    r->stats.sections++;
    return PCAPNG_FRAME;
}

/* libpcap's link types as it names them (linktype_to_dlt): 100-103 have other DLT_
 * numbers; every other value is the same in both. */
static int linktype_as_dlt(uint16_t linktype)
{
    switch (linktype) {
    case 100: return 11;  /* ATM_RFC1483 */
    case 101: return 12;  /* RAW */
    case 102: return 15;  /* SLIP_BSDOS */
    case 103: return 16;  /* PPP_BSDOS */
    default: return linktype;
    }
}

static enum pcapng_result bad_idb(struct pcapng *r, const char *what)
{
    return stop(r, PCAPNG_ERROR, "the interface description at offset %llu %s",
                (unsigned long long)r->block_offset, what);
}

static enum pcapng_result add_interface(struct pcapng *r, const uint8_t *body, uint32_t len)
{
    if (len < 8)
        return bad_idb(r, "is too short");
    struct iface iface = {.units = US_PER_S, .shift = -1, .offset_s = 0};
    iface.linktype = linktype_as_dlt(get16(body, r->swapped));
    iface.snaplen = get32(body + 4, r->swapped);
    if (iface.snaplen == 0 || iface.snaplen > PCAPNG_MAX_SNAPLEN)
        iface.snaplen = PCAPNG_MAX_SNAPLEN;
    int saw_tsresol = 0, saw_tsoffset = 0;
    uint32_t pos = 8;
    while (pos < len) {
        if (len - pos < 4)
            return bad_idb(r, "has an option cut short");
        uint16_t code = get16(body + pos, r->swapped);
        uint32_t value_len = get16(body + pos + 2, r->swapped);
        uint32_t padded = (value_len + 3u) & ~3u;
        if (padded > len - pos - 4)
            return bad_idb(r, "has an option longer than its block");
        const uint8_t *value = body + pos + 4;
        pos += 4 + padded;
        if (code == OPT_ENDOFOPT) {
            if (value_len != 0)
                return bad_idb(r, "has an end-of-options option with a value");
            break;
        }
        if (code == IF_TSRESOL) {
            if (value_len != 1 || saw_tsresol)
                return bad_idb(r, "has an if_tsresol option of a wrong length, or two");
            saw_tsresol = 1;
            uint8_t exponent = value[0] & 0x7F;
            if (value[0] & 0x80) {
                if (exponent > 63)
                    return bad_idb(r, "has an if_tsresol finer than 2^-63 s");
                iface.shift = exponent;
                iface.units = (uint64_t)1 << exponent;
            } else {
                if (exponent > 19)
                    return bad_idb(r, "has an if_tsresol finer than 10^-19 s");
                iface.shift = -1;
                iface.units = 1;
                for (uint8_t i = 0; i < exponent; i++)
                    iface.units *= 10;
            }
        } else if (code == IF_TSOFFSET) {
            if (value_len != 8 || saw_tsoffset)
                return bad_idb(r, "has an if_tsoffset option of a wrong length, or two");
            saw_tsoffset = 1;
            iface.offset_s = (int64_t)get64(value, r->swapped);
        }
    }
    if (r->if_count == PCAPNG_MAX_INTERFACES)
        return stop(r, PCAPNG_ERROR,
                    "the interface description at offset %llu is one more than the %u a "
                    "section may have here",
                    (unsigned long long)r->block_offset, PCAPNG_MAX_INTERFACES);
    if (r->if_count == r->if_size) {
        uint32_t size = r->if_size ? r->if_size * 2 : 4;
        struct iface *bigger = realloc(r->ifaces, (size_t)size * sizeof *bigger);
        if (!bigger)
            return stop(r, PCAPNG_ERROR, "out of memory for %u interfaces", size);
        r->ifaces = bigger;
        r->if_size = size;
    }
    r->ifaces[r->if_count++] = iface;
    r->stats.interfaces++;
    return PCAPNG_FRAME;
}

/* floor(frac * m / 2^shift) for frac < 2^shift, m < 2^32, 1 <= shift <= 63: the 96-bit
 * product in two halves (no __int128 on 32-bit targets). */
static uint64_t mul_shift(uint64_t frac, uint32_t m, int shift)
{
    uint64_t p0 = (frac & 0xFFFFFFFFu) * m, p1 = (frac >> 32) * m;
    uint64_t lo = p0 + (p1 << 32);
    uint64_t hi = (p1 >> 32) + (lo < p0);
    return (hi << (64 - shift)) | (lo >> shift);
}

uint64_t pcapng_ticks_to_us(uint64_t ticks, uint64_t units_per_s, int shift, int64_t offset_s)
{
    uint64_t sec, frac_us;
    if (shift > 63 || units_per_s == 0)
        return 0; /* not a resolution the reader accepts */
    if (shift == 0) {
        sec = ticks;
        frac_us = 0;
    } else if (shift > 0) {
        sec = ticks >> shift;
        frac_us = mul_shift(ticks & (((uint64_t)1 << shift) - 1), US_PER_S, shift);
    } else {
        sec = ticks / units_per_s;
        uint64_t frac = ticks % units_per_s;
        /* Both powers of ten: one divides the other, so this is exact. */
        frac_us = units_per_s >= US_PER_S ? frac / (units_per_s / US_PER_S)
                                          : frac * (US_PER_S / units_per_s);
    }
    if (offset_s < 0) {
        uint64_t back = (uint64_t)(-(offset_s + 1)) + 1;
        if (back > sec)
            return 0; /* before 1970 */
        sec -= back;
    } else if (sec > UINT64_MAX - (uint64_t)offset_s) {
        return UINT64_MAX;
    } else {
        sec += (uint64_t)offset_s;
    }
    uint64_t us;
    if (__builtin_mul_overflow(sec, (uint64_t)US_PER_S, &us) ||
        __builtin_add_overflow(us, frac_us, &us))
        return UINT64_MAX;
    return us;
}

static enum pcapng_result bad_packet(struct pcapng *r, const char *what, uint32_t value)
{
    return stop(r, PCAPNG_ERROR, "the packet block at offset %llu %s (%u)",
                (unsigned long long)r->block_offset, what, value);
}

/* A packet block's frame: EPB, PB or SPB, body already bounded by read_block. */
static enum pcapng_result packet(struct pcapng *r, uint32_t type, const uint8_t *body,
                                 uint32_t len, struct pcapng_frame *frame)
{
    uint32_t iface_id, caplen = 0, wire_len, head;
    uint64_t ticks;
    int sw = r->swapped;
    if (type == BT_SPB) {
        if (len < 4)
            return bad_packet(r, "is too short", len);
        iface_id = 0;
        wire_len = get32(body, sw);
        head = 4;
        ticks = 0; /* no time in a simple packet block */
    } else {
        if (len < 20)
            return bad_packet(r, "is too short", len);
        iface_id = type == BT_EPB ? get32(body, sw) : get16(body, sw);
        ticks = (uint64_t)get32(body + 4, sw) << 32 | get32(body + 8, sw);
        caplen = get32(body + 12, sw);
        wire_len = get32(body + 16, sw);
        head = 20;
    }
    if (iface_id >= r->if_count)
        return bad_packet(r, "names an interface this section has not described", iface_id);
    const struct iface *iface = &r->ifaces[iface_id];
    if (type == BT_SPB)
        caplen = wire_len < iface->snaplen ? wire_len : iface->snaplen;
    else if (caplen > iface->snaplen)
        return bad_packet(r, "has a captured length above its interface's snap length",
                          caplen);
    if (caplen > len - head)
        return bad_packet(r, "has a captured length longer than the block", caplen);
    frame->data = body + head;
    frame->caplen = caplen;
    frame->wire_len = wire_len;
    frame->linktype = iface->linktype;
    frame->ts_us = pcapng_ticks_to_us(ticks, iface->units, iface->shift, iface->offset_s);
    r->stats.frames++;
    return PCAPNG_FRAME;
}

struct pcapng *pcapng_open(FILE *file, char *err, size_t err_len)
{
    struct pcapng *r = calloc(1, sizeof *r);
    if (r)
        r->buf = malloc(INITIAL_BUFFER);
    if (!r || !r->buf) {
        snprintf(err, err_len, "out of memory");
        pcapng_close(r);
        return NULL;
    }
    r->file = file;
    r->buf_size = INITIAL_BUFFER;
    uint32_t type, len;
    const uint8_t *body;
    int swapped;
    enum pcapng_result res = read_block(r, &type, &body, &len, &swapped);
    if (res == PCAPNG_FRAME && type != BT_SHB)
        stop(r, PCAPNG_ERROR, "it does not start with a section header");
    else if (res == PCAPNG_END)
        stop(r, PCAPNG_ERROR, "the file is empty");
    else if (res == PCAPNG_FRAME)
        new_section(r, body, len, swapped, 1);
    /* libpcap's open: on to the first interface description, refusing packets before it. */
    while (!r->finished) {
        res = read_block(r, &type, &body, &len, &swapped);
        if (res == PCAPNG_END)
            stop(r, PCAPNG_ERROR, "the capture file has no interface description");
        if (res != PCAPNG_FRAME)
            break;
        if (type == BT_SHB) {
            new_section(r, body, len, swapped, 0);
        } else if (type == BT_IDB) {
            if (add_interface(r, body, len) == PCAPNG_FRAME) {
                r->first_linktype = r->ifaces[0].linktype;
                return r;
            }
        } else if (type == BT_EPB || type == BT_SPB || type == BT_PB) {
            stop(r, PCAPNG_ERROR, "a packet block at offset %llu comes before any interface "
                 "description", (unsigned long long)r->block_offset);
        } else {
            r->stats.skipped_blocks++;
        }
    }
    snprintf(err, err_len, "%s", r->message);
    pcapng_close(r);
    return NULL;
}

int pcapng_first_linktype(const struct pcapng *r) { return r->first_linktype; }

const struct pcapng_stats *pcapng_stats(const struct pcapng *r) { return &r->stats; }

enum pcapng_result pcapng_next(struct pcapng *r, struct pcapng_frame *frame, char *err,
                               size_t err_len)
{
    while (!r->finished) {
        uint32_t type, len;
        const uint8_t *body;
        int swapped;
        if (read_block(r, &type, &body, &len, &swapped) != PCAPNG_FRAME)
            break;
        switch (type) {
        case BT_SHB:
            new_section(r, body, len, swapped, 0);
            break;
        case BT_IDB:
            add_interface(r, body, len);
            break;
        case BT_EPB:
        case BT_PB:
        case BT_SPB:
            if (packet(r, type, body, len, frame) == PCAPNG_FRAME)
                return PCAPNG_FRAME;
            break;
        default:
            r->stats.skipped_blocks++;
            break;
        }
    }
    if (err_len)
        snprintf(err, err_len, "%s", r->message);
    return r->result;
}

void pcapng_close(struct pcapng *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r->ifaces);
    free(r);
}
