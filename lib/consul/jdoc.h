/*
 * A JSON text as a flat array of nodes: parsed in one pass, read in place,
 * freed at once. For the decoders of Consul's answers (deps.c), which read
 * a response once and keep none of it: no heap value per JSON value, no
 * hash table per object.
 *
 * Node 0 is the top-level value. Containers count their elements (an
 * object's members) in len; an object's members follow it as pairs of
 * nodes, the key (a string) then the value; jd_next() skips a value with
 * everything inside it. Strings are unescaped into one buffer, each
 * NUL-terminated (a string may hold NULs of its own: "\u0000").
 *
 * The grammar is RFC 8259's, checked as jansson checks it (with
 * JSON_DECODE_ANY | JSON_ALLOW_NUL): any top-level value, strings of
 * valid UTF-8 without raw control bytes, no lone surrogate escapes,
 * nesting at most JD_MAX_DEPTH deep, nothing but blanks after the value.
 * An integer beyond int64 reads as a real; a real beyond double's range
 * is an error. Duplicate object keys are kept: jd_get() finds the last,
 * as jansson keeps the last.
 *
 * Pure module: no I/O, no logging.
 */
#ifndef CH_JDOC_H
#define CH_JDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define JD_MAX_DEPTH 2048
/* No such node. */
#define JD_NONE ((size_t)-1)

enum jd_type {
	JD_NULL,
	JD_FALSE,
	JD_TRUE,
	JD_INT,
	JD_REAL,
	JD_STRING,
	JD_ARRAY,
	JD_OBJECT,
};

struct jd_node {
	uint8_t type;
	uint32_t len; /* string: bytes; array: elements; object: members */
	union {
		int64_t i;
		double d;
		struct {
			uint32_t off; /* string: offset in jdoc.strs */
			uint32_t end; /* container: the node after it */
		} c;
	} u;
};

struct jdoc {
	struct jd_node *nodes;
	size_t n, cap;
	char *strs; /* every string, unescaped, NUL after each */
	size_t slen, scap;
};

void jd_init(struct jdoc *d);
void jd_free(struct jdoc *d);
/*
 * Parse text[0..len) into d (its previous content is dropped, its memory
 * kept for this parse). 0, or -EBADMSG with e set ("invalid JSON: ...",
 * line and column of the problem); d then holds nothing.
 */
int jd_parse(struct jdoc *d, const char *text, size_t len, struct err *e);

static inline enum jd_type jd_type(const struct jdoc *d, size_t i)
{
	return (enum jd_type)d->nodes[i].type;
}

/* The node after value i and everything inside it. */
static inline size_t jd_next(const struct jdoc *d, size_t i)
{
	const struct jd_node *x = &d->nodes[i];

	return x->type == JD_ARRAY || x->type == JD_OBJECT ? x->u.c.end : i + 1;
}

/* The string at i and its length, or NULL when i is no string. */
static inline const char *jd_str(const struct jdoc *d, size_t i, size_t *len)
{
	const struct jd_node *x = &d->nodes[i];

	if (x->type != JD_STRING)
		return NULL;
	*len = x->len;
	return d->strs + x->u.c.off;
}

/* The value of the last member of object i called key, or JD_NONE (also
 * when i is JD_NONE or not an object). */
size_t jd_get(const struct jdoc *d, size_t i, const char *key);

/*
 * Member names looked up together in one pass over an object (a record's
 * fields), for jd_members(): names is NULL-terminated, at most
 * JD_MAX_KEYS; the rest is a table made at the first use. Declare one
 * static per set: static struct jd_keys k = {.names = names};
 */
#define JD_MAX_KEYS 32

struct jd_keys {
	const char *const *names;
	size_t n;
	bool ready;
	uint8_t len[JD_MAX_KEYS];
	uint8_t table[128]; /* by a hash of the name: index + 1, 0 empty */
};

/* For each name of k, the value of object i's last member of that name
 * in out[...], JD_NONE when it has none (every one when i is JD_NONE or
 * not an object). As jd_get() for each, in one pass. */
void jd_members(const struct jdoc *d, size_t i, struct jd_keys *k, size_t *out);

#endif
