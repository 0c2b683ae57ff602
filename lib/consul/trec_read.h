/*
 * Reading a record, whichever form it has (trecord.h): a compact handle
 * into a decoded answer (crec.h) or an object trec_new() made. The
 * template engine, the functions and the ordering read records through
 * these alone.
 *
 * Pure module: no I/O, no logging.
 */
#ifndef CH_TREC_READ_H
#define CH_TREC_READ_H

#include <stdbool.h>

#include <jansson.h>

#include "consul/trecord.h"

/* The schema of v, or NULL when v is no record (a map, or not an object). */
const struct trec_schema *trec_schema_of(const json_t *v);
/*
 * Field f (of trec_schema_of(v)'s fields) of record v: borrowed, valid
 * while v is; NULL when the record lacks it (a TF_ABSENT field).
 */
json_t *trec_get(const json_t *v, const struct trec_field *f);
/* Field name of record v, NULL when v is no record or has no such field;
 * borrowed. */
json_t *trec_get_name(const json_t *v, const char *name);
/* Field name of a record, or the value at key name of a map (borrowed);
 * NULL when absent, or when v is neither. */
json_t *trec_member(const json_t *v, const char *name);
/* Whether records a and b have the same kind and equal fields (Go's ==
 * of struct values). */
bool trec_equal(const json_t *a, const json_t *b);
/*
 * json_equal(), with records inside compared field by field (json_equal
 * cannot see an expanded record's mark, a key with a NUL byte): whether
 * two decoded values are the same data.
 */
bool trec_value_equal(const json_t *a, const json_t *b);

#endif
