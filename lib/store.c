/*
 * The store: the last decoded value of every dependency, in one jansson
 * object keyed by dep_id. A JSON null for a dependency whose null means
 * "does not exist yet" (dep_id_null_is_missing: the key function's
 * kv.block deps) is kept as no entry, so the render pass stays incomplete
 * until the key exists.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"

#include "deps.h"
#include "xmalloc.h"

struct store {
	json_t *data;    /* dep_id -> value */
	json_t *suspect; /* dep_id -> why its value is suspect */
};

struct store *store_new(void)
{
	struct store *s = xcalloc(1, sizeof(*s));

	s->data = json_object();
	s->suspect = json_object();
	return s;
}

struct store *store_free(struct store *s)
{
	if (s == NULL)
		return NULL;
	json_decref(s->data);
	json_decref(s->suspect);
	free(s);
	return NULL;
}

json_t *store_get(const struct store *s, const char *id)
{
	return json_object_get(s->data, id);
}

const char *store_suspect(const struct store *s, const char *id)
{
	return json_string_value(json_object_get(s->suspect, id));
}

/* Record why id's data is suspect; 1 when that changed. */
static int store_set_suspect(struct store *s, const char *id,
                             const char *suspect)
{
	const char *old = store_suspect(s, id);

	if (suspect == NULL) {
		if (old == NULL)
			return 0;
		json_object_del(s->suspect, id);
		return 1;
	}
	if (old != NULL && strcmp(old, suspect) == 0)
		return 0;
	json_object_set_new(s->suspect, id, json_string(suspect));
	return old == NULL;
}

int store_put(struct store *s, const char *id, json_t *value,
              const char *suspect)
{
	json_t *old = json_object_get(s->data, id);

	if (value == NULL ||
	    (json_is_null(value) && dep_id_null_is_missing(id))) {
		json_decref(value);
		json_object_del(s->suspect, id);
		if (old == NULL)
			return 0;
		json_object_del(s->data, id);
		return 1;
	}
	if (old != NULL && json_equal(old, value)) {
		json_decref(value);
		return store_set_suspect(s, id, suspect);
	}
	json_object_set_new(s->data, id, value);
	(void)store_set_suspect(s, id, suspect);
	return 1;
}

void store_forget(struct store *s, const char *id)
{
	json_object_del(s->data, id);
	json_object_del(s->suspect, id);
}
