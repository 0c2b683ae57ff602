/*
 * What order.c (the ordering) and order_explain.c (the explain table)
 * share; not an interface for anyone else (order.h is).
 */
#ifndef CH_ORDER_PRIV_H
#define CH_ORDER_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/strmap.h"
#include "hosts/hosts.h"
#include "order/memo.h"
#include "order/order.h"

struct order {
	enum order_mode mode;
	char *seed;
	char **fleet; /* sorted, unique node names */
	size_t nfleet;
	uint64_t fleet_tag; /* FNV-1a of the fleet, for balanced memos */
	/* Scores already computed. A pointer, so that order_apply() on a
	 * const order (its inputs do not change) can still fill it. */
	struct memo *memo;
};

struct item {
	json_t *value;    /* borrowed from the list (or a new ref in apply) */
	const char *node; /* NULL: the identity is id alone */
	size_t node_len;
	const char *id;
	size_t id_len;
	char *owned;     /* id's storage when it is computed JSON text */
	uint32_t weight; /* weighted mode */
	bool first;      /* balanced mode: this node's assigned instance */
	double wscore;   /* weighted mode: w / -ln(u); 0 for weight 0 */
	uint64_t hash;
	uint64_t tag; /* FNV-1a of key "\0" identity: memo key */
	size_t index; /* position in the input */
};

struct rng {
	uint64_t pool[32];
	size_t left;
	uint64_t fallback; /* splitmix64 state when getrandom() fails */
};

/*
 * The groups of d: every entry line belongs to the group of its names;
 * first[g] is its first line, next[i] the line after i in i's group (or
 * SIZE_MAX), count[g] how many.
 */
struct groups {
	struct strmap map; /* names -> group */
	size_t *first, *last, *count, *next;
	size_t n;
};

void ord_items_score(struct item *items, size_t n, enum order_mode mode,
                     const char *seed, const char *key, size_t key_len);
size_t ord_items_best(const struct item *items, size_t n);
uint64_t ord_rng_below(struct rng *r, uint64_t bound);
void ord_rng_init(struct rng *r);
size_t ord_balanced_assign(struct item *items, size_t n, char *const *fleet,
                           size_t nfleet, const char *key, size_t key_len,
                           const char *stop_at, size_t *assign);
const char *ord_line_names(const struct hosts_doc *d,
                           const struct hosts_line *l, size_t *ret_len);
struct item *ord_line_items(const struct hosts_doc *d, const size_t *pos,
                            size_t n, json_t *weights);
void ord_groups_build(const struct hosts_doc *d, struct groups *g);
void ord_groups_free(struct groups *g);

#endif
