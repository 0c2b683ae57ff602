/*
 * Template engine unit tests: what golden files cannot express well
 * (limits, hostile nesting, custom delimiters, NUL bytes, reuse of a
 * parsed template, performance over a large catalog).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "template/funcs.h"
#include "template/template.h"
#include "base/xmalloc.h"

static const struct tmpl_env plain_env = {0};

/* Parse and render src over dot; returns the rc, output in out. */
static int render_opts(const char *src, size_t len, json_t *dot,
                       const struct tmpl_opts *opts, const struct tmpl_env *env,
                       struct buf *out, struct err *e)
{
	struct tmpl *t = NULL;
	int r;

	err_clear(e);
	buf_init(out, 0);
	r = tmpl_parse(src, len, opts, &t, e);
	if (r == 0)
		r = tmpl_render_dot(t, env, dot, out, e);
	tmpl_free(t);
	return r;
}

static void expect_out(const char *src, json_t *dot, const char *want)
{
	struct tmpl_opts opts = {.name = "t"};
	struct buf out;
	struct err e;
	char msg[800];
	int r = render_opts(src, strlen(src), dot, &opts, &plain_env, &out, &e);

	if (r != 0)
		fail_msg("%s: %s", src, err_format(&e, msg, sizeof(msg)));
	assert_string_equal(buf_str(&out), want);
	buf_free(&out);
}

static void expect_err(const char *src, json_t *dot, const struct tmpl_env *env,
                       const char *want)
{
	struct tmpl_opts opts = {.name = "t"};
	struct buf out;
	struct err e;
	char msg[800];
	int r = render_opts(src, strlen(src), dot, &opts,
	                    env != NULL ? env : &plain_env, &out, &e);

	assert_true(r < 0);
	assert_string_equal(err_format(&e, msg, sizeof(msg)), want);
	buf_free(&out);
}

static void test_null_safe(void **state)
{
	(void)state;
	assert_null(tmpl_free(NULL));
	assert_non_null(func_lookup("printf"));
	assert_null(func_lookup("nosuchfunction"));
	assert_non_null(func_lookup("service")); /* the Consul table */
}

static void test_custom_delims(void **state)
{
	struct tmpl_opts opts = {
	        .name = "d", .left_delim = "[[", .right_delim = "]]"};
	json_t *dot = json_pack("{s:s}", "a", "x");
	struct buf out;
	struct err e;

	(void)state;
	assert_int_equal(render_opts("{{ .a }} [[ .a ]] [[- \" y \" -]] z", 34,
	                             dot, &opts, &plain_env, &out, &e),
	                 0);
	assert_string_equal(buf_str(&out), "{{ .a }} x y z");
	buf_free(&out);
	/* a right delimiter that starts like the trim marker */
	opts.left_delim = "<%";
	opts.right_delim = "%>";
	assert_int_equal(render_opts("<% .a %>|<%- .a -%>|", 20, dot, &opts,
	                             &plain_env, &out, &e),
	                 0);
	assert_string_equal(buf_str(&out), "x|x|");
	buf_free(&out);
	json_decref(dot);
}

static void test_define_template_block(void **state)
{
	json_t *dot = json_pack("{s:s,s:[i,i]}", "n", "web", "l", 1, 2);

	(void)state;
	expect_out("{{ define \"row\" }}<{{ . }}>{{ end }}"
	           "{{ range .l }}{{ template \"row\" . }}{{ end }}"
	           "{{ template \"row\" }}",
	           dot, "<1><2><<no value>>");
	expect_out("{{ block \"b\" .n }}[{{ . }}]{{ end }}|"
	           "{{ template \"b\" \"x\" }}",
	           dot, "[web]|[x]");
	/* a definition does not see the caller's variables */
	expect_err("{{ define \"v\" }}{{ $x }}{{ end }}{{ $x := 1 }}", dot,
	           NULL, "t:1:20: undefined variable \"$x\"");
	/* recursion is bounded by the depth limit */
	expect_err("{{ define \"r\" }}{{ template \"r\" . }}{{ end }}"
	           "{{ template \"r\" . }}",
	           dot, NULL, "t:1:33: exceeded maximum template depth (100)");
	json_decref(dot);
}

static void test_nul_in_strings(void **state)
{
	json_t *dot = json_object();
	struct tmpl_opts opts = {.name = "t"};
	struct buf out;
	struct err e;
	static const char src[] = "{{ .s }}|{{ len .s }}|{{ \"a\\x00b\" }}";

	(void)state;
	json_object_set_new(dot, "s", json_stringn("x\0y", 3));
	assert_int_equal(render_opts(src, sizeof(src) - 1, dot, &opts,
	                             &plain_env, &out, &e),
	                 0);
	assert_int_equal(out.len, 9);
	assert_memory_equal(out.data, "x\0y|3|a\0b", 9);
	buf_free(&out);
	json_decref(dot);
}

static void test_limits(void **state)
{
	struct tmpl_env env = {0};
	json_t *dot = json_pack("{s:s}", "s", "0123456789");
	struct tmpl_opts opts = {.name = "t"};
	struct buf out;
	struct err e;
	char msg[400];
	const char *loop10 = "{{ range loop 10 }}{{ $.s }}{{ end }}";

	(void)state;
	env.limits.max_output = 25;
	assert_int_equal(
	        render_opts(loop10, strlen(loop10), dot, &opts, &env, &out, &e),
	        -E2BIG);
	assert_string_equal(err_format(&e, msg, sizeof(msg)),
	                    "t:1:23: output exceeds the limit of 25 bytes");
	assert_true(out.len <= 25);
	buf_free(&out);

	env.limits.max_output = 0;
	env.limits.max_steps = 100;
	expect_err("{{ range loop 60 }}{{ . }}{{ . }}{{ end }}", dot, &env,
	           "t:1:4: template exceeded the limit of 100 steps");
	env.limits.max_steps = 0;
	env.limits.max_depth = 3;
	expect_err("{{ if 1 }}{{ if 1 }}{{ if 1 }}x{{ end }}{{ end }}{{ end }}",
	           dot, &env, "t:1:27: exceeded maximum template depth (3)");
	expect_err("{{ len (len (len (len .s))) }}", dot, &env,
	           "t:1:19: exceeded maximum template depth (3)");
	/* a function result is bounded by max_output too */
	env.limits.max_depth = 0;
	env.limits.max_output = 50;
	expect_err("{{ $x := printf \"%060d\" 1 }}", dot, &env,
	           "t:1:10: error calling printf: result exceeds 50 bytes");
	json_decref(dot);
}

static void test_hostile_nesting(void **state)
{
	struct tmpl_opts opts = {.name = "deep"};
	struct tmpl *t = NULL;
	struct err e;
	char msg[400];
	size_t n = 100000, i;
	char *src = xmalloc(n * 2 + 10);

	(void)state;
	/* parentheses */
	for (i = 0; i < n; i++)
		src[i] = '(';
	memcpy(src, "{{", 2);
	assert_true(tmpl_parse(src, n, &opts, &t, &e) < 0);
	assert_null(t);
	assert_non_null(strstr(err_format(&e, msg, sizeof(msg)),
	                       "max expression depth exceeded"));
	/* blocks */
	for (i = 0; i + 8 < n; i += 8)
		memcpy(src + i, "{{if 1}}", 8);
	assert_true(tmpl_parse(src, i, &opts, &t, &e) < 0);
	assert_non_null(strstr(err_format(&e, msg, sizeof(msg)),
	                       "max expression depth exceeded"));
	free(src);
}

/*
 * Long else-if / else-with chains: Go accepts any length, so a chain is
 * one level of nesting in the parser and the evaluator, while real
 * nesting stays bounded (test_hostile_nesting, test_limits).
 */
/* {{if pre 0 post}}arm 0{{else if pre 1 post}}arm 1...{{else}}none{{end}} */
static char *else_chain(const char *kw, size_t arms, const char *pre,
                        const char *post)
{
	struct buf b;
	size_t i;

	buf_init(&b, 0);
	for (i = 0; i < arms; i++) {
		char arm[160];

		snprintf(arm, sizeof(arm), "{{%s%s ", i ? "else " : "", kw);
		buf_puts(&b, arm);
		snprintf(arm, sizeof(arm), "%s%zu%s", pre, i, post);
		buf_puts(&b, arm);
		snprintf(arm, sizeof(arm), "}}arm %zu", i);
		buf_puts(&b, arm);
	}
	buf_puts(&b, "{{else}}none{{end}}");
	return buf_take(&b, NULL);
}

static void test_long_else_if_chain(void **state)
{
	json_t *dot = json_pack("{s:i,s:i}", "n", 777, "big", 29999);
	struct tmpl_env env = {0};
	char *src;

	(void)state;
	/* 1000 arms render the right one, and the final else */
	src = else_chain("if", 1000, "eq .n ", "");
	expect_out(src, dot, "arm 777");
	json_object_set_new(dot, "n", json_integer(5000));
	expect_out(src, dot, "none");
	free(src);
	/* else with: the taken arm sees its own value as dot */
	src = else_chain("with", 1000, "and (eq $.n ", ") $.n");
	expect_out(src, dot, "none");
	json_object_set_new(dot, "n", json_integer(999));
	expect_out(src, dot, "arm 999");
	free(src);
	/* a chain far past the nesting limits, with a small depth limit */
	src = else_chain("if", 30000, "eq .big ", "");
	env.limits.max_depth = 5;
	{
		struct tmpl_opts opts = {.name = "t"};
		struct buf out;
		struct err e;

		assert_int_equal(render_opts(src, strlen(src), dot, &opts, &env,
		                             &out, &e),
		                 0);
		assert_string_equal(buf_str(&out), "arm 29999");
		buf_free(&out);
	}
	free(src);
	/* an earlier arm's variable is visible in later arms */
	expect_out("{{if $x := .n | eq 1}}a{{else if $x}}b{{else if .n}}"
	           "{{$x}}{{end}}",
	           dot, "false");
	/* {{else}}{{if}} is real nesting and still counts */
	env.limits.max_depth = 3;
	expect_err("{{if 0}}{{else}}{{if 0}}{{else}}{{if 0}}{{else}}{{if 1}}"
	           "x{{end}}{{end}}{{end}}{{end}}",
	           dot, &env, "t:1:38: exceeded maximum template depth (3)");
	json_decref(dot);
}

static void test_reuse_and_variables_reset(void **state)
{
	struct tmpl_opts opts = {.name = "t"};
	struct tmpl *t = NULL;
	struct err e;
	struct buf out;
	json_t *a = json_pack("{s:i}", "n", 1), *b = json_pack("{s:i}", "n", 2);
	const char *src = "{{ $x := .n }}{{ $x = add $x 10 }}{{ $x }}";
	int i;

	(void)state;
	assert_int_equal(tmpl_parse(src, strlen(src), &opts, &t, &e), 0);
	for (i = 0; i < 3; i++) {
		buf_init(&out, 0);
		assert_int_equal(
		        tmpl_render_dot(t, &plain_env, i % 2 ? b : a, &out, &e),
		        0);
		assert_string_equal(buf_str(&out), i % 2 ? "12" : "11");
		buf_free(&out);
	}
	/* tmpl_render: nil data */
	buf_init(&out, 0);
	assert_int_equal(tmpl_render(t, &plain_env, &out, &e), -EINVAL);
	buf_free(&out);
	tmpl_free(t);
	json_decref(a);
	json_decref(b);
}

static void test_go_semantics(void **state)
{
	json_t *dot = json_pack("{s:[s,s],s:{},s:f,s:i,s:n}", "l", "a", "b",
	                        "m", "f", 0.0, "i", 0, "nil");

	(void)state;
	/* truthiness */
	expect_out("{{ if .l }}1{{ end }}{{ if .m }}2{{ end }}"
	           "{{ if .f }}3{{ end }}{{ if .i }}4{{ end }}"
	           "{{ if .nil }}5{{ end }}{{ if .none }}6{{ end }}"
	           "{{ if \"\" }}7{{ end }}{{ if \"0\" }}8{{ end }}",
	           dot, "18");
	/* and/or short-circuit: the failing call is never made */
	expect_out("{{ or 1 (index .l 9) }}{{ and 0 (index .l 9) }}", dot,
	           "10");
	/* numbers: hex, octal, char, float, negative */
	expect_out("{{ 0x1F }} {{ 017 }} {{ 'a' }} {{ 1.5e3 }} {{ -3 }} "
	           "{{ 1_000 }} {{ 0b101 }} {{ 0o17 }}",
	           dot, "31 15 97 1500 -3 1000 5 15");
	/* strings: escapes and raw */
	expect_out("{{ \"a\\tb\\n\\\"\\u00e9\\x41\" }}{{ `raw\\n` }}", dot,
	           "a\tb\n\"\xc3\xa9"
	           "A"
	           "raw\\n");
	/* parenthesised pipelines and chains */
	expect_out("{{ (index .l 1) }}{{ (.l | len) }}{{ (printf \"%s\" "
	           "\"x\" | len) }}",
	           dot, "b21");
	/* dot and $ inside range/with */
	expect_out("{{ range .l }}{{ . }}{{ len $.l }}{{ end }}", dot, "a2b2");
	/* newline inside an action is a space */
	expect_out("{{ printf\n\"%d\"\n7 }}", dot, "7");
	json_decref(dot);
}

/* A catalog like service "web" returns, n instances. */
static json_t *catalog(size_t n)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(
		        list,
		        json_pack("{s:s+,s:s+,s:s,s:i,s:[s,s],s:s}", "Node",
		                  "node-", "x", "Address", "10.1.", "x", "Name",
		                  "web", "Port", (int)(8000 + i % 100), "Tags",
		                  "a", "prod", "Status", "passing"));
	return list;
}

static double best_render_ms(const char *src, json_t *dot, size_t minlen)
{
	struct tmpl_opts opts = {.name = "hosts.tmpl"};
	struct tmpl *t = NULL;
	struct err e;
	struct buf out;
	struct timespec a, b;
	double best = 1e9;
	int round;

	assert_int_equal(tmpl_parse(src, strlen(src), &opts, &t, &e), 0);
	for (round = 0; round < 7; round++) {
		double ms;

		buf_init(&out, 0);
		clock_gettime(CLOCK_MONOTONIC, &a);
		assert_int_equal(tmpl_render_dot(t, &plain_env, dot, &out, &e),
		                 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
		     (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		if (ms < best)
			best = ms;
		assert_true(out.len > minlen);
		buf_free(&out);
	}
	tmpl_free(t);
	return best;
}

static void test_performance_10k(void **state)
{
	json_t *dot = json_object();
	double plain, heavy;
	const char *hosts = "{{ range .svc }}{{ .Address }} {{ .Node }}.{{ "
	                    ".Name }}.service\n{{ end }}";
	const char *src =
	        "# managed\n"
	        "{{- range $i, $s := .svc }}\n"
	        "{{ if and (eq .Status \"passing\") (.Tags | contains "
	        "\"prod\") }}"
	        "{{ .Address }} {{ .Node }}.{{ .Name }}.service "
	        "{{ printf \"%s-%d\" .Name .Port }}{{ end }}"
	        "{{- end }}\n";
	(void)state;
	json_object_set_new(dot, "svc", catalog(10000));
	plain = best_render_ms(hosts, dot, 10000 * 20);
	heavy = best_render_ms(src, dot, 10000 * 30);
	fprintf(stderr,
	        "render of 10k instances: %.2f ms (hosts lines), %.2f ms "
	        "(if/and/eq/contains/printf per instance)\n",
	        plain, heavy);
	/* generous for sanitizer and valgrind builds; the target is < 10 */
	assert_true(plain < 2000 && heavy < 4000);
	json_decref(dot);
}

/* What a template can show of health checks, decided from its parse
 * tree. */
static void test_checks_seen(void **state)
{
	static const struct {
		const char *src;
		enum dep_checks seen;
	} cases[] = {
	        /* the shipped template: fields only, no check */
	        {"{{ range services }}{{ range service .Name }}{{ .Address }} "
	         "{{ .Name }}.service.{{ .NodeDatacenter }}.consul\n"
	         "{{ end }}{{ end }}",
	         DEP_CHECKS_NONE},
	        {"{{ $x := index (service \"web\") 0 }}{{ $x.Address }}",
	         DEP_CHECKS_NONE},
	        {"{{ range service \"web\" }}{{ .Status }}{{ end }}",
	         DEP_CHECKS_NONE},
	        /* checks read by field, never printed whole */
	        {"{{ range service \"web\" }}{{ range .Checks }}{{ .CheckID }}"
	         " {{ .Status }}{{ end }}{{ end }}",
	         DEP_CHECKS_NO_TEXT},
	        {"{{ range service \"web\" }}{{ len .Checks }}{{ end }}",
	         DEP_CHECKS_NO_TEXT},
	        /* values formatted or printed whole: an instance prints its
	         * checks (as pointers: an error either way) */
	        {"{{ range service \"web\" }}{{ printf \"%s %d\" .Address "
	         ".Port }}{{ end }}",
	         DEP_CHECKS_NO_TEXT},
	        {"{{ range service \"web\" }}{{ . }}{{ end }}",
	         DEP_CHECKS_NO_TEXT},
	        /* named */
	        {"{{ range service \"web\" }}{{ range .Checks }}{{ .Output }}"
	         "{{ end }}{{ end }}",
	         DEP_CHECKS_ALL},
	        {"{{ define \"n\" }}{{ .Notes }}{{ end }}", DEP_CHECKS_ALL},
	        {"{{ with $c := 1 }}{{ $c.ModifyIndex }}{{ end }}",
	         DEP_CHECKS_ALL},
	        /* encoded: every field */
	        {"{{ service \"web\" | toJSON }}", DEP_CHECKS_ALL},
	        {"{{ toUnescapedJSONPretty (service \"web\") }}",
	         DEP_CHECKS_ALL},
	        /* a whole check printed or formatted */
	        {"{{ range service \"web\" }}{{ range .Checks }}{{ . }}"
	         "{{ end }}{{ end }}",
	         DEP_CHECKS_ALL},
	        {"{{ range service \"web\" }}{{ index .Checks 0 }}{{ end }}",
	         DEP_CHECKS_ALL},
	        {"{{ range service \"web\" }}{{ range $c := .Checks }}"
	         "{{ $c }}{{ end }}{{ end }}",
	         DEP_CHECKS_ALL},
	        {"{{ range service \"web\" }}{{ printf \"%v\" .Checks }}"
	         "{{ end }}",
	         DEP_CHECKS_ALL},
	        {"{{ range service \"web\" }}{{ (index .Checks 0) }}{{ end }}",
	         DEP_CHECKS_ALL},
	        {"{{ define \"c\" }}{{ . }}{{ end }}{{ range service \"w\" }}"
	         "{{ range .Checks }}{{ template \"c\" . }}{{ end }}{{ end }}",
	         DEP_CHECKS_ALL},
	};
	struct tmpl_opts opts = {.name = "t"};
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tmpl *t = NULL;
		char msg[800];

		err_clear(&e);
		if (tmpl_parse(cases[i].src, strlen(cases[i].src), &opts, &t,
		               &e) < 0)
			fail_msg("%s: %s", cases[i].src,
			         err_format(&e, msg, sizeof(msg)));
		if (tmpl_checks_seen(t) != cases[i].seen)
			fail_msg("%s: seen %d, not %d", cases[i].src,
			         (int)tmpl_checks_seen(t), (int)cases[i].seen);
		tmpl_free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_null_safe),
	        cmocka_unit_test(test_custom_delims),
	        cmocka_unit_test(test_define_template_block),
	        cmocka_unit_test(test_nul_in_strings),
	        cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_hostile_nesting),
	        cmocka_unit_test(test_long_else_if_chain),
	        cmocka_unit_test(test_reuse_and_variables_reset),
	        cmocka_unit_test(test_go_semantics),
	        cmocka_unit_test(test_performance_10k),
	        cmocka_unit_test(test_checks_seen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
