/* Unit tests for Go-style duration parsing and formatting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/duration.h"

static uint64_t parse_ok(const char *s)
{
	uint64_t ms = UINT64_MAX;

	assert_int_equal(duration_parse(s, &ms), 0);
	return ms;
}

static void test_duration_parse_good(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("0"), 0);
	assert_int_equal(parse_ok("0s"), 0);
	assert_int_equal(parse_ok("250ms"), 250);
	assert_int_equal(parse_ok("5s"), 5000);
	assert_int_equal(parse_ok("1m30s"), 90000);
	assert_int_equal(parse_ok("1h"), 3600000);
	assert_int_equal(parse_ok("1.5s"), 1500);
	assert_int_equal(parse_ok("1.5h"), 5400000);
	assert_int_equal(parse_ok(".5s"), 500);
	assert_int_equal(parse_ok("2h45m10s100ms"), 9910100);
	assert_int_equal(parse_ok("+3s"), 3000);
	assert_int_equal(parse_ok("1000000ns"), 1);
	assert_int_equal(parse_ok("1000us"), 1);
	assert_int_equal(parse_ok("1000\xc2\xb5s"), 1);
	/* Sub-millisecond rounds up, never to "off". */
	assert_int_equal(parse_ok("1ns"), 1);
	assert_int_equal(parse_ok("500us"), 1);
	assert_int_equal(parse_ok("1500us"), 2);
}

static void test_duration_parse_bad(void **state)
{
	static const char *const bad[] = {
	        "",   "5",   "s",      "-5s", "5x", "5 s",    " 5s",  "5s ",
	        "1.", "..s", "1.2.3s", "5S",  "ms", "1m 30s", "0x5s", "NaN",
	};
	uint64_t ms = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int r = duration_parse(bad[i], &ms);

		if (r != -EINVAL)
			fail_msg("\"%s\" gave %d", bad[i], r);
	}
	assert_int_equal(ms, 42); /* untouched on failure */
	assert_int_equal(duration_parse(NULL, &ms), -EINVAL);
}

static void test_duration_parse_range(void **state)
{
	uint64_t ms;

	(void)state;
	assert_int_equal(duration_parse("99999999999999999999h", &ms), -ERANGE);
	assert_int_equal(duration_parse("100000h", &ms), -ERANGE);
	assert_int_equal(duration_parse("87000h1h", &ms), 0);
	assert_int_equal(duration_parse("87840h", &ms), 0);
	assert_int_equal(ms, DURATION_MAX_MS);
	assert_int_equal(duration_parse("87840h1ms", &ms), -ERANGE);
}

static void test_duration_format(void **state)
{
	static const struct {
		uint64_t ms;
		const char *s;
	} cases[] = {
	        {0, "0s"},           {1, "1ms"},
	        {250, "250ms"},      {1000, "1s"},
	        {1500, "1.5s"},      {1250, "1.25s"},
	        {60000, "1m0s"},     {90000, "1m30s"},
	        {3600000, "1h0m0s"}, {3661001, "1h1m1.001s"},
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		uint64_t back;

		assert_string_equal(
		        duration_format(cases[i].ms, buf, sizeof(buf)),
		        cases[i].s);
		/* What we print, we read back. */
		assert_int_equal(duration_parse(buf, &back), 0);
		assert_int_equal(back, cases[i].ms);
	}
	assert_string_equal(duration_format(DURATION_MAX_MS, buf, sizeof(buf)),
	                    "87840h0m0s");
}

/* Go's strconv.ParseBool, the one parser of booleans as text. */
static void test_go_parse_bool(void **state)
{
	static const char *const yes[] = {"1",    "t",    "T",
	                                  "TRUE", "true", "True"};
	static const char *const no[] = {"0",     "f",     "F",
	                                 "FALSE", "false", "False"};
	static const char *const bad[] = {"", "yes", "tRUE", "2", " true"};
	bool b;

	(void)state;
	for (size_t i = 0; i < 6; i++) {
		b = false;
		assert_int_equal(go_parse_bool(yes[i], &b), 0);
		assert_true(b);
		assert_int_equal(go_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(go_parse_bool(bad[i], &b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_duration_parse_good),
	        cmocka_unit_test(test_duration_parse_bad),
	        cmocka_unit_test(test_duration_parse_range),
	        cmocka_unit_test(test_duration_format),
	        cmocka_unit_test(test_go_parse_bool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
