/*
 * Templates in consul-template's language (Go text/template syntax plus
 * consul-template's functions).
 *
 * tmpl_parse() turns text into a tree once (at start and on SIGHUP);
 * tmpl_render() walks the tree over jansson values and appends to a
 * bounded buffer. The Consul data functions ask env->lookup for each
 * dependency; a lookup that returns NULL (no data yet) makes the function
 * return an empty value, and the caller, which saw the lookup, knows the
 * pass is incomplete and publishes nothing.
 *
 * Every error names the template, line and column:
 *   hosts.tmpl:12:18: unexpected "}" in operand
 */
#ifndef CH_TEMPLATE_H
#define CH_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "consul/deps.h"
#include "template/tmpl_env.h"

struct tmpl;

struct tmpl_opts {
	const char *name;       /* for error messages: file name or "inline" */
	const char *left_delim; /* NULL or "" means "{{" */
	const char *right_delim;
	bool error_on_missing_key; /* missingkey=error instead of zero */
	/* consul-template's function_denylist: NULL-terminated globs ("env",
	 * "sprig_*"); a call to a denied function fails when it runs with
	 * "function is disabled". NULL: none. Read while parsing only. */
	const char *const *function_denylist;
};

/* TMPL_DEFAULT_MAX_OUTPUT, _DEPTH and _STEPS (tmpl_env.h). */
extern const struct tmpl_limits tmpl_default_limits;

int tmpl_parse(const char *text, size_t len, const struct tmpl_opts *opts,
               struct tmpl **ret, struct err *e);

struct tmpl_cache *tmpl_cache_new(void);
struct tmpl_cache *tmpl_cache_free(struct tmpl_cache *c); /* NULL-safe */
/* Iterations c keeps, and how many the last render replayed. */
void tmpl_cache_stats(const struct tmpl_cache *c, size_t *ret_kept,
                      size_t *ret_replayed);
struct tmpl *tmpl_free(struct tmpl *t); /* NULL-safe; returns NULL */

/*
 * Execute t, appending to out. On error out holds a partial render that
 * must not be published, and e says where and why.
 */
int tmpl_render(const struct tmpl *t, const struct tmpl_env *env,
                struct buf *out, struct err *e);
/* The same with dot (borrowed; NULL is Go's nil data) as "." and "$". */
int tmpl_render_dot(const struct tmpl *t, const struct tmpl_env *env,
                    json_t *dot, struct buf *out, struct err *e);

/*
 * What t can show of health checks, from its parse tree:
 *  - DEP_CHECKS_ALL when it can show a check's Output, Notes,
 *    CreateIndex or ModifyIndex: it names one of them, encodes JSON
 *    (toJSON and its kin print every field), or names Checks and either
 *    formats values (printf, print, println, html, js, urlquery, join)
 *    or prints something other than a field (., a variable, index's,
 *    and's or or's result), which could be a whole check (no field of
 *    any record holds a single check, so printing fields never shows
 *    one);
 *  - else DEP_CHECKS_NO_TEXT when it names Checks, or formats or prints
 *    something other than a field (a whole instance prints its Checks);
 *  - else DEP_CHECKS_NONE: no check is ever seen.
 * The decoders leave out what no loaded template sees (tmpl_env).
 */
enum dep_checks tmpl_checks_seen(const struct tmpl *t);

#endif
