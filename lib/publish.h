/*
 * Publishing one template's output: check, compare, guard, stage,
 * check_command, swap, command, rollback.
 *
 * A publisher owns one destination (struct tmpl_conf, copied at
 * publisher_new) and a sink: the file sink does the whole sequence below;
 * the dry sink (-dry) applies the hosts check and writes ONLY the checked
 * content to stdout (no managed-block splice, no guards, no commands), so
 * "-once -dry > file" gives a usable hosts file.
 *
 * File sink, for each submitted text:
 *  1. hosts check (hosts.h); dropped lines are logged with log_warnx;
 *  2. the destination is re-read; in managed-block mode the checked text
 *     is spliced into it (hosts_splice); identical bytes (and mode/owner
 *     already as configured) -> PUBLISH_UNCHANGED, nothing written or run;
 *  3. guards (never on a first publish): more than guard_shrink of the old
 *     entries gone, or (guard_service_drop) a name that had entries now
 *     has none -> PUBLISH_HELD and a log_warnx. The held content is
 *     published when it is submitted again at least guard_hold_ms after it
 *     was first held, or by itself when the hold timer (guard_hold_ms)
 *     fires and nothing else was submitted meanwhile. guard_hold_ms 0:
 *     the next identical submit publishes. Different content replaces the
 *     held one (and restarts the hold);
 *  4. stage: ".<name>.consul-hosts.XXXXXX" in the destination's directory
 *     (O_CREAT|O_EXCL|O_CLOEXEC), full write, owner and mode (old file's,
 *     or perms/user/group, 0644 when new), fsync;
 *  5. check_command on the staged file: "{{path}}" in it is replaced by the
 *     shell-quoted path, which is also passed as $1. Failure -> the staged
 *     file is removed, the old one kept, PUBLISH_FAILED;
 *  6. swap: optional hard-link backup "<dest>.bak", rename, fsync of the
 *     directory. EBUSY/EXDEV (a mount point) fails with a message saying
 *     so, unless in_place is set: then the file is truncated and rewritten
 *     in place (NOT atomic: a reader may see a partial file);
 *  7. command, rate-limited: not started more often than once per
 *     restart_min_interval_ms (0: no limit); a change inside that window
 *     is published at once and the command runs once at the window's end
 *     (the result is then PUBLISH_WRITTEN without waiting for it). A failed
 *     command is logged; with rollback_on_failure the content from before
 *     the swap(s) it covered is restored by the same atomic swap (and the
 *     command is not run again for it). An immediate command's failure
 *     makes the result PUBLISH_FAILED.
 *
 * Callbacks: done fires exactly once per publisher_submit, never from
 * inside publisher_submit, after the job is finished. At most one job runs
 * at a time; a submit while busy replaces the pending one, and every
 * replaced submitter's done fires with the result of the newest content.
 * Failures reported through done are not logged here (the caller logs e
 * once); dropped lines, holds, command output and failures of deferred
 * commands are logged here.
 */
#ifndef CH_PUBLISH_H
#define CH_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "config.h"
#include "err.h"

/* Defaults the config module should use (see DESIGN.md "Publishing"). */
#define PUBLISH_DEFAULT_GUARD_SHRINK 0.5
/* "Confirmed by the next renders or a timeout": a minute of the same
 * shrunken catalog is a real change, not an agent restart or a flap. */
#define PUBLISH_DEFAULT_GUARD_HOLD_MS 60000
/* systemd's default start limit is 5 starts per 10 s; one restart per
 * 10 s can never trip it. */
#define PUBLISH_DEFAULT_RESTART_MIN_INTERVAL_MS 10000
/* The largest destination file read or written. */
#define PUBLISH_MAX_FILE (64u * 1024 * 1024)

struct publisher;

enum publish_result {
	PUBLISH_WRITTEN,   /* new content in place (command run or scheduled) */
	PUBLISH_UNCHANGED, /* identical to the file on disk: nothing done */
	PUBLISH_HELD,      /* a guard held it back (see above) */
	PUBLISH_FAILED,    /* e says why; the old file is intact */
};

typedef void (*publish_done_cb)(void *data, enum publish_result res,
                                const struct err *e);

/* tc is copied; nothing of it is kept. */
int publisher_new(uv_loop_t *loop, const struct tmpl_conf *tc, bool dry,
                  struct publisher **ret, struct err *e);

/*
 * Publish text[0..len) (copied). Returns 0, -EINVAL when closing, or
 * -E2BIG when len exceeds PUBLISH_MAX_FILE (cb then does not fire).
 */
int publisher_submit(struct publisher *p, const char *text, size_t len,
                     publish_done_cb cb, void *data);

/*
 * Stop: pending submits finish with PUBLISH_FAILED ("closing"), a running
 * job finishes (its commands are bounded by their timeout), a command
 * deferred by the rate limit runs now, then p is freed and closed fires.
 */
void publisher_close(struct publisher *p, void (*closed)(void *), void *data);

const char *publish_result_name(enum publish_result res);

#endif
