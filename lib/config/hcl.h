/*
 * The subset of HCL (version 1) that consul-template configs use, and JSON,
 * read into a jansson tree plus a side table of positions.
 *
 * Accepted: `key = value` and `"key": value` (JSON), nested blocks
 * `key { ... }` and `key = { ... }`; a block key repeated in one object
 * becomes an array of objects, a repeated assignment replaces the earlier
 * value. Values: strings with \" \\ \n \r \t \uXXXX \UXXXXXXXX escapes
 * (${...} is kept literally), heredocs <<EOF and <<-EOF (the latter
 * removes the indentation common to all non-empty lines), numbers
 * (decimal, 0644 octal, 0x hex, floats), true/false, null (JSON), lists
 * [a, b,] and objects. Comments: #, // and / * ... * /. A JSON document
 * is a top-level { ... }; an HCL one is a bare list of items.
 *
 * Bounds: input HCL_MAX_INPUT bytes, nesting HCL_MAX_DEPTH.
 *
 * Positions are kept per object key (the key and the value) and per array
 * element, keyed by the container (borrowed pointer into the tree) and the
 * key or index; they stay valid as long as the tree is not modified. Pure
 * module: never logs, never reads files.
 */
#ifndef CH_HCL_H
#define CH_HCL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/err.h"

#define HCL_MAX_INPUT (1024 * 1024)
#define HCL_MAX_DEPTH 32

struct hcl_pos;

struct hcl_loc {
	int line; /* 1-based */
	int col;  /* 1-based, in bytes; a tab counts as one */
};

/*
 * Parse text (len bytes, need not be NUL-terminated). name is used only
 * for error messages. On success *ret_tree is a new reference to an
 * object and *ret_pos a new table (free with hcl_pos_free). On failure
 * returns -EINVAL (or -E2BIG for oversized input) and fills e with
 * name:line:col.
 */
int hcl_parse(const char *name, const char *text, size_t len, json_t **ret_tree,
              struct hcl_pos **ret_pos, struct err *e);

struct hcl_pos *hcl_pos_free(struct hcl_pos *p); /* NULL-safe */

/*
 * Where key of object obj (borrowed) was written: its key and its value.
 * Returns false (and zeros) when unknown, e.g. p is NULL.
 */
bool hcl_pos_key(const struct hcl_pos *p, const json_t *obj, const char *key,
                 struct hcl_loc *ret_key, struct hcl_loc *ret_value);
/* Where element i of array arr (borrowed) starts. */
bool hcl_pos_index(const struct hcl_pos *p, const json_t *arr, size_t i,
                   struct hcl_loc *ret);

#endif
