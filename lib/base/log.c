#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

static enum log_level log_level = LOG_LVL_INFO;
static bool log_journal;

static const struct {
	const char *name;
	const char *alias;
	int syslog_prio; /* sd-daemon(3) prefix */
} log_levels[] = {
        [LOG_LVL_ERR] = {"err", "error", 3},
        [LOG_LVL_WARN] = {"warn", "warning", 4},
        [LOG_LVL_INFO] = {"info", NULL, 6},
        [LOG_LVL_DEBUG] = {"debug", NULL, 7},
        [LOG_LVL_TRACE] = {"trace", NULL, 7},
};

bool log_stderr_is_journal(void)
{
	const char *s = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	/* "DEV:INO" of the stream systemd connected; a child whose stderr
	 * was redirected elsewhere inherits the variable but not the
	 * stream (sd_journal_stream_fd(3), systemd.exec(5)). */
	if (s == NULL || sscanf(s, "%llu:%llu%n", &dev, &ino, &n) != 2 ||
	    s[n] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_level level, int journal)
{
	log_level = level;
	if (journal < 0)
		log_journal = log_stderr_is_journal();
	else
		log_journal = journal != 0;
}

/*
 * consul-template's time format, 2006-01-02T15:04:05.000Z0700: local
 * time with milliseconds, "Z" for UTC or the offset as +hhmm.
 */
size_t log_timestamp(char *buf, size_t size)
{
	struct timeval tv;
	struct tm tm;
	size_t n;
	long off;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return 0;
	off = tm.tm_gmtoff;
	if (off == 0)
		n += (size_t)snprintf(buf + n, size - n, ".%03ldZ",
		                      (long)(tv.tv_usec / 1000));
	else
		n += (size_t)snprintf(buf + n, size - n, ".%03ld%c%02ld%02ld",
		                      (long)(tv.tv_usec / 1000),
		                      off < 0 ? '-' : '+', labs(off) / 3600,
		                      labs(off) % 3600 / 60);
	return n < size ? n : size - 1;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

int log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]);
	     i++) {
		if (strcasecmp(s, log_levels[i].name) == 0 ||
		    (log_levels[i].alias != NULL &&
		     strcasecmp(s, log_levels[i].alias) == 0))
			return (int)i;
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	return log_levels[level].name;
}

static void log_vwrite(enum log_level level, int errnum, const char *fmt,
                       va_list ap)
{
	char msg[2048], ts[40];
	int saved = errno;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One write per line so concurrent writers never interleave. The
	 * journal stamps each line itself; plain stderr gets a timestamp. */
	if (log_journal && errnum)
		fprintf(stderr, "<%d>%s: %s\n", log_levels[level].syslog_prio,
		        msg, strerror(errnum));
	else if (log_journal)
		fprintf(stderr, "<%d>%s\n", log_levels[level].syslog_prio, msg);
	else if (log_timestamp(ts, sizeof(ts)) == 0)
		fprintf(stderr, "consul-hosts: [%s] %s%s%s\n",
		        log_levels[level].name, msg, errnum ? ": " : "",
		        errnum ? strerror(errnum) : "");
	else
		fprintf(stderr, "%s consul-hosts: [%s] %s%s%s\n", ts,
		        log_levels[level].name, msg, errnum ? ": " : "",
		        errnum ? strerror(errnum) : "");
	errno = saved;
}

#define LOG_FN(fn, level, with_errno)                  \
	void fn(const char *fmt, ...)                  \
	{                                              \
		int errnum = (with_errno) ? errno : 0; \
		va_list ap;                            \
		va_start(ap, fmt);                     \
		log_vwrite(level, errnum, fmt, ap);    \
		va_end(ap);                            \
	}

LOG_FN(log_errx, LOG_LVL_ERR, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_trace, LOG_LVL_TRACE, 0)

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
