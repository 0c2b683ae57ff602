/*
 * What a render runs in: the environment the caller hands tmpl_render()
 * (template.h) and every template function gets (funcs.h): how it looks
 * up, orders and weighs Consul data, where the data spans of the output
 * go, the render cache, and the limits.
 *
 * The parser, the evaluator and the functions all read this one header,
 * so the functions need nothing of the engine that calls them.
 */
#ifndef CH_TMPL_ENV_H
#define CH_TMPL_ENV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "consul/deps.h"

struct dep;
struct tmpl_cache;

/* The limits a render gets unless told otherwise (tmpl_default_limits). */
#define TMPL_DEFAULT_MAX_OUTPUT (64u << 20)
#define TMPL_DEFAULT_MAX_DEPTH  100
#define TMPL_DEFAULT_MAX_STEPS  10000000ul

struct tmpl_limits {
	size_t max_output;       /* bytes; rendering past it is an error */
	unsigned max_depth;      /* nesting of actions and calls */
	unsigned long max_steps; /* range iterations + actions executed */
};

/* Byte ranges of a render's output, [start, end), in order. */
struct tmpl_spans {
	struct {
		size_t start, end;
	} * v;
	size_t n, cap;
};

struct tmpl_env {
	/*
	 * The data of dependency d: a borrowed reference, or NULL when it has
	 * not been fetched yet. The callee records d as used by this pass.
	 */
	json_t *(*lookup)(void *ctx, const struct dep *d);
	/*
	 * Reorder list in place for the shuffle function, by the configured
	 * per-node ordering. NULL leaves lists as they are.
	 */
	void (*order)(void *ctx, const char *key, json_t *list);
	/*
	 * A service instance the render was given (borrowed), for weighted
	 * ordering, which needs each address's weight. May be NULL.
	 */
	void (*weigh)(void *ctx, json_t *instance);
	/* A non-fatal problem worth logging (a dropped record). May be NULL. */
	void (*warn)(void *ctx, const char *msg);
	/*
	 * When not NULL, gets the output that depends on data: what every
	 * action prints, and template text inside a range, if or with body
	 * (whether it is there depends on what was evaluated). Text at the
	 * top level is static. Adjacent ranges are merged; the caller frees
	 * spans->v.
	 */
	struct tmpl_spans *spans;
	void *ctx;
	struct tmpl_limits limits;
	/*
	 * What the loaded templates can see of health checks (the least
	 * tmpl_checks_seen() of them): the Consul functions ask for
	 * dependencies that leave the rest out (dep_set_checks). Zero keeps
	 * everything.
	 */
	enum dep_checks checks;
	/*
	 * Iterations kept between renders of one template (tmpl_cache_new),
	 * with version: an iteration of a range over records from Consul
	 * whose body asks for data of its own (a service per service of the
	 * catalog) is replayed, output, data spans and steps, when its record
	 * is the same and every dependency it read has the same version;
	 * only the others are rendered again. A range qualifies when its
	 * body reads no variable from outside but $, calls no file, shuffle
	 * or template, and declares at most the element. NULL: none.
	 */
	struct tmpl_cache *cache;
	/* The version of d's data (store_version), for cache. */
	uint64_t (*version)(void *ctx, const struct dep *d);
};

#endif
