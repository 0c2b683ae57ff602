/*
 * A duration histogram with fixed buckets, as Prometheus keeps one: the
 * runner observes render and change-to-file times into it (runner.h) and
 * the metrics print it (metrics.h).
 *
 * Pure module: no I/O, no logging.
 */
#ifndef CH_HISTOGRAM_H
#define CH_HISTOGRAM_H

#include <stdint.h>

/* Bucket upper bounds (seconds); +Inf is implied. */
#define HISTOGRAM_BUCKETS 12
extern const double histogram_bounds[HISTOGRAM_BUCKETS];

struct histogram {
	uint64_t counts[HISTOGRAM_BUCKETS]; /* per bucket, not cumulative */
	uint64_t count;                     /* every observation (+Inf) */
	double sum;
};

/* One observation; a negative time counts as 0. */
void histogram_observe(struct histogram *h, double seconds);

#endif
