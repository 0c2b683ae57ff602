/*
 * Golden tests: every tests/golden/<name>.tmpl is rendered and compared
 * byte for byte with <name>.out, or its error (err_format) with
 * <name>.err, or the missing dependencies of an incomplete render (dep
 * ids, sorted, one a line) with <name>.missing.
 *
 * <name>.json (optional) holds:
 *   "dot":    the value of . and $ at the top (absent: nil data)
 *   "consul": { "<dep_request_path()>": <raw Consul response body> }
 *   "consul_from": "<file in tests/golden>" whose "consul" is used instead
 *             (the corpus-* cases share one catalog)
 *   "env":    { "VAR": "value" } set while rendering
 *   "order":  "reverse" makes env->order (the shuffle function's hook)
 *             reverse every list
 *   "opts":   { "left_delim", "right_delim", "error_on_missing_key",
 *               "function_denylist": [globs] }
 *   "limits": { "max_output", "max_depth", "max_steps" }
 * A dependency whose path is absent from "consul" has no data yet.
 *
 * Every render compared with a .out is then ordered per node, as the
 * publisher orders a hosts render (order_lines, stable and balanced, a few
 * seeds), and must differ from the expected output only by a permutation
 * of each name's lines within the positions they occupy; with order none
 * it must be the same bytes. Templates render consul-template's order;
 * only the output is ordered.
 * Every case rendered to a .out with nil data is then rendered three
 * more times with a render cache (tmpl_env.cache), as the runner renders:
 * the bytes and the data spans must be those of a render without it, the
 * cache being made, then replayed.
 * GOLDEN_ONLY=<name> runs one case; GOLDEN_UPDATE=1 rewrites .out files.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "consul/deps.h"
#include "base/err.h"
#include "hosts/hosts.h"
#include "order/order.h"
#include "consul/store.h"
#include "template/template.h"

static bool check_ordering(const char *name, const char *text, size_t len);

struct golden_ctx {
	json_t *consul;      /* borrowed from the case's json */
	struct store *cache; /* dep_id -> decoded value, as the runner's */
	json_t *missing;     /* dep_id -> true */
	const char *name;
	int decode_failures;
};

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return buf_take(&b, len);
}

static void case_path(char *out, size_t size, const char *dir, const char *name,
                      const char *ext)
{
	size_t dl = strlen(dir), nl = strlen(name), el = strlen(ext);

	if (dl + nl + el + 2 > size) {
		out[0] = '\0';
		return;
	}
	memcpy(out, dir, dl);
	out[dl] = '/';
	memcpy(out + dl + 1, name, nl);
	memcpy(out + dl + 1 + nl, ext, el + 1);
}

static json_t *golden_lookup(void *ctx, const struct dep *d)
{
	struct golden_ctx *g = ctx;
	const char *id = dep_id(d);
	json_t *v = store_get(g->cache, id), *raw, *dec = NULL;
	char *path, *body;
	struct err e;

	if (v != NULL)
		return v;
	path = dep_request_path(d);
	raw = path != NULL ? json_object_get(g->consul, path) : NULL;
	free(path);
	if (raw == NULL) {
		json_object_set_new(g->missing, id, json_true());
		return NULL;
	}
	body = json_dumps(raw, JSON_ENCODE_ANY | JSON_COMPACT);
	err_clear(&e);
	if (dep_decode(d, 200, body, strlen(body), &dec, NULL, &e) < 0) {
		char msg[800];

		fprintf(stderr, "%s: decoding %s: %s\n", g->name, id,
		        err_format(&e, msg, sizeof(msg)));
		g->decode_failures++;
		free(body);
		json_object_set_new(g->missing, id, json_true());
		return NULL;
	}
	free(body);
	store_put(g->cache, id, dec, NULL);
	return store_get(g->cache, id);
}

static void print_diff(const char *name, const char *want, size_t wlen,
                       const char *got, size_t glen);

static uint64_t golden_version(void *ctx, const struct dep *d)
{
	struct golden_ctx *g = ctx;

	return store_version(g->cache, dep_id(d));
}

static bool same_spans(const struct tmpl_spans *a, const struct tmpl_spans *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->v[i].start != b->v[i].start ||
		    a->v[i].end != b->v[i].end)
			return false;
	return true;
}

/* Rendered with a cache, made then replayed, t gives what it gives
 * without one (want), and the same data spans. */
static bool check_cached(const char *name, const struct tmpl *t,
                         const struct tmpl_env *env0, const struct buf *want)
{
	struct tmpl_env env = *env0;
	struct tmpl_spans plain = {0};
	struct buf out;
	struct err e;
	bool ok = true;

	buf_init(&out, 0);
	env.spans = &plain;
	if (tmpl_render_dot(t, &env, NULL, &out, &e) < 0) {
		buf_free(&out);
		return true; /* an error: cached renders are not compared */
	}
	env.cache = tmpl_cache_new();
	env.version = golden_version;
	for (int round = 0; round < 3 && ok; round++) {
		struct tmpl_spans spans = {0};
		char msg[800];

		buf_reset(&out);
		env.spans = &spans;
		err_clear(&e);
		if (tmpl_render_dot(t, &env, NULL, &out, &e) < 0) {
			fprintf(stderr, "%s: cached render %d: %s\n", name,
			        round, err_format(&e, msg, sizeof(msg)));
			ok = false;
		} else if (out.len != want->len ||
		           memcmp(buf_str(&out), buf_str(want), out.len) != 0) {
			fprintf(stderr, "%s: cached render %d differs\n", name,
			        round);
			print_diff(name, buf_str(want), want->len,
			           buf_str(&out), out.len);
			ok = false;
		} else if (!same_spans(&spans, &plain)) {
			fprintf(stderr, "%s: cached render %d: other spans\n",
			        name, round);
			ok = false;
		}
		free(spans.v);
	}
	tmpl_cache_free(env.cache);
	free(plain.v);
	buf_free(&out);
	return ok;
}

static void golden_reverse(void *ctx, const char *key, json_t *list)
{
	size_t n = json_array_size(list), i;

	(void)ctx;
	(void)key;
	for (i = 0; i < n / 2; i++) {
		json_t *a = json_incref(json_array_get(list, i));
		json_t *b = json_incref(json_array_get(list, n - 1 - i));

		json_array_set_new(list, i, b);
		json_array_set_new(list, n - 1 - i, a);
	}
}

/* A short unified-style diff: the first differing line with context. */
static void print_diff(const char *name, const char *want, size_t wlen,
                       const char *got, size_t glen)
{
	size_t i = 0, line = 1, start, k;
	const char *w, *g;
	int shown;

	while (i < wlen && i < glen && want[i] == got[i]) {
		if (want[i] == '\n')
			line++;
		i++;
	}
	start = i;
	while (start > 0 && want[start - 1] != '\n')
		start--;
	fprintf(stderr, "--- %s (expected)\n+++ %s (got)\n@@ line %zu @@\n",
	        name, name, line);
	w = want + start;
	g = got + start;
	for (shown = 0; shown < 6 && w < want + wlen; shown++) {
		const char *nl = memchr(w, '\n', (size_t)(want + wlen - w));

		k = nl ? (size_t)(nl - w) : (size_t)(want + wlen - w);
		fprintf(stderr, "-%.*s%s\n", (int)k, w,
		        nl ? "" : "\\no newline");
		w += k + (nl ? 1 : 0);
	}
	for (shown = 0; shown < 6 && g < got + glen; shown++) {
		const char *nl = memchr(g, '\n', (size_t)(got + glen - g));

		k = nl ? (size_t)(nl - g) : (size_t)(got + glen - g);
		fprintf(stderr, "+%.*s%s\n", (int)k, g,
		        nl ? "" : "\\no newline");
		g += k + (nl ? 1 : 0);
	}
}

static size_t chomp(const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	return n;
}

static void set_env(json_t *env, bool set)
{
	const char *k;
	json_t *v;

	json_object_foreach(env, k, v)
	{
		if (set)
			setenv(k,
			       json_string_value(v) ? json_string_value(v) : "",
			       1);
		else
			unsetenv(k);
	}
}

static int missing_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Returns true when the case passes. */
static bool run_case(const char *dir, const char *name)
{
	char path[4096], msg[1200];
	char *src, *want = NULL;
	size_t srclen, wantlen = 0;
	json_t *data = NULL, *opts_j, *limits_j;
	struct golden_ctx g = {0};
	struct tmpl_opts opts = {0};
	struct tmpl_env env = {0};
	struct tmpl *t = NULL;
	struct buf out;
	struct err e;
	json_error_t jerr;
	int r;
	bool ok = true;
	enum { WANT_OUT, WANT_ERR, WANT_MISSING } kind;
	char tname[300];
	const char *denylist[16];

	case_path(path, sizeof(path), dir, name, ".tmpl");
	src = read_file(path, &srclen);
	if (src == NULL) {
		fprintf(stderr, "%s: cannot read %s\n", name, path);
		return false;
	}
	case_path(path, sizeof(path), dir, name, ".json");
	data = json_load_file(path, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (data == NULL) {
		FILE *f = fopen(path, "r");

		if (f != NULL) {
			fclose(f);
			fprintf(stderr, "%s: %s:%d: %s\n", name, path,
			        jerr.line, jerr.text);
			free(src);
			return false;
		}
		data = json_object();
	}
	kind = WANT_OUT;
	case_path(path, sizeof(path), dir, name, ".out");
	want = read_file(path, &wantlen);
	if (want == NULL) {
		case_path(path, sizeof(path), dir, name, ".err");
		want = read_file(path, &wantlen);
		kind = WANT_ERR;
	}
	if (want == NULL) {
		case_path(path, sizeof(path), dir, name, ".missing");
		want = read_file(path, &wantlen);
		kind = WANT_MISSING;
	}
	if (want == NULL && getenv("GOLDEN_UPDATE") != NULL) {
		want = calloc(1, 1);
		kind = WANT_OUT;
	}
	if (want == NULL) {
		fprintf(stderr, "%s: no .out, .err or .missing file\n", name);
		free(src);
		json_decref(data);
		return false;
	}

	g.consul = json_object_get(data, "consul");
	if (json_is_string(json_object_get(data, "consul_from"))) {
		const char *from =
		        json_string_value(json_object_get(data, "consul_from"));
		json_t *shared = NULL;

		jerr.line = 0;
		snprintf(jerr.text, sizeof(jerr.text), "path too long");

		if (strlen(dir) + strlen(from) + 2 <= sizeof(path)) {
			memcpy(path, dir, strlen(dir));
			path[strlen(dir)] = '/';
			memcpy(path + strlen(dir) + 1, from, strlen(from) + 1);
			shared = json_load_file(path, JSON_DECODE_ANY, &jerr);
		}
		if (shared == NULL) {
			fprintf(stderr, "%s: %s:%d: %s\n", name, path,
			        jerr.line, jerr.text);
			free(src);
			free(want);
			json_decref(data);
			return false;
		}
		/* data keeps it alive */
		json_object_set_new(
		        data, "consul",
		        json_incref(json_object_get(shared, "consul")));
		json_decref(shared);
		g.consul = json_object_get(data, "consul");
	}
	g.cache = store_new();
	g.missing = json_object();
	g.name = name;
	snprintf(tname, sizeof(tname), "%s.tmpl", name);
	opts.name = tname;
	opts_j = json_object_get(data, "opts");
	opts.left_delim =
	        json_string_value(json_object_get(opts_j, "left_delim"));
	opts.right_delim =
	        json_string_value(json_object_get(opts_j, "right_delim"));
	opts.error_on_missing_key =
	        json_is_true(json_object_get(opts_j, "error_on_missing_key"));
	{
		json_t *dl = json_object_get(opts_j, "function_denylist");
		size_t k;

		for (k = 0; k < json_array_size(dl) && k + 1 < 16; k++)
			denylist[k] = json_string_value(json_array_get(dl, k));
		denylist[k] = NULL;
		if (dl != NULL)
			opts.function_denylist = denylist;
	}
	limits_j = json_object_get(data, "limits");
	env.limits.max_output = (size_t)json_integer_value(
	        json_object_get(limits_j, "max_output"));
	env.limits.max_depth = (unsigned)json_integer_value(
	        json_object_get(limits_j, "max_depth"));
	env.limits.max_steps = (unsigned long)json_integer_value(
	        json_object_get(limits_j, "max_steps"));
	env.lookup = golden_lookup;
	env.ctx = &g;
	if (json_is_string(json_object_get(data, "order")) &&
	    strcmp(json_string_value(json_object_get(data, "order")),
	           "reverse") == 0)
		env.order = golden_reverse;

	set_env(json_object_get(data, "env"), true);
	buf_init(&out, 0);
	err_clear(&e);
	r = tmpl_parse(src, srclen, &opts, &t, &e);
	if (r == 0)
		r = tmpl_render_dot(t, &env, json_object_get(data, "dot"), &out,
		                    &e);
	if (r == 0 && kind == WANT_OUT &&
	    json_object_get(data, "dot") == NULL &&
	    json_object_size(g.missing) == 0 &&
	    !check_cached(name, t, &env, &out))
		ok = false;
	set_env(json_object_get(data, "env"), false);

	if (kind == WANT_ERR) {
		size_t wl = chomp(want, wantlen);

		if (r == 0) {
			fprintf(stderr,
			        "%s: expected error \"%.*s\", got "
			        "success\n",
			        name, (int)wl, want);
			ok = false;
		} else {
			err_format(&e, msg, sizeof(msg));
			if (strlen(msg) != wl || memcmp(msg, want, wl) != 0) {
				fprintf(stderr,
				        "%s: error mismatch\n  want: %.*s\n"
				        "  got:  %s\n",
				        name, (int)wl, want, msg);
				ok = false;
			}
		}
	} else if (r < 0) {
		fprintf(stderr, "%s: unexpected error: %s\n", name,
		        err_format(&e, msg, sizeof(msg)));
		ok = false;
	} else if (kind == WANT_MISSING) {
		struct buf m;
		const char *k, **ids;
		json_t *v;
		size_t n = json_object_size(g.missing), i = 0;
		size_t wl = chomp(want, wantlen);

		ids = calloc(n ? n : 1, sizeof(*ids));
		json_object_foreach(g.missing, k, v)
		{
			(void)v;
			ids[i++] = k;
		}
		qsort(ids, n, sizeof(*ids), missing_cmp);
		buf_init(&m, 0);
		for (i = 0; i < n; i++)
			buf_printf(&m, "%s%s", i ? "\n" : "", ids[i]);
		if (m.len != wl || memcmp(buf_str(&m), want, wl) != 0) {
			fprintf(stderr, "%s: missing dependencies differ\n",
			        name);
			print_diff(name, want, wl, buf_str(&m), m.len);
			ok = false;
		}
		free(ids);
		buf_free(&m);
	} else {
		if (json_object_size(g.missing) > 0) {
			const char *k;
			json_t *v;

			fprintf(stderr,
			        "%s: incomplete render; missing:", name);
			json_object_foreach(g.missing, k, v)
			{
				(void)v;
				fprintf(stderr, " %s", k);
			}
			fprintf(stderr, "\n");
			ok = false;
		}
		if (out.len != wantlen ||
		    memcmp(buf_str(&out), want, wantlen) != 0) {
			if (getenv("GOLDEN_UPDATE") != NULL) {
				FILE *f;

				case_path(path, sizeof(path), dir, name,
				          ".out");
				f = fopen(path, "wb");
				if (f != NULL) {
					fwrite(buf_str(&out), 1, out.len, f);
					fclose(f);
				}
			} else {
				print_diff(name, want, wantlen, buf_str(&out),
				           out.len);
				ok = false;
			}
		}
		if (ok && !check_ordering(name, buf_str(&out), out.len))
			ok = false;
	}
	if (g.decode_failures > 0)
		ok = false;
	buf_free(&out);
	tmpl_free(t);
	store_free(g.cache);
	json_decref(g.missing);
	json_decref(data);
	free(want);
	free(src);
	return ok;
}

/*
 * Whether ordered (a render ordered for a node) is text with each name's
 * lines permuted within their positions and everything else in place.
 */
static bool only_permuted(const char *name, const struct hosts_doc *orig,
                          const struct hosts_doc *ordered)
{
	if (orig->nlines != ordered->nlines) {
		fprintf(stderr, "%s: ordering changed the line count\n", name);
		return false;
	}
	for (size_t i = 0; i < orig->nlines; i++) {
		const struct hosts_line *a = &orig->lines[i],
		                        *b = &ordered->lines[i];
		const char *na = orig->keys + a->key + a->addr_len;
		const char *nb = ordered->keys + b->key + b->addr_len;

		if (a->entry != b->entry ||
		    (!a->entry &&
		     (a->len != b->len ||
		      memcmp(orig->text.data + a->off,
		             ordered->text.data + b->off, a->len) != 0)) ||
		    (a->entry &&
		     (a->key_len - a->addr_len != b->key_len - b->addr_len ||
		      memcmp(na, nb, a->key_len - a->addr_len) != 0)) ||
		    (b->entry && hosts_doc_find(orig, ordered->keys + b->key,
		                                b->key_len) < 0)) {
			fprintf(stderr,
			        "%s: ordering moved line %zu out of its "
			        "group\n",
			        name, i + 1);
			return false;
		}
	}
	return true;
}

/* The ordering property (see the top of this file) for one output. */
static bool check_ordering(const char *name, const char *text, size_t len)
{
	static const char *const seeds[] = {"node-01", "node-02", "db-7"};
	static const enum order_mode modes[] = {ORDER_STABLE, ORDER_BALANCED,
	                                        ORDER_NONE};
	json_t *fleet = json_pack("[sss]", "node-01", "node-02", "db-7");
	struct hosts_doc orig, d;
	bool ok = true;

	hosts_doc_init(&orig, 0);
	hosts_doc_init(&d, 0);
	if (hosts_doc_check(&orig, text, len, false, NULL) < 0)
		ok = false;
	for (size_t m = 0; ok && m < 3; m++) {
		for (size_t k = 0; ok && k < 3; k++) {
			struct order *o = order_new(modes[m], seeds[k]);

			order_set_fleet(o, fleet);
			ok = hosts_doc_check(&d, text, len, false, NULL) == 0 &&
			     order_lines(o, &d, NULL, 0) == 0 &&
			     only_permuted(name, &orig, &d);
			if (ok && modes[m] == ORDER_NONE &&
			    (d.text.len != orig.text.len ||
			     (d.text.len > 0 &&
			      memcmp(d.text.data, orig.text.data, d.text.len) !=
			              0))) {
				fprintf(stderr,
				        "%s: order none changed the "
				        "output\n",
				        name);
				ok = false;
			}
			order_free(o);
		}
	}
	hosts_doc_free(&orig);
	hosts_doc_free(&d);
	json_decref(fleet);
	return ok;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_golden_all(void **state)
{
	const char *root = getenv("CH_SOURCE_DIR");
	const char *only = getenv("GOLDEN_ONLY");
	char dir[4096];
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, i, failed = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/golden", root ? root : ".");
	d = opendir(dir);
	if (d == NULL)
		fail_msg("cannot open %s: %s (set CH_SOURCE_DIR)", dir,
		         strerror(errno));
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 5 && strcmp(de->d_name + len - 5, ".tmpl") == 0) {
			names = realloc(names, (n + 1) * sizeof(*names));
			names[n++] = strndup(de->d_name, len - 5);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		if (only != NULL && strcmp(only, names[i]) != 0)
			continue;
		if (!run_case(dir, names[i])) {
			fprintf(stderr, "FAIL golden/%s\n", names[i]);
			failed++;
		}
	}
	fprintf(stderr, "golden: %zu cases, %zu failed\n", n, failed);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	assert_true(n > 0);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_golden_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
