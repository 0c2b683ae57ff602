/*
 * Unified diffs: Myers' "An O(ND) Difference Algorithm and Its
 * Variations" (1986), section 4b, the linear-space refinement: find the
 * middle snake of a shortest edit script by searching forward from the
 * start and backward from the end at once, split there, recurse. Lines
 * are compared as integers (each distinct line interned once).
 */
#include "publish/diff.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/strmap.h"
#include "base/xmalloc.h"

uint64_t diff_max_work = DIFF_MAX_WORK;

/* One line: its text with its newline, if it has one. */
struct dline {
	const char *s;
	size_t len;
};

struct dside {
	struct dline *v;
	long n;
	uint32_t *id;
	bool *changed; /* deleted (a) or inserted (b) */
};

struct dsearch {
	const uint32_t *a, *b;
	bool *del, *ins;
	long *fd, *bd; /* furthest x per diagonal k = x - y, offset */
	uint64_t work;
};

/* A run of changed lines: a[a, a + an) replaced by b[b, b + bn). */
struct dchange {
	long a, an, b, bn;
};

static int diff_split(const char *s, size_t len, struct dside *d, struct err *e,
                      const char *label)
{
	size_t n = 0, cap = 0;

	d->v = NULL;
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - s) + 1 : len;

		if (n == DIFF_MAX_LINES) {
			free(d->v);
			d->v = NULL;
			return err_msg(
			        e, -E2BIG,
			        "%s has more than %d lines: too many to "
			        "diff here; compare the files with diff(1)",
			        label, DIFF_MAX_LINES);
		}
		if (n == cap) {
			cap = cap != 0 ? cap * 2 : 256;
			d->v = xreallocarray(d->v, cap, sizeof(*d->v));
		}
		d->v[n].s = s + i;
		d->v[n].len = end - i;
		n++;
		i = end;
	}
	d->n = (long)n;
	return 0;
}

static void diff_intern(struct strmap *m, struct dside *d)
{
	d->id = xreallocarray(NULL, d->n > 0 ? (size_t)d->n : 1,
	                      sizeof(*d->id));
	d->changed = xcalloc(d->n > 0 ? (size_t)d->n : 1, sizeof(*d->changed));
	for (long i = 0; i < d->n; i++) {
		struct strmap_slot *s = strmap_put(m, d->v[i].s, d->v[i].len,
		                                   (uint32_t)m->count, NULL);
		d->id[i] = s->value;
	}
}

/*
 * The middle snake of a[xoff, xlim) against b[yoff, ylim), both non-empty
 * and with no common head or tail: a point (*rx, *ry) on a shortest edit
 * path, reached from both ends at about half its cost.
 */
static int diff_middle(struct dsearch *s, long xoff, long xlim, long yoff,
                       long ylim, long *rx, long *ry)
{
	const uint32_t *a = s->a, *b = s->b;
	long *fd = s->fd, *bd = s->bd;
	long dmin = xoff - ylim, dmax = xlim - yoff;
	long fmid = xoff - yoff, bmid = xlim - ylim;
	long fmin = fmid, fmax = fmid, bmin = bmid, bmax = bmid;
	bool odd = ((fmid - bmid) & 1) != 0;

	fd[fmid] = xoff;
	bd[bmid] = xlim;
	for (;;) {
		/* One more edit forward: diagonals fmin..fmax, step 2. */
		if (fmin > dmin)
			fd[--fmin - 1] = -1;
		else
			++fmin;
		if (fmax < dmax)
			fd[++fmax + 1] = -1;
		else
			--fmax;
		for (long k = fmax; k >= fmin; k -= 2) {
			long lo = fd[k - 1], hi = fd[k + 1];
			long x = lo >= hi ? lo + 1 : hi, y = x - k;

			while (x < xlim && y < ylim && a[x] == b[y]) {
				x++;
				y++;
			}
			s->work += (uint64_t)(x - (lo >= hi ? lo + 1 : hi)) + 1;
			fd[k] = x;
			if (odd && bmin <= k && k <= bmax && bd[k] <= x) {
				*rx = x;
				*ry = y;
				return 0;
			}
		}
		/* One more edit backward. */
		if (bmin > dmin)
			bd[--bmin - 1] = LONG_MAX;
		else
			++bmin;
		if (bmax < dmax)
			bd[++bmax + 1] = LONG_MAX;
		else
			--bmax;
		for (long k = bmax; k >= bmin; k -= 2) {
			long lo = bd[k - 1], hi = bd[k + 1];
			long x = lo < hi ? lo : hi - 1, y = x - k;

			while (x > xoff && y > yoff && a[x - 1] == b[y - 1]) {
				x--;
				y--;
			}
			s->work += (uint64_t)((lo < hi ? lo : hi - 1) - x) + 1;
			bd[k] = x;
			if (!odd && fmin <= k && k <= fmax && x <= fd[k]) {
				*rx = x;
				*ry = y;
				return 0;
			}
		}
		if (s->work > diff_max_work)
			return -E2BIG;
	}
}

/* Mark the lines a shortest edit script deletes from a[xoff, xlim) and
 * inserts from b[yoff, ylim). */
static int diff_compare(struct dsearch *s, long xoff, long xlim, long yoff,
                        long ylim)
{
	long xmid, ymid;
	int r;

	while (xoff < xlim && yoff < ylim && s->a[xoff] == s->b[yoff]) {
		xoff++;
		yoff++;
	}
	while (xlim > xoff && ylim > yoff && s->a[xlim - 1] == s->b[ylim - 1]) {
		xlim--;
		ylim--;
	}
	if (xoff == xlim) {
		for (; yoff < ylim; yoff++)
			s->ins[yoff] = true;
		return 0;
	}
	if (yoff == ylim) {
		for (; xoff < xlim; xoff++)
			s->del[xoff] = true;
		return 0;
	}
	r = diff_middle(s, xoff, xlim, yoff, ylim, &xmid, &ymid);
	if (r == 0)
		r = diff_compare(s, xoff, xmid, yoff, ymid);
	if (r == 0)
		r = diff_compare(s, xmid, xlim, ymid, ylim);
	return r;
}

/* The runs of changes, in order; how many in *ret_n. */
static struct dchange *diff_changes(const struct dside *a,
                                    const struct dside *b, size_t *ret_n)
{
	struct dchange *v = NULL;
	size_t n = 0, cap = 0;
	long i = 0, j = 0;

	while (i < a->n || j < b->n) {
		struct dchange c;

		if (i < a->n && j < b->n && !a->changed[i] && !b->changed[j]) {
			i++;
			j++;
			continue;
		}
		c.a = i;
		c.b = j;
		while (i < a->n && a->changed[i])
			i++;
		while (j < b->n && b->changed[j])
			j++;
		if (i == c.a && j == c.b) {
			/* Cannot happen with a consistent script: the
			 * unchanged lines pair up. Take the rest as changed
			 * rather than loop. */
			i = a->n;
			j = b->n;
		}
		c.an = i - c.a;
		c.bn = j - c.b;
		if (n == cap) {
			cap = cap != 0 ? cap * 2 : 16;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n++] = c;
	}
	*ret_n = n;
	return v;
}

static int diff_line(struct buf *out, char mark, const struct dline *l)
{
	bool nl = l->len > 0 && l->s[l->len - 1] == '\n';
	int r = buf_putc(out, mark);

	if (r == 0)
		r = buf_append(out, l->s, nl ? l->len - 1 : l->len);
	if (r == 0)
		r = buf_putc(out, '\n');
	if (r == 0 && !nl)
		r = buf_puts(out, "\\ No newline at end of file\n");
	return r;
}

/* diff -u's range: "l" for one line, "l,0" (the line before) for none. */
static int diff_range(struct buf *out, char sign, long start, long count)
{
	if (count == 1)
		return buf_printf(out, "%c%ld", sign, start + 1);
	if (count == 0)
		return buf_printf(out, "%c%ld,0", sign, start);
	return buf_printf(out, "%c%ld,%ld", sign, start + 1, count);
}

/* Hunks for changes c[0, n). */
static int diff_hunks(const struct dside *a, const struct dside *b,
                      const struct dchange *c, size_t n, struct buf *out)
{
	int r = 0;

	for (size_t g = 0; g < n && r == 0;) {
		size_t last = g;
		long as, ae, bs, be, pa, pb;

		while (last + 1 < n &&
		       c[last + 1].a - (c[last].a + c[last].an) <=
		               2 * DIFF_CONTEXT)
			last++;
		as = c[g].a > DIFF_CONTEXT ? c[g].a - DIFF_CONTEXT : 0;
		bs = c[g].b - (c[g].a - as);
		ae = c[last].a + c[last].an + DIFF_CONTEXT;
		if (ae > a->n)
			ae = a->n;
		be = c[last].b + c[last].bn + (ae - (c[last].a + c[last].an));
		r = buf_puts(out, "@@ ");
		if (r == 0)
			r = diff_range(out, '-', as, ae - as);
		if (r == 0)
			r = buf_putc(out, ' ');
		if (r == 0)
			r = diff_range(out, '+', bs, be - bs);
		if (r == 0)
			r = buf_puts(out, " @@\n");
		pa = as;
		pb = bs;
		for (size_t k = g; k <= last && r == 0; k++) {
			for (; pa < c[k].a && r == 0; pa++, pb++)
				r = diff_line(out, ' ', &a->v[pa]);
			for (; pa < c[k].a + c[k].an && r == 0; pa++)
				r = diff_line(out, '-', &a->v[pa]);
			for (; pb < c[k].b + c[k].bn && r == 0; pb++)
				r = diff_line(out, '+', &b->v[pb]);
		}
		for (; pa < ae && r == 0; pa++)
			r = diff_line(out, ' ', &a->v[pa]);
		g = last + 1;
	}
	return r;
}

int diff_unified(const char *a, size_t alen, const char *b, size_t blen,
                 const char *label_a, const char *label_b, struct buf *out,
                 struct err *e)
{
	struct dside sa = {0}, sb = {0};
	struct dsearch s = {0};
	struct dchange *changes = NULL;
	struct strmap lines;
	size_t nchanges = 0, diags;
	int r;

	if (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0))
		return 0;
	r = diff_split(a, alen, &sa, e, label_a);
	if (r == 0)
		r = diff_split(b, blen, &sb, e, label_b);
	if (r < 0) {
		free(sa.v);
		return r;
	}
	strmap_init(&lines);
	diff_intern(&lines, &sa);
	diff_intern(&lines, &sb);
	strmap_free(&lines);

	/* Diagonals k = x - y from -(m + 1) to n + 1. */
	diags = (size_t)sa.n + (size_t)sb.n + 3;
	s.a = sa.id;
	s.b = sb.id;
	s.del = sa.changed;
	s.ins = sb.changed;
	s.fd = xreallocarray(NULL, diags, sizeof(*s.fd));
	s.bd = xreallocarray(NULL, diags, sizeof(*s.bd));
	s.fd += sb.n + 1;
	s.bd += sb.n + 1;
	r = diff_compare(&s, 0, sa.n, 0, sb.n);
	free(s.fd - (sb.n + 1));
	free(s.bd - (sb.n + 1));
	if (r < 0) {
		err_msg(e, r,
		        "%s and %s differ too much to diff here (more than "
		        "%llu search steps); compare the files with diff(1)",
		        label_a, label_b, (unsigned long long)diff_max_work);
		goto out;
	}
	changes = diff_changes(&sa, &sb, &nchanges);
	r = buf_printf(out, "--- %s\n+++ %s\n", label_a, label_b);
	if (r == 0)
		r = diff_hunks(&sa, &sb, changes, nchanges, out);
	if (r < 0)
		err_msg(e, r, "the diff is larger than %zu bytes", out->max);
out:
	free(changes);
	free(sa.v);
	free(sa.id);
	free(sa.changed);
	free(sb.v);
	free(sb.id);
	free(sb.changed);
	return r;
}
