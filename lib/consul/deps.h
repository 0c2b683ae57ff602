/*
 * Dependencies: the Consul queries templates need.
 *
 * A struct dep is one query (kind + parsed spec), identified by dep_id():
 * two deps with the same id are the same query and are watched once. The
 * template data functions build deps from their arguments ("tag.web@dc1|
 * passing,warning"); the watcher turns a dep into a request path, and
 * dep_decode() turns the response into the value templates see, with
 * consul-template's field names, filtered and sorted as consul-template
 * does, records that would break a hosts file, or take a name this
 * machine relies on (struct dep_names), dropped.
 *
 * Pure module: no I/O, no logging.
 *
 * Where: deps.c is a dep's identity (specs, ids, request paths),
 * dep_decode.c the decoding (and health_fold); dep_priv.h what both see.
 */
#ifndef CH_DEPS_H
#define CH_DEPS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/err.h"

enum dep_kind {
	DEP_CATALOG_NODES,    /* nodes "@dc~near"      /v1/catalog/nodes */
	DEP_CATALOG_SERVICES, /* services "@dc"        /v1/catalog/services */
	DEP_CATALOG_NODE,     /* node "name@dc"        /v1/catalog/node/<n> */
	DEP_HEALTH_SERVICE,   /* service "tag.name@dc~near|filter"
	                         /v1/health/service/<name> */
	DEP_DATACENTERS,    /* datacenters           /v1/catalog/datacenters */
	DEP_KV_GET,         /* key "path@dc"         /v1/kv/<path> */
	DEP_KV_LIST,        /* ls/tree "prefix@dc"   /v1/kv/<prefix>?recurse */
	DEP_AGENT_SELF,     /* (no spec)             /v1/agent/self */
	DEP_HEALTH_CONNECT, /* connect "tag.name@dc~near|filter", as service
	                       /v1/health/connect/<name> */
};

struct dep;

/* Parse spec for kind; *ret is a new dep on success. Errors say why. */
int dep_new(enum dep_kind kind, const char *spec, struct dep **ret,
            struct err *e);
/*
 * Make a DEP_KV_GET dep the `key` function's kind (id "kv.block(...)"): a
 * missing key is "no data yet" rather than a value, so the template waits
 * until the key exists, as consul-template's key does. Other kinds: no-op.
 */
void dep_kv_block(struct dep *d);
/*
 * Whether a JSON null decoded for dependency id means "no data yet": true
 * for kv.block ids. The store keeps no entry for such a value.
 */
bool dep_id_null_is_missing(const char *id);
/*
 * Whether dependency id decodes to a blob of compact records (crec.h):
 * nodes, services, node, service, connect, ls/tree. Other kinds decode to
 * plain jansson values (a KV value is a string of Consul's bytes, never a
 * blob, whatever it holds).
 */
bool dep_id_compact(const char *id);
/*
 * What of a health instance's checks (HealthService.Checks) the decoder
 * keeps, from what the loaded templates can see (tmpl_checks_seen()):
 * DEP_CHECKS_NO_TEXT leaves every check's Output, Notes, CreateIndex and
 * ModifyIndex empty, so an agent syncing a check's output changes nothing
 * d decodes; DEP_CHECKS_NONE leaves Checks an empty list (the instance's
 * Status, and the filter, still come from all of them). Not part of d's
 * identity. The default keeps everything.
 */
enum dep_checks {
	DEP_CHECKS_ALL,
	DEP_CHECKS_NO_TEXT,
	DEP_CHECKS_NONE,
};

void dep_set_checks(struct dep *d, enum dep_checks keep);
struct dep *dep_dup(const struct dep *d);
struct dep *dep_free(struct dep *d); /* NULL-safe; returns NULL */

enum dep_kind dep_kind(const struct dep *d);
/* Canonical identity, e.g. "health.service(web|passing)" (borrowed). */
const char *dep_id(const struct dep *d);
/* Whether the endpoint supports blocking queries (index/wait). */
bool dep_blocking(const struct dep *d);
/*
 * Whether Consul's agent cache answers the query with ?cached: the
 * background-refresh endpoints (catalog/services, health/service and
 * health/connect, which the agent serves from a streaming view when it
 * streams), so the agent keeps one query to the servers for all its
 * clients and answers their expiries itself. Not with near (streaming is
 * off and the answer sorted for the moment); never catalog/nodes,
 * catalog/node or KV, which Consul does not cache.
 */
bool dep_cached(const struct dep *d);
/*
 * Path and query for the request, without index/wait/stale, with every
 * path segment and value URL-encoded: "/v1/health/service/web?passing"
 * (new string, caller frees).
 */
char *dep_request_path(const struct dep *d);

/*
 * Decode a response body (status 200, or 404 for KV) into the value for
 * d: a new reference in *ret. For dep_id_compact() kinds that is a blob
 * of compact records (crec.h: templates read it through a view, which
 * the store makes; crec_expand() gives it as plain jansson values), for
 * the others a plain value. The same answer always gives the same bytes,
 * so json_equal() of two decoded values is "did the data change".
 * Records dropped because they could inject into a hosts file are
 * described, one string each, appended to dropped (may be NULL). Bad JSON
 * or an unexpected shape is -EBADMSG with e filled; nothing is returned
 * then. KV values are bytes: they may hold NULs or invalid UTF-8. A KV
 * 404 is null (key) or [] (prefix); integers beyond int64 (KV Flags) read
 * as reals.
 */
int dep_decode(const struct dep *d, long status, const char *body, size_t len,
               json_t **ret, json_t *dropped, struct err *e);

/*
 * Names a Consul record must not take, because a hosts template that
 * prints it ("{{ .Address }} {{ .Node }}") would make getaddrinfo() of a
 * name this machine relies on return a foreign address. All borrowed,
 * NULL-terminated lists, NULL for none. Names match without case and
 * without a trailing dot; an entry "*.domain" matches every name under
 * domain (not domain itself).
 *
 * reserved: no record may take these (dep_loopback_names, and the
 *   operator's reserved_names).
 * own: only this node may take these (its hostname and short name): a
 *   record with such a name is dropped unless its address is one of
 *   own_addrs (IP literals: this node's interface addresses), which is
 *   this node's own registration.
 *
 * Checked names: a node record's Node; a service instance's service name
 * and node name; the names of catalog services. A record that matches
 * is dropped with a message naming it and the entry it matched.
 */
struct dep_names {
	const char *const *reserved;
	const char *const *own;
	const char *const *own_addrs;
};

/* localhost and its variants, ip6-localhost..., "*.localhost". */
extern const char *const dep_loopback_names[];

/* dep_decode() checking names too (names may be NULL: none). */
int dep_decode_names(const struct dep *d, const struct dep_names *names,
                     long status, const char *body, size_t len, json_t **ret,
                     json_t *dropped, struct err *e);

/*
 * The entry of names that name[0..len) matches for a record at address
 * addr (may be NULL), or NULL when it may take it.
 */
const char *dep_name_reserved(const struct dep_names *names, const char *name,
                              size_t len, const char *addr);

/*
 * consul's api.HealthChecks.AggregatedStatus(), which consul-template's
 * health.service reports as .Status: the one owner of that rule (deps'
 * decoding and order's weights use it). A _node_maintenance or
 * _service_maintenance: check makes it "maintenance", else the worst of
 * critical > warning > passing; any other status makes it "" (unknown),
 * as there, and no checks make it "passing". Start from {0}.
 */
struct health_fold {
	bool passing, warning, critical, maintenance, unknown;
};
void health_fold_add(struct health_fold *h, const char *check_id,
                     const char *status);
const char *health_fold_status(const struct health_fold *h);

#endif
