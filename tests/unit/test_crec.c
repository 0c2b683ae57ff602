/*
 * crec: compact records built, finished into a blob, read through a view
 * (values made once and kept, records as handles that trecord.h reads),
 * expanded back to plain values; equal data gives equal bytes; and the
 * store keeps a view per blob entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "consul/crec.h"
#include "consul/deps.h"
#include "consul/store.h"
#include "consul/trec_read.h"
#include "template/tvalue.h"

/* A HealthService-like answer: two instances sharing tags and weights. */
static json_t *build(const char *addr2, bool share_tags)
{
	struct crec_builder *b = crec_builder_new();
	const struct trec_schema *s = trec_schema(TREC_HEALTH_SERVICE);
	crec_ref recs[2], tags[2], w[2];
	crec_ref f[32];

	assert_true(s->nfields <= 32);
	tags[0] = crec_str(b, "prod", 4);
	tags[1] = crec_str(b, share_tags ? "v2" : "v3", 2);
	w[0] = crec_int(b, 1);
	w[1] = crec_int(b, 1);
	for (int i = 0; i < 2; i++) {
		for (size_t k = 0; k < s->nfields; k++)
			f[k] = crec_str(b, "", 0);
		f[0] = crec_str(b, i ? "node-2" : "node-1", 6); /* Node */
		f[6] = crec_str(b, i ? addr2 : "10.0.0.1",
		                strlen(i ? addr2 : "10.0.0.1")); /* Address */
		f[9] = crec_str(b, "web", 3);                    /* Name */
		f[10] = crec_list(b, tags, i == 0 || share_tags ? 2 : 1);
		f[11] = crec_list(b, NULL, 0);                 /* Checks */
		f[13] = crec_int(b, 8080);                     /* Port */
		f[14] = crec_record(b, TREC_AGENT_WEIGHTS, w); /* Weights */
		f[3] = f[4] = f[5] = f[7] = crec_map(b, NULL, NULL, 0);
		recs[i] = crec_record(b, TREC_HEALTH_SERVICE, f);
	}
	return crec_finish(b, crec_list(b, recs, 2));
}

static void test_blob_bytes(void **state)
{
	json_t *a = build("10.0.0.2", true), *b = build("10.0.0.2", true);
	json_t *c = build("10.0.0.3", true);

	(void)state;
	assert_true(crec_is_blob(a));
	assert_true(json_is_string(a));
	/* Equal data, equal bytes; other data, other bytes. */
	assert_true(json_equal(a, b));
	assert_false(json_equal(a, c));
	/* A string that is not one of ours is no blob. */
	{
		json_t *s = json_string("CRE1 but not a blob at all......."
		                        "..........");

		assert_false(crec_is_blob(s));
		json_decref(s);
	}
	assert_false(crec_is_blob(NULL));
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void test_view(void **state)
{
	json_t *blob = build("10.0.0.2", true);
	struct crec_view *v = crec_view_new(blob);
	json_t *root, *r0, *r1, *x;
	const struct trec_schema *s;

	(void)state;
	json_decref(blob); /* the view holds it */
	root = crec_view_root(v);
	assert_ptr_equal(crec_view_root(v), root); /* made once */
	assert_true(json_is_array(root));
	assert_int_equal(json_array_size(root), 2);
	r0 = json_array_get(root, 0);
	r1 = json_array_get(root, 1);
	assert_true(crec_is_handle(r0));
	/* Immortal for jansson: counting does nothing. */
	json_incref(r0);
	json_decref(r0);
	json_decref(r0);
	s = trec_schema_of(r0);
	assert_non_null(s);
	assert_string_equal(s->go_type, "*dependency.HealthService");
	assert_int_equal(crec_handle_kind(r0), TREC_HEALTH_SERVICE);
	assert_string_equal(json_string_value(trec_get_name(r0, "Node")),
	                    "node-1");
	assert_string_equal(json_string_value(trec_get_name(r1, "Address")),
	                    "10.0.0.2");
	assert_int_equal(json_integer_value(trec_get_name(r1, "Port")), 8080);
	/* Values are made once per view: the same pointer each time, and
	 * the same string for both instances' Name. */
	x = trec_get_name(r0, "Name");
	assert_ptr_equal(trec_get_name(r0, "Name"), x);
	assert_ptr_equal(trec_get_name(r1, "Name"), x);
	/* Shared lists and struct values are one value. */
	assert_ptr_equal(trec_get_name(r0, "Tags"), trec_get_name(r1, "Tags"));
	assert_ptr_equal(trec_get_name(r0, "Weights"),
	                 trec_get_name(r1, "Weights"));
	assert_true(crec_is_handle(trec_get_name(r0, "Weights")));
	assert_int_equal(json_integer_value(trec_get_name(
	                         trec_get_name(r0, "Weights"), "Passing")),
	                 1);
	/* No such field, a field not kept, not a record. */
	assert_null(trec_get_name(r0, "Nmae"));
	assert_null(trec_get_name(x, "Node"));
	assert_ptr_equal(trec_member(r0, "Node"), trec_get_name(r0, "Node"));
	/* Go's truth and ==: records are true, pointers equal to
	 * themselves only, struct values field by field. */
	assert_true(tv_truth(r0));
	assert_true(trec_equal(r0, r0));
	assert_false(trec_equal(r0, r1));
	{
		json_t *w = trec_zero(TREC_AGENT_WEIGHTS);

		json_object_set_new(w, "Passing", json_integer(1));
		json_object_set_new(w, "Warning", json_integer(1));
		assert_true(trec_equal(trec_get_name(r0, "Weights"), w));
		json_object_set_new(w, "Warning", json_integer(2));
		assert_false(trec_equal(trec_get_name(r0, "Weights"), w));
		json_decref(w);
	}
	assert_null(crec_view_free(v));
	assert_null(crec_view_free(NULL));
	{
		json_t *str = json_string("x");

		assert_null(crec_view_new(str));
		json_decref(str);
	}
}

static void test_expand(void **state)
{
	json_t *blob = build("10.0.0.2", false), *x, *r1;

	(void)state;
	x = crec_expand(blob);
	assert_true(json_is_array(x));
	r1 = json_array_get(x, 1);
	assert_true(json_is_object(r1));
	assert_ptr_equal(trec_schema_of(r1), trec_schema(TREC_HEALTH_SERVICE));
	assert_string_equal(json_string_value(json_object_get(r1, "Node")),
	                    "node-2");
	assert_int_equal(json_array_size(json_object_get(r1, "Tags")), 1);
	assert_int_equal(
	        json_array_size(json_object_get(json_array_get(x, 0), "Tags")),
	        2);
	/* Every field of the schema, and the mark. */
	assert_int_equal(json_object_size(r1),
	                 trec_schema(TREC_HEALTH_SERVICE)->nfields + 1);
	json_decref(x);
	json_decref(blob);
}

/* Strings are stored once per blob, whatever their bytes (NULs too). */
static void test_interning(void **state)
{
	struct crec_builder *b = crec_builder_new();
	crec_ref a = crec_str(b, "a\0b", 3), c = crec_str(b, "a\0c", 3);
	size_t len;

	(void)state;
	assert_int_equal(crec_str(b, "a\0b", 3), a);
	assert_true(a != c);
	assert_memory_equal(crec_builder_str(b, c, &len), "a\0c", 3);
	assert_int_equal(len, 3);
	assert_int_equal(crec_int(b, 7), crec_int(b, 7));
	assert_true(crec_int(b, 7) != crec_real(b, 7.0));
	assert_int_equal(crec_real(b, 0.5), crec_real(b, 0.5));
	assert_true(crec_bool(true) != crec_bool(false));
	crec_builder_free(b);
	assert_null(crec_builder_free(NULL));
}

/* The store gives a blob's view root, made once, until the data changes. */
static void test_store_views(void **state)
{
	struct store *s = store_new();
	const char *id = "health.service(web|passing)";
	json_t *root, *first = build("10.0.0.2", true);

	(void)state;
	assert_true(dep_id_compact(id));
	assert_false(dep_id_compact("kv.get(a)"));
	assert_false(dep_id_compact("kv.block(a)"));
	assert_false(dep_id_compact("catalog.datacenters"));
	assert_int_equal(store_put(s, id, json_incref(first), NULL), 1);
	root = store_get(s, id);
	assert_true(json_is_array(root));
	assert_ptr_equal(store_get(s, id), root);
	/* The same answer gives the same bytes (the watcher's "no change"),
	 * and the blob handed back keeps its values. */
	{
		json_t *again = build("10.0.0.2", true);

		assert_true(trec_value_equal(again, first));
		json_decref(again);
	}
	assert_int_equal(store_put(s, id, json_incref(first), NULL), 0);
	assert_ptr_equal(store_get(s, id), root);
	assert_int_equal(store_put(s, id, build("10.0.0.9", true), NULL), 1);
	assert_string_equal(
	        json_string_value(trec_get_name(
	                json_array_get(store_get(s, id), 1), "Address")),
	        "10.0.0.9");
	/* A KV value that looks like a blob stays the string it is. */
	{
		json_t *blob = build("10.0.0.2", true);

		assert_int_equal(
		        store_put(s, "kv.get(x)", json_incref(blob), NULL), 1);
		assert_ptr_equal(store_get(s, "kv.get(x)"), blob);
		json_decref(blob);
	}
	store_forget(s, id);
	assert_null(store_get(s, id));
	store_free(s);
	json_decref(first);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_blob_bytes),
	        cmocka_unit_test(test_view),
	        cmocka_unit_test(test_expand),
	        cmocka_unit_test(test_interning),
	        cmocka_unit_test(test_store_views),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
