/*
 * Logging for the code that drives the loop (cmd/ and the runner); modules
 * under lib/ that only compute never log, they fill a struct err.
 *
 * Everything goes to stderr. When stderr is the journal (JOURNAL_STREAM
 * names stderr's device and inode) each line starts with a "<N>" priority
 * prefix and no time, which the journal adds; otherwise lines are
 * "2006-01-02T15:04:05.000+0100 consul-hosts: [warn] ..." (consul-
 * template's time format, local time). log_warn appends
 * ": strerror(errno)", the *x variants do not (OpenBSD's
 * log_warn/log_warnx). errno is kept.
 */
#ifndef CH_LOG_H
#define CH_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_ERR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
	LOG_LVL_TRACE,
};

/* journal < 0: detect (log_stderr_is_journal); 0: plain; 1: prefixes. */
void log_init(enum log_level level, int journal);
/* Whether JOURNAL_STREAM is set and names stderr ("dev:ino"). */
bool log_stderr_is_journal(void);
/* The plain-log timestamp into buf; its length, 0 if it did not fit. */
size_t log_timestamp(char *buf, size_t size);
void log_set_level(enum log_level level);
/* "err"/"error", "warn"/"warning", "info", "debug", "trace"; -1 if none. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

#define CH_PRINTF(a, b) __attribute__((format(printf, a, b)))
void log_errx(const char *fmt, ...) CH_PRINTF(1, 2);
void log_warn(const char *fmt, ...) CH_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) CH_PRINTF(1, 2);
void log_info(const char *fmt, ...) CH_PRINTF(1, 2);
void log_debug(const char *fmt, ...) CH_PRINTF(1, 2);
void log_trace(const char *fmt, ...) CH_PRINTF(1, 2);
/* Log at err level and exit 1 (main only). */
void fatalx(const char *fmt, ...) CH_PRINTF(1, 2) __attribute__((noreturn));

#endif
