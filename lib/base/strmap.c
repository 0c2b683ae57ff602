#include "base/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

#define STRMAP_FNV_PRIME 0x100000001b3ull

uint64_t strmap_fnv1a(uint64_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= STRMAP_FNV_PRIME;
	}
	return h;
}

/*
 * The table's own hash, 8 bytes at a time: keys are hosts lines and names
 * (tens of bytes), hashed on every lookup, and FNV-1a's multiply per byte
 * made it most of a lookup's cost. Not strmap_fnv1a's value (callers keep
 * that for their own tags).
 */
static uint64_t strmap_hash(const char *key, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len, x;

	while (len >= 8) {
		memcpy(&x, key, 8);
		h = (h ^ x) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
		key += 8;
		len -= 8;
	}
	if (len > 0) {
		x = 0;
		memcpy(&x, key, len);
		h = (h ^ x) * 0x9e3779b97f4a7c15ull;
	}
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	return h ^ (h >> 32);
}

void strmap_init(struct strmap *m)
{
	memset(m, 0, sizeof(*m));
}

void strmap_free(struct strmap *m)
{
	free(m->slots);
	strmap_init(m);
}

void strmap_clear(struct strmap *m)
{
	if (m->slots != NULL)
		memset(m->slots, 0, m->cap * sizeof(*m->slots));
	m->count = 0;
}

/* The slot of key, or the empty slot where it would go. */
static struct strmap_slot *strmap_find(const struct strmap *m, const char *key,
                                       size_t len, uint64_t hash)
{
	size_t mask = m->cap - 1;

	for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];

		if (s->key == NULL || (s->hash == hash && s->len == len &&
		                       memcmp(s->key, key, len) == 0))
			return s;
	}
}

static void strmap_grow(struct strmap *m)
{
	struct strmap_slot *old = m->slots;
	size_t oldcap = m->cap;

	m->cap = oldcap != 0 ? oldcap * 2 : 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key != NULL)
			*strmap_find(m, old[i].key, old[i].len, old[i].hash) =
			        old[i];
	free(old);
}

bool strmap_get(const struct strmap *m, const char *key, size_t len,
                uint32_t *ret_value)
{
	const struct strmap_slot *s;

	if (m->count == 0)
		return false;
	s = strmap_find(m, key, len, strmap_hash(key, len));
	if (s->key == NULL)
		return false;
	if (ret_value != NULL)
		*ret_value = s->value;
	return true;
}

struct strmap_slot *strmap_put(struct strmap *m, const char *key, size_t len,
                               uint32_t value, bool *ret_inserted)
{
	uint64_t hash = strmap_hash(key, len);
	struct strmap_slot *s;

	if ((m->count + 1) * 2 > m->cap)
		strmap_grow(m);
	s = strmap_find(m, key, len, hash);
	if (ret_inserted != NULL)
		*ret_inserted = s->key == NULL;
	if (s->key == NULL) {
		s->key = key;
		s->len = len;
		s->hash = hash;
		s->value = value;
		m->count++;
	}
	return s;
}
