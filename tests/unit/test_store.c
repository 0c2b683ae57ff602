/* store: put/get/forget semantics, versions and suspicion, kv.block
 * nulls. Whether an answer changed is the watcher's to say (test_watch);
 * the store takes its word. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "consul/store.h"

static void test_put_get(void **state)
{
	struct store *s = store_new();
	uint64_t ver;
	json_t *v;

	(void)state;
	assert_null(store_get(s, "catalog.nodes"));
	assert_int_equal(
	        store_put(s, "catalog.nodes", json_pack("[s]", "a"), NULL), 1);
	v = store_get(s, "catalog.nodes");
	assert_non_null(v);
	assert_string_equal(json_string_value(json_array_get(v, 0)), "a");
	/* The value it holds, handed back (the watcher does so when only
	 * the suspicion moved): no change, the same value and version. */
	ver = store_version(s, "catalog.nodes");
	assert_int_equal(store_put(s, "catalog.nodes", json_incref(v), NULL),
	                 0);
	assert_ptr_equal(store_get(s, "catalog.nodes"), v);
	assert_int_equal(store_version(s, "catalog.nodes"), ver);
	/* A new value is new data (the watcher found it changed): a new
	 * version, even when it looks the same. */
	assert_int_equal(
	        store_put(s, "catalog.nodes", json_pack("[s]", "a"), NULL), 1);
	assert_true(store_version(s, "catalog.nodes") > ver);
	assert_int_equal(
	        store_put(s, "catalog.nodes", json_pack("[s]", "b"), NULL), 1);
	assert_string_equal(json_string_value(json_array_get(
	                            store_get(s, "catalog.nodes"), 0)),
	                    "b");
	/* Other ids are independent. */
	assert_null(store_get(s, "catalog.services"));
	store_forget(s, "catalog.nodes");
	assert_null(store_get(s, "catalog.nodes"));
	store_forget(s, "never-there");
	assert_int_equal(
	        store_put(s, "catalog.nodes", json_pack("[s]", "b"), NULL), 1);
	assert_null(store_free(s));
	assert_null(store_free(NULL));
}

/* Suspicion is part of what a render depends on: it coming or going is a
 * change even when the data is equal. */
static void test_suspect(void **state)
{
	struct store *s = store_new();
	json_t *a = json_pack("[s]", "a");

	(void)state;
	/* The watcher hands the same value back when only its suspicion
	 * moves. */
	assert_int_equal(store_put(s, "n", json_incref(a), "restore"), 1);
	assert_string_equal(store_suspect(s, "n"), "restore");
	/* Still suspect, for another reason: no change to render. */
	assert_int_equal(store_put(s, "n", json_incref(a), "no leader"), 0);
	assert_non_null(store_suspect(s, "n"));
	/* Confirmed by a healthy answer with the same data: a change. */
	assert_int_equal(store_put(s, "n", json_incref(a), NULL), 1);
	assert_null(store_suspect(s, "n"));
	assert_int_equal(store_put(s, "n", json_incref(a), NULL), 0);
	/* The same data becoming suspect again is a change too. */
	assert_int_equal(store_put(s, "n", json_incref(a), "x"), 1);
	json_decref(a);
	store_forget(s, "n");
	assert_null(store_suspect(s, "n"));
	assert_null(store_get(s, "n"));
	store_free(s);
}

static void test_nulls(void **state)
{
	struct store *s = store_new();

	(void)state;
	/* kv.get: a missing key is data (null), keyOrDefault can use it. */
	assert_int_equal(store_put(s, "kv.get(a)", json_null(), NULL), 1);
	assert_true(json_is_null(store_get(s, "kv.get(a)")));
	assert_int_equal(store_put(s, "kv.get(a)", json_null(), NULL), 0);
	/* kv.block: a missing key is no data, so `key` keeps waiting. */
	assert_int_equal(store_put(s, "kv.block(a)", json_null(), NULL), 0);
	assert_null(store_get(s, "kv.block(a)"));
	assert_int_equal(store_put(s, "kv.block(a)", json_string("v"), NULL),
	                 1);
	assert_string_equal(json_string_value(store_get(s, "kv.block(a)")),
	                    "v");
	/* Deleted again: a change, and back to no data. */
	assert_int_equal(store_put(s, "kv.block(a)", json_null(), NULL), 1);
	assert_null(store_get(s, "kv.block(a)"));
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_put_get),
	        cmocka_unit_test(test_nulls),
	        cmocka_unit_test(test_suspect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
