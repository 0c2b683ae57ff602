/*
 * Template functions: the table the evaluator calls into.
 *
 * A function gets its evaluated arguments as borrowed references (never
 * NULL: Go's "no value" arrives as json null) and returns a new reference
 * in *ret, or a negative errno with c->err's message set (the evaluator
 * adds file:line:col and "error calling <name>: "). Builtins (funcs.c) cover
 * Go's and consul-template's helpers; the Consul data functions live in
 * funcs_consul.c. Go's and/or short-circuit, so the evaluator handles them
 * itself.
 */
#ifndef CH_FUNCS_H
#define CH_FUNCS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "template/template.h"

struct fcall {
	const struct tmpl_env *env;
	struct err *err;
};

typedef int (*func_fn)(struct fcall *c, json_t *const *args, size_t nargs,
                       json_t **ret);

struct func_def {
	const char *name;
	func_fn fn;
	int min_args;
	int max_args; /* -1: variadic */
};

/* Builtins first, then the Consul functions; NULL when unknown. */
const struct func_def *func_lookup(const char *name);
/*
 * Why consul-hosts leaves out consul-template's function name ("Nomad",
 * "Vault", ...), or NULL when it is not one of those: a template using it
 * is refused when parsed, with its own error rather than "not defined".
 */
const char *func_unsupported(const char *name);
/*
 * Whether function_denylist (NULL-terminated globs, '*' only, as
 * consul-template's go-glob) denies name. Go's builtins (and, len,
 * printf, ...) are never denied: consul-template's denylist only replaces
 * its own functions. A denied function fails when called, with
 * consul-template's "function is disabled".
 */
bool func_denied(const char *name, const char *const *denylist);

/* Tables end with a { NULL } entry. */
extern const struct func_def funcs_builtin[];
extern const struct func_def funcs_consul[];

#endif
