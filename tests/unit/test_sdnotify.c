/*
 * Unit tests for the notify protocol: a datagram socket bound in a temp
 * dir (and one in the abstract namespace) stands in for systemd, and each
 * test asserts the exact datagrams it receives.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/sdnotify.h"

struct listener {
	int fd;
	char dir[64];
	char path[128];
};

/* Bind a datagram socket; abstract when name starts with '@'. */
static void listener_open(struct listener *l, const char *abstract)
{
	struct sockaddr_un sa;
	socklen_t alen;
	struct timeval tv = {.tv_sec = 5};

	memset(l, 0, sizeof(*l));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (abstract != NULL) {
		snprintf(l->path, sizeof(l->path), "%s-%ld", abstract,
		         (long)getpid());
		memcpy(sa.sun_path, l->path, strlen(l->path));
		sa.sun_path[0] = '\0';
		alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		                   strlen(l->path));
	} else {
		snprintf(l->dir, sizeof(l->dir), "/tmp/ch-sdnotify-XXXXXX");
		assert_non_null(mkdtemp(l->dir));
		snprintf(l->path, sizeof(l->path), "%s/notify", l->dir);
		assert_true(strlen(l->path) < sizeof(sa.sun_path));
		memcpy(sa.sun_path, l->path, strlen(l->path) + 1);
		alen = sizeof(sa);
	}
	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(l->fd >= 0);
	assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, alen), 0);
	/* Bounded in time: a missing datagram fails instead of hanging. */
	assert_int_equal(
	        setsockopt(l->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", l->path, 1), 0);
}

static void listener_close(struct listener *l)
{
	close(l->fd);
	if (l->dir[0] != '\0') {
		unlink(l->path);
		rmdir(l->dir);
	}
	unsetenv("NOTIFY_SOCKET");
}

/* The next datagram, NUL-terminated, in buf. */
static void expect_datagram(struct listener *l, const char *want)
{
	char buf[8192];
	ssize_t n = recv(l->fd, buf, sizeof(buf) - 1, 0);

	assert_true(n >= 0);
	buf[n] = '\0';
	assert_int_equal((size_t)n, strlen(want));
	assert_string_equal(buf, want);
}

static void test_path_socket(void **state)
{
	struct listener l;

	(void)state;
	listener_open(&l, NULL);
	assert_int_equal(sdnotify_ready(NULL), 0);
	expect_datagram(&l, "READY=1");
	assert_int_equal(sdnotify_status("watching %d services", 42), 0);
	expect_datagram(&l, "STATUS=watching 42 services");
	assert_int_equal(sdnotify_stopping(), 0);
	expect_datagram(&l, "STOPPING=1");
	assert_int_equal(sdnotify_watchdog(), 0);
	expect_datagram(&l, "WATCHDOG=1");
	assert_int_equal(sdnotify_ready("up\nX=1"), 0);
	expect_datagram(&l, "READY=1\nSTATUS=up X=1");
	listener_close(&l);
}

static void test_abstract_socket(void **state)
{
	struct listener l;

	(void)state;
	listener_open(&l, "@ch-sdnotify-test");
	assert_int_equal(sdnotify_ready(NULL), 0);
	expect_datagram(&l, "READY=1");
	assert_int_equal(sdnotify_stopping(), 0);
	expect_datagram(&l, "STOPPING=1");
	listener_close(&l);
}

static void test_status_one_line(void **state)
{
	struct listener l;

	(void)state;
	listener_open(&l, NULL);
	/* A newline would smuggle in another assignment. */
	assert_int_equal(sdnotify_status("bad\nREADY=1"), 0);
	expect_datagram(&l, "STATUS=bad READY=1");
	listener_close(&l);
}

static void test_reloading(void **state)
{
	struct listener l;
	struct timespec ts;
	char buf[256];
	unsigned long long usec, before, after;
	ssize_t n;

	(void)state;
	listener_open(&l, NULL);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	before = (unsigned long long)ts.tv_sec * 1000000ULL +
	         (unsigned long long)ts.tv_nsec / 1000ULL;
	assert_int_equal(sdnotify_reloading(), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	after = (unsigned long long)ts.tv_sec * 1000000ULL +
	        (unsigned long long)ts.tv_nsec / 1000ULL;
	n = recv(l.fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec),
	                 1);
	assert_true(usec >= before && usec <= after);
	assert_non_null(strchr(buf, '\n'));
	assert_null(strchr(strchr(buf, '\n') + 1, '\n'));
	listener_close(&l);
}

static void test_unset_and_invalid(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sdnotify_ready(NULL), 0); /* no-op outside systemd */
	setenv("NOTIFY_SOCKET", "relative/socket", 1);
	assert_int_equal(sdnotify_ready(NULL), -EINVAL);
	setenv("NOTIFY_SOCKET", "/nonexistent-dir-ch/notify", 1);
	assert_int_equal(sdnotify_ready(NULL), -ENOENT);
	setenv("NOTIFY_SOCKET", "/tmp/x", 1);
	assert_int_equal(sdnotify_send(""), -EINVAL);
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_usec(void **state)
{
	uint64_t u = 7;
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(sdnotify_watchdog_usec(&u), 0);
	assert_int_equal(u, 7); /* untouched unless enabled */
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(sdnotify_watchdog_usec(&u), 1);
	assert_int_equal(u, 30000000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	u = 7;
	assert_int_equal(sdnotify_watchdog_usec(&u), 1);
	assert_int_equal(u, 30000000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1); /* meant for someone else */
	u = 7;
	assert_int_equal(sdnotify_watchdog_usec(&u), 0);
	assert_int_equal(u, 7);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "0", 1);
	assert_int_equal(sdnotify_watchdog_usec(&u), 0);
	setenv("WATCHDOG_USEC", "30s", 1);
	assert_int_equal(sdnotify_watchdog_usec(&u), -EINVAL);
	setenv("WATCHDOG_USEC", "-5", 1);
	assert_int_equal(sdnotify_watchdog_usec(&u), -EINVAL);
	assert_int_equal(u, 7);
	unsetenv("WATCHDOG_USEC");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_path_socket),
	        cmocka_unit_test(test_abstract_socket),
	        cmocka_unit_test(test_status_one_line),
	        cmocka_unit_test(test_reloading),
	        cmocka_unit_test(test_unset_and_invalid),
	        cmocka_unit_test(test_watchdog_usec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
