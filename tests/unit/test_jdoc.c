/*
 * jdoc: the flat JSON parser against jansson, its reference: every text
 * below is accepted by one exactly when the other accepts it (jansson
 * with JSON_DECODE_ANY | JSON_ALLOW_NUL, as the decoders used it), to the
 * same value; the one difference is an integer beyond int64, which jdoc
 * reads as a real where jansson refuses it. Then navigation (jd_get,
 * jd_next, duplicate keys), error positions and the nesting bound.
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

#include <jansson.h>

#include "consul/jdoc.h"
#include "base/xmalloc.h"

/* Node i of d as a jansson value (objects keep the last duplicate). */
static json_t *to_json(const struct jdoc *d, size_t i)
{
	const struct jd_node *x = &d->nodes[i];
	json_t *out;
	size_t len = 0, m;
	const char *s;

	switch (jd_type(d, i)) {
	case JD_NULL:
		return json_null();
	case JD_TRUE:
		return json_true();
	case JD_FALSE:
		return json_false();
	case JD_INT:
		return json_integer(x->u.i);
	case JD_REAL:
		return json_real(x->u.d);
	case JD_STRING:
		s = jd_str(d, i, &len);
		return json_stringn_nocheck(s, len);
	case JD_ARRAY:
		out = json_array();
		m = i + 1;
		for (size_t k = 0; k < x->len; k++, m = jd_next(d, m))
			json_array_append_new(out, to_json(d, m));
		assert_int_equal(m, jd_next(d, i));
		return out;
	case JD_OBJECT:
		out = json_object();
		m = i + 1;
		for (size_t k = 0; k < x->len; k++) {
			s = jd_str(d, m, &len);
			assert_non_null(s);
			json_object_setn_new_nocheck(out, s, len,
			                             to_json(d, m + 1));
			m = jd_next(d, m + 1);
		}
		assert_int_equal(m, jd_next(d, i));
		return out;
	}
	fail_msg("bad node type");
	return NULL;
}

/* Parse text both ways: the same verdict and the same value. */
static void same_as_jansson(const char *text, size_t len)
{
	json_error_t je;
	json_t *ref =
	        json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	struct jdoc d;
	struct err e;
	int r;

	jd_init(&d);
	err_clear(&e);
	r = jd_parse(&d, text, len, &e);
	if (ref == NULL) {
		if (r == 0)
			fail_msg("jdoc accepts what jansson refuses (%s): %.*s",
			         je.text, (int)len, text);
		assert_int_equal(r, -EBADMSG);
		assert_non_null(strstr(e.msg, "invalid JSON: "));
		assert_true(e.line >= 1 && e.col >= 1);
	} else {
		json_t *mine;

		if (r != 0)
			fail_msg("jdoc refuses what jansson accepts (%s): "
			         "%.*s",
			         e.msg, (int)len, text);
		mine = to_json(&d, 0);
		if (!json_equal(mine, ref)) {
			char *a = json_dumps(mine, JSON_ENCODE_ANY);
			char *b = json_dumps(ref, JSON_ENCODE_ANY);

			fail_msg("%.*s: jdoc %s, jansson %s", (int)len, text, a,
			         b);
		}
		json_decref(mine);
		assert_int_equal(jd_next(&d, 0), d.n);
	}
	json_decref(ref);
	jd_free(&d);
}

static void test_like_jansson(void **state)
{
	static const char *const texts[] = {
	        "null",
	        "true",
	        "false",
	        "0",
	        "-0",
	        "1",
	        "-1",
	        "12345",
	        "9223372036854775807",
	        "-9223372036854775808",
	        "1.5",
	        "-1.5e3",
	        "1E+2",
	        "1e-2",
	        "0.000001",
	        "\"\"",
	        "\"a\"",
	        "[]",
	        "{}",
	        " [ 1 , 2 ,3 ] ",
	        "\t\r\n{\"a\" : [ {}, [], \"x\" ] }\n",
	        "{\"a\":{\"b\":{\"c\":[1,[2,[3]]]}}}",
	        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
	        "\"\\u0041\\u00e9\\u20ac\"",
	        "\"\\ud83d\\ude00\"",
	        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"",
	        "\"a\\u0000b\"",
	        "[\"\x7f\"]",
	        /* refused by both */
	        "",
	        " ",
	        "[",
	        "]",
	        "{",
	        "}",
	        "[1,]",
	        "[,1]",
	        "{\"a\"}",
	        "{\"a\":}",
	        "{\"a\":1,}",
	        "{1:2}",
	        "{'a':1}",
	        "[1 2]",
	        "01",
	        "-",
	        "1.",
	        ".5",
	        "1e",
	        "1e+",
	        "+1",
	        "0x10",
	        "NaN",
	        "Infinity",
	        "nul",
	        "tru",
	        "falsey",
	        "[true false]",
	        "\"abc",
	        "\"a\\x\"",
	        "\"\\u12\"",
	        "\"\\u12g4\"",
	        "\"\\ud800\"",
	        "\"\\udc00\"",
	        "\"\\ud800\\u0041\"",
	        "\"a\nb\"",
	        "\"a\tb\"",
	        "\"\x01\"",
	        "\"\xc3\"",
	        "\"\xc3\x28\"",
	        "\"\xc0\x80\"",
	        "\"\xed\xa0\x80\"",
	        "\"\xf4\x90\x80\x80\"",
	        "\"\xff\"",
	        "\"\x80\"",
	        "1 2",
	        "{} x",
	        "[1] ]",
	        "1e400",
	        "-1e400",
	        "[1e999]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		same_as_jansson(texts[i], strlen(texts[i]));
	/* A NUL byte of the text itself, not an escape: refused. */
	same_as_jansson("\"a\0b\"", 5);
	same_as_jansson("[1]\0", 4);
}

/* What jansson refuses as "too big" jdoc reads as a real (KV Flags are
 * uint64); both refuse a real beyond double. */
static void test_big_integers(void **state)
{
	struct jdoc d;
	struct err e;
	const char *text = "[18446744073709551615, -9223372036854775809, "
	                   "9223372036854775808]";

	(void)state;
	jd_init(&d);
	assert_int_equal(jd_parse(&d, text, strlen(text), &e), 0);
	assert_int_equal(jd_type(&d, 1), JD_REAL);
	assert_true(d.nodes[1].u.d == 18446744073709551615.0);
	assert_int_equal(jd_type(&d, 2), JD_REAL);
	assert_true(d.nodes[2].u.d == -9223372036854775809.0);
	assert_int_equal(jd_type(&d, 3), JD_REAL);
	jd_free(&d);
}

static void test_get_next(void **state)
{
	const char *text = "{\"a\": [1, {\"x\": 2}], \"b\": \"s\", \"a\": 7, "
	                   "\"c\": {}}";
	struct jdoc d;
	struct err e;
	size_t a, b, c, len;

	(void)state;
	jd_init(&d);
	assert_int_equal(jd_parse(&d, text, strlen(text), &e), 0);
	assert_int_equal(jd_type(&d, 0), JD_OBJECT);
	assert_int_equal(d.nodes[0].len, 4);
	/* The last of duplicate keys, as jansson keeps it. */
	a = jd_get(&d, 0, "a");
	assert_int_equal(jd_type(&d, a), JD_INT);
	assert_int_equal(d.nodes[a].u.i, 7);
	b = jd_get(&d, 0, "b");
	assert_string_equal(jd_str(&d, b, &len), "s");
	assert_int_equal(len, 1);
	c = jd_get(&d, 0, "c");
	assert_int_equal(jd_type(&d, c), JD_OBJECT);
	assert_int_equal(jd_next(&d, c), d.n);
	assert_int_equal(jd_get(&d, 0, "zz"), JD_NONE);
	assert_int_equal(jd_get(&d, b, "a"), JD_NONE); /* not an object */
	assert_int_equal(jd_get(&d, JD_NONE, "a"), JD_NONE);
	assert_null(jd_str(&d, a, &len));
	/* A parse replaces what d held. */
	assert_int_equal(jd_parse(&d, "[\"q\"]", 5, &e), 0);
	assert_int_equal(d.n, 2);
	assert_string_equal(jd_str(&d, 1, &len), "q");
	jd_free(&d);
}

static void test_errors(void **state)
{
	struct jdoc d;
	struct err e;

	(void)state;
	jd_init(&d);
	err_clear(&e);
	assert_int_equal(jd_parse(&d, "[1,\n  2,\n  x]", 13, &e), -EBADMSG);
	assert_int_equal(e.line, 3);
	assert_int_equal(e.col, 3);
	assert_string_equal(e.msg, "invalid JSON: unexpected character");
	assert_int_equal(d.n, 0);
	err_clear(&e);
	assert_int_equal(jd_parse(&d, "[\"a\nb\"]", 7, &e), -EBADMSG);
	assert_string_equal(e.msg,
	                    "invalid JSON: control character in a string");
	jd_free(&d);
}

/* JD_MAX_DEPTH levels parse; one more is refused, without recursion. */
static void test_depth(void **state)
{
	size_t n = JD_MAX_DEPTH + 1;
	char *text = xmalloc(2 * n + 1);
	struct jdoc d;
	struct err e;

	(void)state;
	for (size_t i = 0; i < n - 1; i++) {
		text[i] = '[';
		text[2 * (n - 1) - 1 - i] = ']';
	}
	jd_init(&d);
	assert_int_equal(jd_parse(&d, text, 2 * (n - 1), &e), 0);
	assert_int_equal(d.n, n - 1);
	for (size_t i = 0; i < n; i++) {
		text[i] = '[';
		text[2 * n - 1 - i] = ']';
	}
	assert_int_equal(jd_parse(&d, text, 2 * n, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "nesting"));
	jd_free(&d);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_like_jansson),
	        cmocka_unit_test(test_big_integers),
	        cmocka_unit_test(test_get_next),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_depth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
