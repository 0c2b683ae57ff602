/*
 * What the daemon says about itself: metrics in Prometheus' text
 * exposition format (version 0.0.4) for node_exporter's textfile
 * collector, and the one-line summary sent as systemd's STATUS=.
 *
 * Both are made from the runner's stats (runner_get_stats: the watcher's
 * per-endpoint requests and errors and Consul's reachability, and per
 * template the publisher's results, entries, holds and commands, render
 * and change-to-file durations). Nothing here listens on a port: the
 * metrics file is written whole and renamed into place (destfile.h), so
 * the collector never reads half of one; the caller decides when (on a
 * change, at most every few seconds: idle costs nothing).
 *
 * Names follow Prometheus' conventions: consul_hosts_ prefix, counters
 * end in _total, times in _seconds (timestamps as Unix seconds, so an
 * age is time() - x in a query), histograms with fixed buckets. Counters
 * restart at 0 when the process restarts or reloads (SIGHUP builds a new
 * runner), which rate() and increase() handle.
 *
 * Pure formatting, plus metrics_write(); returns 0 / -errno, never logs.
 */
#ifndef CH_METRICS_H
#define CH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

struct runner_stats;

/*
 * The exposition text for s at now_ms, appended to out. start_ms: when
 * the process started (both wall clock, ms). 0, or -E2BIG from out's
 * limit.
 */
int metrics_format(const struct runner_stats *s, int64_t start_ms,
                   int64_t now_ms, struct buf *out);

/*
 * The STATUS= summary of s at now_ms (wall clock), in out (at most size
 * bytes, NUL-terminated, cut on a word): Consul's state (reachable, or
 * unreachable since when and for how long; refused queries with note,
 * the last thing Consul said, when not NULL), then publishing: the last
 * write and its age, failing publishes and commands, held renders and
 * removals.
 */
void metrics_status(const struct runner_stats *s, int64_t now_ms,
                    const char *note, char *out, size_t size);

/*
 * Replace path by text: a temp file in its directory, then rename
 * (mode 0644). first: also remove temp files a killed process left
 * there. The directory must exist (node_exporter's).
 */
int metrics_write(const char *path, const char *text, size_t len, bool first,
                  struct err *e);

#endif
