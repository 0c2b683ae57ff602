/*
 * Compact records: a decoded Consul answer in one block of bytes.
 *
 * The decoders (deps.c) build an answer's records here instead of as
 * jansson trees: every string is stored once per answer (a node's name,
 * a service's name, its tags and datacenter repeat over thousands of
 * instances), every list, map and struct value (Tags, Meta, Weights)
 * that repeats is stored once, and a record is a row of 32-bit
 * references, one per field of its Go struct (trecord.h), with no heap
 * object per field. crec_finish() hands the block over as a jansson
 * string (a "blob"), so it travels and is freed like any decoded value,
 * and two answers with the same data give the same bytes: json_equal()
 * of two blobs is the "changed?" test, a memcmp.
 *
 * Templates read a blob through a view (struct crec_view, owned by the
 * store): crec_view_root() is the answer's value as the template engine
 * sees every value, a json_t. Each part of the blob is made into a json_t
 * the first time it is read and kept for the view's life (one per
 * distinct string, number, list or map), so a render allocates nothing
 * the previous one made already. A record becomes a handle: a json_t of
 * a type of its own (CREC_JSON_TYPE), immortal for jansson (its refcount
 * is jansson's "never free" mark, so json_incref/json_decref ignore it),
 * owned and freed by its view; trecord.h reads its fields
 * (trec_schema_of, trec_get). Handles are valid while their view lives:
 * the store frees a view only when its entry changes, never during a
 * render, and nothing keeps a template value past its render.
 *
 * A blob is trusted: only this module makes them, and a view is only
 * made for a value the store knows to be one (dep_id_compact()).
 *
 * Pure module: no I/O, no logging.
 */
#ifndef CH_CREC_H
#define CH_CREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "consul/trecord.h"

/* A reference to a value in the blob being built or read. */
typedef uint32_t crec_ref;

struct crec_builder;

struct crec_builder *crec_builder_new(void);
struct crec_builder *crec_builder_free(struct crec_builder *b); /* NULL */

/* Values: strings and numbers are stored once per blob. */
crec_ref crec_null(void);
crec_ref crec_bool(bool v);
crec_ref crec_str(struct crec_builder *b, const char *s, size_t n);
crec_ref crec_int(struct crec_builder *b, int64_t v);
crec_ref crec_real(struct crec_builder *b, double v);
/* A list of n values; a list equal to one built before is that one. */
crec_ref crec_list(struct crec_builder *b, const crec_ref *items, size_t n);
/*
 * A map of n entries, keys[i] (crec_str refs) to vals[i], in the order
 * given (callers sort by key, as Go prints maps); stored once per blob.
 */
crec_ref crec_map(struct crec_builder *b, const crec_ref *keys,
                  const crec_ref *vals, size_t n);
/*
 * A record of kind with one value per field of its schema, in order
 * (TF_ABSENT fields: crec_null()). A struct value (a non-pointer kind:
 * AgentWeights) equal to one built before is that one; pointer records
 * are each their own.
 */
crec_ref crec_record(struct crec_builder *b, enum trec_kind kind,
                     const crec_ref *fields);
/* The bytes and length of string ref r (borrowed, NUL-terminated). */
const char *crec_builder_str(const struct crec_builder *b, crec_ref r,
                             size_t *len);
/* The blob with root as its value (new reference), or NULL when it would
 * be too large (4 GiB, or 2^29 strings or words); frees b. */
json_t *crec_finish(struct crec_builder *b, crec_ref root);

/* Whether v is a blob crec_finish() made (a string with its header). */
bool crec_is_blob(const json_t *v);

struct crec_view;

/* A view of blob (a reference is taken); NULL when blob is none. */
struct crec_view *crec_view_new(json_t *blob);
struct crec_view *crec_view_free(struct crec_view *v); /* NULL-safe */
/* The answer's value (borrowed, valid while v lives). */
json_t *crec_view_root(struct crec_view *v);

/* The jansson type of a record handle: none of jansson's. */
#define CREC_JSON_TYPE ((json_type)(JSON_NULL + 64))

static inline bool crec_is_handle(const json_t *v)
{
	return v != NULL && json_typeof(v) == CREC_JSON_TYPE;
}

/* The kind of handle h. */
enum trec_kind crec_handle_kind(const json_t *h);
/* A number for h's view that no other view had or will have: a handle is
 * the same record as another when both its address and this are. */
uint64_t crec_handle_serial(const json_t *h);
/* Field i (schema order) of handle h: borrowed, valid while its view
 * lives; never NULL. */
json_t *crec_handle_field(const json_t *h, size_t i);

/*
 * The blob (or a value of a view) as plain jansson values, records as
 * trec_new() objects with every field (new reference): for tests and
 * tools that inspect a decoded value.
 */
json_t *crec_expand(const json_t *v);

#endif
