/*
 * The render cache (tmpl_env.cache): iterations of a range over records
 * from Consul are replayed while their record and the data they read are
 * the same, and rendered again as soon as either changes; whatever is
 * replayed, a render gives the bytes, spans and errors a render without
 * the cache gives. Data comes from a store, as in the runner.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "consul/deps.h"
#include "consul/store.h"
#include "template/template.h"

static struct store *st;
static unsigned lookups;

static json_t *st_lookup(void *ctx, const struct dep *d)
{
	(void)ctx;
	lookups++;
	return store_get(st, dep_id(d));
}

static uint64_t st_version(void *ctx, const struct dep *d)
{
	(void)ctx;
	return store_version(st, dep_id(d));
}

/* Decode body as kind/spec's answer into the store. */
static void put(enum dep_kind kind, const char *spec, const char *body)
{
	struct dep *d = NULL;
	struct err e;
	json_t *v = NULL;

	assert_int_equal(dep_new(kind, spec, &d, &e), 0);
	if (dep_decode(d, 200, body, strlen(body), &v, NULL, &e) < 0)
		fail_msg("decode %s: %s", spec, e.msg);
	store_put(st, dep_id(d), v, NULL);
	dep_free(d);
}

/* The health answer of service name: one instance per address. */
static void put_service(const char *name, int n, int first)
{
	struct buf b;

	buf_init(&b, 0);
	buf_putc(&b, '[');
	for (int i = 0; i < n; i++)
		buf_printf(&b,
		           "%s{\"Node\":{\"Node\":\"n%d\",\"Address\":"
		           "\"10.0.%d.%d\",\"Datacenter\":\"dc1\"},"
		           "\"Service\":{\"ID\":\"%s\",\"Service\":\"%s\"},"
		           "\"Checks\":[]}",
		           i ? "," : "", first + i, first, i + 1, name, name);
	buf_putc(&b, ']');
	put(DEP_HEALTH_SERVICE, name, buf_str(&b));
	buf_free(&b);
}

static void put_catalog(const char *names)
{
	put(DEP_CATALOG_SERVICES, "", names);
}

static const char *const hosts =
        "# managed\n"
        "{{- range services }}\n"
        "{{- range service .Name }}\n"
        "{{ .Address }} {{ .Name }}.service.{{ .NodeDatacenter }}.consul\n"
        "{{- end }}\n"
        "{{- end }}\n";

static struct tmpl *parse(const char *src)
{
	struct tmpl_opts opts = {.name = "t"};
	struct tmpl *t = NULL;
	struct err e;

	if (tmpl_parse(src, strlen(src), &opts, &t, &e) < 0)
		fail_msg("%s", e.msg);
	return t;
}

/* Render t with and without cache c (limits lim): the same result, bytes,
 * spans or error; the cached render's replay count. */
static size_t render_both(const struct tmpl *t, struct tmpl_cache *c,
                          struct tmpl_limits lim)
{
	struct tmpl_env env = {.lookup = st_lookup, .limits = lim};
	struct tmpl_spans s1 = {0}, s2 = {0};
	struct buf a, b;
	struct err e1, e2;
	int r1, r2;
	size_t kept, replayed;

	buf_init(&a, 0);
	buf_init(&b, 0);
	err_clear(&e1);
	err_clear(&e2);
	env.spans = &s1;
	r1 = tmpl_render(t, &env, &a, &e1);
	env.spans = &s2;
	env.cache = c;
	env.version = st_version;
	r2 = tmpl_render(t, &env, &b, &e2);
	assert_int_equal(r1, r2);
	if (r1 == 0) {
		assert_int_equal(a.len, b.len);
		assert_memory_equal(buf_str(&a), buf_str(&b), a.len);
		assert_int_equal(s1.n, s2.n);
		for (size_t i = 0; i < s1.n; i++) {
			assert_int_equal(s1.v[i].start, s2.v[i].start);
			assert_int_equal(s1.v[i].end, s2.v[i].end);
		}
	} else {
		assert_string_equal(e1.msg, e2.msg);
		assert_int_equal(e1.line, e2.line);
	}
	free(s1.v);
	free(s2.v);
	buf_free(&a);
	buf_free(&b);
	tmpl_cache_stats(c, &kept, &replayed);
	return replayed;
}

static int setup(void **state)
{
	(void)state;
	st = store_new();
	put_catalog("{\"a\":[],\"b\":[],\"c\":[]}");
	put_service("a", 3, 1);
	put_service("b", 2, 2);
	put_service("c", 4, 3);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	store_free(st);
	return 0;
}

static void test_replays_what_did_not_change(void **state)
{
	struct tmpl *t = parse(hosts);
	struct tmpl_cache *c = tmpl_cache_new();
	size_t kept, replayed;
	unsigned before;

	(void)state;
	assert_int_equal(render_both(t, c, tmpl_default_limits), 0);
	tmpl_cache_stats(c, &kept, &replayed);
	assert_int_equal(kept, 3); /* one per service */
	/* Nothing changed: every service replayed, its data still asked
	 * for (the caller learns what the render used). */
	before = lookups;
	assert_int_equal(render_both(t, c, tmpl_default_limits), 3);
	assert_true(lookups - before >= 2 * 4);
	/* One service changes: only it is rendered again. */
	put_service("b", 3, 7);
	assert_int_equal(render_both(t, c, tmpl_default_limits), 2);
	assert_int_equal(render_both(t, c, tmpl_default_limits), 3);
	/* The catalog changes: new records, everything rendered again,
	 * and what is gone is not kept. */
	put_catalog("{\"a\":[],\"c\":[]}");
	assert_int_equal(render_both(t, c, tmpl_default_limits), 0);
	tmpl_cache_stats(c, &kept, &replayed);
	assert_int_equal(kept, 2);
	assert_int_equal(render_both(t, c, tmpl_default_limits), 2);
	/* An answer that goes missing: the render is incomplete, the same
	 * with the cache as without. */
	store_forget(st, "health.service(c|passing)");
	render_both(t, c, tmpl_default_limits);
	put_service("c", 1, 9);
	render_both(t, c, tmpl_default_limits);
	assert_int_equal(render_both(t, c, tmpl_default_limits), 2);
	tmpl_cache_free(c);
	tmpl_free(t);
}

/* Limits hit inside what would be replayed fail where they fail without
 * the cache. */
static void test_limits(void **state)
{
	struct tmpl *t = parse(hosts);
	struct tmpl_cache *c = tmpl_cache_new();
	struct tmpl_limits lim = tmpl_default_limits;

	(void)state;
	assert_int_equal(render_both(t, c, lim), 0);
	/* Failing renders (render_both compares the errors), some of whose
	 * iterations are good; the cache stays good for the next one. */
	for (unsigned long steps = 1; steps < 40; steps++) {
		lim.max_steps = steps;
		render_both(t, c, lim);
	}
	lim = tmpl_default_limits;
	for (size_t bytes = 1; bytes < 200; bytes += 7) {
		lim.max_output = bytes;
		render_both(t, c, lim);
	}
	lim = tmpl_default_limits;
	lim.max_depth = 3;
	render_both(t, c, lim);
	lim = tmpl_default_limits;
	assert_int_equal(render_both(t, c, lim), 3);
	tmpl_cache_free(c);
	tmpl_free(t);
}

/* Ranges whose iterations depend on more than their record and data are
 * never replayed, and render right. */
static void test_not_replayed(void **state)
{
	static const char *const srcs[] = {
	        /* an outer variable */
	        "{{ $dc := \"x\" }}{{ range services }}{{ range service "
	        ".Name }}{{ .Address }} {{ $dc }}\n{{ end }}{{ end }}",
	        /* the index as well as the element */
	        "{{ range $i, $s := services }}{{ range service $s.Name }}"
	        "{{ $i }} {{ .Address }}\n{{ end }}{{ end }}",
	        /* a template call */
	        "{{ define \"one\" }}{{ .Address }}\n{{ end }}"
	        "{{ range services }}{{ range service .Name }}"
	        "{{ template \"one\" . }}{{ end }}{{ end }}",
	        /* an assignment out of the body */
	        "{{ $n := 0 }}{{ range services }}{{ $n = 1 }}"
	        "{{ range service .Name }}{{ .Address }} {{ $n }}\n{{ end }}"
	        "{{ end }}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
		struct tmpl *t = parse(srcs[i]);
		struct tmpl_cache *c = tmpl_cache_new();

		for (int k = 0; k < 3; k++)
			if (render_both(t, c, tmpl_default_limits) != 0)
				fail_msg("%s: replayed", srcs[i]);
		tmpl_cache_free(c);
		tmpl_free(t);
	}
}

/* A variable of its own, declared by the range or in the body, is fine. */
static void test_own_variables(void **state)
{
	struct tmpl *t = parse("{{ range $s := services }}{{ $n := $s.Name }}"
	                       "{{ range service $n }}{{ .Address }} {{ $n }}"
	                       "\n{{ end }}{{ end }}");
	struct tmpl_cache *c = tmpl_cache_new();

	(void)state;
	assert_int_equal(render_both(t, c, tmpl_default_limits), 0);
	assert_int_equal(render_both(t, c, tmpl_default_limits), 3);
	tmpl_cache_free(c);
	tmpl_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                test_replays_what_did_not_change, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_not_replayed, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_own_variables, setup,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
