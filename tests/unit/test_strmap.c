/* strmap: insertion, lookup, growth, clear; keys are borrowed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/strmap.h"

static void test_strmap(void **state)
{
	static char keys[5000][12];
	struct strmap m;
	struct strmap_slot *s;
	uint32_t v;
	bool fresh;

	(void)state;
	strmap_init(&m);
	assert_false(strmap_get(&m, "a", 1, &v));
	for (int i = 0; i < 5000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		s = strmap_put(&m, keys[i], strlen(keys[i]), (uint32_t)i,
		               &fresh);
		assert_true(fresh);
		assert_int_equal(s->value, i);
	}
	assert_int_equal(m.count, 5000);
	for (int i = 0; i < 5000; i++) {
		assert_true(strmap_get(&m, keys[i], strlen(keys[i]), &v));
		assert_int_equal(v, i);
	}
	/* A second put keeps the first value; the length is part of the key
	 * (no NUL needed). */
	s = strmap_put(&m, "k17", 3, 99, &fresh);
	assert_false(fresh);
	assert_int_equal(s->value, 17);
	assert_true(strmap_get(&m, "k1799", 2, &v));
	assert_int_equal(v, 1);
	assert_false(strmap_get(&m, "", 0, NULL));
	strmap_put(&m, "", 0, 7, NULL);
	assert_true(strmap_get(&m, "x", 0, &v));
	assert_int_equal(v, 7);
	strmap_clear(&m);
	assert_int_equal(m.count, 0);
	assert_false(strmap_get(&m, "k1", 2, NULL));
	strmap_free(&m);
	assert_int_equal(strmap_fnv1a(STRMAP_FNV_OFFSET, "a", 1),
	                 0xaf63dc4c8601ec8cull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_strmap)};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
