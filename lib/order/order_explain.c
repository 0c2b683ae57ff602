/*
 * order_explain_lines: the table that shows, for one name of a rendered
 * hosts file, which address each node of the fleet would put first (the
 * ordering itself is order.c's).
 */
#include "order/order.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/xmalloc.h"
#include "order/order_priv.h"

/* -- Explain ------------------------------------------------------------ */

/* s with control and non-ASCII bytes as \xNN: names come from Consul. */
static char *printable(const char *a, size_t alen, const char *sep,
                       const char *b, size_t blen)
{
	struct buf out;
	const char *parts[3] = {a, sep, b};
	size_t lens[3] = {alen, sep != NULL ? strlen(sep) : 0, blen};
	size_t p, i;

	buf_init(&out, 0);
	for (p = 0; p < 3; p++) {
		for (i = 0; parts[p] != NULL && i < lens[p]; i++) {
			unsigned char c = (unsigned char)parts[p][i];

			if (c < 0x20 || c >= 0x7f || c == '\\')
				buf_printf(&out, "\\x%02x", c);
			else
				buf_putc(&out, (char)c);
		}
	}
	return buf_take(&out, NULL);
}

static char *item_label(const struct item *it)
{
	if (it->node != NULL)
		return printable(it->node, it->node_len, "/", it->id,
		                 it->id_len);
	return printable(it->id, it->id_len, NULL, NULL, 0);
}

static int width_of(char **labels, size_t n, size_t min)
{
	size_t w = min, i;

	for (i = 0; i < n; i++)
		if (strlen(labels[i]) > w)
			w = strlen(labels[i]);
	return w > 48 ? 48 : (int)w;
}

static int explain_table(enum order_mode mode, const char *key,
                         struct item *items, size_t n, char **fleet,
                         size_t nfleet, const size_t *first, struct buf *out)
{
	char **labels = xcalloc(n, sizeof(*labels));
	char **nodes = xcalloc(nfleet, sizeof(*nodes));
	size_t *count = xcalloc(n, sizeof(*count));
	size_t i, k, max = 0, min = SIZE_MAX;
	double wsum = 0.0;
	char *skey = printable(key, strlen(key), NULL, NULL, 0);
	int rc = 0, lw, nw;

	for (i = 0; i < n; i++) {
		labels[i] = item_label(&items[i]);
		wsum += items[i].weight;
	}
	for (k = 0; k < nfleet; k++) {
		nodes[k] = printable(fleet[k], strlen(fleet[k]), NULL, NULL, 0);
		count[first[k]]++;
	}
	lw = width_of(labels, n, strlen("ADDRESS"));
	nw = width_of(nodes, nfleet, strlen("NODE"));
	rc |= buf_printf(out,
	                 "names:     %s\n"
	                 "mode:      %s\n"
	                 "nodes:     %zu\n"
	                 "addresses: %zu\n"
	                 "hash:      sha256(seed \"\\0\" names \"\\0\" "
	                 "address), first 8 bytes, big-endian\n",
	                 skey, order_mode_name(mode), nfleet, n);
	if (mode == ORDER_RANDOM)
		rc |= buf_puts(out, "note:      random mode: one draw; every "
		                    "render draws again\n");
	rc |= buf_printf(out, "\n%-*s  %s\n", nw, "NODE", "FIRST CHOICE");
	for (k = 0; k < nfleet; k++)
		rc |= buf_printf(out, "%-*s  %s\n", nw, nodes[k],
		                 labels[first[k]]);
	rc |= buf_printf(out, "\n%-*s  %6s  %6s  %6s  %6s\n", lw, "ADDRESS",
	                 "WEIGHT", "FIRST", "SHARE", "IDEAL");
	for (i = 0; i < n; i++) {
		double ideal;

		if (mode == ORDER_NONE)
			ideal = i == 0 ? 1.0 : 0.0;
		else if (mode == ORDER_WEIGHTED && wsum > 0)
			ideal = items[i].weight / wsum;
		else
			ideal = 1.0 / (double)n;
		rc |= buf_printf(out, "%-*s  %6u  %6zu  %5.1f%%  %5.1f%%\n", lw,
		                 labels[i], items[i].weight, count[i],
		                 100.0 * (double)count[i] / (double)nfleet,
		                 100.0 * ideal);
		if (count[i] > max)
			max = count[i];
		if (count[i] < min)
			min = count[i];
	}
	rc |= buf_printf(out, "\nspread: max %zu, min %zu, max - min %zu\n",
	                 max, min, max - min);
	for (i = 0; i < n; i++)
		free(labels[i]);
	for (k = 0; k < nfleet; k++)
		free(nodes[k]);
	free(labels);
	free(nodes);
	free(count);
	free(skey);
	return rc != 0 ? -E2BIG : 0;
}

/* Whether the names "a b c" hold name, whole, or (service) a name
 * "<name>.service.<rest>". */
static bool names_match(const char *names, size_t len, const char *name,
                        bool service)
{
	size_t nlen = strlen(name);

	for (const char *p = names, *end = names + len; p < end;) {
		const char *q = memchr(p, ' ', (size_t)(end - p));
		size_t w;

		q = q != NULL ? q : end;
		w = (size_t)(q - p);
		if (!service && w == nlen && strncasecmp(p, name, nlen) == 0)
			return true;
		if (service && w > nlen + 9 &&
		    strncasecmp(p, name, nlen) == 0 &&
		    strncmp(p + nlen, ".service.", 9) == 0)
			return true;
		p = q + 1;
	}
	return false;
}

/* Explain one group: each fleet node's first choice, then the shares. */
static int explain_group(const struct order *o, const struct hosts_doc *d,
                         const size_t *pos, size_t n, json_t *weights,
                         struct buf *out)
{
	struct item *items = ord_line_items(d, pos, n, weights);
	size_t *first = xcalloc(o->nfleet, sizeof(*first)), len, k;
	const char *names = ord_line_names(d, &d->lines[pos[0]], &len);
	char *key = xstrndup(names, len);
	struct rng r;
	int rc;

	switch (o->mode) {
	case ORDER_BALANCED:
		ord_balanced_assign(items, n, o->fleet, o->nfleet, names, len,
		                    NULL, first);
		break;
	case ORDER_RANDOM:
		ord_rng_init(&r);
		for (k = 0; k < o->nfleet; k++)
			first[k] = (size_t)ord_rng_below(&r, n);
		break;
	case ORDER_NONE:
		break; /* everyone takes the template's first line */
	case ORDER_STABLE:
	case ORDER_WEIGHTED:
		for (k = 0; k < o->nfleet; k++) {
			ord_items_score(items, n, o->mode, o->fleet[k], names,
			                len);
			first[k] = ord_items_best(items, n);
		}
		break;
	}
	rc = explain_table(o->mode, key, items, n, o->fleet, o->nfleet, first,
	                   out);
	free(key);
	free(first);
	free(items);
	return rc;
}

int order_explain_lines(const struct order *o, const struct hosts_doc *d,
                        const char *name, json_t *weights, struct buf *out,
                        struct err *e)
{
	struct groups g;
	size_t *pos = NULL, matched = 0;
	int rc = 0;

	if (o->nfleet == 0)
		return err_msg(e, -EINVAL,
		               "explain: the catalog lists no nodes");
	ord_groups_build(d, &g);
	for (int service = 0; service < 2 && matched == 0 && rc == 0;
	     service++) {
		for (size_t k = 0; k < g.n && rc == 0; k++) {
			size_t len, j = 0;
			const char *names =
			        ord_line_names(d, &d->lines[g.first[k]], &len);

			if (!names_match(names, len, name, service == 1))
				continue;
			pos = xreallocarray(pos, g.count[k], sizeof(*pos));
			for (size_t i = g.first[k]; i != SIZE_MAX;
			     i = g.next[i])
				pos[j++] = i;
			if (matched++ > 0)
				rc = buf_putc(out, '\n');
			if (rc == 0)
				rc = explain_group(o, d, pos, g.count[k],
				                   weights, out);
		}
	}
	free(pos);
	ord_groups_free(&g);
	if (rc < 0)
		return err_msg(e, rc,
		               "explain: the table for \"%s\" is too large",
		               name);
	if (matched == 0)
		return err_msg(
		        e, -ENOENT,
		        "explain: no line of the render carries the name "
		        "\"%s\" (nor \"%s.service.*\")",
		        name, name);
	return 0;
}
