#include "hosts/guard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/strmap.h"
#include "base/xmalloc.h"

void guard_result_init(struct guard_result *res)
{
	memset(res, 0, sizeof(*res));
	buf_init(&res->why, 4096);
	buf_init(&res->reasons, 0);
	buf_init(&res->lines, 0);
}

void guard_window_init(struct guard_window *win)
{
	memset(win, 0, sizeof(*win));
	buf_init(&win->lines, GUARD_WINDOW_KEEP);
}

void guard_window_free(struct guard_window *win)
{
	buf_free(&win->lines);
	memset(win, 0, sizeof(*win));
}

void guard_result_free(struct guard_result *res)
{
	buf_free(&res->why);
	buf_free(&res->reasons);
	buf_free(&res->lines);
	free(res->held);
	memset(res, 0, sizeof(*res));
}

static void guard_result_reset(struct guard_result *res)
{
	buf_reset(&res->why);
	buf_reset(&res->reasons);
	buf_reset(&res->lines);
	res->nheld = 0;
	res->hold_all = false;
	res->old_entries = res->new_entries = res->added = 0;
	res->removed = res->newly_held = res->confirmed = 0;
	res->next_expiry_ms = 0;
}

/* ---- the held mark -------------------------------------------------- */

/* "2026-12-06T11:02:33.123Z": exactly this long. */
#define GUARD_TIME_LEN 24

static void guard_format_time(int64_t ms, char out[GUARD_TIME_LEN + 1])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&secs, &tm) == NULL ||
	    strftime(out, GUARD_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
		snprintf(out, GUARD_TIME_LEN + 1, "1970-01-01T00:00:00");
	unsigned frac = (unsigned)(ms % 1000);

	out[19] = '.';
	out[20] = (char)('0' + frac / 100);
	out[21] = (char)('0' + frac / 10 % 10);
	out[22] = (char)('0' + frac % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

static bool guard_digits(const char *s, size_t n, int *ret)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

static bool guard_parse_time(const char *s, int64_t *ret_ms)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, ms;
	time_t t;

	if (!guard_digits(s, 4, &y) || s[4] != '-' ||
	    !guard_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !guard_digits(s + 8, 2, &d) || s[10] != 'T' ||
	    !guard_digits(s + 11, 2, &h) || s[13] != ':' ||
	    !guard_digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !guard_digits(s + 17, 2, &sec) || s[19] != '.' ||
	    !guard_digits(s + 20, 3, &ms) || s[23] != 'Z')
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	*ret_ms = (int64_t)t * 1000 + ms;
	return true;
}

/*
 * Whether old line i is a held entry: an entry right under a held mark.
 * Sets *ret_since and the reason (borrowed from old's text).
 */
static bool guard_old_held(const struct hosts_doc *old, size_t i,
                           int64_t *ret_since, const char **ret_why,
                           size_t *ret_why_len)
{
	const struct hosts_line *c;
	const char *s;
	size_t mlen = strlen(GUARD_HELD_MARK);

	if (i == 0 || !old->lines[i].entry)
		return false;
	c = &old->lines[i - 1];
	s = old->text.data + c->off;
	if (c->entry || c->len < mlen + GUARD_TIME_LEN ||
	    memcmp(s, GUARD_HELD_MARK, mlen) != 0 ||
	    !guard_parse_time(s + mlen, ret_since))
		return false;
	s += mlen + GUARD_TIME_LEN;
	*ret_why_len = c->len - mlen - GUARD_TIME_LEN;
	if (*ret_why_len >= 2 && s[0] == ':' && s[1] == ' ') {
		s += 2;
		*ret_why_len -= 2;
	}
	*ret_why = s;
	return true;
}

/* ---- deciding ------------------------------------------------------- */

static const char *guard_key(const struct hosts_doc *d,
                             const struct hosts_line *l)
{
	return d->keys + l->key;
}

/*
 * Where each line of old is in new (in_new) and each line of new in old
 * (in_old), -1 for none: computed once per decision. exact: by looking
 * every key up, so a key repeated in a text doc finds its first line, as
 * hosts_doc_find() does; else hosts_doc_match() (hosts docs: one line per
 * key), which compares a render with the last one where they line up.
 */
struct guard_match {
	long *in_new, *in_old;
};

static void guard_match_make(struct guard_match *m, const struct hosts_doc *old,
                             const struct hosts_doc *new, bool exact)
{
	m->in_new = xreallocarray(NULL, old->nlines ? old->nlines : 1,
	                          sizeof(*m->in_new));
	m->in_old = xreallocarray(NULL, new->nlines ? new->nlines : 1,
	                          sizeof(*m->in_old));
	if (!exact) {
		hosts_doc_match(old, new, m->in_new);
		hosts_doc_match(new, old, m->in_old);
		return;
	}
	for (size_t i = 0; i < old->nlines; i++) {
		const struct hosts_line *l = &old->lines[i];

		m->in_new[i] = l->entry ? hosts_doc_find(new, guard_key(old, l),
		                                         l->key_len)
		                        : -1;
	}
	for (size_t i = 0; i < new->nlines; i++) {
		const struct hosts_line *l = &new->lines[i];

		m->in_old[i] = l->entry ? hosts_doc_find(old, guard_key(new, l),
		                                         l->key_len)
		                        : -1;
	}
}

static void guard_match_free(struct guard_match *m)
{
	free(m->in_new);
	free(m->in_old);
}

/* Count the entries the guard weighs: res->old_entries, new_entries,
 * added, removed. A static line of new never counts. */
static void guard_count(const struct hosts_doc *old,
                        const struct hosts_doc *new,
                        const struct guard_match *m, struct guard_result *res)
{
	for (size_t i = 0; i < new->nlines; i++) {
		const struct hosts_line *l = &new->lines[i];

		if (!l->entry || !l->dynamic)
			continue;
		res->new_entries++;
		if (m->in_old[i] < 0)
			res->added++;
	}
	for (size_t i = 0; i < old->nlines; i++) {
		long j = m->in_new[i];

		if (!old->lines[i].entry || (j >= 0 && !new->lines[j].dynamic))
			continue;
		res->old_entries++;
		if (j < 0)
			res->removed++;
	}
}

/* Open a new window when the last one is over. */
static void guard_window_open(struct guard_window *win, int64_t now_ms,
                              size_t entries)
{
	if (win->start_ms != 0 && now_ms - win->start_ms <= GUARD_WINDOW_MS &&
	    now_ms >= win->start_ms) {
		if (entries > win->base)
			win->base = entries;
		return;
	}
	win->start_ms = now_ms;
	win->base = entries;
	win->removed = 0;
	buf_reset(&win->lines);
}

/*
 * Whether the removals of this render, with those published in the
 * window, are a mass disappearance (more than shrink of the entries);
 * says so in res->why.
 */
static bool guard_mass(const struct guard_conf *gc,
                       const struct guard_window *win, struct guard_result *res)
{
	size_t o = res->old_entries, gone = res->removed;

	if (win != NULL) {
		gone += win->removed;
		o = win->base > o ? win->base : o;
	}
	if (gc->shrink <= 0 || res->removed == 0 ||
	    (double)gone <= gc->shrink * (double)o)
		return false;
	if (win != NULL && win->removed > 0)
		buf_printf(&res->why,
		           "%zu of the %zu Consul entries are removed within "
		           "%d s (more than %.0f%%: guard { shrink })",
		           gone, o, GUARD_WINDOW_MS / 1000, gc->shrink * 100);
	else
		buf_printf(&res->why,
		           "the render removes %zu of the %zu Consul entries "
		           "(more than %.0f%%: guard { shrink })",
		           gone, o, gc->shrink * 100);
	return true;
}

static void guard_why_suspect(struct guard_result *res, const char *suspect)
{
	buf_printf(&res->why, "%sa Consul answer is suspect: %s",
	           res->why.len > 0 ? "; " : "", suspect);
}

/* Name counts of new's entries (for service_drop); keys borrowed. */
static void guard_count_names(const struct hosts_doc *new, struct strmap *names)
{
	for (size_t i = 0; i < new->nlines; i++) {
		const struct hosts_line *l = &new->lines[i];
		const char *k = guard_key(new, l), *end = k + l->key_len;
		const char *p = k + l->addr_len;

		while (l->entry && p < end) {
			const char *q;
			struct strmap_slot *s;
			bool fresh;

			p++;
			q = memchr(p, ' ', (size_t)(end - p));
			if (q == NULL)
				q = end;
			s = strmap_put(names, p, (size_t)(q - p), 1, &fresh);
			if (!fresh)
				s->value++;
			p = q;
		}
	}
}

/* The first name of old entry l that new has no entry for, or NULL. */
static const char *guard_dropped_name(const struct hosts_doc *old,
                                      const struct hosts_line *l,
                                      const struct strmap *names,
                                      size_t *ret_len)
{
	const char *k = guard_key(old, l), *end = k + l->key_len;
	const char *p = k + l->addr_len;

	while (p < end) {
		const char *q;

		p++;
		q = memchr(p, ' ', (size_t)(end - p));
		if (q == NULL)
			q = end;
		if (!strmap_get(names, p, (size_t)(q - p), NULL)) {
			*ret_len = (size_t)(q - p);
			return p;
		}
		p = q;
	}
	return NULL;
}

static void guard_hold(struct guard_result *res, const char *line, size_t len,
                       int64_t since, uint64_t hold_ms, const char *why,
                       size_t why_len)
{
	struct guard_held *h;
	int64_t expiry = since + (int64_t)hold_ms;

	if (res->nheld == res->cap) {
		res->cap = res->cap != 0 ? res->cap * 2 : 16;
		res->held =
		        xreallocarray(res->held, res->cap, sizeof(*res->held));
	}
	h = &res->held[res->nheld++];
	h->text = res->lines.len;
	h->len = len;
	(void)buf_append(&res->lines, line, len);
	h->since_ms = since;
	h->why = res->reasons.len;
	h->why_len = why_len;
	(void)buf_append(&res->reasons, why, why_len);
	if (res->next_expiry_ms == 0 || expiry < res->next_expiry_ms)
		res->next_expiry_ms = expiry;
}

/* Remember the removals this decision lets out, for a later part of the
 * same event (GUARD_WINDOW_KEEP bounds what is remembered). */
static void guard_window_note(struct guard_window *win,
                              const struct hosts_doc *old,
                              const struct guard_match *m,
                              const struct guard_result *res)
{
	win->removed += res->removed - res->nheld;
	for (size_t i = 0; i < old->nlines; i++) {
		const struct hosts_line *l = &old->lines[i];
		int64_t since;
		const char *why;
		size_t why_len;

		if (!l->entry || m->in_new[i] >= 0 ||
		    guard_old_held(old, i, &since, &why, &why_len))
			continue;
		if (buf_append(&win->lines, old->text.data + l->off, l->len) <
		            0 ||
		    buf_putc(&win->lines, '\n') < 0)
			return; /* full: the rest is not put back */
	}
}

/*
 * A mass disappearance: what earlier parts of it let out (and is still
 * absent) is held again, with the rest. Each line of the window is
 * checked as an entry so its key can be looked up.
 */
static void guard_window_restore(struct guard_window *win,
                                 const struct hosts_doc *old,
                                 const struct hosts_doc *new, int64_t now_ms,
                                 uint64_t hold_ms, struct guard_result *res)
{
	struct hosts_doc gone;

	if (win->lines.len == 0 || hold_ms == 0)
		return;
	hosts_doc_init(&gone, 0);
	if (hosts_doc_check(&gone, win->lines.data, win->lines.len, true,
	                    NULL) == 0) {
		for (size_t i = 0; i < gone.nlines; i++) {
			const struct hosts_line *l = &gone.lines[i];
			const char *k = gone.keys + l->key;

			if (!l->entry ||
			    hosts_doc_find(new, k, l->key_len) >= 0 ||
			    hosts_doc_find(old, k, l->key_len) >= 0)
				continue;
			guard_hold(res, gone.text.data + l->off, l->len, now_ms,
			           hold_ms, res->why.data, res->why.len);
			res->newly_held++;
		}
	}
	hosts_doc_free(&gone);
	buf_reset(&win->lines);
}

void guard_decide(const struct guard_conf *gc, struct guard_window *win,
                  const struct hosts_doc *old, const struct hosts_doc *new,
                  const char *suspect, int64_t now_ms, struct guard_result *res)
{
	struct guard_match m;
	struct strmap names;
	struct buf one;
	bool anomaly, mass;
	const char *drop = NULL; /* a name service_drop holds the last of */
	size_t drop_len = 0, drops = 0;

	guard_result_reset(res);
	guard_match_make(&m, old, new, false);
	guard_count(old, new, &m, res);
	if (!gc->enabled) {
		guard_match_free(&m);
		return;
	}
	if (res->new_entries == 0) {
		res->hold_all = true;
		buf_printf(
		        &res->why,
		        "the render has no entry from Consul data (a "
		        "restore to an empty catalog? an agent that lost its "
		        "state?); such a render is never published while "
		        "guards are on (guard { enabled = false } turns them "
		        "off)");
		guard_match_free(&m);
		return;
	}
	if (win != NULL)
		guard_window_open(win, now_ms, res->old_entries);
	anomaly = mass = guard_mass(gc, win, res);
	if (suspect != NULL) {
		guard_why_suspect(res, suspect);
		anomaly = true;
	}
	strmap_init(&names);
	if (gc->service_drop && res->removed > 0)
		guard_count_names(new, &names);
	buf_init(&one, 0);
	for (size_t i = 0; i < old->nlines; i++) {
		const struct hosts_line *l = &old->lines[i];
		const char *why = NULL, *name = NULL;
		size_t why_len = 0, name_len = 0;
		int64_t since = now_ms;
		bool held;

		if (!l->entry || m.in_new[i] >= 0)
			continue;
		held = guard_old_held(old, i, &since, &why, &why_len);
		if (since > now_ms)
			since = now_ms; /* the clock went back */
		if (gc->service_drop)
			name = guard_dropped_name(old, l, &names, &name_len);
		if (gc->hold_ms == 0 ||
		    (held && now_ms - since >= (int64_t)gc->hold_ms) ||
		    (!anomaly && name == NULL)) {
			/* Confirmed: by time, or by a render without an
			 * anomaly; or a plain removal, published at once. */
			if (held)
				res->confirmed++;
			continue;
		}
		if (!held && name != NULL && !anomaly && drops++ == 0) {
			drop = name;
			drop_len = name_len;
		}
		if (!held) {
			buf_reset(&one);
			buf_append(&one, res->why.data, res->why.len);
			if (name != NULL)
				buf_printf(&one,
				           "%s%.*s would have no entry left "
				           "(guard { service_drop })",
				           one.len > 0 ? "; " : "",
				           (int)name_len, name);
			why = buf_str(&one);
			why_len = one.len;
			res->newly_held++;
		}
		guard_hold(res, old->text.data + l->off, l->len, since,
		           gc->hold_ms, why, why_len);
	}
	if (mass && win != NULL)
		guard_window_restore(win, old, new, now_ms, gc->hold_ms, res);
	else if (win != NULL)
		guard_window_note(win, old, &m, res);
	buf_free(&one);
	/* res->why says why this render holds: service_drop alone too. */
	if (drops == 1)
		buf_printf(&res->why,
		           "%.*s would have no entry left (guard { "
		           "service_drop })",
		           (int)drop_len, drop);
	else if (drops > 1)
		buf_printf(&res->why,
		           "%zu removals would leave a name with no entry, "
		           "%.*s first (guard { service_drop })",
		           drops, (int)drop_len, drop);
	strmap_free(&names);
	guard_match_free(&m);
}

/* Append s[0..len) with anything but printable ASCII made a blank. */
static int guard_append_line(struct buf *out, const char *s, size_t len)
{
	int r = 0;

	for (size_t i = 0; i < len && r == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		r = buf_putc(out, c >= ' ' && c < 0x7f ? (char)c : ' ');
	}
	return r;
}

int guard_append_held(const struct guard_result *res, struct buf *out)
{
	char when[GUARD_TIME_LEN + 1];
	int r = 0;

	if (res->nheld > 0 && out->len > 0 && out->data[out->len - 1] != '\n')
		r = buf_putc(out, '\n');
	for (size_t i = 0; i < res->nheld && r == 0; i++) {
		const struct guard_held *h = &res->held[i];

		guard_format_time(h->since_ms, when);
		r = buf_printf(out, "%s%s: ", GUARD_HELD_MARK, when);
		if (r == 0)
			r = guard_append_line(out, res->reasons.data + h->why,
			                      h->why_len);
		if (r == 0)
			r = buf_putc(out, '\n');
		if (r == 0)
			r = buf_append(out, res->lines.data + h->text, h->len);
		if (r == 0)
			r = buf_putc(out, '\n');
	}
	return r;
}

bool guard_text(const struct guard_conf *gc, const struct hosts_doc *old,
                const struct hosts_doc *new, const char *suspect,
                int64_t now_ms, int64_t held_since_ms, int64_t *ret_since,
                struct guard_result *res)
{
	int64_t since = held_since_ms != 0 ? held_since_ms : now_ms;
	struct guard_match m;
	bool anomaly;

	guard_result_reset(res);
	guard_match_make(&m, old, new, true);
	guard_count(old, new, &m, res);
	guard_match_free(&m);
	*ret_since = 0;
	if (!gc->enabled)
		return false;
	if (res->new_entries == 0) {
		res->hold_all = true;
		buf_printf(&res->why,
		           "the render has no line from Consul data; such a "
		           "render is never published while guards are on "
		           "(guard { enabled = false } turns them off)");
		return true;
	}
	anomaly = guard_mass(gc, NULL, res);
	if (suspect != NULL && res->removed > 0) {
		guard_why_suspect(res, suspect);
		anomaly = true;
	}
	if (!anomaly || gc->hold_ms == 0 ||
	    now_ms - since >= (int64_t)gc->hold_ms)
		return false;
	*ret_since = since;
	res->next_expiry_ms = since + (int64_t)gc->hold_ms;
	return true;
}
