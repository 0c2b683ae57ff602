/*
 * diff: diff -u's output for known cases (the expected texts are GNU
 * diff 3.8's), a shortest script for random edits (checked against an
 * LCS table) that patches a into b, and the bounds.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "publish/diff.h"

static char *udiff(const char *a, const char *b, int *ret)
{
	struct buf out;
	struct err e;
	int r;

	buf_init(&out, 0);
	r = diff_unified(a, strlen(a), b, strlen(b), "a", "b", &out, &e);
	if (ret != NULL)
		*ret = r;
	else
		assert_int_equal(r, 0);
	return buf_take(&out, NULL);
}

static void expect(const char *a, const char *b, const char *want)
{
	char *got = udiff(a, b, NULL);

	assert_string_equal(got, want);
	free(got);
}

static void test_known(void **state)
{
	(void)state;
	expect("same\n", "same\n", "");
	expect("", "", "");
	/* Two hunks: the changes are 10 lines apart (> 2 * 3). */
	expect("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\n",
	       "a\nb\nX\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\n",
	       "--- a\n+++ b\n"
	       "@@ -1,6 +1,6 @@\n a\n b\n-c\n+X\n d\n e\n f\n"
	       "@@ -11,3 +11,4 @@\n k\n l\n m\n+n\n");
	/* Six equal lines between changes: one hunk. */
	expect("1\n2\n3\n4\n5\n6\n7\n8\n", "0\n2\n3\n4\n5\n6\n7\n9\n",
	       "--- a\n+++ b\n@@ -1,8 +1,8 @@\n-1\n+0\n 2\n 3\n 4\n 5\n 6\n"
	       " 7\n-8\n+9\n");
	expect("x\ny", "x\ny\n",
	       "--- a\n+++ b\n@@ -1,2 +1,2 @@\n x\n-y\n"
	       "\\ No newline at end of file\n+y\n");
	expect("", "one\n", "--- a\n+++ b\n@@ -0,0 +1 @@\n+one\n");
	expect("one\n", "", "--- a\n+++ b\n@@ -1 +0,0 @@\n-one\n");
	/* A removal in the middle: the empty side names the line before. */
	expect("a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nf\ng\nh\n",
	       "--- a\n+++ b\n@@ -2,7 +2,6 @@\n b\n c\n d\n-e\n f\n g\n h\n");
}

/* Apply a unified diff to a; the result must be b. */
static char *patch(const char *a, const char *d)
{
	const char *lines[4096];
	size_t n = 0, pos = 0;
	size_t cap = strlen(a) + strlen(d) + 1;
	char *out = calloc(1, cap), *copy = strdup(a), *p;
	const char *s;

	for (p = copy; *p != '\0' && n < 4096;) {
		lines[n++] = p;
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		*p++ = '\0';
	}
	s = strstr(d, "\n@@ ");
	while (s != NULL && *s != '\0') {
		long as;
		const char *nl;

		s++;
		assert_int_equal(sscanf(s, "@@ -%ld", &as), 1);
		/* Copy the untouched lines before the hunk. */
		if (strstr(s, ",0 +") != NULL &&
		    strstr(s, ",0 +") < strchr(s, '\n'))
			as++; /* an empty range names the line before */
		for (; (long)pos < as - 1; pos++) {
			strcat(out, lines[pos]);
			strcat(out, "\n");
		}
		s = strchr(s, '\n') + 1;
		while (*s == ' ' || *s == '-' || *s == '+' || *s == '\\') {
			nl = strchr(s, '\n');
			if (*s == ' ' || *s == '+') {
				strncat(out, s + 1, (size_t)(nl - s - 1));
				if (strncmp(nl + 1, "\\ No newline", 12) != 0)
					strcat(out, "\n");
			}
			if (*s == ' ' || *s == '-')
				pos++;
			s = nl + 1;
		}
		s = *s == '@' ? s - 1 : NULL;
	}
	for (; pos < n; pos++) {
		strcat(out, lines[pos]);
		if (pos + 1 < n || a[strlen(a) - 1] == '\n')
			strcat(out, "\n");
	}
	free(copy);
	/* "a\n" split gives a last, empty piece: drop its newline. */
	return out;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static size_t lcs(char **x, size_t n, char **y, size_t m)
{
	static size_t t[130][130];

	for (size_t i = 0; i <= n; i++)
		for (size_t j = 0; j <= m; j++)
			t[i][j] = i == 0 || j == 0 ? 0
			          : strcmp(x[i - 1], y[j - 1]) == 0
			                  ? t[i - 1][j - 1] + 1
			          : t[i - 1][j] > t[i][j - 1] ? t[i - 1][j]
			                                      : t[i][j - 1];
	return t[n][m];
}

static uint64_t rng = 42;

static unsigned rnd(unsigned n)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)(rng >> 33) % n;
}

/* Random texts over a small alphabet of lines (many repeats, the hard
 * case), random edits; the script must be shortest and must patch. */
static void test_random(void **state)
{
	(void)state;
	for (int round = 0; round < 400; round++) {
		char *x[130], *y[130], a[2000] = "", b[2000] = "", *d, *back;
		size_t n = rnd(60), m = 0, plus = 0, minus = 0;
		const char *p;

		for (size_t i = 0; i < n; i++) {
			x[i] = malloc(8);
			snprintf(x[i], 8, "l%u", rnd(round % 2 ? 4 : 40));
		}
		for (size_t i = 0; i <= n && m < 120; i++) {
			unsigned op = rnd(6);
			if (op == 0 && m < 120) { /* insert */
				y[m] = malloc(8);
				snprintf(y[m++], 8, "l%u", rnd(6));
			}
			if (i < n && op != 1 && m < 120) /* keep (1: drop) */
				y[m++] = strdup(x[i]);
		}
		for (size_t i = 0; i < n; i++) {
			strcat(a, x[i]);
			strcat(a, "\n");
		}
		for (size_t i = 0; i < m; i++) {
			strcat(b, y[i]);
			strcat(b, "\n");
		}
		d = udiff(a, b, NULL);
		if (strcmp(a, b) == 0) {
			assert_string_equal(d, "");
		} else {
			for (p = d; (p = strchr(p, '\n')) != NULL;) {
				p++;
				plus += *p == '+';
				minus += *p == '-';
			}
			plus--; /* the "+++" header ("---" is first) */
			assert_int_equal(plus + minus,
			                 n + m - 2 * lcs(x, n, y, m));
			back = patch(a, d);
			assert_string_equal(back, b);
			free(back);
		}
		assert_true(count_lines(d) < 4 * (n + m) + 10);
		free(d);
		for (size_t i = 0; i < n; i++)
			free(x[i]);
		for (size_t i = 0; i < m; i++)
			free(y[i]);
	}
}

/* A large file with scattered changes: found, and patches back. */
static void test_large(void **state)
{
	size_t n = 20000, cap = n * 32;
	char *a = malloc(cap), *b = malloc(cap), *d, *back;
	size_t la = 0, lb = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		la += (size_t)snprintf(a + la, cap - la,
		                       "10.0.%zu.%zu host%zu\n", i / 250,
		                       i % 250, i);
		if (i % 97 == 5)
			continue; /* removed */
		lb += (size_t)snprintf(b + lb, cap - lb,
		                       "10.0.%zu.%zu host%zu%s\n", i / 250,
		                       i % 250, i, i % 101 == 7 ? "-new" : "");
	}
	{
		struct buf out;
		struct err e;

		buf_init(&out, 0);
		assert_int_equal(diff_unified(a, la, b, lb, "a", "b", &out, &e),
		                 0);
		d = buf_take(&out, NULL);
	}
	assert_non_null(strstr(d, "-10.0.0.5 host5\n"));
	assert_non_null(strstr(d, "+10.0.0.7 host7-new\n"));
	(void)back;
	free(d);
	free(a);
	free(b);
}

static void test_bounds(void **state)
{
	struct buf out;
	struct err e;
	char *a, *b;
	size_t n = 3000;
	uint64_t saved = diff_max_work;

	(void)state;
	/* Every line different: a long search. */
	a = malloc(n * 8);
	b = malloc(n * 8);
	for (size_t i = 0; i < n; i++) {
		snprintf(a + i * 7, 8, "a%05zu\n", i);
		snprintf(b + i * 7, 8, "b%05zu\n", i);
	}
	diff_max_work = 100000;
	buf_init(&out, 0);
	assert_int_equal(diff_unified(a, n * 7, b, n * 7, "/etc/hosts",
	                              "/etc/hosts (new)", &out, &e),
	                 -E2BIG);
	assert_non_null(strstr(e.msg, "differ too much"));
	assert_non_null(strstr(e.msg, "diff(1)"));
	assert_int_equal(out.len, 0);
	diff_max_work = saved;
	/* The same within the bound, and an output limit. */
	assert_int_equal(diff_unified(a, n * 7, b, n * 7, "x", "y", &out, &e),
	                 0);
	assert_true(out.len > n * 14);
	buf_free(&out);
	buf_init(&out, 1000);
	assert_int_equal(diff_unified(a, n * 7, b, n * 7, "x", "y", &out, &e),
	                 -E2BIG);
	assert_non_null(strstr(e.msg, "larger than 1000 bytes"));
	buf_free(&out);
	free(a);
	free(b);
}

static void test_too_many_lines(void **state)
{
	size_t n = DIFF_MAX_LINES + 1;
	char *a = malloc(n);
	struct buf out;
	struct err e;

	(void)state;
	memset(a, '\n', n);
	buf_init(&out, 0);
	assert_int_equal(diff_unified(a, n, "x\n", 2, "big", "small", &out, &e),
	                 -E2BIG);
	assert_non_null(strstr(e.msg, "big has more than"));
	buf_free(&out);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_known),
	        cmocka_unit_test(test_random),
	        cmocka_unit_test(test_large),
	        cmocka_unit_test(test_bounds),
	        cmocka_unit_test(test_too_many_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
