/*
 * Publishing one template's output: check, guard, stage, check_command,
 * swap, and the command that reloads dnsmasq.
 *
 * A publisher owns one destination (struct tmpl_conf, copied at
 * publisher_new) and a sink: the file sink does the whole sequence below;
 * the dry sink (-dry) applies the check and the order and writes ONLY the
 * result to stdout (no managed-block splice, no guards, no commands), so
 * "-once -dry > file" gives a usable hosts file; the explain sink
 * (-explain NAME) checks the render and prints, for the lines that carry
 * NAME, each fleet node's first choice (order_explain_lines); the diff
 * sink (-diff) goes through steps 1-3 as the file sink does, then prints
 * a unified diff (diff.h) of the destination against what the file sink
 * would write, and writes and runs nothing (result: PUBLISH_WRITTEN when
 * they differ, PUBLISH_UNCHANGED when not).
 *
 * Failover first: an ordinary change is in place as soon as it is
 * rendered, and the command runs at once. Nothing waits for a command,
 * and guards hold only anomalies (guard.h).
 *
 * File sink, for each submitted render (the newest wins):
 *  1. check: format "hosts": the hosts grammar (hosts.h); dropped lines
 *     are logged, and a render in which the check drops more than half of
 *     the address lines is refused (it is not a hosts file: use format
 *     "text"). Format "text": no grammar. Lines that came from Consul data
 *     are told apart from the template's static text by the render's
 *     spans. Then, format "hosts" only, each name's lines are put in this
 *     node's order (order_lines; emit keeps the first k of each name);
 *  2. the destination is read (a symbolic link is followed to its file);
 *     in managed-block mode only the block is weighed and replaced;
 *  3. guards (guard.h) against what is published: a render without any
 *     Consul entry -> PUBLISH_HELD, nothing written; otherwise removals
 *     that are part of an anomaly stay in the file, marked, after the
 *     rendered lines, and the rest goes out now. Format "text": a hold
 *     holds the whole render. A timer re-publishes the last render when
 *     the earliest held removal is due for confirmation;
 *  4. identical bytes (and mode/owner already as configured) ->
 *     PUBLISH_UNCHANGED: nothing written, no command;
 *  5. stage in the destination's directory (destfile.h), check_command on
 *     the staged file ("{{path}}" in it is replaced by the shell-quoted
 *     path, which is also passed as $1; a failure keeps the old file ->
 *     PUBLISH_FAILED); in managed-block mode the destination is read again
 *     and, if someone changed it meanwhile, the job starts over from 2, so
 *     an edit outside the block is never lost;
 *  6. swap -> PUBLISH_WRITTEN, logged with what changed.
 *
 * The command, after a swap, independently of the jobs: it starts at once
 * unless it is running (it then runs once more when it ends: bursts are
 * coalesced) or its budget is spent (at most command_max_runs starts in any
 * command_window_ms: it then starts when the budget allows). A failed
 * command is logged and, with rollback_on_failure and no newer swap since
 * it started, the content from before the swaps it covered is restored (in
 * managed-block mode only the block); otherwise it runs again with backoff
 * (1 s doubling to 5 min, within the budget).
 *
 * Callbacks: done fires exactly once per publisher_submit, never from
 * inside publisher_submit, when the job is finished (the command may
 * still run). A submit while a job runs replaces the pending one, and
 * every replaced submitter's done fires with the result of the newest
 * content. Failures reported through done are not logged here (the
 * caller logs e once); dropped lines, holds, writes, command output and
 * failures are logged here.
 *
 * Where: publish.c is the job queue and the sinks, publish_cmd.c the
 * command after a swap; the file itself is destfile.h's, holds guard.h's.
 */
#ifndef CH_PUBLISH_H
#define CH_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "config/config.h"
#include "publish/destfile.h"
#include "base/err.h"
#include "order/order.h"
#include "template/template.h"

/* The largest destination file read or written. */
#define PUBLISH_MAX_FILE DESTFILE_MAX

struct publisher;

enum publish_result {
	PUBLISH_WRITTEN,   /* new content in place (held removals marked) */
	PUBLISH_UNCHANGED, /* identical to the file on disk: nothing done */
	PUBLISH_HELD,      /* nothing written: a guard holds the render */
	PUBLISH_FAILED,    /* e says why; the old file is intact */
};

/* A render to publish. Everything is copied by publisher_submit. */
struct publish_input {
	const char *text;
	size_t len;
	/* The output that came from data (template.h); NULL: all of it. */
	const struct tmpl_spans *dynamic;
	/* Why a Consul answer the render used is suspect (watch.h), or
	 * NULL when every answer was healthy. */
	const char *suspect;
	/* Weighted ordering: address -> Consul weight (borrowed), or NULL. */
	json_t *weights;
};

/* How a publisher publishes. */
struct publish_opts {
	bool dry;            /* the stdout sink (-dry) */
	bool diff;           /* the diff sink (-diff; wins over dry) */
	const char *explain; /* the explain sink (-explain NAME), or NULL */
	/* The per-node order of each name's lines (order.h), borrowed: it
	 * must outlive the publisher. NULL: the template's order. */
	const struct order *order;
};

typedef void (*publish_done_cb)(void *data, enum publish_result res,
                                const struct err *e);

/* tc and opts are copied (but opts->order); nothing of them is kept. */
int publisher_new(uv_loop_t *loop, const struct tmpl_conf *tc,
                  const struct publish_opts *opts, struct publisher **ret,
                  struct err *e);

/*
 * Publish in (copied). Returns 0, -EINVAL when closing, or -E2BIG when
 * in->len exceeds PUBLISH_MAX_FILE (cb then does not fire).
 */
int publisher_submit(struct publisher *p, const struct publish_input *in,
                     publish_done_cb cb, void *data);

/*
 * Call cb once no job is pending or running and no command is due or
 * running (a due command is started now, whatever its budget): for -once,
 * which must not exit before its command has run. ok is false when the
 * last command failed. Never from inside this call.
 */
void publisher_flush(struct publisher *p, void (*cb)(void *data, bool ok),
                     void *data);

/*
 * Stop: pending submits finish with PUBLISH_FAILED ("closing"), a running
 * job or command finishes (a reload in progress completes; each command
 * is bounded by its timeout), a due command runs now unless the last one
 * failed, then p is freed and closed fires.
 */
void publisher_close(struct publisher *p, void (*closed)(void *), void *data);

const char *publish_result_name(enum publish_result res);

/* What a publisher has done, for the metrics and STATUS=. */
struct publish_stats {
	uint64_t results[4];       /* finished jobs, by enum publish_result */
	uint64_t command_runs;     /* command starts */
	uint64_t command_failures; /* runs that failed or could not signal */
	bool command_failing;      /* the last run failed */
	bool failing;              /* the last publish failed */
	bool holding;              /* the last render was held whole */
	size_t entries;            /* address lines published, held included */
	size_t held;               /* removals held back (kept, marked) */
	int64_t last_ok_ms;        /* wall clock, ms: the destination last found
	                              current (written or unchanged); 0: never */
	int64_t last_write_ms;     /* wall clock, ms: the last swap; 0: never */
	int64_t failing_since_ms;  /* the first failure in a row; 0: none */
};

void publisher_get_stats(const struct publisher *p, struct publish_stats *ret);
/* cb(data) whenever the stats change (a job or a command finished). */
void publisher_set_observer(struct publisher *p, void (*cb)(void *data),
                            void *data);

#endif
