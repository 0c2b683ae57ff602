/*
 * The watcher against the Consul simulator: blocking and wake-up, index
 * reset, unchanged data, backoff bounds, faults, ACL, unix socket, HTTPS,
 * removal and clean close.
 *
 * struct dep here is a test-local fake (the spec is the request path, the
 * decoder keeps what a template would see of KV entries: Key and Value),
 * so these tests exercise the watcher alone. Being defined here, these
 * dep_* symbols take precedence over lib/deps.c's in the static library.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "config/config.h"
#include "consul/deps.h"
#include "consul/http.h"
#include "base/log.h"
#include "sim_helper.h"
#include "consul/watch.h"
#include "base/xmalloc.h"

/* ---- fake deps ---------------------------------------------------- */

struct dep {
	enum dep_kind kind;
	char *path;
};

int dep_new(enum dep_kind kind, const char *spec, struct dep **ret,
            struct err *e)
{
	struct dep *d = xcalloc(1, sizeof(*d));

	(void)e;
	d->kind = kind;
	d->path = xstrdup(spec);
	*ret = d;
	return 0;
}

struct dep *dep_dup(const struct dep *d)
{
	struct dep *c = xcalloc(1, sizeof(*c));

	c->kind = d->kind;
	c->path = xstrdup(d->path);
	return c;
}

struct dep *dep_free(struct dep *d)
{
	if (d != NULL) {
		free(d->path);
		free(d);
	}
	return NULL;
}

enum dep_kind dep_kind(const struct dep *d)
{
	return d->kind;
}

const char *dep_id(const struct dep *d)
{
	return d->path;
}

bool dep_blocking(const struct dep *d)
{
	return d->kind != DEP_DATACENTERS && d->kind != DEP_AGENT_SELF;
}

char *dep_request_path(const struct dep *d)
{
	return xstrdup(d->path);
}

/* As lib/deps.c: the agent caches the service list and health. */
bool dep_cached(const struct dep *d)
{
	return (d->kind == DEP_CATALOG_SERVICES ||
	        d->kind == DEP_HEALTH_SERVICE) &&
	       strstr(d->path, "near=") == NULL;
}

int dep_decode(const struct dep *d, long status, const char *body, size_t len,
               json_t **ret, json_t *dropped, struct err *e)
{
	json_t *j, *out, *ent;
	size_t i;

	(void)dropped;
	if (status == 404) {
		*ret = json_null();
		return 0;
	}
	j = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (j == NULL)
		return err_msg(e, -EBADMSG, "not JSON");
	if (d->kind == DEP_CATALOG_NODES && json_is_array(j)) {
		/* As lib/deps.c: records (trecord.h, a key "\0" holding
		 * the kind) with what a hosts template reads. */
		out = json_array();
		json_array_foreach(j, i, ent)
		{
			json_t *rec = json_object();

			json_object_setn_new_nocheck(rec, "\0", 1,
			                             json_integer(5));
			json_object_set(rec, "Node",
			                json_object_get(ent, "Node"));
			json_object_set(rec, "Address",
			                json_object_get(ent, "Address"));
			json_array_append_new(out, rec);
		}
		json_decref(j);
		*ret = out;
		return 0;
	}
	if (d->kind != DEP_KV_GET || !json_is_array(j)) {
		*ret = j;
		return 0;
	}
	out = json_array();
	json_array_foreach(j, i, ent)
	{
		json_array_append_new(
		        out,
		        json_pack("{sOsO}", "Key", json_object_get(ent, "Key"),
		                  "Value", json_object_get(ent, "Value")));
	}
	json_decref(j);
	*ret = out;
	return 0;
}

/* The fake decoder knows no reserved names; exact matches only. */
const char *const dep_loopback_names[] = {"localhost", NULL};

const char *dep_name_reserved(const struct dep_names *names, const char *name,
                              size_t len, const char *addr)
{
	(void)addr;
	for (const char *const *l = names ? names->reserved : NULL;
	     l != NULL && *l != NULL; l++)
		if (strlen(*l) == len && strncasecmp(*l, name, len) == 0)
			return *l;
	return NULL;
}

int dep_decode_names(const struct dep *d, const struct dep_names *names,
                     long status, const char *body, size_t len, json_t **ret,
                     json_t *dropped, struct err *e)
{
	(void)names;
	return dep_decode(d, status, body, len, ret, dropped, e);
}

/* ---- fixture ------------------------------------------------------ */

struct tw {
	struct test_loop tl;
	struct sim sim;
	struct config cfg;
	struct watcher *w;
	unsigned ndata;
	json_t *last;      /* last value seen by on_data */
	char suspect[200]; /* why the last value is suspect; "" if healthy */
	unsigned nevents;
	unsigned nevents_status[8]; /* 403, 400, 500, 429, 0, <0, other */
	int last_status;
	char last_what[512];
	bool closed;
	bool close_in_data; /* call watcher_close from on_data */
};

static unsigned status_slot(int status)
{
	switch (status) {
	case 403:
		return 0;
	case 400:
		return 1;
	case 500:
		return 2;
	case 429:
		return 3;
	case 0:
		return 4;
	default:
		return status < 0 ? 5 : 6;
	}
}

static void tw_closed(void *data)
{
	((struct tw *)data)->closed = true;
}

static void tw_on_data(void *data, const struct dep *d, json_t *value,
                       const char *suspect)
{
	struct tw *t = data;

	(void)d;
	t->ndata++;
	snprintf(t->suspect, sizeof(t->suspect), "%s",
	         suspect != NULL ? suspect : "");
	json_decref(t->last);
	t->last = json_incref(value);
	if (t->close_in_data) {
		watcher_close(t->w, tw_closed, t);
		t->w = NULL;
	}
}

static void tw_on_event(void *data, const struct dep *d, int status,
                        const char *what)
{
	struct tw *t = data;

	(void)d;
	t->nevents++;
	t->nevents_status[status_slot(status)]++;
	t->last_status = status;
	snprintf(t->last_what, sizeof(t->last_what), "%s", what);
}

static void tw_config(struct tw *t)
{
	memset(&t->cfg, 0, sizeof(t->cfg));
	t->cfg.consul.address = t->sim.addr;
	t->cfg.consul.retry.enabled = true;
	t->cfg.consul.retry.backoff_ms = 50;
	t->cfg.consul.retry.max_backoff_ms = 400;
	t->cfg.consul.ssl.verify = true;
	t->cfg.max_stale_ms = 2000;
	t->cfg.block_query_wait_ms = 1000;
	t->cfg.block_query_wait_set = true; /* every query waits that */
}

static struct tw *tw_setup(bool unix_only, const char *const *extra)
{
	struct tw *t = xcalloc(1, sizeof(*t));

	assert_int_equal(test_loop_init(&t->tl), 0);
	assert_int_equal(sim_start(&t->sim, unix_only, unix_only, extra), 0);
	tw_config(t);
	return t;
}

static void tw_start(struct tw *t)
{
	struct err e;

	err_clear(&e);
	if (watcher_new(&t->tl.loop, &t->cfg, tw_on_data, tw_on_event, t, &t->w,
	                &e) != 0)
		fail_msg("watcher_new: %s", e.msg);
}

static void tw_teardown(struct tw *t)
{
	if (t->w != NULL)
		watcher_close(t->w, tw_closed, t);
	t->w = NULL;
	while (!t->closed)
		uv_run(&t->tl.loop, UV_RUN_ONCE);
	/* watcher_close left no handle behind */
	assert_int_equal(test_loop_close(&t->tl), 0);
	sim_stop(&t->sim);
	json_decref(t->last);
	free(t);
}

static void tw_add(struct tw *t, enum dep_kind kind, const char *path)
{
	struct dep *d;

	assert_int_equal(dep_new(kind, path, &d, NULL), 0);
	assert_int_equal(watcher_add(t->w, d), 0);
	dep_free(d);
}

struct want_data {
	struct tw *t;
	unsigned n;
};

static bool pred_ndata(void *arg)
{
	struct want_data *wd = arg;

	return wd->t->ndata >= wd->n;
}

static void tw_wait_data(struct tw *t, unsigned n, uint64_t timeout_ms)
{
	struct want_data wd = {t, n};

	if (!test_loop_run_until(&t->tl, pred_ndata, &wd, timeout_ms))
		fail_msg("waited %" PRIu64 " ms for data #%u, have %u",
		         timeout_ms, n, t->ndata);
}

/* The Value of the first KV entry in the last data, decoded. */
static const char *tw_kv_value(struct tw *t)
{
	static char out[256];
	const char *b64 = json_string_value(
	        json_object_get(json_array_get(t->last, 0), "Value"));
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	                          "qrstuvwxyz0123456789+/";
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;

	if (b64 == NULL)
		return "";
	for (; *b64 != '\0' && *b64 != '=' && o + 1 < sizeof(out); b64++) {
		const char *p = strchr(tbl, *b64);

		if (p == NULL)
			break;
		acc = (acc << 6) | (unsigned)(p - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return out;
}

/* Wait until the simulator holds count blocked queries under path. */
static void tw_await_blocked(struct tw *t, const char *path, int count)
{
	json_t *r = sim_call(&t->tl.loop, &t->sim, "/_sim/await-requests",
	                     "{\"path\":\"%s\",\"count\":%d,\"blocked\":true,"
	                     "\"timeout\":10}",
	                     path, count);

	assert_non_null(r);
	if (!json_is_true(json_object_get(r, "result")))
		fail_msg("no blocked query on %s", path);
	json_decref(r);
}

/* The simulator's request log for path (new reference). */
static json_t *tw_requests(struct tw *t, const char *path)
{
	char url[256];
	json_t *r, *reqs;

	snprintf(url, sizeof(url), "/_sim/requests?path=%s", path);
	r = sim_call(&t->tl.loop, &t->sim, url, NULL);
	assert_non_null(r);
	reqs = json_incref(json_object_get(r, "requests"));
	json_decref(r);
	return reqs;
}

static const char *req_query(json_t *req, const char *name)
{
	return json_string_value(json_array_get(
	        json_object_get(json_object_get(req, "query"), name), 0));
}

/* ---- tests -------------------------------------------------------- */

static void test_blocking_wakeup(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	struct watcher_stats st0, st1;
	json_t *reqs, *last;
	uint64_t t0;

	(void)state;
	t->cfg.block_query_wait_ms = 5000;
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"w/a\",\"value\":\"one\"}"));
	tw_start(t);
	tw_add(t, DEP_KV_GET, "/v1/kv/w/a");
	assert_true(watcher_has(t->w, "/v1/kv/w/a"));
	tw_add(t, DEP_KV_GET, "/v1/kv/w/a"); /* same id: no-op */
	tw_wait_data(t, 1, 5000);
	assert_string_equal(tw_kv_value(t), "one");
	tw_await_blocked(t, "/v1/kv/w/a", 1);

	/* A blocked long poll costs nothing: no timer fires. */
	watcher_get_stats(t->w, &st0);
	assert_int_equal(st0.deps, 1);
	assert_int_equal(st0.sockets, 1);
	test_loop_run_until(&t->tl, NULL, NULL, 1000);
	watcher_get_stats(t->w, &st1);
	assert_int_equal(st1.timer_fires, st0.timer_fires);
	assert_int_equal(st1.requests, st0.requests);

	t0 = uv_hrtime();
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"w/a\",\"value\":\"two\"}"));
	tw_wait_data(t, 2, 3000);
	assert_string_equal(tw_kv_value(t), "two");
	fprintf(stderr, "change-to-callback latency: %.1f ms\n",
	        (double)(uv_hrtime() - t0) / 1e6);

	/* First request: no index; the long poll: index=, wait=ms, stale. */
	reqs = tw_requests(t, "/v1/kv/w/a");
	assert_true(json_array_size(reqs) >= 2);
	assert_null(req_query(json_array_get(reqs, 0), "index"));
	last = json_array_get(reqs, 1);
	assert_non_null(req_query(last, "index"));
	assert_true(strtoull(req_query(last, "index"), NULL, 10) >= 1);
	assert_string_equal(req_query(last, "wait"), "5000ms");
	assert_non_null(req_query(last, "stale"));
	/* The token-less watcher sent no token. */
	assert_false(json_is_true(json_object_get(last, "token_present")));
	json_decref(reqs);
	watcher_get_stats(t->w, &st1);
	assert_int_equal(st1.connects, 1); /* one kept-alive connection */
	tw_teardown(t);
}

static void test_index_reset_after_restore(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	json_t *snap, *reqs;
	size_t i, n;
	bool saw_reset = false;
	unsigned long long before = 0;

	(void)state;
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"r/a\",\"value\":\"old\"}"));
	snap = sim_call(&t->tl.loop, &t->sim, "/_sim/snapshot", "{}");
	assert_non_null(snap);
	for (int k = 0; k < 5; k++)
		assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
		                   "{\"key\":\"r/a\",\"value\":\"new\"}"));
	tw_start(t);
	tw_add(t, DEP_KV_GET, "/v1/kv/r/a");
	tw_wait_data(t, 1, 5000);
	assert_string_equal(tw_kv_value(t), "new");
	tw_await_blocked(t, "/v1/kv/r/a", 1);
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/restore",
	                   "{\"id\":%lld}",
	                   json_integer_value(json_object_get(
	                           json_object_get(snap, "result"), "id"))));
	json_decref(snap);
	tw_wait_data(t, 2, 5000);
	assert_string_equal(tw_kv_value(t), "old");
	/* The answer after the reset is suspect: Consul's state went back. */
	assert_non_null(strstr(t->suspect, "index went backwards"));
	/* A healthy answer with the same data confirms it: a callback with
	 * the same value, no longer suspect. */
	tw_await_blocked(t, "/v1/kv/r/a", 1);
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"r/a\",\"value\":\"old\"}"));
	tw_wait_data(t, 3, 5000);
	assert_string_equal(tw_kv_value(t), "old");
	assert_string_equal(t->suspect, "");

	/* After the lower index, one query went out without index. */
	reqs = tw_requests(t, "/v1/kv/r/a");
	n = json_array_size(reqs);
	for (i = 1; i < n; i++) {
		const char *idx = req_query(json_array_get(reqs, i), "index");

		if (idx == NULL)
			saw_reset = true;
		else if (!saw_reset)
			before = strtoull(idx, NULL, 10);
	}
	assert_true(saw_reset);
	assert_true(before > 1);
	json_decref(reqs);
	tw_teardown(t);
}

static void test_unchanged_data_no_callback(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	json_t *reqs;
	size_t n;

	(void)state;
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"u/a\",\"value\":\"same\"}"));
	tw_start(t);
	tw_add(t, DEP_KV_GET, "/v1/kv/u/a");
	tw_wait_data(t, 1, 5000);
	tw_await_blocked(t, "/v1/kv/u/a", 1);
	/* The same value again: ModifyIndex and X-Consul-Index move. */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"u/a\",\"value\":\"same\"}"));
	/* The watcher took the answer and blocks again. */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/await-requests",
	                   "{\"path\":\"/v1/kv/u/a\",\"count\":2,"
	                   "\"timeout\":10}"));
	tw_await_blocked(t, "/v1/kv/u/a", 1);
	reqs = tw_requests(t, "/v1/kv/u/a");
	n = json_array_size(reqs);
	assert_true(n >= 3);
	/* The index moved between the first and the third request... */
	assert_true(strtoull(req_query(json_array_get(reqs, n - 1), "index"),
	                     NULL, 10) >
	            strtoull(req_query(json_array_get(reqs, 1), "index"), NULL,
	                     10));
	json_decref(reqs);
	/* ...but the data did not, so no callback. */
	assert_int_equal(t->ndata, 1);
	tw_teardown(t);
}

/*
 * How much slower than normal this run is allowed to be: CI's valgrind
 * stage sets CH_SLOW. Only upper time bounds and windows scale with it;
 * lower bounds (the rate limit, the backoff floor) never do.
 */
static double slow_factor(void)
{
	const char *s = getenv("CH_SLOW");
	double f = s != NULL ? atof(s) : 1.0;

	return f >= 1.0 ? f : 1.0;
}

static void test_backoff_bounds(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	json_t *reqs;
	size_t n;
	double first = 0, later = 0, maxgap = 0, slow = slow_factor();

	(void)state;
	/* retry 50..400 ms; every request fails */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-fault",
	                   "{\"mode\":\"no-leader\",\"path\":\"/v1/kv/b\"}"));
	tw_start(t);
	tw_add(t, DEP_KV_GET, "/v1/kv/b/a");
	test_loop_run_until(&t->tl, NULL, NULL, (uint64_t)(4000 * slow));
	assert_int_equal(t->ndata, 0);
	/* One event for the start of the outage, not one per retry. */
	assert_int_equal(t->nevents_status[status_slot(500)], 1);
	assert_int_equal(t->nevents, 1);

	reqs = tw_requests(t, "/v1/kv/b/a");
	n = json_array_size(reqs);
	/* Without backoff ~35 (rate limit alone); all at the cap: ~18. */
	fprintf(stderr, "backoff: %zu attempts in 4 s\n", n);
	assert_true(n >= 10 && n <= 30 * slow);
	for (size_t i = 1; i < n; i++) {
		json_t *prev = json_array_get(reqs, i - 1),
		       *cur = json_array_get(reqs, i);
		double start = json_real_value(json_object_get(cur, "time")),
		       prev_start =
		               json_real_value(json_object_get(prev, "time")),
		       prev_end = prev_start +
		                  json_number_value(
		                          json_object_get(prev, "duration")),
		       /* The daemon's delay: from the previous answer to this
		        * request (a loaded simulator's own answer time is not
		        * the daemon's backoff). */
		        gap = start - prev_end;

		/* floor: the rate limit (100 ms), between request starts */
		assert_true(start - prev_start > 0.095);

		if (i == 1)
			first = gap;
		if (i >= n - 8)
			later += gap / 8;
		if (gap > maxgap)
			maxgap = gap;
	}
	fprintf(stderr,
	        "backoff: first gap %.3f s, late mean %.3f s, max "
	        "%.3f s\n",
	        first, later, maxgap);
	/* the cap, plus slack */
	assert_true(maxgap < 0.400 + 0.150 * slow);
	/* 50 ms, raised to the rate limit */
	assert_true(first < 0.200 * slow);
	assert_true(later > first); /* it grew */
	json_decref(reqs);
	{
		/* The outage, as the metrics and STATUS= see it. */
		struct watcher_stats st;

		watcher_get_stats(t->w, &st);
		assert_false(st.reachable);
		assert_true(st.down_ms >= 3000);
		assert_true(st.kind_errors[DEP_KV_GET] >= 10);
		assert_true(st.kind_errors[DEP_KV_GET] <=
		            st.kind_requests[DEP_KV_GET]);
		assert_int_equal(st.kind_requests[DEP_KV_LIST], 0);
	}

	/* Consul comes back: data, and a recovery event. */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/clear-faults", "{}"));
	tw_wait_data(t, 1, 3000);
	assert_int_equal(t->nevents_status[status_slot(0)], 1);
	assert_non_null(strstr(t->last_what, "reachable again"));
	{
		struct watcher_stats st;

		watcher_get_stats(t->w, &st);
		assert_true(st.reachable);
		assert_int_equal(st.down_ms, 0);
	}
	tw_teardown(t);
}

static void test_faults_recover(void **state)
{
	static const char *const faults[] = {
	        "{\"mode\":\"no-leader\"}",
	        "{\"mode\":\"rate-limit\"}",
	        "{\"mode\":\"status\",\"status\":503,\"body\":\"oops\"}",
	        "{\"mode\":\"garbage\"}",
	        "{\"mode\":\"truncated\"}",
	        "{\"mode\":\"reset\"}",
	        "{\"mode\":\"no-index\"}",
	        "{\"mode\":\"index-backwards\"}",
	        "{\"mode\":\"hang\",\"seconds\":30}",
	};
	struct tw *t = tw_setup(false, NULL);
	unsigned want = 1;
	json_t *r;

	(void)state;
	t->cfg.block_query_wait_ms = 500; /* curl timeout 5.53 s for "hang" */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"f/a\",\"value\":\"v0\"}"));
	tw_start(t);
	tw_add(t, DEP_KV_GET, "/v1/kv/f/a");
	tw_wait_data(t, want, 5000);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		char fault[256];

		tw_await_blocked(t, "/v1/kv/f/a", 1);
		/* The next request after this one fails. */
		snprintf(fault, sizeof(fault),
		         "%.*s,\"count\":1,"
		         "\"path\":\"/v1/kv/f/a\"}",
		         (int)strlen(faults[i]) - 1, faults[i]);
		assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-fault",
		                   "%s", fault));
		assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
		                   "{\"key\":\"f/a\",\"value\":\"v%zu\"}",
		                   2 * i + 1));
		tw_wait_data(t, ++want, 5000);
		assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
		                   "{\"key\":\"f/a\",\"value\":\"v%zu\"}",
		                   2 * i + 2));
		/* Data after the fault: it recovered. */
		tw_wait_data(t, ++want, 10000);
		assert_int_equal(atoi(tw_kv_value(t) + 1), (int)(2 * i + 2));
		r = sim_call(&t->tl.loop, &t->sim, "/_sim/state", NULL);
		assert_int_equal(
		        json_array_size(json_object_get(
		                json_object_get(r, "result"), "faults")),
		        0);
		json_decref(r);
	}
	r = sim_call(&t->tl.loop, &t->sim, "/_sim/requests?path=/v1/kv/f/a",
	             NULL);
	assert_int_equal(
	        json_integer_value(json_object_get(
	                json_object_get(r, "counters"), "faults_applied")),
	        (json_int_t)(sizeof(faults) / sizeof(faults[0])));
	json_decref(r);
	{
		/* Every request of a dependency counted for its endpoint
		 * (the outage probe's are not a dependency's); the faults that
		 * fail a request (500 "No cluster leader", 429, 503, garbage,
		 * truncated, reset, hang) counted as errors (one of them now
		 * and then lands on a request that is answered anyway), the
		 * others (no index, index backwards) not. */
		struct watcher_stats st;

		watcher_get_stats(t->w, &st);
		assert_true(st.kind_requests[DEP_KV_GET] <= st.requests);
		assert_true(st.kind_requests[DEP_KV_GET] >= 2 * 9);
		assert_true(st.kind_errors[DEP_KV_GET] >= 6);
		assert_true(st.kind_errors[DEP_KV_GET] <= 7);
		assert_true(st.reachable);
		assert_int_equal(st.refused, 0);
	}
	tw_teardown(t);
}

static void test_acl(void **state)
{
	static char secret[] = "5ecre7-70ken-d0-n0t-l0g";
	static char wrong[] = "wrong-token";
	const char *const extra[] = {"--token-required", secret, NULL};
	struct tw *t = tw_setup(false, extra);
	struct tw *bad;
	char logpath[128], logbuf[65536];
	json_t *reqs;
	FILE *f;
	size_t n;
	int saved;

	(void)state;
	/* Capture everything logged, at trace level. */
	snprintf(logpath, sizeof(logpath), "%s/log", t->sim.dir);
	fflush(stderr);
	saved = dup(2);
	f = fopen(logpath, "w+");
	assert_non_null(f);
	dup2(fileno(f), 2);
	log_init(LOG_LVL_TRACE, 0);

	t->cfg.consul.token = secret;
	tw_start(t);
	tw_add(t, DEP_CATALOG_NODES, "/v1/catalog/nodes");
	tw_wait_data(t, 1, 5000);
	assert_true(json_array_size(t->last) > 0);
	reqs = tw_requests(t, "/v1/catalog/nodes");
	assert_true(json_is_true(
	        json_object_get(json_array_get(reqs, 0), "token_present")));
	assert_non_null(json_object_get(
	        json_object_get(json_array_get(reqs, 0), "headers"),
	        "X-Consul-Token"));
	json_decref(reqs);

	/* A second watcher with a token the agent does not know. */
	bad = xcalloc(1, sizeof(*bad));
	bad->sim = t->sim;
	bad->cfg = t->cfg;
	bad->cfg.consul.token = wrong;
	if (watcher_new(&t->tl.loop, &bad->cfg, tw_on_data, tw_on_event, bad,
	                &bad->w, NULL) != 0)
		fail();
	{
		struct dep *d;

		assert_int_equal(dep_new(DEP_CATALOG_SERVICES,
		                         "/v1/catalog/services", &d, NULL),
		                 0);
		assert_int_equal(watcher_add(bad->w, d), 0);
		dep_free(d);
	}
	test_loop_run_until(&t->tl, NULL, NULL, 2000);
	reqs = tw_requests(t, "/v1/catalog/services");
	n = json_array_size(reqs);
	json_decref(reqs);
	assert_true(n >= 3); /* it retried */
	assert_int_equal(bad->nevents_status[status_slot(403)], 1); /* once */
	assert_int_equal(bad->ndata, 0);
	assert_non_null(strstr(bad->last_what, "ACL"));
	assert_non_null(strstr(bad->last_what, "ACL not found"));
	{
		struct watcher_stats st;

		watcher_get_stats(bad->w, &st);
		assert_int_equal(st.refused, 1);
		assert_true(st.reachable); /* a 403 is an answer */
		assert_true(st.kind_errors[DEP_CATALOG_SERVICES] + 1 >=
		            st.kind_requests[DEP_CATALOG_SERVICES]);
		assert_true(st.kind_errors[DEP_CATALOG_SERVICES] >= 3);
	}
	watcher_close(bad->w, tw_closed, bad);
	while (!bad->closed)
		uv_run(&t->tl.loop, UV_RUN_ONCE);
	free(bad);

	/* The token appears in no log line. */
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	log_init(LOG_LVL_INFO, 0);
	rewind(f);
	n = fread(logbuf, 1, sizeof(logbuf) - 1, f);
	logbuf[n] = '\0';
	fclose(f);
	assert_non_null(strstr(logbuf, "-> [FETCHING]")); /* it logged */
	assert_null(strstr(logbuf, secret));
	assert_null(strstr(logbuf, wrong));
	tw_teardown(t);
}

static void test_unix_socket(void **state)
{
	struct tw *t = tw_setup(true, NULL);

	(void)state;
	assert_non_null(strstr(t->sim.addr, "unix://"));
	tw_start(t);
	tw_add(t, DEP_CATALOG_SERVICES, "/v1/catalog/services");
	tw_wait_data(t, 1, 5000);
	assert_true(json_is_object(t->last));
	assert_non_null(json_object_get(t->last, "consul"));
	tw_teardown(t);
}

static void test_nonblocking_dep(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	json_t *reqs;

	(void)state;
	tw_start(t);
	tw_add(t, DEP_DATACENTERS, "/v1/catalog/datacenters");
	tw_wait_data(t, 1, 5000);
	assert_true(json_is_array(t->last));
	/* Fetched once; the next poll is a minute away. */
	test_loop_run_until(&t->tl, NULL, NULL, 500);
	reqs = tw_requests(t, "/v1/catalog/datacenters");
	assert_int_equal(json_array_size(reqs), 1);
	assert_null(req_query(json_array_get(reqs, 0), "index"));
	assert_null(req_query(json_array_get(reqs, 0), "wait"));
	json_decref(reqs);
	tw_teardown(t);
}

static void test_stale_too_old(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	json_t *reqs;
	size_t n;
	bool consistent = false;

	(void)state;
	t->cfg.max_stale_ms = 100;
	/* No leader: stale answers grow old, consistent ones fail (500). */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-leader",
	                   "{\"leader\":\"\"}"));
	test_loop_run_until(&t->tl, NULL, NULL, 300);
	tw_start(t);
	tw_add(t, DEP_CATALOG_NODES, "/v1/catalog/nodes");
	test_loop_run_until(&t->tl, NULL, NULL, 800);
	reqs = tw_requests(t, "/v1/catalog/nodes");
	n = json_array_size(reqs);
	assert_true(n >= 2);
	assert_non_null(req_query(json_array_get(reqs, 0), "stale"));
	for (size_t i = 1; i < n; i++)
		if (req_query(json_array_get(reqs, i), "stale") == NULL)
			consistent = true;
	assert_true(consistent);
	/* The leader could not be asked, so the stale answer was taken,
	 * marked suspect (its removals are held by the publisher). */
	tw_wait_data(t, 1, 5000);
	assert_non_null(strstr(t->suspect, "stale"));
	/* One outage, then one recovery: not a flap per stale answer. */
	test_loop_run_until(&t->tl, NULL, NULL, 500);
	assert_int_equal(t->nevents_status[status_slot(500)], 1);
	assert_int_equal(t->nevents, 2);
	assert_int_equal(t->ndata, 1);
	json_decref(reqs);
	tw_teardown(t);
}

/*
 * X-Consul-KnownLeader: false from the blocking-query backend marks the
 * answer suspect; the same data from a healthy answer confirms it. The
 * streaming backend always says false (hashicorp/consul#9776): never
 * suspect for that alone.
 */
static void test_no_leader_suspect(void **state)
{
	struct tw *t = tw_setup(false, NULL);

	(void)state;
	t->cfg.max_stale_ms = 600000; /* stale answers stay usable */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"l/a\",\"value\":\"one\"}"));
	tw_start(t);
	tw_add(t, DEP_KV_GET, "/v1/kv/l/a");
	tw_add(t, DEP_HEALTH_SERVICE, "/v1/health/service/web");
	tw_wait_data(t, 2, 5000);
	assert_string_equal(t->suspect, "");
	tw_await_blocked(t, "/v1/kv/l/a", 1);
	tw_await_blocked(t, "/v1/health/service/web", 1);
	/* The leader goes; a write wakes the KV query: no known leader. */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-leader",
	                   "{\"leader\":\"\"}"));
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"l/a\",\"value\":\"two\"}"));
	tw_wait_data(t, 3, 5000);
	assert_string_equal(tw_kv_value(t), "two");
	assert_string_equal(t->suspect, "Consul has no known leader");
	/* The leader is back: the next answer (its wait expires) confirms
	 * the same data. */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-leader",
	                   "{\"leader\":\"127.0.0.1:8300\"}"));
	tw_wait_data(t, 4, 5000);
	assert_string_equal(tw_kv_value(t), "two");
	assert_string_equal(t->suspect, "");
	/* The streaming health query (KnownLeader: false on every answer)
	 * delivered once, healthy, and never flipped. */
	assert_int_equal(t->ndata, 4);
	tw_teardown(t);
}

/*
 * After a quiet spell, WATCH_RATE_BURST fetches start at once (a
 * failover's second write is seen as fast as its first); a churning key
 * is then held to one fetch per interval. A long interval makes the two
 * cases far apart.
 */
static void test_rate_burst(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	unsigned saved = watch_rate_ms;
	json_t *reqs;
	size_t n;
	double slow = slow_factor(), gap1, gap3;

	(void)state;
	watch_rate_ms = 2000;
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"b/a\",\"value\":\"0\"}"));
	tw_start(t);
	tw_add(t, DEP_KV_GET, "/v1/kv/b/a");
	tw_wait_data(t, 1, 5000);
	/* Four writes, each once the previous one was seen. */
	for (unsigned i = 1; i <= 4; i++) {
		char body[64];

		tw_await_blocked(t, "/v1/kv/b/a", 1);
		snprintf(body, sizeof(body),
		         "{\"key\":\"b/a\",\"value\":\"%u\"}", i);
		assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set", "%s",
		                   body));
		tw_wait_data(t, i + 1, (uint64_t)(10000 * slow));
	}
	reqs = tw_requests(t, "/v1/kv/b/a");
	n = json_array_size(reqs);
	assert_true(n >= 5);
#define START(i) \
	json_real_value(json_object_get(json_array_get(reqs, i), "time"))
#define END(i)                                                                 \
	(START(i) + json_number_value(json_object_get(json_array_get(reqs, i), \
	                                              "duration")))
	/* The daemon's delay from an answer to the next request. */
	gap1 = START(2) - END(1);
	gap3 = START(4) - END(3);
#undef START
#undef END
	fprintf(stderr, "rate: gap after the 1st change %.3f s, 3rd %.3f s\n",
	        gap1, gap3);
	/* The first change: no wait (2 s without the burst). */
	assert_true(gap1 < 1.0 * slow);
	/* The third within one interval of the first: the burst is spent,
	 * the interval (2 s) applies, minus what the write took. */
	assert_true(gap3 > 1.0);
	json_decref(reqs);
	watch_rate_ms = saved;
	tw_teardown(t);
}

static void test_remove_cancels(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	struct watcher_stats st;

	(void)state;
	t->cfg.block_query_wait_ms = 30000;
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"x/a\",\"value\":\"1\"}"));
	tw_start(t);
	tw_add(t, DEP_KV_GET, "/v1/kv/x/a");
	tw_wait_data(t, 1, 5000);
	tw_await_blocked(t, "/v1/kv/x/a", 1);
	watcher_remove(t->w, "/v1/kv/x/a");
	watcher_remove(t->w, "/v1/kv/x/a"); /* unknown now: no-op */
	assert_false(watcher_has(t->w, "/v1/kv/x/a"));
	/* The in-flight long poll was cancelled: its connection is gone. */
	test_loop_run_until(&t->tl, NULL, NULL, 100);
	watcher_get_stats(t->w, &st);
	assert_int_equal(st.deps, 0);
	assert_int_equal(st.sockets, 0);
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"x/a\",\"value\":\"2\"}"));
	test_loop_run_until(&t->tl, NULL, NULL, 300);
	assert_int_equal(t->ndata, 1);
	tw_teardown(t);
}

static void test_close_from_callback(void **state)
{
	struct tw *t = tw_setup(false, NULL);

	(void)state;
	t->close_in_data = true;
	tw_start(t);
	tw_add(t, DEP_CATALOG_NODES, "/v1/catalog/nodes");
	tw_add(t, DEP_CATALOG_SERVICES, "/v1/catalog/services");
	tw_wait_data(t, 1, 5000);
	assert_null(t->w);
	tw_teardown(t); /* waits for closed, checks uv_loop_close() */
	(void)state;
}

static void test_https(void **state)
{
	static const char proxy[] =
	        "import socket,ssl,sys,threading,os\n"
	        "ctx=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
	        "ctx.load_cert_chain(sys.argv[1],sys.argv[2])\n"
	        "ls=socket.socket();ls.bind(('127.0.0.1',0));ls.listen(16)\n"
	        "open(sys.argv[4]+'.tmp','w').write(str(ls.getsockname()[1]))\n"
	        "os.rename(sys.argv[4]+'.tmp',sys.argv[4])\n"
	        "def pipe(a,b):\n"
	        "  try:\n"
	        "    while True:\n"
	        "      d=a.recv(65536)\n"
	        "      if not d: break\n"
	        "      b.sendall(d)\n"
	        "  except Exception: pass\n"
	        "  for s in (a,b):\n"
	        "    try: s.close()\n"
	        "    except Exception: pass\n"
	        "def serve(c):\n"
	        "  try: t=ctx.wrap_socket(c,server_side=True)\n"
	        "  except Exception: return c.close()\n"
	        "  u=socket.create_connection(('127.0.0.1',int(sys.argv[3])))\n"
	        "  "
	        "threading.Thread(target=pipe,args=(u,t),daemon=True).start()\n"
	        "  pipe(t,u)\n"
	        "while True:\n"
	        "  c,_=ls.accept()\n"
	        "  "
	        "threading.Thread(target=serve,args=(c,),daemon=True).start()"
	        "\n";
	struct tw *t;
	char cmd[2048], ca[160], crt[160], key[160], pf[160], port[16];
	char addr[64], simport[16];
	pid_t pid;
	FILE *f;
	struct tw *bad;
	static char server_name[] = "consul.test";

	(void)state;
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP test_https: openssl is not installed\n");
		skip();
	}
	t = tw_setup(false, NULL);
	snprintf(ca, sizeof(ca), "%s/ca.pem", t->sim.dir);
	snprintf(crt, sizeof(crt), "%s/srv.pem", t->sim.dir);
	snprintf(key, sizeof(key), "%s/srv.key", t->sim.dir);
	snprintf(pf, sizeof(pf), "%s/tls.port", t->sim.dir);
	/* A throw-away CA and a server certificate for consul.test. */
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes "
	         "-keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca "
	         ">/dev/null 2>&1 && openssl req -newkey rsa:2048 -nodes "
	         "-keyout srv.key -out srv.csr -subj /CN=consul.test "
	         ">/dev/null 2>&1 && printf "
	         "'subjectAltName=DNS:consul.test\\n' >ext && openssl x509 "
	         "-req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	         "-out srv.pem -days 1 -extfile ext >/dev/null 2>&1",
	         t->sim.dir);
	assert_int_equal(system(cmd), 0);
	snprintf(simport, sizeof(simport), "%u", t->sim.port);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execlp("python3", "python3", "-c", proxy, crt, key, simport, pf,
		       (char *)NULL);
		_exit(127);
	}
	port[0] = '\0';
	for (int i = 0; i < 2000 && port[0] == '\0'; i++) {
		f = fopen(pf, "r");
		if (f != NULL) {
			if (fgets(port, sizeof(port), f) == NULL)
				port[0] = '\0';
			fclose(f);
		} else {
			nanosleep(&(struct timespec){0, 5000000}, NULL);
		}
	}
	assert_true(port[0] != '\0');
	snprintf(addr, sizeof(addr), "https://127.0.0.1:%s", port);

	/* Verified against the CA, with the certificate's server name. */
	t->cfg.consul.address = addr;
	t->cfg.consul.ssl.enabled = true;
	t->cfg.consul.ssl.ca_cert = ca;
	t->cfg.consul.ssl.server_name = server_name;
	tw_start(t);
	tw_add(t, DEP_CATALOG_NODES, "/v1/catalog/nodes");
	tw_wait_data(t, 1, 10000);
	assert_true(json_array_size(t->last) > 0);

	/* Without the CA the certificate is refused: an event, no data. */
	bad = xcalloc(1, sizeof(*bad));
	bad->cfg = t->cfg;
	bad->cfg.consul.ssl.ca_cert = NULL;
	bad->cfg.consul.ssl.ca_path = t->sim.dir; /* no CA in there */
	assert_int_equal(watcher_new(&t->tl.loop, &bad->cfg, tw_on_data,
	                             tw_on_event, bad, &bad->w, NULL),
	                 0);
	{
		struct dep *d;

		assert_int_equal(dep_new(DEP_CATALOG_NODES, "/v1/catalog/nodes",
		                         &d, NULL),
		                 0);
		assert_int_equal(watcher_add(bad->w, d), 0);
		dep_free(d);
	}
	test_loop_run_until(&t->tl, NULL, NULL, 1500);
	assert_int_equal(bad->ndata, 0);
	assert_int_equal(bad->nevents, 1);
	assert_true(bad->last_status < 0);
	fprintf(stderr, "untrusted certificate: %s\n", bad->last_what);
	watcher_close(bad->w, tw_closed, bad);
	while (!bad->closed)
		uv_run(&t->tl.loop, UV_RUN_ONCE);
	free(bad);

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	tw_teardown(t);
}

/* ---- admission and rotation --------------------------------------- */

/* Set n KV keys <prefix>kNN and watch them all; returns when added. */
static void tw_add_keys(struct tw *t, const char *prefix, unsigned from,
                        unsigned to, bool set)
{
	char key[128], path[160];

	for (unsigned i = from; i < to; i++) {
		snprintf(key, sizeof(key), "%sk%02u", prefix, i);
		snprintf(path, sizeof(path), "/v1/kv/%s", key);
		if (set)
			assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
			                   "{\"key\":\"%s\",\"value\":\"v%u\"}",
			                   key, i));
		else
			tw_add(t, DEP_KV_GET, path);
	}
}

/* The most connections the simulator saw open at once. */
static long long tw_sim_max_open(struct tw *t)
{
	json_t *r =
	        sim_call(&t->tl.loop, &t->sim, "/_sim/requests?path=/x", NULL);
	long long n;

	assert_non_null(r);
	n = json_integer_value(json_object_get(
	        json_object_get(json_object_get(r, "counters"), "connections"),
	        "max_open"));
	json_decref(r);
	return n;
}

/* The wait= of the last request for path ("" when none has one). */
static void tw_last_wait(struct tw *t, const char *path, char *out, size_t size)
{
	json_t *reqs = tw_requests(t, path);
	const char *wait = NULL;

	for (size_t i = json_array_size(reqs); i > 0 && wait == NULL; i--)
		wait = req_query(json_array_get(reqs, i - 1), "wait");
	snprintf(out, size, "%s", wait != NULL ? wait : "");
	json_decref(reqs);
}

/*
 * 30 deps over 8 connections (7 for long polls): every first fetch gets
 * through at once, the long polls take turns with a shortened wait, a
 * change of any key arrives within about one rotation, no more than 8
 * requests are ever in flight, and back under 7 deps the wait is whole.
 */
static void test_rotation(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	struct watcher_stats st;
	static const unsigned changed[] = {3, 17, 29, 11};
	double first_ms, worst_ms = 0;
	char path[64], wait[32];
	uint64_t t0;

	(void)state;
	t->cfg.block_query_wait_ms = 5000;
	tw_add_keys(t, "rot/", 0, 30, true);
	watch_max_connections = 8;
	tw_start(t);
	watch_max_connections = HTTP_MAX_CONNECTIONS;
	t0 = uv_hrtime();
	tw_add_keys(t, "rot/", 0, 30, false);
	watcher_get_stats(t->w, &st);
	assert_int_equal(st.max_connections, 8);
	assert_int_equal(st.long_slots, 7);
	assert_int_equal(st.in_flight, 8);
	assert_int_equal(st.queued, 22);
	assert_int_equal(st.wait_ms, 5000 * 7 / 30);

	tw_wait_data(t, 30, 5000);
	first_ms = (double)(uv_hrtime() - t0) / 1e6;
	fprintf(stderr,
	        "30 deps over 8 connections: all first data in "
	        "%.0f ms\n",
	        first_ms);
	assert_int_equal(t->ndata, 30); /* each dep once, no failure */
	assert_int_equal(t->nevents, 0);

	for (size_t k = 0; k < sizeof(changed) / sizeof(changed[0]); k++) {
		char key[32], want[32];
		double ms;

		snprintf(key, sizeof(key), "rot/k%02u", changed[k]);
		snprintf(want, sizeof(want), "changed %zu", k);
		t0 = uv_hrtime();
		assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
		                   "{\"key\":\"%s\",\"value\":\"%s\"}", key,
		                   want));
		/* A rotation: 30 / 7 * 1.17 s (+ wait/16 jitter) ~ 5.3 s. */
		tw_wait_data(t, 31 + (unsigned)k, 8000);
		assert_string_equal(tw_kv_value(t), want);
		ms = (double)(uv_hrtime() - t0) / 1e6;
		worst_ms = ms > worst_ms ? ms : worst_ms;
	}
	fprintf(stderr, "change-to-callback while rotating: worst %.0f ms\n",
	        worst_ms);
	assert_int_equal(t->nevents, 0);
	watcher_get_stats(t->w, &st);
	assert_true(st.max_in_flight <= 8);
	assert_true(st.in_flight <= 8);
	/* The simulator agrees (+2 for this test's own control calls). */
	assert_true(tw_sim_max_open(t) <= 8 + 2);
	tw_last_wait(t, "/v1/kv/rot/k03", wait, sizeof(wait));
	assert_string_equal(wait, "1166ms");

	/* Down to 6 blocking deps: whole waits again, nothing queued. */
	for (unsigned i = 6; i < 30; i++) {
		snprintf(path, sizeof(path), "/v1/kv/rot/k%02u", i);
		watcher_remove(t->w, path);
	}
	watcher_get_stats(t->w, &st);
	assert_int_equal(st.deps, 6);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.wait_ms, 5000);
	/* k00's short polls end; a next one asks for the whole wait. */
	for (int round = 0; round < 5; round++) {
		json_t *reqs = tw_requests(t, "/v1/kv/rot/k00");
		size_t answered = 0;

		for (size_t i = 0; i < json_array_size(reqs); i++)
			if (!json_is_null(json_object_get(
			            json_array_get(reqs, i), "status")))
				answered++;
		json_decref(reqs);
		tw_last_wait(t, "/v1/kv/rot/k00", wait, sizeof(wait));
		if (strcmp(wait, "5000ms") == 0)
			break;
		assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/await-requests",
		                   "{\"path\":\"/v1/kv/rot/k00\",\"count\":%zu,"
		                   "\"timeout\":10}",
		                   answered + 1));
		tw_await_blocked(t, "/v1/kv/rot/k00", 1);
	}
	assert_string_equal(wait, "5000ms");
	tw_teardown(t);
}

/* As many deps as long-poll slots: the old behaviour, nothing waits. */
static void test_few_deps_full_wait(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	struct watcher_stats st0, st1;
	char wait[32];

	(void)state;
	t->cfg.block_query_wait_ms = 5000;
	tw_add_keys(t, "few/", 0, 7, true);
	watch_max_connections = 8;
	tw_start(t);
	watch_max_connections = HTTP_MAX_CONNECTIONS;
	tw_add_keys(t, "few/", 0, 7, false);
	tw_wait_data(t, 7, 5000);
	tw_await_blocked(t, "/v1/kv/few/", 7);
	watcher_get_stats(t->w, &st0);
	assert_int_equal(st0.queued, 0);
	assert_int_equal(st0.in_flight, 7);
	assert_int_equal(st0.wait_ms, 5000);
	/* Blocked long polls cost nothing: no timer fires, no request. */
	test_loop_run_until(&t->tl, NULL, NULL, 1000);
	watcher_get_stats(t->w, &st1);
	assert_int_equal(st1.timer_fires, st0.timer_fires);
	assert_int_equal(st1.requests, st0.requests);
	tw_last_wait(t, "/v1/kv/few/k06", wait, sizeof(wait));
	assert_string_equal(wait, "5000ms");
	tw_teardown(t);
}

/* Removing a queued dep takes it out of the FIFO; close with a queue. */
static void test_queued_remove_close(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	struct watcher_stats st;
	json_t *reqs;

	(void)state;
	tw_add_keys(t, "q/", 0, 10, true);
	watch_max_connections = 4;
	tw_start(t);
	watch_max_connections = HTTP_MAX_CONNECTIONS;
	tw_add_keys(t, "q/", 0, 10, false);
	watcher_get_stats(t->w, &st);
	assert_int_equal(st.in_flight, 4);
	assert_int_equal(st.queued, 6);
	/* The last added wait at the tail of the queue. */
	watcher_remove(t->w, "/v1/kv/q/k09");
	watcher_remove(t->w, "/v1/kv/q/k05");
	assert_false(watcher_has(t->w, "/v1/kv/q/k09"));
	watcher_get_stats(t->w, &st);
	assert_int_equal(st.queued, 4);
	assert_int_equal(st.deps, 8);
	tw_wait_data(t, 8, 5000);
	test_loop_run_until(&t->tl, NULL, NULL, 200);
	assert_int_equal(t->ndata, 8);
	reqs = tw_requests(t, "/v1/kv/q/k09");
	assert_int_equal(json_array_size(reqs), 0);
	json_decref(reqs);
	/* Queue more and close with them waiting (valgrind: no leak). */
	tw_add_keys(t, "q2/", 0, 10, false);
	watcher_get_stats(t->w, &st);
	assert_true(st.queued > 0);
	assert_true(st.in_flight <= 4);
	tw_teardown(t);
}

static void test_new_errors(void **state)
{
	struct config cfg;
	struct watcher *w = NULL;
	uv_loop_t loop;
	struct err e;
	char path[] = "/tmp/ch-token-XXXXXX";
	char ftp[] = "ftp://x", nofile[] = "/nonexistent/token";
	int fd;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.consul.address = ftp;
	assert_true(watcher_new(&loop, &cfg, tw_on_data, NULL, NULL, &w, &e) <
	            0);
	assert_non_null(strstr(e.msg, "scheme"));
	cfg.consul.address = NULL;
	cfg.consul.token_file = nofile;
	assert_true(watcher_new(&loop, &cfg, tw_on_data, NULL, NULL, &w, &e) <
	            0);
	assert_string_equal(e.file, "/nonexistent/token");
	/* A token file is trimmed; its content never reaches an error. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "  tok-123\n\n", 11), 11);
	close(fd);
	cfg.consul.token_file = path;
	assert_int_equal(
	        watcher_new(&loop, &cfg, tw_on_data, NULL, NULL, &w, &e), 0);
	watcher_close(w, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "a\x01secret", 8), 8);
	close(fd);
	assert_true(watcher_new(&loop, &cfg, tw_on_data, NULL, NULL, &w, &e) <
	            0);
	assert_null(strstr(e.msg, "secret"));
	/* The rule is config's (config_read_token_file): one token, so a
	 * space inside is refused here as at load. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "two words\n", 10), 10);
	close(fd);
	assert_true(watcher_new(&loop, &cfg, tw_on_data, NULL, NULL, &w, &e) <
	            0);
	assert_non_null(strstr(e.msg, "expected one token"));
	unlink(path);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- reliability: answers we cannot use, outages, -once ------------ */

/* A control GET's answer as text (new string); the loop is not run. */
static char *tw_raw_get(struct tw *t, const char *path)
{
	char url[512];
	struct buf b;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	buf_init(&b, 64 << 20);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", t->sim.port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	buf_putc(&b, '\0');
	return buf_take(&b, NULL);
}

/* How many requests for paths under path started since (sim time). */
static size_t tw_count(struct tw *t, const char *path, double since)
{
	json_t *reqs = tw_requests(t, path), *r;
	size_t i, n = 0;

	json_array_foreach(reqs, i, r)
	{
		if (json_number_value(json_object_get(r, "time")) >= since)
			n++;
	}
	json_decref(reqs);
	return n;
}

/* The simulator's clock: its request log's "time" is time.time(). */
static double tw_sim_now(struct tw *t)
{
	struct timespec ts;

	(void)t;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A proxy or maintenance page answering 200 with HTML: the answer does
 * not decode, so it counts as a failure and backs off like a 500 (it was
 * retried at the rate limit, ~8 a second, forever), and it is reported
 * once, not once per request.
 */
static void test_undecodable_200_backs_off(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	double slow = slow_factor(), maxgap = 0;
	json_t *reqs;
	size_t n;

	(void)state;
	t->cfg.consul.retry.max_backoff_ms = 2000;
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"h/a\",\"value\":\"v\"}"));
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-fault",
	                   "{\"mode\":\"status\",\"status\":200,\"body\":"
	                   "\"<html>down for maintenance</html>\","
	                   "\"path\":\"/v1/kv/h\"}"));
	tw_start(t);
	tw_add(t, DEP_KV_GET, "/v1/kv/h/a");
	test_loop_run_until(&t->tl, NULL, NULL, 4000);
	assert_int_equal(t->ndata, 0);
	/* Reported once, as undecodable. */
	assert_int_equal(t->nevents, 1);
	assert_int_equal(t->last_status, -EBADMSG);
	assert_non_null(strstr(t->last_what, "undecodable"));
	reqs = tw_requests(t, "/v1/kv/h/a");
	n = json_array_size(reqs);
	for (size_t i = 1; i < n; i++) {
		double gap = json_number_value(json_object_get(
		                     json_array_get(reqs, i), "time")) -
		             json_number_value(json_object_get(
		                     json_array_get(reqs, i - 1), "time"));

		maxgap = gap > maxgap ? gap : maxgap;
	}
	json_decref(reqs);
	/* 50 ms doubling to 2 s: about 8 in 4 s; at the rate limit ~35. */
	fprintf(stderr,
	        "undecodable 200: %zu requests in 4 s, max gap %.2f s\n", n,
	        maxgap);
	assert_true(n >= 3 && n <= 14);
	assert_true(maxgap > 0.3);
	/* It decodes again: data, and "answers again". */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/clear-faults", "{}"));
	tw_wait_data(t, 1, (uint64_t)(4000 * slow));
	assert_int_equal(t->nevents, 2);
	assert_int_equal(t->last_status, 0);
	assert_non_null(strstr(t->last_what, "answers again"));
	tw_teardown(t);
}

/* X-Consul-Index up to 2^64 - 1 is an index (it read as missing above
 * 2^64 - 16, and the watcher stopped blocking). */
static void test_index_near_2_64(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	char *log;

	(void)state;
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"i/a\",\"value\":\"1\"}"));
	tw_start(t);
	tw_add(t, DEP_KV_GET, "/v1/kv/i/a");
	tw_wait_data(t, 1, 5000);
	tw_await_blocked(t, "/v1/kv/i/a", 1);
	/* The request after the parked one answers at once with the index
	 * 2^64 - 1 (the simulator's "backwards" fault sets any index). */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-fault",
	                   "{\"mode\":\"index-backwards\",\"count\":1,"
	                   "\"index\":18446744073709551615,"
	                   "\"path\":\"/v1/kv/i/a\"}"));
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"i/a\",\"value\":\"2\"}"));
	tw_wait_data(t, 2, 5000);
	/* The next query blocks on that index. */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/await-requests",
	                   "{\"path\":\"/v1/kv/i/a\",\"count\":4,"
	                   "\"timeout\":10,\"blocked\":true}"));
	/* (jansson reads no integer above 2^63: the log is searched raw.) */
	log = tw_raw_get(t, "/_sim/requests?path=/v1/kv/i/a");
	assert_non_null(strstr(log, "\"index\":[\"18446744073709551615\"]"));
	assert_null(strstr(log, "\"index\":[\"1\"]"));
	free(log);
	tw_teardown(t);
}

/*
 * Every request fails without an answer (here: the connection is reset):
 * the dependencies stop retrying on their own and one probe asks for all
 * of them, so 20 dependencies cost about as many requests as one; when
 * Consul answers again they resume within a short window and a change
 * made meanwhile arrives.
 */
static void test_outage_probe(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	double slow = slow_factor(), t_fault, took;
	size_t deps_reqs, probes;
	uint64_t t0;

	(void)state;
	t->cfg.block_query_wait_ms = 1000;
	tw_add_keys(t, "o/", 0, 20, true);
	tw_start(t);
	tw_add_keys(t, "o/", 0, 20, false);
	tw_wait_data(t, 20, 5000);
	tw_await_blocked(t, "/v1/kv/o/", 20);
	t_fault = tw_sim_now(t);
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-fault",
	                   "{\"mode\":\"reset\"}"));
	/* The long polls end within their 1 s wait and fail; then only the
	 * probe asks, backing off 50 ms doubling to 400 ms. */
	test_loop_run_until(&t->tl, NULL, NULL, 4000);
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"o/k07\",\"value\":\"while away\"}"));
	deps_reqs = tw_count(t, "/v1/kv/o/", t_fault);
	probes = tw_count(t, WATCH_PROBE_PATH, t_fault);
	fprintf(stderr,
	        "outage of 4 s, 20 deps: %zu dependency requests, %zu "
	        "probes\n",
	        deps_reqs, probes);
	/* One failed request per dependency, then the probe alone (at
	 * least every 400 ms: ~10). Retrying each on its own: ~200. */
	assert_true(deps_reqs <= 20 + 2);
	assert_true(probes >= 3 && probes <= 4000 / 50);
	assert_int_equal(t->ndata, 20);
	assert_int_equal(t->nevents_status[status_slot(0)], 0);
	assert_int_equal(t->nevents, 1); /* the outage, once */
	assert_true(t->last_status < 0);

	t0 = uv_hrtime();
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/clear-faults", "{}"));
	tw_wait_data(t, 21, (uint64_t)(3000 * slow));
	took = (double)(uv_hrtime() - t0) / 1e6;
	assert_string_equal(tw_kv_value(t), "while away");
	/* A probe within its 400 ms cap, the resume window (20 x 5 ms). */
	fprintf(stderr,
	        "change made during the outage arrived %.0f ms after "
	        "Consul answered again\n",
	        took);
	assert_true(took < (400 + 100) * slow + 300);
	assert_int_equal(t->nevents_status[status_slot(0)], 1);
	assert_non_null(strstr(t->last_what, "reachable again"));
	/* Everything blocks again, and nothing more was lost. */
	tw_await_blocked(t, "/v1/kv/o/", 20);
	tw_teardown(t);
}

/*
 * The same while rotating (30 deps over 7 long-poll slots, each waiting
 * 10 s * 7 / 30 = 2.3 s): a resumed long poll could wait that long for a
 * slot, so every resumed dep first asks once without blocking, and a
 * change made during the outage arrives within the probe and the window.
 */
static void test_outage_probe_rotating(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	double slow = slow_factor(), took;
	uint64_t t0;

	(void)state;
	t->cfg.block_query_wait_ms = 10000;
	tw_add_keys(t, "or/", 0, 30, true);
	watch_max_connections = 8;
	tw_start(t);
	watch_max_connections = HTTP_MAX_CONNECTIONS;
	tw_add_keys(t, "or/", 0, 30, false);
	tw_wait_data(t, 30, 5000);
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-fault",
	                   "{\"mode\":\"reset\"}"));
	/* Every long poll ends within its 2.3 s share and its successor
	 * fails: then all 30 are parked and only the probe asks. */
	test_loop_run_until(&t->tl, NULL, NULL, (uint64_t)(4000 * slow));
	assert_int_equal(t->nevents, 1);
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"or/k29\",\"value\":\"while away\"}"));
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"or/k00\",\"value\":\"while away\"}"));
	t0 = uv_hrtime();
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/clear-faults", "{}"));
	tw_wait_data(t, 32, (uint64_t)(5000 * slow));
	took = (double)(uv_hrtime() - t0) / 1e6;
	fprintf(stderr,
	        "rotating: both changes made during the outage arrived "
	        "%.0f ms after Consul answered again\n",
	        took);
	/* The probe (400 ms cap), the window (30 x 5 ms), a request: not
	 * a 2.3 s long poll ahead in the queue. */
	assert_true(took < 400 + 150 + 400 * slow);
	tw_teardown(t);
}

static bool pred_gave_up(void *arg)
{
	struct tw *t = arg;

	return t->last_status == WATCH_GAVE_UP;
}

/*
 * -once gives up on a dependency without a usable answer after as long
 * as consul-template's retries take (attempts 3, 50 ms doubling to 200 ms:
 * 350 ms), or at once with retries off; the daemon never does (see
 * test_backoff_bounds).
 */
static void test_once_gives_up(void **state)
{
	static const char *const faults[] = {
	        "{\"mode\":\"no-leader\",\"path\":\"/v1/kv/g\"}",
	        "{\"mode\":\"reset\",\"path\":\"/v1/\"}",
	};
	double slow = slow_factor();

	(void)state;
	for (size_t i = 0; i < 2 * sizeof(faults) / sizeof(faults[0]); i++) {
		struct tw *t = tw_setup(false, NULL);
		bool disabled = i >= 2;
		uint64_t t0;
		double took;

		t->cfg.once = true;
		t->cfg.consul.retry.attempts = 3;
		t->cfg.consul.retry.max_backoff_ms = 200;
		t->cfg.consul.retry.enabled = !disabled;
		assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-fault",
		                   "%s", faults[i % 2]));
		tw_start(t);
		t0 = uv_hrtime();
		tw_add(t, DEP_KV_GET, "/v1/kv/g/a");
		if (!test_loop_run_until(&t->tl, pred_gave_up, t,
		                         (uint64_t)(5000 * slow)))
			fail_msg("-once did not give up (%s)", faults[i % 2]);
		took = (double)(uv_hrtime() - t0) / 1e6;
		fprintf(stderr, "-once gave up after %.0f ms: %s\n", took,
		        t->last_what);
		assert_int_equal(t->ndata, 0);
		assert_non_null(
		        strstr(t->last_what, "giving up on /v1/kv/g/a"));
		if (disabled) {
			assert_non_null(
			        strstr(t->last_what, "retries are disabled"));
			assert_int_equal(tw_count(t, "/v1/kv/g/a", 0), 1);
		} else {
			assert_true(took >= 350);
			assert_true(took < 350 + 1000 * slow);
			assert_non_null(strstr(t->last_what, "attempts 3"));
		}
		/* Nothing more is asked for it. */
		{
			size_t n = tw_count(t, "/v1/", 0);

			test_loop_run_until(&t->tl, NULL, NULL, 500);
			assert_int_equal(tw_count(t, "/v1/", 0), n);
		}
		tw_teardown(t);
	}
}

/* The token is sent in clear text to a remote http:// agent: say so at
 * start (not for loopback, a unix socket or https). */
static void test_cleartext_token_warning(void **state)
{
	static const struct {
		const char *addr;
		bool warn;
	} cases[] = {
	        {"10.1.2.3:8500", true},
	        {"http://consul.example:8500", true},
	        {"127.0.0.1:8500", false},
	        {"127.8.9.1:8500", false},
	        {"http://[::1]:8500", false},
	        {"localhost:8500", false},
	        {"https://consul.example:8501", false},
	        {"unix:///run/consul.sock", false},
	};
	static char token[] = "tok-secret-123";
	char logpath[] = "/tmp/ch-watch-log-XXXXXX", buf[4096];
	uv_loop_t loop;
	int fd, saved;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		struct watcher *w = NULL;
		char addr[64];
		ssize_t n;

		memset(&cfg, 0, sizeof(cfg));
		snprintf(addr, sizeof(addr), "%s", cases[i].addr);
		cfg.consul.address = addr;
		cfg.consul.token = token;
		cfg.consul.ssl.verify = true;
		fd = mkstemp(logpath);
		assert_true(fd >= 0);
		fflush(stderr);
		saved = dup(2);
		dup2(fd, 2);
		assert_int_equal(watcher_new(&loop, &cfg, tw_on_data, NULL,
		                             NULL, &w, NULL),
		                 0);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		watcher_close(w, NULL, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		close(fd);
		unlink(logpath);
		memcpy(logpath + strlen(logpath) - 6, "XXXXXX", 6);
		if (cases[i].warn != (strstr(buf, "clear text") != NULL))
			fail_msg("%s: %s", cases[i].addr,
			         buf[0] ? buf : "no warning");
		assert_null(strstr(buf, token));
	}
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* The replies the simulator's servers sent (its agent answers cached
 * queries itself). */
static long long tw_server_replies(struct tw *t)
{
	json_t *r = sim_call(&t->tl.loop, &t->sim, "/_sim/server-load", NULL);
	long long n;

	assert_non_null(r);
	n = json_integer_value(
	        json_object_get(json_object_get(r, "result"), "requests"));
	json_decref(r);
	return n;
}

/* The last request's query parameter name under path, or NULL. */
static bool tw_last_has(struct tw *t, const char *path, const char *name)
{
	json_t *reqs = tw_requests(t, path);
	size_t n = json_array_size(reqs);
	bool has;

	assert_true(n > 0);
	has = req_query(json_array_get(reqs, n - 1), name) != NULL;
	json_decref(reqs);
	return has;
}

/*
 * Without block_query_wait set: the service list and health are asked
 * ?cached with that wait, and the agent answers their expiries itself;
 * the node list and KV (which Consul does not cache) wait 10 minutes,
 * since each of their expiries makes the servers send the whole answer
 * again. A change still arrives at once on either.
 */
static void test_cached_and_uncached_waits(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	static const char *const cached[] = {"/v1/catalog/services",
	                                     "/v1/health/service/foo-app"};
	static const char *const uncached[] = {"/v1/catalog/nodes",
	                                       "/v1/kv/c/a"};
	char wait[32];
	json_t *reqs;
	long long before;
	uint64_t t0;

	(void)state;
	t->cfg.block_query_wait_set = false;
	t->cfg.block_query_wait_ms = 1000;
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/kv-set",
	                   "{\"key\":\"c/a\",\"value\":\"one\"}"));
	tw_start(t);
	tw_add(t, DEP_CATALOG_SERVICES, cached[0]);
	tw_add(t, DEP_HEALTH_SERVICE, cached[1]);
	tw_add(t, DEP_CATALOG_NODES, uncached[0]);
	tw_add(t, DEP_KV_GET, uncached[1]);
	tw_wait_data(t, 4, 5000);
	for (size_t i = 0; i < 2; i++) {
		tw_await_blocked(t, cached[i], 1);
		tw_await_blocked(t, uncached[i], 1);
		assert_true(tw_last_has(t, cached[i], "cached"));
		assert_true(tw_last_has(t, cached[i], "stale"));
		tw_last_wait(t, cached[i], wait, sizeof(wait));
		assert_string_equal(wait, "1000ms");
		assert_false(tw_last_has(t, uncached[i], "cached"));
		assert_true(tw_last_has(t, uncached[i], "stale"));
		tw_last_wait(t, uncached[i], wait, sizeof(wait));
		assert_string_equal(wait, "600000ms");
	}
	/* Idle: the cached long polls end every second; the agent answers
	 * them from its cache, the servers send nothing. */
	before = tw_server_replies(t);
	test_loop_run_until(&t->tl, NULL, NULL, 2500);
	reqs = tw_requests(t, cached[0]);
	assert_true(json_array_size(reqs) >= 3);
	json_decref(reqs);
	assert_int_equal(tw_server_replies(t), before);
	assert_int_equal(t->ndata, 4);
	/* A change answers the 10 min long poll at once. */
	t0 = uv_hrtime();
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/register-node",
	                   "{\"node\":\"new-1\",\"address\":\"192.0.2.9\"}"));
	tw_wait_data(t, 5, 5000);
	assert_true(uv_hrtime() - t0 < 2000000000ull * (uint64_t)slow_factor());
	tw_await_blocked(t, uncached[0], 1);
	reqs = tw_requests(t, uncached[0]);
	assert_int_equal(json_array_size(reqs), 3); /* first, long, next */
	json_decref(reqs);
	tw_teardown(t);
}

/*
 * An answer of the cache whose last contact is older than max_stale is
 * asked again of the leader: without ?stale and without ?cached.
 */
static void test_cached_too_stale_asks_the_leader(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	json_t *reqs, *last;
	size_t n;

	(void)state;
	t->cfg.max_stale_ms = 100;
	/* The entry is filled while the servers have no leader: its last
	 * contact grows past max_stale. */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-leader",
	                   "{\"leader\":\"\"}"));
	test_loop_run_until(&t->tl, NULL, NULL, 300);
	tw_start(t);
	tw_add(t, DEP_CATALOG_SERVICES, "/v1/catalog/services");
	test_loop_run_until(&t->tl, NULL, NULL, 800);
	reqs = tw_requests(t, "/v1/catalog/services");
	n = json_array_size(reqs);
	assert_true(n >= 2);
	assert_non_null(req_query(json_array_get(reqs, 0), "cached"));
	last = json_array_get(reqs, 1);
	assert_null(req_query(last, "cached"));
	assert_null(req_query(last, "stale"));
	json_decref(reqs);
	tw_teardown(t);
}

/*
 * While rotating, the uncached deps keep their 10 min wait as long as
 * they hold at most half the long-poll slots (the others share the
 * rest, so a rotation still takes block_query_wait); beyond that every
 * dep takes turns with the same share.
 */
static void test_rotation_long_waits(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	struct watcher_stats st;
	char path[64], wait[32];

	(void)state;
	t->cfg.block_query_wait_set = false;
	t->cfg.block_query_wait_ms = 5000;
	tw_add_keys(t, "rl/", 0, 6, true);
	watch_max_connections = 10; /* 9 long-poll slots */
	tw_start(t);
	watch_max_connections = HTTP_MAX_CONNECTIONS;
	tw_add(t, DEP_CATALOG_NODES, "/v1/catalog/nodes");
	for (unsigned i = 0; i < 15; i++) {
		snprintf(path, sizeof(path), "/v1/health/service/s%02u", i);
		tw_add(t, DEP_HEALTH_SERVICE, path);
	}
	watcher_get_stats(t->w, &st);
	assert_int_equal(st.long_slots, 9);
	/* 16 blocking deps, 1 uncached: 15 share 8 slots. */
	assert_int_equal(st.wait_ms, 5000 * 8 / 15);
	tw_wait_data(t, 16, 10000);
	tw_await_blocked(t, "/v1/catalog/nodes", 1);
	tw_last_wait(t, "/v1/catalog/nodes", wait, sizeof(wait));
	assert_string_equal(wait, "600000ms");
	/* 5 uncached deps more: 6 of 9 slots would be theirs; everyone
	 * takes turns over the 9 slots. */
	tw_add_keys(t, "rl/", 1, 6, false);
	watcher_get_stats(t->w, &st);
	assert_int_equal(st.wait_ms, 5000 * 9 / 21);
	tw_wait_data(t, 21, 10000);
	for (int round = 0; round < 20; round++) {
		tw_last_wait(t, "/v1/kv/rl/k03", wait, sizeof(wait));
		if (strcmp(wait, "2142ms") == 0)
			break;
		test_loop_run_until(&t->tl, NULL, NULL, 500);
	}
	assert_string_equal(wait, "2142ms");
	tw_teardown(t);
}

/*
 * Records (a key "\0", which json_equal() cannot look up): the same
 * records behind a new index are no change; a changed field is one.
 */
static void test_unchanged_records_no_callback(void **state)
{
	struct tw *t = tw_setup(false, NULL);

	(void)state;
	tw_start(t);
	tw_add(t, DEP_CATALOG_NODES, "/v1/catalog/nodes");
	tw_wait_data(t, 1, 5000);
	tw_await_blocked(t, "/v1/catalog/nodes", 1);
	/* The node registers again, as it was: the index moves. */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/register-node",
	                   "{\"node\":\"foo-app01\",\"address\":"
	                   "\"192.0.2.11\"}"));
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/await-requests",
	                   "{\"path\":\"/v1/catalog/nodes\",\"count\":2,"
	                   "\"timeout\":10}"));
	tw_await_blocked(t, "/v1/catalog/nodes", 1);
	assert_int_equal(t->ndata, 1);
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/register-node",
	                   "{\"node\":\"foo-app01\",\"address\":"
	                   "\"192.0.2.99\"}"));
	tw_wait_data(t, 2, 5000);
	tw_teardown(t);
}

/*
 * node_join_settle: after the node list only grew, it is asked again
 * only once the setting has passed (the rest of a burst comes in one
 * fetch); after any other change (here a removal) at once.
 */
static void test_node_join_settle(void **state)
{
	struct tw *t = tw_setup(false, NULL);
	json_t *reqs;
	double gap_join, gap_removal, slow = slow_factor();
	size_t n;

	(void)state;
	t->cfg.node_join_settle_ms = 3000;
	tw_start(t);
	tw_add(t, DEP_CATALOG_NODES, "/v1/catalog/nodes");
	tw_wait_data(t, 1, 5000);
	tw_await_blocked(t, "/v1/catalog/nodes", 1);
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/register-node",
	                   "{\"node\":\"join-1\",\"address\":\"192.0.2.1\"}"));
	tw_wait_data(t, 2, 5000);
	/* A second join during the settle: not asked for yet. */
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/register-node",
	                   "{\"node\":\"join-2\",\"address\":\"192.0.2.2\"}"));
	tw_wait_data(t, 3, (uint64_t)(8000 * slow));
	assert_int_equal(json_array_size(t->last), 8);
	tw_await_blocked(t, "/v1/catalog/nodes", 1);
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/deregister-node",
	                   "{\"node\":\"join-1\"}"));
	tw_wait_data(t, 4, 5000);
	tw_await_blocked(t, "/v1/catalog/nodes", 1);
	reqs = tw_requests(t, "/v1/catalog/nodes");
	n = json_array_size(reqs);
	assert_int_equal(n, 5);
#define START(i) \
	json_real_value(json_object_get(json_array_get(reqs, i), "time"))
#define END(i)                                                                 \
	(START(i) + json_number_value(json_object_get(json_array_get(reqs, i), \
	                                              "duration")))
	gap_join = START(2) - END(1);
	gap_removal = START(4) - END(3);
#undef START
#undef END
	fprintf(stderr,
	        "settle: next ask %.3f s after a join, %.3f s after "
	        "a removal\n",
	        gap_join, gap_removal);
	assert_true(gap_join > 2.9);
	assert_true(gap_removal < 1.5 * slow);
	json_decref(reqs);
	tw_teardown(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_new_errors),
	        cmocka_unit_test(test_blocking_wakeup),
	        cmocka_unit_test(test_index_reset_after_restore),
	        cmocka_unit_test(test_unchanged_data_no_callback),
	        cmocka_unit_test(test_nonblocking_dep),
	        cmocka_unit_test(test_backoff_bounds),
	        cmocka_unit_test(test_faults_recover),
	        cmocka_unit_test(test_acl),
	        cmocka_unit_test(test_unix_socket),
	        cmocka_unit_test(test_stale_too_old),
	        cmocka_unit_test(test_no_leader_suspect),
	        cmocka_unit_test(test_rate_burst),
	        cmocka_unit_test(test_remove_cancels),
	        cmocka_unit_test(test_close_from_callback),
	        cmocka_unit_test(test_https),
	        cmocka_unit_test(test_rotation),
	        cmocka_unit_test(test_few_deps_full_wait),
	        cmocka_unit_test(test_queued_remove_close),
	        cmocka_unit_test(test_undecodable_200_backs_off),
	        cmocka_unit_test(test_index_near_2_64),
	        cmocka_unit_test(test_outage_probe),
	        cmocka_unit_test(test_outage_probe_rotating),
	        cmocka_unit_test(test_once_gives_up),
	        cmocka_unit_test(test_cleartext_token_warning),
	        cmocka_unit_test(test_cached_and_uncached_waits),
	        cmocka_unit_test(test_cached_too_stale_asks_the_leader),
	        cmocka_unit_test(test_rotation_long_waits),
	        cmocka_unit_test(test_unchanged_records_no_callback),
	        cmocka_unit_test(test_node_join_settle),
	};

	log_init(LOG_LVL_INFO, 0);
	if (getenv("CH_TEST_FILTER") != NULL) /* e.g. "test_outage*" */
		cmocka_set_test_filter(getenv("CH_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
