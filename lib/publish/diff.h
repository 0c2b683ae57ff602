/*
 * A unified diff of two texts, line by line, for "-once -dry -diff": what
 * a publish would change in the destination, shown before a rollout.
 *
 * Lines are compared whole, their newline included (a last line without
 * one differs from the same text with one, and is marked "\ No newline at
 * end of file" as diff(1) marks it). The edit script is a shortest one:
 * Myers' O(ND) algorithm in its linear-space form (the middle snake,
 * divide and conquer), on line numbers interned through a strmap, after
 * the common head and tail are cut off. The output is diff -u's: a
 * "--- a" / "+++ b" header, then hunks "@@ -l,s +l,s @@" with
 * DIFF_CONTEXT lines of context, changes closer than twice that merged.
 *
 * Bounded: at most DIFF_MAX_LINES lines a side, and at most
 * DIFF_MAX_WORK steps of the search (about a second); beyond either the
 * diff is refused with -E2BIG and a message saying so, never computed
 * for minutes.
 *
 * Pure module: no I/O, no logging.
 */
#ifndef CH_DIFF_H
#define CH_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define DIFF_CONTEXT   3
#define DIFF_MAX_LINES 1000000
#define DIFF_MAX_WORK  400000000ull

/* The search bound in force, DIFF_MAX_WORK; only tests lower it. */
extern uint64_t diff_max_work;

/*
 * Append the unified diff from a to b to out; nothing when they are
 * equal. label_a/label_b name them in the header. 0, or -E2BIG (a bound
 * above, or out's own limit) with e saying which.
 */
int diff_unified(const char *a, size_t alen, const char *b, size_t blen,
                 const char *label_a, const char *label_b, struct buf *out,
                 struct err *e);

#endif
