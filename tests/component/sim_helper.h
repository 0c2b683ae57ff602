/*
 * Test helpers (header-only: every tests/component/test_*.c is its own
 * program): start and stop the Consul simulator (tests/sim/consul_sim.py),
 * call its /_sim/ control API, and run a uv loop until a condition holds or
 * a guard timer expires.
 *
 * Control calls are blocking curl requests; sim_call() runs them on libuv's
 * thread pool and keeps the test's loop running meanwhile, so the code under
 * test keeps talking to the simulator while the test waits for it.
 */
#ifndef CH_SIM_HELPER_H
#define CH_SIM_HELPER_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "base/buf.h"

struct sim {
	pid_t pid;
	unsigned port;       /* 0 when only on a unix socket */
	char dir[64];        /* private temp dir */
	char unix_path[128]; /* "" unless started with a unix socket */
	char addr[160];      /* for cfg->consul.address */
};

/* Remove dir and everything directly in it. */
static void sim_rmdir(const char *dir)
{
	char cmd[256];

	if (dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "sim_helper: could not remove %s\n", dir);
}

/*
 * Start the simulator with the seed catalog. unix: also listen on a socket
 * in the temp dir (and not on TCP when unix_only). extra: more arguments,
 * NULL-terminated, or NULL. Returns 0 or -errno; waits (bounded, 15 s) for
 * the port file, which the simulator writes once it listens.
 */
static int sim_start(struct sim *s, bool unix_sock, bool unix_only,
                     const char *const *extra)
{
	const char *src = getenv("CH_SOURCE_DIR");
	char script[512], seed[512], portfile[192];
	const char *argv[32];
	int argc = 0;

	memset(s, 0, sizeof(*s));
	if (src == NULL)
		src = ".";
	snprintf(script, sizeof(script), "%s/tests/sim/consul_sim.py", src);
	snprintf(seed, sizeof(seed), "%s/tests/sim/seed-catalog.json", src);
	snprintf(s->dir, sizeof(s->dir), "/tmp/ch-test-XXXXXX");
	if (mkdtemp(s->dir) == NULL)
		return -errno;
	snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
	argv[argc++] = "python3";
	argv[argc++] = script;
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	argv[argc++] = "--port-file";
	argv[argc++] = portfile;
	argv[argc++] = "--seed";
	argv[argc++] = seed;
	argv[argc++] = "--quiet";
	if (unix_sock) {
		snprintf(s->unix_path, sizeof(s->unix_path), "%s/consul.sock",
		         s->dir);
		argv[argc++] = "--unix";
		argv[argc++] = s->unix_path;
		if (unix_only)
			argv[argc++] = "--no-tcp";
	}
	for (; extra != NULL && *extra != NULL && argc < 30; extra++)
		argv[argc++] = *extra;
	argv[argc] = NULL;
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		const char **cargv = argv;

		/* Never outlive a test that failed before sim_stop(). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		char *const *av;

		/* execvp's prototype predates const; it does not write. */
		memcpy(&av, &cargv, sizeof(av));
		execvp("python3", av);
		_exit(127);
	}
	for (int i = 0; i < 3000; i++) {
		FILE *f = fopen(portfile, "r");
		int status;

		if (f != NULL) {
			int n = fscanf(f, "%u", &s->port);

			fclose(f);
			if (n == 1)
				break;
		}
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return -ECHILD;
		}
		/* The simulator signals readiness only through the file. */
		nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	}
	if (unix_only)
		snprintf(s->addr, sizeof(s->addr), "unix://%s", s->unix_path);
	else if (s->port != 0)
		snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%u", s->port);
	else
		return -ETIMEDOUT;
	return 0;
}

static void sim_stop(struct sim *s)
{
	int status;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		/* Bounded: 10 s for a clean exit, then SIGKILL. */
		for (int i = 0; i < 1000; i++) {
			struct timespec ts = {0, 10000000};

			if (waitpid(s->pid, &status, WNOHANG) == s->pid)
				break;
			if (i == 999) {
				fprintf(stderr, "simulator did not exit on "
				                "SIGTERM: killing it\n");
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &status, 0);
			}
			nanosleep(&ts, NULL);
		}
		s->pid = 0;
	}
	sim_rmdir(s->dir);
}

static size_t sim_write_cb(char *p, size_t size, size_t n, void *userp)
{
	return buf_append(userp, p, n) == 0 ? n : 0;
}

/*
 * Blocking control call: POST (body != NULL) or GET path on the simulator;
 * returns the parsed answer (new reference) or NULL.
 */
static json_t *sim_request(const struct sim *s, const char *path,
                           const char *body)
{
	char url[512];
	struct buf b;
	json_t *j = NULL;
	CURL *c = curl_easy_init();

	if (c == NULL)
		return NULL;
	buf_init(&b, 64 << 20);
	if (s->port != 0) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", s->port,
		         path);
	} else {
		snprintf(url, sizeof(url), "http://localhost%s", path);
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, s->unix_path);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sim_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		j = json_loadb(b.data ? b.data : "", b.len, JSON_DECODE_ANY,
		               NULL);
	curl_easy_cleanup(c);
	buf_free(&b);
	return j;
}

struct sim_call {
	uv_work_t work;
	const struct sim *s;
	char *path;
	char *body;
	json_t *result;
	bool done;
};

static void sim_call_work(uv_work_t *work)
{
	struct sim_call *c = (struct sim_call *)(void *)work;

	c->result = sim_request(c->s, c->path, c->body);
}

static void sim_call_after(uv_work_t *work, int status)
{
	struct sim_call *c = (struct sim_call *)(void *)work;

	(void)status;
	c->done = true;
}

/*
 * A control call (POST "/_sim/<action>" with a printf-formatted JSON body,
 * or GET when fmt is NULL) while loop keeps running. New reference or NULL.
 */
static json_t *sim_call(uv_loop_t *loop, const struct sim *s, const char *path,
                        const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static json_t *sim_call(uv_loop_t *loop, const struct sim *s, const char *path,
                        const char *fmt, ...)
{
	struct sim_call c;
	va_list ap;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.path = strdup(path);
	if (fmt != NULL) {
		struct buf b;

		buf_init(&b, 0);
		va_start(ap, fmt);
		(void)buf_vprintf(&b, fmt, ap);
		va_end(ap);
		c.body = buf_take(&b, NULL);
	}
	if (uv_queue_work(loop, &c.work, sim_call_work, sim_call_after) < 0)
		c.done = true;
	while (!c.done)
		uv_run(loop, UV_RUN_ONCE);
	free(c.path);
	free(c.body);
	return c.result;
}

/* The same, for calls whose answer only needs to say ok. */
static bool sim_ok(uv_loop_t *loop, const struct sim *s, const char *path,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static bool sim_ok(uv_loop_t *loop, const struct sim *s, const char *path,
                   const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	json_t *j;
	bool ok;

	buf_init(&b, 0);
	va_start(ap, fmt);
	(void)buf_vprintf(&b, fmt, ap);
	va_end(ap);
	j = sim_call(loop, s, path, "%s", buf_str(&b));
	buf_free(&b);
	ok = j != NULL && json_is_true(json_object_get(j, "ok"));
	if (!ok) {
		char *d = j ? json_dumps(j, 0) : NULL;

		fprintf(stderr, "sim_helper: %s failed: %s\n", path,
		        d ? d : "no answer");
		free(d);
	}
	json_decref(j);
	return ok;
}

/* A uv loop with a guard timer that bounds every wait. */
struct test_loop {
	uv_loop_t loop;
	uv_timer_t guard;
	bool expired;
};

static void test_loop_guard_cb(uv_timer_t *t)
{
	struct test_loop *tl =
	        (struct test_loop *)(void *)((char *)t -
	                                     offsetof(struct test_loop, guard));

	tl->expired = true;
}

static int test_loop_init(struct test_loop *tl)
{
	int r = uv_loop_init(&tl->loop);

	if (r == 0)
		r = uv_timer_init(&tl->loop, &tl->guard);
	if (r == 0)
		uv_unref((uv_handle_t *)&tl->guard);
	return r;
}

/*
 * Run the loop until pred(arg) is true (checked after every loop
 * iteration) or timeout_ms passed; returns pred's last value. pred NULL:
 * just run for timeout_ms (to observe that something does NOT happen).
 */
static bool test_loop_run_until(struct test_loop *tl, bool (*pred)(void *),
                                void *arg, uint64_t timeout_ms)
{
	tl->expired = false;
	uv_timer_start(&tl->guard, test_loop_guard_cb, timeout_ms, 0);
	uv_ref((uv_handle_t *)&tl->guard);
	while (!(pred != NULL && pred(arg)) && !tl->expired)
		uv_run(&tl->loop, UV_RUN_ONCE);
	uv_timer_stop(&tl->guard);
	uv_unref((uv_handle_t *)&tl->guard);
	return pred != NULL && pred(arg);
}

/* Close the guard, drain the loop; returns uv_loop_close() (0: no handle
 * was left open). */
static int test_loop_close(struct test_loop *tl)
{
	uv_close((uv_handle_t *)&tl->guard, NULL);
	for (int i = 0; i < 1000 && uv_run(&tl->loop, UV_RUN_NOWAIT) != 0; i++)
		;
	return uv_loop_close(&tl->loop);
}

#endif
