/*
 * The publisher: a queue of one job (the newest render) through check,
 * guard, stage, check_command and swap, and beside it the command that
 * reloads dnsmasq, on its own budget. Two state machines, each changed
 * only through its set_state function (traced):
 *
 *   job:     IDLE -> (submit) -> [read, guard, stage] -> CHECKING -> IDLE
 *   command: IDLE -> (a swap) -> [budget spent] WAITING -> RUNNING -> IDLE
 *
 * The file itself (read, stage, swap) is destfile.h's; what is held is
 * guard.h's; the command's machine is publish_cmd.c (publish_priv.h holds
 * what both see).
 *
 * Map: state names and set_state; job settle/finish; logging (streams,
 * problems, the "wrote" line); the job: check, guard (hold timer), write
 * (stage, check_command, swap); the sinks (file, dry, explain, diff); the
 * queue (kick, flush, submit, close); stats.
 */
#include "publish/publish.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/duration.h"
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

static void job_write(struct publisher *p);
static void publish_count(struct publisher *p, enum publish_result res);

const char *publish_result_name(enum publish_result res)
{
	switch (res) {
	case PUBLISH_WRITTEN:
		return "written";
	case PUBLISH_UNCHANGED:
		return "unchanged";
	case PUBLISH_HELD:
		return "held";
	case PUBLISH_FAILED:
		return "failed";
	}
	return "?";
}

static const char *const job_state_names[] = {[JOB_IDLE] = "IDLE",
                                              [JOB_CHECKING] = "CHECKING",
                                              [JOB_CLOSED] = "CLOSED"};
static const char *const cmd_state_names[] = {[CMD_IDLE] = "IDLE",
                                              [CMD_WAITING] = "WAITING",
                                              [CMD_RUNNING] = "RUNNING"};

static void job_set_state(struct publisher *p, enum job_state s)
{
	if (p->state != s)
		log_trace("publish %s: job %s -> [%s]", p->dest,
		          job_state_names[p->state], job_state_names[s]);
	p->state = s;
}

void cmd_set_state(struct publisher *p, enum cmd_state s)
{
	if (p->cmd_state != s)
		log_trace("publish %s: command %s -> [%s]", p->dest,
		          cmd_state_names[p->cmd_state], cmd_state_names[s]);
	p->cmd_state = s;
}

static struct job *job_free(struct job *j)
{
	if (j == NULL)
		return NULL;
	free(j->text);
	free(j->spans.v);
	free(j->suspect);
	json_decref(j->weights);
	free(j->waiters);
	free(j);
	return NULL;
}

static void job_notify(struct job *j, enum publish_result res,
                       const struct err *e)
{
	for (size_t i = 0; i < j->nwaiters; i++)
		if (j->waiters[i].cb != NULL)
			j->waiters[i].cb(j->waiters[i].data, res, e);
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size && a->st_mode == b->st_mode &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Whether the job is the settled render again, over an untouched file. */
static bool job_same_as_settled(struct publisher *p)
{
	const struct job *j = p->job, *l = p->last;
	struct stat st;

	return p->settled && l != NULL && j->len == l->len &&
	       memcmp(j->text, l->text, j->len) == 0 &&
	       (j->suspect == NULL) == (l->suspect == NULL) &&
	       (j->weights == NULL) == (l->weights == NULL) &&
	       (j->weights == NULL || json_equal(j->weights, l->weights)) &&
	       j->spans.n == l->spans.n && j->all_dynamic == l->all_dynamic &&
	       (j->spans.n == 0 ||
	        memcmp(j->spans.v, l->spans.v,
	               j->spans.n * sizeof(*j->spans.v)) == 0) &&
	       stat(p->dest, &st) == 0 && same_stat(&st, &p->settled_st);
}

/*
 * The file is as this job left it: remember it for the next one. By the
 * configured path, which stat() follows: a link re-pointed since gives
 * another file, and the next render goes the whole way.
 */
static void publish_settle(struct publisher *p)
{
	p->settled = p->gr.nheld == 0 && p->text_hold_since == 0 &&
	             stat(p->dest, &p->settled_st) == 0;
}

/* The job is over: tell every waiter, keep its render, start what's next. */
static void publish_finish(struct publisher *p, enum publish_result res,
                           const struct err *e)
{
	struct job *j = p->job;

	p->job = NULL;
	job_set_state(p, JOB_IDLE);
	p->staged = destfile_discard(p->staged);
	if (j != NULL) {
		log_debug("%s: %s", p->dest, publish_result_name(res));
		publish_count(p, res);
		job_notify(j, res, e);
		free(j->waiters);
		j->waiters = NULL;
		j->nwaiters = 0;
		job_free(p->last);
		p->last = j;
	}
	publish_kick(p);
}

static void publish_fail(struct publisher *p, const struct err *e)
{
	publish_finish(p, PUBLISH_FAILED, e);
}

/* ---- logging ---------------------------------------------------------- */

static void publish_log_stream(struct publisher *p, const char *what,
                               const char *s, size_t len, bool truncated,
                               bool failed)
{
	struct buf esc;

	buf_init(&esc, 0);
	while (len > 0) {
		const char *nl = memchr(s, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - s) : len;

		buf_reset(&esc);
		(void)hosts_escape(s, n, 512, &esc);
		if (failed)
			log_warnx("%s: %s: %s", p->dest, what, buf_str(&esc));
		else
			log_info("%s: %s: %s", p->dest, what, buf_str(&esc));
		s += n;
		len -= n;
		if (len > 0) {
			s++;
			len--;
		}
	}
	if (truncated)
		log_warnx("%s: %s: (output cut at %d bytes)", p->dest, what,
		          COMMAND_MAX_OUTPUT);
	buf_free(&esc);
}

void publish_log_output(struct publisher *p, const char *what,
                        const struct command *c)
{
	bool failed = !command_succeeded(c), trunc;
	const char *s;
	size_t len;

	s = command_stdout(c, &len, &trunc);
	publish_log_stream(p, what, s, len, trunc, failed);
	s = command_stderr(c, &len, &trunc);
	publish_log_stream(p, what, s, len, trunc, failed);
}

/* First line of stderr (or stdout), escaped, for an error message. */
void publish_first_line(const struct command *c, struct buf *out)
{
	size_t len;
	const char *s = command_stderr(c, &len, NULL), *nl;

	if (len == 0)
		s = command_stdout(c, &len, NULL);
	if (len == 0)
		return;
	nl = memchr(s, '\n', len);
	buf_puts(out, ": ");
	(void)hosts_escape(s, nl != NULL ? (size_t)(nl - s) : len, 200, out);
}

static void publish_log_problems(struct publisher *p, json_t *problems,
                                 const struct hosts_stats *st)
{
	size_t i, total = st->dropped + st->duplicates;
	json_t *v;

	json_array_foreach(problems, i, v)
	{
		const char *reason =
		        json_string_value(json_object_get(v, "reason"));
		long long line = (long long)json_integer_value(
		        json_object_get(v, "line"));
		const char *text =
		        json_string_value(json_object_get(v, "text"));

		if (strncmp(reason, "duplicate", 9) == 0)
			log_info("%s: line %lld dropped (%s): \"%s\"", p->dest,
			         line, reason, text);
		else
			log_warnx("%s: line %lld dropped (%s): \"%s\"", p->dest,
			          line, reason, text);
	}
	if (total > json_array_size(problems))
		log_warnx("%s: %zu more lines dropped", p->dest,
		          total - json_array_size(problems));
}

/* The longest part of a line a "wrote" line shows. */
#define PUBLISH_LOG_KEY_MAX 80

/* Up to PUBLISH_LOG_KEYS keys of a's entries that b lacks, but those
 * whose line is in held (may be NULL). How many. */
static size_t publish_diff_keys(const struct hosts_doc *a,
                                const struct hosts_doc *b,
                                const struct strmap *held, char sign,
                                struct buf *out)
{
	long *in_b =
	        xreallocarray(NULL, a->nlines ? a->nlines : 1, sizeof(*in_b));
	size_t n = 0;

	hosts_doc_match(a, b, in_b);
	for (size_t i = 0; i < a->nlines; i++) {
		const struct hosts_line *l = &a->lines[i];
		int len = l->key_len < PUBLISH_LOG_KEY_MAX
		                  ? (int)l->key_len
		                  : PUBLISH_LOG_KEY_MAX;

		if (!l->entry || in_b[i] >= 0 ||
		    (held != NULL &&
		     strmap_get(held, a->text.data + l->off, l->len, NULL)))
			continue;
		if (n++ < PUBLISH_LOG_KEYS)
			buf_printf(out, "%s%c%.*s", out->len > 0 ? ", " : "",
			           sign, len, a->keys + l->key);
	}
	free(in_b);
	return n;
}

/* "written (916 bytes; +2 -1, 1 held): -192.0.2.12 foo-app02, +..." */
static void publish_log_written(struct publisher *p)
{
	struct buf what;
	size_t removed, added;

	struct strmap held;

	strmap_init(&held);
	for (size_t i = 0; i < p->gr.nheld; i++)
		(void)strmap_put(&held, p->gr.lines.data + p->gr.held[i].text,
		                 p->gr.held[i].len, 0, NULL);
	buf_init(&what, 2048);
	removed = publish_diff_keys(&p->old, &p->new, &held, '-', &what);
	added = publish_diff_keys(&p->new, &p->old, NULL, '+', &what);
	strmap_free(&held);
	if (removed + added > 2 * PUBLISH_LOG_KEYS)
		buf_puts(&what, ", ...");
	log_info("%s: written (%zu bytes; +%zu -%zu, %zu held)%s%s", p->dest,
	         p->final.len, added, removed, p->gr.nheld,
	         what.len > 0 ? ": " : "", buf_str(&what));
	buf_free(&what);
}

/* ---- the job: check ------------------------------------------------- */

/* Mark the lines of d that overlap the job's dynamic spans. */
static void job_mark_dynamic(const struct job *j, struct hosts_doc *d)
{
	size_t s = 0;

	for (size_t i = 0; i < d->nlines; i++) {
		struct hosts_line *l = &d->lines[i];
		size_t end = l->src + l->len;

		if (j->all_dynamic) {
			l->dynamic = true;
			continue;
		}
		while (s < j->spans.n && j->spans.v[s].end <= l->src)
			s++;
		l->dynamic = s < j->spans.n && j->spans.v[s].start < end;
	}
}

/* Step 1: the render as a hosts file (or text). 0, or fails the job. */
static int job_check(struct publisher *p)
{
	struct job *j = p->job;
	json_t *problems;
	struct err e;
	size_t lines;
	int r;

	p->render_in_old = false; /* p->new gets this render */
	if (p->format == TMPL_FORMAT_TEXT) {
		r = hosts_doc_lines(&p->new, j->text, j->len);
	} else {
		problems = json_array();
		r = hosts_doc_check(&p->new, j->text, j->len, false, problems);
		if (r == 0)
			publish_log_problems(p, problems, &p->new.st);
		json_decref(problems);
	}
	if (r < 0) {
		err_msg(&e, r, "%s: more than %u bytes", p->dest,
		        PUBLISH_MAX_FILE);
		publish_fail(p, &e);
		return r;
	}
	lines = p->new.st.entries + p->new.st.dropped + p->new.st.duplicates;
	if (p->format == TMPL_FORMAT_HOSTS && p->new.st.dropped * 2 > lines) {
		err_msg(&e, -EINVAL,
		        "%s: refusing to publish: the hosts check dropped %zu "
		        "of %zu address lines, so this is not a hosts file; "
		        "fix the template, or set format = \"text\" in its "
		        "template block if it renders another kind of file",
		        p->dest, p->new.st.dropped, lines);
		publish_fail(p, &e);
		return -EINVAL;
	}
	job_mark_dynamic(j, &p->new);
	if (p->format == TMPL_FORMAT_HOSTS && p->explain == NULL &&
	    order_lines(p->order, &p->new, j->weights, p->emit) < 0) {
		err_msg(&e, -E2BIG, "%s: more than %u bytes", p->dest,
		        PUBLISH_MAX_FILE);
		publish_fail(p, &e);
		return -E2BIG;
	}
	return 0;
}

/* ---- the job: guard ------------------------------------------------- */

static void hold_timer_cb(uv_timer_t *t)
{
	struct publisher *p = t->data;

	if (p->closing || p->pending != NULL || p->job != NULL ||
	    p->last == NULL)
		return;
	/* The job is not copied: it goes back in the queue as it was. */
	p->pending = p->last;
	p->last = NULL;
	log_debug("%s: a held removal is due: publishing again", p->dest);
	publish_kick(p);
}

static void hold_arm(struct publisher *p)
{
	int64_t delay;

	uv_timer_stop(&p->hold_timer);
	if (p->gr.next_expiry_ms == 0 || p->closing)
		return;
	delay = p->gr.next_expiry_ms - wall_clock_ms();
	uv_timer_start(&p->hold_timer, hold_timer_cb,
	               delay > 0 ? (uint64_t)delay + 1 : 1, 0);
}

/* Log a hold once per reason. */
static void hold_log(struct publisher *p, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void hold_log(struct publisher *p, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->held_logged != NULL && strcmp(p->held_logged, msg) == 0) {
		log_debug("%s", msg);
		return;
	}
	log_warnx("%s", msg);
	free(p->held_logged);
	p->held_logged = xstrdup(msg);
}

/*
 * Step 3: what the block (or file) holds from this render, in p->block.
 * Returns 0 to go on, or PUBLISH_HELD: nothing to write.
 */
static int job_guard(struct publisher *p)
{
	int64_t now = wall_clock_ms(), since;
	unsigned long long hold_s = (unsigned long long)p->guard.hold_ms / 1000;

	buf_reset(&p->block);
	if (p->format == TMPL_FORMAT_TEXT) {
		if (guard_text(&p->guard, &p->old, &p->new, p->job->suspect,
		               now, p->text_hold_since, &since, &p->gr)) {
			p->text_hold_since = since;
			hold_arm(p);
			hold_log(p, "%s: holding back the render: %s%s",
			         p->dest, buf_str(&p->gr.why),
			         p->gr.hold_all
			                 ? ""
			                 : "; it is published when Consul "
			                   "answers it again without this, "
			                   "or when it has been held for "
			                   "guard { hold }");
			return PUBLISH_HELD;
		}
		p->text_hold_since = 0;
		uv_timer_stop(&p->hold_timer);
		return buf_append(&p->block, p->new.text.data, p->new.text.len);
	}
	guard_decide(&p->guard, &p->window, &p->old, &p->new, p->job->suspect,
	             now, &p->gr);
	if (p->gr.hold_all) {
		uv_timer_stop(&p->hold_timer);
		hold_log(p, "%s: not publishing: %s", p->dest,
		         buf_str(&p->gr.why));
		return PUBLISH_HELD;
	}
	if (p->gr.newly_held > 0)
		hold_log(p,
		         "%s: holding back %zu removal%s (kept in the file, "
		         "marked): %s; each is confirmed by a healthy answer "
		         "that still lacks it, or after %llus",
		         p->dest, p->gr.newly_held,
		         p->gr.newly_held == 1 ? "" : "s", buf_str(&p->gr.why),
		         hold_s);
	if (p->gr.confirmed > 0)
		log_info("%s: %zu held removal%s confirmed", p->dest,
		         p->gr.confirmed, p->gr.confirmed == 1 ? "" : "s");
	if (p->gr.nheld == 0) {
		free(p->held_logged);
		p->held_logged = NULL;
	}
	hold_arm(p);
	if (buf_append(&p->block, p->new.text.data, p->new.text.len) < 0 ||
	    guard_append_held(&p->gr, &p->block) < 0)
		return -E2BIG;
	return 0;
}

/* ---- the job: write ----------------------------------------------- */

static void job_check_done(struct command *c, void *data);

/* check_command with "{{path}}" replaced by the quoted staged path. */
static char *job_check_script(struct publisher *p)
{
	struct buf quoted, script;
	const char *s = p->check_command, *hit;

	buf_init(&quoted, 0);
	buf_shell_quote(&quoted, p->staged, false);
	buf_init(&script, 0);
	while ((hit = strstr(s, "{{path}}")) != NULL) {
		buf_append(&script, s, (size_t)(hit - s));
		buf_append(&script, quoted.data, quoted.len);
		s = hit + strlen("{{path}}");
	}
	buf_puts(&script, s);
	buf_free(&quoted);
	return buf_take(&script, NULL);
}

/* Step 6, after the check: swap, unless someone changed the file. */
static void job_swap(struct publisher *p)
{
	struct destfile_old now;
	struct buf cur;
	struct err e;
	int r;

	err_clear(&e);
	if (p->managed_block) {
		/* Lines outside the block belong to the operator: if the file
		 * changed since it was read, splice again. */
		buf_init(&cur, PUBLISH_MAX_FILE);
		r = destfile_read(p->file, &cur, &now, &e);
		if (r == 0 && (now.exists != p->old_st.exists ||
		               cur.len != p->file_old.len ||
		               memcmp(buf_str(&cur), buf_str(&p->file_old),
		                      cur.len) != 0)) {
			buf_free(&cur);
			p->staged = destfile_discard(p->staged);
			if (++p->restarts > PUBLISH_MAX_RESTARTS) {
				err_msg(&e, -EAGAIN,
				        "%s: the file kept changing while it "
				        "was being replaced (%d times); trying "
				        "again later",
				        p->dest, PUBLISH_MAX_RESTARTS);
				publish_fail(p, &e);
				return;
			}
			log_info("%s: changed by someone else while staged: "
			         "splicing again",
			         p->dest);
			job_write(p);
			return;
		}
		buf_free(&cur);
		if (r < 0) {
			publish_fail(p, &e);
			return;
		}
	}
	r = destfile_swap(p->file, p->staged, p->final.data, p->final.len,
	                  &p->old_st, &e);
	free(p->staged);
	p->staged = NULL;
	if (r < 0) {
		publish_fail(p, &e);
		return;
	}
	publish_log_written(p);
	publish_settle(p);
	/* Nothing held: the file holds the render, whose doc is the next
	 * job's old one. */
	p->old_kept = p->settled;
	if (p->settled) {
		struct hosts_doc was = p->old;

		p->old = p->new;
		p->new = was;
		p->old_st_kept = p->settled_st;
		p->render_in_old = true;
	}
	if (p->command != NULL) {
		p->command_due = true;
		p->cmd_retry = false;
		cmd_kick(p);
	}
	publish_finish(p, PUBLISH_WRITTEN, NULL);
}

static void job_check_done(struct command *c, void *data)
{
	struct publisher *p = data;
	char desc[128];
	struct err e;
	struct buf msg;

	p->check = NULL;
	job_set_state(p, JOB_IDLE);
	publish_log_output(p, "check_command", c);
	if (command_succeeded(c)) {
		command_free(c);
		job_swap(p);
		return;
	}
	buf_init(&msg, 400);
	publish_first_line(c, &msg);
	err_msg(&e, -EINVAL, "%s: check_command %s%s; the old file is kept",
	        p->dest, command_describe(c, desc, sizeof(desc)),
	        buf_str(&msg));
	buf_free(&msg);
	command_free(c);
	publish_fail(p, &e);
}

/* Steps 2-5: read, weigh, stage, check. */
static void job_write(struct publisher *p)
{
	const char *why = NULL, *oldblock;
	size_t oldlen, bstart, bend;
	struct err e;
	int r;

	err_clear(&e);
	if (!p->stale_checked) {
		unsigned n = destfile_remove_stale(p->file);

		p->stale_checked = true;
		if (n > 0)
			log_info("%s: removed %u temporary file%s left by a "
			         "killed process",
			         p->dest, n, n == 1 ? "" : "s");
	}
	r = destfile_read(p->file, &p->file_old, &p->old_st, &e);
	if (r < 0)
		goto fail;
	if (destfile_link(p->file) && !p->link_logged) {
		p->link_logged = true;
		log_info("%s is a symbolic link: publishing into %s, the file "
		         "it points to",
		         p->dest, destfile_target(p->file));
	}
	oldblock = buf_str(&p->file_old);
	oldlen = p->file_old.len;
	if (p->managed_block) {
		r = hosts_block_find(oldblock, oldlen, &bstart, &bend, &why);
		if (r == 0) {
			oldblock += bstart;
			oldlen = bend - bstart;
		} else if (r == -ENOENT) {
			oldlen = 0; /* no block yet: a first publish */
		} else {
			err_msg(&e, r, "%s: managed block: %s", p->dest, why);
			goto fail;
		}
	}
	if (p->old_kept && p->old_st.exists &&
	    same_stat(&p->old_st.st, &p->old_st_kept))
		r = 0;
	else
		r = p->format == TMPL_FORMAT_TEXT
		            ? hosts_doc_lines(&p->old, oldblock, oldlen)
		            : hosts_doc_check(&p->old, oldblock, oldlen, true,
		                              NULL);
	p->old_kept = r == 0 && p->old_st.exists;
	p->old_st_kept = p->old_st.st;
	if (r == 0)
		r = job_guard(p);
	if (r == PUBLISH_HELD) {
		publish_finish(p, PUBLISH_HELD, NULL);
		return;
	}
	if (r < 0) {
		err_msg(&e, r, "%s: more than %u bytes", p->dest,
		        PUBLISH_MAX_FILE);
		goto fail;
	}
	buf_reset(&p->final);
	if (p->managed_block) {
		r = hosts_splice(buf_str(&p->file_old), p->file_old.len,
		                 buf_str(&p->block), p->block.len, &p->final,
		                 &why);
		if (r < 0) {
			err_msg(&e, r, "%s: managed block: %s", p->dest,
			        why != NULL ? why : strerror(-r));
			goto fail;
		}
	} else if (buf_append(&p->final, buf_str(&p->block), p->block.len) <
	           0) {
		err_msg(&e, -E2BIG, "%s: more than %u bytes", p->dest,
		        PUBLISH_MAX_FILE);
		goto fail;
	}
	if (p->sink->compare != NULL) {
		p->sink->compare(p);
		return;
	}
	if (p->old_st.exists && p->file_old.len == p->final.len &&
	    memcmp(buf_str(&p->file_old), buf_str(&p->final), p->final.len) ==
	            0 &&
	    destfile_attrs_ok(p->file, &p->old_st)) {
		publish_settle(p);
		publish_finish(p, PUBLISH_UNCHANGED, NULL);
		return;
	}
	r = destfile_stage(p->file, buf_str(&p->final), p->final.len,
	                   &p->old_st, &p->staged, &e);
	if (r < 0)
		goto fail;
	/* What a failing command would roll back to. */
	if (p->command != NULL && !p->rollback_valid) {
		buf_reset(&p->rollback_data);
		buf_append(&p->rollback_data, oldblock, oldlen);
		p->rollback_valid = true;
		p->rollback_exists = p->old_st.exists;
	}
	if (p->check_command == NULL) {
		job_swap(p);
		return;
	}
	{
		char *script = job_check_script(p);

		job_set_state(p, JOB_CHECKING);
		r = command_run(p->loop, script, p->staged,
		                p->command_timeout_ms, job_check_done, p,
		                &p->check, &e);
		free(script);
		if (r < 0) {
			job_set_state(p, JOB_IDLE);
			goto fail;
		}
	}
	return;
fail:
	publish_fail(p, &e);
}

static void file_sink_start(struct publisher *p)
{
	p->restarts = 0;
	if (job_same_as_settled(p)) {
		publish_finish(p, PUBLISH_UNCHANGED, NULL);
		return;
	}
	p->settled = false;
	if (job_check(p) == 0)
		job_write(p);
}

static void dry_sink_start(struct publisher *p)
{
	struct err e;
	int r;

	if (job_check(p) < 0)
		return;
	r = fwrite(p->new.text.data != NULL ? p->new.text.data : "", 1,
	           p->new.text.len, stdout) == p->new.text.len
	            ? 0
	            : -EIO;
	if (r == 0 && fflush(stdout) != 0)
		r = -errno;
	if (r < 0) {
		err_msg(&e, r, "cannot write to stdout: %s", strerror(-r));
		publish_fail(p, &e);
		return;
	}
	publish_finish(p, PUBLISH_WRITTEN, NULL);
}

/* -explain NAME: who puts which line of NAME first, from this render. */
static void explain_sink_start(struct publisher *p)
{
	struct buf out;
	struct err e;
	int r;

	if (job_check(p) < 0)
		return;
	err_clear(&e);
	buf_init(&out, PUBLISH_MAX_FILE);
	r = p->order != NULL
	            ? order_explain_lines(p->order, &p->new, p->explain,
	                                  p->job->weights, &out, &e)
	            : err_msg(&e, -EINVAL, "explain: no order");
	if (r == 0 && (fwrite(buf_str(&out), 1, out.len, stdout) != out.len ||
	               fflush(stdout) != 0))
		r = err_msg(&e, -EIO, "cannot write to stdout: %s",
		            strerror(errno));
	buf_free(&out);
	if (r < 0) {
		publish_fail(p, &e);
		return;
	}
	publish_finish(p, PUBLISH_WRITTEN, NULL);
}

/* -diff: the destination against what the file sink would write there,
 * after splice and guards; nothing written, nothing run. */
static void diff_sink_compare(struct publisher *p)
{
	bool same = p->old_st.exists && p->file_old.len == p->final.len &&
	            memcmp(buf_str(&p->file_old), buf_str(&p->final),
	                   p->final.len) == 0;
	char *label = xasprintf("%s (new)", p->dest);
	struct buf out;
	struct err e;
	int r = 0;

	err_clear(&e);
	buf_init(&out, 0);
	if (!same)
		r = diff_unified(buf_str(&p->file_old), p->file_old.len,
		                 buf_str(&p->final), p->final.len,
		                 p->old_st.exists ? p->dest : "/dev/null",
		                 label, &out, &e);
	free(label);
	if (r == 0 && out.len > 0 &&
	    (fwrite(out.data, 1, out.len, stdout) != out.len ||
	     fflush(stdout) != 0))
		r = err_msg(&e, -EIO, "cannot write to stdout: %s",
		            strerror(errno));
	buf_free(&out);
	if (r < 0) {
		publish_fail(p, &e);
		return;
	}
	if (same && !destfile_attrs_ok(p->file, &p->old_st)) {
		log_info("%s: same content; its mode or owner would be set",
		         p->dest);
		same = false;
	}
	publish_finish(p, same ? PUBLISH_UNCHANGED : PUBLISH_WRITTEN, NULL);
}

static const struct publish_sink file_sink = {"file", file_sink_start, NULL};
static const struct publish_sink dry_sink = {"stdout", dry_sink_start, NULL};
static const struct publish_sink explain_sink = {"explain", explain_sink_start,
                                                 NULL};
static const struct publish_sink diff_sink = {"diff", file_sink_start,
                                              diff_sink_compare};

/* ---- the queue -------------------------------------------------------- */

static void publish_timer_closed(uv_handle_t *h)
{
	struct publisher *p = h->data;
	void (*closed)(void *);
	void *data;

	if (--p->open_timers > 0)
		return;
	closed = p->closed;
	data = p->closed_data;
	free(p->dest);
	free(p->command);
	free(p->check_command);
	free(p->held_logged);
	free(p->explain);
	free(p->starts);
	free(p->flushers);
	destfile_free(p->file);
	job_free(p->last);
	hosts_doc_free(&p->new);
	hosts_doc_free(&p->old);
	guard_result_free(&p->gr);
	guard_window_free(&p->window);
	buf_free(&p->block);
	buf_free(&p->file_old);
	buf_free(&p->final);
	buf_free(&p->rollback_data);
	free(p);
	if (closed != NULL)
		closed(data);
}

/* Everything idle: tell who waits for it. */
static bool publish_idle(const struct publisher *p)
{
	return p->state == JOB_IDLE && p->job == NULL && p->pending == NULL &&
	       p->cmd_state != CMD_RUNNING && !cmd_wanted(p);
}

static void publish_flushed(struct publisher *p)
{
	struct flusher *f = p->flushers;
	size_t n = p->nflushers;

	p->flushers = NULL;
	p->nflushers = 0;
	for (size_t i = 0; i < n; i++)
		f[i].cb(f[i].data, p->last_cmd_ok);
	free(f);
}

/* Idle: start the next thing there is to do. */
void publish_kick(struct publisher *p)
{
	if (p->state != JOB_IDLE || p->job != NULL)
		return;
	if (p->pending != NULL) {
		p->job = p->pending;
		p->pending = NULL;
		p->sink->start(p);
		return;
	}
	if (cmd_wanted(p) && (p->cmd_state == CMD_IDLE || cmd_hurry(p))) {
		cmd_kick(p); /* when hurried, a waiting command runs now */
		return;
	}
	if (!publish_idle(p))
		return;
	if (p->nflushers > 0)
		publish_flushed(p);
	if (p->closing && p->state != JOB_CLOSED) {
		job_set_state(p, JOB_CLOSED);
		uv_close((uv_handle_t *)&p->hold_timer, publish_timer_closed);
		uv_close((uv_handle_t *)&p->kick_timer, publish_timer_closed);
		uv_close((uv_handle_t *)&p->cmd_timer, publish_timer_closed);
	}
}

static void publish_kick_cb(uv_timer_t *t)
{
	publish_kick(t->data);
}

int publisher_submit(struct publisher *p, const struct publish_input *in,
                     publish_done_cb cb, void *data)
{
	struct job *j;

	if (p->closing)
		return -EINVAL;
	if (in->len > PUBLISH_MAX_FILE)
		return -E2BIG;
	j = p->pending;
	if (j == NULL) {
		j = xcalloc(1, sizeof(*j));
		p->pending = j;
	}
	free(j->text);
	j->text = xmalloc(in->len + 1);
	memcpy(j->text, in->text, in->len);
	j->text[in->len] = '\0';
	j->len = in->len;
	free(j->spans.v);
	memset(&j->spans, 0, sizeof(j->spans));
	j->all_dynamic = in->dynamic == NULL;
	if (in->dynamic != NULL && in->dynamic->n > 0) {
		j->spans.v = xreallocarray(NULL, in->dynamic->n,
		                           sizeof(*j->spans.v));
		memcpy(j->spans.v, in->dynamic->v,
		       in->dynamic->n * sizeof(*j->spans.v));
		j->spans.n = j->spans.cap = in->dynamic->n;
	}
	free(j->suspect);
	j->suspect = in->suspect != NULL ? xstrdup(in->suspect) : NULL;
	json_decref(j->weights);
	j->weights = json_incref(in->weights);
	if (cb != NULL) {
		j->waiters = xreallocarray(j->waiters, j->nwaiters + 1,
		                           sizeof(*j->waiters));
		j->waiters[j->nwaiters].cb = cb;
		j->waiters[j->nwaiters].data = data;
		j->nwaiters++;
	}
	/* Start from the loop, so cb never fires inside this call. */
	if (p->state == JOB_IDLE && p->job == NULL)
		uv_timer_start(&p->kick_timer, publish_kick_cb, 0, 0);
	return 0;
}

void publisher_flush(struct publisher *p, void (*cb)(void *data, bool ok),
                     void *data)
{
	p->flushers = xreallocarray(p->flushers, p->nflushers + 1,
	                            sizeof(*p->flushers));
	p->flushers[p->nflushers].cb = cb;
	p->flushers[p->nflushers].data = data;
	p->nflushers++;
	if (p->state == JOB_IDLE && p->job == NULL)
		uv_timer_start(&p->kick_timer, publish_kick_cb, 0, 0);
}

int publisher_new(uv_loop_t *loop, const struct tmpl_conf *tc,
                  const struct publish_opts *opts, struct publisher **ret,
                  struct err *e)
{
	const char *dest = tc->destination;
	bool dry = opts->dry || opts->explain != NULL;
	struct publisher *p;
	int r;

	/* -dry prints to stdout and needs no destination. */
	if ((dest == NULL || dest[0] == '\0') && dry)
		dest = "/dev/stdout";
	p = xcalloc(1, sizeof(*p));
	r = destfile_new(tc, dest, &p->file, e);
	if (r < 0) {
		free(p);
		return r;
	}
	p->loop = loop;
	p->sink = opts->diff              ? &diff_sink
	          : opts->explain != NULL ? &explain_sink
	          : dry                   ? &dry_sink
	                                  : &file_sink;
	p->explain = opts->explain != NULL ? xstrdup(opts->explain) : NULL;
	/* -diff leaves the destination's directory alone. */
	p->stale_checked = opts->diff;
	p->order = opts->order;
	p->emit = tc->emit;
	p->dest = xstrdup(dest);
	p->command = tc->command != NULL && tc->command[0] != '\0'
	                     ? xstrdup(tc->command)
	                     : NULL;
	p->check_command =
	        tc->check_command != NULL && tc->check_command[0] != '\0'
	                ? xstrdup(tc->check_command)
	                : NULL;
	p->format = tc->format;
	p->managed_block = tc->managed_block;
	p->rollback = tc->rollback_on_failure;
	p->guard.enabled = tc->guard_enabled;
	p->guard.shrink = tc->guard_shrink;
	p->guard.service_drop = tc->guard_service_drop;
	p->guard.hold_ms = tc->guard_hold_ms;
	p->command_timeout_ms = tc->command_timeout_ms;
	p->max_runs = tc->command_max_runs > 0 ? tc->command_max_runs : 1;
	p->window_ms = tc->command_window_ms;
	p->starts = xcalloc(p->max_runs, sizeof(*p->starts));
	p->last_cmd_ok = true;
	hosts_doc_init(&p->new, PUBLISH_MAX_FILE);
	hosts_doc_init(&p->old, PUBLISH_MAX_FILE);
	guard_result_init(&p->gr);
	guard_window_init(&p->window);
	buf_init(&p->block, PUBLISH_MAX_FILE);
	buf_init(&p->file_old, PUBLISH_MAX_FILE);
	buf_init(&p->final, PUBLISH_MAX_FILE);
	buf_init(&p->rollback_data, PUBLISH_MAX_FILE);
	uv_timer_init(loop, &p->hold_timer);
	uv_timer_init(loop, &p->kick_timer);
	uv_timer_init(loop, &p->cmd_timer);
	p->hold_timer.data = p->kick_timer.data = p->cmd_timer.data = p;
	p->open_timers = 3;
	*ret = p;
	return 0;
}

void publisher_close(struct publisher *p, void (*closed)(void *), void *data)
{
	struct err e;

	if (p == NULL || p->closing)
		return;
	p->closing = true;
	p->closed = closed;
	p->closed_data = data;
	uv_timer_stop(&p->hold_timer);
	uv_timer_stop(&p->kick_timer);
	if (p->pending != NULL) {
		err_msg(&e, -ECANCELED, "%s: not published: shutting down",
		        p->dest);
		job_notify(p->pending, PUBLISH_FAILED, &e);
		p->pending = job_free(p->pending);
	}
	publish_kick(p);
}

/* ---- stats ------------------------------------------------------------ */

static void publish_count(struct publisher *p, enum publish_result res)
{
	struct publish_stats *st = &p->stats;
	int64_t now = wall_clock_ms();

	st->results[res]++;
	st->failing = res == PUBLISH_FAILED;
	st->holding = res == PUBLISH_HELD;
	if (res == PUBLISH_FAILED && st->failing_since_ms == 0)
		st->failing_since_ms = now;
	else if (res != PUBLISH_FAILED)
		st->failing_since_ms = 0;
	if (res == PUBLISH_WRITTEN || res == PUBLISH_UNCHANGED) {
		st->last_ok_ms = now;
		st->entries =
		        (p->render_in_old ? &p->old : &p->new)->st.entries +
		        p->gr.nheld;
		st->held = p->gr.nheld;
	}
	if (res == PUBLISH_WRITTEN)
		st->last_write_ms = now;
	if (p->observer != NULL)
		p->observer(p->observer_data);
}

void publish_count_command(struct publisher *p, bool ok)
{
	p->stats.command_failing = !ok;
	if (!ok)
		p->stats.command_failures++;
	if (p->observer != NULL)
		p->observer(p->observer_data);
}

void publisher_get_stats(const struct publisher *p, struct publish_stats *ret)
{
	*ret = p->stats;
}

void publisher_set_observer(struct publisher *p, void (*cb)(void *data),
                            void *data)
{
	p->observer = cb;
	p->observer_data = data;
}
