/*
 * The curl-multi-on-libuv transport against the Consul simulator: a GET
 * with headers matched case-insensitively, gzip, keep-alive, the body
 * bound, timeouts, refused connections, cancel, close from a callback, and
 * no handle left behind.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#include "consul/http.h"
#include "sim_helper.h"
#include "base/xmalloc.h"

struct th {
	struct test_loop tl;
	struct sim sim;
	char url[64];
	struct http *h;
	unsigned ndone;
	int result;
	long status;
	char body_start[64];
	size_t len;
	char index_lower[32];
	char index_upper[32];
	char encoding[32];
	bool missing_is_null;
	char errmsg[256];
	bool close_in_cb;
	bool closed;
};

static void th_closed(void *data)
{
	((struct th *)data)->closed = true;
}

static void th_done(void *data, int result, const struct http_response *resp,
                    const char *errmsg)
{
	struct th *t = data;
	const char *v;

	t->ndone++;
	t->result = result;
	if (result < 0) {
		assert_non_null(errmsg);
		assert_null(resp);
		snprintf(t->errmsg, sizeof(t->errmsg), "%s", errmsg);
	} else {
		t->status = resp->status;
		t->len = resp->len;
		snprintf(t->body_start, sizeof(t->body_start), "%.*s",
		         (int)(resp->len < 63 ? resp->len : 63), resp->body);
		v = http_response_header(resp, "x-consul-index");
		snprintf(t->index_lower, sizeof(t->index_lower), "%s",
		         v ? v : "");
		v = http_response_header(resp, "X-CONSUL-INDEX");
		snprintf(t->index_upper, sizeof(t->index_upper), "%s",
		         v ? v : "");
		v = http_response_header(resp, "Content-Encoding");
		snprintf(t->encoding, sizeof(t->encoding), "%s", v ? v : "");
		t->missing_is_null =
		        http_response_header(resp, "X-No-Such-Header") == NULL;
	}
	if (t->close_in_cb) {
		http_close(t->h, th_closed, t);
		t->h = NULL;
	}
}

static struct th *th_setup(const struct http_conf *over)
{
	struct th *t = xcalloc(1, sizeof(*t));
	struct http_conf hc;
	struct err e;

	assert_int_equal(test_loop_init(&t->tl), 0);
	assert_int_equal(sim_start(&t->sim, false, false, NULL), 0);
	snprintf(t->url, sizeof(t->url), "http://127.0.0.1:%u", t->sim.port);
	if (over != NULL)
		hc = *over;
	else
		memset(&hc, 0, sizeof(hc));
	if (hc.base_url == NULL)
		hc.base_url = t->url;
	err_clear(&e);
	if (http_new(&t->tl.loop, &hc, &t->h, &e) != 0)
		fail_msg("http_new: %s", e.msg);
	return t;
}

static void th_teardown(struct th *t)
{
	if (t->h != NULL)
		http_close(t->h, th_closed, t);
	while (!t->closed)
		uv_run(&t->tl.loop, UV_RUN_ONCE);
	assert_int_equal(test_loop_close(&t->tl), 0);
	sim_stop(&t->sim);
	free(t);
}

struct want {
	struct th *t;
	unsigned n;
};

static bool pred_done(void *arg)
{
	struct want *w = arg;

	return w->t->ndone >= w->n;
}

static void th_wait(struct th *t, unsigned n, uint64_t ms)
{
	struct want w = {t, n};

	if (!test_loop_run_until(&t->tl, pred_done, &w, ms))
		fail_msg("request %u did not finish in %" PRIu64 " ms", n, ms);
}

static void test_http_get(void **state)
{
	static char token[] = "tok-abc";
	struct http_conf hc = {.token = token};
	struct th *t = th_setup(&hc);
	struct http_stats st;
	json_t *r;

	(void)state;
	assert_int_equal(
	        http_get(t->h, "/v1/catalog/nodes", 5000, th_done, t, NULL), 0);
	th_wait(t, 1, 5000);
	assert_int_equal(t->result, 0);
	assert_int_equal(t->status, 200);
	assert_int_equal(t->body_start[0], '[');
	assert_true(t->index_lower[0] != '\0');
	assert_string_equal(t->index_lower, t->index_upper);
	assert_true(t->missing_is_null);
	/* The catalog is big enough for the agent to gzip it. */
	assert_string_equal(t->encoding, "gzip");
	assert_true(t->len > 1400);

	/* Sequential requests reuse one kept-alive connection. */
	for (unsigned i = 2; i <= 5; i++) {
		assert_int_equal(http_get(t->h, "/v1/catalog/services", 5000,
		                          th_done, t, NULL),
		                 0);
		th_wait(t, i, 5000);
		assert_int_equal(t->status, 200);
	}
	http_get_stats(t->h, &st);
	assert_int_equal(st.requests, 5);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.connects, 1);

	/* 404 is a response, not an error; the token went along. */
	assert_int_equal(
	        http_get(t->h, "/v1/kv/missing/key", 5000, th_done, t, NULL),
	        0);
	th_wait(t, 6, 5000);
	assert_int_equal(t->result, 0);
	assert_int_equal(t->status, 404);
	r = sim_call(&t->tl.loop, &t->sim, "/_sim/requests?path=/v1/kv/", NULL);

	assert_true(json_is_true(json_object_get(
	        json_array_get(json_object_get(r, "requests"), 0),
	        "token_present")));
	json_decref(r);

	/* A path with a space or control character never reaches curl. */
	assert_int_equal(http_get(t->h, "/v1/kv/a b", 1000, th_done, t, NULL),
	                 -EINVAL);
	assert_int_equal(
	        http_get(t->h, "/v1/kv/a\r\nX: y", 1000, th_done, t, NULL),
	        -EINVAL);
	th_teardown(t);
}

static void test_http_body_bound(void **state)
{
	struct http_conf hc = {.max_body = 100};
	struct th *t = th_setup(&hc);

	(void)state;
	assert_int_equal(
	        http_get(t->h, "/v1/catalog/nodes", 5000, th_done, t, NULL), 0);
	th_wait(t, 1, 5000);
	assert_int_equal(t->result, -E2BIG);
	/* The message names the limit that was passed, as configured. */
	assert_string_equal(t->errmsg,
	                    "response larger than the 100 bytes limit");
	th_teardown(t);
}

/* ---- a canned HTTP server: one fixed answer per connection ---------- */

struct canned {
	int fd;
	unsigned port;
	char *answer; /* written whole, then the connection is closed */
	size_t len;
	unsigned served;
	pthread_t thread;
};

static void *canned_main(void *arg)
{
	struct canned *c = arg;
	char req[8192];
	int fd;

	while ((fd = accept(c->fd, NULL, NULL)) >= 0) {
		size_t got = 0, off = 0;
		ssize_t n;

		/* Read the request head (curl sends nothing else). */
		while (got < sizeof(req) - 1 &&
		       (n = read(fd, req + got, sizeof(req) - 1 - got)) > 0) {
			got += (size_t)n;
			req[got] = '\0';
			if (strstr(req, "\r\n\r\n") != NULL)
				break;
		}
		while (off < c->len &&
		       (n = write(fd, c->answer + off, c->len - off)) > 0)
			off += (size_t)n;
		c->served++;
		close(fd);
	}
	return NULL;
}

/* Serve "HTTP/1.1 200 OK\r\n" + headers + "\r\n" + body on loopback. */
static struct canned *canned_start(const char *headers, const char *body)
{
	struct canned *c = xcalloc(1, sizeof(*c));
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	c->answer = xasprintf("HTTP/1.1 200 OK\r\n%sContent-Length: %zu\r\n"
	                      "\r\n%s",
	                      headers, strlen(body), body);
	c->len = strlen(c->answer);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(bind(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(c->fd, 8), 0);
	assert_int_equal(getsockname(c->fd, (struct sockaddr *)&a, &alen), 0);
	c->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&c->thread, NULL, canned_main, c), 0);
	return c;
}

static void canned_stop(struct canned *c)
{
	shutdown(c->fd, SHUT_RDWR); /* accept() returns */
	pthread_join(c->thread, NULL);
	close(c->fd);
	free(c->answer);
	free(c);
}

/* GET / from a canned server with a fresh http; t->result etc. set. */
static void canned_get(struct th *t, struct canned *c, size_t max_body)
{
	struct http_conf hc;
	struct http *h;
	char url[64];
	unsigned n = t->ndone + 1;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", c->port);
	memset(&hc, 0, sizeof(hc));
	hc.base_url = url;
	hc.max_body = max_body;
	assert_int_equal(http_new(&t->tl.loop, &hc, &h, NULL), 0);
	assert_int_equal(http_get(h, "/v1/kv/x", 5000, th_done, t, NULL), 0);
	th_wait(t, n, 5000);
	http_close(h, NULL, NULL);
}

static char *repeat(const char *unit, size_t times)
{
	size_t len = strlen(unit);
	char *s = xmalloc(len * times + 1);

	for (size_t i = 0; i < times; i++)
		memcpy(s + i * len, unit, len);
	s[len * times] = '\0';
	return s;
}

/*
 * Each bound names itself: a header block over 64 KiB, a header line over
 * curl's 100 KiB (which curl reports as "out of memory"), a body over the
 * configured bound, announced or not.
 */
static void test_http_limits_named(void **state)
{
	struct th *t = th_setup(NULL);
	char *many = repeat("X-Filler: 0123456789012345678901234567890123456"
	                    "789012345678901234567890123456789012345678901"
	                    "23456789\r\n",
	                    2000); /* 200 KB in 2,000 headers */
	char *huge_value = repeat("y", 200 * 1024), *one, *body;
	struct canned *c;

	(void)state;
	c = canned_start(many, "[]");
	canned_get(t, c, 0);
	assert_int_equal(t->result, -E2BIG);
	assert_string_equal(t->errmsg,
	                    "response headers larger than the 64 KiB limit");
	canned_stop(c);

	one = xasprintf("X-Huge: %s\r\n", huge_value);
	c = canned_start(one, "[]");
	canned_get(t, c, 0);
	assert_int_equal(t->result, -E2BIG);
	assert_string_equal(t->errmsg, "a response header line larger than "
	                               "curl's 100 KiB limit");
	canned_stop(c);

	/* Announced by Content-Length: refused before the body is read. */
	body = repeat("[]", 1024 * 1024);
	c = canned_start("X-Consul-Index: 7\r\n", body);
	canned_get(t, c, 1u << 20);
	assert_int_equal(t->result, -E2BIG);
	assert_string_equal(t->errmsg, "response larger than the 1 MiB limit");
	canned_stop(c);

	/* Under every bound: an answer. */
	c = canned_start("X-Consul-Index: 7\r\n", "[]");
	canned_get(t, c, 0);
	assert_int_equal(t->result, 0);
	assert_string_equal(t->index_lower, "7");
	canned_stop(c);
	free(many);
	free(huge_value);
	free(one);
	free(body);
	th_teardown(t);
}

static void test_http_timeout_and_refused(void **state)
{
	struct th *t = th_setup(NULL);
	struct http *refused;
	struct http_conf hc;
	uint64_t t0;

	(void)state;
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/set-fault",
	                   "{\"mode\":\"hang\",\"seconds\":20,\"count\":1}"));
	t0 = uv_hrtime();
	assert_int_equal(
	        http_get(t->h, "/v1/catalog/nodes", 300, th_done, t, NULL), 0);
	th_wait(t, 1, 5000);
	assert_int_equal(t->result, -ETIMEDOUT);
	assert_true(uv_hrtime() - t0 >= 290 * 1000000ull);
	assert_true(sim_ok(&t->tl.loop, &t->sim, "/_sim/clear-faults", "{}"));

	/* Nobody listens on port 1. */
	memset(&hc, 0, sizeof(hc));
	hc.base_url = "http://127.0.0.1:1";
	assert_int_equal(http_new(&t->tl.loop, &hc, &refused, NULL), 0);
	assert_int_equal(
	        http_get(refused, "/v1/agent/self", 5000, th_done, t, NULL), 0);
	th_wait(t, 2, 5000);
	assert_int_equal(t->result, -ECONNREFUSED);
	http_close(refused, NULL, NULL);
	th_teardown(t);
}

static void test_http_cancel_and_close(void **state)
{
	struct th *t = th_setup(NULL);
	struct http_request *req;
	struct http_stats st;
	json_t *r;

	(void)state;
	/* A long poll, cancelled while the simulator holds it. */
	assert_int_equal(http_get(t->h,
	                          "/v1/catalog/nodes?index=999999&wait=30s",
	                          60000, th_done, t, &req),
	                 0);
	r = sim_call(&t->tl.loop, &t->sim, "/_sim/await-requests",
	             "{\"path\":\"/v1/catalog/nodes\",\"blocked\":true,"
	             "\"timeout\":10}");
	assert_true(json_is_true(json_object_get(r, "result")));
	json_decref(r);
	http_cancel(req);
	http_cancel(NULL);
	test_loop_run_until(&t->tl, NULL, NULL, 100);
	assert_int_equal(t->ndone, 0); /* never called back */
	http_get_stats(t->h, &st);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.sockets, 0); /* its connection was closed */

	/* Close from inside a callback, with another transfer in flight. */
	t->close_in_cb = true;
	assert_int_equal(http_get(t->h,
	                          "/v1/catalog/nodes?index=999999&wait=30s",
	                          60000, th_done, t, NULL),
	                 0);
	assert_int_equal(
	        http_get(t->h, "/v1/catalog/services", 5000, th_done, t, NULL),
	        0);
	th_wait(t, 1, 5000);
	assert_null(t->h);
	test_loop_run_until(&t->tl, NULL, NULL, 50);
	assert_int_equal(t->ndone, 1); /* the long poll never called back */
	th_teardown(t); /* uv_loop_close() == 0: nothing left open */
}

/* Make connect(2) fail with EPERM, as a unit's IPAddressDeny= does. */
static int deny_connect(void)
{
	struct sock_filter f[] = {
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                 offsetof(struct seccomp_data, nr)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_connect, 0, 1),
	        BPF_STMT(BPF_RET | BPF_K,
	                 SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(*f), f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return -errno;
	return 0;
}

struct denied {
	int result;
	char msg[1024];
	bool done;
};

static void denied_done(void *data, int result,
                        const struct http_response *resp, const char *errmsg)
{
	struct denied *d = data;

	(void)resp;
	d->result = result;
	snprintf(d->msg, sizeof(d->msg), "%s", errmsg ? errmsg : "");
	d->done = true;
}

/*
 * In a child (the filter cannot be removed): one GET to url with connect
 * denied. Exit 0 when the result and message are as wanted, else 1 after
 * printing what came; 77 when seccomp is unavailable.
 */
static int denied_child(const char *url, int want, bool want_hint)
{
	struct http_conf hc = {.base_url = url};
	struct denied d = {0, "", false};
	struct http *h;
	uv_loop_t loop;
	int ok;

	if (deny_connect() < 0)
		return 77;
	uv_loop_init(&loop);
	if (http_new(&loop, &hc, &h, NULL) != 0 ||
	    http_get(h, "/v1/status/leader", 5000, denied_done, &d, NULL) != 0)
		return 1;
	while (!d.done && uv_run(&loop, UV_RUN_ONCE) != 0)
		;
	http_close(h, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	ok = d.done && d.result == want &&
	     (strstr(d.msg, "IPAddressAllow=") != NULL) == want_hint &&
	     (!want_hint || strstr(d.msg, "connect to 192.0.2.1:") != NULL);
	if (!ok)
		fprintf(stderr, "result %d (want %d): %s\n", d.result, want,
		        d.msg);
	return ok ? 0 : 1;
}

static void expect_denied(const char *url, int want, bool want_hint)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(denied_child(url, want, want_hint));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * A connect refused by local policy (EPERM) to a non-loopback address
 * says what most likely refused it (the unit's IPAddressAllow=); to a
 * loopback address it stays a plain connection failure. The filter stops
 * the connect before any packet leaves: nothing goes to 192.0.2.1.
 */
static void test_http_connect_denied(void **state)
{
	(void)state;
	expect_denied("http://192.0.2.1:8500", -EPERM, true);
	expect_denied("http://127.0.0.1:8500", -ECONNREFUSED, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_http_get),
	        cmocka_unit_test(test_http_body_bound),
	        cmocka_unit_test(test_http_limits_named),
	        cmocka_unit_test(test_http_timeout_and_refused),
	        cmocka_unit_test(test_http_cancel_and_close),
	        cmocka_unit_test(test_http_connect_denied),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
