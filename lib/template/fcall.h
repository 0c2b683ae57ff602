/*
 * A template function as the evaluator calls it: its signature, and the
 * context of one call.
 *
 * A function gets its evaluated arguments as borrowed references (never
 * NULL: Go's "no value" arrives as json null) and returns a new reference
 * in *ret, or a negative errno with c->err's message set (the evaluator
 * adds file:line:col and "error calling <name>: "). The builtins
 * (funcs.h) and the Consul data functions (funcs_consul.h) are written
 * against this header alone: they know the environment of the render
 * (tmpl_env.h), not the engine that runs it.
 */
#ifndef CH_FCALL_H
#define CH_FCALL_H

#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "template/tmpl_env.h"

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

#endif
