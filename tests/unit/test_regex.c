/*
 * regex: Go's regexp syntax and semantics over PCRE2. Expected values are
 * Go 1.19 regexp's (MatchString, ReplaceAllString, Compile's errors); the
 * golden cases regex-* run the same through templates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "template/regexp.h"

static bool match(const char *pat, const char *s, size_t n)
{
	struct regex *re;
	struct err e;
	bool m = false;

	err_clear(&e);
	assert_int_equal(regex_compile(pat, strlen(pat), &re, &e), 0);
	assert_int_equal(regex_match(re, s, n, &m, &e), 0);
	regex_free(re);
	return m;
}

static void check_replace(const char *pat, const char *s, const char *repl,
                          const char *want)
{
	struct regex *re;
	struct err e;
	struct buf b;

	err_clear(&e);
	buf_init(&b, 0);
	assert_int_equal(regex_compile(pat, strlen(pat), &re, &e), 0);
	assert_int_equal(
	        regex_replace_all(re, s, strlen(s), repl, strlen(repl), &b, &e),
	        0);
	assert_string_equal(buf_str(&b), want);
	buf_free(&b);
	regex_free(re);
}

static void check_error(const char *pat, const char *want)
{
	struct regex *re = NULL;
	struct err e;

	err_clear(&e);
	assert_int_equal(regex_compile(pat, strlen(pat), &re, &e), -EINVAL);
	assert_null(re);
	assert_string_equal(e.msg, want);
}

static void test_syntax(void **state)
{
	(void)state;
	/* Go's \s has no \v; PCRE2's has */
	assert_false(match("\\s", "a\vb", 3));
	assert_true(match("[[:space:]]", "a\vb", 3));
	assert_true(match("\\v", "\v", 1));
	/* $ is the end of the text, not before a final newline */
	assert_false(match("a$", "a\n", 2));
	assert_true(match("(?m)a$", "a\n", 2));
	/* a '{' that starts no repeat is a literal */
	assert_true(match("a{,2}", "a{,2}", 5));
	assert_true(match("x{01}", "x{01}", 5));
	/* octal escapes, not backreferences */
	assert_true(match("\\101", "A", 1));
	/* the subject may hold NUL bytes */
	assert_true(match("b$", "a\0b", 3));
	check_replace("(?m)^", "a\nb\n", "^", "^a\n^b\n^");
	check_replace("a*", "baac", "-", "-b-c-");
	check_replace("x*", "", "-", "-");
	check_replace("(a)", "a", "$1x", "");
	check_replace("(a)", "a", "${1}x", "ax");
	check_replace("(a)", "a", "$$1", "$1");
	check_replace("(a)", "a", "${1", "${1");
	check_replace("(?P<n>a)|(?P<n>b)", "ab", "[$n]", "[a][b]");
	check_replace("é+", "ééa", "<$0>", "<éé>a");
}

static void test_errors(void **state)
{
	(void)state;
	check_error("(a)\\1",
	            "error parsing regexp: invalid escape sequence: `\\1`");
	check_error("(?<=a)b",
	            "error parsing regexp: invalid named capture: `(?<=a)b`");
	check_error("(?>a)", "error parsing regexp: invalid or unsupported "
	                     "Perl syntax: `(?>`");
	check_error("a++", "error parsing regexp: invalid nested repetition "
	                   "operator: `++`");
	check_error("x{1001}",
	            "error parsing regexp: invalid repeat count: `{1001}`");
	check_error("(a{500}){3}",
	            "error parsing regexp: invalid repeat count: `{3}`");
	check_error("a)", "error parsing regexp: unexpected ): `a)`");
	check_error("[z-a]",
	            "error parsing regexp: invalid character class range: "
	            "`z-a`");
	check_error("\\C", "error parsing regexp: invalid escape sequence: "
	                   "`\\C`");
	check_error("a\\", "error parsing regexp: trailing backslash at end "
	                   "of expression: ``");
	check_error("\xff", "error parsing regexp: invalid UTF-8: `\xff`");
}

/* A pattern that backtracks without end fails fast, with an error. */
static void test_limits(void **state)
{
	char s[64];
	struct regex *re;
	struct err e;
	struct timespec t0, t1;
	bool m;

	(void)state;
	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 2] = 'b';
	s[sizeof(s) - 1] = '\0';
	err_clear(&e);
	assert_int_equal(regex_compile("(a+)+$", 6, &re, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(regex_match(re, s, strlen(s), &m, &e), -ERANGE);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_non_null(strstr(e.msg, "match limit"));
	/* generous: valgrind is ~50x slower than the ~20 ms it takes */
	assert_true(t1.tv_sec - t0.tv_sec < 60);
	regex_free(re);
}

/* Invalid UTF-8 in the text is matched, never an error (KV values). */
static void test_invalid_utf8_text(void **state)
{
	(void)state;
	assert_true(match("b",
	                  "a\xff"
	                  "b",
	                  3));
	check_replace("b",
	              "a\xff"
	              "bc",
	              "X",
	              "a\xff"
	              "Xc");
}

static void test_cache(void **state)
{
	struct regex *a, *b;
	struct err e;
	char pat[16];

	(void)state;
	err_clear(&e);
	assert_int_equal(regex_get("w+", 2, &a, &e), 0);
	assert_int_equal(regex_get("w+", 2, &b, &e), 0);
	assert_ptr_equal(a, b); /* compiled once */
	/* more patterns than slots: the oldest are evicted, all still work */
	for (int i = 0; i < 200; i++) {
		bool m;

		snprintf(pat, sizeof(pat), "^x%d$", i);
		assert_int_equal(regex_get(pat, strlen(pat), &a, &e), 0);
		snprintf(pat, sizeof(pat), "x%d", i);
		assert_int_equal(regex_match(a, pat, strlen(pat), &m, &e), 0);
		assert_true(m);
	}
	assert_int_equal(regex_get("(", 1, &a, &e), -EINVAL);
	regex_cache_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_syntax),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_invalid_utf8_text),
	        cmocka_unit_test(test_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
