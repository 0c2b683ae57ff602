/*
 * The publisher's command (the dnsmasq reload) after a swap: on its own
 * budget (command_max_runs per command_window, first runs at once, bursts
 * coalesced), run again after a failure (backoff.h's ceiling, 1 s to
 * 5 min), the previous file put back when it fails and rollback is on.
 * The command state machine changes only through cmd_set_state.
 */
#include "publish/publish.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/backoff.h"
#include "base/buf.h"
#include "publish/command.h"
#include "publish/diff.h"
#include "hosts/guard.h"
#include "hosts/hosts.h"
#include "base/log.h"
#include "base/strmap.h"
#include "base/xmalloc.h"
#include "publish/publish_priv.h"

/* ---- the command ------------------------------------------------------ */

/* When the budget lets the next run start (uv_now() based). */
static uint64_t cmd_budget_due(const struct publisher *p, uint64_t now)
{
	uint64_t oldest;

	if (p->nstarts < p->max_runs)
		return now;
	oldest = p->starts[p->ring]; /* the slot the next start takes */
	return now - oldest >= p->window_ms ? now : oldest + p->window_ms;
}

/* Restore what was published before the swaps a failed command covered:
 * the block only, in managed-block mode (edits outside it are kept). */
static void cmd_rollback(struct publisher *p)
{
	struct destfile_old old;
	struct buf cur, out;
	const char *why = NULL;
	struct err e;
	char msg[600];
	int r;

	err_clear(&e);
	buf_init(&cur, PUBLISH_MAX_FILE);
	buf_init(&out, PUBLISH_MAX_FILE);
	r = destfile_read(p->file, &cur, &old, &e);
	if (r == 0 && p->managed_block) {
		r = hosts_splice(buf_str(&cur), cur.len,
		                 buf_str(&p->rollback_data),
		                 p->rollback_data.len, &out, &why);
		if (r < 0)
			err_msg(&e, r, "managed block: %s",
			        why != NULL ? why : strerror(-r));
	} else if (r == 0) {
		r = buf_append(&out,
		               p->rollback_data.data != NULL
		                       ? p->rollback_data.data
		                       : "",
		               p->rollback_data.len);
	}
	if (r == 0)
		r = destfile_replace(p->file, out.data != NULL ? out.data : "",
		                     out.len, &old, &e);
	if (r < 0)
		log_warnx("%s: rollback failed: %s", p->dest,
		          err_format(&e, msg, sizeof(msg)));
	else
		log_warnx("%s: rolled back to the content from before the "
		          "failed command",
		          p->dest);
	buf_free(&cur);
	buf_free(&out);
}

static void cmd_done(struct command *c, void *data)
{
	struct publisher *p = data;
	char desc[128];
	struct buf msg;

	const char *denied = command_signal_denied(c);

	p->cmd = NULL;
	cmd_set_state(p, CMD_IDLE);
	publish_log_output(p, "command", c);
	/* A reload that could not signal dnsmasq did not happen, whatever
	 * its exit status (pkill exits 0 then). */
	p->last_cmd_ok = command_succeeded(c) && denied == NULL;
	publish_count_command(p, p->last_cmd_ok);
	if (p->last_cmd_ok) {
		log_debug("%s: command done in %llu ms", p->dest,
		          (unsigned long long)command_duration_ms(c));
		p->rollback_valid = false;
		p->cmd_failures = 0;
		p->cmd_retry = false;
		p->retry_not_before = 0;
		command_free(c);
		cmd_kick(p);
		return;
	}
	buf_init(&msg, 400);
	publish_first_line(c, &msg);
	log_warnx("%s: command %s%s%s%s", p->dest,
	          command_describe(c, desc, sizeof(desc)), buf_str(&msg),
	          denied != NULL ? "; " : "", denied != NULL ? denied : "");
	buf_free(&msg);
	command_free(c);
	p->cmd_failures++;
	if (p->command_due) {
		/* A newer render was swapped in while it ran: that one gets
		 * its own run, within the budget, not a backed-off retry. */
		p->cmd_retry = false;
	} else if (p->rollback && p->rollback_valid) {
		if (p->rollback_exists)
			cmd_rollback(p);
		else
			log_warnx("%s: nothing to roll back to (the file was "
			          "new)",
			          p->dest);
	} else {
		/* The file is in place but the command (a dnsmasq reload)
		 * did not take it: run it again, backing off. */
		uint64_t delay = backoff_ceiling_ms(PUBLISH_RETRY_MIN_MS,
		                                    PUBLISH_RETRY_MAX_MS,
		                                    p->cmd_failures);

		p->command_due = true;
		p->cmd_retry = true;
		p->retry_not_before = uv_now(p->loop) + delay;
		log_warnx("%s: running the command again in %llu ms", p->dest,
		          (unsigned long long)delay);
	}
	p->rollback_valid = false;
	cmd_kick(p);
}

static void cmd_run(struct publisher *p)
{
	uint64_t now = uv_now(p->loop);
	struct err e;
	int r;

	err_clear(&e);
	if (p->nstarts > 0)
		log_debug("%s: running the command (%u of at most %u in %llu "
		          "ms)",
		          p->dest,
		          p->nstarts < p->max_runs ? p->nstarts + 1
		                                   : p->max_runs,
		          p->max_runs, (unsigned long long)p->window_ms);
	else
		log_debug("%s: running the command (the first)", p->dest);
	p->command_due = false;
	p->starts[p->ring] = now;
	p->ring = (p->ring + 1) % p->max_runs;
	if (p->nstarts < p->max_runs)
		p->nstarts++;
	p->stats.command_runs++;
	cmd_set_state(p, CMD_RUNNING);
	r = command_run(p->loop, p->command, NULL, p->command_timeout_ms,
	                cmd_done, p, &p->cmd, &e);
	if (r == 0)
		return;
	cmd_set_state(p, CMD_IDLE);
	p->last_cmd_ok = false;
	publish_count_command(p, false);
	log_warnx("%s: command: %s", p->dest, e.msg);
	publish_kick(p);
}

static void cmd_timer_cb(uv_timer_t *t)
{
	struct publisher *p = t->data;

	if (p->cmd_state == CMD_WAITING)
		cmd_set_state(p, CMD_IDLE);
	cmd_kick(p);
}

/*
 * Closing or flushing (-once): a due command runs now, whatever its
 * budget, but a failed one is not retried.
 */
bool cmd_hurry(const struct publisher *p)
{
	return p->closing || p->nflushers > 0;
}

/* Whether the command should run (now or later). */
bool cmd_wanted(const struct publisher *p)
{
	return p->command != NULL && p->command_due &&
	       !(cmd_hurry(p) && p->cmd_retry) &&
	       !(p->closing && p->cmd_failures > 0);
}

/* Start the command if it is due and allowed; else wait for what allows
 * it. Then let the job side see whether everything is idle. */
void cmd_kick(struct publisher *p)
{
	uint64_t now, due;
	bool hurry = cmd_hurry(p);

	/* The loop's time is from before this turn's file work (an fsync
	 * may take milliseconds): the budget counts real start times. */
	uv_update_time(p->loop);
	now = uv_now(p->loop);

	if (p->cmd_state == CMD_RUNNING)
		return;
	if (!cmd_wanted(p)) {
		uv_timer_stop(&p->cmd_timer);
		cmd_set_state(p, CMD_IDLE);
		publish_kick(p);
		return;
	}
	due = cmd_budget_due(p, now);
	if (p->cmd_retry && due < p->retry_not_before)
		due = p->retry_not_before;
	if (due > now && !hurry) {
		if (p->cmd_state != CMD_WAITING)
			log_info("%s: the command runs in %llu ms (at most %u "
			         "runs in %llu ms)",
			         p->dest, (unsigned long long)(due - now),
			         p->max_runs, (unsigned long long)p->window_ms);
		cmd_set_state(p, CMD_WAITING);
		uv_timer_start(&p->cmd_timer, cmd_timer_cb, due - now, 0);
		return;
	}
	uv_timer_stop(&p->cmd_timer);
	cmd_run(p);
}
