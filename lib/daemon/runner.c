/*
 * The runner: templates, the store, the watcher, the order and one
 * publisher per template, driven by the loop. Data comes in (on_data),
 * marks the templates that used it, a pass renders them (after consul-
 * template's wait quiescence), and the render goes to the publisher.
 *
 * Map:
 *   state machines     rtmpl_set_render / rtmpl_set_life (see enum above)
 *   deps               runner_watch, lookup, version, gc (what the last
 *                      pass used is what stays watched)
 *   order inputs       seed (agent/self, at start, before any render),
 *                      fleet, order/weigh callbacks of the render
 *   publish results    flushed, check_ready (-once exit), retry_later,
 *                      published
 *   the pass           rtmpl_render, runner_pass_cb, wait/retry timers,
 *                      rtmpl_mark_dirty (quiescence)
 *   watcher callbacks  runner_on_data, runner_on_event
 *   life               rtmpl_init, runner_new, runner_start, close, stats
 */
#include "daemon/runner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/backoff.h"
#include "base/buf.h"
#include "consul/deps.h"
#include "base/log.h"
#include "order/order.h"
#include "publish/publish.h"
#include "consul/store.h"
#include "template/template.h"
#include "consul/trec_read.h"
#include "consul/watch.h"
#include "base/readfile.h"
#include "base/xmalloc.h"

/* One configured template and its render state. */
/*
 * A template's two state machines, each changed only through its
 * set function (traced, as watch.c's watch_set_state):
 *
 *   render: CLEAN -> (a change) -> DIRTY -> (the pass) -> CLEAN
 *           CLEAN/DIRTY -> (a change under wait) -> WAITING
 *           WAITING -> (quiescence timer) -> DIRTY
 *   life:   NEW -> (complete render) -> COMPLETE -> (first publish
 *           finished) -> PUBLISHED -> (-once: its command ran) -> FLUSHED
 *           (forward only)
 */
enum rtmpl_render {
	RTMPL_CLEAN,   /* nothing to render */
	RTMPL_DIRTY,   /* render on the next pass */
	RTMPL_WAITING, /* a change, its quiescence timer running */
};

enum rtmpl_life {
	RTMPL_NEW,       /* no complete render yet */
	RTMPL_COMPLETE,  /* had a complete render */
	RTMPL_PUBLISHED, /* its first publish has finished */
	RTMPL_FLUSHED,   /* -once: its command, if any, has run */
};

static const char *const rtmpl_render_names[] = {
        [RTMPL_CLEAN] = "CLEAN",
        [RTMPL_DIRTY] = "DIRTY",
        [RTMPL_WAITING] = "WAITING",
};

static const char *const rtmpl_life_names[] = {
        [RTMPL_NEW] = "NEW",
        [RTMPL_COMPLETE] = "COMPLETE",
        [RTMPL_PUBLISHED] = "PUBLISHED",
        [RTMPL_FLUSHED] = "FLUSHED",
};

struct rtmpl {
	struct runner *r;
	const struct tmpl_conf *tc;
	char *name; /* for log lines: source path or "inline" */
	struct tmpl *tmpl;
	struct tmpl_cache *cache; /* its iterations kept between renders */
	struct publisher *pub;
	json_t *deps;             /* dep_id -> true: what the last pass used */
	char *last_error;         /* last render error logged, to log once */
	enum rtmpl_render render; /* changed only by rtmpl_set_render */
	enum rtmpl_life life;     /* changed only by rtmpl_set_life */
	uint64_t burst_start;     /* loop time of the first change of a burst */
	uv_timer_t wait_timer;
	uv_timer_t retry_timer;       /* re-publish after a failed publish */
	unsigned failures;            /* failed publishes in a row */
	struct runner_tmpl_stats *st; /* in r->stats */
	uint64_t changed_ns;          /* first change since the last publish */
};

struct runner {
	uv_loop_t *loop;
	const struct config *cfg;
	struct runner_cbs cbs;
	struct store *store;
	struct watcher *watcher;
	json_t *watched; /* dep_id -> true: what the watcher has */
	struct rtmpl *tmpls;
	size_t ntmpls;
	uv_timer_t pass_timer; /* 0 ms: one pass for a loop turn's changes */
	/*
	 * The per-node order (order.h), applied by the publishers to each
	 * render's lines. Nothing is rendered before its seed is final (the
	 * configured one, else the local agent's node name, else the
	 * hostname), and, in balanced mode or for -explain, before the fleet
	 * (the catalog's node list) is known: a first file in the wrong
	 * order would be rewritten at once.
	 */
	struct order *order;
	struct dep *self_dep;  /* /v1/agent/self, for the default seed */
	struct dep *nodes_dep; /* /v1/catalog/nodes, for the fleet */
	bool seed_known;
	bool need_fleet;
	bool fleet_known;
	bool ready;
	/* What the templates can see of health checks: answers are decoded
	 * without the rest (tmpl_checks_seen), so an agent syncing a check's
	 * output changes nothing a template cannot show. */
	enum dep_checks checks;
	bool failed;   /* a -once publish failed */
	bool flushing; /* -once: waiting for the commands to run */
	bool closing;
	unsigned open_handles; /* handles and modules still closing */
	void (*closed)(void *data);
	void *closed_data;
	struct runner_tmpl_stats *stats; /* one per template */
};

/* What one render pass of one template saw. */
struct pass {
	struct runner *r;
	struct rtmpl *t;
	json_t *used;
	size_t missing;
	json_t *weights; /* address -> weight, in weighted mode */
};

/* A failed publish (read-only directory, full disk, destination replaced
 * by a directory) is retried on its own, not only on the next change:
 * after 1 s, doubling up to a minute. */
#define RUNNER_RETRY_MIN_MS 1000
#define RUNNER_RETRY_MAX_MS 60000

static void runner_schedule_pass(struct runner *r);
static void rtmpl_retry_cb(uv_timer_t *timer);
static void runner_changed(struct runner *r);

static void rtmpl_set_render(struct rtmpl *t, enum rtmpl_render st)
{
	if (t->render != st)
		log_trace("template %s: render %s -> [%s]", t->name,
		          rtmpl_render_names[t->render],
		          rtmpl_render_names[st]);
	t->render = st;
}

/* Forward only: a later state is never left for an earlier one. */
static void rtmpl_set_life(struct rtmpl *t, enum rtmpl_life st)
{
	if (st <= t->life)
		return;
	log_trace("template %s: life %s -> [%s]", t->name,
	          rtmpl_life_names[t->life], rtmpl_life_names[st]);
	t->life = st;
}

/* t is to render on the next pass (unless its quiescence timer runs). */
static void rtmpl_want_render(struct rtmpl *t)
{
	if (t->render == RTMPL_CLEAN)
		rtmpl_set_render(t, RTMPL_DIRTY);
}

static const struct wait_conf *rtmpl_wait(const struct rtmpl *t)
{
	return t->tc->wait.enabled ? &t->tc->wait : &t->r->cfg->wait;
}

static void runner_watch(struct runner *r, const struct dep *d)
{
	const char *id = dep_id(d);
	int rc;

	if (json_object_get(r->watched, id) != NULL)
		return;
	rc = watcher_add(r->watcher, d);
	if (rc < 0) {
		log_errx("cannot watch %s: %s", id, strerror(-rc));
		return;
	}
	json_object_set_new(r->watched, id, json_true());
	log_debug("watching %s", id);
}

static json_t *runner_lookup(void *ctx, const struct dep *d)
{
	struct pass *p = ctx;
	const char *id = dep_id(d);
	json_t *v;

	json_object_set_new(p->used, id, json_true());
	v = store_get(p->r->store, id);
	if (v == NULL) {
		p->missing++;
		runner_watch(p->r, d);
	}
	return v;
}

/* The version of d's data, for the render cache. */
static uint64_t runner_version(void *ctx, const struct dep *d)
{
	struct pass *p = ctx;

	return store_version(p->r->store, dep_id(d));
}

/* The seed is final: log it and render everything again. */
static void runner_seed_known(struct runner *r, const char *seed)
{
	char host[256];

	if (seed == NULL || seed[0] == '\0') {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		seed = host;
	}
	order_set_seed(r->order, seed);
	r->seed_known = true;
	if (r->cfg->order != ORDER_NONE)
		log_info("ordering %s with seed \"%s\"",
		         order_mode_name(r->cfg->order), seed);
	for (size_t i = 0; i < r->ntmpls; i++)
		rtmpl_want_render(&r->tmpls[i]);
	runner_schedule_pass(r);
}

/* Whether the order is ready for the first publish. */
static bool runner_order_ready(const struct runner *r)
{
	return r->seed_known && (!r->need_fleet || r->fleet_known);
}

/* shuffle: the same per-node order, over any list. */
static void runner_order(void *ctx, const char *key, json_t *list)
{
	struct pass *p = ctx;

	order_apply(p->r->order, key, list);
}

/* Weighted mode: each rendered instance's address and weight. */
static void runner_weigh(void *ctx, json_t *instance)
{
	struct pass *p = ctx;
	const char *addr = json_string_value(trec_member(instance, "Address"));

	if (addr == NULL || addr[0] == '\0')
		return;
	if (p->weights == NULL)
		p->weights = json_object();
	if (json_object_get(p->weights, addr) == NULL)
		json_object_set_new(
		        p->weights, addr,
		        json_integer(
		                (json_int_t)order_instance_weight(instance)));
}

static void runner_warn(void *ctx, const char *msg)
{
	struct pass *p = ctx;

	log_warnx("%s: %s", p->t->name, msg);
}

/* Unwatch and forget what no template used in its last pass. */
static void runner_gc_deps(struct runner *r)
{
	const char *id;
	json_t *v, *tmp;

	json_object_foreach_safe(r->watched, tmp, id, v)
	{
		/* agent/self stays watched while the seed waits for it, the
		 * node list while the order needs the fleet. */
		bool used = (!r->seed_known &&
		             strcmp(id, dep_id(r->self_dep)) == 0) ||
		            (r->need_fleet &&
		             strcmp(id, dep_id(r->nodes_dep)) == 0);
		for (size_t i = 0; i < r->ntmpls && !used; i++)
			used = json_object_get(r->tmpls[i].deps, id) != NULL;
		if (used)
			continue;
		log_debug("no longer watching %s", id);
		watcher_remove(r->watcher, id);
		store_forget(r->store, id);
		json_object_del(r->watched, id);
	}
}

static void runner_check_ready(struct runner *r);

/* -once: a template's publisher has nothing left to run. */
static void rtmpl_flushed(void *data, bool ok)
{
	struct rtmpl *t = data;
	struct runner *r = t->r;

	rtmpl_set_life(t, RTMPL_FLUSHED);
	if (!ok) {
		log_errx("%s: the command failed", t->name);
		r->failed = true;
	}
	runner_check_ready(r);
}

static void runner_check_ready(struct runner *r)
{
	for (size_t i = 0; i < r->ntmpls; i++)
		if (r->tmpls[i].life < RTMPL_PUBLISHED)
			return;
	if (r->cfg->once) {
		/* Exit once every command has run: a -once run that
		 * reloads dnsmasq has not done its job before that. */
		if (!r->flushing) {
			r->flushing = true;
			for (size_t i = 0; i < r->ntmpls; i++)
				publisher_flush(r->tmpls[i].pub, rtmpl_flushed,
				                &r->tmpls[i]);
		}
		for (size_t i = 0; i < r->ntmpls; i++)
			if (r->tmpls[i].life < RTMPL_FLUSHED)
				return;
		if (r->cbs.on_exit != NULL)
			r->cbs.on_exit(r->cbs.data, r->failed ? 1 : 0);
		return;
	}
	if (!r->ready) {
		r->ready = true;
		if (r->cbs.on_ready != NULL)
			r->cbs.on_ready(r->cbs.data);
	}
}

static void rtmpl_retry_later(struct rtmpl *t)
{
	/* backoff.h's ceiling: 1 s doubling to 60 s, no jitter. */
	uint64_t delay = backoff_ceiling_ms(
	        RUNNER_RETRY_MIN_MS, RUNNER_RETRY_MAX_MS, t->failures + 1);

	t->failures++;
	log_info("%s: retrying the publish in %.0fs", t->name,
	         (double)delay / 1000.0);
	uv_timer_start(&t->retry_timer, rtmpl_retry_cb, delay, 0);
}

static void rtmpl_published(void *data, enum publish_result res,
                            const struct err *e)
{
	struct rtmpl *t = data;
	struct runner *r = t->r;
	const char *dest = r->cfg->dry          ? "stdout"
	                   : t->tc->destination ? t->tc->destination
	                                        : "(no destination)";
	char msg[1100];

	if (res == PUBLISH_WRITTEN && t->changed_ns != 0)
		histogram_observe(&t->st->change_seconds,
		                  (double)(uv_hrtime() - t->changed_ns) / 1e9);
	if (res != PUBLISH_FAILED)
		t->changed_ns = 0;
	switch (res) {
	case PUBLISH_WRITTEN:
		if (r->cfg->dry)
			log_debug("%s: rendered to stdout", t->name);
		else
			log_info("%s: wrote %s", t->name, dest);
		break;
	case PUBLISH_UNCHANGED:
		log_debug("%s: %s unchanged", t->name, dest);
		break;
	case PUBLISH_HELD:
		log_warnx("%s: render for %s held back: %s", t->name, dest,
		          e ? err_format(e, msg, sizeof(msg)) : "guard");
		if (r->cfg->once)
			r->failed = true;
		break;
	case PUBLISH_FAILED:
		log_errx("%s: publishing %s failed: %s", t->name, dest,
		         e ? err_format(e, msg, sizeof(msg)) : "unknown error");
		if (r->cfg->once)
			r->failed = true;
		else if (!r->closing)
			rtmpl_retry_later(t);
		break;
	}
	if (res != PUBLISH_FAILED && t->failures > 0 && !r->closing) {
		t->failures = 0;
		uv_timer_stop(&t->retry_timer);
	}
	if (r->closing || t->life >= RTMPL_PUBLISHED)
		return;
	rtmpl_set_life(t, RTMPL_PUBLISHED);
	runner_check_ready(r);
}

/*
 * Why an answer the pass used is suspect (watch.h), naming the dependency,
 * in out; false when every answer was healthy.
 */
static bool runner_suspect(const struct pass *p, struct buf *out)
{
	const char *id, *why;
	json_t *v;
	size_t n = 0;

	json_object_foreach(p->used, id, v)
	{
		why = store_suspect(p->r->store, id);
		if (why == NULL)
			continue;
		if (n++ == 0)
			buf_printf(out, "%s (%s", why, id);
		else if (n <= 3)
			buf_printf(out, ", %s", id);
	}
	if (n > 3)
		buf_printf(out, " and %zu more", n - 3);
	if (n > 0)
		buf_putc(out, ')');
	return n > 0;
}

static void rtmpl_render(struct rtmpl *t)
{
	struct runner *r = t->r;
	struct pass p = {.r = r, .t = t, .used = json_object()};
	struct tmpl_spans spans = {0};
	struct tmpl_env env = {
	        .lookup = runner_lookup,
	        .order = runner_order,
	        .weigh = r->cfg->order == ORDER_WEIGHTED ? runner_weigh : NULL,
	        .warn = runner_warn,
	        .ctx = &p,
	        .limits = tmpl_default_limits,
	        .spans = &spans,
	        .checks = r->checks,
	        .cache = t->cache,
	        .version = runner_version,
	};
	struct publish_input in;
	struct buf out, suspect;
	struct err e;
	char msg[1100];
	uint64_t t0 = uv_hrtime();
	int rc;

	err_clear(&e);
	buf_init(&out, env.limits.max_output);
	rc = tmpl_render(t->tmpl, &env, &out, &e);
	if (p.missing == 0 && rc == 0) {
		t->st->renders++;
		histogram_observe(&t->st->render_seconds,
		                  (double)(uv_hrtime() - t0) / 1e9);
	} else if (p.missing == 0) {
		t->st->render_errors++;
		runner_changed(r);
	}
	json_decref(t->deps);
	t->deps = p.used; /* runner_pass_cb unwatches what no one uses */

	if (p.missing > 0) {
		/* An error on incomplete data is expected (index of an empty
		 * list); render again when the data is there. */
		log_debug("%s: waiting for %zu dependenc%s", t->name, p.missing,
		          p.missing == 1 ? "y" : "ies");
		goto out;
	}
	if (rc < 0) {
		err_format(&e, msg, sizeof(msg));
		if (t->last_error == NULL || strcmp(t->last_error, msg) != 0) {
			log_errx("%s", msg);
			free(t->last_error);
			t->last_error = xstrdup(msg);
		}
		if (r->cfg->once && r->cbs.on_exit != NULL)
			r->cbs.on_exit(r->cbs.data, 1);
		goto out;
	}
	free(t->last_error);
	t->last_error = NULL;
	if (!runner_order_ready(r)) {
		/* The seed's (or the fleet's) answer renders it again. */
		log_debug("%s: waiting for the order's %s", t->name,
		          r->seed_known ? "fleet" : "seed");
		goto out;
	}
	rtmpl_set_life(t, RTMPL_COMPLETE);
	buf_init(&suspect, 0);
	in.text = buf_str(&out);
	in.len = out.len;
	in.dynamic = &spans;
	in.suspect = runner_suspect(&p, &suspect) ? buf_str(&suspect) : NULL;
	in.weights = p.weights;
	rc = publisher_submit(t->pub, &in, rtmpl_published, t);
	if (rc < 0)
		log_errx("%s: cannot publish: %s", t->name, strerror(-rc));
	buf_free(&suspect);
out:
	buf_free(&out);
	free(spans.v);
	json_decref(p.weights);
}

static void runner_pass_cb(uv_timer_t *timer)
{
	struct runner *r = timer->data;

	bool rendered = false;

	if (r->closing)
		return;
	for (size_t i = 0; i < r->ntmpls; i++) {
		struct rtmpl *t = &r->tmpls[i];
		if (t->render != RTMPL_DIRTY)
			continue;
		rtmpl_set_render(t, RTMPL_CLEAN);
		rtmpl_render(t);
		rendered = true;
	}
	/* Once the pass has every template's deps, not once per template. */
	if (rendered)
		runner_gc_deps(r);
}

static void runner_schedule_pass(struct runner *r)
{
	if (!r->closing && !uv_is_active((uv_handle_t *)&r->pass_timer))
		uv_timer_start(&r->pass_timer, runner_pass_cb, 0, 0);
}

static void rtmpl_retry_cb(uv_timer_t *timer)
{
	struct rtmpl *t = timer->data;

	rtmpl_want_render(t);
	runner_schedule_pass(t->r);
}

static void rtmpl_wait_cb(uv_timer_t *timer)
{
	struct rtmpl *t = timer->data;

	if (t->render == RTMPL_WAITING)
		rtmpl_set_render(t, RTMPL_DIRTY);
	runner_schedule_pass(t->r);
}

/*
 * A dependency of t changed. Before t's first complete render, or without
 * a wait, render on the next pass; otherwise apply consul-template's
 * quiescence: each change restarts the min timer, and max (counted from
 * the first change of the burst) forces the render.
 */
static void rtmpl_mark_dirty(struct rtmpl *t)
{
	struct runner *r = t->r;
	const struct wait_conf *w = rtmpl_wait(t);
	uint64_t now = uv_now(r->loop), due;

	if (t->life >= RTMPL_PUBLISHED && t->changed_ns == 0)
		t->changed_ns = uv_hrtime();
	if (t->life < RTMPL_COMPLETE || !w->enabled || r->cfg->once) {
		rtmpl_want_render(t);
		runner_schedule_pass(r);
		return;
	}
	if (t->render != RTMPL_WAITING)
		t->burst_start = now;
	rtmpl_set_render(t, RTMPL_WAITING);
	due = now + w->min_ms;
	if (w->max_ms > 0 && due > t->burst_start + w->max_ms)
		due = t->burst_start + w->max_ms;
	uv_timer_start(&t->wait_timer, rtmpl_wait_cb, due > now ? due - now : 0,
	               0);
}

static void runner_on_data(void *data, const struct dep *d, json_t *value,
                           const char *suspect)
{
	struct runner *r = data;
	const char *id = dep_id(d);

	if (r->closing || json_object_get(r->watched, id) == NULL)
		return;
	if (!r->seed_known && strcmp(id, dep_id(r->self_dep)) == 0) {
		/*
		 * The node name is read once (until SIGHUP): agent/self cannot
		 * block and would be re-polled, so it is unwatched as soon as
		 * it has answered (no template sees it).
		 */
		runner_seed_known(
		        r, json_string_value(json_object_get(value, "Node")));
		runner_gc_deps(r);
		return;
	}
	if (store_put(r->store, id, json_incref(value), suspect) == 0 &&
	    !(r->need_fleet && !r->fleet_known &&
	      strcmp(id, dep_id(r->nodes_dep)) == 0))
		return;
	if (r->need_fleet && strcmp(id, dep_id(r->nodes_dep)) == 0) {
		bool first = !r->fleet_known;

		/* The node records as templates see them (the store's). */
		order_set_fleet(r->order, store_get(r->store, id));
		r->fleet_known = true;
		/* Balanced mode orders by the fleet: every template. */
		for (size_t i = 0; i < r->ntmpls; i++)
			if (first || r->cfg->order == ORDER_BALANCED)
				rtmpl_mark_dirty(&r->tmpls[i]);
	}
	log_debug("%s changed", id);
	for (size_t i = 0; i < r->ntmpls; i++)
		if (json_object_get(r->tmpls[i].deps, id) != NULL)
			rtmpl_mark_dirty(&r->tmpls[i]);
	runner_changed(r);
}

static void runner_on_event(void *data, const struct dep *d, int status,
                            const char *what)
{
	struct runner *r = data;

	if (r->closing)
		return;
	if (status == WATCH_GAVE_UP) {
		/* -once only (watch.h): no answer for as long as consul-
		 * template's retries take, or retries are off. */
		log_errx("consul: %s", what);
		if (r->cbs.on_exit != NULL)
			r->cbs.on_exit(r->cbs.data, 1);
		return;
	}
	if (d != NULL && !r->seed_known &&
	    strcmp(dep_id(d), dep_id(r->self_dep)) == 0 &&
	    (status == 403 || status == 404)) {
		/* No agent:read, or not an agent: order by the hostname. */
		log_warnx("cannot read the local agent's node name (%s); "
		          "ordering with the hostname as seed",
		          what ? what : "error");
		runner_seed_known(r, NULL);
		runner_gc_deps(r);
	}
	if (r->cbs.on_status != NULL && what != NULL)
		r->cbs.on_status(r->cbs.data, what);
	runner_changed(r);
}

static char *runner_read_template(const char *path, size_t max, size_t *ret_len,
                                  struct err *e)
{
	struct read_file rf;
	struct buf b;
	int r;

	buf_init(&b, 0);
	r = read_file(path, max, 0, &b, &rf);
	if (r == 0)
		return buf_take(&b, ret_len);
	buf_free(&b);
	if (rf.step == READ_FILE_LIMIT)
		err_set(e, -E2BIG, path, 0, 0,
		        "template is larger than %zu bytes", max);
	else if (rf.step == READ_FILE_READ)
		err_set(e, -EIO, path, 0, 0, "cannot read template");
	else
		err_set(e, r, path, 0, 0, "cannot read template: %s",
		        strerror(-r));
	return NULL;
}

static void rtmpl_observed(void *data)
{
	struct rtmpl *t = data;

	runner_changed(t->r);
}

static int rtmpl_init(struct runner *r, struct rtmpl *t,
                      const struct tmpl_conf *tc, struct err *e)
{
	struct tmpl_opts opts = {
	        .name = tc->source ? tc->source : "inline",
	        .left_delim = tc->left_delim,
	        .right_delim = tc->right_delim,
	        .error_on_missing_key = tc->error_on_missing_key,
	        .function_denylist = (const char *const *)tc->function_denylist,
	};
	size_t len;
	char *text;
	int rc;

	t->r = r;
	t->tc = tc;
	t->name = xstrdup(opts.name);
	t->deps = json_object();
	t->cache = tmpl_cache_new();
	if (tc->restart_min_interval_set)
		log_warnx(
		        "%s: restart_min_interval is deprecated: it allows "
		        "one command run per %llu ms, which delays the second "
		        "change of a failover; the default budget "
		        "(command_max_runs = 4, command_window = \"10s\") "
		        "already stays below systemd's start limit",
		        t->name, (unsigned long long)tc->command_window_ms);
	if (tc->source != NULL) {
		text = runner_read_template(tc->source, 16 << 20, &len, e);
		if (text == NULL)
			return e ? -EINVAL : -EIO;
	} else {
		text = xstrdup(tc->contents ? tc->contents : "");
		len = strlen(text);
	}
	rc = tmpl_parse(text, len, &opts, &t->tmpl, e);
	free(text);
	if (rc < 0)
		return rc;
	{
		struct publish_opts po = {
		        .dry = r->cfg->dry,
		        .diff = r->cfg->diff,
		        .explain = r->cfg->explain,
		        .order = r->order,
		};

		t->st->name = t->name;
		t->st->destination = tc->destination;
		rc = publisher_new(r->loop, tc, &po, &t->pub, e);
		if (rc == 0)
			publisher_set_observer(t->pub, rtmpl_observed, t);
		return rc;
	}
}

int runner_new(uv_loop_t *loop, const struct config *cfg,
               const struct runner_cbs *cbs, struct runner **ret, struct err *e)
{
	struct runner *r = xcalloc(1, sizeof(*r));
	int rc;

	r->loop = loop;
	r->cfg = cfg;
	if (cbs != NULL)
		r->cbs = *cbs;
	r->store = store_new();
	r->watched = json_object();
	/* A configured seed is final; "none" needs no seed at all. */
	r->order = order_new(cfg->order, cfg->order_seed);
	r->seed_known = cfg->order == ORDER_NONE ||
	                (cfg->order_seed != NULL && cfg->order_seed[0] != '\0');
	r->need_fleet = cfg->order == ORDER_BALANCED || cfg->explain != NULL;
	r->tmpls = xcalloc(cfg->ntemplates ? cfg->ntemplates : 1,
	                   sizeof(*r->tmpls));
	r->stats = xcalloc(cfg->ntemplates ? cfg->ntemplates : 1,
	                   sizeof(*r->stats));
	for (size_t i = 0; i < cfg->ntemplates; i++)
		r->tmpls[i].st = &r->stats[i];
	/* Parse everything before touching the loop: a bad template is a
	 * config error and nothing has started yet. */
	for (size_t i = 0; i < cfg->ntemplates; i++) {
		rc = rtmpl_init(r, &r->tmpls[i], &cfg->templates[i], e);
		r->ntmpls = i + 1;
		if (rc < 0)
			goto fail;
	}
	r->checks = DEP_CHECKS_NONE;
	for (size_t i = 0; i < r->ntmpls; i++) {
		enum dep_checks seen = tmpl_checks_seen(r->tmpls[i].tmpl);

		if (seen < r->checks)
			r->checks = seen; /* the most any template sees */
	}
	rc = dep_new(DEP_AGENT_SELF, "", &r->self_dep, e);
	if (rc < 0)
		goto fail;
	rc = dep_new(DEP_CATALOG_NODES, "", &r->nodes_dep, e);
	if (rc < 0)
		goto fail;
	rc = watcher_new(loop, cfg, runner_on_data, runner_on_event, r,
	                 &r->watcher, e);
	if (rc < 0)
		goto fail;
	uv_timer_init(loop, &r->pass_timer);
	r->pass_timer.data = r;
	for (size_t i = 0; i < r->ntmpls; i++) {
		uv_timer_init(loop, &r->tmpls[i].wait_timer);
		r->tmpls[i].wait_timer.data = &r->tmpls[i];
		uv_timer_init(loop, &r->tmpls[i].retry_timer);
		r->tmpls[i].retry_timer.data = &r->tmpls[i];
	}
	*ret = r;
	return 0;
fail:
	/* Nothing was started on the loop: free synchronously. */
	for (size_t i = 0; i < r->ntmpls; i++) {
		struct rtmpl *t = &r->tmpls[i];
		t->tmpl = tmpl_free(t->tmpl);
		t->cache = tmpl_cache_free(t->cache);
		if (t->pub != NULL)
			publisher_close(t->pub, NULL, NULL);
		json_decref(t->deps);
		free(t->name);
	}
	dep_free(r->self_dep);
	dep_free(r->nodes_dep);
	json_decref(r->watched);
	order_free(r->order);
	store_free(r->store);
	free(r->tmpls);
	free(r->stats);
	free(r);
	return rc;
}

int runner_start(struct runner *r)
{
	/* The order's inputs are fetched beside the templates' first data. */
	if (!r->seed_known)
		runner_watch(r, r->self_dep);
	if (r->need_fleet)
		runner_watch(r, r->nodes_dep);
	if (r->seed_known && r->cfg->order != ORDER_NONE)
		log_info("ordering %s with seed \"%s\"",
		         order_mode_name(r->cfg->order), r->cfg->order_seed);
	for (size_t i = 0; i < r->ntmpls; i++)
		rtmpl_want_render(&r->tmpls[i]);
	if (r->ntmpls == 0)
		runner_check_ready(r);
	runner_schedule_pass(r);
	return 0;
}

static void runner_free(struct runner *r)
{
	void (*closed)(void *) = r->closed;
	void *data = r->closed_data;

	for (size_t i = 0; i < r->ntmpls; i++) {
		struct rtmpl *t = &r->tmpls[i];
		tmpl_free(t->tmpl);
		tmpl_cache_free(t->cache);
		json_decref(t->deps);
		free(t->name);
		free(t->last_error);
	}
	free(r->tmpls);
	free(r->stats);
	dep_free(r->self_dep);
	dep_free(r->nodes_dep);
	order_free(r->order);
	json_decref(r->watched);
	store_free(r->store);
	free(r);
	if (closed != NULL)
		closed(data);
}

static void runner_closed_one(struct runner *r)
{
	if (--r->open_handles == 0)
		runner_free(r);
}

static void runner_pass_timer_closed(uv_handle_t *h)
{
	runner_closed_one(h->data);
}

static void rtmpl_wait_timer_closed(uv_handle_t *h)
{
	struct rtmpl *t = h->data;

	runner_closed_one(t->r);
}

static void runner_module_closed(void *data)
{
	runner_closed_one(data);
}

void runner_close(struct runner *r, void (*closed)(void *data), void *data)
{
	if (r->closing)
		return;
	r->closing = true;
	r->closed = closed;
	r->closed_data = data;
	/* One count for each handle and module, plus one for this call, so
	 * nothing is freed before every close has been started. */
	r->open_handles = 1;
	r->open_handles++;
	watcher_close(r->watcher, runner_module_closed, r);
	for (size_t i = 0; i < r->ntmpls; i++) {
		r->open_handles += 3;
		publisher_close(r->tmpls[i].pub, runner_module_closed, r);
		uv_close((uv_handle_t *)&r->tmpls[i].wait_timer,
		         rtmpl_wait_timer_closed);
		uv_close((uv_handle_t *)&r->tmpls[i].retry_timer,
		         rtmpl_wait_timer_closed);
	}
	r->open_handles++;
	uv_close((uv_handle_t *)&r->pass_timer, runner_pass_timer_closed);
	runner_closed_one(r);
}

/* ---- stats ------------------------------------------------------------ */

static void runner_changed(struct runner *r)
{
	if (!r->closing && r->cbs.on_change != NULL)
		r->cbs.on_change(r->cbs.data);
}

void runner_get_stats(struct runner *r, struct runner_stats *ret)
{
	watcher_get_stats(r->watcher, &ret->watch);
	for (size_t i = 0; i < r->ntmpls; i++)
		publisher_get_stats(r->tmpls[i].pub, &r->stats[i].pub);
	ret->tmpls = r->stats;
	ret->ntmpls = r->ntmpls;
	ret->ready = r->ready;
}
