/*
 * fuzz_extract.c: libFuzzer harness for the extractors alone, each called directly with
 * any bytes (no flow table, no port or content test in front of it).
 *
 * Build (tools/sanitize.sh does this): the extractors need the sink and nothing else.
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Inative \
 *         native/fuzz/fuzz_extract.c native/fingerprint.c native/extract_*.c -o fuzz_extract
 *
 * Input: byte 0 picks the extractor (index into EXTRACTORS, mod its size), byte 1 the
 * flow context (bit 0 responder, bit 1 start seen, bits 2-6 the flow's label, bit 7 a
 * later message: stream offset 12, server port 21; else 0 and 23), the rest
 * is the payload, copied to the heap at exactly its length so ASan sees a read past it.
 * native/fuzz/make_extract_seeds.py writes one seed per extractor from the test builders.
 *
 * Beyond the sanitizers' checks, it aborts when an event breaks the sink's contract:
 * a kind outside the allowlist, a value longer than FP_VALUE_MAX, more events from one
 * payload than DEVICE_EVENTS_PER_PACKET, or a MAC that is neither the sender's nor one
 * inside the payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extract.h"

static enum extract_result hl7_message_type(const uint8_t *d, uint32_t len,
                                            struct extract_ctx *x)
{
    extract_hl7_message_type(d, len, x);
    return EXTRACT_OK;
}

static enum extract_result intellivue_model(const uint8_t *d, uint32_t len,
                                            struct extract_ctx *x)
{
    extract_intellivue_model(d, len, x);
    return EXTRACT_OK;
}

static const extractor_fn EXTRACTORS[] = {
    extract_dhcp,  extract_dhcpv6, extract_dns,        extract_mdns, extract_ssdp,
    extract_tls,   extract_http,   extract_dicom,      extract_hl7,  hl7_message_type,
    extract_poct1, extract_intellivue, extract_lldp,   extract_cdp,  extract_sip,
    extract_rtsp,  intellivue_model, extract_telnet,   extract_ftp,  extract_ssh,
    extract_rdp,   extract_vnc,    extract_smb,        extract_snmp, extract_http_auth,
};
#define EXTRACTOR_COUNT (sizeof EXTRACTORS / sizeof EXTRACTORS[0])

static const uint8_t SENDER[6] = {0x00, 0x1a, 0x5c, 0x00, 0x00, 0x38};
static struct fp_memory sender_memory, other_memory;
static const uint8_t *payload;
static uint32_t payload_len;

/* n bytes at p lie inside the payload. */
static int in_payload(const uint8_t *p, size_t n)
{
    uintptr_t a = (uintptr_t)p, start = (uintptr_t)payload;
    return a >= start && a - start + n <= payload_len;
}

static struct fp_memory *memory_of(void *table, const uint8_t *mac)
{
    (void)table;
    if (!in_payload(mac, 6)) /* any other MAC comes from the payload (DHCP's chaddr) */
        abort();
    return &other_memory;
}

static const uint8_t RECEIVER_ADDR[16] = {10, 20, 0, 20};

/* A server name: its address is the payload's receiver or inside the payload (a DNS
 * answer's record); its name inside the payload (SNI, Host: any length, the table
 * refuses long ones) or decoded (DNS: at most 255); every byte is read (ASan). */
static void check_server_name(void *table, int family, const uint8_t *addr,
                              const uint8_t *name, size_t len)
{
    (void)table;
    size_t n = family == 4 ? 4 : 16;
    if ((family != 4 && family != 6) || (len > 255 && !in_payload(name, len)) ||
        (addr != RECEIVER_ADDR && !in_payload(addr, n)))
        abort();
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum ^= name[i];
    for (size_t i = 0; i < n; i++)
        sum ^= addr[i];
    (void)sum;
}

static void learn_address(void *table, const uint8_t *mac, int family, const uint8_t *addr,
                          uint64_t ts_us)
{
    (void)table;
    (void)ts_us;
    size_t n = family == 4 ? 4 : 16;
    if ((family != 4 && family != 6) || !in_payload(addr, n) || !in_payload(mac, 6))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fp_ring ring;
    static uint64_t emitted, dropped;
    static const struct fp_owner owner = {NULL, memory_of, learn_address};
    if (size < 2)
        return 0;
    if (!ring.events && fp_ring_init(&ring, 4 * DEVICE_EVENTS_PER_PACKET, 0x5eed, &emitted,
                                     &dropped) != 0)
        abort();
    payload_len = (uint32_t)(size - 2);
    uint8_t *copy = malloc(payload_len ? payload_len : 1);
    if (!copy)
        abort();
    memcpy(copy, data + 2, payload_len);
    payload = copy;
    /* Memories from earlier inputs stay: deduplication paths get exercised too. */
    static const uint8_t SENDER_ADDR[16] = {10, 4, 2, 38};
    static const struct fp_names names = {NULL, check_server_name};
    struct fp_sink sink = {.ring = &ring,
                           .owner = &owner,
                           .memory = &sender_memory,
                           .mac = SENDER,
                           .addr = SENDER_ADDR,
                           .family = 4,
                           .names = &names,
                           .dst = RECEIVER_ADDR,
                           .ts_us = 1};
    /* bit 7: a later message (at byte 12 of its direction: VNC's security handshake) on
     * port 21, else a first payload on port 23 (FTP's and telnet's port tests) */
    int later = data[1] >> 7;
    struct extract_ctx x = {&sink,
                            data[1] & 1,
                            (data[1] >> 1) & 1,
                            (uint8_t)((data[1] >> 2) & 0x1f),
                            (uint16_t)(later ? 21 : 23),
                            later ? 12u : 0u};
    enum extract_result r = EXTRACTORS[data[0] % EXTRACTOR_COUNT](copy, payload_len, &x);
    if (r > EXTRACT_MALFORMED || sink.emitted > DEVICE_EVENTS_PER_PACKET)
        abort();
    for (uint32_t i = 0; i < ring.count; i++) {
        const struct device_event *ev = fp_ring_peek(&ring, i);
        if (ev->kind >= FP_KIND_COUNT || ev->len > FP_VALUE_MAX)
            abort();
    }
    fp_ring_consume(&ring, ring.count);
    free(copy);
    return 0;
}
