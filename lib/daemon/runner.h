/*
 * The runner: templates, render passes and the watch set, on one loop.
 *
 * runner_new() parses every template of a config (a template that does not
 * parse fails it, so SIGHUP with a broken template keeps the old runner).
 * runner_start() runs the first render pass at once. A pass executes each
 * dirty template; every Consul lookup it makes is recorded. A lookup with
 * no data yet starts a watch and makes the pass incomplete: nothing is
 * published until every dependency of the template has answered once.
 * When the watcher reports changed data, the templates that used it are
 * marked dirty and rendered again after their quiescence wait (none before
 * the first complete render). Complete renders go to the template's
 * publisher; a failed publish is rendered and submitted again by itself
 * (after 1 s, doubling to 1 min) until one succeeds or data changes.
 * Dependencies no template uses any more are unwatched.
 *
 * Callbacks: on_ready fires once, after every template's first complete
 * render has been published (or held, or found unchanged); on_exit fires
 * when -once is done or a fatal error stops the runner, with the exit code.
 */
#ifndef CH_RUNNER_H
#define CH_RUNNER_H

#include <uv.h>

#include "config/config.h"
#include "base/err.h"
#include "daemon/histogram.h"
#include "publish/publish.h"
#include "consul/watch.h"

struct runner;

struct runner_cbs {
	void (*on_ready)(void *data);
	void (*on_exit)(void *data, int code);
	void (*on_status)(void *data, const char *status); /* STATUS= */
	/* The stats changed: data, a render, a publish, a command, Consul's
	 * reachability. Never while closing. May be NULL. */
	void (*on_change)(void *data);
	void *data;
};

/* One template's share of runner_get_stats(). */
struct runner_tmpl_stats {
	const char *name;        /* source path or "inline" (borrowed) */
	const char *destination; /* NULL when it has none (-dry) */
	struct publish_stats pub;
	uint64_t renders;       /* complete renders handed to the publisher */
	uint64_t render_errors; /* renders that failed (template errors) */
	/* tmpl_render's time for complete renders. */
	struct histogram render_seconds;
	/* From the first Consul change after a publish to the next file
	 * written (renamed into place), retries included. */
	struct histogram change_seconds;
};

struct runner_stats {
	struct watcher_stats watch;
	const struct runner_tmpl_stats *tmpls; /* valid until the next call */
	size_t ntmpls;
	bool ready; /* every template has had its first publish */
};

/* cfg is borrowed and must outlive the runner. */
int runner_new(uv_loop_t *loop, const struct config *cfg,
               const struct runner_cbs *cbs, struct runner **ret,
               struct err *e);
int runner_start(struct runner *r);
void runner_get_stats(struct runner *r, struct runner_stats *ret);
/* Stop watching, wait for publishers (bounded), free; closed() then. */
void runner_close(struct runner *r, void (*closed)(void *data), void *data);

#endif
