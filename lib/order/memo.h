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
#include <string.h>

#include "base/strmap.h"

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
/* Remember blob -> value (nothing when blob is over MEMO_MAX_BLOB). */
void memo_put(struct memo *m, uint64_t tag, const char *blob, size_t len,
              uint64_t value);
/*
 * Inline below: memo_tag and memo_get run for every line of every render
 * (out of line they cost 7% of a warm 10k-line render).
 */

/* FNV-1a of blob, never 0. */
static inline uint64_t memo_tag(const char *blob, size_t len)
{
	uint64_t tag = strmap_fnv1a(STRMAP_FNV_OFFSET, blob, len);

	return tag != 0 ? tag : 1;
}

/* The slot holding blob, or the empty one where it would go. */
static inline struct memo_slot *memo_slot(const struct memo *m, uint64_t tag,
                                          const char *blob, size_t len)
{
	size_t i;

	for (i = tag & m->mask;; i = (i + 1) & m->mask) {
		struct memo_slot *s = &m->slots[i];

		if (s->tag == 0 || (s->tag == tag && s->len == len &&
		                    memcmp(s->blob, blob, len) == 0))
			return s;
	}
}

/* The value remembered for blob (tag is memo_tag(blob, len)). */
static inline bool memo_get(const struct memo *m, uint64_t tag,
                            const char *blob, size_t len, uint64_t *ret)
{
	struct memo_slot *s;

	if (m->slots == NULL)
		return false;
	s = memo_slot(m, tag, blob, len);
	if (s->tag == 0)
		return false;
	*ret = s->value;
	return true;
}

#endif
