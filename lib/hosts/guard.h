/*
 * Guards: what of a render is published now and what is held back.
 *
 * Failover first. An ordinary change (an instance or a node removed, an
 * address changed, a service failed over) is published at once. Guards
 * hold only anomalies, and a hold delays only what it holds:
 *
 *  - a render with no Consul-derived entry at all is never published
 *    while guards are on (a restore to an empty cluster, an agent that
 *    lost its state), the first publish included: hold_all;
 *  - removals are held when more than shrink of the Consul-derived
 *    entries published are removed within GUARD_WINDOW_MS (a mass
 *    disappearance, however many answers it comes in: removed entries
 *    count, so a mass renumbering counts too), when any answer
 *    it was built from is suspect (watch.h: no known leader, index gone
 *    backwards, too stale), and, with service_drop, when a name loses its
 *    last entry;
 *  - everything else is published at once: additions always, removals
 *    from healthy answers within shrink. An address change is a removal
 *    and an addition: the new address is published at once, the old one
 *    is held only when its removal is.
 *
 * A held removal stays in the published file, after the rendered lines,
 * under a comment with the time it was first held and why:
 *
 *   # consul-hosts: held since 2026-12-06T11:02:33.123Z: Consul has no known
 * leader 192.0.2.12 foo-app02
 *
 * so the hold survives a SIGHUP, a restart and -once runs, and an operator
 * reading the file sees why the line is there. Each held entry ages on its
 * own: it is dropped once it has been held for hold_ms, whatever changed
 * meanwhile (churn cannot starve it), or earlier when a render without an
 * anomaly still lacks it (a healthy answer confirmed the removal). Nothing
 * is dropped while a render has no entries at all.
 *
 * What counts: entries (address lines) that come from Consul data, that is
 * lines the template printed through an action or inside a range, if or
 * with (hosts_line.dynamic, from tmpl_spans); never its static lines. In
 * the published file every entry counts but those the new render prints
 * as static lines. An entry is identified by its key (address and names).
 *
 * Whole-text guard, for outputs that are not hosts files (format "text"):
 * lines instead of entries, and a hold holds the whole render, since no
 * line of an arbitrary file can be kept alone (guard_text).
 *
 * Pure module: no I/O, no logging; times are wall-clock milliseconds.
 */
#ifndef CH_GUARD_H
#define CH_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "hosts/hosts.h"

/* The comment line above a held entry starts with this. */
#define GUARD_HELD_MARK "# consul-hosts: held since "

struct guard_conf {
	bool enabled;      /* false: everything is published as it comes */
	double shrink;     /* hold removals of more than this share; 0: off */
	bool service_drop; /* hold the removal of a name's last entry */
	uint64_t hold_ms;  /* a held removal is confirmed after this long */
};

/*
 * Removals published in the last GUARD_WINDOW_MS, kept by the caller
 * between renders: one event that Consul answers in parts (the node list
 * and each service answer apart, milliseconds from each other) is weighed
 * as a whole against shrink, not render by render, and when the whole
 * turns out to be a mass disappearance, the entries its first parts let
 * out are put back, held, with the rest (at most GUARD_WINDOW_KEEP bytes
 * of them are remembered).
 */
#define GUARD_WINDOW_MS   5000
#define GUARD_WINDOW_KEEP (1024 * 1024)

struct guard_window {
	int64_t start_ms; /* 0: none open */
	size_t base;      /* the most Consul entries published in it */
	size_t removed;   /* removals published since */
	struct buf lines; /* those removed entries' lines, '\n' after each */
};

void guard_window_init(struct guard_window *win);
void guard_window_free(struct guard_window *win);

struct guard_held {
	size_t text; /* its line: offset in guard_result.lines */
	size_t len;
	int64_t since_ms; /* when it was first held */
	size_t why;       /* its reason: offset in guard_result.reasons */
	size_t why_len;
};

struct guard_result {
	bool hold_all;      /* publish nothing: the render has no entries */
	struct buf why;     /* why removals are held by this render, or "" */
	struct buf reasons; /* the reasons of held entries, back to back */
	struct buf lines;   /* the held entries' lines, back to back */
	struct guard_held *held; /* held entries: the old file's order, then
	                            those the window puts back */
	size_t nheld, cap;
	size_t old_entries;     /* Consul-derived entries published before */
	size_t new_entries;     /* Consul-derived entries of the render */
	size_t added;           /* entries of the render not published before */
	size_t removed;         /* entries published before, gone now */
	size_t newly_held;      /* of the removed, held for the first time */
	size_t confirmed;       /* held before, dropped now */
	int64_t next_expiry_ms; /* the earliest since + hold_ms; 0: none held */
};

void guard_result_init(struct guard_result *res);
void guard_result_free(struct guard_result *res);

/*
 * Decide for the render new (its lines' dynamic flags set) against old,
 * the content published now (held entries included, with their marks).
 * suspect: why an answer the render was built from is suspect, or NULL.
 * win (may be NULL) is updated with the removals this decision lets out.
 */
void guard_decide(const struct guard_conf *gc, struct guard_window *win,
                  const struct hosts_doc *old, const struct hosts_doc *new,
                  const char *suspect, int64_t now_ms,
                  struct guard_result *res);

/* Append the held entries with their comment lines. 0 or -E2BIG. */
int guard_append_held(const struct guard_result *res, struct buf *out);

/*
 * The whole-text guard, for docs read with hosts_doc_lines(): the same
 * rules by line, but a hold holds the whole render. held_since_ms is when
 * the current hold began (0: none); a held render is confirmed hold_ms
 * after that. Returns true when the render is held (res->why says why, and
 * res->hold_all when it has no data at all); *ret_since is then when the
 * hold began.
 */
bool guard_text(const struct guard_conf *gc, const struct hosts_doc *old,
                const struct hosts_doc *new, const char *suspect,
                int64_t now_ms, int64_t held_since_ms, int64_t *ret_since,
                struct guard_result *res);

#endif
