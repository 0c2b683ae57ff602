/*
 * The store: the last decoded value of every watched dependency, by dep_id.
 *
 * The watcher puts data in; the render pass reads it. A dependency that has
 * never answered has no entry (store_get returns NULL), which is how a
 * render pass knows it is incomplete.
 *
 * Values are as dep_decode() made them. A blob of compact records
 * (crec.h) is read through a view the store owns: store_get() gives the
 * answer as templates see it, made once per answer and kept until the
 * entry changes or is forgotten, so a render re-reads what the last one
 * made instead of making it again. (DESIGN.md's "the store holds decoded
 * responses as jansson trees" predates the compact records: templates
 * still see jansson values, made from the blobs through these views.)
 */
#ifndef CH_STORE_H
#define CH_STORE_H

#include <stdint.h>

#include <jansson.h>

struct store;

struct store *store_new(void);
struct store *store_free(struct store *s); /* NULL-safe; returns NULL */

/* The value templates see (borrowed), valid until the next store_put or
 * store_forget of id; NULL when the dependency has no data yet. */
json_t *store_get(const struct store *s, const char *id);
/*
 * Steal value (dep_decode's) as id's data; suspect (copied; NULL when a
 * healthy answer carried or confirmed it) says why Consul's answer may not
 * be the cluster's current state (watch.h). The store does not compare
 * data: whether an answer changed anything is the watcher's to say, and
 * it calls on_data only then, or with the very value it gave before when
 * only the suspicion came or went. So: returns 1 when value is not the
 * value id holds (new data: a new version), or there was none, or its
 * suspicion came or went; 0 otherwise, in which case nothing needs
 * rendering. A JSON null for an id where null means "not there yet"
 * (dep_id_null_is_missing) removes the entry instead.
 */
int store_put(struct store *s, const char *id, json_t *value,
              const char *suspect);
/*
 * The version of id's data: a number no other data of the store had or
 * will have (it changes when store_put changes the data, and is never
 * reused), 0 when id has none. Two reads with the same version saw the
 * same value.
 */
uint64_t store_version(const struct store *s, const char *id);
/* Why id's data is suspect (borrowed, valid until the next put), or NULL. */
const char *store_suspect(const struct store *s, const char *id);
void store_forget(struct store *s, const char *id);

#endif
