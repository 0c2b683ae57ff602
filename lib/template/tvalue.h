/*
 * Go value semantics over jansson values, for the template engine.
 *
 * A template value is a json_t: strings, integers (Go int), reals (Go
 * float64), true/false, null (Go nil), arrays ([]interface {}), objects
 * (Go maps) and records (consul-template's structs, see trecord.h). A NULL
 * json_t * is Go's "no value" (a missing map key), which prints as "<no
 * value>"; json null prints as
 * "<nil>". Every function here borrows its arguments.
 *
 * Pure module: no I/O, no logging.
 */
#ifndef CH_TVALUE_H
#define CH_TVALUE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"

/* Go's truth: false, 0, nil, no value, and empty strings/arrays/maps. */
bool tv_truth(const json_t *v);
/*
 * Whether v stands for a Go map[string]string (Consul's Meta, NodeMeta,
 * ServiceMeta, TaggedAddresses): an object, empty or of strings only,
 * whose missing keys give "" where other maps give no value.
 */
bool tv_is_string_map(const json_t *v);
/* Go's type name: "string", "int", "float64", "bool", "[]interface {}",
 * "map[string]interface {}", "<nil>" (json null or no value). Type names
 * in errors come in one vocabulary per audience, each named once: template
 * errors say Go's (this function, as consul-template's do), config errors
 * HCL's (config.c's json_kind: block, list, string, number, boolean), and
 * what deps drops from a Consul answer JSON's (object, string). */
const char *tv_type_name(const json_t *v);
/* The keys of object v in Go's map order (sorted): a new array of
 * borrowed keys, *n of them; the caller frees the array. */
const char **tv_sorted_keys(const json_t *v, size_t *n);
/*
 * What a template action prints for v (text/template's printValue: a
 * pointer to a struct prints as the struct, {10 1}), appended to b.
 * 0, -E2BIG, or -ENOTSUP with e set for what consul-template would print
 * as a memory address (a record pointer inside a list, map or record).
 * Every printer below returns the same.
 */
int tv_print(struct buf *b, const json_t *v, struct err *e);
/* fmt.Sprint (spaces between operands when neither is a string) or, with
 * ln, fmt.Sprintln; a record pointer prints as &{...}. */
int tv_sprint(struct buf *b, json_t *const *args, size_t n, bool ln,
              struct err *e);
/*
 * fmt.Sprintf over template values: verbs %v %+v %s %d %q %x %X %o %b %c
 * %e %E %f %F %g %G %t %T %U %%, flags "+-# 0", width and precision (also
 * "*"), argument indexes ("%[2]s %[1]s", "%[1]*d"). %#v of strings, ints
 * and bools only. Wrong types, missing, extra or bad-index arguments print
 * Go's %!verb(...) markers.
 */
int tv_sprintf(struct buf *b, const char *fmt, size_t fmtlen,
               json_t *const *args, size_t n, struct err *e);
/*
 * Go's encoding/json of v (json.Marshal; MarshalIndent with indent ""/"  "
 * when pretty; HTML-safe escapes unless !escape_html), appended to b:
 * maps with sorted keys, records with their fields in declaration order,
 * numbers as Go writes float64 and int. -ENOTSUP (e set) for a record
 * field consul-hosts does not keep.
 */
int tv_json(struct buf *b, const json_t *v, bool pretty, bool escape_html,
            struct err *e);
/* Shortest float64 formatting as Go's strconv 'g' with precision -1. */
void tv_format_float(char *out, size_t size, double d);

/*
 * Go's eq (a equals any of bs), and lt/le/gt/ge's ordering of two basic
 * values. 0 with the result, or -EINVAL with *msg set to Go's text
 * ("incompatible types for comparison", ...).
 */
int tv_eq(const json_t *a, json_t *const *bs, size_t n, bool *ret,
          const char **msg);
int tv_cmp(const json_t *a, const json_t *b, int *ret, const char **msg);

#endif
