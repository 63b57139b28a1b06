/*
 * sha1.h: SHA-1 (FIPS 180-4), one shot. Used for Community ID v1 (json_lines.c); not
 * for anything that needs collision resistance. Why a hand-written one: see sha1.c.
 */
#ifndef IOMT_SHA1_H
#define IOMT_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_BYTES 20

/* out = SHA-1(data[0..len)). */
void sha1(const void *data, size_t len, uint8_t out[SHA1_DIGEST_BYTES]);

#endif
