/*
 * What publish.c (the job queue: check, guard, stage, swap) and
 * publish_cmd.c (the command after a swap: budget, retry, rollback) share;
 * not an interface for anyone else (publish.h is).
 */
#ifndef CH_PUBLISH_PRIV_H
#define CH_PUBLISH_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <uv.h>

#include "base/buf.h"
#include "hosts/guard.h"
#include "hosts/hosts.h"
#include "publish/command.h"
#include "publish/destfile.h"
#include "publish/publish.h"

/* A concurrent writer changed the destination while a job staged it:
 * start over at most this often before giving up for this render. */
#define PUBLISH_MAX_RESTARTS 5
/* A failed command runs again after 1 s, doubling up to 5 min. */
#define PUBLISH_RETRY_MIN_MS 1000
#define PUBLISH_RETRY_MAX_MS 300000
/* Most removed or added entries a "wrote" line names. */
#define PUBLISH_LOG_KEYS 3

struct waiter {
	publish_done_cb cb;
	void *data;
};

/* A render and who waits for it. */
struct job {
	char *text;
	size_t len;
	struct tmpl_spans spans;
	bool all_dynamic; /* no spans given: every line is data */
	char *suspect;
	json_t *weights;
	struct waiter *waiters;
	size_t nwaiters;
};

struct flusher {
	void (*cb)(void *data, bool ok);
	void *data;
};

enum job_state {
	JOB_IDLE,     /* nothing runs; the next job may start */
	JOB_CHECKING, /* check_command runs on the staged file */
	JOB_CLOSED,   /* closing and idle: timers are closing */
};

enum cmd_state {
	CMD_IDLE,    /* not running; command_due says whether it should */
	CMD_WAITING, /* due, waiting for its budget or a retry's backoff */
	CMD_RUNNING,
};

struct publisher;

/* Where checked content goes: the file, or stdout for -dry. */
struct publish_sink {
	const char *name;
	/* Publish p->job (checked in p->new); ends with publish_finish. */
	void (*start)(struct publisher *p);
	/* Instead of staging what the destination would hold (p->final,
	 * against p->file_old): -diff. NULL: stage it. */
	void (*compare)(struct publisher *p);
};

struct publisher {
	uv_loop_t *loop;
	const struct publish_sink *sink;
	enum job_state state;
	enum cmd_state cmd_state;
	bool closing;
	void (*closed)(void *);
	void *closed_data;
	int open_timers;

	/* Configuration (copied). */
	char *dest; /* as configured: log lines, the settled check */
	char *command;
	char *check_command;
	enum tmpl_format format;
	bool managed_block, rollback;
	struct guard_conf guard;
	uint64_t command_timeout_ms;
	unsigned max_runs;
	uint64_t window_ms;
	unsigned emit;
	const struct order *order;
	char *explain; /* the name -explain asks about */
	struct destfile *file;

	struct job *job;     /* running */
	struct job *pending; /* the next one (newest render) */
	struct job *last;    /* the last one done: re-published for holds */
	/* The file as the last job left it (written or found unchanged),
	 * with nothing held: the same render again is UNCHANGED at once,
	 * unchecked and unread, while the file's identity stays (a check
	 * output that changed is no file change: the steady state of a
	 * large catalog). */
	bool settled;
	struct stat settled_st;
	unsigned restarts; /* of the running job, after a concurrent edit */

	struct hosts_doc new; /* the job's render, checked */
	struct hosts_doc old; /* what is published (block or whole file) */
	/* old is the doc of the file whose identity is old_st_kept: while
	 * the file keeps it, a job does not read it into a doc again (after
	 * a write with nothing held, the render's doc is what was written). */
	bool old_kept;
	struct stat old_st_kept;
	bool render_in_old; /* the last checked render's doc is old's now */
	struct guard_result gr;
	struct guard_window window; /* removals published lately */
	struct buf block;           /* what the block (or the file) will hold */
	struct buf file_old;        /* the destination as read */
	struct buf final;           /* what the destination will hold */
	struct destfile_old old_st;
	char *staged;       /* temp file path while staged */
	bool stale_checked; /* leftover temp files removed once */
	bool link_logged;
	char *held_logged;       /* the last hold reason logged, to log once */
	int64_t text_hold_since; /* format text: the current hold began */
	uv_timer_t hold_timer;   /* re-publish when a held removal is due */
	uv_timer_t kick_timer;   /* 0 ms: start jobs from the loop */

	struct command *check; /* check_command on the staged file */

	/* The command. */
	struct command *cmd;
	bool command_due; /* a swap happened that no run has covered */
	uint64_t *starts; /* ring of the last max_runs start times */
	unsigned nstarts, ring;
	unsigned cmd_failures; /* failed runs in a row */
	bool cmd_retry;        /* due only to retry a failed run */
	uint64_t retry_not_before;
	bool last_cmd_ok;
	uv_timer_t cmd_timer;
	/* Rollback: what was published before the first swap that no
	 * successful command has covered (the block, in managed mode). */
	bool rollback_valid;  /* rollback_data was taken */
	bool rollback_exists; /* and there was a file to roll back to */
	struct buf rollback_data;

	struct flusher *flushers;
	size_t nflushers;

	struct publish_stats stats;
	void (*observer)(void *data);
	void *observer_data;
};

void publish_kick(struct publisher *p);
void cmd_kick(struct publisher *p);
void publish_count_command(struct publisher *p, bool ok);
void cmd_set_state(struct publisher *p, enum cmd_state s);
void publish_log_output(struct publisher *p, const char *what,
                        const struct command *c);
void publish_first_line(const struct command *c, struct buf *out);
bool cmd_hurry(const struct publisher *p);
bool cmd_wanted(const struct publisher *p);

#endif
