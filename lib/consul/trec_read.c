/*
 * Reading a record, whichever form it has: a compact handle (crec.h) or an
 * object trec_new() made (trecord.h).
 */
#include "consul/trec_read.h"

#include <stdint.h>
#include <string.h>

#include "consul/crec.h"

const struct trec_schema *trec_schema_of(const json_t *v)
{
	void *it;
	json_t *mark;

	if (crec_is_handle(v))
		return trec_schema(crec_handle_kind(v));
	if (!json_is_object(v))
		return NULL;
	/* The mark is the first key: no hashing on the hot path. */
	it = json_object_iter((json_t *)(uintptr_t)v);
	if (it == NULL || !trec_is_mark(json_object_iter_key(it),
	                                json_object_iter_key_len(it)))
		return NULL;
	mark = json_object_iter_value(it);
	return trec_schema((enum trec_kind)json_integer_value(mark));
}

json_t *trec_get(const json_t *v, const struct trec_field *f)
{
	const struct trec_schema *s;

	if (crec_is_handle(v)) {
		s = trec_schema(crec_handle_kind(v));
		if (s == NULL || f < s->fields || f >= s->fields + s->nfields ||
		    f->type == TF_ABSENT)
			return NULL;
		return crec_handle_field(v, (size_t)(f - s->fields));
	}
	return json_object_get(v, f->name);
}

json_t *trec_get_name(const json_t *v, const char *name)
{
	const struct trec_schema *s = trec_schema_of(v);
	const struct trec_field *f = s != NULL ? trec_field(s, name) : NULL;

	return f != NULL ? trec_get(v, f) : NULL;
}

json_t *trec_member(const json_t *v, const char *name)
{
	if (trec_schema_of(v) != NULL)
		return trec_get_name(v, name);
	return json_object_get(v, name);
}

bool trec_equal(const json_t *a, const json_t *b)
{
	const struct trec_schema *s = trec_schema_of(a);

	if (a == b)
		return s != NULL;
	if (s == NULL || s != trec_schema_of(b))
		return false;
	for (size_t i = 0; i < s->nfields; i++)
		if (s->fields[i].type != TF_ABSENT &&
		    !trec_value_equal(trec_get(a, &s->fields[i]),
		                      trec_get(b, &s->fields[i])))
			return false;
	return true;
}

bool trec_value_equal(const json_t *a, const json_t *b)
{
	size_t i, n;

	if (a == NULL || b == NULL)
		return a == b;
	if (trec_schema_of(a) != NULL || trec_schema_of(b) != NULL)
		return trec_equal(a, b);
	if (json_is_array(a) && json_is_array(b)) {
		n = json_array_size(a);
		if (n != json_array_size(b))
			return false;
		for (i = 0; i < n; i++)
			if (!trec_value_equal(json_array_get(a, i),
			                      json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a) && json_is_object(b)) {
		const char *k;
		size_t klen;
		json_t *x;

		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_keylen_foreach((json_t *)(uintptr_t)a, k, klen, x)
		{
			if (!trec_value_equal(x, json_object_getn(b, k, klen)))
				return false;
		}
		return true;
	}
	return json_equal(a, b);
}
