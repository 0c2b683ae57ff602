#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "command.h"
#include "hosts.h"
#include "log.h"
#include "xmalloc.h"

struct waiter {
	publish_done_cb cb;
	void *data;
};

struct job {
	char *text;
	size_t len;
	struct waiter *waiters;
	size_t nwaiters;
};

enum publish_state {
	PUBLISH_IDLE,
	PUBLISH_CHECKING,  /* check_command runs on the staged file */
	PUBLISH_COMMANDING /* command runs (for a job or deferred) */
};

struct publisher;

/* Where checked content goes: the file, or stdout for -dry. */
struct publish_sink {
	const char *name;
	/* Publish p->job's checked content (p->checked); ends with
	 * publish_finish, now or later. */
	void (*start)(struct publisher *p);
};

struct publisher {
	uv_loop_t *loop;
	const struct publish_sink *sink;
	enum publish_state state;
	bool closing;
	void (*closed)(void *);
	void *closed_data;
	int open_timers;

	/* Configuration (copied). */
	char *dest;
	char *dir;
	char *base;
	char *command;
	char *check_command;
	char *user;
	char *group;
	int perms;
	bool backup, create_dest_dirs, managed_block, in_place, rollback;
	double guard_shrink;
	bool guard_service_drop;
	uint64_t guard_hold_ms;
	uint64_t command_timeout_ms;
	uint64_t restart_min_interval_ms;

	struct job *job; /* running */
	struct job *pending;
	struct buf checked; /* job's text after the hosts check */
	struct buf final;   /* what the destination will hold */
	char *staged;       /* temp file path while staged */
	bool old_exists;
	struct stat old_st;
	struct command *cmd;
	bool cmd_for_job; /* the command belongs to p->job (not deferred) */

	/* Guard hold: the checked content held back and since when. */
	char *held;
	size_t held_len;
	uint64_t held_since;
	uv_timer_t hold_timer;

	/* Restart rate limit and rollback. */
	bool command_ever;
	uint64_t last_command_ms;
	bool command_due;      /* a swap happened that no command has covered */
	unsigned cmd_failures; /* failed runs in a row (no rollback) */
	uint64_t command_not_before; /* loop time of the next retry */
	uv_timer_t restart_timer;
	bool rollback_valid; /* rollback_data is the pre-swap content */
	bool rollback_exists;
	struct buf rollback_data;
	struct stat rollback_st;
};

static void publish_kick(struct publisher *p);
static void publish_run_command(struct publisher *p, bool for_job);

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

static struct job *job_free(struct job *j)
{
	if (j == NULL)
		return NULL;
	free(j->text);
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

/* The job is over: tell every waiter, then start what comes next. */
static void publish_finish(struct publisher *p, enum publish_result res,
                           const struct err *e)
{
	struct job *j = p->job;

	p->job = NULL;
	p->state = PUBLISH_IDLE;
	if (p->staged != NULL) {
		(void)unlink(p->staged);
		free(p->staged);
		p->staged = NULL;
	}
	if (j != NULL) {
		log_debug("%s: %s", p->dest, publish_result_name(res));
		job_notify(j, res, e);
		job_free(j);
	}
	publish_kick(p);
}

static void publish_fail(struct publisher *p, const struct err *e)
{
	publish_finish(p, PUBLISH_FAILED, e);
}

/* ---- files ---------------------------------------------------------- */

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read the destination into out; *ret_exists false when it is absent. */
static int publish_read_dest(struct publisher *p, struct buf *out,
                             bool *ret_exists, struct stat *ret_st,
                             struct err *e)
{
	int fd = open(p->dest, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r = 0;

	buf_reset(out);
	if (fd < 0 && errno == ENOENT) {
		*ret_exists = false;
		return 0;
	}
	if (fd < 0)
		return err_msg(e, -errno, "cannot read %s: %s", p->dest,
		               strerror(errno));
	if (fstat(fd, ret_st) < 0) {
		r = err_msg(e, -errno, "cannot stat %s: %s", p->dest,
		            strerror(errno));
		goto out;
	}
	if (S_ISDIR(ret_st->st_mode)) {
		r = err_msg(e, -EISDIR,
		            "destination %s is a directory, not a file",
		            p->dest);
		goto out;
	}
	if (!S_ISREG(ret_st->st_mode)) {
		r = err_msg(e, -EINVAL, "destination %s is not a regular file",
		            p->dest);
		goto out;
	}
	for (;;) {
		char chunk[16384];
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_msg(e, -errno, "cannot read %s: %s", p->dest,
			            strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(out, chunk, (size_t)n) < 0) {
			r = err_msg(e, -E2BIG, "%s is larger than %u bytes",
			            p->dest, PUBLISH_MAX_FILE);
			goto out;
		}
	}
	*ret_exists = true;
out:
	close(fd);
	return r;
}

/* mkdir -p for the destination's directory, 0755. */
static int publish_make_dirs(struct publisher *p, struct err *e)
{
	char *path = xstrdup(p->dir);
	int r = 0;

	for (char *s = path + 1;; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			r = err_msg(e, -errno, "cannot create directory %s: %s",
			            path, strerror(errno));
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(path);
	return r;
}

/* Numeric or named user/group; -1 when not configured. */
static int publish_want_owner(struct publisher *p, uid_t *ret_uid,
                              gid_t *ret_gid, struct err *e)
{
	char *end;

	*ret_uid = (uid_t)-1;
	*ret_gid = (gid_t)-1;
	if (p->user != NULL) {
		struct passwd *pw = getpwnam(p->user);
		unsigned long v = strtoul(p->user, &end, 10);

		if (pw != NULL)
			*ret_uid = pw->pw_uid;
		else if (*p->user != '\0' && *end == '\0')
			*ret_uid = (uid_t)v;
		else
			return err_msg(e, -ENOENT, "%s: unknown user \"%s\"",
			               p->dest, p->user);
	}
	if (p->group != NULL) {
		struct group *gr = getgrnam(p->group);
		unsigned long v = strtoul(p->group, &end, 10);

		if (gr != NULL)
			*ret_gid = gr->gr_gid;
		else if (*p->group != '\0' && *end == '\0')
			*ret_gid = (gid_t)v;
		else
			return err_msg(e, -ENOENT, "%s: unknown group \"%s\"",
			               p->dest, p->group);
	}
	return 0;
}

/*
 * Write data to a new temp file next to the destination and make it
 * durable; *ret_path is its name. Not O_TMPFILE: check_command needs a
 * path, and linkat() cannot replace an existing file, so a rename is
 * needed anyway; a dot-prefixed name keeps dnsmasq's --hostsdir (and
 * editors' globs) away from it.
 */
static int publish_stage(struct publisher *p, const char *data, size_t len,
                         bool old_exists, const struct stat *old_st,
                         char **ret_path, struct err *e)
{
	char *path = xasprintf("%s/.%s.consul-hosts.XXXXXX", p->dir, p->base);
	uid_t uid;
	gid_t gid;
	mode_t mode;
	int fd, r;

	r = publish_want_owner(p, &uid, &gid, e);
	if (r < 0)
		goto fail_nofile;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		r = err_msg(e, -errno,
		            "cannot create a temporary file in %s: %s", p->dir,
		            strerror(errno));
		goto fail_nofile;
	}
	r = write_all(fd, data, len);
	if (r < 0) {
		err_msg(e, r, "cannot write %s: %s", path, strerror(-r));
		goto fail;
	}
	if (uid == (uid_t)-1 && old_exists)
		uid = old_st->st_uid;
	if (gid == (gid_t)-1 && old_exists)
		gid = old_st->st_gid;
	/* chown before chmod: chown may clear set-id bits. */
	if ((uid != (uid_t)-1 && uid != geteuid()) ||
	    (gid != (gid_t)-1 && gid != getegid())) {
		if (fchown(fd, uid, gid) < 0) {
			r = -errno;
			if (p->user != NULL || p->group != NULL) {
				err_msg(e, r, "cannot chown %s: %s", path,
				        strerror(-r));
				goto fail;
			}
			log_warn("%s: cannot keep the owner %ld:%ld of the old "
			         "file, ignoring",
			         p->dest, (long)uid, (long)gid);
		}
	}
	mode = p->perms >= 0 ? (mode_t)p->perms
	       : old_exists  ? old_st->st_mode & 07777
	                     : 0644;
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		err_msg(e, r, "cannot chmod %s: %s", path, strerror(-r));
		goto fail;
	}
	if (fsync(fd) < 0) {
		r = -errno;
		err_msg(e, r, "cannot write %s: fsync: %s", path, strerror(-r));
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		err_msg(e, r, "cannot write %s: close: %s", path, strerror(-r));
		goto fail;
	}
	*ret_path = path;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	(void)unlink(path);
fail_nofile:
	free(path);
	return r;
}

static void publish_sync_dir(struct publisher *p)
{
	int fd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		log_warn("%s: cannot fsync directory %s", p->dest, p->dir);
	if (fd >= 0)
		close(fd);
}

/* Not atomic: for a destination that is a mount point (in_place). */
static int publish_write_in_place(struct publisher *p, const char *data,
                                  size_t len, struct err *e)
{
	int fd = open(p->dest, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0)
		return err_msg(e, -errno, "cannot rewrite %s in place: %s",
		               p->dest, strerror(errno));
	r = write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		err_msg(e, r, "cannot rewrite %s in place: %s", p->dest,
		        strerror(-r));
	return r;
}

/* Put the staged file in place of the destination. */
static int publish_swap(struct publisher *p, const char *staged,
                        const char *data, size_t len, bool old_exists,
                        struct err *e)
{
	int r;

	if (p->backup && old_exists) {
		char *bak = xasprintf("%s.bak", p->dest);

		(void)unlink(bak);
		if (link(p->dest, bak) < 0)
			log_warn("%s: cannot make backup %s, ignoring", p->dest,
			         bak);
		free(bak);
	}
	if (rename(staged, p->dest) == 0) {
		publish_sync_dir(p);
		return 0;
	}
	r = -errno;
	if ((r == -EBUSY || r == -EXDEV) && p->in_place) {
		log_info("%s: rename failed (%s): rewriting in place", p->dest,
		         strerror(-r));
		r = publish_write_in_place(p, data, len, e);
	} else if (r == -EBUSY || r == -EXDEV) {
		err_msg(e, r,
		        "cannot replace %s: %s: destination is a mount point "
		        "(bind-mounted /etc/hosts?); set in_place = true to "
		        "rewrite it in place",
		        p->dest, strerror(-r));
	} else {
		err_msg(e, r, "cannot rename %s to %s: %s", staged, p->dest,
		        strerror(-r));
	}
	(void)unlink(staged);
	return r;
}

/* Stage and swap in one go (rollback). */
static int publish_replace(struct publisher *p, const char *data, size_t len,
                           const struct stat *st, struct err *e)
{
	char *staged = NULL;
	int r = publish_stage(p, data, len, true, st, &staged, e);

	if (r == 0)
		r = publish_swap(p, staged, data, len, false, e);
	free(staged);
	return r;
}

/* ---- commands ------------------------------------------------------- */

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

static void publish_log_output(struct publisher *p, const char *what,
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
static void publish_first_line(const struct command *c, struct buf *out)
{
	size_t len;
	const char *s = command_stderr(c, &len, NULL);

	if (len == 0)
		s = command_stdout(c, &len, NULL);
	if (len == 0)
		return;
	const char *nl = memchr(s, '\n', len);
	buf_puts(out, ": ");
	(void)hosts_escape(s, nl != NULL ? (size_t)(nl - s) : len, 200, out);
}

/* check_command with "{{path}}" replaced by the quoted staged path. */
static char *publish_check_script(struct publisher *p)
{
	struct buf quoted, script;
	const char *s = p->check_command, *hit;

	buf_init(&quoted, 0);
	buf_putc(&quoted, '\'');
	for (const char *q = p->staged; *q != '\0'; q++)
		if (*q == '\'')
			buf_puts(&quoted, "'\\''");
		else
			buf_putc(&quoted, *q);
	buf_putc(&quoted, '\'');
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

static void publish_swap_and_command(struct publisher *p);

static void publish_check_done(struct command *c, void *data)
{
	struct publisher *p = data;
	char desc[128];
	struct err e;
	struct buf msg;

	p->cmd = NULL;
	publish_log_output(p, "check_command", c);
	if (command_succeeded(c)) {
		command_free(c);
		publish_swap_and_command(p);
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

/* Restore the content from before the swaps the failed command covered. */
static void publish_rollback(struct publisher *p)
{
	struct err e;
	char msg[600];

	err_clear(&e);
	if (!p->rollback_valid || !p->rollback_exists) {
		log_warnx("%s: nothing to roll back to (the file was new)",
		          p->dest);
		return;
	}
	if (publish_replace(p, p->rollback_data.data, p->rollback_data.len,
	                    &p->rollback_st, &e) < 0) {
		log_warnx("%s: rollback failed: %s", p->dest,
		          err_format(&e, msg, sizeof(msg)));
		return;
	}
	log_warnx("%s: rolled back to the previous content", p->dest);
}

static void publish_command_done(struct command *c, void *data)
{
	struct publisher *p = data;
	bool for_job = p->cmd_for_job;
	char desc[128];
	struct err e;
	struct buf msg;

	p->cmd = NULL;
	p->state = PUBLISH_IDLE;
	publish_log_output(p, "command", c);
	if (command_succeeded(c)) {
		log_debug("%s: command done in %llu ms", p->dest,
		          (unsigned long long)command_duration_ms(c));
		p->rollback_valid = false;
		p->cmd_failures = 0;
		p->command_not_before = 0;
		command_free(c);
		if (for_job)
			publish_finish(p, PUBLISH_WRITTEN, NULL);
		else
			publish_kick(p);
		return;
	}
	buf_init(&msg, 400);
	publish_first_line(c, &msg);
	err_msg(&e, -EIO, "%s: command %s%s", p->dest,
	        command_describe(c, desc, sizeof(desc)), buf_str(&msg));
	buf_free(&msg);
	command_free(c);
	if (p->rollback) {
		publish_rollback(p);
	} else {
		/*
		 * The new file is in place but the command (a dnsmasq reload)
		 * did not take it: run it again, backing off 1 s, 2 s, ... up
		 * to 5 min, and never sooner than the rate limit allows.
		 */
		uint64_t delay = 1000ull
		                 << (p->cmd_failures < 9 ? p->cmd_failures : 9);

		if (delay > 300000)
			delay = 300000;
		if (delay < p->restart_min_interval_ms)
			delay = p->restart_min_interval_ms;
		p->cmd_failures++;
		p->command_due = true;
		p->command_not_before = uv_now(p->loop) + delay;
		log_warnx("%s: running the command again in %llu ms", p->dest,
		          (unsigned long long)delay);
	}
	p->rollback_valid = false;
	if (for_job) {
		publish_fail(p, &e);
		return;
	}
	log_warnx("%s", e.msg);
	publish_kick(p);
}

static void publish_run_command(struct publisher *p, bool for_job)
{
	struct err e;
	int r;

	err_clear(&e);
	if (p->command_ever)
		log_debug("%s: running command (%s, %llu ms since the last)",
		          p->dest, for_job ? "for this change" : "deferred",
		          (unsigned long long)(uv_now(p->loop) -
		                               p->last_command_ms));
	else
		log_debug("%s: running command (%s, the first)", p->dest,
		          for_job ? "for this change" : "deferred");
	p->command_due = false;
	p->command_ever = true;
	p->last_command_ms = uv_now(p->loop);
	p->cmd_for_job = for_job;
	p->state = PUBLISH_COMMANDING;
	r = command_run(p->loop, p->command, NULL, p->command_timeout_ms,
	                publish_command_done, p, &p->cmd, &e);
	if (r == 0)
		return;
	p->state = PUBLISH_IDLE;
	if (for_job) {
		publish_fail(p, &e);
		return;
	}
	log_warnx("%s: command: %s", p->dest, e.msg);
	publish_kick(p);
}

static void publish_restart_timer_cb(uv_timer_t *t)
{
	publish_kick(t->data);
}

/* After a swap: run command now, or when the rate limit allows. */
static void publish_after_swap(struct publisher *p)
{
	uint64_t now = uv_now(p->loop), wait = 0;

	if (p->command == NULL) {
		publish_finish(p, PUBLISH_WRITTEN, NULL);
		return;
	}
	p->command_due = true;
	if (p->command_ever && !p->closing &&
	    now - p->last_command_ms < p->restart_min_interval_ms)
		wait = p->restart_min_interval_ms - (now - p->last_command_ms);
	if (wait == 0) {
		publish_run_command(p, true);
		return;
	}
	log_info("%s: written; command deferred %llu ms (restart rate limit)",
	         p->dest, (unsigned long long)wait);
	if (!uv_is_active((uv_handle_t *)&p->restart_timer))
		uv_timer_start(&p->restart_timer, publish_restart_timer_cb,
		               wait, 0);
	publish_finish(p, PUBLISH_WRITTEN, NULL);
}

static void publish_swap_and_command(struct publisher *p)
{
	struct err e;
	int r;

	err_clear(&e);
	r = publish_swap(p, p->staged, p->final.data, p->final.len,
	                 p->old_exists, &e);
	free(p->staged);
	p->staged = NULL;
	if (r < 0) {
		publish_fail(p, &e);
		return;
	}
	log_info("%s: written (%zu bytes)", p->dest, p->final.len);
	publish_after_swap(p);
}

/* ---- guards --------------------------------------------------------- */

static void publish_hold_timer_cb(uv_timer_t *t)
{
	struct publisher *p = t->data;

	/* A newer render waiting to be published gets its own guard check:
	 * never put the older held one in its place. */
	if (p->held == NULL || p->closing || p->pending != NULL)
		return;
	log_info("%s: held content unchanged for %llu ms: publishing it",
	         p->dest, (unsigned long long)p->guard_hold_ms);
	/* The hold has expired, so this submit passes the guard. */
	(void)publisher_submit(p, p->held, p->held_len, NULL, NULL);
}

static void publish_clear_hold(struct publisher *p)
{
	free(p->held);
	p->held = NULL;
	p->held_len = 0;
	uv_timer_stop(&p->hold_timer);
}

/*
 * Would a guard hold back new (checked content) against old? what gets a
 * description of the reason.
 */
static bool publish_guard_trips(struct publisher *p, const char *old,
                                size_t oldlen, struct buf *what,
                                size_t *ret_entries)
{
	json_t *oldnames = json_object(), *newnames = json_object();
	struct hosts_stats so, sn;
	bool trip = false;

	(void)hosts_check(old, oldlen, true, NULL, NULL, oldnames, &so);
	(void)hosts_check(p->checked.data, p->checked.len, true, NULL, NULL,
	                  newnames, &sn);
	*ret_entries = sn.entries;
	if (so.entries == 0)
		goto out;
	if (p->guard_shrink > 0 && sn.entries < so.entries &&
	    (double)(so.entries - sn.entries) >
	            p->guard_shrink * (double)so.entries) {
		buf_printf(what,
		           "shrinks from %zu to %zu entries (more than %.0f%%; "
		           "guard_shrink = 0 turns this guard off)",
		           so.entries, sn.entries, p->guard_shrink * 100);
		trip = true;
	}
	if (p->guard_service_drop) {
		const char *name;
		json_t *v;
		size_t gone = 0;

		json_object_foreach(oldnames, name, v)
		{
			if (json_object_get(newnames, name) != NULL)
				continue;
			if (gone == 0)
				buf_printf(what, "%sdrops %s", trip ? "; " : "",
				           name);
			else if (gone < 5)
				buf_printf(what, ", %s", name);
			gone++;
		}
		if (gone > 5)
			buf_printf(what, " and %zu more", gone - 5);
		if (gone > 0) {
			buf_puts(what, " to zero entries "
			               "(guard_service_drop = false turns this "
			               "guard off)");
			trip = true;
		}
	}
out:
	json_decref(oldnames);
	json_decref(newnames);
	return trip;
}

/* PUBLISH_HELD, or 0 to go on. */
static int publish_guard(struct publisher *p, const char *old, size_t oldlen)
{
	uint64_t now = uv_now(p->loop);
	size_t entries = 0;
	struct buf what;
	bool same;

	if (p->guard_shrink <= 0 && !p->guard_service_drop)
		return 0;
	buf_init(&what, 2048);
	if (!publish_guard_trips(p, old, oldlen, &what, &entries)) {
		buf_free(&what);
		publish_clear_hold(p);
		return 0;
	}
	same = p->held != NULL && p->held_len == p->checked.len &&
	       memcmp(p->held, p->checked.data, p->held_len) == 0;
	/* An outage never empties the file: a render without a single entry
	 * is held until the guards are turned off. */
	if (same && entries == 0) {
		log_warnx("%s: still holding back a render that %s: a render "
		          "with no entries is never published while guards "
		          "are on",
		          p->dest, buf_str(&what));
		buf_free(&what);
		return PUBLISH_HELD;
	}
	if (same && now - p->held_since >= p->guard_hold_ms) {
		log_warnx("%s: publishing a render that %s: confirmed after "
		          "%llu ms",
		          p->dest, buf_str(&what),
		          (unsigned long long)(now - p->held_since));
		buf_free(&what);
		publish_clear_hold(p);
		return 0;
	}
	if (!same) {
		publish_clear_hold(p);
		p->held = xmalloc(p->checked.len + 1);
		memcpy(p->held, p->checked.data, p->checked.len);
		p->held_len = p->checked.len;
		p->held_since = now;
		if (p->guard_hold_ms > 0 && !p->closing)
			uv_timer_start(&p->hold_timer, publish_hold_timer_cb,
			               p->guard_hold_ms, 0);
		log_warnx("%s: holding back a render that %s; it is published "
		          "if it is still the render in %llu ms",
		          p->dest, buf_str(&what),
		          (unsigned long long)p->guard_hold_ms);
	}
	buf_free(&what);
	return PUBLISH_HELD;
}

/* ---- sinks ---------------------------------------------------------- */

static bool publish_attrs_ok(struct publisher *p, const struct stat *st)
{
	uid_t uid;
	gid_t gid;

	if (p->perms >= 0 && (st->st_mode & 07777) != (mode_t)p->perms)
		return false;
	if (publish_want_owner(p, &uid, &gid, NULL) < 0)
		return true; /* reported when staging */
	return (uid == (uid_t)-1 || uid == st->st_uid) &&
	       (gid == (gid_t)-1 || gid == st->st_gid);
}

static void file_sink_start(struct publisher *p)
{
	struct buf old;
	struct err e;
	const char *why = NULL, *oldblock;
	size_t oldblen, bstart, bend;
	int r;

	err_clear(&e);
	buf_init(&old, PUBLISH_MAX_FILE);
	buf_reset(&p->final);
	r = publish_read_dest(p, &old, &p->old_exists, &p->old_st, &e);
	if (r < 0)
		goto fail;
	oldblock = buf_str(&old);
	oldblen = old.len;
	if (p->managed_block) {
		r = hosts_splice(buf_str(&old), old.len, buf_str(&p->checked),
		                 p->checked.len, &p->final, &why);
		if (r < 0) {
			err_msg(&e, r, "%s: managed block: %s", p->dest,
			        why != NULL ? why : strerror(-r));
			goto fail;
		}
		if (hosts_block_find(old.data, old.len, &bstart, &bend, NULL) ==
		    0) {
			oldblock = old.data + bstart;
			oldblen = bend - bstart;
		} else {
			oldblen = 0; /* no block yet: a first publish */
		}
	} else {
		r = buf_append(&p->final, p->checked.data, p->checked.len);
		if (r < 0) {
			err_msg(&e, r, "%s: more than %u bytes", p->dest,
			        PUBLISH_MAX_FILE);
			goto fail;
		}
	}
	if (p->old_exists && old.len == p->final.len &&
	    memcmp(buf_str(&old), buf_str(&p->final), old.len) == 0 &&
	    publish_attrs_ok(p, &p->old_st)) {
		publish_clear_hold(p);
		buf_free(&old);
		publish_finish(p, PUBLISH_UNCHANGED, NULL);
		return;
	}
	if (p->old_exists && publish_guard(p, oldblock, oldblen) != 0) {
		buf_free(&old);
		publish_finish(p, PUBLISH_HELD, NULL);
		return;
	}
	if (access(p->dir, F_OK) < 0 && errno == ENOENT) {
		if (!p->create_dest_dirs) {
			r = err_msg(&e, -ENOENT,
			            "directory %s does not exist "
			            "(create_dest_dirs = false)",
			            p->dir);
			goto fail;
		}
		r = publish_make_dirs(p, &e);
		if (r < 0)
			goto fail;
	}
	r = publish_stage(p, p->final.data, p->final.len, p->old_exists,
	                  &p->old_st, &p->staged, &e);
	if (r < 0)
		goto fail;
	/* Remember what a failing command would roll back to. */
	if (p->command != NULL && !p->rollback_valid) {
		buf_reset(&p->rollback_data);
		buf_append(&p->rollback_data, old.data, old.len);
		p->rollback_exists = p->old_exists;
		p->rollback_st = p->old_st;
		p->rollback_valid = true;
	}
	buf_free(&old);
	if (p->check_command != NULL) {
		char *script = publish_check_script(p);

		p->state = PUBLISH_CHECKING;
		r = command_run(p->loop, script, p->staged,
		                p->command_timeout_ms, publish_check_done, p,
		                &p->cmd, &e);
		free(script);
		if (r < 0) {
			p->state = PUBLISH_IDLE;
			publish_fail(p, &e);
		}
		return;
	}
	publish_swap_and_command(p);
	return;
fail:
	buf_free(&old);
	publish_fail(p, &e);
}

static void dry_sink_start(struct publisher *p)
{
	struct err e;
	int r = write_all(STDOUT_FILENO, buf_str(&p->checked), p->checked.len);

	if (r < 0) {
		err_msg(&e, r, "cannot write to stdout: %s", strerror(-r));
		publish_fail(p, &e);
		return;
	}
	publish_finish(p, PUBLISH_WRITTEN, NULL);
}

static const struct publish_sink file_sink = {"file", file_sink_start};
static const struct publish_sink dry_sink = {"stdout", dry_sink_start};

/* ---- the job queue -------------------------------------------------- */

static void publish_log_problems(struct publisher *p, json_t *problems,
                                 const struct hosts_stats *st)
{
	size_t i, total = st->dropped + st->duplicates;
	json_t *v;

	json_array_foreach(problems, i, v)
	{
		const char *reason =
		        json_string_value(json_object_get(v, "reason"));

		if (strncmp(reason, "duplicate", 9) == 0)
			log_info("%s: line %lld dropped (%s): \"%s\"", p->dest,
			         (long long)json_integer_value(
			                 json_object_get(v, "line")),
			         reason,
			         json_string_value(json_object_get(v, "text")));
		else
			log_warnx(
			        "%s: line %lld dropped (%s): \"%s\"", p->dest,
			        (long long)json_integer_value(
			                json_object_get(v, "line")),
			        reason,
			        json_string_value(json_object_get(v, "text")));
	}
	if (total > json_array_size(problems))
		log_warnx("%s: %zu more lines dropped", p->dest,
		          total - json_array_size(problems));
}

static void publish_start_job(struct publisher *p)
{
	json_t *problems = json_array();
	struct hosts_stats st;
	struct err e;
	int r;

	p->job = p->pending;
	p->pending = NULL;
	buf_reset(&p->checked);
	r = hosts_check(p->job->text, p->job->len, false, &p->checked, problems,
	                NULL, &st);
	if (r < 0) {
		json_decref(problems);
		err_msg(&e, r, "%s: more than %u bytes", p->dest,
		        PUBLISH_MAX_FILE);
		publish_fail(p, &e);
		return;
	}
	publish_log_problems(p, problems, &st);
	json_decref(problems);
	p->sink->start(p);
}

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
	free(p->dir);
	free(p->base);
	free(p->command);
	free(p->check_command);
	free(p->user);
	free(p->group);
	free(p->held);
	buf_free(&p->checked);
	buf_free(&p->final);
	buf_free(&p->rollback_data);
	free(p);
	if (closed != NULL)
		closed(data);
}

/* Idle: start the next thing there is to do. */
static void publish_kick(struct publisher *p)
{
	uint64_t now = uv_now(p->loop);

	if (p->state != PUBLISH_IDLE || p->job != NULL)
		return;
	if (p->pending != NULL) {
		publish_start_job(p);
		return;
	}
	if (p->command_due && p->command != NULL &&
	    !(p->closing && p->cmd_failures > 0)) {
		uint64_t since = now - p->last_command_ms;

		if (!p->closing && now < p->command_not_before) {
			/* A failed command's retry: not before its backoff. */
			uv_timer_stop(&p->restart_timer);
			uv_timer_start(&p->restart_timer,
			               publish_restart_timer_cb,
			               p->command_not_before - now, 0);
		} else if (p->closing || !p->command_ever ||
		           since >= p->restart_min_interval_ms) {
			uv_timer_stop(&p->restart_timer);
			publish_run_command(p, false);
			return;
		}
		/* Still inside the rate-limit window: run at its end. */
		if (!uv_is_active((uv_handle_t *)&p->restart_timer))
			uv_timer_start(&p->restart_timer,
			               publish_restart_timer_cb,
			               p->restart_min_interval_ms - since, 0);
	}
	if (p->closing && p->open_timers == 2 &&
	    !uv_is_closing((uv_handle_t *)&p->hold_timer)) {
		uv_close((uv_handle_t *)&p->hold_timer, publish_timer_closed);
		uv_close((uv_handle_t *)&p->restart_timer,
		         publish_timer_closed);
	}
}

static void publish_kick_cb(uv_timer_t *t)
{
	publish_kick(t->data);
}

int publisher_submit(struct publisher *p, const char *text, size_t len,
                     publish_done_cb cb, void *data)
{
	struct job *j;

	if (p->closing)
		return -EINVAL;
	if (len > PUBLISH_MAX_FILE)
		return -E2BIG;
	j = p->pending;
	if (j == NULL) {
		j = xcalloc(1, sizeof(*j));
		p->pending = j;
	}
	free(j->text);
	j->text = xmalloc(len + 1);
	memcpy(j->text, text, len);
	j->text[len] = '\0';
	j->len = len;
	if (cb != NULL) {
		j->waiters = xreallocarray(j->waiters, j->nwaiters + 1,
		                           sizeof(*j->waiters));
		j->waiters[j->nwaiters].cb = cb;
		j->waiters[j->nwaiters].data = data;
		j->nwaiters++;
	}
	/* Start from the loop, so cb never fires inside this call. */
	if (p->state == PUBLISH_IDLE && p->job == NULL)
		uv_timer_start(&p->restart_timer, publish_kick_cb, 0, 0);
	return 0;
}

int publisher_new(uv_loop_t *loop, const struct tmpl_conf *tc, bool dry,
                  struct publisher **ret, struct err *e)
{
	const char *dest = tc->destination;
	struct publisher *p;
	char *tmp;

	/* -dry prints to stdout and needs no destination. */
	if ((dest == NULL || dest[0] == '\0') && dry)
		dest = "/dev/stdout";
	if (dest == NULL || dest[0] == '\0')
		return err_msg(e, -EINVAL, "template has no destination");
	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->sink = dry ? &dry_sink : &file_sink;
	p->dest = xstrdup(dest);
	tmp = xstrdup(dest);
	p->dir = xstrdup(dirname(tmp));
	free(tmp);
	tmp = xstrdup(dest);
	p->base = xstrdup(basename(tmp));
	free(tmp);
	p->command = tc->command != NULL && tc->command[0] != '\0'
	                     ? xstrdup(tc->command)
	                     : NULL;
	p->check_command =
	        tc->check_command != NULL && tc->check_command[0] != '\0'
	                ? xstrdup(tc->check_command)
	                : NULL;
	p->user = tc->user != NULL ? xstrdup(tc->user) : NULL;
	p->group = tc->group != NULL ? xstrdup(tc->group) : NULL;
	p->perms = tc->perms;
	p->backup = tc->backup;
	p->create_dest_dirs = tc->create_dest_dirs;
	p->managed_block = tc->managed_block;
	p->in_place = tc->in_place;
	p->rollback = tc->rollback_on_failure;
	p->guard_shrink = tc->guard_shrink;
	p->guard_service_drop = tc->guard_service_drop;
	p->guard_hold_ms = tc->guard_hold_ms;
	p->command_timeout_ms = tc->command_timeout_ms;
	p->restart_min_interval_ms = tc->restart_min_interval_ms;
	buf_init(&p->checked, PUBLISH_MAX_FILE);
	buf_init(&p->final, PUBLISH_MAX_FILE);
	buf_init(&p->rollback_data, PUBLISH_MAX_FILE);
	uv_timer_init(loop, &p->hold_timer);
	uv_timer_init(loop, &p->restart_timer);
	p->hold_timer.data = p->restart_timer.data = p;
	p->open_timers = 2;
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
	publish_clear_hold(p);
	if (p->pending != NULL) {
		err_msg(&e, -ECANCELED, "%s: not published: shutting down",
		        p->dest);
		job_notify(p->pending, PUBLISH_FAILED, &e);
		p->pending = job_free(p->pending);
	}
	uv_timer_stop(&p->restart_timer);
	publish_kick(p);
}
