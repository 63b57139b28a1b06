/*
 * test_capture_stop.c: capture_stop() only sets a flag (issue 10, item 13).
 *
 * It used to walk the sources calling pcap_breakloop on each while the capture loop, on
 * a failing live source, closed that source's pcap_t and shifted the array. Here a
 * source's pcap_t pointer is NULL while stop() runs, as it is mid-close: stop() must not
 * look at it (the old stop dereferenced it and crashed). Then the next capture_run
 * returns CAPTURE_STOPPED, and the one after reads the file to its end.
 * capture.c is included, so the source array is reachable. Build:
 *   cc -D_GNU_SOURCE -Inative native/tests/test_capture_stop.c \
 *      (native's C files but capture.c and the binding) -lpcap -o test_capture_stop
 * Prints each failure and "N passed, M failed"; exit 1 on failure.
 */
#include "../capture.c"

static int passed, failed;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (cond) {                                                                      \
            passed++;                                                                    \
        } else {                                                                         \
            failed++;                                                                    \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);              \
        }                                                                                \
    } while (0)

/* A classic pcap of three small Ethernet/IPv4/UDP frames. */
static void write_capture(const char *path)
{
    static const uint8_t frame[42] = {
        2,    0,    0,    0,    0, 2, 2,    0, 0, 0, 0,    1,    0x08, 0x00, /* Ethernet */
        0x45, 0,    0,    28,   0, 0, 0,    0, 64, 17, 0, 0,    10, 0, 0, 1, 10, 0, 0, 2,
        0x13, 0x88, 0x17, 0x70, 0, 8, 0, 0, /* UDP 5000 -> 6000 */
    };
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    uint32_t header[6] = {0xa1b2c3d4, 2 | 4u << 16, 0, 0, 65535, 1};
    fwrite(header, sizeof header, 1, f);
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t record[4] = {1700000000u, i, sizeof frame, sizeof frame};
        fwrite(record, sizeof record, 1, f);
        fwrite(frame, sizeof frame, 1, f);
    }
    fclose(f);
}

int main(void)
{
    char path[] = "/tmp/test_capture_stop_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        return 2;
    }
    close(fd);
    write_capture(path);

    struct engine_settings settings = {
        .max_flows = 16,
        .ring_records = 16,
        .tcp_idle_us = 300000000,
        .tcp_syn_idle_us = 30000000,
        .udp_idle_us = 60000000,
        .icmp_idle_us = 60000000,
        .other_idle_us = 60000000,
        .tcp_linger_us = 5000000,
        .active_us = 300000000,
    };
    struct engine *e = engine_new(&settings);
    struct capture *c = e ? capture_new(e) : NULL;
    CHECK(c != NULL);
    if (!c)
        return 1;
    char err[512] = "";
    CHECK(capture_open_file(c, path, err, sizeof err) == CAPTURE_OK);

    pcap_t *real = c->sources[0].pcap;
    c->sources[0].pcap = NULL; /* as while the loop closes a failing source */
    capture_stop(c);
    c->sources[0].pcap = real;

    CHECK(capture_run(c, 1000, err, sizeof err) == CAPTURE_STOPPED);
    CHECK(engine_counters(e)->packets_seen == 0);
    CHECK(capture_run(c, 1000, err, sizeof err) == CAPTURE_EOF);
    CHECK(engine_counters(e)->packets_seen == 3);

    capture_free(c);
    engine_free(e);
    unlink(path);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
