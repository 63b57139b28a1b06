/*
 * json_lines.h: a finished flow record as the JSON line `iomt-agent flows --json` prints,
 * byte for byte what agent/flowrecord.py's FlowRecord.to_json(boot_id) gives through
 * json.JSONEncoder(separators=(",", ":")).encode(...) + "\n": the same fields in the same
 * order, floats as Python's repr, addresses as socket.inet_ntop, strings escaped as json's
 * default ensure_ascii=True, the uid (keyed BLAKE2b of the serial under the boot id) and
 * Community ID v1 (SHA-1). Plain C (no CPython): the binding (module_json.c) writes the
 * lines to a file descriptor, the fuzz harness formats every record it drains.
 */
#ifndef IOMT_JSON_LINES_H
#define IOMT_JSON_LINES_H

#include <stddef.h>
#include <stdint.h>

#include "blake2b.h"
#include "engine.h"

/* Room one line may need: every name byte escaped as \u00XX stays far below it. */
#define JSON_LINE_MAX 4096
/* Room a float's text may need. */
#define JSON_FLOAT_MAX 40

/* Writes repr(x) for a finite double into out (cap bytes, NUL-terminated) and returns its
 * length, or 0 on failure. Only called for times of 2^33 s and beyond (json_lines.c
 * writes the others exactly from the integer microseconds). */
typedef size_t (*json_float_repr)(double x, char *out, size_t cap);

struct json_lines {
    struct blake2b_state uid_key; /* keyed by the boot id, its key block absorbed */
    json_float_repr float_repr;
};

/* Ready for records of one boot: the uid key is boot_id[0..min(len, 64)) as flow_uid's.
 * float_repr NULL: json_float_shortest (exact but for rare ties; the binding passes
 * CPython's own repr). */
void json_lines_init(struct json_lines *j, const uint8_t *boot_id, size_t boot_id_len,
                     json_float_repr float_repr);

/* Writes the record's line, '\n' included, into out (JSON_LINE_MAX bytes; not
 * NUL-terminated) and returns its length; 0 when float_repr failed. */
size_t json_line(const struct json_lines *j, const struct flow_record *r, char *out);

/* Python's repr of us / 1e6 (a float of seconds), NUL-terminated in out
 * (JSON_FLOAT_MAX bytes); returns its length, 0 when float_repr failed. */
size_t json_seconds(const struct json_lines *j, uint64_t us, char *out);

/* The shortest text that reads back as x, in repr's layout, from snprintf and strtod
 * (for a tie between two shortest texts it may pick another than repr would). */
size_t json_float_shortest(double x, char *out, size_t cap);

/* Pieces, for the tests: flow_uid (18 characters, NUL-terminated) and community_id
 * ("1:" + 28 base64 characters, NUL-terminated). */
void json_flow_uid(const struct json_lines *j, uint64_t serial, char out[19]);
void json_community_id(const struct flow_record *r, char out[31]);

#endif
