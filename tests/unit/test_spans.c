/*
 * What a render reports as data-derived output (tmpl_spans): every
 * action's printed value and text inside range/if/with; never top-level
 * template text. The guards count only lines that overlap these spans.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "template/template.h"

/* The output, with each span's bytes between [ and ]. */
static char *render_marked(const char *src, json_t *dot)
{
	struct tmpl_spans spans = {0};
	struct tmpl_env env = {.spans = &spans};
	struct tmpl_opts opts = {.name = "t"};
	struct tmpl *t = NULL;
	struct buf out, marked;
	struct err e;
	size_t s = 0;

	buf_init(&out, 0);
	buf_init(&marked, 0);
	assert_int_equal(tmpl_parse(src, strlen(src), &opts, &t, &e), 0);
	assert_int_equal(tmpl_render_dot(t, &env, dot, &out, &e), 0);
	for (size_t i = 0; i <= out.len; i++) {
		if (s < spans.n && spans.v[s].end == i) {
			buf_putc(&marked, ']');
			s++;
		}
		if (s < spans.n && spans.v[s].start == i)
			buf_putc(&marked, '[');
		if (i < out.len)
			buf_putc(&marked, out.data[i]);
	}
	/* In order, not overlapping, not empty, merged when adjacent. */
	for (size_t i = 0; i < spans.n; i++) {
		assert_true(spans.v[i].start < spans.v[i].end);
		if (i > 0)
			assert_true(spans.v[i - 1].end < spans.v[i].start);
	}
	free(spans.v);
	tmpl_free(t);
	buf_free(&out);
	return buf_take(&marked, NULL);
}

static void test_spans(void **state)
{
	json_t *dot = json_pack("{s[{s:s,s:s},{s:s,s:s}]s:b}", "nodes", "A",
	                        "10.0.0.1", "N", "a", "A", "10.0.0.2", "N", "b",
	                        "f", 0);
	char *got;

	(void)state;
	/* The classic hosts template's shape. */
	got = render_marked("127.0.0.1 localhost\n# node{{ range .nodes }}\n"
	                    "{{ .A }} {{ .N }}{{ end }}\nstatic\n",
	                    dot);
	assert_string_equal(got, "127.0.0.1 localhost\n# node[\n10.0.0.1 a\n"
	                         "10.0.0.2 b]\nstatic\n");
	free(got);
	/* An action at the top level is data; an empty range emits nothing;
	 * a false if's else body is data too. */
	got = render_marked("x {{ \"y\" }} z\n{{ range .none }}n{{ end }}"
	                    "{{ if .f }}t{{ else }}e{{ end }}\n",
	                    dot);
	assert_string_equal(got, "x [y] z\n[e]\n");
	free(got);
	/* Assignments print nothing: no span. */
	got = render_marked("{{ $x := 1 }}a\n", dot);
	assert_string_equal(got, "a\n");
	free(got);
	json_decref(dot);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_spans),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
