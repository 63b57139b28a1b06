/*
 * profile_engine.c: the C engine alone on one capture file, without Python -- for
 * callgrind (instruction counts are noise-free) and for separating the engine's own
 * cost from the Python record building of bench/engine_alone.py.
 *
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -Inative -o bench/out/profile_engine \
 *       bench/profile_engine.c native/capture.c native/flowtable.c native/conn_state.c \
 *       native/parse.c native/fragments.c native/devices.c native/devices_readout.c \
 *       native/fingerprint.c native/extract_*.c -lpcap
 *   bench/out/profile_engine FILE [MAX_DEVICES]
 *   valgrind --tool=callgrind bench/out/profile_engine FILE
 *
 * Prints: packets <n> records <n> events <n> seconds <s> (open .. flush, like the floor).
 * Finished records and device events are dropped as they come (the ring is drained
 * whenever the capture loop asks for it), so only the engine's work is measured.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t drain(struct engine *e)
{
    uint64_t n = engine_ring_count(e);
    engine_ring_discard(e);
    struct device_table *t = engine_devices(e);
    if (t)
        devices_event_consume(t, devices_event_count(t));
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s CAPTURE [MAX_DEVICES]\n", argv[0]);
        return 2;
    }
    struct engine_settings settings = {
        .max_flows = 65536,
        .ring_records = 4096,
        .tcp_idle_us = 300000000ULL,
        .tcp_syn_idle_us = 30000000ULL,
        .udp_idle_us = 60000000ULL,
        .icmp_idle_us = 60000000ULL,
        .other_idle_us = 60000000ULL,
        .tcp_linger_us = 5000000ULL,
        .active_us = 300000000ULL,
        .max_devices = argc == 3 ? (uint32_t)strtoul(argv[2], NULL, 10) : 4096,
    };
    double started = now_s();
    struct engine *e = engine_new(&settings);
    struct capture *c = e ? capture_new(e) : NULL;
    if (!c) {
        fprintf(stderr, "profile_engine: out of memory\n");
        return 1;
    }
    char err[512] = "";
    if (capture_open_file(c, argv[1], err, sizeof err) != CAPTURE_OK) {
        fprintf(stderr, "profile_engine: %s\n", err);
        return 1;
    }
    uint64_t records = 0;
    enum capture_status status;
    while ((status = capture_run(c, 250, err, sizeof err)) != CAPTURE_EOF) {
        if (status >= CAPTURE_ERR_OPEN) {
            fprintf(stderr, "profile_engine: %s\n", err);
            return 1;
        }
        records += drain(e);
    }
    records += drain(e);
    while (engine_flush(e))
        records += drain(e);
    records += drain(e);
    uint64_t packets = engine_counters(e)->packets_seen;
    uint64_t events = engine_devices(e) ? devices_counters(engine_devices(e))->events_emitted : 0;
    capture_free(c);
    engine_free(e);
    printf("packets %llu records %llu events %llu seconds %.6f\n", (unsigned long long)packets,
           (unsigned long long)records, (unsigned long long)events, now_s() - started);
    return 0;
}
