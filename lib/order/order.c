/*
 * Per-node ordering: rendezvous hashing, weighted rendezvous, a fleet-wide
 * bounded-load assignment, a random shuffle. See order.h for the contract
 * and the documented hash.
 *
 * Map:
 *   items              what a list element is (node, id, weight from
 *                      Status or Checks folded by deps.h's health_fold)
 *   scores             SHA-256 hash, weighted score, memo (order/memo.h)
 *   random             the shuffle's pool (getrandom, splitmix64 fallback)
 *   balanced           HRW with bounded loads over the fleet
 *   the fleet, object  order_new/free/set_seed/set_fleet/apply
 *   lines              each name's lines in a rendered hosts text,
 *                      order_lines; the explain table is order_explain.c
 */
#include "order/order.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "consul/crec.h"
#include "consul/deps.h"
#include "hosts/hosts.h"
#include "base/backoff.h"
#include "base/sha256.h"
#include "base/strmap.h"
#include "consul/trec_read.h"
#include "base/xmalloc.h"
#include "order/order_priv.h"
#include "order/memo.h"

/* Weights Consul accepts (ValidateWeights): 0..65535. */
#define ORDER_MAX_WEIGHT 65535

/* -- Items: what a list element is, for ordering. ----------------------- */

/* Field name of a record (trecord.h) or a map, NULL when absent. */
static json_t *field(json_t *v, const char *name)
{
	return trec_member(v, name);
}

static const char *json_string_of(json_t *obj, const char *name, size_t *len)
{
	json_t *v = field(obj, name);

	if (!json_is_string(v))
		return NULL;
	*len = json_string_length(v);
	return json_string_value(v);
}

/* A weight as Consul's findWeight reads it: 1 when not a number, 0 when
 * negative, at most ORDER_MAX_WEIGHT. */
static uint32_t weight_clamp(const json_t *w)
{
	json_int_t n;

	if (!json_is_integer(w))
		return 1; /* Consul's default weights are {1, 1} */
	n = json_integer_value(w);
	if (n < 0)
		return 0;
	return n > ORDER_MAX_WEIGHT ? ORDER_MAX_WEIGHT : (uint32_t)n;
}

static uint32_t weight_of(json_t *weights, const char *status)
{
	const char *name = "Passing";

	if (status != NULL && strcmp(status, "warning") == 0)
		name = "Warning";
	else if (status != NULL && (strcmp(status, "critical") == 0 ||
	                            strcmp(status, "maintenance") == 0))
		return 0;
	else if (status != NULL && strcmp(status, "passing") != 0)
		return 1; /* as Consul's findWeight for an unknown status */
	return weight_clamp(field(weights, name));
}

/* consul's AggregatedStatus over a raw entry's Checks (deps.h). */
static const char *checks_status(json_t *checks)
{
	struct health_fold h = {0};
	size_t i;
	json_t *c;

	json_array_foreach(checks, i, c)
	{
		if (!json_is_object(c) && !crec_is_handle(c))
			continue; /* as deps leaves it out */
		health_fold_add(&h, json_string_value(field(c, "CheckID")),
		                json_string_value(field(c, "Status")));
	}
	return health_fold_status(&h);
}

static void item_describe(struct item *it, json_t *v, size_t index)
{
	json_t *svc, *node, *weights;
	const char *status;
	size_t len;

	memset(it, 0, sizeof(*it));
	it->value = v;
	it->index = index;
	it->weight = 1;
	if (json_is_string(v)) {
		it->id = json_string_value(v);
		it->id_len = json_string_length(v);
		return;
	}
	if (json_is_object(v) || crec_is_handle(v)) {
		svc = field(v, "Service");
		if (!json_is_object(svc))
			svc = NULL;
		node = field(v, "Node");
		if (json_is_object(node) || crec_is_handle(node))
			node = field(node, "Node");
		if (json_is_string(node)) {
			it->node = json_string_value(node);
			it->node_len = json_string_length(node);
		}
		if ((it->id = json_string_of(v, "ServiceID", &len)) != NULL ||
		    (it->id = json_string_of(v, "ID", &len)) != NULL ||
		    (svc != NULL &&
		     (it->id = json_string_of(svc, "ID", &len)) != NULL))
			it->id_len = len;
		if (it->node != NULL || it->id != NULL) {
			if (it->node == NULL)
				it->node = "";
			if (it->id == NULL)
				it->id = "";
			weights = field(v, "Weights");
			if (weights == NULL)
				weights = field(v, "ServiceWeights");
			if (weights == NULL && svc != NULL)
				weights = field(svc, "Weights");
			status = json_string_value(field(v, "Status"));
			if (status == NULL && json_is_array(field(v, "Checks")))
				status = checks_status(field(v, "Checks"));
			it->weight = weight_of(weights, status);
			return;
		}
	}
	{
		json_t *plain = crec_expand(v); /* records as objects */

		it->owned = json_dumps(plain, JSON_COMPACT | JSON_SORT_KEYS |
		                                      JSON_ENCODE_ANY);
		json_decref(plain);
	}
	it->id = it->owned != NULL ? it->owned : "";
	it->id_len = strlen(it->id);
}

uint32_t order_instance_weight(json_t *instance)
{
	struct item it;
	uint32_t w;

	item_describe(&it, instance, 0);
	w = it.weight;
	free(it.owned);
	return w;
}

static uint64_t item_hash(const char *seed, size_t seed_len, const char *key,
                          size_t key_len, const struct item *it)
{
	struct sha256 s;

	sha256_init(&s);
	sha256_update(&s, seed, seed_len);
	sha256_update(&s, "", 1);
	sha256_update(&s, key, key_len);
	sha256_update(&s, "", 1);
	if (it->node != NULL) {
		sha256_update(&s, it->node, it->node_len);
		sha256_update(&s, "/", 1);
	}
	sha256_update(&s, it->id, it->id_len);
	return sha256_final64(&s);
}

uint64_t order_hash(const char *seed, const char *key, const char *id)
{
	struct item it = {.id = id != NULL ? id : ""};

	seed = seed != NULL ? seed : "";
	key = key != NULL ? key : "";
	it.id_len = strlen(it.id);
	return item_hash(seed, strlen(seed), key, strlen(key), &it);
}

/* u in (0,1) from 53 bits of the hash, then w / -ln(u); 0 for weight 0. */
static double weighted_score(uint64_t h, uint32_t w)
{
	double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0;

	return w == 0 ? 0.0 : (double)w / -log(u);
}

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int item_identity_cmp(const struct item *a, const struct item *b)
{
	int c;

	if (a->node != NULL && b->node != NULL) {
		c = bytes_cmp(a->node, a->node_len, b->node, b->node_len);
		if (c != 0)
			return c;
	} else if (a->node != NULL || b->node != NULL) {
		return a->node != NULL ? 1 : -1;
	}
	return bytes_cmp(a->id, a->id_len, b->id, b->id_len);
}

/* The order: assigned first, higher weighted score, higher hash, then
 * identity and input position so equal scores still sort one way. */
static int item_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int c;

	if (a->first != b->first)
		return a->first ? -1 : 1;
	if (a->wscore != b->wscore)
		return a->wscore > b->wscore ? -1 : 1;
	if (a->hash != b->hash)
		return a->hash > b->hash ? -1 : 1;
	if ((c = item_identity_cmp(a, b)) != 0)
		return c;
	return a->index < b->index ? -1 : a->index > b->index;
}

/* Score every item as seen by the node named seed. */
void ord_items_score(struct item *items, size_t n, enum order_mode mode,
                     const char *seed, const char *key, size_t key_len)
{
	size_t seed_len = strlen(seed), i;

	for (i = 0; i < n; i++) {
		items[i].first = false;
		items[i].hash =
		        item_hash(seed, seed_len, key, key_len, &items[i]);
		items[i].wscore =
		        mode == ORDER_WEIGHTED
		                ? weighted_score(items[i].hash, items[i].weight)
		                : 0.0;
	}
}

/*
 * Score items as this node (o->seed) sees them, from the memo when it
 * can; sets each item's tag. The memo's key is item_hash's input after
 * the seed; item_hash alone computes the score.
 */
static void items_score_memo(struct item *items, size_t n, enum order_mode mode,
                             const struct order *o, const char *key,
                             size_t key_len)
{
	size_t seed_len = strlen(o->seed), i;
	char stack[MEMO_MAX_BLOB];

	for (i = 0; i < n; i++) {
		struct item *it = &items[i];
		size_t len = key_len + 1 + it->id_len +
		             (it->node != NULL ? it->node_len + 1 : 0);
		char *blob = len <= sizeof(stack) ? stack : xmalloc(len), *p;

		memcpy(blob, key, key_len);
		blob[key_len] = '\0';
		p = blob + key_len + 1;
		if (it->node != NULL) {
			memcpy(p, it->node, it->node_len);
			p += it->node_len;
			*p++ = '/';
		}
		memcpy(p, it->id, it->id_len);
		it->tag = memo_tag(blob, len);
		it->first = false;
		if (!memo_get(o->memo, it->tag, blob, len, &it->hash)) {
			it->hash =
			        item_hash(o->seed, seed_len, key, key_len, it);
			memo_put(o->memo, it->tag, blob, len, it->hash);
		}
		it->wscore = mode == ORDER_WEIGHTED
		                     ? weighted_score(it->hash, it->weight)
		                     : 0.0;
		if (blob != stack)
			free(blob);
	}
}

/* Index of the item that sorts first. */
size_t ord_items_best(const struct item *items, size_t n)
{
	size_t best = 0, i;

	for (i = 1; i < n; i++)
		if (item_cmp(&items[i], &items[best]) < 0)
			best = i;
	return best;
}

/* -- Random ------------------------------------------------------------- */

static uint64_t rng_next(struct rng *r)
{
	if (r->left == 0) {
		ssize_t n = getrandom(r->pool, sizeof(r->pool), GRND_NONBLOCK);

		if (n != (ssize_t)sizeof(r->pool)) {
			/* Early boot or no getrandom: a load-spreading
			 * shuffle needs no secrecy, only variety. */
			size_t i;

			for (i = 0; i < 32; i++)
				r->pool[i] = backoff_rand(&r->fallback);
		}
		r->left = 32;
	}
	return r->pool[--r->left];
}

/* Uniform in [0, bound), bound > 0, without modulo bias. */
uint64_t ord_rng_below(struct rng *r, uint64_t bound)
{
	uint64_t limit = UINT64_MAX - UINT64_MAX % bound, x;

	do
		x = rng_next(r);
	while (x >= limit);
	return x % bound;
}

void ord_rng_init(struct rng *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	r->left = 0;
	r->fallback = (uint64_t)ts.tv_sec * 1000000000ULL +
	              (uint64_t)ts.tv_nsec + ((uint64_t)getpid() << 32);
}

static void items_shuffle(struct item *items, size_t n)
{
	struct rng r;
	size_t i;

	ord_rng_init(&r);
	for (i = n; i > 1; i--) {
		size_t j = (size_t)ord_rng_below(&r, i);
		struct item t = items[i - 1];

		items[i - 1] = items[j];
		items[j] = t;
	}
}

/* -- Balanced: HRW with bounded loads over the fleet -------------------- */

struct fleet_node {
	const char *name;
	size_t pos;    /* index in the sorted fleet */
	uint64_t rank; /* processing order: order_hash("", key, name) */
};

static int fleet_node_cmp(const void *pa, const void *pb)
{
	const struct fleet_node *a = pa, *b = pb;

	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	return strcmp(a->name, b->name);
}

/*
 * The fleet-wide assignment: assign[k] is the item index that fleet[k]
 * puts first. With stop_at set, stops after that node (its slot depends
 * only on the nodes processed before it) and returns its item; otherwise
 * returns 0. items' scores are clobbered.
 */
size_t ord_balanced_assign(struct item *items, size_t n, char *const *fleet,
                           size_t nfleet, const char *key, size_t key_len,
                           const char *stop_at, size_t *assign)
{
	struct fleet_node *order = xreallocarray(NULL, nfleet, sizeof(*order));
	size_t *count = xcalloc(n, sizeof(*count));
	size_t q = nfleet / n, r = nfleet % n, nfull = 0, k, i;
	size_t result = 0;

	for (k = 0; k < nfleet; k++) {
		order[k].name = fleet[k];
		order[k].pos = k;
		struct item node = {.id = fleet[k], .id_len = strlen(fleet[k])};

		order[k].rank = item_hash("", 0, key, key_len, &node);
	}
	qsort(order, nfleet, sizeof(*order), fleet_node_cmp);
	for (k = 0; k < nfleet; k++) {
		size_t best = SIZE_MAX;

		ord_items_score(items, n, ORDER_STABLE, order[k].name, key,
		                key_len);
		for (i = 0; i < n; i++) {
			bool room =
			        count[i] < q || (count[i] == q && nfull < r);

			if (room && (best == SIZE_MAX ||
			             item_cmp(&items[i], &items[best]) < 0))
				best = i;
		}
		/* Capacity sums to nfleet, so some item always has room. */
		if (++count[best] == q + 1)
			nfull++;
		if (stop_at != NULL && strcmp(order[k].name, stop_at) == 0) {
			result = best;
			break;
		}
		if (assign != NULL)
			assign[order[k].pos] = best;
	}
	free(count);
	free(order);
	return result;
}

/*
 * Mark this node's assigned instance in items (scored by this node). The
 * assignment costs N * M hashes, so it is remembered per (key, fleet,
 * list): a memo blob "\1" key "\0" fleet tag, list tag.
 */
static void balanced_first(const struct order *o, const char *key,
                           size_t key_len, struct item *items, size_t n)
{
	size_t len = key_len + 18, i, mine;
	uint64_t list_tag = STRMAP_FNV_OFFSET, tags[2], want;
	char stack[MEMO_MAX_BLOB];
	char *blob = len <= sizeof(stack) ? stack : xmalloc(len);

	for (i = 0; i < n; i++)
		list_tag = strmap_fnv1a(list_tag, &items[i].tag,
		                        sizeof(items[i].tag));
	tags[0] = o->fleet_tag;
	tags[1] = list_tag;
	blob[0] = '\1';
	memcpy(blob + 1, key, key_len);
	blob[key_len + 1] = '\0';
	memcpy(blob + key_len + 2, tags, sizeof(tags));
	if (memo_get(o->memo, memo_tag(blob, len), blob, len, &want))
		for (i = 0; i < n; i++)
			if (items[i].tag == want) {
				items[i].first = true;
				goto out;
			}
	mine = ord_balanced_assign(items, n, o->fleet, o->nfleet, key, key_len,
	                           o->seed, NULL);
	want = items[mine].tag;
	items_score_memo(items, n, ORDER_STABLE, o, key,
	                 key_len); /* clobbered */
	items[mine].first = true;
	memo_put(o->memo, memo_tag(blob, len), blob, len, want);
out:
	if (blob != stack)
		free(blob);
}

/* -- The fleet ---------------------------------------------------------- */

static int name_cmp(const void *pa, const void *pb)
{
	return strcmp(*(char *const *)pa, *(char *const *)pb);
}

/* Copy, sort and deduplicate node names from an array of strings or of
 * {Node: name} objects; at most ORDER_MAX_FLEET. */
static char **fleet_copy(json_t *nodes, size_t *ret_n)
{
	char **names;
	size_t i, n = 0, out;
	json_t *v;

	*ret_n = 0;
	if (!json_is_array(nodes) || json_array_size(nodes) == 0)
		return NULL;
	names = xreallocarray(NULL, json_array_size(nodes), sizeof(*names));
	json_array_foreach(nodes, i, v)
	{
		const char *name = json_string_value(v);

		if (n == ORDER_MAX_FLEET)
			break;
		if (name == NULL)
			name = json_string_value(field(v, "Node"));
		if (name != NULL)
			names[n++] = xstrdup(name);
	}
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0, out = 0; i < n; i++) {
		if (out > 0 && strcmp(names[out - 1], names[i]) == 0)
			free(names[i]);
		else
			names[out++] = names[i];
	}
	if (out == 0) {
		free(names);
		return NULL;
	}
	*ret_n = out;
	return names;
}

static void fleet_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static bool fleet_has(char *const *names, size_t n, const char *name)
{
	return n > 0 &&
	       bsearch(&name, names, n, sizeof(*names), name_cmp) != NULL;
}

/* -- The object --------------------------------------------------------- */

struct order *order_new(enum order_mode mode, const char *seed)
{
	struct order *o = xcalloc(1, sizeof(*o));

	o->mode = mode;
	o->seed = xstrdup(seed != NULL ? seed : "");
	o->memo = xcalloc(1, sizeof(*o->memo));
	return o;
}

struct order *order_free(struct order *o)
{
	if (o == NULL)
		return NULL;
	fleet_free(o->fleet, o->nfleet);
	memo_clear(o->memo);
	free(o->memo);
	free(o->seed);
	free(o);
	return NULL;
}

void order_set_seed(struct order *o, const char *seed)
{
	seed = seed != NULL ? seed : "";
	if (strcmp(o->seed, seed) == 0)
		return;
	free(o->seed);
	o->seed = xstrdup(seed);
	memo_clear(o->memo); /* every score depends on the seed */
}

void order_set_fleet(struct order *o, json_t *nodes)
{
	size_t i;

	fleet_free(o->fleet, o->nfleet);
	o->fleet = fleet_copy(nodes, &o->nfleet);
	o->fleet_tag = STRMAP_FNV_OFFSET;
	for (i = 0; i < o->nfleet; i++)
		o->fleet_tag = strmap_fnv1a(o->fleet_tag, o->fleet[i],
		                            strlen(o->fleet[i]) + 1);
}

static void items_release(struct item *items, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(items[i].owned);
	free(items);
}

/* Sort items (one group) in o's order as this node sees it. */
static void order_items(const struct order *o, const char *key, size_t key_len,
                        struct item *items, size_t n)
{
	if (o->mode == ORDER_NONE)
		return;
	if (o->mode == ORDER_RANDOM) {
		items_shuffle(items, n);
		return;
	}
	if (o->mode == ORDER_BALANCED &&
	    fleet_has(o->fleet, o->nfleet, o->seed)) {
		items_score_memo(items, n, ORDER_STABLE, o, key, key_len);
		balanced_first(o, key, key_len, items, n);
	} else {
		items_score_memo(items, n,
		                 o->mode == ORDER_WEIGHTED ? ORDER_WEIGHTED
		                                           : ORDER_STABLE,
		                 o, key, key_len);
	}
	qsort(items, n, sizeof(*items), item_cmp);
}

void order_apply(const struct order *o, const char *key, json_t *list)
{
	struct item *items;
	size_t n, i;

	if (o == NULL || !json_is_array(list) || o->mode == ORDER_NONE ||
	    (size_t)o->mode >= ORDER_NMODES)
		return;
	if ((n = json_array_size(list)) < 2)
		return;
	key = key != NULL ? key : "";
	items = xreallocarray(NULL, n, sizeof(*items));
	for (i = 0; i < n; i++)
		item_describe(&items[i], json_incref(json_array_get(list, i)),
		              i);
	order_items(o, key, strlen(key), items, n);
	/* The list holds one reference, items another: set_new steals ours. */
	for (i = 0; i < n; i++)
		json_array_set_new(list, i, items[i].value);
	items_release(items, n);
}

/* -- Lines: each name's lines in the rendered hosts text --------------- */

/* The names part of entry l's key: "name name..." after the address. */
const char *ord_line_names(const struct hosts_doc *d,
                           const struct hosts_line *l, size_t *ret_len)
{
	*ret_len = l->key_len - l->addr_len - 1;
	return d->keys + l->key + l->addr_len + 1;
}

static uint32_t line_weight(json_t *weights, const char *addr, size_t len)
{
	return weights == NULL
	               ? 1
	               : weight_clamp(json_object_getn(weights, addr, len));
}

/* Items for the lines at pos[0..n) of d: identity = the address. */
struct item *ord_line_items(const struct hosts_doc *d, const size_t *pos,
                            size_t n, json_t *weights)
{
	struct item *items = xcalloc(n, sizeof(*items));

	for (size_t k = 0; k < n; k++) {
		const struct hosts_line *l = &d->lines[pos[k]];

		items[k].id = d->keys + l->key;
		items[k].id_len = l->addr_len;
		items[k].index = k;
		items[k].weight =
		        line_weight(weights, items[k].id, items[k].id_len);
	}
	return items;
}

void ord_groups_build(const struct hosts_doc *d, struct groups *g)
{
	memset(g, 0, sizeof(*g));
	strmap_init(&g->map);
	g->next = xreallocarray(NULL, d->nlines ? d->nlines : 1,
	                        sizeof(*g->next));
	g->first = xreallocarray(NULL, d->nlines ? d->nlines : 1,
	                         sizeof(*g->first));
	g->last = xreallocarray(NULL, d->nlines ? d->nlines : 1,
	                        sizeof(*g->last));
	g->count = xcalloc(d->nlines ? d->nlines : 1, sizeof(*g->count));
	for (size_t i = 0; i < d->nlines; i++) {
		const struct hosts_line *l = &d->lines[i];
		struct strmap_slot *slot;
		const char *names;
		size_t len, k;
		bool fresh;

		g->next[i] = SIZE_MAX;
		if (!l->entry)
			continue;
		names = ord_line_names(d, l, &len);
		slot = strmap_put(&g->map, names, len, (uint32_t)g->n, &fresh);
		k = slot->value;
		if (fresh) {
			g->first[k] = i;
			g->n++;
		} else {
			g->next[g->last[k]] = i;
		}
		g->last[k] = i;
		g->count[k]++;
	}
}

void ord_groups_free(struct groups *g)
{
	strmap_free(&g->map);
	free(g->first);
	free(g->last);
	free(g->count);
	free(g->next);
}

int order_lines(const struct order *o, struct hosts_doc *d, json_t *weights,
                unsigned emit)
{
	struct groups g;
	size_t *from, *pos = NULL, cap = 0, nl = 0;
	bool *drop;
	struct buf text;
	struct hosts_line *lines;
	bool ends_nl;
	int r = 0;

	if (o == NULL || d->nlines == 0 || (o->mode == ORDER_NONE && emit == 0))
		return 0;
	ord_groups_build(d, &g);
	from = xreallocarray(NULL, d->nlines, sizeof(*from));
	drop = xcalloc(d->nlines, sizeof(*drop));
	for (size_t i = 0; i < d->nlines; i++)
		from[i] = i;
	for (size_t k = 0; k < g.n; k++) {
		size_t n = g.count[k], len, j = 0;
		const char *names;
		struct item *items;

		if (n < 2 && (emit == 0 || n <= emit))
			continue;
		if (n > cap) {
			cap = n;
			pos = xreallocarray(pos, cap, sizeof(*pos));
		}
		for (size_t i = g.first[k]; i != SIZE_MAX; i = g.next[i])
			pos[j++] = i;
		names = ord_line_names(d, &d->lines[pos[0]], &len);
		items = ord_line_items(d, pos, n, weights);
		order_items(o, names, len, items, n);
		/* The group keeps its positions; its lines take them in
		 * this node's order, and only the first emit stay. */
		for (j = 0; j < n; j++) {
			from[pos[j]] = pos[items[j].index];
			drop[pos[j]] = emit > 0 && j >= emit;
		}
		free(items);
	}
	ends_nl = d->text.len > 0 && d->text.data[d->text.len - 1] == '\n';
	buf_init(&text, d->text.max);
	lines = xreallocarray(NULL, d->nlines, sizeof(*lines));
	for (size_t i = 0; i < d->nlines && r == 0; i++) {
		struct hosts_line l;

		if (drop[i]) {
			d->st.entries--;
			continue;
		}
		l = d->lines[from[i]];
		r = buf_append(&text, d->text.data + l.off, l.len);
		if (r == 0 && (i + 1 < d->nlines || ends_nl))
			r = buf_putc(&text, '\n');
		l.off = text.len - l.len - (i + 1 < d->nlines || ends_nl);
		lines[nl++] = l;
	}
	if (r == 0) {
		bool kept_all = nl == d->nlines;

		buf_free(&d->text);
		d->text = text;
		free(d->lines);
		d->lines = lines;
		d->nlines = nl;
		d->cap = d->nlines > 0 ? d->nlines : 1;
		if (kept_all) {
			/* The same keys at new places: renumber the index
			 * where it is instead of hashing every key again. */
			size_t *to = xreallocarray(NULL, nl, sizeof(*to));

			for (size_t i = 0; i < nl; i++)
				to[from[i]] = i;
			for (size_t k = 0; k < d->index.cap; k++)
				if (d->index.slots[k].key != NULL)
					d->index.slots[k].value = (uint32_t)
					        to[d->index.slots[k].value];
			free(to);
		} else {
			strmap_clear(&d->index);
			for (size_t i = 0; i < d->nlines; i++)
				if (d->lines[i].entry)
					(void)strmap_put(
					        &d->index,
					        d->keys + d->lines[i].key,
					        d->lines[i].key_len,
					        (uint32_t)i, NULL);
		}
	} else {
		buf_free(&text);
		free(lines);
	}
	free(pos);
	free(from);
	free(drop);
	ord_groups_free(&g);
	return r;
}
