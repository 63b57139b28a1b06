/*
 * fuzz_engine.c: libFuzzer harness for the whole engine (parse + flow table + ring).
 *
 * Build: tools/sanitize.sh compiles it with clang -fsanitize=fuzzer,address,undefined
 * together with every C file of native/ but the CPython binding (module.c and
 * module_*.c), and links libpcap (file mode uses the engine's capture reader).
 * With -DFUZZ_PARSE_ONLY only parse.c is needed (each frame goes to parse_frame).
 *
 * Input format (native/fuzz/make_seeds.py writes seeds from real captures):
 *   byte 0      bit 7 clear: link type, bits 0-6 an index into LINKTYPES (mod its size);
 *               bit 7 set: file mode (below)
 *   byte 1      engine shape: bits 0-1 pick max_flows, bits 2-3 the ring size; bit 4
 *               drains the ring after every frame (else only when the engine asks);
 *               bit 5 drains by engine_ring_discard() without looking at the records;
 *               bits 6-7 pick max_devices (64, 1, 4, or 0: device table and extractors
 *               off), so the seeds' default shape runs every extractor
 *   then records, each:
 *     u16 caplen (big endian), u8 wire_extra, u16 ts_step (big endian), caplen bytes
 *     (fewer if the input ends: the frame is cut there).
 *     ts_step: bit 15 clear, packet time moves on by ts_step * 10 ms (up to ~5 min, so
 *     a few steps pass every timeout below); bit 15 set, it goes back by the rest (out
 *     of order files); time saturates at 0 and 2^64 - 1. wire_extra: wire_len = caplen
 *     + wire_extra; 255 makes the record lie (wire_len = caplen / 2); 254 feeds no frame
 *     but moves the clock (a live capture's idle tick, engine_advance_clock); 253 first
 *     jumps the time to 2^64 - 1 - ts_step * 10 ms (a record from the far future, times
 *     near 2^64), then feeds the frame with wire_len = caplen.
 * File mode (byte 0 bit 7 set): byte 1 is the engine shape as above, and the rest is a
 *   capture file (pcap or pcapng, as make_seeds.py writes them from the same captures),
 *   read through the engine's own reader (capture_open_file, capture_run: its direct
 *   pcap reader and the libpcap fallback) from a memfd.
 *
 * Beyond the sanitizers' checks, the harness aborts when an engine invariant breaks:
 * the per-frame counters add up to packets_seen, no record is lost, every record is
 * well formed, the records' packets add up to packets_in_flows after the flush, and
 * no flow remains. Every record read also goes into a flow batch (native/flow_batch.c),
 * encoded as the daemon would (whole, then halved) whenever it holds 64 records and at the
 * end: the fragment must be exactly `entries` well-formed CBOR map entries, keys 16..27
 * ascending, and every server name 1..253 bytes. Every record read is also written as
 * its `flows --json` line (json_lines.c) into a heap buffer of exactly JSON_LINE_MAX
 * bytes, and the line must be one printable-ASCII JSON object ending in a newline.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine.h"
#include "flow_batch.h"
#include "json_lines.h"

static const int LINKTYPES[] = {IOMT_DLT_EN10MB, IOMT_DLT_LINUX_SLL, IOMT_DLT_LINUX_SLL2,
                                IOMT_DLT_RAW,    IOMT_LINKTYPE_RAW,  IOMT_DLT_IPV4,
                                IOMT_DLT_IPV6,   IOMT_DLT_NULL};
#define LINKTYPE_COUNT (sizeof LINKTYPES / sizeof LINKTYPES[0])

/* Frame copies live on the heap at exactly their captured length, so ASan sees a read
 * one byte past caplen. */
static uint8_t *exact_copy(const uint8_t *data, uint32_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, data, len);
    return copy;
}

#ifdef FUZZ_PARSE_ONLY

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int linktype = LINKTYPES[data[0] % LINKTYPE_COUNT];
    uint8_t *frame = exact_copy(data + 1, (uint32_t)(size - 1));
    struct packet pkt = {0};
    enum parse_result r = parse_frame(linktype, frame, (uint32_t)(size - 1),
                                      (uint32_t)(size - 1), &pkt);
    if ((unsigned)r > PARSE_FRAGMENT_LATER || pkt.payload_caplen > pkt.payload_len)
        abort();
    free(frame);
    return 0;
}

#else

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_engine: invariant broken: %s\n", what);
    abort();
}

static void check_counters(const struct engine *engine)
{
    const struct engine_counters *c = engine_counters(engine);
    if (c->packets_seen !=
        c->packets_in_flows + c->non_ip + c->malformed + c->truncated + c->fragments_unmatched)
        fail("packets_seen != in_flows + non_ip + malformed + truncated + unmatched");
    if (engine_records_lost(engine) != 0)
        fail("a record was lost to a full ring");
}

struct drain {
    int look;                /* read every record (else engine_ring_discard) */
    uint64_t record_packets; /* packets of every record read so far */
    struct flow_batch *batch; /* the records read, encoded now and then */
};

/* One definite-length CBOR item of the kinds the encoder writes, skipped; returns the
 * position after it, or 0 when it is not well formed or runs past `end`. */
static size_t skip_item(const uint8_t *p, size_t at, size_t end, int depth)
{
    if (at >= end || depth > 4)
        return 0;
    uint8_t major = p[at] >> 5, info = p[at] & 31;
    at++;
    uint64_t v = info;
    if (info >= 24 && info <= 27) {
        size_t n = (size_t)1 << (info - 24);
        if (end - at < n)
            return 0;
        v = 0;
        for (size_t i = 0; i < n; i++)
            v = v << 8 | p[at + i];
        if (v < (n == 1 ? 24 : (uint64_t)1 << (4 * n)))
            return 0; /* not the shortest form */
        at += n;
    } else if (info > 27) {
        return 0;
    }
    switch (major) {
    case 0:
        return at;
    case 2:
    case 3:
        return v <= end - at ? at + (size_t)v : 0;
    case 4:
        for (uint64_t i = 0; i < v; i++)
            if (!(at = skip_item(p, at, end, depth + 1)))
                return 0;
        return at;
    case 7:
        return info == 22 ? at : 0; /* null */
    default:
        return 0;
    }
}

static void check_encoded(struct flow_batch *batch, uint32_t start, uint32_t stop)
{
    struct flow_batch_result out;
    if (flow_batch_encode(batch, start, stop, &out) != FLOW_BATCH_OK)
        fail("a batch of the engine's records could not be encoded");
    size_t at = 0;
    unsigned previous_key = 15;
    for (unsigned i = 0; i < out.entries; i++) {
        if (at >= out.len || out.bytes[at] >> 5 != 0)
            fail("encoded entry without an integer key");
        unsigned key = out.bytes[at] < 24 ? out.bytes[at] : out.bytes[at + 1];
        if (key <= previous_key || key > 27)
            fail("encoded keys not ascending within 16..27");
        previous_key = key;
        if (!(at = skip_item(out.bytes, at, out.len, 0)) ||
            !(at = skip_item(out.bytes, at, out.len, 0)))
            fail("encoded fragment not well-formed CBOR");
    }
    if (at != out.len || out.entries < 5 || out.name_count > stop - start)
        fail("encoded fragment longer than its entries, or too few entries");
    for (uint32_t i = 0; i < out.name_count; i++)
        if (out.name_lengths[i] < 1 || out.name_lengths[i] > 253 ||
            strlen(out.names[i]) != out.name_lengths[i])
            fail("server name of an impossible length");
    flow_batch_result_free(&out);
}

/* Encode the batch as the shipper would (whole, then its two halves), then empty it. */
static void encode_batch(struct flow_batch *batch)
{
    uint32_t n = flow_batch_count(batch);
    if (n) {
        check_encoded(batch, 0, n);
        if (n > 1) {
            check_encoded(batch, 0, n / 2);
            check_encoded(batch, n / 2, n);
        }
    }
    flow_batch_clear(batch);
}

/* The record's JSON line (json_lines.c), written where ASan sees a byte too many. */
static void check_json_line(const struct flow_record *r)
{
    static struct json_lines lines;
    static int ready;
    if (!ready) {
        json_lines_init(&lines, (const uint8_t *)"fuzz boot id 16B", 16, NULL);
        ready = 1;
    }
    char *line = malloc(JSON_LINE_MAX);
    if (!line)
        abort();
    size_t len = json_line(&lines, r, line);
    if (len < 2 || len >= JSON_LINE_MAX || memcmp(line, "{\"ts\":", 6) != 0 ||
        memcmp(line + len - 2, "}\n", 2) != 0)
        fail("a record's JSON line is not one object and a newline");
    for (size_t i = 0; i + 1 < len; i++)
        if (line[i] < 0x20 || line[i] > 0x7e)
            fail("a record's JSON line holds a byte that is not printable ASCII");
    free(line);
}

/* Take every waiting record out of the ring, checking each one's shape. */
static void drain_ring(struct engine *engine, struct drain *drain)
{
    uint32_t n = engine_ring_count(engine);
    if (!drain->look) {
        engine_ring_discard(engine);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct flow_record *r = engine_ring_peek(engine, i);
        if (r->end_reason >= END_REASON_COUNT || r->vlan_count > 2 ||
            (r->family != 4 && r->family != 6))
            fail("record with an impossible end reason, VLAN count or family");
        if (!memchr(r->history, 0, sizeof r->history) ||
            !memchr(r->conn_state, 0, sizeof r->conn_state))
            fail("record history or conn_state not NUL-terminated");
        if (r->pkts[0] + r->pkts[1] == 0)
            fail("record without packets");
        if (r->service >= SVC_COUNT)
            fail("record with an impossible service label");
        if (r->payload_bytes[0] > r->ip_bytes[0] || r->payload_bytes[1] > r->ip_bytes[1])
            fail("record with more payload than IP bytes");
        drain->record_packets += r->pkts[0] + r->pkts[1];
        if (flow_batch_add(drain->batch, r) != FLOW_BATCH_OK)
            fail("a record of the engine's refused by the flow batch");
        if (flow_batch_count(drain->batch) >= 64)
            encode_batch(drain->batch);
        check_json_line(r);
    }
    engine_ring_consume(engine, n);
}

/* Take every fingerprint event, checking its shape; visit every device. */
static int check_device(const struct device_view *v, void *arg)
{
    (void)arg;
    if (v->n_v4 > DEVICE_MAX_V4 || v->n_v6 > DEVICE_MAX_V6 || v->n_vlans > DEVICE_MAX_VLANS ||
        v->n_services > DEVICE_MAX_SERVICES ||
        (v->last_seen_us < UINT64_MAX && v->first_seen_us > v->last_seen_us + 1))
        fail("device with impossible counts or times");
    return 0;
}

static void drain_devices(struct engine *engine, int changed_only)
{
    struct device_table *t = engine_devices(engine);
    if (!t)
        return;
    uint32_t n = devices_event_count(t);
    for (uint32_t i = 0; i < n; i++) {
        const struct device_event *ev = devices_event_peek(t, i);
        if (ev->kind >= FP_KIND_COUNT || ev->len == 0 || ev->len > FP_VALUE_MAX)
            fail("device event with an impossible kind or length");
    }
    devices_event_consume(t, n);
    devices_visit(t, changed_only, check_device, NULL);
}

static struct engine *engine_of_shape(uint8_t shape)
{
    static const uint32_t max_devices_choice[] = {64, 1, 4, 0};
    static const uint32_t max_flows_choice[] = {1, 4, 64, 4096};
    static const uint32_t ring_choice[] = {16, 17, 64, 1024}; /* engine minimum: 16 */
    /* Short timeouts so that inputs of a few frames reach every end reason. */
    struct engine_settings settings = {
        .max_flows = max_flows_choice[shape & 3],
        .ring_records = ring_choice[(shape >> 2) & 3],
        .tcp_idle_us = 30000000,
        .tcp_syn_idle_us = 5000000,
        .udp_idle_us = 10000000,
        .icmp_idle_us = 10000000,
        .other_idle_us = 10000000,
        .tcp_linger_us = 1000000,
        .active_us = 60000000,
        .max_devices = max_devices_choice[(shape >> 6) & 3],
    };
    if (engine_settings_check(&settings) != NULL)
        fail("the harness's settings were refused");
    return engine_new(&settings);
}

/* The end of every input: flush, drain, and the invariants that hold after it. */
static void finish(struct engine *engine, struct drain *drain)
{
    while (!engine_resume(engine))
        drain_ring(engine, drain);
    int rounds = 0;
    while (engine_flush(engine) > 0) {
        if (engine_ring_count(engine) == 0 || ++rounds > 1000000)
            fail("engine_flush makes no progress although the ring was drained");
        drain_ring(engine, drain);
    }
    drain_ring(engine, drain);
    encode_batch(drain->batch);
    drain_devices(engine, 0);
    check_counters(engine);
    if (engine_flows_active(engine) != 0)
        fail("flows left after the flush");
    if (drain->look && drain->record_packets != engine_counters(engine)->packets_in_flows)
        fail("the records' packets do not add up to packets_in_flows");
}

/* File mode: the input after byte 1 is a capture file, read by the engine's own reader
 * from a memfd (a regular file, so the direct pcap reader takes it). */
static void run_file(struct engine *engine, struct drain *drain, const uint8_t *bytes,
                     size_t len)
{
    int fd = memfd_create("fuzz_capture", 0);
    if (fd < 0)
        fail("memfd_create");
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, bytes + done, len - done);
        if (n <= 0)
            fail("write to the memfd");
        done += (size_t)n;
    }
    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct capture *c = capture_new(engine);
    if (!c)
        fail("capture_new");
    if (capture_open_file(c, path, err, sizeof err) == CAPTURE_OK) {
        for (int rounds = 0;; rounds++) {
            enum capture_status status = capture_run(c, 1000, err, sizeof err);
            if (status == CAPTURE_EOF || status >= CAPTURE_ERR_OPEN)
                break; /* a damaged file ends the reading, as for the agent */
            if (rounds > 1000000)
                fail("capture_run makes no progress on a file");
            drain_ring(engine, drain);
            drain_devices(engine, 1);
            check_counters(engine);
        }
    }
    finish(engine, drain);
    capture_free(c);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int file_mode = data[0] & 0x80;
    int linktype = LINKTYPES[(data[0] & 0x7f) % LINKTYPE_COUNT];
    uint8_t shape = data[1];
    int drain_every_frame = shape & 0x10;
    struct drain drain = {.look = !(shape & 0x20), .record_packets = 0};
    struct engine *engine = engine_of_shape(shape);
    if (!engine)
        return 0;
    /* every other input keeps no names, as [privacy] tls_sni = "drop" */
    drain.batch = flow_batch_new(!(data[0] & 0x40));
    if (!drain.batch)
        fail("flow_batch_new");
    if (file_mode) {
        run_file(engine, &drain, data + 2, size - 2);
        engine_free(engine);
        flow_batch_free(drain.batch);
        return 0;
    }

    uint64_t ts_us = 1700000000ULL * 1000000ULL;
    size_t pos = 2;
    while (pos + 5 <= size) {
        uint32_t caplen = ((uint32_t)data[pos] << 8) | data[pos + 1];
        uint8_t wire_extra = data[pos + 2];
        uint32_t ts_step = ((uint32_t)data[pos + 3] << 8) | data[pos + 4];
        pos += 5;
        if (caplen > size - pos)
            caplen = (uint32_t)(size - pos);
        uint64_t step_us = (uint64_t)(ts_step & 0x7fff) * 10000;
        if (wire_extra == 253) /* a far-future record: times near 2^64 */
            ts_us = UINT64_MAX - (uint64_t)ts_step * 10000;
        else if (ts_step & 0x8000)
            ts_us = ts_us > step_us ? ts_us - step_us : 0;
        else
            ts_us = ts_us < UINT64_MAX - step_us ? ts_us + step_us : UINT64_MAX;

        /* The engine may have deferred work when the ring filled: drain until ready. */
        while (!engine_resume(engine))
            drain_ring(engine, &drain);
        if (wire_extra == 254) {
            engine_advance_clock(engine, ts_us);
        } else {
            uint32_t wire_len = wire_extra == 255   ? caplen / 2
                                : wire_extra == 253 ? caplen
                                                    : caplen + wire_extra;
            uint8_t *frame = exact_copy(data + pos, caplen);
            engine_handle_frame(engine, linktype, frame, caplen, wire_len, ts_us);
            free(frame);
        }
        pos += caplen;
        if (drain_every_frame)
            drain_ring(engine, &drain);
        struct device_table *t = engine_devices(engine);
        if (t && devices_event_room(t) < DEVICE_EVENTS_PER_PACKET)
            drain_devices(engine, 1); /* as the capture loop makes Python do */
        check_counters(engine);
    }
    finish(engine, &drain);
    engine_free(engine);
    flow_batch_free(drain.batch);
    return 0;
}

#endif
