/*
 * deps: spec parsing (good and bad, exact messages), canonical ids, request
 * paths, and every decoder against the Consul fixtures, hostile ones
 * included. Fixtures come from $CH_FIXTURES, else the consul-fixtures
 * directory in tests/ or beside the checkout (../shared), as the simulator's
 * tests look for them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consul/crec.h"
#include "consul/deps.h"
#include "hosts/hosts.h"
#include "consul/trec_read.h"
#include "base/xmalloc.h"

static char *read_fixture(const char *name, size_t *ret_len)
{
	const char *src = getenv("CH_SOURCE_DIR");
	const char *dirs[] = {getenv("CH_FIXTURES"), "tests/consul-fixtures",
	                      "../shared/consul-fixtures",
	                      "/work/shared/consul-fixtures"};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char path[1024];
		FILE *f;
		char *data;
		long n;

		if (dirs[i] == NULL)
			continue;
		if (dirs[i][0] == '/' || i == 0)
			snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		else if (src != NULL)
			snprintf(path, sizeof(path), "%s/%s/%s", src, dirs[i],
			         name);
		else
			continue;
		if ((f = fopen(path, "rb")) == NULL)
			continue;
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		fseek(f, 0, SEEK_SET);
		data = xmalloc((size_t)n + 1);
		assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
		data[n] = '\0';
		fclose(f);
		*ret_len = (size_t)n;
		return data;
	}
	fail_msg("fixture %s not found (set CH_FIXTURES)", name);
	return NULL;
}

static struct dep *mkdep(enum dep_kind kind, const char *spec)
{
	struct err e;
	struct dep *d = NULL;

	err_clear(&e);
	if (dep_new(kind, spec, &d, &e) != 0)
		fail_msg("dep_new(%s): %s", spec, e.msg);
	return d;
}

/*
 * A decoded value as plain jansson values (records as trec_new objects),
 * for the assertions below; steals v. Blobs are checked to be what the
 * store will take as one.
 */
static json_t *expand(json_t *v)
{
	json_t *x;

	if (crec_is_blob(v)) {
		assert_true(json_is_string(v));
		x = crec_expand(v);
		json_decref(v);
		return x;
	}
	return v;
}

/* Decode a body for kind/spec; asserts success (plain values). */
static json_t *decode_body(enum dep_kind kind, const char *spec, long status,
                           const char *body, size_t len, json_t *dropped)
{
	struct dep *d = mkdep(kind, spec);
	struct err e;
	json_t *v = NULL;

	err_clear(&e);
	if (dep_decode(d, status, body, len, &v, dropped, &e) != 0)
		fail_msg("decode %s: %s", dep_id(d), e.msg);
	dep_free(d);
	return expand(v);
}

static json_t *decode_fixture(enum dep_kind kind, const char *spec,
                              const char *file, json_t *dropped)
{
	size_t len;
	char *body = read_fixture(file, &len);
	json_t *v = decode_body(kind, spec, 200, body, len, dropped);

	free(body);
	return v;
}

static const char *sfield(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	assert_non_null(s);
	return s;
}

/* --- specs, ids, paths ------------------------------------------------- */

struct spec_case {
	enum dep_kind kind;
	const char *spec;
	const char *id;
	const char *path;
	bool blocking;
};

static const struct spec_case good[] = {
        {DEP_HEALTH_SERVICE, "web", "health.service(web|passing)",
         "/v1/health/service/web?passing", true},
        {DEP_HEALTH_SERVICE, "web|passing", "health.service(web|passing)",
         "/v1/health/service/web?passing", true},
        {DEP_HEALTH_SERVICE, "master.foo-db@dc1|passing",
         "health.service(master.foo-db@dc1|passing)",
         "/v1/health/service/foo-db?passing&tag=master&dc=dc1", true},
        {DEP_HEALTH_SERVICE, "web|any", "health.service(web|any)",
         "/v1/health/service/web", true},
        {DEP_HEALTH_SERVICE, "web|any,critical", "health.service(web|any)",
         "/v1/health/service/web", true},
        {DEP_HEALTH_SERVICE, "web|warning, passing,warning",
         "health.service(web|passing,warning)", "/v1/health/service/web", true},
        {DEP_HEALTH_SERVICE, "web|maintenance,critical",
         "health.service(web|critical,maintenance)", "/v1/health/service/web",
         true},
        {DEP_HEALTH_SERVICE, "v=1:a.b.web@dc-2.x~_agent|critical",
         "health.service(v=1:a.b.web@dc-2.x~_agent|critical)",
         "/v1/health/service/web?tag=v%3D1%3Aa.b&dc=dc-2.x&near=_agent", true},
        {DEP_CATALOG_NODES, "", "catalog.nodes", "/v1/catalog/nodes", true},
        {DEP_CATALOG_NODES, "@dc2~n1", "catalog.nodes(@dc2~n1)",
         "/v1/catalog/nodes?dc=dc2&near=n1", true},
        {DEP_CATALOG_NODES, "~_agent", "catalog.nodes(~_agent)",
         "/v1/catalog/nodes?near=_agent", true},
        {DEP_CATALOG_SERVICES, NULL, "catalog.services", "/v1/catalog/services",
         true},
        {DEP_CATALOG_SERVICES, "@dc2", "catalog.services(@dc2)",
         "/v1/catalog/services?dc=dc2", true},
        {DEP_CATALOG_NODE, "web-2@dc1", "catalog.node(web-2@dc1)",
         "/v1/catalog/node/web-2?dc=dc1", true},
        {DEP_CATALOG_NODE, "host.example", "catalog.node(host.example)",
         "/v1/catalog/node/host.example", true},
        {DEP_KV_GET, "/hostsd/config/ttl@dc1", "kv.get(hostsd/config/ttl@dc1)",
         "/v1/kv/hostsd/config/ttl?dc=dc1", true},
        {DEP_KV_GET, "a b/c%d&e", "kv.get(a b/c%d&e)", "/v1/kv/a%20b/c%25d%26e",
         true},
        {DEP_KV_GET, "../agent/./self/..x", "kv.get(../agent/./self/..x)",
         "/v1/kv/%2E%2E/agent/%2E/self/..x", true},
        {DEP_CATALOG_NODE, "..", "catalog.node(..)", "/v1/catalog/node/%2E%2E",
         true},
        {DEP_KV_LIST, "hostsd", "kv.list(hostsd)", "/v1/kv/hostsd?recurse",
         true},
        {DEP_KV_LIST, "/", "kv.list()", "/v1/kv/?recurse", true},
        {DEP_KV_LIST, "hostsd/@dc2", "kv.list(hostsd/@dc2)",
         "/v1/kv/hostsd/?recurse&dc=dc2", true},
        {DEP_DATACENTERS, "", "catalog.datacenters", "/v1/catalog/datacenters",
         false},
        {DEP_AGENT_SELF, NULL, "agent.self", "/v1/agent/self", false},
};

static void test_specs_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct dep *d = mkdep(good[i].kind, good[i].spec);
		struct dep *c = dep_dup(d);
		char *path = dep_request_path(d);

		assert_int_equal(dep_kind(d), good[i].kind);
		assert_string_equal(dep_id(d), good[i].id);
		assert_string_equal(path, good[i].path);
		assert_int_equal(dep_blocking(d), good[i].blocking);
		assert_string_equal(dep_id(c), good[i].id);
		free(path);
		dep_free(c);
		dep_free(d);
	}
	assert_null(dep_free(NULL));
	assert_null(dep_dup(NULL));
}

static void test_kv_block(void **state)
{
	struct dep *d = mkdep(DEP_KV_GET, "hostsd/leader");
	char *path;

	(void)state;
	dep_kv_block(d);
	assert_string_equal(dep_id(d), "kv.block(hostsd/leader)");
	path = dep_request_path(d);
	assert_string_equal(path, "/v1/kv/hostsd/leader");
	assert_true(dep_id_null_is_missing(dep_id(d)));
	assert_false(dep_id_null_is_missing("kv.get(hostsd/leader)"));
	free(path);
	dep_free(d);
}

/* Which queries the agent caches (?cached): watch.h asks them so. */
static void test_cached(void **state)
{
	static const struct {
		enum dep_kind kind;
		const char *spec;
		bool cached;
	} cases[] = {
	        {DEP_CATALOG_SERVICES, "@dc2", true},
	        {DEP_HEALTH_SERVICE, "master.web@dc1|passing", true},
	        {DEP_HEALTH_CONNECT, "web", true},
	        {DEP_HEALTH_SERVICE, "web~_agent", false},
	        {DEP_CATALOG_NODES, "", false},
	        {DEP_CATALOG_NODE, "web-2", false},
	        {DEP_KV_LIST, "hostsd", false},
	        {DEP_DATACENTERS, "", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dep *d = mkdep(cases[i].kind, cases[i].spec);

		assert_int_equal(dep_cached(d), cases[i].cached);
		dep_free(d);
	}
}

struct bad_case {
	enum dep_kind kind;
	const char *spec;
	const char *msg;
};

static const struct bad_case bad[] = {
        {DEP_HEALTH_SERVICE, "web|bogus",
         "service \"web|bogus\": invalid filter \"bogus\" (expected any, "
         "passing, warning, critical or maintenance)"},
        {DEP_HEALTH_SERVICE, "", "service \"\": missing service name"},
        {DEP_HEALTH_SERVICE, "prod.",
         "service \"prod.\": missing service name"},
        {DEP_HEALTH_SERVICE, "we b",
         "service \"we b\": invalid service name \"we b\""},
        {DEP_HEALTH_SERVICE, "x y.web",
         "service \"x y.web\": invalid tag \"x y\""},
        {DEP_HEALTH_SERVICE, ".web", "service \".web\": invalid tag \"\""},
        {DEP_HEALTH_SERVICE, "web@",
         "service \"web@\": invalid datacenter \"\""},
        {DEP_HEALTH_SERVICE, "web~n@dc",
         "service \"web~n@dc\": \"@datacenter\" must come before \"~near\""},
        {DEP_HEALTH_SERVICE, "web~", "service \"web~\": invalid near \"\""},
        {DEP_HEALTH_SERVICE, "web\n10.0.0.1 evil",
         "service \"web\\n10.0.0.1 evil\": control character in spec"},
        {DEP_HEALTH_SERVICE, "web?ns=team",
         "service \"web?ns=team\": query parameters (?ns=, ?peer=, ...) "
         "are not supported"},
        {DEP_HEALTH_SERVICE, "web|", "service \"web|\": empty filter list"},
        {DEP_CATALOG_NODES, "dc1",
         "nodes \"dc1\": unexpected \"dc1\" (expected \"@datacenter\" or "
         "\"~near\")"},
        {DEP_CATALOG_SERVICES, "@dc~x",
         "services \"@dc~x\": invalid datacenter \"dc~x\""},
        {DEP_CATALOG_SERVICES, "web",
         "services \"web\": unexpected \"web\" (expected \"@datacenter\")"},
        {DEP_CATALOG_NODE, "",
         "node \"\": node without a name (the node function resolves the "
         "local node through agent self)"},
        {DEP_CATALOG_NODE, "we b", "node \"we b\": invalid node name \"we b\""},
        {DEP_KV_GET, "", "key \"\": missing key path"},
        {DEP_KV_GET, "/@dc1", "key \"/@dc1\": missing key path"},
        {DEP_KV_GET, "a@b@c", "key \"a@b@c\": invalid datacenter \"b@c\""},
        {DEP_KV_LIST, "a\tb", "prefix \"a\\tb\": control character in spec"},
        {DEP_DATACENTERS, "x", "datacenters \"x\": takes no arguments"},
};

static void test_specs_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dep *d = NULL;
		struct err e;

		err_clear(&e);
		assert_int_equal(dep_new(bad[i].kind, bad[i].spec, &d, &e),
		                 -EINVAL);
		assert_null(d);
		assert_string_equal(e.msg, bad[i].msg);
	}
}

static void test_spec_too_long(void **state)
{
	char spec[2000];
	struct dep *d = NULL;
	struct err e;

	(void)state;
	memset(spec, 'a', sizeof(spec) - 1);
	spec[sizeof(spec) - 1] = '\0';
	err_clear(&e);
	assert_int_equal(dep_new(DEP_HEALTH_SERVICE, spec, &d, &e), -EINVAL);
	assert_string_equal(e.msg, "service spec longer than 1024 bytes");
}

/* --- health ------------------------------------------------------------ */

static void assert_instance(json_t *v, const char *node, const char *id,
                            const char *addr, const char *status)
{
	assert_string_equal(sfield(v, "Node"), node);
	assert_string_equal(sfield(v, "ID"), id);
	assert_string_equal(sfield(v, "Address"), addr);
	assert_string_equal(sfield(v, "Status"), status);
}

static void test_health_any(void **state)
{
	json_t *dropped = json_array();
	json_t *v = decode_fixture(DEP_HEALTH_SERVICE, "web|any",
	                           "health-service-web.json", dropped);
	json_t *w1, *blue, *green, *w3, *tags;
	/* Every field of dependency.HealthService, and consul-hosts'
	 * NodeDatacenter; nothing else. */
	static const char *const fields[] = {"Node",
	                                     "NodeID",
	                                     "NodeAddress",
	                                     "NodeDatacenter",
	                                     "NodeTaggedAddresses",
	                                     "NodeMeta",
	                                     "ServiceMeta",
	                                     "Address",
	                                     "ServiceTaggedAddresses",
	                                     "ID",
	                                     "Name",
	                                     "Tags",
	                                     "Checks",
	                                     "Status",
	                                     "Port",
	                                     "Weights"};

	(void)state;
	assert_int_equal(json_array_size(v), 4);
	assert_int_equal(json_array_size(dropped), 0);
	w1 = json_array_get(v, 0);
	blue = json_array_get(v, 1);
	green = json_array_get(v, 2);
	w3 = json_array_get(v, 3);
	/* Sorted by node, then ID; address falls back to the node's. */
	assert_instance(w1, "web-1", "web", "10.0.2.11", "passing");
	assert_instance(blue, "web-2", "web-blue", "172.17.0.3", "warning");
	assert_instance(green, "web-2", "web-green", "172.17.0.4", "critical");
	/* serfHealth critical wins over a passing service check. */
	assert_instance(w3, "web-3", "web", "10.0.2.13", "critical");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		assert_non_null(json_object_get(w3, fields[i]));
	/* the hidden kind mark and the fields */
	assert_int_equal(json_object_size(w3),
	                 1 + sizeof(fields) / sizeof(fields[0]));
	assert_string_equal(sfield(w1, "Name"), "web");
	assert_string_equal(sfield(w1, "NodeAddress"), "10.0.2.11");
	assert_string_equal(sfield(w1, "NodeDatacenter"), "dc1");
	assert_string_equal(sfield(w1, "NodeID"),
	                    "e2905f94-53d1-410f-88f3-1f5853a89f01");
	assert_int_equal(json_integer_value(json_object_get(w1, "Port")), 8080);
	assert_int_equal(json_integer_value(json_object_get(
	                         json_object_get(w1, "Weights"), "Passing")),
	                 10);
	assert_int_equal(json_integer_value(json_object_get(
	                         json_object_get(w1, "Weights"), "Warning")),
	                 1);
	assert_string_equal(
	        sfield(json_object_get(w1, "NodeTaggedAddresses"), "wan"),
	        "10.0.2.11");
	assert_string_equal(
	        sfield(json_object_get(w1, "ServiceMeta"), "version"), "2.4.1");
	assert_non_null(json_object_get(
	        json_object_get(blue, "ServiceTaggedAddresses"), "lan_ipv4"));
	/* Service.Meta null becomes {}. */
	assert_true(json_is_object(json_object_get(w3, "ServiceMeta")));
	assert_int_equal(json_object_size(json_object_get(w3, "ServiceMeta")),
	                 0);
	/* Tags copied and sorted: prod, v2, canary -> canary, prod, v2. */
	tags = json_object_get(green, "Tags");
	assert_int_equal(json_array_size(tags), 3);
	assert_string_equal(json_string_value(json_array_get(tags, 0)),
	                    "canary");
	assert_string_equal(json_string_value(json_array_get(tags, 2)), "v2");
	assert_int_equal(json_array_size(json_object_get(w3, "Checks")), 2);
	json_decref(v);
	json_decref(dropped);
}

static size_t count_filter(const char *spec, const char *file)
{
	json_t *v = decode_fixture(DEP_HEALTH_SERVICE, spec, file, NULL);
	size_t n = json_array_size(v);

	json_decref(v);
	return n;
}

static void test_health_filters(void **state)
{
	json_t *v;

	(void)state;
	/* The default filter is applied client-side too. */
	assert_int_equal(count_filter("web", "health-service-web.json"), 1);
	assert_int_equal(count_filter("web", "health-service-web-passing.json"),
	                 1);
	assert_int_equal(count_filter("web|warning", "health-service-web.json"),
	                 1);
	assert_int_equal(
	        count_filter("web|critical", "health-service-web.json"), 2);
	assert_int_equal(
	        count_filter("web|critical,warning", "health-service-web.json"),
	        3);
	assert_int_equal(
	        count_filter("web|maintenance", "health-service-web.json"), 0);
	v = decode_fixture(DEP_HEALTH_SERVICE, "web",
	                   "health-service-web-passing.json", NULL);
	assert_instance(json_array_get(v, 0), "web-1", "web", "10.0.2.11",
	                "passing");
	json_decref(v);
}

static const char maint_body[] =
        "[{\"Node\":{\"Node\":\"db-1\",\"Address\":\"10.0.3.21\"},"
        "\"Service\":{\"ID\":\"db\",\"Service\":\"db\",\"Port\":5432},"
        "\"Checks\":[{\"CheckID\":\"serfHealth\",\"Status\":\"passing\"},"
        "{\"CheckID\":\"_node_maintenance\",\"Status\":\"critical\"}]},"
        "{\"Node\":{\"Node\":\"db-0\",\"Address\":\"10.0.3.20\"},"
        "\"Service\":{\"ID\":\"db\",\"Service\":\"db\"},"
        "\"Checks\":[{\"CheckID\":\"x\",\"Status\":\"bogus\"}]}]";

static void test_health_maintenance(void **state)
{
	json_t *v;

	(void)state;
	v = decode_body(DEP_HEALTH_SERVICE, "db|maintenance", 200, maint_body,
	                strlen(maint_body), NULL);
	assert_int_equal(json_array_size(v), 1);
	assert_instance(json_array_get(v, 0), "db-1", "db", "10.0.3.21",
	                "maintenance");
	json_decref(v);
	/* An unknown check status aggregates to "": only "any" takes it. */
	v = decode_body(DEP_HEALTH_SERVICE, "db|any", 200, maint_body,
	                strlen(maint_body), NULL);
	assert_int_equal(json_array_size(v), 2);
	assert_instance(json_array_get(v, 0), "db-0", "db", "10.0.3.20", "");
	/* Weights default to {1, 1}, Port to 0. */
	assert_int_equal(
	        json_integer_value(json_object_get(
	                json_object_get(json_array_get(v, 0), "Weights"),
	                "Passing")),
	        1);
	assert_int_equal(json_integer_value(
	                         json_object_get(json_array_get(v, 0), "Port")),
	                 0);
	json_decref(v);
	/* ~near keeps Consul's (RTT) order. */
	v = decode_body(DEP_HEALTH_SERVICE, "db~_agent|any", 200, maint_body,
	                strlen(maint_body), NULL);
	assert_string_equal(sfield(json_array_get(v, 0), "Node"), "db-1");
	json_decref(v);
}

/* The catalog-service shape turned into health entries. */
static char *catalog_to_health(const char *file, size_t *ret_len)
{
	size_t len, i;
	char *body = read_fixture(file, &len);
	json_t *in = json_loadb(body, len, 0, NULL), *out = json_array(), *s;
	char *text;

	assert_non_null(in);
	json_array_foreach(in, i, s)
	{
		json_t *e = json_pack(
		        "{s:{s:O, s:O, s:O, s:O, s:O, s:O}, "
		        "s:{s:O, s:O, s:O, s:O, s:O, s:O, s:O}, s:[]}",
		        "Node", "ID", json_object_get(s, "ID"), "Node",
		        json_object_get(s, "Node"), "Address",
		        json_object_get(s, "Address"), "Datacenter",
		        json_object_get(s, "Datacenter"), "TaggedAddresses",
		        json_object_get(s, "TaggedAddresses"), "Meta",
		        json_object_get(s, "NodeMeta"), "Service", "ID",
		        json_object_get(s, "ServiceID"), "Service",
		        json_object_get(s, "ServiceName"), "Tags",
		        json_object_get(s, "ServiceTags"), "Address",
		        json_object_get(s, "ServiceAddress"), "Meta",
		        json_object_get(s, "ServiceMeta"), "Port",
		        json_object_get(s, "ServicePort"), "SocketPath",
		        json_object_get(s, "ServiceSocketPath"), "Checks");

		assert_non_null(e);
		json_array_append_new(out, e);
	}
	text = json_dumps(out, 0);
	*ret_len = strlen(text);
	json_decref(in);
	json_decref(out);
	free(body);
	return text;
}

static bool has_message(json_t *dropped, const char *msg)
{
	json_t *m;
	size_t i;

	json_array_foreach(dropped, i, m)
	{
		if (strcmp(json_string_value(m), msg) == 0)
			return true;
	}
	return false;
}

static void print_dropped(json_t *dropped)
{
	json_t *m;
	size_t i;

	json_array_foreach(dropped, i, m)
	{
		print_message("  dropped: %s\n", json_string_value(m));
	}
}

static void test_health_hostile(void **state)
{
	size_t len;
	char *body;
	json_t *dropped = json_array(), *v;

	(void)state;
	body = catalog_to_health("catalog-service-web.json", &len);
	v = decode_body(DEP_HEALTH_SERVICE, "web|any", 200, body, len, dropped);
	/* The benign catalog: nothing dropped, fallback applied. */
	assert_int_equal(json_array_size(v), 4);
	assert_int_equal(json_array_size(dropped), 0);
	free(body);
	json_decref(v);

	body = catalog_to_health("catalog-service-hostile.json", &len);
	v = decode_body(DEP_HEALTH_SERVICE, "web|any", 200, body, len, dropped);
	print_dropped(dropped);
	assert_int_equal(json_array_size(v), 0);
	assert_int_equal(json_array_size(dropped), 5);
	assert_true(has_message(
	        dropped, "service \"web\" instance \"web-space\" on node "
	                 "\"ext-a\": address \"172.17.0.9 evil.example\" is "
	                 "not a usable IP address"));
	assert_true(has_message(
	        dropped, "service \"web\" instance \"web-newline\" on node "
	                 "\"ext-b\": address \"172.17.0.10\\n10.6.6.6 "
	                 "victim.internal\" is not a usable IP address"));
	assert_true(has_message(
	        dropped, "service \"web\" instance \"web-hostname\" on node "
	                 "\"ext-c\": address \"web.partner.example\" is not "
	                 "a usable IP address"));
	assert_true(has_message(
	        dropped, "service \"web\" instance \"web-empty\" on node "
	                 "\"ext-d\": address \"10.0.0.93 evil-node.example\" "
	                 "is not a usable IP address"));
	assert_true(has_message(
	        dropped, "service \"web\" instance \"web-socket\" on node "
	                 "\"ext-e\": listens on a unix socket and has no "
	                 "address"));
	free(body);
	json_decref(v);
	json_decref(dropped);
}

/* --- catalog ----------------------------------------------------------- */

static void assert_hosts_safe(json_t *list, const char *name_field)
{
	json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
	{
		json_t *a = json_object_get(v, "Address");
		json_t *n = json_object_get(v, name_field);

		assert_true(hosts_addr_ok(json_string_value(a),
		                          json_string_length(a), false));
		assert_true(hosts_name_ok(json_string_value(n),
		                          json_string_length(n)));
	}
}

static void test_nodes(void **state)
{
	json_t *dropped = json_array();
	json_t *v = decode_fixture(DEP_CATALOG_NODES, "", "catalog-nodes.json",
	                           dropped);
	json_t *w3;

	(void)state;
	assert_int_equal(json_array_size(v), 5);
	assert_int_equal(json_array_size(dropped), 1);
	/* A hosts file maps IPs: an external node's hostname is dropped. */
	assert_string_equal(json_string_value(json_array_get(dropped, 0)),
	                    "node \"ext-billing\": address "
	                    "\"billing.partner.example\" is not a usable IP "
	                    "address");
	assert_string_equal(sfield(json_array_get(v, 0), "Node"),
	                    "consul-server-1");
	assert_string_equal(sfield(json_array_get(v, 1), "Node"), "db-1");
	w3 = json_array_get(v, 4);
	assert_string_equal(sfield(w3, "Node"), "web-3");
	assert_string_equal(sfield(w3, "Address"), "10.0.2.13");
	assert_string_equal(sfield(w3, "Datacenter"), "dc1");
	assert_string_equal(sfield(w3, "ID"),
	                    "7a3e9f20-1b6c-4e8d-a5f2-c04d9b3e1e03");
	assert_string_equal(
	        sfield(json_object_get(w3, "TaggedAddresses"), "lan_ipv6"),
	        "fd00:10:2::13");
	assert_string_equal(
	        sfield(json_object_get(w3, "Meta"), "consul-version"),
	        "1.21.3");
	/* consul-template's *dependency.Node: the mark and 6 fields */
	assert_int_equal(trec_schema_of(w3)->kind, TREC_NODE);
	assert_int_equal(json_object_size(w3), 7);
	assert_hosts_safe(v, "Node");
	json_decref(v);
	json_decref(dropped);
}

static void test_nodes_hostile(void **state)
{
	json_t *dropped = json_array();
	json_t *v = decode_fixture(DEP_CATALOG_NODES, "",
	                           "catalog-nodes-hostile.json", dropped);
	static const char *const kept[] = {"UPPER.Case.dotted", "empty-tagged",
	                                   "ipv6-addr", "loopback-addr",
	                                   "under_score"};

	(void)state;
	print_dropped(dropped);
	assert_int_equal(json_array_size(v), 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(sfield(json_array_get(v, i), "Node"),
		                    kept[i]);
	assert_int_equal(json_array_size(dropped), 14);
	assert_true(has_message(dropped,
	                        "node \"evil-newline-name\\n10.0.0.67 "
	                        "login.bank.example\": invalid node name"));
	assert_true(has_message(dropped,
	                        "node \"evil-space\": address \"10.0.0.66 "
	                        "attacker.example\" is not a usable IP "
	                        "address"));
	assert_true(has_message(dropped,
	                        "node \"evil-tab\\tname\": invalid node name"));
	assert_true(has_message(dropped,
	                        "node \"unicode-\\xc3\\xbcn\\xc3\\xaf\": "
	                        "invalid node name"));
	assert_true(has_message(dropped,
	                        "node \"zero-addr\": address \"0.0.0.0\" is "
	                        "not a usable IP address"));
	assert_true(has_message(dropped,
	                        "node \"ipv6-zone\": address \"fe80::1%eth0\" "
	                        "is not a usable IP address"));
	assert_true(has_message(
	        dropped, "node \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\": invalid "
	                 "node name"));
	assert_hosts_safe(v, "Node");
	json_decref(v);
	json_decref(dropped);
}

static void test_nodes_nul(void **state)
{
	json_t *dropped = json_array();
	json_t *v = decode_fixture(DEP_CATALOG_NODES, "",
	                           "catalog-nodes-nul.json", dropped);

	(void)state;
	assert_int_equal(json_array_size(v), 0);
	assert_int_equal(json_array_size(dropped), 1);
	assert_string_equal(json_string_value(json_array_get(dropped, 0)),
	                    "node \"nul-in-name\\x00x\": invalid node name");
	json_decref(v);
	json_decref(dropped);
}

static const char bad_tagged[] =
        "[{\"Node\":\"a\",\"Address\":\"10.0.0.1\",\"TaggedAddresses\":"
        "{\"lan\":\"10.0.0.1\",\"wan\":\"1.2.3.4 evil.example\"},"
        "\"Meta\":{\"k\":\"v\"}},"
        "{\"Node\":\"b\",\"Address\":\"10.0.0.2\",\"Meta\":{\"k\":\"a\\nb\"}},"
        "{\"Node\":\"c\",\"Address\":\"10.0.0.3\",\"Datacenter\":\"d\\u0001\"},"
        "{\"Node\":5,\"Address\":\"10.0.0.3\"}, 7]";

static void test_nodes_fields(void **state)
{
	json_t *dropped = json_array();
	json_t *v = decode_body(DEP_CATALOG_NODES, "", 200, bad_tagged,
	                        strlen(bad_tagged), dropped),
	       *ta;

	(void)state;
	print_dropped(dropped);
	/* b stays: a newline in a Meta value is free text, made a space. */
	assert_int_equal(json_array_size(v), 2);
	ta = json_object_get(json_array_get(v, 0), "TaggedAddresses");
	assert_int_equal(json_object_size(ta), 1);
	assert_string_equal(sfield(ta, "lan"), "10.0.0.1");
	assert_true(has_message(dropped,
	                        "node \"a\": tagged address \"wan\" \"1.2.3.4 "
	                        "evil.example\" is not a usable IP address; "
	                        "left out"));
	assert_string_equal(sfield(json_array_get(v, 1), "Node"), "b");
	assert_string_equal(
	        sfield(json_object_get(json_array_get(v, 1), "Meta"), "k"),
	        "a b");
	assert_int_equal(json_array_size(dropped), 4);
	assert_true(
	        has_message(dropped, "node \"c\": invalid ID or Datacenter"));
	assert_true(has_message(dropped, "node record without a Node name"));
	assert_true(has_message(dropped, "node record is not an object"));
	json_decref(v);
	json_decref(dropped);
}

static void test_services(void **state)
{
	json_t *v = decode_fixture(DEP_CATALOG_SERVICES, "",
	                           "catalog-services.json", NULL);
	json_t *web, *tags;
	static const char *const names[] = {"billing-api", "consul", "db",
	                                    "redis", "web"};
	const char body[] = "{\"zeta\":[\"b\",\"a\"],\"bad name\":[],"
	                    "\"alpha\":[]}";
	json_t *dropped = json_array();

	(void)state;
	assert_int_equal(json_array_size(v), 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(sfield(json_array_get(v, i), "Name"),
		                    names[i]);
	web = json_array_get(v, 4);
	tags = json_object_get(web, "Tags");
	assert_int_equal(json_array_size(tags), 3);
	assert_string_equal(json_string_value(json_array_get(tags, 0)),
	                    "canary");
	assert_int_equal(
	        json_array_size(json_object_get(json_array_get(v, 1), "Tags")),
	        0);
	json_decref(v);

	v = decode_body(DEP_CATALOG_SERVICES, "", 200, body, strlen(body),
	                dropped);
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(sfield(json_array_get(v, 0), "Name"), "alpha");
	tags = json_object_get(json_array_get(v, 1), "Tags");
	assert_string_equal(json_string_value(json_array_get(tags, 0)), "a");
	assert_true(has_message(dropped,
	                        "service \"bad name\": invalid service name"));
	json_decref(v);
	json_decref(dropped);
}

static void test_node(void **state)
{
	json_t *v = decode_fixture(DEP_CATALOG_NODE, "web-2",
	                           "catalog-node-web-2.json", NULL);
	json_t *svcs = json_object_get(v, "Services"), *green;

	(void)state;
	assert_string_equal(sfield(json_object_get(v, "Node"), "Node"),
	                    "web-2");
	assert_string_equal(sfield(json_object_get(v, "Node"), "Address"),
	                    "10.0.2.12");
	assert_int_equal(json_array_size(svcs), 2);
	assert_string_equal(sfield(json_array_get(svcs, 0), "ID"), "web-blue");
	green = json_array_get(svcs, 1);
	assert_string_equal(sfield(green, "ID"), "web-green");
	assert_string_equal(sfield(green, "Service"), "web");
	assert_string_equal(sfield(green, "Address"), "172.17.0.4");
	assert_int_equal(json_integer_value(json_object_get(green, "Port")),
	                 8081);
	assert_string_equal(json_string_value(json_array_get(
	                            json_object_get(green, "Tags"), 0)),
	                    "canary");
	assert_string_equal(sfield(json_object_get(green, "Meta"), "color"),
	                    "green");
	assert_true(json_is_false(json_object_get(green, "EnableTagOverride")));
	json_decref(v);

	/* No such node: consul-template's empty &CatalogNode{} (true in an
	 * if or with), whose Node is nil. */
	v = decode_fixture(DEP_CATALOG_NODE, "nope",
	                   "catalog-node-unknown.json", NULL);
	assert_int_equal(trec_schema_of(v)->kind, TREC_CATALOG_NODE);
	assert_true(json_is_null(json_object_get(v, "Node")));
	assert_int_equal(json_array_size(json_object_get(v, "Services")), 0);
	json_decref(v);
}

static void test_datacenters_and_self(void **state)
{
	const char body[] = "[\"dc2\",\"dc1\",\"bad\\ndc\"]";
	json_t *dropped = json_array();
	json_t *v = decode_fixture(DEP_DATACENTERS, "",
	                           "catalog-datacenters.json", NULL);

	(void)state;
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "dc1");
	json_decref(v);
	v = decode_body(DEP_DATACENTERS, "", 200, body, strlen(body), dropped);
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "dc1");
	assert_string_equal(json_string_value(json_array_get(dropped, 0)),
	                    "datacenter \"bad\\ndc\": invalid name");
	json_decref(v);
	json_decref(dropped);

	v = decode_fixture(DEP_AGENT_SELF, "", "agent-self.json", NULL);
	assert_string_equal(sfield(v, "Node"), "web-1");
	assert_string_equal(sfield(v, "Datacenter"), "dc1");
	json_decref(v);
}

/* --- KV ---------------------------------------------------------------- */

static json_t *find_key(json_t *list, const char *key)
{
	json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
	{
		if (strcmp(sfield(v, "Key"), key) == 0)
			return v;
	}
	fail_msg("key %s not in list", key);
	return NULL;
}

static void test_kv_list(void **state)
{
	json_t *v =
	        decode_fixture(DEP_KV_LIST, "hostsd", "kv-recurse.json", NULL);
	json_t *blob, *leader, *ttl, *val;

	(void)state;
	/* The folder key "hostsd/" is not a key. */
	assert_int_equal(json_array_size(v), 7);
	ttl = find_key(v, "config/ttl");
	assert_string_equal(sfield(ttl, "Path"), "hostsd/config/ttl");
	assert_string_equal(sfield(ttl, "Value"), "30");
	assert_int_equal(
	        json_integer_value(json_object_get(ttl, "ModifyIndex")), 368);
	assert_int_equal(
	        json_integer_value(json_object_get(ttl, "CreateIndex")), 202);
	assert_string_equal(sfield(ttl, "Session"), "");
	assert_string_equal(sfield(find_key(v, "config/header"), "Value"),
	                    "# managed by hostsd\n");
	assert_string_equal(sfield(find_key(v, "extra/empty"), "Value"), "");
	blob = find_key(v, "extra/binary-blob");
	val = json_object_get(blob, "Value");
	assert_int_equal(json_string_length(val), 6);
	assert_memory_equal(json_string_value(val),
	                    "\0\xff"
	                    "bin\n",
	                    6);
	assert_int_equal(json_integer_value(json_object_get(blob, "Flags")),
	                 42);
	leader = find_key(v, "leader");
	assert_string_equal(sfield(leader, "Value"), "web-1");
	assert_string_equal(sfield(leader, "Session"),
	                    "adf4238a-882b-9ddc-4a9d-5b6758e4159e");
	assert_int_equal(
	        json_integer_value(json_object_get(leader, "LockIndex")), 1);
	/* Sorted by path. */
	assert_string_equal(sfield(json_array_get(v, 0), "Key"),
	                    "config/header");
	json_decref(v);

	/* A 404 (no such prefix) is an empty list. */
	v = decode_body(DEP_KV_LIST, "nope", 404, "", 0, NULL);
	assert_true(json_is_array(v));
	assert_int_equal(json_array_size(v), 0);
	json_decref(v);
}

static void test_kv_bigflags(void **state)
{
	json_t *v = decode_fixture(DEP_KV_LIST, "hostsd/extra",
	                           "kv-recurse-bigflags.json", NULL);
	json_t *kv = json_array_get(v, 0), *flags;
	const char body[] = "[{\"Key\":\"a\",\"Value\":\"MTIzNDU2Nzg5MDEyMzQ1"
	                    "Njc4OTAxMjM=\",\"Flags\":-99999999999999999999,"
	                    "\"Note\":\"18446744073709551615 \\\" 1e99\","
	                    "\"ModifyIndex\":9223372036854775807}]";

	(void)state;
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(sfield(kv, "Key"), "flagged");
	assert_string_equal(sfield(kv, "Value"), "mirror.internal");
	flags = json_object_get(kv, "Flags");
	assert_true(json_is_real(flags));
	assert_true(json_real_value(flags) > 1.8e19);
	json_decref(v);

	/* Numbers inside strings are left alone; INT64_MAX stays an int. */
	v = decode_body(DEP_KV_LIST, "", 200, body, strlen(body), NULL);
	kv = json_array_get(v, 0);
	assert_string_equal(sfield(kv, "Value"), "12345678901234567890123");
	assert_true(json_real_value(json_object_get(kv, "Flags")) < -9e19);
	assert_true(json_is_integer(json_object_get(kv, "ModifyIndex")));
	json_decref(v);
}

static void test_kv_get(void **state)
{
	const char body[] = "[{\"LockIndex\":0,\"Key\":\"hostsd/config/ttl\","
	                    "\"Flags\":0,\"Value\":\"MzA=\"}]";
	const char empty[] = "[{\"Key\":\"k\",\"Value\":null}]";
	const char bad64[] = "[{\"Key\":\"k\",\"Value\":\"!!\"}]";
	struct dep *d = mkdep(DEP_KV_GET, "k");
	struct err e;
	json_t *v = NULL;

	(void)state;
	v = decode_body(DEP_KV_GET, "hostsd/config/ttl", 200, body,
	                strlen(body), NULL);
	assert_string_equal(json_string_value(v), "30");
	json_decref(v);
	v = decode_body(DEP_KV_GET, "k", 200, empty, strlen(empty), NULL);
	assert_string_equal(json_string_value(v), "");
	json_decref(v);
	/* 404: the key does not exist. */
	v = decode_body(DEP_KV_GET, "k", 404, "", 0, NULL);
	assert_true(json_is_null(v));
	json_decref(v);
	err_clear(&e);
	v = NULL;
	assert_int_equal(dep_decode(d, 200, bad64, strlen(bad64), &v, NULL, &e),
	                 -EBADMSG);
	assert_null(v);
	assert_string_equal(e.msg, "key \"k\": Value is not base64");
	dep_free(d);
}

/* --- hostile strings --------------------------------------------------- */

/*
 * No string or object key anywhere in v holds a control byte (NUL, CR,
 * LF, ...); kv_value exempts v itself (a KV value: bytes, which the hosts
 * check validates).
 */
static void assert_one_line(json_t *v, bool kv_value)
{
	const char *k;
	size_t i, klen;
	json_t *x;

	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (kv_value)
			return;
		for (i = 0; i < json_string_length(v); i++)
			if ((unsigned char)s[i] < 0x20 ||
			    (unsigned char)s[i] == 0x7f)
				fail_msg("control byte 0x%02x in \"%s\"",
				         (unsigned char)s[i], s);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			assert_one_line(x, false);
		}
	} else if (json_is_object(v)) {
		json_object_keylen_foreach(v, k, klen, x)
		{
			if (trec_is_mark(k, klen))
				continue;
			for (i = 0; i < klen; i++)
				assert_false((unsigned char)k[i] < 0x20 ||
				             (unsigned char)k[i] == 0x7f);
			assert_one_line(x, false);
		}
	}
}

static void test_fixtures_one_line(void **state)
{
	static const struct {
		enum dep_kind kind;
		const char *spec, *file;
	} all[] = {
	        {DEP_CATALOG_NODES, "", "catalog-nodes.json"},
	        {DEP_CATALOG_NODES, "", "catalog-nodes-hostile.json"},
	        {DEP_CATALOG_NODES, "", "catalog-nodes-nul.json"},
	        {DEP_CATALOG_SERVICES, "", "catalog-services.json"},
	        {DEP_CATALOG_NODE, "web-2", "catalog-node-web-2.json"},
	        {DEP_HEALTH_SERVICE, "web|any", "health-service-web.json"},
	        {DEP_DATACENTERS, "", "catalog-datacenters.json"},
	        {DEP_KV_LIST, "hostsd", "kv-recurse.json"},
	        {DEP_AGENT_SELF, "", "agent-self.json"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		json_t *v = decode_fixture(all[i].kind, all[i].spec,
		                           all[i].file, NULL),
		       *rec;
		size_t j;

		if (all[i].kind != DEP_KV_LIST)
			assert_one_line(v, false);
		json_array_foreach(v, j, rec)
		{
			const char *k;
			json_t *x;

			if (all[i].kind != DEP_KV_LIST)
				break;
			json_object_foreach(rec, k, x)
			{
				assert_one_line(x, strcmp(k, "Value") == 0);
			}
		}
		json_decref(v);
	}
}

/* One health entry for web-1 with the given Service.Tags and Checks. */
static char *health_entry(const char *tags, const char *checks)
{
	return xasprintf(
	        "[{\"Node\":{\"ID\":\"n-1\",\"Node\":\"web-1\","
	        "\"Address\":\"10.0.0.1\",\"Datacenter\":\"dc1\","
	        "\"TaggedAddresses\":{\"lan\":\"10.0.0.1\"},\"Meta\":"
	        "{\"note\":\"free text, with spaces\"}},"
	        "\"Service\":{\"ID\":\"web-a\",\"Service\":\"web\","
	        "\"Tags\":%s,\"Address\":\"10.0.0.1\",\"Port\":80,"
	        "\"TaggedAddresses\":{\"lan_ipv4\":{\"Address\":\"10.0.0.1\","
	        "\"Port\":80,\"Evil\":\"x\\ny\"}}},"
	        "\"Checks\":%s}]",
	        tags, checks);
}

static json_t *decode_health_entry(const char *tags, const char *checks,
                                   json_t *dropped)
{
	char *body = health_entry(tags, checks);
	json_t *v = decode_body(DEP_HEALTH_SERVICE, "web|any", 200, body,
	                        strlen(body), dropped);

	free(body);
	return v;
}

static void test_health_checks_hostile(void **state)
{
	const char checks[] =
	        "[{\"Node\":\"web-1\",\"CheckID\":\"service:web-a\","
	        "\"Name\":\"HTTP\\u0000check\\r\",\"Status\":\"passing\","
	        "\"Notes\":\"line1\\r\\nline2\","
	        "\"Output\":\"ok\\n10.9.9.9 google.com\\n\","
	        "\"ServiceID\":\"web-a\",\"ServiceName\":\"web\","
	        "\"ServiceTags\":[\"evil.example z\",\"ok\",\"a#b\","
	        "\"t\\tab\",\"n\\nl\"],\"Type\":\"http\\u007f\","
	        "\"Definition\":{\"HTTP\":\"http://x\\n\"},\"Extra\":\"\\n\","
	        "\"CreateIndex\":7,\"ModifyIndex\":9},"
	        "{\"CheckID\":\"serfHealth\",\"Status\":\"passing\","
	        "\"Output\":5},"
	        "\"not a check\"]";
	json_t *dropped = json_array();
	json_t *v = decode_health_entry("[\"a\"]", checks, dropped);
	json_t *inst, *c, *st, *ta;

	(void)state;
	print_dropped(dropped);
	/* The instance is kept, and so are both checks. */
	assert_int_equal(json_array_size(v), 1);
	inst = json_array_get(v, 0);
	assert_instance(inst, "web-1", "web-a", "10.0.0.1", "passing");
	assert_int_equal(json_array_size(json_object_get(inst, "Checks")), 2);
	c = json_array_get(json_object_get(inst, "Checks"), 0);
	assert_string_equal(sfield(c, "Output"), "ok 10.9.9.9 google.com ");
	assert_string_equal(sfield(c, "Notes"), "line1  line2");
	assert_int_equal(json_string_length(json_object_get(c, "Name")), 11);
	assert_string_equal(sfield(c, "Name"), "HTTP check ");
	assert_string_equal(sfield(c, "Type"), "http ");
	assert_string_equal(sfield(c, "CheckID"), "service:web-a");
	assert_string_equal(sfield(c, "ServiceName"), "web");
	assert_int_equal(json_integer_value(json_object_get(c, "ModifyIndex")),
	                 9);
	/* Only consul-template's HealthCheck fields. */
	assert_null(json_object_get(c, "Definition"));
	assert_null(json_object_get(c, "Extra"));
	assert_int_equal(trec_schema_of(c)->kind, TREC_HEALTH_CHECK);
	assert_int_equal(json_object_size(c), 17); /* mark + 16 fields */
	/* check tags are kept verbatim, in Consul's order (not sorted) */
	st = json_object_get(c, "ServiceTags");
	assert_int_equal(json_array_size(st), 3);
	assert_string_equal(json_string_value(json_array_get(st, 0)),
	                    "evil.example z");
	assert_string_equal(json_string_value(json_array_get(st, 1)), "ok");
	assert_string_equal(json_string_value(json_array_get(st, 2)), "a#b");
	assert_true(has_message(
	        dropped, "service \"web\" instance \"web-a\" on node "
	                 "\"web-1\": check \"service:web-a\": tag \"t\\tab\" "
	                 "dropped: control character in a tag"));
	assert_true(has_message(
	        dropped, "service \"web\" instance \"web-a\" on node "
	                 "\"web-1\": check \"service:web-a\": tag \"n\\nl\" "
	                 "dropped: control character in a tag"));
	assert_true(has_message(dropped,
	                        "service \"web\" instance \"web-a\" on node "
	                        "\"web-1\": check that is not an object left "
	                        "out"));
	/* A non-string field is the zero value. */
	c = json_array_get(json_object_get(inst, "Checks"), 1);
	assert_string_equal(sfield(c, "Output"), "");
	assert_int_equal(json_array_size(json_object_get(c, "ServiceTags")), 0);
	/* Service tagged addresses are {Address, Port}, nothing else. */
	ta = json_object_get(json_object_get(inst, "ServiceTaggedAddresses"),
	                     "lan_ipv4");
	assert_int_equal(trec_schema_of(ta)->kind, TREC_SERVICE_ADDRESS);
	assert_int_equal(json_object_size(ta), 3);
	assert_string_equal(sfield(ta, "Address"), "10.0.0.1");
	assert_int_equal(json_integer_value(json_object_get(ta, "Port")), 80);
	/* Meta keeps its spaces. */
	assert_string_equal(sfield(json_object_get(inst, "NodeMeta"), "note"),
	                    "free text, with spaces");
	assert_int_equal(json_array_size(dropped), 3);
	assert_one_line(v, false);
	json_decref(v);
	json_decref(dropped);
}

static void test_health_tags_hostile(void **state)
{
	json_t *dropped = json_array();
	json_t *v = decode_health_entry(
	        "[\"b\",\"evil.example z\",\"#x\",\"t\\tab\",\"a\",\"n\\nl\","
	        "\"nul\\u0000\",5,\"\"]",
	        "[]", dropped);
	json_t *tags;

	(void)state;
	print_dropped(dropped);
	assert_int_equal(json_array_size(v), 1);
	/* Tags are data, kept verbatim (blanks, '#'), sorted as
	 * consul-template sorts them; only control bytes drop a tag. */
	tags = json_object_get(json_array_get(v, 0), "Tags");
	assert_int_equal(json_array_size(tags), 5);
	assert_string_equal(json_string_value(json_array_get(tags, 0)), "");
	assert_string_equal(json_string_value(json_array_get(tags, 1)), "#x");
	assert_string_equal(json_string_value(json_array_get(tags, 2)), "a");
	assert_string_equal(json_string_value(json_array_get(tags, 3)), "b");
	assert_string_equal(json_string_value(json_array_get(tags, 4)),
	                    "evil.example z");
	assert_int_equal(json_array_size(dropped), 4);
	assert_true(has_message(dropped,
	                        "service \"web\" instance \"web-a\" on node "
	                        "\"web-1\": tag \"t\\tab\" dropped: control "
	                        "character in a tag"));
	assert_true(has_message(dropped,
	                        "service \"web\" instance \"web-a\" on node "
	                        "\"web-1\": tag \"nul\\x00\" dropped: control "
	                        "character in a tag"));
	assert_true(has_message(dropped,
	                        "service \"web\" instance \"web-a\" on node "
	                        "\"web-1\": tag (not a string) dropped: not a "
	                        "string"));
	json_decref(v);
	json_array_clear(dropped);

	/* Tags that are not a list still drop the record. */
	v = decode_health_entry("{}", "[]", dropped);
	assert_int_equal(json_array_size(v), 0);
	assert_true(has_message(dropped,
	                        "service \"web\" instance \"web-a\" on node "
	                        "\"web-1\": invalid tags"));
	json_decref(v);
	json_decref(dropped);
}

static void test_catalog_tags_hostile(void **state)
{
	const char services[] =
	        "{\"web\":[\"z\",\"evil.example z\",\"a#\",\"ok\"],"
	        "\"db\":[\"x\\ny\"]}";
	const char node[] =
	        "{\"Node\":{\"ID\":\"\",\"Node\":\"web-2\","
	        "\"Address\":\"10.0.2.12\",\"Datacenter\":\"dc1\"},"
	        "\"Services\":{\"web-a\":{\"ID\":\"web-a\",\"Service\":\"web\","
	        "\"Tags\":[\"b c\",\"a\"],\"Address\":\"\",\"Port\":1}}}";
	json_t *dropped = json_array();
	json_t *v = decode_body(DEP_CATALOG_SERVICES, "", 200, services,
	                        strlen(services), dropped);
	json_t *tags, *s;

	(void)state;
	print_dropped(dropped);
	assert_int_equal(json_array_size(v), 2);
	tags = json_object_get(json_array_get(v, 0), "Tags");
	assert_int_equal(json_array_size(tags), 0);
	tags = json_object_get(json_array_get(v, 1), "Tags");
	assert_int_equal(json_array_size(tags), 4);
	assert_string_equal(json_string_value(json_array_get(tags, 0)), "a#");
	assert_string_equal(json_string_value(json_array_get(tags, 1)),
	                    "evil.example z");
	assert_string_equal(json_string_value(json_array_get(tags, 2)), "ok");
	assert_string_equal(json_string_value(json_array_get(tags, 3)), "z");
	assert_int_equal(json_array_size(dropped), 1);
	assert_true(has_message(dropped, "service \"db\": tag \"x\\ny\" "
	                                 "dropped: control character in a "
	                                 "tag"));
	json_decref(v);
	json_array_clear(dropped);

	v = decode_body(DEP_CATALOG_NODE, "web-2", 200, node, strlen(node),
	                dropped);
	s = json_array_get(json_object_get(v, "Services"), 0);
	assert_string_equal(sfield(s, "ID"), "web-a");
	tags = json_object_get(s, "Tags");
	assert_int_equal(json_array_size(tags), 2);
	assert_string_equal(json_string_value(json_array_get(tags, 0)), "a");
	assert_string_equal(json_string_value(json_array_get(tags, 1)), "b c");
	assert_int_equal(json_array_size(dropped), 0);
	json_decref(v);
	json_decref(dropped);
}

static void test_kv_hostile(void **state)
{
	/* The prefix key itself, a key and a session with control bytes,
	 * and a value with newlines (kept: bytes, the hosts check's). */
	const char body[] =
	        "[{\"Key\":\"p\",\"Value\":\"eA==\"},"
	        "{\"Key\":\"p/a\\nb\",\"Value\":\"eA==\"},"
	        "{\"Key\":\"p/s\",\"Session\":\"s\\r1\",\"Value\":\"eA==\"},"
	        "{\"Key\":\"p/"
	        "ok\",\"Value\":\"MTAuMC4wLjEgYQoxMC4wLjAuMiBi\"}]";
	json_t *dropped = json_array();
	json_t *v =
	        decode_body(DEP_KV_LIST, "p", 200, body, strlen(body), dropped);

	(void)state;
	print_dropped(dropped);
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(sfield(json_array_get(v, 0), "Key"), "ok");
	assert_string_equal(sfield(json_array_get(v, 0), "Value"),
	                    "10.0.0.1 a\n10.0.0.2 b");
	assert_int_equal(json_array_size(dropped), 2);
	assert_true(has_message(dropped, "key \"p/a\\nb\": control character "
	                                 "in the key; left out"));
	assert_true(has_message(dropped, "key \"p/s\": control character in "
	                                 "Session; left out"));
	json_decref(v);
	json_decref(dropped);
}

static void test_agent_self_hostile(void **state)
{
	const char body[] = "{\"Config\":{\"NodeName\":\"web-1\\n10.6.6.6 x\","
	                    "\"Datacenter\":\"dc1\"}}";
	struct dep *d = mkdep(DEP_AGENT_SELF, "");
	struct err e;
	json_t *v = NULL;

	(void)state;
	err_clear(&e);
	assert_int_equal(dep_decode(d, 200, body, strlen(body), &v, NULL, &e),
	                 -EBADMSG);
	assert_null(v);
	assert_non_null(strstr(e.msg, "control characters"));
	dep_free(d);
}

/* --- errors ------------------------------------------------------------ */

static void test_decode_errors(void **state)
{
	struct dep *d = mkdep(DEP_CATALOG_NODES, "");
	struct dep *dc = mkdep(DEP_DATACENTERS, "");
	struct err e;
	json_t *v = NULL;
	size_t len;
	char *leader = read_fixture("status-leader.json", &len);

	(void)state;
	err_clear(&e);
	assert_int_equal(dep_decode(d, 200, "[{\"Node\":", 9, &v, NULL, &e),
	                 -EBADMSG);
	assert_null(v);
	assert_int_equal(e.line, 1);
	assert_non_null(strstr(e.msg, "invalid JSON"));
	err_clear(&e);
	assert_int_equal(dep_decode(d, 500, "x", 1, &v, NULL, &e), -EBADMSG);
	assert_string_equal(e.msg, "catalog.nodes: unexpected HTTP status 500");
	assert_int_equal(dep_decode(d, 404, "", 0, &v, NULL, &e), -EBADMSG);
	err_clear(&e);
	assert_int_equal(dep_decode(d, 200, "{}", 2, &v, NULL, &e), -EBADMSG);
	assert_string_equal(e.msg, "catalog.nodes: unexpected response: "
	                           "expected an array of nodes");
	err_clear(&e);
	assert_int_equal(dep_decode(dc, 200, leader, len, &v, NULL, &e),
	                 -EBADMSG);
	assert_string_equal(e.msg, "catalog.datacenters: unexpected response: "
	                           "expected an array of datacenter names");
	err_clear(&e);
	assert_int_equal(
	        dep_decode(d, 200, "[]", (1024u << 20) + 1, &v, NULL, &e),
	        -EBADMSG);
	assert_null(v);
	assert_int_equal(dep_decode(d, 200, "[]", 2, &v, NULL, &e), 0);
	v = expand(v);
	assert_int_equal(json_array_size(v), 0);
	json_decref(v);
	free(leader);
	dep_free(d);
	dep_free(dc);
}

/*
 * Consul accepts a tab or a newline in any Meta value: it is free text,
 * made one line like a check's Output; a key with a control byte, or a
 * value that is not a string, is left out, and the record always stays.
 */
static void test_meta_control_characters(void **state)
{
	static const char nodes[] =
	        "[{\"Node\":\"n1\",\"Address\":\"10.0.0.1\",\"Meta\":"
	        "{\"tab\":\"a\\tb\",\"nl\":\"x\\ny\\r\",\"k\\ney\":\"v\","
	        "\"num\":5}},"
	        "{\"Node\":\"n2\",\"Address\":\"10.0.0.2\",\"Meta\":[1]}]";
	static const char health[] =
	        "[{\"Node\":{\"Node\":\"web-1\",\"Address\":\"10.0.0.1\","
	        "\"Meta\":{\"rack\":\"r1\\tr2\"}},"
	        "\"Service\":{\"ID\":\"web-a\",\"Service\":\"web\","
	        "\"Address\":\"10.0.0.1\",\"Meta\":{\"v\":\"1\\n2\","
	        "\"\\u0007\":\"bell\"}},\"Checks\":[]}]";
	static const char node[] =
	        "{\"Node\":{\"Node\":\"n1\",\"Address\":\"10.0.0.1\"},"
	        "\"Services\":{\"s\":{\"ID\":\"s\",\"Service\":\"s\","
	        "\"Meta\":{\"a\":\"\\t\"}}}}";
	json_t *dropped = json_array(), *v, *m;

	(void)state;
	v = decode_body(DEP_CATALOG_NODES, "", 200, nodes, strlen(nodes),
	                dropped);
	print_dropped(dropped);
	assert_int_equal(json_array_size(v), 2);
	m = json_object_get(json_array_get(v, 0), "Meta");
	assert_int_equal(json_object_size(m), 2);
	assert_string_equal(sfield(m, "tab"), "a b");
	assert_string_equal(sfield(m, "nl"), "x y ");
	assert_int_equal(
	        json_object_size(json_object_get(json_array_get(v, 1), "Meta")),
	        0);
	assert_true(has_message(dropped, "node \"n1\": Meta key \"k\\ney\" "
	                                 "left out: control character in "
	                                 "the key"));
	assert_true(has_message(dropped, "node \"n1\": Meta key \"num\" left "
	                                 "out: the value is not a string"));
	assert_true(has_message(dropped, "node \"n2\": Meta is not an object; "
	                                 "left out"));
	assert_int_equal(json_array_size(dropped), 3);
	assert_one_line(v, false);
	json_decref(v);

	json_array_clear(dropped);
	v = decode_body(DEP_HEALTH_SERVICE, "web|any", 200, health,
	                strlen(health), dropped);
	print_dropped(dropped);
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(
	        sfield(json_object_get(json_array_get(v, 0), "NodeMeta"),
	               "rack"),
	        "r1 r2");
	m = json_object_get(json_array_get(v, 0), "ServiceMeta");
	assert_int_equal(json_object_size(m), 1);
	assert_string_equal(sfield(m, "v"), "1 2");
	assert_true(has_message(dropped,
	                        "service \"web\" instance \"web-a\" on node "
	                        "\"web-1\": Meta key \"\\x07\" left out: "
	                        "control character in the key"));
	assert_one_line(v, false);
	json_decref(v);

	json_array_clear(dropped);
	v = decode_body(DEP_CATALOG_NODE, "n1", 200, node, strlen(node),
	                dropped);
	m = json_array_get(json_object_get(v, "Services"), 0);
	assert_non_null(m);
	assert_string_equal(sfield(json_object_get(m, "Meta"), "a"), " ");
	assert_int_equal(json_array_size(dropped), 0);
	json_decref(v);
	json_decref(dropped);
}

static json_t *decode_names(enum dep_kind kind, const char *spec,
                            const struct dep_names *names, const char *body,
                            json_t *dropped)
{
	struct dep *d = mkdep(kind, spec);
	struct err e;
	json_t *v = NULL;

	err_clear(&e);
	if (dep_decode_names(d, names, 200, body, strlen(body), &v, dropped,
	                     &e) != 0)
		fail_msg("decode %s: %s", dep_id(d), e.msg);
	dep_free(d);
	return expand(v);
}

/*
 * Records that take a name this machine resolves (localhost and its
 * variants, a configured name, this node's own name at another address)
 * are dropped, each named once; the rest stays.
 */
static void test_reserved_names(void **state)
{
	static const char *const extra[] = {"gw.example", "*.corp.example",
	                                    NULL};
	static const char *const own[] = {"box7.example.net", "box7", NULL};
	static const char *const own_addrs[] = {"10.0.0.7", "fe80::7", NULL};
	const char *reserved[32];
	struct dep_names names = {reserved, own, own_addrs};
	static const char nodes[] =
	        "[{\"Node\":\"localhost\",\"Address\":\"10.6.6.1\"},"
	        "{\"Node\":\"LocalHost.\",\"Address\":\"10.6.6.2\"},"
	        "{\"Node\":\"www.localhost\",\"Address\":\"10.6.6.3\"},"
	        "{\"Node\":\"ip6-loopback\",\"Address\":\"10.6.6.4\"},"
	        "{\"Node\":\"localhost6.localdomain6\",\"Address\":\"10.6.6."
	        "5\"},"
	        "{\"Node\":\"GW.example\",\"Address\":\"10.6.6.6\"},"
	        "{\"Node\":\"a.b.corp.example\",\"Address\":\"10.6.6.7\"},"
	        "{\"Node\":\"box7\",\"Address\":\"10.6.6.8\"},"
	        "{\"Node\":\"box7.example.net\",\"Address\":\"10.0.0.7\"},"
	        "{\"Node\":\"corp.example\",\"Address\":\"10.0.0.9\"},"
	        "{\"Node\":\"localhost-db\",\"Address\":\"10.0.0.10\"},"
	        "{\"Node\":\"mylocalhost\",\"Address\":\"10.0.0.11\"}]";
	static const char health[] =
	        "[{\"Node\":{\"Node\":\"localhost\",\"Address\":\"10.6.6.1\"},"
	        "\"Service\":{\"ID\":\"w1\",\"Service\":\"web\"},\"Checks\":[]}"
	        ","
	        "{\"Node\":{\"Node\":\"box7\",\"Address\":\"10.0.0.7\"},"
	        "\"Service\":{\"ID\":\"w2\",\"Service\":\"web\"},\"Checks\":[]}"
	        ","
	        "{\"Node\":{\"Node\":\"box7\",\"Address\":\"10.6.6.8\"},"
	        "\"Service\":{\"ID\":\"w3\",\"Service\":\"web\"},\"Checks\":[]}"
	        ","
	        "{\"Node\":{\"Node\":\"n4\",\"Address\":\"10.0.0.4\"},"
	        "\"Service\":{\"ID\":\"w4\",\"Service\":\"web\"},\"Checks\":[]}"
	        "]";
	static const char bad_svc[] =
	        "[{\"Node\":{\"Node\":\"n4\",\"Address\":\"10.0.0.4\"},"
	        "\"Service\":{\"ID\":\"l\",\"Service\":\"localhost\"},"
	        "\"Checks\":[]}]";
	static const char services[] =
	        "{\"localhost\":[],\"web\":[],\"box7\":[],\"gw.example\":[]}";
	json_t *dropped = json_array(), *v;
	size_t n = 0;

	(void)state;
	for (const char *const *l = dep_loopback_names; *l != NULL; l++)
		reserved[n++] = *l;
	for (const char *const *l = extra; *l != NULL; l++)
		reserved[n++] = *l;
	reserved[n] = NULL;

	v = decode_names(DEP_CATALOG_NODES, "", &names, nodes, dropped);
	print_dropped(dropped);
	assert_int_equal(json_array_size(v), 4);
	assert_string_equal(sfield(json_array_get(v, 0), "Node"),
	                    "box7.example.net"); /* at this node's address */
	assert_string_equal(sfield(json_array_get(v, 1), "Node"),
	                    "corp.example");
	assert_string_equal(sfield(json_array_get(v, 2), "Node"),
	                    "localhost-db");
	assert_string_equal(sfield(json_array_get(v, 3), "Node"),
	                    "mylocalhost");
	assert_int_equal(json_array_size(dropped), 8);
	assert_true(has_message(dropped, "node \"localhost\": reserved name "
	                                 "(matches \"localhost\")"));
	assert_true(has_message(dropped, "node \"LocalHost.\": reserved name "
	                                 "(matches \"localhost\")"));
	assert_true(has_message(dropped, "node \"www.localhost\": reserved "
	                                 "name (matches \"*.localhost\")"));
	assert_true(has_message(dropped, "node \"GW.example\": reserved name "
	                                 "(matches \"gw.example\")"));
	assert_true(has_message(dropped, "node \"box7\": reserved name "
	                                 "(matches \"box7\", this node's name, "
	                                 "at another address)"));
	json_decref(v);

	/* A service instance: by its node's name, and by its own name. */
	json_array_clear(dropped);
	v = decode_names(DEP_HEALTH_SERVICE, "web|any", &names, health,
	                 dropped);
	print_dropped(dropped);
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(sfield(json_array_get(v, 0), "ID"), "w2");
	assert_string_equal(sfield(json_array_get(v, 1), "ID"), "w4");
	assert_true(has_message(dropped,
	                        "service \"web\" instance \"w1\" on node "
	                        "\"localhost\": reserved name (matches "
	                        "\"localhost\")"));
	assert_int_equal(json_array_size(dropped), 2);
	json_decref(v);
	json_array_clear(dropped);
	v = decode_names(DEP_HEALTH_SERVICE, "localhost|any", &names, bad_svc,
	                 dropped);
	assert_int_equal(json_array_size(v), 0);
	assert_int_equal(json_array_size(dropped), 1);
	json_decref(v);

	/* The catalog's service names: only the reserved list (no address
	 * tells this node's own from another's). */
	json_array_clear(dropped);
	v = decode_names(DEP_CATALOG_SERVICES, "", &names, services, dropped);
	print_dropped(dropped);
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(sfield(json_array_get(v, 0), "Name"), "box7");
	assert_string_equal(sfield(json_array_get(v, 1), "Name"), "web");
	assert_int_equal(json_array_size(dropped), 2);
	json_decref(v);

	/* node "localhost": as if it did not exist (consul-template's
	 * empty CatalogNode, whose Node is nil). */
	v = decode_names(DEP_CATALOG_NODE, "localhost", &names,
	                 "{\"Node\":{\"Node\":\"localhost\","
	                 "\"Address\":\"10.6.6.1\"},\"Services\":{}}",
	                 NULL);
	assert_int_equal(trec_schema_of(v)->kind, TREC_CATALOG_NODE);
	assert_true(json_is_null(json_object_get(v, "Node")));
	json_decref(v);

	/* Without names nothing is reserved (dep_decode). */
	v = decode_body(DEP_CATALOG_NODES, "", 200, nodes, strlen(nodes), NULL);
	assert_int_equal(json_array_size(v), 12);
	json_decref(v);
	assert_null(dep_name_reserved(NULL, "localhost", 9, NULL));
	assert_string_equal(dep_name_reserved(&names, "LOCALHOST4", 10, NULL),
	                    "localhost4");
	assert_null(dep_name_reserved(&names, "box7", 4, "fe80:0::7"));
	assert_string_equal(dep_name_reserved(&names, "box7", 4, "fe80::8"),
	                    "box7");
	json_decref(dropped);
}

/* A health answer for web on n1 whose service check has output and
 * modify index as given (an agent syncing its output changes both). */
static char *health_status_output(const char *status, const char *output,
                                  int modify)
{
	json_t *body = json_pack("[{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:i}, "
	                         "s:[{s:s, s:s, s:s, s:s, s:s, s:i, s:i}]}]",
	                         "Node", "Node", "n1", "Address", "10.0.0.1",
	                         "Datacenter", "dc1", "Service", "ID", "web",
	                         "Service", "web", "Port", 80, "Checks",
	                         "CheckID", "service:web", "Status", status,
	                         "Output", output, "Notes", "n", "Name", "c",
	                         "CreateIndex", 5, "ModifyIndex", modify);
	char *text = json_dumps(body, JSON_COMPACT);

	json_decref(body);
	return text;
}

static char *health_with_output(const char *output, int modify)
{
	return health_status_output("passing", output, modify);
}

static json_t *decode_raw(const char *spec, const char *body,
                          enum dep_checks keep)
{
	struct dep *d = mkdep(DEP_HEALTH_SERVICE, spec);
	struct err e;
	json_t *v = NULL;

	dep_set_checks(d, keep);
	/* a copy keeps the flag, as the watcher's does */
	{
		struct dep *c = dep_dup(d);

		dep_free(d);
		d = c;
	}
	err_clear(&e);
	if (dep_decode(d, 200, body, strlen(body), &v, NULL, &e) != 0)
		fail_msg("decode: %s", e.msg);
	dep_free(d);
	return v;
}

/*
 * With DEP_CHECKS_NO_TEXT, a check's Output, Notes and indexes are left
 * empty: an answer that differs only by them decodes to the same bytes
 * (no change). Without, they are kept and the answers differ.
 */
static void test_drop_check_text(void **state)
{
	char *a = health_with_output("HTTP 200 OK at 10:00", 100);
	char *b = health_with_output("HTTP 200 OK at 10:05", 117);
	json_t *ka = decode_raw("web", a, DEP_CHECKS_ALL);
	json_t *kb = decode_raw("web", b, DEP_CHECKS_ALL);
	json_t *da = decode_raw("web", a, DEP_CHECKS_NO_TEXT);
	json_t *db = decode_raw("web", b, DEP_CHECKS_NO_TEXT);
	json_t *x, *c;

	(void)state;
	assert_false(json_equal(ka, kb));
	assert_true(json_equal(da, db));
	x = crec_expand(ka);
	c = json_array_get(json_object_get(json_array_get(x, 0), "Checks"), 0);
	assert_string_equal(sfield(c, "Output"), "HTTP 200 OK at 10:00");
	assert_string_equal(sfield(c, "Notes"), "n");
	assert_int_equal(json_integer_value(json_object_get(c, "ModifyIndex")),
	                 100);
	json_decref(x);
	x = crec_expand(da);
	c = json_array_get(json_object_get(json_array_get(x, 0), "Checks"), 0);
	assert_string_equal(sfield(c, "Output"), "");
	assert_string_equal(sfield(c, "Notes"), "");
	assert_int_equal(json_integer_value(json_object_get(c, "ModifyIndex")),
	                 0);
	assert_int_equal(json_integer_value(json_object_get(c, "CreateIndex")),
	                 0);
	/* what a template reads is kept */
	assert_string_equal(sfield(c, "CheckID"), "service:web");
	assert_string_equal(sfield(c, "Status"), "passing");
	assert_string_equal(sfield(c, "Name"), "c");
	json_decref(x);
	/* No check seen at all: an empty list, the status still theirs
	 * (and the filter: passing only leaves the instance out). */
	{
		char *crit = health_status_output("critical", "down", 3);
		json_t *n, *y;

		n = decode_raw("web|any", crit, DEP_CHECKS_NONE);
		y = crec_expand(n);
		assert_int_equal(json_array_size(y), 1);
		assert_int_equal(json_array_size(json_object_get(
		                         json_array_get(y, 0), "Checks")),
		                 0);
		assert_string_equal(sfield(json_array_get(y, 0), "Status"),
		                    "critical");
		json_decref(y);
		json_decref(n);
		n = decode_raw("web", crit, DEP_CHECKS_NONE);
		y = crec_expand(n);
		assert_int_equal(json_array_size(y), 0);
		json_decref(y);
		json_decref(n);
		free(crit);
	}
	/* the dependency is the same query either way */
	{
		struct dep *d = mkdep(DEP_HEALTH_SERVICE, "web");
		char *p1 = dep_request_path(d);
		char id1[200];

		snprintf(id1, sizeof(id1), "%s", dep_id(d));
		dep_set_checks(d, DEP_CHECKS_NONE);
		assert_string_equal(dep_id(d), id1);
		{
			char *p2 = dep_request_path(d);

			assert_string_equal(p1, p2);
			free(p2);
		}
		free(p1);
		dep_free(d);
	}
	json_decref(ka);
	json_decref(kb);
	json_decref(da);
	json_decref(db);
	free(a);
	free(b);
}

/* A node address with a line break is dropped with its instance even when
 * the service has an address of its own (found by fuzz_decode): no string
 * a decoder returns holds a control byte. A node address that is a name
 * stays (only .Address is printed into hosts lines). */
static void test_health_node_address_hostile(void **state)
{
	static const char body[] =
	        "[{\"Node\":{\"Node\":\"n1\",\"Address\":"
	        "\"10.0.0.1\\n10.6.6.6 victim\",\"Datacenter\":\"dc1\"},"
	        "\"Service\":{\"ID\":\"a\",\"Service\":\"web\","
	        "\"Address\":\"10.0.0.9\"}},"
	        "{\"Node\":{\"Node\":\"n2\",\"Address\":\"ext.example\","
	        "\"Datacenter\":\"dc1\"},\"Service\":{\"ID\":\"b\","
	        "\"Service\":\"web\",\"Address\":\"10.0.0.8\"}}]";
	json_t *dropped = json_array();
	json_t *v = decode_body(DEP_HEALTH_SERVICE, "web|any", 200, body,
	                        strlen(body), dropped);

	(void)state;
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(sfield(json_array_get(v, 0), "NodeAddress"),
	                    "ext.example");
	assert_true(has_message(dropped,
	                        "service \"web\" instance \"a\" on node "
	                        "\"n1\": control character in a field"));
	json_decref(v);
	json_decref(dropped);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_specs_good),
	        cmocka_unit_test(test_kv_block),
	        cmocka_unit_test(test_cached),
	        cmocka_unit_test(test_specs_bad),
	        cmocka_unit_test(test_spec_too_long),
	        cmocka_unit_test(test_health_any),
	        cmocka_unit_test(test_health_filters),
	        cmocka_unit_test(test_health_maintenance),
	        cmocka_unit_test(test_health_hostile),
	        cmocka_unit_test(test_health_node_address_hostile),
	        cmocka_unit_test(test_nodes),
	        cmocka_unit_test(test_nodes_hostile),
	        cmocka_unit_test(test_nodes_nul),
	        cmocka_unit_test(test_nodes_fields),
	        cmocka_unit_test(test_meta_control_characters),
	        cmocka_unit_test(test_reserved_names),
	        cmocka_unit_test(test_services),
	        cmocka_unit_test(test_node),
	        cmocka_unit_test(test_datacenters_and_self),
	        cmocka_unit_test(test_kv_list),
	        cmocka_unit_test(test_kv_bigflags),
	        cmocka_unit_test(test_kv_get),
	        cmocka_unit_test(test_decode_errors),
	        cmocka_unit_test(test_fixtures_one_line),
	        cmocka_unit_test(test_health_checks_hostile),
	        cmocka_unit_test(test_health_tags_hostile),
	        cmocka_unit_test(test_catalog_tags_hostile),
	        cmocka_unit_test(test_kv_hostile),
	        cmocka_unit_test(test_agent_self_hostile),
	        cmocka_unit_test(test_drop_check_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
