/*
 * capture.c: libpcap sources (capture files and live interfaces) and the capture loop
 * that feeds their frames to the engine. Called with the GIL released; never touches
 * Python.
 *
 * Files are read one after another, each to its end. Live sources are non-blocking and
 * polled together, so two SPAN ports feed one flow table. While no live packet arrives,
 * the engine's clock follows the wall clock, so idle flows still expire.
 *
 * Snap length default: 262144 bytes, libpcap's own maximum, so no frame is cut short;
 * the parser needs far less, but extractors of first payloads (DICOM, HL7) may not.
 * Immediate mode makes libpcap use fixed-size ring frames (TPACKET_V2) of
 * min(snap length, interface MTU + link header): on a 1500-byte SPAN port the default
 * 32 MiB buffer holds ~20000 frames; on loopback (MTU 65536) only ~500.
 */
/* 64-bit file offsets on 32-bit userlands too (Raspberry Pi OS armhf): the direct reader
 * keeps its own offset (off_t) into captures that may exceed 2 GiB. */
#define _FILE_OFFSET_BITS 64
#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "pcapng.h"

#define FILE_BATCH_PACKETS 8192 /* per pcap_dispatch on a file: stop/timeout checks between */
#define IDLE_POLL_MS 100        /* longest wait for live packets before the clock moves */
#define FILE_BUFFER_BYTES (1 << 20) /* stdio's default (4 KiB reads) costs a syscall per page */
#define DIRECT_BUFFER_BYTES (1 << 20) /* direct reading: holds any record it takes */
#define DIRECT_MAX_CAPLEN 262144      /* larger records go through libpcap */
#define PCAP_RECORD_HEADER 16

struct source {
    struct capture *capture;
    pcap_t *pcap;
    int linktype;
    int is_live;
    int at_eof;
    int fd;                 /* live: the selectable descriptor for poll() */
    unsigned last_drop;     /* live: pcap_stats figures already added to the counters */
    unsigned last_ifdrop;
    char name[128];         /* file path or interface, for error messages */
    /* Files in the classic pcap format, host byte order, microseconds, version 2.4 (what
     * tcpdump and the bench write) are read directly: large reads into `direct`, frames
     * handed to the engine in place. libpcap reads two small fread()s per record and
     * copies every frame; that cost as much as the flow engine's own work. Any record
     * the direct reader does not take as it is (a cut, too long or damaged record, the
     * end of the file) is read by libpcap itself from the same offset, so frames, errors
     * and their messages stay exactly libpcap's. */
    FILE *file;             /* files: the stream libpcap reads (libpcap closes it) */
    uint8_t *direct;        /* NULL: libpcap reads every record */
    uint32_t direct_len, direct_pos; /* bytes in `direct`, and the next record's start */
    off_t direct_off;       /* file offset of direct[0] */
    uint32_t snapshot;      /* libpcap's snapshot length for the file */
    /* pcapng files (regular files) are read by native/pcapng.c, not libpcap (pcap is
     * NULL): exact 64-bit times on every architecture, a link type per interface. */
    struct pcapng *ng;
    FILE *ng_file;
    enum pcapng_result ng_failed; /* PCAPNG_END (0) until an error is met; reported on the
                                     call after the frames read before it */
    char ng_error[256];
};

struct capture {
    struct engine *engine;
    struct source sources[CAPTURE_MAX_SOURCES];
    int count;
    atomic_int stop_requested;
    uint64_t pace_until_us; /* 0: read files as fast as possible */
};

static void close_source(struct source *s)
{
    if (s->pcap)
        pcap_close(s->pcap);
    free(s->direct);
    pcapng_close(s->ng);
    if (s->ng_file)
        fclose(s->ng_file);
}

struct capture *capture_new(struct engine *engine)
{
    struct capture *c = calloc(1, sizeof *c);
    if (c)
        c->engine = engine;
    return c;
}

void capture_free(struct capture *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->count; i++)
        close_source(&c->sources[i]);
    free(c);
}

int capture_source_count(const struct capture *c) { return c->count; }

static int linktype_supported(int linktype)
{
    switch (linktype) {
    case IOMT_DLT_NULL:
    case IOMT_DLT_EN10MB:
    case IOMT_DLT_RAW:
    case IOMT_LINKTYPE_RAW:
    case IOMT_DLT_LINUX_SLL:
    case IOMT_DLT_IPV4:
    case IOMT_DLT_IPV6:
    case IOMT_DLT_LINUX_SLL2:
        return 1;
    default:
        return 0;
    }
}

static enum capture_status linktype_refused(int linktype, const char *name, char *err,
                                            size_t err_len)
{
    const char *link_name = pcap_datalink_val_to_name(linktype);
    snprintf(err, err_len,
             "%s: link type %d (%s) is not supported; supported: Ethernet, Linux cooked "
             "(SLL, SLL2), raw IP, BSD loopback",
             name, linktype, link_name ? link_name : "unknown");
    return CAPTURE_ERR_LINKTYPE;
}

/* Keep an opened handle as a source, or explain why its link type is refused. */
static enum capture_status add_source(struct capture *c, pcap_t *pcap, int is_live,
                                      const char *name, char *err, size_t err_len)
{
    int linktype = pcap_datalink(pcap);
    if (!linktype_supported(linktype)) {
        pcap_close(pcap);
        return linktype_refused(linktype, name, err, err_len);
    }
    struct source *s = &c->sources[c->count++];
    memset(s, 0, sizeof *s);
    s->capture = c;
    s->pcap = pcap;
    s->linktype = linktype;
    s->is_live = is_live;
    s->fd = is_live ? pcap_get_selectable_fd(pcap) : -1;
    snprintf(s->name, sizeof s->name, "%s", name);
    return CAPTURE_OK;
}

/* Read the file's records directly when it is a regular file in the classic format libpcap
 * would hand over unchanged (see struct source); otherwise leave it all to libpcap. */
static void direct_setup(struct source *s, FILE *file)
{
    struct stat st;
    uint8_t header[24];
    int fd = fileno(file);
    s->file = file;
    off_t at = ftello(file);
    if (fd < 0 || at != (off_t)sizeof header || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        pread(fd, header, sizeof header, 0) != (ssize_t)sizeof header)
        return;
    uint32_t magic;
    uint16_t major, minor;
    memcpy(&magic, header, 4);
    memcpy(&major, header + 4, 2);
    memcpy(&minor, header + 6, 2);
    if (magic != 0xa1b2c3d4u || major != 2 || minor != 4 || pcap_is_swapped(s->pcap) ||
        pcap_snapshot(s->pcap) <= 0)
        return;
    s->direct = malloc(DIRECT_BUFFER_BYTES);
    s->direct_off = at;
    s->direct_len = s->direct_pos = 0;
    s->snapshot = (uint32_t)pcap_snapshot(s->pcap);
}

/* A regular file that starts with a pcapng section header (read without moving the
 * stream). Anything else (classic pcap, a pipe) is libpcap's to open. */
static int is_pcapng_file(FILE *file)
{
    struct stat st;
    uint8_t magic[4];
    int fd = fileno(file);
    return fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
           pread(fd, magic, sizeof magic, 0) == (ssize_t)sizeof magic && pcapng_is_pcapng(magic);
}

static enum capture_status open_pcapng(struct capture *c, FILE *file, const char *path,
                                       char *err, size_t err_len)
{
    char why[256];
    struct pcapng *ng = pcapng_open(file, why, sizeof why);
    if (!ng) {
        fclose(file);
        snprintf(err, err_len, "%s: not a readable pcap or pcapng capture (%s)", path, why);
        return CAPTURE_ERR_OPEN;
    }
    /* Like libpcap, the file is taken or refused by its first interface's link type; a
     * later interface of a type the parser does not decode has its frames counted as
     * non-IP (parse_frame). */
    int linktype = pcapng_first_linktype(ng);
    if (!linktype_supported(linktype)) {
        pcapng_close(ng);
        fclose(file);
        return linktype_refused(linktype, path, err, err_len);
    }
    struct source *s = &c->sources[c->count++];
    memset(s, 0, sizeof *s);
    s->capture = c;
    s->linktype = linktype;
    s->fd = -1;
    s->ng = ng;
    s->ng_file = file;
    snprintf(s->name, sizeof s->name, "%s", path);
    return CAPTURE_OK;
}

enum capture_status capture_open_file(struct capture *c, const char *path, char *err,
                                      size_t err_len)
{
    if (c->count == CAPTURE_MAX_SOURCES) {
        snprintf(err, err_len, "%s: at most %d capture sources per engine", path,
                 CAPTURE_MAX_SOURCES);
        return CAPTURE_ERR_LIMIT;
    }
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    FILE *file = fopen(path, "rb");
    if (!file) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return CAPTURE_ERR_OPEN;
    }
    setvbuf(file, NULL, _IOFBF, FILE_BUFFER_BYTES); /* before any read, as stdio requires */
    if (is_pcapng_file(file))
        return open_pcapng(c, file, path, err, err_len);
    /* On success pcap owns the FILE (pcap_close closes it); on failure it is ours. */
    pcap_t *pcap = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_MICRO,
                                                            errbuf);
    if (!pcap) {
        fclose(file);
        snprintf(err, err_len, "%s: not a readable pcap or pcapng capture (%s)", path, errbuf);
        return CAPTURE_ERR_OPEN;
    }
    enum capture_status status = add_source(c, pcap, 0, path, err, err_len);
    if (status == CAPTURE_OK)
        direct_setup(&c->sources[c->count - 1], file);
    return status;
}

static enum capture_status live_fail(pcap_t *pcap, const char *interface, const char *call,
                                     int status, char *err, size_t err_len)
{
    /* pcap_geterr holds the specific text when libpcap set one (often names the cause). */
    const char *detail = pcap_geterr(pcap)[0] ? pcap_geterr(pcap) : pcap_statustostr(status);
    snprintf(err, err_len, "%s: %s failed: %s", interface, call, detail);
    pcap_close(pcap);
    return CAPTURE_ERR_OPEN;
}

enum capture_status capture_open_live(struct capture *c, const char *interface,
                                      const struct capture_live_options *o, char *err,
                                      size_t err_len)
{
    if (c->count == CAPTURE_MAX_SOURCES) {
        snprintf(err, err_len, "%s: at most %d capture sources per engine", interface,
                 CAPTURE_MAX_SOURCES);
        return CAPTURE_ERR_LIMIT;
    }
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *pcap = pcap_create(interface, errbuf);
    if (!pcap) {
        snprintf(err, err_len, "%s: pcap_create failed: %s", interface, errbuf);
        return CAPTURE_ERR_OPEN;
    }
    int status;
    if ((status = pcap_set_snaplen(pcap, o->snaplen)) != 0)
        return live_fail(pcap, interface, "pcap_set_snaplen", status, err, err_len);
    if ((status = pcap_set_promisc(pcap, o->promiscuous)) != 0)
        return live_fail(pcap, interface, "pcap_set_promisc", status, err, err_len);
    if ((status = pcap_set_immediate_mode(pcap, 1)) != 0)
        return live_fail(pcap, interface, "pcap_set_immediate_mode", status, err, err_len);
    if ((status = pcap_set_buffer_size(pcap, o->buffer_bytes)) != 0)
        return live_fail(pcap, interface, "pcap_set_buffer_size", status, err, err_len);
    if ((status = pcap_set_timeout(pcap, o->timeout_ms)) != 0)
        return live_fail(pcap, interface, "pcap_set_timeout", status, err, err_len);
    pcap_set_tstamp_precision(pcap, PCAP_TSTAMP_PRECISION_MICRO);
    status = pcap_activate(pcap);
    if (status < 0)
        return live_fail(pcap, interface, "pcap_activate", status, err, err_len);
    if (status > 0) /* a warning: capture works, the caller may report it */
        snprintf(err, err_len, "%s: pcap_activate warning: %s (%s)", interface,
                 pcap_geterr(pcap), pcap_statustostr(status));
    if (o->bpf_filter && o->bpf_filter[0]) {
        struct bpf_program program;
        if (pcap_compile(pcap, &program, o->bpf_filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            snprintf(err, err_len, "%s: bad capture filter \"%s\": %s", interface, o->bpf_filter,
                     pcap_geterr(pcap));
            pcap_close(pcap);
            return CAPTURE_ERR_FILTER;
        }
        status = pcap_setfilter(pcap, &program);
        pcap_freecode(&program);
        if (status != 0) {
            snprintf(err, err_len, "%s: capture filter \"%s\" cannot be applied: %s", interface,
                     o->bpf_filter, pcap_geterr(pcap));
            pcap_close(pcap);
            return CAPTURE_ERR_FILTER;
        }
    }
    if (pcap_setnonblock(pcap, 1, errbuf) != 0) {
        snprintf(err, err_len, "%s: pcap_setnonblock failed: %s", interface, errbuf);
        pcap_close(pcap);
        return CAPTURE_ERR_OPEN;
    }
    return add_source(c, pcap, 1, interface, err, err_len);
}

/* ---------------------------------------------------------------- the loop */

/* Python must drain before the next frame: the record ring, or the device events. */
static inline int output_low(struct engine *e) { return engine_output_low(e); }

static int paced_out(const struct capture *c)
{
    return c->pace_until_us && engine_clock_us(c->engine) > c->pace_until_us;
}

/* capture_stop() only sets the flag; the loop looks at it after every frame and between
 * dispatches and breaks itself off. (Breaking each source's loop from the stopping
 * thread raced a failing source being closed and removed from the array.) */
static inline int stop_pending(struct capture *c)
{
    return atomic_load_explicit(&c->stop_requested, memory_order_relaxed);
}

/* After a frame: return to capture_run when the output runs low, the pace is reached or
 * a stop was asked for. */
static inline int must_return(struct capture *c)
{
    return output_low(c->engine) || paced_out(c) || stop_pending(c);
}

void capture_set_pace(struct capture *c, uint64_t until_us)
{
    c->pace_until_us = until_us;
}

static void on_frame(u_char *user, const struct pcap_pkthdr *header, const u_char *bytes)
{
    struct source *s = (struct source *)user;
    struct engine *e = s->capture->engine;
    /* pcap files hold unsigned 32-bit seconds and fractions, but libpcap hands them over
     * in signed fields: a time after 2038 or a bogus fraction arrives negative. Read
     * them back as the unsigned values in the file (as tests/reference.py does). */
    uint64_t sec = header->ts.tv_sec < 0 ? (uint32_t)header->ts.tv_sec
                                         : (uint64_t)header->ts.tv_sec;
    uint64_t usec = header->ts.tv_usec < 0 ? (uint32_t)header->ts.tv_usec
                                           : (uint64_t)header->ts.tv_usec;
    /* pcapng's 64-bit timestamps can exceed 2^64 microseconds: saturate, never wrap. */
    uint64_t ts_us;
    if (__builtin_mul_overflow(sec, (uint64_t)1000000u, &ts_us) ||
        __builtin_add_overflow(ts_us, usec, &ts_us))
        ts_us = UINT64_MAX;
    engine_handle_frame(e, s->linktype, bytes, header->caplen, header->len, ts_us);
    /* Return to the caller before the next frame could find the ring too full, (when
     * replaying at a set speed) once the file has caught up with the pace, or to stop. */
    if (must_return(s->capture))
        pcap_breakloop(s->pcap);
}

static uint64_t now_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Kernel and interface drops since the last call, added to the engine's counters. The
 * pcap_stat fields are 32-bit and wrap; unsigned subtraction handles one wrap. */
static void collect_drops(struct capture *c)
{
    for (int i = 0; i < c->count; i++) {
        struct source *s = &c->sources[i];
        struct pcap_stat stats;
        if (!s->is_live || pcap_stats(s->pcap, &stats) != 0)
            continue;
        engine_add_drops(c->engine, (unsigned)(stats.ps_drop - s->last_drop),
                         (unsigned)(stats.ps_ifdrop - s->last_ifdrop));
        s->last_drop = stats.ps_drop;
        s->last_ifdrop = stats.ps_ifdrop;
    }
}

static enum capture_status read_error(struct source *s, char *err, size_t err_len)
{
    s->at_eof = 1;
    if (s->ng) {
        snprintf(err, err_len, "%s: %s", s->name, s->ng_error);
        return s->ng_failed == PCAPNG_TRUNCATED ? CAPTURE_ERR_TRUNCATED : CAPTURE_ERR_READ;
    }
    const char *msg = pcap_geterr(s->pcap);
    snprintf(err, err_len, "%s: %s", s->name, msg);
    return strstr(msg, "truncated") ? CAPTURE_ERR_TRUNCATED : CAPTURE_ERR_READ;
}

static void remove_source(struct capture *c, int i)
{
    close_source(&c->sources[i]);
    for (int j = i + 1; j < c->count; j++) {
        c->sources[j - 1] = c->sources[j];
    }
    c->count--;
}

/* One round over the live sources: 1 when any delivered a frame (or was broken off to
 * return), 0 when none did, -1 on an error (err filled). */
static int dispatch_live(struct capture *c, enum capture_status *status, char *err,
                         size_t err_len)
{
    int got = 0;
    for (int i = 0; i < c->count; i++) {
        struct source *s = &c->sources[i];
        if (!s->is_live)
            continue;
        int n = pcap_dispatch(s->pcap, -1, on_frame, (u_char *)s);
        if (n == PCAP_ERROR) {
            /* The interface went away or down: report it once and drop the source, so
             * the caller can open it again when it is back. */
            *status = read_error(s, err, err_len);
            remove_source(c, i);
            return -1;
        }
        if (n > 0 || n == PCAP_ERROR_BREAK) /* broken off: ring full or stop requested */
            got = 1;
        if (output_low(c->engine) || stop_pending(c))
            break;
    }
    return got;
}

static void wait_live(struct capture *c, int wait_ms)
{
    struct pollfd fds[CAPTURE_MAX_SOURCES];
    int n = 0;
    for (int i = 0; i < c->count; i++) {
        if (c->sources[i].is_live && c->sources[i].fd >= 0) {
            fds[n].fd = c->sources[i].fd;
            fds[n].events = POLLIN;
            fds[n].revents = 0;
            n++;
        }
    }
    if (poll(fds, (nfds_t)n, wait_ms) == 0) /* quiet: time passes for the flows too */
        engine_advance_clock(c->engine, now_us(CLOCK_REALTIME));
}

/* At least `need` bytes from direct_pos on, unless the file ends first: the bytes there
 * (fewer than `need` at the end), or -1 when reading fails. */
static __attribute__((noinline)) long direct_refill(struct source *s, uint32_t need)
{
    uint32_t have = s->direct_len - s->direct_pos;
    memmove(s->direct, s->direct + s->direct_pos, have);
    s->direct_off += s->direct_pos;
    s->direct_pos = 0;
    s->direct_len = have;
    while (s->direct_len < need) {
        ssize_t got = pread(fileno(s->file), s->direct + s->direct_len,
                            DIRECT_BUFFER_BYTES - s->direct_len,
                            s->direct_off + (off_t)s->direct_len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        s->direct_len += (uint32_t)got;
    }
    return s->direct_len;
}

static inline long direct_fill(struct source *s, uint32_t need)
{
    uint32_t have = s->direct_len - s->direct_pos;
    return have >= need ? (long)have : direct_refill(s, need);
}

/* One record by libpcap itself, from the direct reader's offset: what libpcap makes of
 * a record the direct reader does not take (the end of the file included). Returns what
 * pcap_dispatch does (1, 0 at the end, PCAP_ERROR). */
static int direct_by_libpcap(struct source *s)
{
    if (fseeko(s->file, s->direct_off + (off_t)s->direct_pos, SEEK_SET) != 0) {
        free(s->direct); /* cannot happen on a regular file; libpcap goes on alone */
        s->direct = NULL;
        return pcap_dispatch(s->pcap, 1, on_frame, (u_char *)s);
    }
    int n;
    do /* a break left over from an earlier frame (or capture_stop) returns at once */
        n = pcap_dispatch(s->pcap, 1, on_frame, (u_char *)s);
    while (n == PCAP_ERROR_BREAK);
    off_t at = ftello(s->file);
    if (at < 0) {
        free(s->direct);
        s->direct = NULL;
        return n;
    }
    s->direct_off = at;
    s->direct_pos = s->direct_len = 0;
    return n;
}

/* The next pcapng frame into *f: 1, or 0 with the reader's end or error in ng_failed.
 * Out of line (cold for classic files), so the loop below keeps its size. */
static __attribute__((noinline)) int pcapng_take(struct source *s, struct pcapng_frame *f)
{
    enum pcapng_result r = pcapng_next(s->ng, f, s->ng_error, sizeof s->ng_error);
    if (r == PCAPNG_FRAME)
        return 1;
    s->ng_failed = r;
    return 0;
}

/* pcap_dispatch for a file the engine reads itself, classic pcap read directly or pcapng:
 * up to `max` frames, stopping after a frame when the output runs low or the pace is
 * reached, as on_frame does. One loop, one call of engine_handle_frame for both formats:
 * a second call site (a loop of its own for pcapng) made gcc's link-time inliner stop
 * inlining engine_handle_frame here, +16 instructions per classic frame (callgrind).
 * pcapng: 0 at the end, PCAP_ERROR on an error (ng_error says it), reported on the call
 * after the frames read before it. */
static int file_dispatch(struct source *s, int max)
{
    struct capture *c = s->capture;
    struct engine *e = c->engine;
    int n = 0;
    if (s->ng && s->ng_failed != PCAPNG_END)
        return PCAP_ERROR;
    while (n < max) {
        const uint8_t *data;
        uint32_t caplen, wire_len;
        uint64_t ts_us;
        int linktype = s->linktype;
        if (__builtin_expect(s->ng != NULL, 0)) {
            struct pcapng_frame f = {0};
            if (!pcapng_take(s, &f))
                return n > 0 || s->ng_failed == PCAPNG_END ? n : PCAP_ERROR;
            data = f.data;
            caplen = f.caplen;
            wire_len = f.wire_len;
            ts_us = f.ts_us;
            linktype = f.linktype;
        } else {
            if (direct_fill(s, PCAP_RECORD_HEADER) < PCAP_RECORD_HEADER)
                break;
            const uint8_t *h = s->direct + s->direct_pos;
            uint32_t rec[4]; /* seconds, microseconds, captured length, wire length */
            memcpy(rec, h, sizeof rec);
            caplen = rec[2];
            if (caplen > s->snapshot || caplen > DIRECT_MAX_CAPLEN ||
                direct_fill(s, PCAP_RECORD_HEADER + caplen) <
                    (long)(PCAP_RECORD_HEADER + caplen))
                break;
            h = s->direct + s->direct_pos; /* the fill may have moved the record */
            s->direct_pos += PCAP_RECORD_HEADER + caplen;
            data = h + PCAP_RECORD_HEADER;
            wire_len = rec[3];
            /* The unsigned 32-bit values of the file, as on_frame reads them back. */
            ts_us = (uint64_t)rec[0] * 1000000u + rec[1];
        }
        engine_handle_frame(e, linktype, data, caplen, wire_len, ts_us);
        n++;
        if (must_return(c))
            return n;
    }
    if (n > 0)
        return n; /* the record that stopped it comes first in the next call */
    return direct_by_libpcap(s);
}

enum capture_status capture_run(struct capture *c, int timeout_ms, char *err, size_t err_len)
{
    struct engine *e = c->engine;
    uint64_t deadline =
        now_us(CLOCK_MONOTONIC) + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000u;
    enum capture_status status = CAPTURE_OK;
    while (status == CAPTURE_OK) {
        int live_count = 0;
        for (int i = 0; i < c->count; i++)
            live_count += c->sources[i].is_live;
        if (atomic_exchange(&c->stop_requested, 0)) {
            status = CAPTURE_STOPPED;
            break;
        }
        if (!engine_resume(e) || output_low(e)) {
            status = CAPTURE_RING_FULL;
            break;
        }
        struct source *file = NULL;
        for (int i = 0; i < c->count && !file; i++)
            if (!c->sources[i].is_live && !c->sources[i].at_eof)
                file = &c->sources[i];
        if (file && paced_out(c)) {
            status = CAPTURE_PACED;
            break;
        }
        if (file) {
            int n = file->direct || file->ng
                        ? file_dispatch(file, FILE_BATCH_PACKETS)
                        : pcap_dispatch(file->pcap, FILE_BATCH_PACKETS, on_frame, (u_char *)file);
            if (n == 0)
                file->at_eof = 1;
            else if (n == PCAP_ERROR)
                status = read_error(file, err, err_len);
        } else if (live_count == 0) {
            status = CAPTURE_EOF;
            break;
        } else {
            int got = dispatch_live(c, &status, err, err_len);
            if (got == 0) {
                uint64_t now = now_us(CLOCK_MONOTONIC);
                uint64_t left_ms = now < deadline ? (deadline - now + 999) / 1000 : 0;
                wait_live(c, (int)(left_ms < IDLE_POLL_MS ? left_ms : IDLE_POLL_MS));
            }
        }
        if (status == CAPTURE_OK && now_us(CLOCK_MONOTONIC) >= deadline)
            status = CAPTURE_TIMEOUT;
    }
    collect_drops(c);
    return status;
}

void capture_stop(struct capture *c)
{
    atomic_store(&c->stop_requested, 1);
}
