/*
 * libFuzzer target: parse the input as a template and render it over a
 * fixed value with tight limits. Any crash, leak, sanitizer report or
 * runaway allocation is a bug; errors are fine.
 *
 *   CC=clang cmake -S . -B build-fuzz -DFUZZ=ON -DBUILD_TESTING=ON
 *   cmake --build build-fuzz --target fuzz_template
 *   build-fuzz/tests/fuzz_template tests/fuzz/corpus/template
 * -max_total_time=60
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "template/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char dot_json[] =
        "{\"Node\": {\"Node\": \"web-1\", \"Address\": \"10.0.0.1\"},"
        " \"Tags\": [\"a\", \"b\", \"prod\"], \"Port\": 8080,"
        " \"Weight\": 1.5, \"Up\": true, \"Nil\": null,"
        " \"Meta\": {\"k\": \"v\", \"n\": 3},"
        " \"List\": [{\"Name\": \"x\", \"Port\": 1}, {\"Name\": \"y\"}],"
        " \"Nums\": [3, 1, 2], \"S\": \"a,b,c\"}";

static void reverse(void *ctx, const char *key, json_t *list)
{
	size_t n = json_array_size(list);

	(void)ctx;
	(void)key;
	if (n > 1) {
		json_t *first = json_incref(json_array_get(list, 0));

		json_array_remove(list, 0);
		json_array_append_new(list, first);
	}
}

static json_t *no_data(void *ctx, const struct dep *d)
{
	(void)ctx;
	(void)d;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *dot;
	struct tmpl_opts opts = {.name = "fuzz"};
	struct tmpl_env env = {0};
	struct tmpl *t = NULL;
	struct err e;
	struct buf out;

	if (dot == NULL)
		dot = json_loads(dot_json, 0, NULL);
	if (size > 0 && data[0] == '!') {
		/* exercise custom delimiters and missingkey=error */
		opts.left_delim = "[[";
		opts.right_delim = "]]";
		opts.error_on_missing_key = true;
	}
	env.lookup = no_data;
	env.order = reverse;
	env.limits.max_output = 1 << 16;
	env.limits.max_depth = 50;
	env.limits.max_steps = 20000;
	err_clear(&e);
	if (tmpl_parse((const char *)data, size, &opts, &t, &e) == 0) {
		buf_init(&out, 1 << 20);
		tmpl_render_dot(t, &env, dot, &out, &e);
		buf_free(&out);
		tmpl_free(t);
	}
	return 0;
}
