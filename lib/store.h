/*
 * The store: the last decoded value of every watched dependency, by dep_id.
 *
 * The watcher puts data in; the render pass reads it. A dependency that has
 * never answered has no entry (store_get returns NULL), which is how a
 * render pass knows it is incomplete.
 */
#ifndef CH_STORE_H
#define CH_STORE_H

#include <jansson.h>

struct store;

struct store *store_new(void);
struct store *store_free(struct store *s); /* NULL-safe; returns NULL */

/* Borrowed reference, valid until the next store_put/forget of id; NULL
 * when the dependency has no data yet. */
json_t *store_get(const struct store *s, const char *id);
/*
 * Steal value as id's data. Returns 1 when it differs from the previous
 * value (or there was none), 0 when it is equal (json_equal), in which
 * case nothing needs rendering. A JSON null for an id where null means
 * "not there yet" (dep_id_null_is_missing) removes the entry instead.
 */
int store_put(struct store *s, const char *id, json_t *value);
void store_forget(struct store *s, const char *id);

#endif
