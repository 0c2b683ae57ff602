/* The store: last decoded value of every dependency (being written). */
#include "store.h"

struct store *store_new(void)
{
	return NULL;
}

struct store *store_free(struct store *s)
{
	(void)s;
	return NULL;
}

json_t *store_get(const struct store *s, const char *id)
{
	(void)s;
	(void)id;
	return NULL;
}

int store_put(struct store *s, const char *id, json_t *value)
{
	(void)s;
	(void)id;
	json_decref(value);
	return 1;
}

void store_forget(struct store *s, const char *id)
{
	(void)s;
	(void)id;
}
