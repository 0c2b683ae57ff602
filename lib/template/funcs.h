/*
 * Template functions: the table the parser resolves names in and the
 * evaluator calls into (fcall.h has how a function is called).
 *
 * Builtins (funcs.c) cover Go's and consul-template's helpers; the Consul
 * data functions are funcs_consul.h's. Go's and/or short-circuit, so the
 * evaluator handles them itself.
 */
#ifndef CH_FUNCS_H
#define CH_FUNCS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "template/fcall.h"

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

/* Ends with a { NULL } entry. */
extern const struct func_def funcs_builtin[];

#endif
