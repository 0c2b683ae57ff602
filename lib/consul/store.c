/*
 * The store: the last decoded value of every dependency, by dep_id, in a
 * hash map of entries. A blob of compact records (dep_id_compact ids)
 * gets a view (crec.h), made at its first read and freed with the entry,
 * so what a template reads of one answer is made once per answer, not
 * per render. A JSON null for a dependency whose null means "does not
 * exist yet" (dep_id_null_is_missing: the key function's kv.block deps)
 * is kept as no entry, so the render pass stays incomplete until the key
 * exists.
 */
#include <stdlib.h>
#include <string.h>

#include "consul/store.h"

#include "consul/crec.h"
#include "consul/deps.h"
#include "base/strmap.h"
#include "base/xmalloc.h"

struct entry {
	char *id;
	json_t *value;          /* as decoded: a blob or a plain value */
	struct crec_view *view; /* of a blob, once read */
	char *suspect;          /* why value is suspect, or NULL */
	uint64_t version;       /* store_version() */
	bool live;              /* false: forgotten (a free slot) */
};

struct store {
	struct entry *v; /* entries; forgotten ones are reused */
	size_t n, cap;
	struct strmap index; /* id -> entry index (ids owned by entries) */
	uint64_t clock;      /* the last version given */
};

struct store *store_new(void)
{
	struct store *s = xcalloc(1, sizeof(*s));

	strmap_init(&s->index);
	return s;
}

static void entry_clear(struct entry *en)
{
	en->view = crec_view_free(en->view);
	json_decref(en->value);
	en->value = NULL;
	free(en->suspect);
	en->suspect = NULL;
}

struct store *store_free(struct store *s)
{
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		entry_clear(&s->v[i]);
		free(s->v[i].id);
	}
	free(s->v);
	strmap_free(&s->index);
	free(s);
	return NULL;
}

static struct entry *store_find(const struct store *s, const char *id)
{
	uint32_t i;

	if (!strmap_get(&s->index, id, strlen(id), &i) || !s->v[i].live)
		return NULL;
	return &s->v[i];
}

/* id's entry, made (not live, no value) when it has none. */
static struct entry *store_slot(struct store *s, const char *id)
{
	struct strmap_slot *slot;
	uint32_t i;
	bool fresh;

	if (strmap_get(&s->index, id, strlen(id), &i))
		return &s->v[i];
	if (s->n == s->cap) {
		struct entry *old = s->v;

		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xreallocarray(NULL, s->cap, sizeof(*s->v));
		if (s->n > 0)
			memcpy(s->v, old, s->n * sizeof(*s->v));
		free(old);
	}
	memset(&s->v[s->n], 0, sizeof(s->v[0]));
	s->v[s->n].id = xstrdup(id);
	slot = strmap_put(&s->index, s->v[s->n].id, strlen(id), (uint32_t)s->n,
	                  &fresh);
	(void)slot;
	return &s->v[s->n++];
}

json_t *store_get(const struct store *s, const char *id)
{
	struct entry *en = store_find(s, id);

	if (en == NULL)
		return NULL;
	if (en->view == NULL && dep_id_compact(id) && crec_is_blob(en->value))
		en->view = crec_view_new(en->value);
	return en->view != NULL ? crec_view_root(en->view) : en->value;
}

uint64_t store_version(const struct store *s, const char *id)
{
	struct entry *en = store_find(s, id);

	return en != NULL ? en->version : 0;
}

const char *store_suspect(const struct store *s, const char *id)
{
	struct entry *en = store_find(s, id);

	return en != NULL ? en->suspect : NULL;
}

/* Record why en's data is suspect; 1 when it came or went. */
static int store_set_suspect(struct entry *en, const char *suspect)
{
	char *old = en->suspect;

	if (suspect == NULL) {
		en->suspect = NULL;
		free(old);
		return old != NULL;
	}
	if (old != NULL && strcmp(old, suspect) == 0)
		return 0;
	en->suspect = xstrdup(suspect);
	free(old);
	return old == NULL;
}

int store_put(struct store *s, const char *id, json_t *value,
              const char *suspect)
{
	struct entry *en = store_find(s, id);

	if (value == NULL ||
	    (json_is_null(value) && dep_id_null_is_missing(id))) {
		json_decref(value);
		if (en == NULL)
			return 0;
		entry_clear(en);
		en->live = false;
		return 1;
	}
	/* The value it holds, handed back: only the suspicion may move. */
	if (en != NULL && en->value == value) {
		json_decref(value);
		return store_set_suspect(en, suspect);
	}
	if (en == NULL)
		en = store_slot(s, id);
	entry_clear(en);
	en->value = value;
	en->version = ++s->clock;
	en->live = true;
	(void)store_set_suspect(en, suspect);
	return 1;
}

void store_forget(struct store *s, const char *id)
{
	struct entry *en = store_find(s, id);

	if (en != NULL) {
		entry_clear(en);
		en->live = false;
	}
}
