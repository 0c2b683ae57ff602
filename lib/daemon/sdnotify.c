/* sd_notify(3)'s wire protocol, reimplemented as systemd recommends. */
#include "daemon/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int sdnotify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t plen, slen;
	socklen_t alen;
	ssize_t n;
	int fd, rc = 0;

	if (path == NULL || path[0] == '\0')
		return 0;
	if (state == NULL || (slen = strlen(state)) == 0 ||
	    slen > SDNOTIFY_MAX_STATE)
		return -EINVAL;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen < 2 ||
	    plen >= sizeof(sa.sun_path))
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen);
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract: the length is exact */
	else
		alen++; /* a path: count its NUL, as libsystemd does */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = sendto(fd, state, slen, MSG_NOSIGNAL | MSG_DONTWAIT,
	           (struct sockaddr *)&sa, alen);
	if (n < 0)
		rc = -errno;
	else if ((size_t)n != slen)
		rc = -EMSGSIZE;
	close(fd);
	return rc;
}

/* prefix, then "STATUS=" and text on one line (a newline would start
 * another assignment), cut to 512 bytes in all, as one datagram. */
static int sdnotify_with_status(const char *prefix, const char *text)
{
	char state[512];
	size_t start = strlen(prefix) + 7;

	snprintf(state, sizeof(state), "%sSTATUS=%s", prefix, text);
	for (char *p = state + start; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return sdnotify_send(state);
}

int sdnotify_ready(const char *status)
{
	if (status == NULL)
		return sdnotify_send("READY=1");
	return sdnotify_with_status("READY=1\n", status);
}

int sdnotify_stopping(void)
{
	return sdnotify_send("STOPPING=1");
}

int sdnotify_watchdog(void)
{
	return sdnotify_send("WATCHDOG=1");
}

int sdnotify_reloading(void)
{
	struct timespec ts;
	char state[64];

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return -errno;
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ULL +
	                 (unsigned long long)ts.tv_nsec / 1000ULL);
	return sdnotify_send(state);
}

int sdnotify_status(const char *fmt, ...)
{
	char text[512 - 7];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	return sdnotify_with_status("", text);
}

/* A decimal uint64 with nothing around it. */
static int parse_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

int sdnotify_watchdog_usec(uint64_t *ret_usec)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	uint64_t u, p;

	if (usec == NULL)
		return 0;
	if (parse_u64(usec, &u) < 0)
		return -EINVAL;
	if (pid != NULL) {
		if (parse_u64(pid, &p) < 0 || p == 0)
			return -EINVAL;
		if (p != (uint64_t)getpid())
			return 0;
	}
	if (u == 0)
		return 0;
	*ret_usec = u;
	return 1;
}
