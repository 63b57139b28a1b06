/*
 * pcapng.h: the engine's own reader of pcapng capture files (native/pcapng.c).
 *
 * libpcap hands pcapng times over in a struct timeval: on a 32-bit time_t (bookworm's
 * armhf) seconds from 2^32 (2106) on arrive modulo 2^32, and it refuses files whose
 * interfaces differ in link type or whose sections differ in byte order. This reader
 * gives every frame its exact 64-bit microsecond time on every architecture and its own
 * interface's link type. It reads through stdio (regular files and pipes alike) and
 * trusts nothing in the file: every length is checked against the block that holds it,
 * blocks are at most PCAPNG_MAX_BLOCK bytes (libpcap's limit too), a section holds at
 * most PCAPNG_MAX_INTERFACES interfaces, and a damaged file ends the reading with an
 * error naming the block's offset (the frames before it are delivered).
 *
 * Blocks read: Section Header (either byte order; several sections, each with its own
 * byte order and interfaces), Interface Description (link type, snap length, if_tsresol
 * in 10^-n or 2^-n, if_tsoffset), Enhanced Packet, Simple Packet (interface 0, no time),
 * the obsolete Packet Block; any other block is skipped by its length.
 *
 * No libpcap here: the fuzz harness and the C unit tests link it alone.
 */
#ifndef IOMT_PCAPNG_H
#define IOMT_PCAPNG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PCAPNG_MAGIC 0x0A0D0D0Au             /* a Section Header Block's type */
#define PCAPNG_MAX_BLOCK (16u * 1024u * 1024u) /* longest block accepted (as libpcap) */
#define PCAPNG_MAX_SHB (1024u * 1024u)        /* longest section header (as libpcap) */
#define PCAPNG_MAX_INTERFACES 65536u          /* per section */
#define PCAPNG_MAX_SNAPLEN 262144u            /* a snap length of 0 or more means this */

enum pcapng_result {
    PCAPNG_ERROR = -2,     /* malformed (or unreadable) file: err says what and where */
    PCAPNG_TRUNCATED = -1, /* the file ends inside a block */
    PCAPNG_END = 0,        /* the file ends after a whole block */
    PCAPNG_FRAME = 1       /* *frame holds the next frame */
};

struct pcapng_frame {
    const uint8_t *data;   /* caplen bytes, valid until the next pcapng_next */
    uint32_t caplen;
    uint32_t wire_len;
    int linktype;          /* its interface's, as libpcap names it (LINKTYPE_RAW is DLT 12) */
    uint64_t ts_us;        /* microseconds since 1970, exact; saturates at 2^64 - 1 */
};

/* What was read so far (tests, and the reader's own accounting of what it skipped). */
struct pcapng_stats {
    uint64_t blocks;         /* whole blocks read */
    uint64_t frames;         /* frames delivered */
    uint64_t skipped_blocks; /* blocks of other types, skipped by their length */
    uint64_t sections;       /* section headers */
    uint64_t interfaces;     /* interface descriptions, over all sections */
};

struct pcapng;

/* 1 when the first four bytes of a file are a pcapng Section Header Block's type. */
int pcapng_is_pcapng(const uint8_t first4[4]);

/* Read the file's section header and its blocks up to the first interface description
 * (as libpcap does when it opens a file, so an open refuses what it would refuse). The
 * stream is read from its current position, which must be the file's start; the reader
 * does not close it. NULL with err filled when the file is not a readable pcapng file
 * (or memory is short). */
struct pcapng *pcapng_open(FILE *file, char *err, size_t err_len);

/* The first interface's link type (what the file is refused or accepted by). */
int pcapng_first_linktype(const struct pcapng *reader);

/* The next frame, or the end, or an error (err filled). After an error or the end, every
 * later call returns the same. */
enum pcapng_result pcapng_next(struct pcapng *reader, struct pcapng_frame *frame, char *err,
                               size_t err_len);

const struct pcapng_stats *pcapng_stats(const struct pcapng *reader);

/* Frees the reader (not the stream). NULL is allowed. */
void pcapng_close(struct pcapng *reader);

/* The time of `ticks` units of 1/units_per_s second (decimal: 10^n, or binary: 2^shift
 * when shift >= 0) plus offset_s seconds, in microseconds, rounded down; 0 below 1970
 * and 2^64 - 1 past it. Exposed for the unit tests. */
uint64_t pcapng_ticks_to_us(uint64_t ticks, uint64_t units_per_s, int shift, int64_t offset_s);

#endif
