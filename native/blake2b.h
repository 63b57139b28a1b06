/*
 * blake2b.h: BLAKE2b (RFC 7693), keyed or not, digests of 1 to 64 bytes. Used for flow
 * uids (json_lines.c: keyed by the boot id, as agent/flowrecord.py's flow_uid). Why a
 * hand-written one: see blake2b.c.
 */
#ifndef IOMT_BLAKE2B_H
#define IOMT_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

#define BLAKE2B_BLOCK_BYTES 128
#define BLAKE2B_MAX_DIGEST 64
#define BLAKE2B_MAX_KEY 64

struct blake2b_state {
    uint64_t h[8];
    uint64_t t[2];                    /* bytes compressed so far (128-bit counter) */
    uint8_t buf[BLAKE2B_BLOCK_BYTES]; /* the last block is held until final */
    size_t buf_len;
    size_t digest_len;
};

/* Start a hash of digest_len (1..64) bytes, keyed when key_len (0..64) is not 0.
 * Returns 0, or -1 when a length is out of range. */
int blake2b_init(struct blake2b_state *s, size_t digest_len, const void *key, size_t key_len);
void blake2b_update(struct blake2b_state *s, const void *data, size_t len);
/* Writes digest_len bytes; the state is spent. */
void blake2b_final(struct blake2b_state *s, uint8_t *out);
/* A keyed state's key block, compressed now instead of on the next update, so that
 * copies of the state each hash their message with one compression fewer. Only for a
 * state just made by blake2b_init with a key, whose messages are never empty (an empty
 * message makes the key block the final one). */
void blake2b_absorb_key(struct blake2b_state *s);
/* One shot. Returns 0, or -1 when a length is out of range. */
int blake2b(uint8_t *out, size_t digest_len, const void *key, size_t key_len, const void *data,
            size_t len);

#endif
