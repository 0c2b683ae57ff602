/*
 * funcs_consul: each Consul function asks for the right dependency, returns
 * the empty value of its type without data, a new reference with data, and
 * hands service lists to env->order as a copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "consul/deps.h"
#include "template/funcs.h"
#include "template/funcs_consul.h"

struct fake {
	json_t *data;    /* dep_id -> value */
	json_t *seen;    /* dep_ids looked up, in order */
	json_t *orders;  /* keys env->order was called with */
	json_t *weighed; /* instances env->weigh was given */
};

static json_t *fake_lookup(void *ctx, const struct dep *d)
{
	struct fake *f = ctx;

	json_array_append_new(f->seen, json_string(dep_id(d)));
	return json_object_get(f->data, dep_id(d));
}

static void fake_order(void *ctx, const char *key, json_t *list)
{
	struct fake *f = ctx;
	size_t n = json_array_size(list);

	json_array_append_new(f->orders, json_string(key));
	for (size_t i = 0; i < n / 2; i++) {
		json_t *a = json_incref(json_array_get(list, i));
		json_t *b = json_incref(json_array_get(list, n - 1 - i));

		json_array_set_new(list, i, b);
		json_array_set_new(list, n - 1 - i, a);
	}
}

static void fake_weigh(void *ctx, json_t *instance)
{
	struct fake *f = ctx;

	json_array_append(f->weighed, instance);
}

static struct fake fk;
static struct tmpl_env env;
static struct err err;

static int setup(void **state)
{
	(void)state;
	fk.data = json_object();
	fk.seen = json_array();
	fk.orders = json_array();
	fk.weighed = json_array();
	memset(&env, 0, sizeof(env));
	env.lookup = fake_lookup;
	env.ctx = &fk;
	err_clear(&err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(fk.data);
	json_decref(fk.seen);
	json_decref(fk.orders);
	json_decref(fk.weighed);
	return 0;
}

/* Call the Consul function name with the arguments packed in args. */
static int call(const char *name, json_t *args, json_t **ret)
{
	const struct func_def *f = NULL;
	struct fcall c = {&env, &err};
	json_t *argv[8];
	size_t n = json_array_size(args);
	int r;

	for (const struct func_def *p = funcs_consul; p->name != NULL; p++)
		if (strcmp(p->name, name) == 0)
			f = p;
	if (f == NULL)
		fail_msg("no Consul function %s", name);
	if (f == NULL)
		return -ENOENT;
	assert_true(n <= 8);
	assert_true((int)n >= f->min_args);
	assert_true(f->max_args < 0 || (int)n <= f->max_args);
	for (size_t i = 0; i < n; i++)
		argv[i] = json_array_get(args, i);
	*ret = NULL;
	r = f->fn(&c, argv, n, ret);
	json_decref(args);
	return r;
}

static void assert_seen(size_t i, const char *id)
{
	assert_true(i < json_array_size(fk.seen));
	assert_string_equal(json_string_value(json_array_get(fk.seen, i)), id);
}

static void test_service(void **state)
{
	json_t *v, *stored;

	(void)state;
	/* No data: an empty list, the dependency recorded. */
	assert_int_equal(call("service", json_pack("[s]", "web"), &v), 0);
	assert_true(json_is_array(v) && json_array_size(v) == 0);
	assert_seen(0, "health.service(web|passing)");
	json_decref(v);
	/* Extra arguments are joined with "|". */
	assert_int_equal(
	        call("service",
	             json_pack("[ss]", "prod.web@dc1", "passing,warning"), &v),
	        0);
	assert_seen(1, "health.service(prod.web@dc1|passing,warning)");
	json_decref(v);

	stored = json_pack("[{s:s, s:s}, {s:s, s:s}]", "Name", "web", "ID", "a",
	                   "Name", "web", "ID", "b");
	json_object_set_new(fk.data, "health.service(web|any)", stored);
	env.order = fake_order;
	env.weigh = fake_weigh;
	assert_int_equal(call("service", json_pack("[ss]", "web", "any"), &v),
	                 0);
	/* consul-template's order, the same on every node: the per-node
	 * order is applied to the rendered lines, never to the list (the
	 * order hook is the shuffle function's alone). */
	assert_true(json_equal(v, stored));
	assert_int_equal(json_array_size(fk.orders), 0);
	/* Weighted ordering learns every instance handed to the template. */
	assert_int_equal(json_array_size(fk.weighed), 2);
	assert_ptr_equal(json_array_get(fk.weighed, 1),
	                 json_array_get(stored, 1));
	json_decref(v);
}

static void test_service_errors(void **state)
{
	json_t *v;

	(void)state;
	assert_int_equal(call("service", json_pack("[ss]", "web", "bogus"), &v),
	                 -EINVAL);
	assert_null(v);
	assert_string_equal(err.msg,
	                    "service \"web|bogus\": invalid filter \"bogus\" "
	                    "(expected any, passing, warning, critical or "
	                    "maintenance)");
	assert_int_equal(call("service", json_pack("[i]", 3), &v), -EINVAL);
	assert_string_equal(err.msg, "argument 1: expected a string, got int");
	assert_int_equal(json_array_size(fk.seen), 0);
}

static void test_catalog(void **state)
{
	json_t *v;

	(void)state;
	assert_int_equal(call("nodes", json_array(), &v), 0);
	assert_true(json_is_array(v));
	json_decref(v);
	assert_int_equal(call("nodes", json_pack("[s]", "@dc2"), &v), 0);
	json_decref(v);
	json_object_set_new(fk.data, "catalog.services",
	                    json_pack("[{s:s}]", "Name", "web"));
	assert_int_equal(call("services", json_array(), &v), 0);
	assert_int_equal(json_array_size(v), 1);
	json_decref(v);
	assert_int_equal(call("datacenters", json_array(), &v), 0);
	assert_true(json_is_array(v));
	json_decref(v);
	assert_seen(0, "catalog.nodes");
	assert_seen(1, "catalog.nodes(@dc2)");
	assert_seen(2, "catalog.services");
	assert_seen(3, "catalog.datacenters");
	assert_int_equal(call("datacenters", json_pack("[b]", 1), &v),
	                 -ENOTSUP);
	assert_int_equal(call("nodes", json_pack("[s]", "dc1"), &v), -EINVAL);
}

static void test_node(void **state)
{
	json_t *v;

	(void)state;
	assert_int_equal(call("node", json_pack("[s]", "web-2"), &v), 0);
	assert_true(json_is_null(v));
	assert_seen(0, "catalog.node(web-2)");
	/* No name: the local node, once agent self has answered. */
	assert_int_equal(call("node", json_array(), &v), 0);
	assert_true(json_is_null(v));
	assert_seen(1, "agent.self");
	assert_int_equal(json_array_size(fk.seen), 2);
	json_object_set_new(fk.data, "agent.self",
	                    json_pack("{s:s}", "Node", "web-1"));
	json_object_set_new(fk.data, "catalog.node(web-1@dc2)",
	                    json_pack("{s:{s:s}}", "Node", "Node", "web-1"));
	assert_int_equal(call("node", json_pack("[s]", "@dc2"), &v), 0);
	assert_seen(3, "catalog.node(web-1@dc2)");
	assert_string_equal(json_string_value(json_object_get(
	                            json_object_get(v, "Node"), "Node")),
	                    "web-1");
	json_decref(v);
}

static void test_keys(void **state)
{
	json_t *v;

	(void)state;
	/* No data yet. */
	assert_int_equal(call("key", json_pack("[s]", "a/b"), &v), 0);
	assert_string_equal(json_string_value(v), "");
	json_decref(v);
	assert_int_equal(call("keyExists", json_pack("[s]", "a/b"), &v), 0);
	assert_true(json_is_false(v));
	json_decref(v);
	assert_int_equal(
	        call("keyOrDefault", json_pack("[ss]", "a/b", "dflt"), &v), 0);
	assert_string_equal(json_string_value(v), "dflt");
	json_decref(v);
	assert_seen(0, "kv.block(a/b)");
	assert_seen(1, "kv.get(a/b)");
	assert_seen(2, "kv.get(a/b)");
	/* Known not to exist. */
	json_object_set_new(fk.data, "kv.get(a/b)", json_null());
	assert_int_equal(call("keyExists", json_pack("[s]", "a/b"), &v), 0);
	assert_true(json_is_false(v));
	json_decref(v);
	assert_int_equal(
	        call("keyOrDefault", json_pack("[ss]", "a/b", "dflt"), &v), 0);
	assert_string_equal(json_string_value(v), "dflt");
	json_decref(v);
	/* Exists, even empty. */
	json_object_set_new(fk.data, "kv.get(a/b)", json_string(""));
	json_object_set_new(fk.data, "kv.block(a/b)", json_string("x"));
	assert_int_equal(call("keyExists", json_pack("[s]", "a/b"), &v), 0);
	assert_true(json_is_true(v));
	json_decref(v);
	/* consul-template's keyWithDefaultFunc: an empty value gives the
	 * default too (value == nil || value.(string) == "") */
	assert_int_equal(
	        call("keyOrDefault", json_pack("[ss]", "a/b", "dflt"), &v), 0);
	assert_string_equal(json_string_value(v), "dflt");
	json_decref(v);
	assert_int_equal(call("key", json_pack("[s]", "a/b"), &v), 0);
	assert_string_equal(json_string_value(v), "x");
	json_decref(v);
	assert_int_equal(call("keyOrDefault", json_pack("[si]", "a/b", 1), &v),
	                 -EINVAL);
	assert_int_equal(call("key", json_pack("[s]", ""), &v), -EINVAL);
	assert_string_equal(err.msg, "key \"\": missing key path");
}

static void test_ls_tree(void **state)
{
	json_t *v;

	(void)state;
	json_object_set_new(fk.data, "kv.list(p)",
	                    json_pack("[{s:s}, {s:s}, {s:s}]", "Key", "a",
	                              "Key", "b/c", "Key", "d"));
	json_object_set_new(fk.data, "kv.list(q)",
	                    json_pack("[{s:s}]", "Key", "b/c"));
	json_object_set_new(fk.data, "kv.list(empty)", json_array());
	assert_int_equal(call("ls", json_pack("[s]", "p"), &v), 0);
	assert_int_equal(json_array_size(v), 2);
	json_decref(v);
	assert_int_equal(call("tree", json_pack("[s]", "p"), &v), 0);
	assert_int_equal(json_array_size(v), 3);
	json_decref(v);
	assert_int_equal(call("ls", json_pack("[s]", "q"), &v), 0);
	assert_int_equal(json_array_size(v), 0);
	json_decref(v);
	assert_int_equal(call("safeLs", json_pack("[s]", "q"), &v), -ENODATA);
	assert_string_equal(err.msg, "no keys under prefix \"q\"; "
	                             "refusing to render");
	assert_int_equal(call("safeTree", json_pack("[s]", "q"), &v), 0);
	assert_int_equal(json_array_size(v), 1);
	json_decref(v);
	assert_int_equal(call("safeTree", json_pack("[s]", "empty"), &v),
	                 -ENODATA);
	/* Without data the safe variants wait like the others. */
	assert_int_equal(call("safeTree", json_pack("[s]", "none"), &v), 0);
	assert_int_equal(json_array_size(v), 0);
	json_decref(v);
	assert_seen(0, "kv.list(p)");
}

static void test_by_tag(void **state)
{
	json_t *in = json_pack("[{s:s, s:[ss]}, {s:s, s:[s]}, {s:s, s:[]}]",
	                       "Name", "a", "Tags", "y", "x", "Name", "b",
	                       "Tags", "x", "Name", "c", "Tags");
	json_t *v, *x;
	const char *first;

	(void)state;
	assert_int_equal(call("byTag", json_pack("[O]", in), &v), 0);
	assert_int_equal(json_object_size(v), 2);
	x = json_object_get(v, "x");
	assert_int_equal(json_array_size(x), 2);
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(x, 0), "Name")),
	                    "a");
	assert_int_equal(json_array_size(json_object_get(v, "y")), 1);
	first = json_object_iter_key(json_object_iter(v));
	assert_string_equal(first, "x");
	json_decref(v);
	json_decref(in);
	assert_int_equal(call("byTag", json_pack("[s]", "x"), &v), -EINVAL);
	assert_string_equal(err.msg, "expected a list of services, got string");
}

static void test_by_meta(void **state)
{
	json_t *in = json_pack(
	        "[{s:s, s:{s:s, s:s}}, {s:s, s:{s:s}}, {s:s, s:{}}]", "ID", "a",
	        "ServiceMeta", "version", "2.4.1", "weight", "7", "ID", "b",
	        "ServiceMeta", "version", "2.4.1", "ID", "c", "ServiceMeta");
	json_t *v;

	(void)state;
	assert_int_equal(call("byMeta", json_pack("[sO]", "version", in), &v),
	                 0);
	assert_int_equal(json_array_size(json_object_get(v, "2_4_1")), 2);
	assert_int_equal(json_array_size(json_object_get(v, "_no_version_")),
	                 1);
	json_decref(v);
	assert_int_equal(
	        call("byMeta", json_pack("[sO]", "version,weight|int", in), &v),
	        0);
	assert_int_equal(json_array_size(json_object_get(v, "2_4_1_00007")), 1);
	assert_int_equal(json_array_size(json_object_get(v, "2_4_1_00000")), 1);
	assert_int_equal(
	        json_array_size(json_object_get(v, "_no_version__00000")), 1);
	json_decref(v);
	json_object_set_new(
	        json_object_get(json_array_get(in, 0), "ServiceMeta"), "weight",
	        json_string("heavy"));
	assert_int_equal(
	        call("byMeta", json_pack("[sO]", "weight|int", in), &v),
	        -EINVAL);
	assert_string_equal(err.msg, "cannot parse \"heavy\" of weight as a "
	                             "number");
	json_decref(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_service, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_service_errors, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_catalog, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_node, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_ls_tree, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_by_tag, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_by_meta, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
