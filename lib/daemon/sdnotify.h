/*
 * systemd's notify protocol without libsystemd (Type=notify).
 *
 * One datagram per call to the AF_UNIX socket named by $NOTIFY_SOCKET: an
 * absolute path, or "@name" for the abstract namespace. Every call is a
 * no-op returning 0 when the variable is unset, so the daemon calls these
 * unconditionally. Sends never block (MSG_DONTWAIT): a full queue is
 * -EAGAIN and the message is lost, which the caller may log.
 *
 * The loop's order: sdnotify_ready() after the first complete render;
 * sdnotify_status() whenever the summary changes; around SIGHUP
 * sdnotify_reloading() then sdnotify_ready(); sdnotify_stopping() on
 * SIGTERM; sdnotify_watchdog() from a main-loop timer every half of
 * sdnotify_watchdog_usec(), so a stuck loop stops the pings.
 *
 * Commands the daemon spawns inherit $NOTIFY_SOCKET; with the unit's
 * default NotifyAccess=main systemd ignores them.
 */
#ifndef CH_SDNOTIFY_H
#define CH_SDNOTIFY_H

#include <stdint.h>

/* Longest state sdnotify_send() accepts. */
#define SDNOTIFY_MAX_STATE 4096

/*
 * Send state ("READY=1", "STATUS=...", newline-separated assignments) as
 * one datagram. 0 when sent or when $NOTIFY_SOCKET is unset; -EINVAL for
 * a relative or too long socket name or state; otherwise -errno of
 * socket()/sendto().
 */
int sdnotify_send(const char *state);

/* "READY=1", with "\nSTATUS=<status>" (one line) in the same datagram
 * unless status is NULL. */
int sdnotify_ready(const char *status);
int sdnotify_stopping(void); /* "STOPPING=1" */
int sdnotify_watchdog(void); /* "WATCHDOG=1" */
/* "RELOADING=1\nMONOTONIC_USEC=<CLOCK_MONOTONIC in µs>" (systemd >= 253
 * reads the second field; older ones ignore it). */
int sdnotify_reloading(void);
/* "STATUS=<printf text>"; newlines in the text become spaces. */
int sdnotify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The watchdog interval: 1 and *ret_usec set when $WATCHDOG_USEC is a
 * positive number and $WATCHDOG_PID is unset or this process; 0 when the
 * watchdog is off or meant for another process; -EINVAL when a variable
 * does not parse (*ret_usec untouched unless 1 is returned).
 */
int sdnotify_watchdog_usec(uint64_t *ret_usec);

#endif
