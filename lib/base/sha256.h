/*
 * SHA-256, streaming, for the per-node order's hash (order.h): only the
 * first 8 bytes of the digest are ever used, read big-endian.
 *
 * Pure module: no I/O, no allocation.
 */
#ifndef CH_SHA256_H
#define CH_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint8_t block[64];
	size_t fill;    /* bytes in block */
	uint64_t total; /* bytes hashed */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Finish; the first 8 bytes of the digest, big-endian. */
uint64_t sha256_final64(struct sha256 *s);

#endif
