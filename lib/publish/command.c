#include "publish/command.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/container_of.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/xmalloc.h"

/*
 * A command's state, changed only through command_set_state (traced, as
 * watch.c's watch_set_state); forward only:
 *
 *   RUNNING -> (timeout) TERMINATED -> (grace) KILLED
 *   any of those -> (child exits) EXITED -> (exit and both EOFs, or the
 *   grace after exit) CLOSING -> (last handle closed) DONE
 *
 * A spawn that fails goes to CLOSING at once. Two facts sit beside the
 * state, not in it: timed_out (a result: the timer fired while it ran)
 * and detached (ownership: command_free came first, so done never fires
 * and the last close frees it).
 */
enum command_state {
	COMMAND_RUNNING,    /* child alive, no signal sent */
	COMMAND_TERMINATED, /* SIGTERM sent to the group */
	COMMAND_KILLED,     /* SIGKILL sent to the group */
	COMMAND_EXITED,     /* child reaped; a pipe may still be open */
	COMMAND_CLOSING,    /* handles being closed; done fires after */
	COMMAND_DONE,       /* done has run; free is the owner's */
};

static const char *const command_state_names[] = {
        [COMMAND_RUNNING] = "RUNNING", [COMMAND_TERMINATED] = "TERMINATED",
        [COMMAND_KILLED] = "KILLED",   [COMMAND_EXITED] = "EXITED",
        [COMMAND_CLOSING] = "CLOSING", [COMMAND_DONE] = "DONE",
};

struct command_stream {
	uv_pipe_t pipe;
	struct buf out;
	bool truncated;
	bool open; /* still reading: no EOF yet */
	struct command *cmd;
};

struct command {
	uv_loop_t *loop;
	uv_process_t proc;
	uv_timer_t timer;
	struct command_stream streams[2]; /* stdout, stderr */
	enum command_state state;         /* only through command_set_state */
	bool timed_out;
	bool detached; /* freed by its owner: no callback, free at the end */
	int handles;   /* initialised handles not yet closed */
	int64_t status;
	int term_signal;
	uint64_t timeout_ms;
	uint64_t started_ms;
	uint64_t ended_ms;
	command_done_cb done;
	void *data;
	char readbuf[4096];
};

static void command_set_state(struct command *c, enum command_state st)
{
	if (c->state != st)
		log_trace("command %d: %s -> [%s]", (int)c->proc.pid,
		          command_state_names[c->state],
		          command_state_names[st]);
	c->state = st;
}

static bool command_exited(const struct command *c)
{
	return c->state >= COMMAND_EXITED;
}

static void command_release(struct command *c)
{
	buf_free(&c->streams[0].out);
	buf_free(&c->streams[1].out);
	free(c);
}

static void command_handle_closed(uv_handle_t *h)
{
	struct command *c = h->data;

	if (--c->handles > 0)
		return;
	if (c->detached) {
		command_release(c);
		return;
	}
	command_set_state(c, COMMAND_DONE);
	if (c->done != NULL)
		c->done(c, c->data);
}

static void command_close_handle(struct command *c, uv_handle_t *h)
{
	if (uv_is_closing(h))
		return;
	h->data = c; /* pipes carried their stream until now */
	uv_close(h, command_handle_closed);
}

/* Both events in (exit and EOFs): close everything; done fires after. */
static void command_check_finished(struct command *c)
{
	if (c->state != COMMAND_EXITED || c->streams[0].open ||
	    c->streams[1].open)
		return;
	command_set_state(c, COMMAND_CLOSING);
	c->ended_ms = uv_now(c->loop);
	command_close_handle(c, (uv_handle_t *)&c->timer);
	command_close_handle(c, (uv_handle_t *)&c->proc);
	command_close_handle(c, (uv_handle_t *)&c->streams[0].pipe);
	command_close_handle(c, (uv_handle_t *)&c->streams[1].pipe);
}

static void command_stream_close(struct command_stream *s)
{
	if (!s->open)
		return;
	s->open = false;
	uv_read_stop((uv_stream_t *)&s->pipe);
}

static void command_signal_group(struct command *c, int sig)
{
	if (command_exited(c))
		return;
	/* The child leads its own session (UV_PROCESS_DETACHED). */
	if (kill(-c->proc.pid, sig) < 0)
		(void)uv_process_kill(&c->proc, sig);
}

static void command_on_timer(uv_timer_t *t)
{
	struct command *c = t->data;

	if (command_exited(c)) {
		/* Exited, but a grandchild holds a pipe: stop waiting. */
		command_stream_close(&c->streams[0]);
		command_stream_close(&c->streams[1]);
		command_check_finished(c);
		return;
	}
	if (c->state == COMMAND_RUNNING) {
		c->timed_out = true;
		command_set_state(c, COMMAND_TERMINATED);
		command_signal_group(c, SIGTERM);
		uv_timer_start(&c->timer, command_on_timer,
		               COMMAND_KILL_GRACE_MS, 0);
		return;
	}
	if (c->state == COMMAND_TERMINATED) {
		command_set_state(c, COMMAND_KILLED);
		command_signal_group(c, SIGKILL);
		uv_timer_start(&c->timer, command_on_timer,
		               COMMAND_KILL_GRACE_MS, 0);
		return;
	}
	/* SIGKILL did not end it within the grace: nothing more to do but
	 * wait for the exit; pipes are given up on. */
	command_stream_close(&c->streams[0]);
	command_stream_close(&c->streams[1]);
}

static void command_on_exit(uv_process_t *p, int64_t status, int term_signal)
{
	struct command *c = p->data;

	command_set_state(c, COMMAND_EXITED);
	c->status = status;
	c->term_signal = term_signal;
	if (c->streams[0].open || c->streams[1].open)
		uv_timer_start(&c->timer, command_on_timer,
		               COMMAND_KILL_GRACE_MS, 0);
	command_check_finished(c);
}

static void command_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct command_stream *s = h->data;

	(void)suggested;
	*b = uv_buf_init(s->cmd->readbuf, sizeof(s->cmd->readbuf));
}

static void command_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct command_stream *s = st->data;
	struct command *c = s->cmd;

	if (n < 0) {
		/* UV_EOF or a read error: either way this stream is done. */
		command_stream_close(s);
		command_check_finished(c);
		return;
	}
	if (n == 0 || s->truncated)
		return;
	if (buf_append(&s->out, b->base, (size_t)n) < 0) {
		size_t room = s->out.max - s->out.len;

		(void)buf_append(&s->out, b->base, room);
		s->truncated = true;
	}
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/*
 * Mark every descriptor above stderr close-on-exec before a spawn.
 * uv_spawn passes on whatever is not, and libraries do not all ask for it
 * (libcurl's multi wakeup socketpair does not): a command, or a daemon it
 * leaves running, would otherwise hold the Consul connections open. The
 * flag only matters at exec, so setting it on the daemon's own
 * descriptors changes nothing else.
 */
static void command_cloexec_all(void)
{
	struct dirent *de;
	DIR *d;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
#endif
	d = opendir("/proc/self/fd"); /* kernels before 5.11 */
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name), fl;

		if (fd <= 2 || fd == dirfd(d))
			continue;
		fl = fcntl(fd, F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC))
			(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	}
	closedir(d);
}

extern char **environ;

/* Whether the environment entry v ("NAME=value") is one of names. */
static bool env_named(const char *v, const char *const *names)
{
	size_t len = strcspn(v, "=");

	for (; *names != NULL; names++)
		if (strlen(*names) == len && memcmp(v, *names, len) == 0)
			return true;
	return false;
}

/*
 * The daemon's environment minus the Consul token and its file
 * (config_token_env): a reload command has no use for them, and
 * everything it starts would inherit them. The strings are borrowed from
 * environ; free only the array.
 */
static char **command_env(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ != NULL && environ[n] != NULL)
		n++;
	env = xcalloc(n + 1, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		const char *v = environ[i];

		if (env_named(v, config_token_env))
			continue;
		env[k++] = environ[i];
	}
	return env;
}

int command_run(uv_loop_t *loop, const char *script, const char *arg1,
                uint64_t timeout_ms, command_done_cb done, void *data,
                struct command **ret, struct err *e)
{
	struct command *c = xcalloc(1, sizeof(*c));
	uv_process_options_t opt;
	uv_stdio_container_t stdio[3];
	char *args[6], **env;
	int r;

	c->loop = loop;
	c->done = done;
	c->data = data;
	c->timeout_ms = timeout_ms ? timeout_ms : COMMAND_DEFAULT_TIMEOUT_MS;
	c->started_ms = uv_now(loop);
	for (int i = 0; i < 2; i++) {
		struct command_stream *s = &c->streams[i];

		s->cmd = c;
		buf_init(&s->out, COMMAND_MAX_OUTPUT);
		uv_pipe_init(loop, &s->pipe, 0);
		s->pipe.data = s;
		c->handles++;
	}
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->handles++;

	/* uv_spawn takes char **; it execs before returning, so copies that
	 * are freed right after are enough. */
	args[0] = xstrdup("sh");
	args[1] = xstrdup("-c");
	args[2] = xstrdup(script);
	args[3] = xstrdup("consul-hosts");
	args[4] = arg1 != NULL ? xstrdup(arg1) : NULL;
	args[5] = NULL;
	memset(&opt, 0, sizeof(opt));
	opt.file = "/bin/sh";
	opt.args = args;
	env = command_env();
	opt.env = env;
	opt.exit_cb = command_on_exit;
	opt.flags = UV_PROCESS_DETACHED;
	stdio[0].flags = UV_IGNORE;
	for (int i = 0; i < 2; i++) {
		stdio[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
		stdio[i + 1].data.stream = (uv_stream_t *)&c->streams[i].pipe;
	}
	opt.stdio = stdio;
	opt.stdio_count = 3;
	c->proc.data = c;
	command_cloexec_all();
	r = uv_spawn(loop, &c->proc, &opt);
	for (int i = 0; i < 5; i++)
		free(args[i]);
	free(env);
	if (r < 0) {
		err_msg(e, r, "cannot run /bin/sh: %s", uv_strerror(r));
		/* A failed uv_spawn still initialised the handle: close it. */
		c->detached = true;
		c->handles++;
		command_set_state(c, COMMAND_CLOSING);
		command_close_handle(c, (uv_handle_t *)&c->proc);
		command_close_handle(c, (uv_handle_t *)&c->timer);
		command_close_handle(c, (uv_handle_t *)&c->streams[0].pipe);
		command_close_handle(c, (uv_handle_t *)&c->streams[1].pipe);
		return r;
	}
	c->handles++;
	for (int i = 0; i < 2; i++) {
		struct command_stream *s = &c->streams[i];

		s->open = true;
		r = uv_read_start((uv_stream_t *)&s->pipe, command_alloc,
		                  command_on_read);
		if (r < 0)
			s->open = false;
	}
	uv_timer_start(&c->timer, command_on_timer, c->timeout_ms, 0);
	*ret = c;
	return 0;
}

struct command *command_free(struct command *c)
{
	if (c == NULL)
		return NULL;
	if (c->state == COMMAND_DONE) {
		command_release(c);
		return NULL;
	}
	/* Still running or closing: finish without telling anyone. */
	c->detached = true;
	if (!command_exited(c)) {
		command_set_state(c, COMMAND_KILLED);
		command_signal_group(c, SIGKILL);
	}
	command_stream_close(&c->streams[0]);
	command_stream_close(&c->streams[1]);
	if (command_exited(c))
		command_check_finished(c);
	else
		uv_timer_stop(&c->timer);
	return NULL;
}

bool command_succeeded(const struct command *c)
{
	return command_exited(c) && !c->timed_out && c->term_signal == 0 &&
	       c->status == 0;
}

bool command_timed_out(const struct command *c)
{
	return c->timed_out;
}

int command_exit_status(const struct command *c)
{
	return c->term_signal != 0 ? -1 : (int)c->status;
}

int command_term_signal(const struct command *c)
{
	return c->term_signal;
}

uint64_t command_duration_ms(const struct command *c)
{
	return (c->ended_ms ? c->ended_ms : uv_now(c->loop)) - c->started_ms;
}

static const char *stream_data(const struct command_stream *s, size_t *ret_len,
                               bool *ret_truncated)
{
	if (ret_len != NULL)
		*ret_len = s->out.len;
	if (ret_truncated != NULL)
		*ret_truncated = s->truncated;
	return buf_str(&s->out);
}

const char *command_stdout(const struct command *c, size_t *ret_len,
                           bool *ret_truncated)
{
	return stream_data(&c->streams[0], ret_len, ret_truncated);
}

const char *command_stderr(const struct command *c, size_t *ret_len,
                           bool *ret_truncated)
{
	return stream_data(&c->streams[1], ret_len, ret_truncated);
}

const char *command_describe(const struct command *c, char *buf, size_t size)
{
	if (c->timed_out && c->term_signal != 0)
		snprintf(buf, size,
		         "killed by signal %d after a %llu ms timeout",
		         c->term_signal, (unsigned long long)c->timeout_ms);
	else if (c->timed_out)
		snprintf(buf, size,
		         "timed out after %llu ms (exited with status %lld)",
		         (unsigned long long)c->timeout_ms,
		         (long long)c->status);
	else if (c->term_signal != 0)
		snprintf(buf, size, "killed by signal %d", c->term_signal);
	else
		snprintf(buf, size, "exited with status %lld",
		         (long long)c->status);
	return buf;
}

/* memmem for a NUL-free needle in a bounded buffer. */
static bool command_output_has(const struct command *c, const char *needle)
{
	size_t nlen = strlen(needle);

	for (int i = 0; i < 2; i++) {
		const struct buf *b = &c->streams[i].out;

		if (b->len >= nlen && memmem(b->data, b->len, needle, nlen))
			return true;
	}
	return false;
}

const char *command_signal_denied(const struct command *c)
{
	if (command_output_has(c, "Operation not permitted"))
		return "it could not signal a process (Operation not "
		       "permitted): the service's sandbox withholds CAP_KILL "
		       "(CapabilityBoundingSet=) or another rule refused it; "
		       "see \"Commands under systemd\" in consul-hosts(8)";
	if (command_output_has(c, "Access denied"))
		return "systemd refused the request (Access denied): run "
		       "consul-hosts as root, or allow the call in polkit";
	return NULL;
}
