/*
 * flow_batch.h: finished flow records collected per batch and encoded as the flows body of
 * wire schema 3 (docs/WIRE.md), so a batch leaves C as CBOR instead of one Python object
 * per flow. Needs only engine.h's struct flow_record and APP_SERVICE_NAMES; no Python.
 *
 *   flow_batch_new(collect_names)   an empty batch ("drop" server names: collect_names 0)
 *   flow_batch_add(b, record)       copy one record in (the ring's record stays the ring's)
 *   flow_batch_encode(b, a, z, out) keys 16..27 for the records a..z-1 in (ts_us, serial)
 *                                   order, as one CBOR fragment, and the distinct server
 *                                   names (key 28 is written by Python, after [privacy])
 *   flow_batch_clear(b)             empty it for the next window (nothing carries over)
 *
 * The payload's map header, the envelope (keys 0..12) and key 28 are Python's
 * (agent/wire/encode.py joins them), so every signed byte of the envelope still goes
 * through one canonical encoder. The encoder allocates per call, sized to the range, and
 * frees everything before returning: no state leaks from one batch to the next.
 */
#ifndef IOMT_FLOW_BATCH_H
#define IOMT_FLOW_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* Most records one batch holds (far above [batch] max_records' limit): keeps every size
 * computed from a count well inside size_t and uint32_t. */
#define FLOW_BATCH_MAX_RECORDS (1u << 24)

enum flow_batch_status {
    FLOW_BATCH_OK = 0,
    FLOW_BATCH_NOMEM,      /* memory could not be had: nothing changed */
    FLOW_BATCH_FULL,       /* FLOW_BATCH_MAX_RECORDS reached */
    FLOW_BATCH_BAD_RECORD, /* a record the schema cannot carry (unknown conn_state ...) */
    FLOW_BATCH_BAD_RANGE   /* start/stop outside the batch, or an empty range */
};

struct flow_batch;

/* The fragment and names of one flow_batch_encode(). `bytes` is malloc'd (the caller
 * frees it with flow_batch_result_free); each name points into the batch and stays valid
 * until the batch is cleared, freed or a record is added. */
struct flow_batch_result {
    uint8_t *bytes;
    size_t len;
    unsigned entries;     /* map entries in the fragment (keys 16..27 present) */
    uint32_t name_count;  /* distinct server names of the range, in order of first use */
    const char **names;   /* name_count pointers (malloc'd), NUL-terminated names */
    uint8_t *name_lengths; /* name_count lengths (malloc'd, 1..253) */
};

/* NULL when memory cannot be had. collect_names 0: server names are neither kept nor
 * encoded (no keys 27/28), as [privacy] tls_sni = "drop" wants. */
struct flow_batch *flow_batch_new(int collect_names);
void flow_batch_free(struct flow_batch *b);

enum flow_batch_status flow_batch_add(struct flow_batch *b, const struct flow_record *r);
uint32_t flow_batch_count(const struct flow_batch *b);
void flow_batch_clear(struct flow_batch *b);

/* Encode records start..stop-1 of the batch in (ts_us, serial) order (a stable sort: equal
 * keys keep the order they were added in). On anything but FLOW_BATCH_OK `out` holds
 * nothing to free. */
enum flow_batch_status flow_batch_encode(struct flow_batch *b, uint32_t start, uint32_t stop,
                                         struct flow_batch_result *out);
void flow_batch_result_free(struct flow_batch_result *out);

#endif
