/*
 * Child commands on the libuv loop: check_command and command.
 *
 * command_run() starts "/bin/sh -c SCRIPT consul-hosts [ARG1]" in its own
 * session (so a timeout can signal the whole process group), with stdin
 * on /dev/null and stdout/stderr captured into bounded buffers. It never
 * blocks the loop. The command gets the daemon's environment without the
 * Consul token variables (CONSUL_HTTP_TOKEN*, CONSUL_TOKEN).
 *
 * Completion takes two events, as tmux's job.c does: the child has exited
 * AND both pipes have reached EOF (or were given up on, see below). Only
 * then are the process and pipe handles closed, and once they are, done
 * fires exactly once; the command may be freed from inside done.
 *
 * Timeout: after timeout_ms the group gets SIGTERM, and SIGKILL
 * COMMAND_KILL_GRACE_MS later if it is still there. When the child exits
 * but something it started keeps a pipe open, the pipes are given up on
 * after COMMAND_KILL_GRACE_MS (the grandchild is not killed: it may be the
 * daemon the command was meant to start).
 */
#ifndef CH_COMMAND_H
#define CH_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/err.h"
#include "config/config.h"

#define COMMAND_DEFAULT_TIMEOUT_MS CONFIG_DEFAULT_COMMAND_TIMEOUT_MS
#define COMMAND_KILL_GRACE_MS      2000
#define COMMAND_MAX_OUTPUT         8192 /* bytes kept per stream */

struct command;

typedef void (*command_done_cb)(struct command *c, void *data);

/*
 * Start script (borrowed; copied) with arg1 as $1 when not NULL.
 * timeout_ms 0 means COMMAND_DEFAULT_TIMEOUT_MS. On success *ret is the
 * running command; on failure (-errno, e filled) no callback fires.
 */
int command_run(uv_loop_t *loop, const char *script, const char *arg1,
                uint64_t timeout_ms, command_done_cb done, void *data,
                struct command **ret, struct err *e);

/*
 * Free c. If it is still running, done will not fire: the process group
 * gets SIGKILL and the memory goes when the handles are closed. NULL-safe;
 * returns NULL.
 */
struct command *command_free(struct command *c);

/* Valid in and after done. */
bool command_succeeded(const struct command *c); /* exit 0, in time */
bool command_timed_out(const struct command *c);
int command_exit_status(const struct command *c); /* -1 when signalled */
int command_term_signal(const struct command *c); /* 0 when it exited */
uint64_t command_duration_ms(const struct command *c);
/* Captured output (borrowed, NUL-terminated); *ret_truncated may be NULL. */
const char *command_stdout(const struct command *c, size_t *ret_len,
                           bool *ret_truncated);
const char *command_stderr(const struct command *c, size_t *ret_len,
                           bool *ret_truncated);
/* "exited with status 3", "killed by signal 9 after a 30000 ms timeout"... */
const char *command_describe(const struct command *c, char *buf, size_t size);

/*
 * Whether the command's output says it could not signal a process, and
 * what to do about it (a static string), or NULL. Valid in and after done.
 *
 * Detection: stdout or stderr holds "Operation not permitted" (kill(2)'s
 * EPERM, as pkill, kill, /bin/kill and the shells' kill print it) or
 * "Access denied" (systemctl refused by PID 1 or polkit). The exit status
 * alone misses it: procps-ng 3.x pkill (EL8, EL9) exits 0 when it matched
 * a process it could not signal. The messages are matched in English, as
 * a command run under a non-English LANG may not print them.
 *
 * The publisher treats a command for which this returns non-NULL as
 * failed even when it exited 0, and adds the hint to its message.
 */
const char *command_signal_denied(const struct command *c);

#endif
