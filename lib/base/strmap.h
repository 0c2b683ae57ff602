/*
 * A hash map from byte strings to 32-bit values, for sets and indexes
 * built per render (hosts entries by key, names by group): open
 * addressing with linear probing, keys hashed 8 bytes at a time, grown
 * at 1/2 load. strmap_fnv1a() is for callers' own tags.
 *
 * Keys are borrowed: the caller keeps them alive and unchanged while the
 * map holds them (typically they point into a buffer that outlives the
 * map). Nothing is ever removed; strmap_clear() empties the map and keeps
 * its memory for the next use.
 *
 * Pure module: no I/O, no logging; out of memory aborts (xmalloc).
 */
#ifndef CH_STRMAP_H
#define CH_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
	const char *key; /* NULL: empty */
	size_t len;
	uint64_t hash;
	uint32_t value;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t count;
};

/* FNV-1a, 64 bits, continuing from h (start with STRMAP_FNV_OFFSET). */
#define STRMAP_FNV_OFFSET 0xcbf29ce484222325ull
uint64_t strmap_fnv1a(uint64_t h, const void *p, size_t len);

void strmap_init(struct strmap *m);
void strmap_free(struct strmap *m);
void strmap_clear(struct strmap *m);

/* The value stored for key, via *ret_value (may be NULL); false if absent. */
bool strmap_get(const struct strmap *m, const char *key, size_t len,
                uint32_t *ret_value);
/*
 * Insert key with value unless it is there. Returns the slot holding key:
 * its value is the one just inserted, or the existing one when
 * *ret_inserted (may be NULL) is false. The pointer is valid until the
 * next insertion.
 */
struct strmap_slot *strmap_put(struct strmap *m, const char *key, size_t len,
                               uint32_t value, bool *ret_inserted);

#endif
