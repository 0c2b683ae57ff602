/*
 * What deps.c (a dep's identity: specs, ids, request paths) and
 * dep_decode.c (Consul's answers into template values) share; not an
 * interface for anyone else (deps.h is).
 */
#ifndef CH_DEP_PRIV_H
#define CH_DEP_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "consul/deps.h"

#define DEP_QUOTE_MAX 80 /* bytes of Consul text quoted in a message */

enum health_filter {
	HF_ANY = 1 << 0,
	HF_CRITICAL = 1 << 1,
	HF_MAINT = 1 << 2,
	HF_PASSING = 1 << 3,
	HF_WARNING = 1 << 4,
};

/* Sorted, as consul-template sorts the filter list before printing it;
 * bit i of a dep's filters is dep_filter_names[i]. */
extern const char *const dep_filter_names[];
#define DEP_NFILTERS 5

struct dep {
	enum dep_kind kind;
	bool kv_block; /* DEP_KV_GET for `key`: 404 means "no data yet" */
	char *name;    /* service or node name, KV path or prefix */
	char *tag;     /* NULL when none */
	char *dc;      /* NULL when none */
	char *near;    /* NULL when none */
	unsigned filters;
	enum dep_checks checks; /* what of checks a template can see */
	char *id;
};

/*
 * s[0..n) as a double-quoted, escaped (hosts_escape), bounded string for
 * a message (new string): "web\n1", "\x00", "xxxx...".
 */
char *dep_quote(const char *s, size_t n);
/* s[0..n) holds a byte below 0x20 or 0x7f. */
bool dep_has_control(const char *s, size_t n);
/* Bytewise, like Go's string comparison. */
int dep_cmp_bytes(const char *a, size_t an, const char *b, size_t bn);

#endif
