/* Unit tests for the hosts check and the managed block (hosts.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "hosts/hosts.h"

#define BEGIN HOSTS_BLOCK_BEGIN "\n"
#define END   HOSTS_BLOCK_END "\n"

static int check(const char *text, struct buf *out, json_t *problems,
                 json_t *names, struct hosts_stats *st)
{
	buf_reset(out);
	return hosts_check(text, strlen(text), false, out, problems, names, st);
}

static const char *problem_reason(json_t *problems, size_t i)
{
	return json_string_value(
	        json_object_get(json_array_get(problems, i), "reason"));
}

static json_int_t problem_line(json_t *problems, size_t i)
{
	return json_integer_value(
	        json_object_get(json_array_get(problems, i), "line"));
}

static void test_check_valid_kept_verbatim(void **state)
{
	const char *in = "# managed by consul-hosts\n"
	                 "\n"
	                 "10.0.0.1\tweb.service.consul web\n"
	                 "  2001:db8::1   api.service.consul # trailing\n"
	                 "\t\n"
	                 "127.0.0.1 localhost"; /* no final newline */
	struct hosts_stats st;
	struct buf out;
	json_t *problems = json_array();

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(check(in, &out, problems, NULL, &st), 0);
	assert_string_equal(buf_str(&out), in);
	assert_int_equal(st.lines, 6);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.duplicates, 0);
	assert_int_equal(json_array_size(problems), 0);
	json_decref(problems);
	buf_free(&out);
}

static void test_check_drops_injection(void **state)
{
	static const struct {
		const char *line;
		const char *reason;
	} bad[] = {
	        {"10.0.0.66:8080 web", "invalid address"},
	        {"evil.example web", "invalid address"},
	        {"$(reboot) web", "invalid address"},
	        {"10.0.0.7", "address without a name"},
	        {"10.0.0.7   # only a comment", "address without a name"},
	        {"10.0.0.8 web;rm -rf /", "invalid host name"},
	        {"10.0.0.8 caf\xc3\xa9", "invalid host name"},
	        {"10.0.0.8 -web", "invalid host name"},
	        {"127.0.0.1 loca#lhost", "'#' inside a field"},
	        {"10.0.0.9#x web", "'#' inside a field"},
	        {"10.0.0.9 web\r", "carriage return"},
	        {"10.0.0.9 we\x1b[2Jb", "control character"},
	        {"# comment with \x7f delete", "control character"},
	        {"fe80::1%eth0 zoned", "invalid address"},
	};
	struct buf in, out;
	struct hosts_stats st;
	json_t *problems = json_array();

	(void)state;
	buf_init(&in, 0);
	buf_init(&out, 0);
	buf_puts(&in, "10.0.0.1 good\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		buf_printf(&in, "%s\n", bad[i].line);
	/* A NUL inside a line (a node name from Consul with \u0000). */
	buf_append(&in, "10.0.0.10 a\0b\n", 14);
	buf_puts(&in, "10.0.0.2 good2\n");
	assert_int_equal(
	        hosts_check(in.data, in.len, false, &out, problems, NULL, &st),
	        0);
	assert_string_equal(buf_str(&out), "10.0.0.1 good\n10.0.0.2 good2\n");
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.dropped, sizeof(bad) / sizeof(bad[0]) + 1);
	assert_int_equal(json_array_size(problems), st.dropped);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_string_equal(problem_reason(problems, i), bad[i].reason);
		assert_int_equal(problem_line(problems, i), i + 2);
	}
	assert_string_equal(problem_reason(problems, st.dropped - 1),
	                    "NUL byte");
	/* The text is escaped: no raw control byte reaches a log line. */
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(problems, 11), "text")),
	                    "10.0.0.9 we\\x1b[2Jb");
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(problems, 10), "text")),
	                    "10.0.0.9 web\\r");
	/* With zones allowed the zoned line passes. */
	buf_reset(&out);
	assert_int_equal(hosts_check("fe80::1%eth0 zoned\n", 19, true, &out,
	                             NULL, NULL, &st),
	                 0);
	assert_int_equal(st.entries, 1);
	json_decref(problems);
	buf_free(&in);
	buf_free(&out);
}

static void test_check_duplicates(void **state)
{
	const char *in = "10.0.0.1 web api\n"
	                 "10.0.0.2 web\n"
	                 "10.0.0.1\tWEB   api\n" /* same entry */
	                 "10.0.0.1 api web\n"    /* other order: kept */
	                 "10.0.0.1 web api # again\n";
	struct hosts_stats st;
	struct buf out;
	json_t *problems = json_array(), *names = json_object();

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(check(in, &out, problems, names, &st), 0);
	assert_string_equal(buf_str(&out), "10.0.0.1 web api\n"
	                                   "10.0.0.2 web\n"
	                                   "10.0.0.1 api web\n");
	assert_int_equal(st.duplicates, 2);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(json_array_size(problems), 2);
	assert_string_equal(problem_reason(problems, 0), "duplicate of line 1");
	assert_int_equal(problem_line(problems, 1), 5);
	/* Names counted per kept entry, lower-cased. */
	assert_int_equal(json_integer_value(json_object_get(names, "web")), 3);
	assert_int_equal(json_integer_value(json_object_get(names, "api")), 2);
	json_decref(problems);
	json_decref(names);
	buf_free(&out);
}

static void test_check_limits(void **state)
{
	struct buf out, in;
	json_t *problems = json_array();
	struct hosts_stats st;

	(void)state;
	buf_init(&out, 16);
	assert_int_equal(
	        check("10.0.0.1 a-rather-long-name\n", &out, NULL, NULL, &st),
	        -E2BIG);
	buf_free(&out);
	/* Problems are capped, all are counted. */
	buf_init(&in, 0);
	buf_init(&out, 0);
	for (int i = 0; i < 500; i++)
		buf_puts(&in, "bad line\n");
	assert_int_equal(
	        hosts_check(in.data, in.len, false, &out, problems, NULL, &st),
	        0);
	assert_int_equal(st.dropped, 500);
	assert_int_equal(json_array_size(problems), HOSTS_MAX_PROBLEMS);
	assert_int_equal(out.len, 0);
	json_decref(problems);
	buf_free(&in);
	buf_free(&out);
}

/* The line records the guard and the ordering work on. */
static void test_doc(void **state)
{
	const char *in = "# c\n10.0.0.1  Web  api # x\nbad line\n"
	                 "10.0.0.1 web api\n\n::1 h";
	struct hosts_doc d;
	const struct hosts_line *l;

	(void)state;
	hosts_doc_init(&d, 0);
	assert_int_equal(hosts_doc_check(&d, in, strlen(in), false, NULL), 0);
	assert_int_equal(d.st.lines, 6);
	assert_int_equal(d.st.entries, 2);
	assert_int_equal(d.st.dropped, 1);
	assert_int_equal(d.st.duplicates, 1);
	assert_int_equal(d.nlines, 4); /* comment, entry, blank, entry */
	l = &d.lines[1];
	assert_true(l->entry);
	assert_int_equal(l->lineno, 2);
	assert_int_equal(l->src, 4);
	assert_memory_equal(d.text.data + l->off, "10.0.0.1  Web  api # x",
	                    l->len);
	assert_int_equal(l->key_len, strlen("10.0.0.1 web api"));
	assert_memory_equal(d.keys + l->key, "10.0.0.1 web api", l->key_len);
	assert_int_equal(l->addr_len, 8);
	assert_int_equal(hosts_doc_find(&d, "10.0.0.1 web api", 16), 1);
	assert_int_equal(hosts_doc_find(&d, "::1 h", 5), 3);
	assert_int_equal(hosts_doc_find(&d, "::1", 3), -1);
	assert_false(d.lines[0].entry || d.lines[2].entry);
	/* As text: every line kept, each non-comment line an entry. */
	assert_int_equal(hosts_doc_lines(&d, in, strlen(in)), 0);
	assert_int_equal(d.nlines, 6);
	assert_int_equal(d.st.entries, 4);
	assert_int_equal(hosts_doc_find(&d, "bad line", 8), 2);
	hosts_doc_free(&d);
}

static void test_escape(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(hosts_escape("a\"\\\n\t\x01\xff", 7, 100, &b), 0);
	assert_string_equal(buf_str(&b), "a\\\"\\\\\\n\\t\\x01\\xff");
	buf_reset(&b);
	assert_int_equal(hosts_escape("abcdef", 6, 3, &b), 0);
	assert_string_equal(buf_str(&b), "abc...");
	buf_free(&b);
}

static void random_text(struct buf *b, size_t n)
{
	static const char alpha[] = "ab #\t\r\n1.:ENDBEGINconsul-hosts";

	for (size_t i = 0; i < n; i++)
		buf_putc(b, alpha[(size_t)rand() % (sizeof(alpha) - 1)]);
}

static void test_splice_keeps_every_byte(void **state)
{
	static const char *suffixes[] = {"", "\n", "\r\n", "\nx y\n",
	                                 "\n\n# tail"};
	(void)state;
	srand(12345);
	for (int round = 0; round < 500; round++) {
		struct buf prefix, suffix, old, want, out;
		const char *block = round % 3 == 0 ? ""
		                    : round % 3 == 1
		                            ? "10.0.0.1 web\n"
		                            : "10.0.0.1 web"; /* no \n */
		const char *crlf = round % 2 ? "\r" : "";
		const char *why = NULL;

		buf_init(&prefix, 0);
		buf_init(&suffix, 0);
		buf_init(&old, 0);
		buf_init(&want, 0);
		buf_init(&out, 0);
		random_text(&prefix, (size_t)rand() % 200);
		if (prefix.len > 0)
			buf_putc(&prefix, '\n');
		/* The END line needs a terminator before any more text. */
		if (round % 5 != 0)
			random_text(&suffix, (size_t)rand() % 50);
		buf_printf(&old, "%s" HOSTS_BLOCK_BEGIN "%s\n10.9.9.9 old\n",
		           buf_str(&prefix), crlf);
		buf_printf(&old, HOSTS_BLOCK_END "%s%s", crlf,
		           suffixes[round % 5]);
		buf_append(&old, suffix.data, suffix.len);
		if (strstr(buf_str(&suffix), "BEGIN consul-hosts") != NULL ||
		    strstr(buf_str(&prefix), "END consul-hosts") != NULL)
			goto next;
		buf_printf(&want, "%s" HOSTS_BLOCK_BEGIN "%s\n%s%s",
		           buf_str(&prefix), crlf, block,
		           round % 3 == 2 ? "\n" : "");
		buf_printf(&want, HOSTS_BLOCK_END "%s%s", crlf,
		           suffixes[round % 5]);
		buf_append(&want, suffix.data, suffix.len);
		if (hosts_splice(old.data, old.len, block, strlen(block), &out,
		                 &why) != 0)
			fail_msg("round %d: %s in \"%s\"", round, why,
			         buf_str(&old));
		assert_int_equal(out.len, want.len);
		assert_memory_equal(out.data, want.data, want.len);
	next:
		buf_free(&prefix);
		buf_free(&suffix);
		buf_free(&old);
		buf_free(&want);
		buf_free(&out);
	}
}

static void test_splice_appends_without_markers(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 0);
	assert_int_equal(hosts_splice("127.0.0.1 localhost", 19, "10.0.0.1 a\n",
	                              11, &out, NULL),
	                 0);
	assert_string_equal(buf_str(&out),
	                    "127.0.0.1 localhost\n" BEGIN "10.0.0.1 a\n" END);
	/* Splicing again replaces the block instead of appending again. */
	{
		char *first = buf_take(&out, NULL);

		assert_int_equal(hosts_splice(first, strlen(first),
		                              "10.0.0.2 b\n", 11, &out, NULL),
		                 0);
		assert_string_equal(buf_str(&out), "127.0.0.1 localhost\n" BEGIN
		                                   "10.0.0.2 b\n" END);
		free(first);
	}
	buf_reset(&out);
	assert_int_equal(hosts_splice("", 0, "10.0.0.1 a\n", 11, &out, NULL),
	                 0);
	assert_string_equal(buf_str(&out), BEGIN "10.0.0.1 a\n" END);
	buf_reset(&out);
	assert_int_equal(hosts_splice("x\r\n", 3, "", 0, &out, NULL), 0);
	assert_string_equal(buf_str(&out), "x\r\n" BEGIN END);
	buf_free(&out);
}

static void test_splice_refuses_to_guess(void **state)
{
	static const char *bad[] = {
	        BEGIN "a\n" END BEGIN "b\n" END, /* two blocks */
	        BEGIN "a\n" BEGIN "b\n" END,     /* BEGIN twice */
	        BEGIN "a\n",                     /* no END */
	        "a\n" END,                       /* no BEGIN */
	        END "a\n" BEGIN,                 /* reversed */
	        "x\n" HOSTS_BLOCK_BEGIN,         /* BEGIN last, no newline */
	};
	struct buf out;
	const char *why;

	(void)state;
	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(hosts_splice(bad[i], strlen(bad[i]), "c\n", 2,
		                              &out, &why),
		                 -EINVAL);
		assert_non_null(why);
	}
	/* A marker in the rendered block would break the next splice. */
	assert_int_equal(
	        hosts_splice("", 0, "a\n" END, strlen("a\n" END), &out, &why),
	        -EINVAL);
	assert_non_null(strstr(why, "rendered block"));
	/* Markers that are not alone on their line are just text. */
	buf_reset(&out);
	assert_int_equal(hosts_splice("x " HOSTS_BLOCK_BEGIN "\n", 23, "", 0,
	                              &out, NULL),
	                 0);
	assert_string_equal(buf_str(&out),
	                    "x " HOSTS_BLOCK_BEGIN "\n" BEGIN END);
	buf_free(&out);
}

/*
 * hosts_doc_match() finds what hosts_doc_find() finds, for every line,
 * whatever the two docs have in common: the same lines, some added,
 * removed or moved, in any order (a render against the one before it,
 * and worse).
 */
static void test_doc_match(void **state)
{
	struct hosts_doc a, b;
	unsigned seed = 12345;

	(void)state;
	hosts_doc_init(&a, 0);
	hosts_doc_init(&b, 0);
	for (int round = 0; round < 300; round++) {
		struct buf ta, tb;
		int n = 1 + round % 40;
		long *at;

		buf_init(&ta, 0);
		buf_init(&tb, 0);
		for (int i = 0; i < n; i++) {
			/* a: lines 0..n-1 with comments between some */
			buf_printf(&ta, "10.0.0.%d h%d\n", i, i);
			if (i % 7 == 3)
				buf_puts(&ta, "# note\n");
		}
		for (int i = 0; i < n; i++) {
			/* b: most of a's lines, near their places */
			seed = seed * 1103515245u + 12345u;
			switch ((seed >> 16) % 8) {
			case 0: /* removed */
				break;
			case 1: /* one more */
				buf_printf(&tb, "10.0.1.%d new%d\n", i, i);
				buf_printf(&tb, "10.0.0.%d h%d\n", i, i);
				break;
			case 2: /* from elsewhere */
				buf_printf(&tb, "10.0.0.%d h%d\n",
				           (int)((seed >> 8) % (unsigned)n),
				           (int)((seed >> 8) % (unsigned)n));
				break;
			default:
				buf_printf(&tb, "10.0.0.%d h%d\n", i, i);
			}
		}
		assert_int_equal(
		        hosts_doc_check(&a, buf_str(&ta), ta.len, false, NULL),
		        0);
		assert_int_equal(
		        hosts_doc_check(&b, buf_str(&tb), tb.len, false, NULL),
		        0);
		at = calloc(a.nlines + 1, sizeof(*at));
		hosts_doc_match(&a, &b, at);
		for (size_t i = 0; i < a.nlines; i++) {
			const struct hosts_line *l = &a.lines[i];
			long want =
			        l->entry ? hosts_doc_find(&b, a.keys + l->key,
			                                  l->key_len)
			                 : -1;

			assert_int_equal(at[i], want);
		}
		free(at);
		at = calloc(b.nlines + 1, sizeof(*at));
		hosts_doc_match(&b, &a, at);
		for (size_t i = 0; i < b.nlines; i++) {
			const struct hosts_line *l = &b.lines[i];
			long want =
			        l->entry ? hosts_doc_find(&a, b.keys + l->key,
			                                  l->key_len)
			                 : -1;

			assert_int_equal(at[i], want);
		}
		free(at);
		buf_free(&ta);
		buf_free(&tb);
	}
	hosts_doc_free(&a);
	hosts_doc_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_check_valid_kept_verbatim),
	        cmocka_unit_test(test_check_drops_injection),
	        cmocka_unit_test(test_check_duplicates),
	        cmocka_unit_test(test_check_limits),
	        cmocka_unit_test(test_doc),
	        cmocka_unit_test(test_doc_match),
	        cmocka_unit_test(test_escape),
	        cmocka_unit_test(test_splice_keeps_every_byte),
	        cmocka_unit_test(test_splice_appends_without_markers),
	        cmocka_unit_test(test_splice_refuses_to_guess),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
