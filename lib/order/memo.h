/*
 * The order's memo: what a node computed before.
 *
 * A node orders the same lists render after render and every score is a
 * pure function of its inputs, so order_apply() remembers them: a blob
 * (what is hashed after the seed: key "\0" identity) maps to its score,
 * and a balanced memo (key, fleet, list) to the node's assigned instance.
 * Bounded: at MEMO_MAX entries the table is emptied and refills; blobs
 * over MEMO_MAX_BLOB bytes are not remembered.
 */
#ifndef CH_ORDER_MEMO_H
#define CH_ORDER_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEMO_MAX      (1u << 17)
#define MEMO_MAX_BLOB 256

struct memo_slot {
	uint64_t tag; /* FNV-1a of blob, never 0; 0 marks an empty slot */
	uint64_t value;
	char *blob;
	size_t len;
};

struct memo {
	struct memo_slot *slots;
	size_t mask; /* number of slots - 1 */
	size_t used;
};

/* Start from a zeroed struct memo; memo_clear empties it (and frees). */
void memo_clear(struct memo *m);
/* The value remembered for blob (tag is memo_tag(blob, len)). */
bool memo_get(const struct memo *m, uint64_t tag, const char *blob, size_t len,
              uint64_t *ret);
/* Remember blob -> value (nothing when blob is over MEMO_MAX_BLOB). */
void memo_put(struct memo *m, uint64_t tag, const char *blob, size_t len,
              uint64_t value);
/* FNV-1a of blob, never 0. */
uint64_t memo_tag(const char *blob, size_t len);

#endif
