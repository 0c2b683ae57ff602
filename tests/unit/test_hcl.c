/* Unit tests for the HCL/JSON reader: values, blocks, positions, errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/err.h"
#include "config/hcl.h"

struct parsed {
	json_t *tree;
	struct hcl_pos *pos;
};

static struct parsed parse_ok(const char *text)
{
	struct parsed p = {NULL, NULL};
	struct err e;
	int r;

	err_clear(&e);
	r = hcl_parse("t.hcl", text, strlen(text), &p.tree, &p.pos, &e);
	if (r != 0)
		fail_msg("parse failed: %d:%d: %s", e.line, e.col, e.msg);
	return p;
}

static void parsed_free(struct parsed *p)
{
	json_decref(p->tree);
	hcl_pos_free(p->pos);
}

/* Parse text and compare its tree with the JSON in want. */
static void assert_tree(const char *text, const char *want)
{
	struct parsed p = parse_ok(text);
	json_t *w = json_loads(want, 0, NULL);

	assert_non_null(w);
	if (!json_equal(p.tree, w)) {
		char *got = json_dumps(p.tree, JSON_SORT_KEYS);

		fail_msg("got %s, want %s", got, want);
	}
	json_decref(w);
	parsed_free(&p);
}

/* Parse text, expect failure "line:col: msg". */
static void assert_error(const char *text, const char *want)
{
	json_t *tree = NULL;
	struct hcl_pos *pos = NULL;
	struct err e;
	char got[700];

	err_clear(&e);
	assert_int_equal(
	        hcl_parse("t.hcl", text, strlen(text), &tree, &pos, &e),
	        -EINVAL);
	assert_null(tree);
	assert_null(pos);
	assert_string_equal(e.file, "t.hcl");
	snprintf(got, sizeof(got), "%d:%d: %s", e.line, e.col, e.msg);
	assert_string_equal(got, want);
}

static void test_hcl_values(void **state)
{
	(void)state;
	assert_tree("a = \"x\"\nb = 42\nc = true\nd = false\ne = 1.5\n"
	            "f = -3\ng = 0644\nh = 0x1F\ni = [1, \"two\", [3],]\n",
	            "{\"a\":\"x\",\"b\":42,\"c\":true,\"d\":false,\"e\":1.5,"
	            "\"f\":-3,\"g\":420,\"h\":31,\"i\":[1,\"two\",[3]]}");
	assert_tree("", "{}");
	assert_tree("# only a comment\n// another\n/* and\n a block */\n",
	            "{}");
	assert_tree("x = 1e3", "{\"x\":1000.0}");
	assert_tree("x = 0", "{\"x\":0}");
}

static void test_hcl_strings(void **state)
{
	(void)state;
	assert_tree("s = \"a\\tb\\nc\\\"d\\\\e\\u00e9\\U0001F600\"",
	            "{\"s\":\"a\\tb\\nc\\\"d\\\\e\\u00e9\\ud83d\\ude00\"}");
	/* Interpolations stay literal, nested quotes included. */
	assert_tree("s = \"${env(\"HOME\")}/x\"",
	            "{\"s\":\"${env(\\\"HOME\\\")}/x\"}");
	assert_tree("s = \"{{ key \\\"a\\\" }}\"",
	            "{\"s\":\"{{ key \\\"a\\\" }}\"}");
}

static void test_hcl_heredoc(void **state)
{
	(void)state;
	assert_tree("s = <<EOF\nline 1\n  line 2\nEOF\nt = 1\n",
	            "{\"s\":\"line 1\\n  line 2\\n\",\"t\":1}");
	assert_tree("s = <<-EOT\n    a\n      b\n\n    c\n    EOT\n",
	            "{\"s\":\"a\\n  b\\n\\nc\\n\"}");
	assert_tree("s = <<EOF\nEOF\n", "{\"s\":\"\"}");
	/* Without "-", an indented marker does not end the heredoc. */
	assert_tree("s = <<EOF\n  EOF\nEOF", "{\"s\":\"  EOF\\n\"}");
}

static void test_hcl_blocks(void **state)
{
	(void)state;
	assert_tree("consul { address = \"a\"\n ssl { enabled = true } }",
	            "{\"consul\":{\"address\":\"a\","
	            "\"ssl\":{\"enabled\":true}}}");
	assert_tree("consul = { address = \"a\" }",
	            "{\"consul\":{\"address\":\"a\"}}");
	/* A repeated block becomes a list, in order. */
	assert_tree("template { a = 1 }\ntemplate { a = 2 }\n"
	            "template { a = 3 }\n",
	            "{\"template\":[{\"a\":1},{\"a\":2},{\"a\":3}]}");
	/* A repeated assignment replaces. */
	assert_tree("a = 1\na = 2", "{\"a\":2}");
	assert_tree("x = { a = 1 }\nx = { a = 2 }", "{\"x\":{\"a\":2}}");
	assert_tree("\"quoted key\" = 1", "{\"quoted key\":1}");
}

static void test_hcl_json(void **state)
{
	(void)state;
	assert_tree("{\"a\": {\"b\": [1, 2.5, null, \"\\u00e9\"]}, "
	            "\"t\": [{\"x\": true}]}",
	            "{\"a\":{\"b\":[1,2.5,null,\"\\u00e9\"]},"
	            "\"t\":[{\"x\":true}]}");
	assert_tree("\xef\xbb\xbf{}", "{}");
}

static void test_hcl_positions(void **state)
{
	struct parsed p;
	struct hcl_loc k, v;
	json_t *tmpl;

	(void)state;
	p = parse_ok("a = 1\n\ntemplate {\n\tsource = \"x\"\n}\n"
	             "template {\n  dest  =  \"y\"\n}\n");
	assert_true(hcl_pos_key(p.pos, p.tree, "a", &k, &v));
	assert_int_equal(k.line, 1);
	assert_int_equal(k.col, 1);
	assert_int_equal(v.col, 5);
	tmpl = json_object_get(p.tree, "template");
	assert_true(json_is_array(tmpl));
	assert_true(hcl_pos_index(p.pos, tmpl, 0, &k));
	assert_int_equal(k.line, 3);
	assert_true(hcl_pos_index(p.pos, tmpl, 1, &k));
	assert_int_equal(k.line, 6);
	assert_true(
	        hcl_pos_key(p.pos, json_array_get(tmpl, 0), "source", &k, &v));
	assert_int_equal(k.line, 4);
	assert_int_equal(k.col, 2); /* a tab is one column */
	assert_int_equal(v.col, 11);
	assert_true(
	        hcl_pos_key(p.pos, json_array_get(tmpl, 1), "dest", &k, &v));
	assert_int_equal(k.line, 7);
	assert_int_equal(k.col, 3);
	assert_int_equal(v.col, 12);
	assert_false(hcl_pos_key(p.pos, p.tree, "nope", &k, &v));
	assert_int_equal(k.line, 0);
	assert_false(hcl_pos_key(NULL, p.tree, "a", &k, NULL));
	parsed_free(&p);

	/* Lines after a heredoc and a block comment are counted. */
	p = parse_ok("s = <<EOF\na\nb\nEOF\n/*\n\n*/ x = 1\n");
	assert_true(hcl_pos_key(p.pos, p.tree, "x", &k, NULL));
	assert_int_equal(k.line, 7);
	assert_int_equal(k.col, 4);
	parsed_free(&p);
}

static void test_hcl_errors(void **state)
{
	(void)state;
	assert_error("a = \"x", "1:5: unterminated string");
	assert_error("a = \"x\ny\"", "1:5: unterminated string");
	assert_error("\n  a = <<EOF\nbody\n", "2:7: unterminated heredoc");
	assert_error("a = <<\nx\n", "1:7: expected a heredoc marker like EOF, "
	                            "got newline");
	assert_error("t {\n a = 1\n",
	             "1:3: unterminated block (missing \"}\")");
	assert_error("a = 1 }", "1:7: expected a key, got \"}\"");
	assert_error("a 1", "1:3: expected \"=\" or \"{\" after the key, got "
	                    "\"1\"");
	assert_error("a = ", "1:5: expected a value, got end of file");
	assert_error("a = yes", "1:5: expected a value (strings need double "
	                        "quotes)");
	assert_error("a = 09", "1:5: invalid number \"09\"");
	assert_error("a = 1x", "1:5: invalid number \"1x\"");
	assert_error("a = 99999999999999999999", "1:5: number out of range");
	assert_error("a = \"\\q\"", "1:6: unknown escape sequence");
	assert_error("a = \"\\u0000\"", "1:6: NUL character in string");
	assert_error("a = \"\\ud800\"", "1:6: unpaired UTF-16 surrogate in "
	                                "\\u escape");
	assert_error("a = \"\xff\"", "1:5: string is not valid UTF-8");
	assert_error("a = [1 2]", "1:8: expected \",\" or \"]\" in list, got "
	                          "\"2\"");
	assert_error("a = [1,", "1:5: unterminated list");
	assert_error("/* open", "1:1: unterminated /* comment");
	assert_error("template \"x\" { }", "1:10: block labels are not "
	                                   "supported");
	assert_error("{\"a\": 1} x", "1:10: expected end of file after the "
	                             "object, got \"x\"");
	assert_error("a = \"${x\"", "1:6: unterminated ${ interpolation");
}

static void test_hcl_limits(void **state)
{
	char deep[200];
	size_t n = 0;
	json_t *tree;
	struct hcl_pos *pos;
	struct err e;
	char *big;

	(void)state;
	n += (size_t)snprintf(deep + n, sizeof(deep) - n, "a = ");
	for (int i = 0; i < HCL_MAX_DEPTH + 1; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	assert_int_equal(hcl_parse("t", deep, n, &tree, &pos, &e), -EINVAL);
	assert_string_equal(e.msg, "nesting deeper than 32 levels");

	big = calloc(1, HCL_MAX_INPUT + 1);
	memset(big, ' ', HCL_MAX_INPUT + 1);
	assert_int_equal(
	        hcl_parse("t", big, HCL_MAX_INPUT + 1, &tree, &pos, &e),
	        -E2BIG);
	/* Exactly at the limit is fine. */
	assert_int_equal(hcl_parse("t", big, HCL_MAX_INPUT, &tree, &pos, &e),
	                 0);
	json_decref(tree);
	hcl_pos_free(pos);
	free(big);
	assert_null(hcl_pos_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hcl_values),
	        cmocka_unit_test(test_hcl_strings),
	        cmocka_unit_test(test_hcl_heredoc),
	        cmocka_unit_test(test_hcl_blocks),
	        cmocka_unit_test(test_hcl_json),
	        cmocka_unit_test(test_hcl_positions),
	        cmocka_unit_test(test_hcl_errors),
	        cmocka_unit_test(test_hcl_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
