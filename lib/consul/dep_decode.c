/*
 * Dependencies, part two: the decoders that turn Consul's answers into
 * template values (a dep's identity is deps.c's).
 *
 * Decoders read the answer with jdoc.h (a flat parse, freed at once) and
 * build consul-template's structs as compact records (crec.h: every
 * field present, zero values where Consul sent nothing), dropping
 * records that could inject into a hosts file, one message per record in
 * dropped.
 * No string they return holds a control byte (no line break, no NUL), KV
 * values excepted (operator-written bytes, left to the hosts check):
 * identifying fields (names, IDs, addresses, KV keys) with one drop their
 * record; free text (a check's Output, Notes, Name) has them turned into
 * spaces; tags are kept verbatim (blanks, '#', backquotes: they are data,
 * and a tag printed into a line is checked with it), except that one with
 * a control byte is left out of its list, reported, and the record stays.
 * Meta values are free text too (Consul accepts a tab or a newline in
 * them): control bytes become spaces; a Meta key with one is left out,
 * reported, and the record stays. Records whose names are reserved
 * (struct dep_names) are dropped.
 *
 * Records are consul-template's structs (trecord.h), each field of the Go
 * struct set, in the schema's order (the HS_, HC_, ... enums below,
 * checked against trecord.c once).
 *
 * Map:
 *   reserved names     dep_name_reserved (the names a record may not take)
 *   shared             drop messages, jdoc readers, field checks
 *   sorting            items sorted as consul-template sorts
 *   maps, tags, checks string maps, tagged addresses, tags, health_fold
 *                      (Consul's AggregatedStatus), checks and filters
 *   records            nodes, services, health, node, datacenters, KV,
 *                      agent/self; dep_decode / dep_decode_names
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/xmalloc.h"
#include "consul/crec.h"
#include "consul/dep_priv.h"
#include "consul/deps.h"
#include "consul/jdoc.h"
#include "consul/trecord.h"
#include "hosts/hosts.h"

/* Bytes of a response body: config's largest max_response_size. */
#define DEP_MAX_BODY    (1024u << 20)
#define DEP_MAX_DROPPED 1000 /* messages appended per decode */

/* --- reserved names ---------------------------------------------------- */

const char *const dep_loopback_names[] = {
        "localhost",
        "*.localhost",
        "localhost.localdomain",
        "localhost4",
        "localhost4.localdomain4",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "ip6-loopback",
        "ip6-localnet",
        "ip6-mcastprefix",
        "ip6-allnodes",
        "ip6-allrouters",
        "ip6-allhosts",
        "broadcasthost",
        NULL,
};

/* name[0..len) is entry: equal, or under "*.domain"; no case, final dot. */
static bool name_matches(const char *entry, const char *name, size_t len)
{
	size_t elen = strlen(entry);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (elen > 0 && entry[elen - 1] == '.')
		elen--;
	if (elen > 2 && entry[0] == '*' && entry[1] == '.') {
		size_t dlen = elen - 1; /* ".domain" */

		return len > dlen &&
		       strncasecmp(name + len - dlen, entry + 1, dlen) == 0;
	}
	return len == elen && strncasecmp(name, entry, len) == 0;
}

static int addr_parse(const char *s, unsigned char out[16])
{
	if (inet_pton(AF_INET, s, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, out) == 1)
		return AF_INET6;
	return 0;
}

static bool addr_is_own(const struct dep_names *n, const char *addr)
{
	unsigned char a[16], b[16];
	int fa;

	if (addr == NULL || n->own_addrs == NULL ||
	    (fa = addr_parse(addr, a)) == 0)
		return false;
	for (const char *const *o = n->own_addrs; *o != NULL; o++)
		if (addr_parse(*o, b) == fa &&
		    memcmp(a, b, fa == AF_INET ? 4 : 16) == 0)
			return true;
	return false;
}

const char *dep_name_reserved(const struct dep_names *names, const char *name,
                              size_t len, const char *addr)
{
	const char *const *l;

	if (names == NULL)
		return NULL;
	for (l = names->reserved; l != NULL && *l != NULL; l++)
		if (name_matches(*l, name, len))
			return *l;
	for (l = names->own; l != NULL && *l != NULL; l++)
		if (name_matches(*l, name, len))
			return addr_is_own(names, addr) ? NULL : *l;
	return NULL;
}

/* Whether entry is one of list's own pointers. */
static bool entry_of(const char *const *list, const char *entry)
{
	for (; list != NULL && *list != NULL; list++)
		if (*list == entry)
			return true;
	return false;
}

/* --- decoding: what every decoder shares -------------------------------- */

/* A string of the parsed answer (NUL-terminated, may hold NULs). */
struct jstr {
	const char *s;
	size_t n;
};

static const struct jstr jstr_empty = {"", 0};

/* One decode: the parsed answer, the records being built, the drops. */
struct dec {
	const struct dep *d;
	const struct jdoc *doc;
	struct crec_builder *b;
	json_t *dropped; /* may be NULL */
	size_t ndropped;
	const struct dep_names *names; /* may be NULL */
	struct buf scratch;
};

/*
 * Whose record a message is about, formatted only when something is
 * dropped: node "n"; service "s"; service "s" instance "i" on node "n";
 * then, for a check, ": check "c"".
 */
enum who_kind { WHO_NODE, WHO_SERVICE, WHO_INSTANCE };

struct who {
	enum who_kind kind;
	struct jstr name, id, node, check;
	bool is_check;
};

static void who_put(struct buf *b, const struct who *w)
{
	char *q1 = NULL, *q2 = NULL, *q3 = NULL;

	switch (w->kind) {
	case WHO_NODE:
		q1 = dep_quote(w->node.s, w->node.n);
		buf_printf(b, "node %s", q1);
		break;
	case WHO_SERVICE:
		q1 = dep_quote(w->name.s, w->name.n);
		buf_printf(b, "service %s", q1);
		break;
	case WHO_INSTANCE:
		q1 = dep_quote(w->name.s, w->name.n);
		q2 = dep_quote(w->id.s, w->id.n);
		q3 = dep_quote(w->node.s, w->node.n);
		buf_printf(b, "service %s instance %s on node %s", q1, q2, q3);
		break;
	}
	free(q1);
	free(q2);
	free(q3);
	if (w->is_check) {
		q1 = dep_quote(w->check.s, w->check.n);
		buf_printf(b, ": check %s", q1);
		free(q1);
	}
}

static void drop_msg(struct dec *dc, const char *msg)
{
	if (dc->dropped == NULL || dc->ndropped >= DEP_MAX_DROPPED)
		return;
	json_array_append_new(dc->dropped, json_string(msg));
	dc->ndropped++;
}

static void drop(struct dec *dc, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void drop(struct dec *dc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (dc->dropped == NULL || dc->ndropped >= DEP_MAX_DROPPED)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	drop_msg(dc, msg);
}

/* "<who>: <fmt...>" */
static void drop_about(struct dec *dc, const struct who *w, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

static void drop_about(struct dec *dc, const struct who *w, const char *fmt,
                       ...)
{
	struct buf b;
	va_list ap;

	if (dc->dropped == NULL || dc->ndropped >= DEP_MAX_DROPPED)
		return;
	buf_init(&b, 511);
	who_put(&b, w);
	buf_puts(&b, ": ");
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	drop_msg(dc, buf_str(&b));
	buf_free(&b);
}

/* The string at node i, or NULL when i is absent or no string. */
static bool jstr_at(const struct jdoc *doc, size_t i, struct jstr *ret)
{
	if (i == JD_NONE || jd_type(doc, i) != JD_STRING)
		return false;
	ret->s = jd_str(doc, i, &ret->n);
	return true;
}

/*
 * The string member key of object o in *ret, "" when absent or null
 * (also when o is no object); false when it has another type.
 */
static bool str_value(const struct jdoc *doc, size_t v, struct jstr *ret)
{
	*ret = jstr_empty;
	if (v == JD_NONE || jd_type(doc, v) == JD_NULL)
		return true;
	return jstr_at(doc, v, ret);
}

static bool str_member(const struct jdoc *doc, size_t o, const char *key,
                       struct jstr *ret)
{
	return str_value(doc, jd_get(doc, o, key), ret);
}

/* The integer at node v, dflt when it is absent or another type. */
static int64_t int_value(const struct jdoc *doc, size_t v, int64_t dflt)
{
	return v != JD_NONE && jd_type(doc, v) == JD_INT ? doc->nodes[v].u.i
	                                                 : dflt;
}

static int64_t int_member(const struct jdoc *doc, size_t o, const char *key,
                          int64_t dflt)
{
	return int_value(doc, jd_get(doc, o, key), dflt);
}

/* An index-like number as it came (an integer, or a real after an integer
 * beyond int64), 0 otherwise. */
static crec_ref number_value(struct dec *dc, size_t v)
{
	if (v != JD_NONE && jd_type(dc->doc, v) == JD_INT)
		return crec_int(dc->b, dc->doc->nodes[v].u.i);
	if (v != JD_NONE && jd_type(dc->doc, v) == JD_REAL)
		return crec_real(dc->b, dc->doc->nodes[v].u.d);
	return crec_int(dc->b, 0);
}

static crec_ref number_member(struct dec *dc, size_t o, const char *key)
{
	return number_value(dc, jd_get(dc->doc, o, key));
}

static crec_ref str_ref(struct dec *dc, struct jstr s)
{
	return crec_str(dc->b, s.s, s.n);
}

static bool str_has_control(struct jstr s)
{
	return dep_has_control(s.s, s.n);
}

/*
 * s is an IP literal a hosts file can map a name to. No zone ids: "fe80::1%
 * eth0" only means something on the node that registered it. Not the
 * unspecified address (0.0.0.0, ::), which Consul itself refuses for
 * services and which no client can connect to.
 */
static bool addr_ok(struct jstr s)
{
	unsigned char raw[sizeof(struct in6_addr)] = {0};

	if (!hosts_addr_ok(s.s, s.n, false))
		return false;
	if (inet_pton(AF_INET, s.s, raw) != 1 &&
	    inet_pton(AF_INET6, s.s, raw) != 1)
		return false;
	for (size_t i = 0; i < sizeof(raw); i++)
		if (raw[i] != 0)
			return true;
	return false;
}

static bool name_ok(struct jstr s)
{
	return hosts_name_ok(s.s, s.n);
}

/*
 * Whether a record with name s (a node or service name) at address addr
 * (or NULL) may not be kept; why (size bytes) then says which entry.
 */
static bool name_reserved(const struct dec *dc, struct jstr s,
                          const struct jstr *addr, char *why, size_t size)
{
	const char *entry = dep_name_reserved(dc->names, s.s, s.n,
	                                      addr != NULL ? addr->s : NULL);

	if (entry == NULL)
		return false;
	snprintf(why, size, "reserved name (matches \"%.100s\"%s)", entry,
	         entry_of(dc->names->own, entry)
	                 ? ", this node's name, at another address"
	                 : "");
	return true;
}

/*
 * Free text (a check's Output, Notes, Name; a Meta value) with every
 * control byte (NUL, CR, LF, tab, ...) turned into a space: it may be
 * printed, but never start a line of its own.
 */
static crec_ref one_line_str(struct dec *dc, struct jstr s)
{
	if (!dep_has_control(s.s, s.n))
		return str_ref(dc, s);
	buf_reset(&dc->scratch);
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.s[i];

		buf_putc(&dc->scratch, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
	/* Only ASCII bytes changed: still valid UTF-8. */
	return crec_str(dc->b, buf_str(&dc->scratch), dc->scratch.len);
}

/* one_line_str of the string at node i; "" when it is no string. */
static crec_ref one_line(struct dec *dc, size_t i)
{
	struct jstr s;

	if (!jstr_at(dc->doc, i, &s))
		s = jstr_empty;
	return one_line_str(dc, s);
}

/* --- sorting ----------------------------------------------------------- */

struct item {
	crec_ref ref;
	size_t pos; /* input position, for a stable sort */
	struct jstr k1, k2;
	size_t node; /* a map's value, or a member's value node */
	bool gone;   /* superseded by a later duplicate key */
};

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = dep_cmp_bytes(x->k1.s, x->k1.n, y->k1.s, y->k1.n);

	if (c == 0)
		c = dep_cmp_bytes(x->k2.s, x->k2.n, y->k2.s, y->k2.n);
	if (c == 0)
		c = x->pos < y->pos ? -1 : x->pos > y->pos;
	return c;
}

/* Stable sort by k1, then k2; insertion sort for short lists. */
static void items_sort(struct item *v, size_t n)
{
	if (n > 16) {
		qsort(v, n, sizeof(*v), item_cmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct item x = v[i];
		size_t j = i;

		while (j > 0 && item_cmp(&v[j - 1], &x) > 0) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

/* A growable array of items. */
struct items {
	struct item *v;
	size_t n, cap;
	struct item small[16];
};

static void items_init(struct items *it)
{
	it->v = it->small;
	it->n = 0;
	it->cap = sizeof(it->small) / sizeof(it->small[0]);
}

static struct item *items_add(struct items *it)
{
	if (it->n == it->cap) {
		size_t cap = it->cap * 2;

		if (it->v == it->small) {
			it->v = xreallocarray(NULL, cap, sizeof(*it->v));
			memcpy(it->v, it->small, it->n * sizeof(*it->v));
		} else {
			it->v = xreallocarray(it->v, cap, sizeof(*it->v));
		}
		it->cap = cap;
	}
	memset(&it->v[it->n], 0, sizeof(it->v[0]));
	it->v[it->n].pos = it->n;
	return &it->v[it->n++];
}

static void items_free(struct items *it)
{
	if (it->v != it->small)
		free(it->v);
	items_init(it);
}

/* The list of the items' refs, in their order. */
static crec_ref items_list(struct dec *dc, const struct items *it)
{
	crec_ref small[64], *refs;
	crec_ref r;

	if (it->n == 0)
		return crec_list(dc->b, NULL, 0);
	refs = it->n <= 64 ? small : xreallocarray(NULL, it->n, sizeof(*refs));
	for (size_t i = 0; i < it->n; i++)
		refs[i] = it->v[i].ref;
	r = crec_list(dc->b, refs, it->n);
	if (refs != small)
		free(refs);
	return r;
}

/*
 * The members of object o as items (k1 the key, node the value), a later
 * duplicate key superseding an earlier one as in jansson: the superseded
 * are marked gone, the order is the input's.
 */
static void members(const struct jdoc *doc, size_t o, struct items *it)
{
	size_t count = doc->nodes[o].len, m = o + 1;
	struct item *sorted;

	for (size_t k = 0; k < count; k++) {
		struct item *x = items_add(it);

		jstr_at(doc, m, &x->k1);
		x->node = m + 1;
		m = jd_next(doc, m + 1);
	}
	if (it->n <= 16) {
		for (size_t i = 0; i < it->n; i++)
			for (size_t j = i + 1; j < it->n && !it->v[i].gone; j++)
				it->v[i].gone =
				        dep_cmp_bytes(it->v[i].k1.s,
				                      it->v[i].k1.n,
				                      it->v[j].k1.s,
				                      it->v[j].k1.n) == 0;
		return;
	}
	sorted = xreallocarray(NULL, it->n, sizeof(*sorted));
	memcpy(sorted, it->v, it->n * sizeof(*sorted));
	items_sort(sorted, it->n);
	for (size_t i = 0; i + 1 < it->n; i++)
		if (dep_cmp_bytes(sorted[i].k1.s, sorted[i].k1.n,
		                  sorted[i + 1].k1.s, sorted[i + 1].k1.n) == 0)
			it->v[sorted[i].pos].gone = true;
	free(sorted);
}

/* The map of items (key k1, value ref), sorted by key. */
static crec_ref items_map(struct dec *dc, struct items *it)
{
	crec_ref ksmall[32], vsmall[32], *keys, *vals, r;
	size_t n = 0;

	items_sort(it->v, it->n);
	keys = it->n <= 32 ? ksmall : xreallocarray(NULL, it->n, sizeof(*keys));
	vals = it->n <= 32 ? vsmall : xreallocarray(NULL, it->n, sizeof(*vals));
	for (size_t i = 0; i < it->n; i++) {
		keys[n] = str_ref(dc, it->v[i].k1);
		vals[n++] = it->v[i].ref;
	}
	r = crec_map(dc->b, keys, vals, n);
	if (keys != ksmall) {
		free(keys);
		free(vals);
	}
	return r;
}

/* --- maps, tags, checks ------------------------------------------------- */

/*
 * The string map o (Meta), {} when absent or null. Values are free text:
 * control bytes become spaces (Consul accepts a tab or a newline in
 * them). An entry whose key holds a control byte, or whose value is not
 * a string, is left out and reported as "<who>: Meta key "..." left out:
 * why"; the record stays.
 */
static crec_ref string_map(struct dec *dc, size_t o, const struct who *w)
{
	struct items all, keep;
	crec_ref r;

	items_init(&all);
	items_init(&keep);
	if (o != JD_NONE && jd_type(dc->doc, o) != JD_NULL &&
	    jd_type(dc->doc, o) != JD_OBJECT)
		drop_about(dc, w, "Meta is not an object; left out");
	if (o != JD_NONE && jd_type(dc->doc, o) == JD_OBJECT)
		members(dc->doc, o, &all);
	for (size_t i = 0; i < all.n; i++) {
		const struct item *x = &all.v[i];
		bool str = jd_type(dc->doc, x->node) == JD_STRING;
		char *q;

		if (x->gone)
			continue;
		if (str && !dep_has_control(x->k1.s, x->k1.n)) {
			struct item *k = items_add(&keep);

			k->k1 = x->k1;
			k->ref = one_line(dc, x->node);
			continue;
		}
		q = dep_quote(x->k1.s, x->k1.n);
		drop_about(dc, w, "Meta key %s left out: %s", q,
		           str ? "control character in the key"
		               : "the value is not a string");
		free(q);
	}
	r = items_map(dc, &keep);
	items_free(&all);
	items_free(&keep);
	return r;
}

/*
 * Tagged addresses o ({"lan": "10.0.0.1"} for nodes, {"lan_ipv4":
 * {"Address": ..., "Port": ...}} for services), {} when absent or null.
 * Entries whose address is not an IP literal are left out, each reported.
 */
static crec_ref tagged_addresses(struct dec *dc, size_t o, const struct who *w)
{
	struct items all, keep;
	crec_ref r;

	items_init(&all);
	items_init(&keep);
	if (o != JD_NONE && jd_type(dc->doc, o) == JD_OBJECT)
		members(dc->doc, o, &all);
	for (size_t i = 0; i < all.n; i++) {
		const struct item *x = &all.v[i];
		bool obj = jd_type(dc->doc, x->node) == JD_OBJECT;
		size_t an = obj ? jd_get(dc->doc, x->node, "Address") : x->node;
		struct jstr a;
		char *qk, *qa;

		if (x->gone)
			continue;
		if (jstr_at(dc->doc, an, &a) && addr_ok(a) &&
		    !dep_has_control(x->k1.s, x->k1.n)) {
			struct item *k = items_add(&keep);

			k->k1 = x->k1;
			if (obj) {
				crec_ref f[2] = {
				        str_ref(dc, a),
				        crec_int(dc->b,
				                 int_member(dc->doc, x->node,
				                            "Port", 0))};

				k->ref = crec_record(dc->b,
				                     TREC_SERVICE_ADDRESS, f);
			} else {
				k->ref = str_ref(dc, a);
			}
			continue;
		}
		qk = dep_quote(x->k1.s, x->k1.n);
		qa = jstr_at(dc->doc, an, &a) ? dep_quote(a.s, a.n)
		                              : xstrdup("(not a string)");
		drop_about(dc, w,
		           "tagged address %s %s is not a usable IP address; "
		           "left out",
		           qk, qa);
		free(qk);
		free(qa);
	}
	r = items_map(dc, &keep);
	items_free(&all);
	items_free(&keep);
	return r;
}

/*
 * Why tag t cannot reach a template, NULL when it can. Tags are data, kept
 * verbatim as consul-template keeps them (Traefik's "Host(`a`) &&
 * PathPrefix(`/`)" has blanks; byTag, contains and "tag.name" must see
 * the catalog consul-template sees): a tag printed into a line is checked
 * with that line. Only a control byte (a line break, a NUL) drops a tag:
 * printed, it would end the line it is in.
 */
static const char *tag_problem(const struct jdoc *doc, size_t t)
{
	struct jstr s;

	if (!jstr_at(doc, t, &s))
		return "not a string";
	if (dep_has_control(s.s, s.n))
		return "control character in a tag";
	return NULL;
}

/*
 * The tag list t ([] when absent) in *ret, sorted when sort is set; false
 * when t is not a list. A tag with a control byte is left out, reported
 * as "<who>: tag "..." dropped: why"; the record stays.
 */
static bool safe_tags(struct dec *dc, size_t t, bool sort, const struct who *w,
                      crec_ref *ret)
{
	const struct jdoc *doc = dc->doc;
	struct items tags;
	size_t count, e;

	if (t == JD_NONE || jd_type(doc, t) == JD_NULL) {
		*ret = crec_list(dc->b, NULL, 0);
		return true;
	}
	if (jd_type(doc, t) != JD_ARRAY)
		return false;
	items_init(&tags);
	count = doc->nodes[t].len;
	e = t + 1;
	for (size_t i = 0; i < count; i++, e = jd_next(doc, e)) {
		const char *why = tag_problem(doc, e);
		struct item *x;
		struct jstr s;
		char *q;

		if (why == NULL) {
			x = items_add(&tags);
			jstr_at(doc, e, &x->k1);
			x->ref = str_ref(dc, x->k1);
			continue;
		}
		q = jstr_at(doc, e, &s) ? dep_quote(s.s, s.n)
		                        : xstrdup("(not a string)");
		drop_about(dc, w, "tag %s dropped: %s", q, why);
		free(q);
	}
	if (sort)
		items_sort(tags.v, tags.n);
	*ret = items_list(dc, &tags);
	items_free(&tags);
	return true;
}

void health_fold_add(struct health_fold *h, const char *check_id,
                     const char *status)
{
	if (check_id != NULL &&
	    (strcmp(check_id, "_node_maintenance") == 0 ||
	     strncmp(check_id, "_service_maintenance:", 21) == 0))
		h->maintenance = true;
	else if (status != NULL && strcmp(status, "passing") == 0)
		h->passing = true;
	else if (status != NULL && strcmp(status, "warning") == 0)
		h->warning = true;
	else if (status != NULL && strcmp(status, "critical") == 0)
		h->critical = true;
	else
		h->unknown = true;
}

const char *health_fold_status(const struct health_fold *h)
{
	if (h->unknown)
		return "";
	if (h->maintenance)
		return "maintenance";
	if (h->critical)
		return "critical";
	if (h->warning)
		return "warning";
	return "passing";
}

/* consul's api.HealthChecks.AggregatedStatus() over the raw answer. */
static const char *aggregated_status(const struct jdoc *doc, size_t checks)
{
	static const char *const names[] = {"CheckID", "Status", NULL};
	static struct jd_keys keys = {.names = names};
	struct health_fold h = {0};
	size_t count = doc->nodes[checks].len, c = checks + 1;

	for (size_t i = 0; i < count; i++, c = jd_next(doc, c)) {
		struct jstr id = {NULL, 0}, st = {NULL, 0};
		size_t v[2];

		if (jd_type(doc, c) != JD_OBJECT)
			continue; /* left out of Checks too */
		jd_members(doc, c, &keys, v);
		jstr_at(doc, v[0], &id);
		jstr_at(doc, v[1], &st);
		health_fold_add(&h, id.s, st.s);
	}
	return health_fold_status(&h);
}

static bool status_accepted(unsigned filters, const char *status)
{
	if (filters & HF_ANY)
		return true;
	for (size_t i = 0; i < DEP_NFILTERS; i++)
		if ((filters & (1u << i)) &&
		    strcmp(dep_filter_names[i], status) == 0)
			return true;
	return false;
}

/* api.HealthCheck's fields, in the schema's order (trecord.c). */
enum {
	HC_NODE,
	HC_CHECK_ID,
	HC_NAME,
	HC_STATUS,
	HC_NOTES,
	HC_OUTPUT,
	HC_SERVICE_ID,
	HC_SERVICE_NAME,
	HC_SERVICE_TAGS,
	HC_TYPE,
	HC_NAMESPACE,
	HC_PARTITION,
	HC_EXPOSED_PORT,
	HC_PEER_NAME,
	HC_DEFINITION,
	HC_CREATE_INDEX,
	HC_MODIFY_INDEX,
	HC_N,
};

/*
 * The checks of a health entry as consul-template's api.HealthCheck
 * fields, nothing else (no Definition): free text made one line, hostile
 * ServiceTags left out. A check whose Output is a service's own answer
 * stays, so a healthy instance is never dropped for what it printed.
 * With DEP_CHECKS_NO_TEXT, Output, Notes and the indexes are left empty
 * (no template can see them), so an agent's periodic sync of a check's
 * output decodes to the same bytes: no change at all.
 */
static crec_ref health_checks(struct dec *dc, size_t checks,
                              const struct who *owner)
{
	/* Consul's names of the fields read, by HC_ index (the ones not
	 * read are made apart). */
	static const char *const names[] = {
	        [HC_NODE] = "Node",
	        [HC_CHECK_ID] = "CheckID",
	        [HC_NAME] = "Name",
	        [HC_STATUS] = "Status",
	        [HC_NOTES] = "Notes",
	        [HC_OUTPUT] = "Output",
	        [HC_SERVICE_ID] = "ServiceID",
	        [HC_SERVICE_NAME] = "ServiceName",
	        [HC_SERVICE_TAGS] = "ServiceTags",
	        [HC_TYPE] = "Type",
	        [HC_NAMESPACE] = "Namespace",
	        [HC_PARTITION] = "Partition",
	        [HC_EXPOSED_PORT] = "ExposedPort",
	        [HC_PEER_NAME] = "PeerName",
	        [HC_DEFINITION] = "Definition",
	        [HC_CREATE_INDEX] = "CreateIndex",
	        [HC_MODIFY_INDEX] = "ModifyIndex",
	        [HC_N] = NULL,
	};
	static const int text[] = {
	        HC_NODE,  HC_CHECK_ID,  HC_NAME,       HC_STATUS,
	        HC_NOTES, HC_OUTPUT,    HC_SERVICE_ID, HC_SERVICE_NAME,
	        HC_TYPE,  HC_NAMESPACE, HC_PARTITION,  HC_PEER_NAME};
	static struct jd_keys keys = {.names = names};
	const struct jdoc *doc = dc->doc;
	bool keep = dc->d->checks == DEP_CHECKS_ALL;
	struct items out;
	size_t count = doc->nodes[checks].len, c = checks + 1;
	crec_ref r;

	items_init(&out);
	for (size_t i = 0; i < count; i++, c = jd_next(doc, c)) {
		crec_ref f[HC_N];
		size_t v[HC_N];
		struct who w = *owner;
		char cid[DEP_QUOTE_MAX + 1];

		if (jd_type(doc, c) != JD_OBJECT) {
			drop_about(dc, owner,
			           "check that is not an object left out");
			continue;
		}
		jd_members(doc, c, &keys, v);
		for (size_t j = 0; j < sizeof(text) / sizeof(text[0]); j++)
			if (keep ||
			    (text[j] != HC_NOTES && text[j] != HC_OUTPUT))
				f[text[j]] = one_line(dc, v[text[j]]);
		/* Messages quote the CheckID as kept (one line), cut as
		 * dep_quote() cuts: the builder's bytes may move meanwhile. */
		{
			size_t len;
			const char *id =
			        crec_builder_str(dc->b, f[HC_CHECK_ID], &len);

			w.check.n = len < sizeof(cid) ? len : sizeof(cid);
			memcpy(cid, id, w.check.n);
			w.check.s = cid;
			w.is_check = true;
		}
		if (!safe_tags(dc, v[HC_SERVICE_TAGS], false, &w,
		               &f[HC_SERVICE_TAGS]))
			f[HC_SERVICE_TAGS] = crec_list(dc->b, NULL, 0);
		f[HC_EXPOSED_PORT] =
		        crec_int(dc->b, int_value(doc, v[HC_EXPOSED_PORT], 0));
		f[HC_DEFINITION] = crec_null();
		if (keep) {
			f[HC_CREATE_INDEX] =
			        number_value(dc, v[HC_CREATE_INDEX]);
			f[HC_MODIFY_INDEX] =
			        number_value(dc, v[HC_MODIFY_INDEX]);
		} else {
			f[HC_NOTES] = f[HC_OUTPUT] = crec_str(dc->b, "", 0);
			f[HC_CREATE_INDEX] = f[HC_MODIFY_INDEX] =
			        crec_int(dc->b, 0);
		}
		items_add(&out)->ref = crec_record(dc->b, TREC_HEALTH_CHECK, f);
	}
	r = items_list(dc, &out);
	items_free(&out);
	return r;
}

/* --- records ------------------------------------------------------------ */

static int shape_error(struct err *e, const struct dep *d, const char *want)
{
	return err_msg(e, -EBADMSG, "%s: unexpected response: expected %s",
	               d->id, want);
}

/* The members of a health entry, its Node and its Service read. */
enum { E_NODE, E_SERVICE, E_CHECKS, E_N };
static const char *const entry_names[] = {"Node", "Service", "Checks", NULL};
enum { N_NODE, N_ID, N_ADDRESS, N_DATACENTER, N_TAGGED, N_META, N_N };
static const char *const node_names[] = {
        "Node", "ID", "Address", "Datacenter", "TaggedAddresses", "Meta", NULL};
enum {
	S_ID,
	S_SERVICE,
	S_ADDRESS,
	S_KIND,
	S_SOCKET,
	S_NAMESPACE,
	S_PARTITION,
	S_PEER,
	S_TAGS,
	S_META,
	S_TAGGED,
	S_PORT,
	S_WEIGHTS,
	S_N,
};
static const char *const service_names[] = {
        "ID",         "Service",   "Address",         "Kind",
        "SocketPath", "Namespace", "Partition",       "PeerName",
        "Tags",       "Meta",      "TaggedAddresses", "Port",
        "Weights",    NULL};

/* dependency.Node's fields, in the schema's order. */
enum { ND_ID, ND_NODE, ND_ADDRESS, ND_DATACENTER, ND_TAGGED, ND_META, ND_N };

/*
 * The fields every node record shares ({ID, Node, Address, Datacenter,
 * TaggedAddresses, Meta}): false, and a message in dropped, when it is
 * hostile or takes a reserved name. *ret_name and *ret_addr (may be NULL)
 * get the node's name and address.
 */
static bool node_record(struct dec *dc, size_t n, crec_ref *ret,
                        struct jstr *ret_name, struct jstr *ret_addr)
{
	static struct jd_keys nkeys = {.names = node_names};
	const struct jdoc *doc = dc->doc;
	struct jstr id, name, addr, dc_name;
	struct who w = {.kind = WHO_NODE};
	bool id_ok, addr_str, dc_ok;
	const char *why = NULL;
	char reason[200];
	crec_ref f[ND_N];
	size_t nv[N_N];

	if (n == JD_NONE || jd_type(doc, n) != JD_OBJECT) {
		drop(dc, "node record is not an object");
		return false;
	}
	jd_members(doc, n, &nkeys, nv);
	if (!str_value(doc, nv[N_NODE], &name)) {
		drop(dc, "node record without a Node name");
		return false;
	}
	w.node = name;
	id_ok = str_value(doc, nv[N_ID], &id);
	addr_str = str_value(doc, nv[N_ADDRESS], &addr);
	dc_ok = str_value(doc, nv[N_DATACENTER], &dc_name);
	if (!name_ok(name))
		why = "invalid node name";
	else if (!addr_str)
		why = "Address is not a string";
	else if (!addr_ok(addr)) {
		/* A hosts file maps IP addresses to names; a hostname here
		 * (external nodes) would need resolving, which is not ours
		 * to do, and anything else could inject lines. */
		char *qa = dep_quote(addr.s, addr.n);

		drop_about(dc, &w, "address %s is not a usable IP address", qa);
		free(qa);
		return false;
	} else if (!id_ok || !dc_ok || str_has_control(id) ||
	           str_has_control(dc_name))
		why = "invalid ID or Datacenter";
	else if (name_reserved(dc, name, &addr, reason, sizeof(reason)))
		why = reason;
	if (why != NULL) {
		drop_about(dc, &w, "%s", why);
		return false;
	}
	f[ND_ID] = str_ref(dc, id);
	f[ND_NODE] = str_ref(dc, name);
	f[ND_ADDRESS] = str_ref(dc, addr);
	f[ND_DATACENTER] = str_ref(dc, dc_name);
	f[ND_TAGGED] = tagged_addresses(dc, nv[N_TAGGED], &w);
	f[ND_META] = string_map(dc, nv[N_META], &w);
	*ret = crec_record(dc->b, TREC_NODE, f);
	if (ret_name != NULL)
		*ret_name = name;
	if (ret_addr != NULL)
		*ret_addr = addr;
	return true;
}

static int decode_nodes(struct dec *dc, crec_ref *ret, struct err *e)
{
	const struct jdoc *doc = dc->doc;
	struct items out;
	size_t count, v;

	if (jd_type(doc, 0) != JD_ARRAY)
		return shape_error(e, dc->d, "an array of nodes");
	items_init(&out);
	count = doc->nodes[0].len;
	v = 1;
	for (size_t i = 0; i < count; i++, v = jd_next(doc, v)) {
		crec_ref r;
		struct jstr name;

		if (node_record(dc, v, &r, &name, NULL)) {
			struct item *x = items_add(&out);

			x->ref = r;
			x->k1 = name;
		}
	}
	if (dc->d->near == NULL)
		items_sort(out.v, out.n);
	*ret = items_list(dc, &out);
	items_free(&out);
	return 0;
}

static int decode_services(struct dec *dc, crec_ref *ret, struct err *e)
{
	const struct jdoc *doc = dc->doc;
	struct items all, out;

	if (jd_type(doc, 0) != JD_OBJECT)
		return shape_error(e, dc->d, "an object of service names");
	items_init(&all);
	items_init(&out);
	members(doc, 0, &all);
	for (size_t i = 0; i < all.n; i++) {
		const struct item *x = &all.v[i];
		struct who w = {.kind = WHO_SERVICE, .name = x->k1};
		const char *entry;
		crec_ref f[2];
		struct item *o;

		if (x->gone)
			continue;
		if (!hosts_name_ok(x->k1.s, x->k1.n)) {
			drop_about(dc, &w, "invalid service name");
			continue;
		}
		/* No address to tell this node's own from another's. */
		entry = dc->names != NULL ? dep_name_reserved(
		                                    &(struct dep_names){
		                                            dc->names->reserved,
		                                            NULL, NULL},
		                                    x->k1.s, x->k1.n, NULL)
		                          : NULL;
		if (entry != NULL) {
			drop_about(dc, &w, "reserved name (matches \"%.100s\")",
			           entry);
			continue;
		}
		if (!safe_tags(dc, x->node, true, &w, &f[1])) {
			drop_about(dc, &w, "invalid tags");
			continue;
		}
		f[0] = str_ref(dc, x->k1);
		o = items_add(&out);
		o->k1 = x->k1;
		o->ref = crec_record(dc->b, TREC_CATALOG_SNIPPET, f);
	}
	items_sort(out.v, out.n);
	*ret = items_list(dc, &out);
	items_free(&all);
	items_free(&out);
	return 0;
}

/* dependency.HealthService's fields, in the schema's order. */
enum {
	HS_NODE,
	HS_NODE_ID,
	HS_NODE_ADDRESS,
	HS_NODE_TAGGED,
	HS_NODE_META,
	HS_SERVICE_META,
	HS_ADDRESS,
	HS_SERVICE_TAGGED,
	HS_ID,
	HS_NAME,
	HS_TAGS,
	HS_CHECKS,
	HS_STATUS,
	HS_PORT,
	HS_WEIGHTS,
	HS_NODE_DATACENTER,
	HS_N,
};

static bool health_record(struct dec *dc, size_t entry, crec_ref *ret,
                          struct jstr *ret_node, struct jstr *ret_id)
{
	static struct jd_keys ekeys = {.names = entry_names};
	static struct jd_keys nkeys = {.names = node_names};
	static struct jd_keys skeys = {.names = service_names};
	const struct jdoc *doc = dc->doc;
	size_t node, svc, checks, wn, e[E_N], nv[N_N], sv[S_N];
	struct jstr nname, nid, naddr, ndc, id, name, addr, kind, socket, ns,
	        part, peer;
	struct who w = {.kind = WHO_INSTANCE};
	const char *status, *why = NULL;
	char reason[200];
	crec_ref f[HS_N], weights[2];

	jd_members(doc, entry, &ekeys, e);
	node = e[E_NODE];
	svc = e[E_SERVICE];
	checks = e[E_CHECKS];
	if (node == JD_NONE || svc == JD_NONE ||
	    jd_type(doc, node) != JD_OBJECT || jd_type(doc, svc) != JD_OBJECT) {
		drop(dc, "health entry without a Node and a Service object");
		return false;
	}
	if (checks != JD_NONE && jd_type(doc, checks) != JD_ARRAY)
		checks = JD_NONE;
	status = checks != JD_NONE ? aggregated_status(doc, checks) : "passing";
	if (!status_accepted(dc->d->filters, status))
		return false;
	jd_members(doc, node, &nkeys, nv);
	jd_members(doc, svc, &skeys, sv);
	if (!str_value(doc, nv[N_NODE], &nname) ||
	    !str_value(doc, nv[N_ID], &nid) ||
	    !str_value(doc, nv[N_ADDRESS], &naddr) ||
	    !str_value(doc, nv[N_DATACENTER], &ndc) ||
	    !str_value(doc, sv[S_ID], &id) ||
	    !str_value(doc, sv[S_SERVICE], &name) ||
	    !str_value(doc, sv[S_ADDRESS], &addr) ||
	    !str_value(doc, sv[S_KIND], &kind) ||
	    !str_value(doc, sv[S_SOCKET], &socket) ||
	    !str_value(doc, sv[S_NAMESPACE], &ns) ||
	    !str_value(doc, sv[S_PARTITION], &part) ||
	    !str_value(doc, sv[S_PEER], &peer)) {
		drop(dc, "health entry with a non-string field");
		return false;
	}
	if (addr.n == 0)
		addr = naddr;
	w.name = name;
	w.id = id;
	w.node = nname;
	if (!name_ok(name))
		why = "invalid service name";
	else if (!name_ok(nname))
		why = "invalid node name";
	else if (socket.n > 0 && addr.s == naddr.s)
		why = "listens on a unix socket and has no address";
	else if (!addr_ok(addr)) {
		char *qa = dep_quote(addr.s, addr.n);

		drop_about(dc, &w, "address %s is not a usable IP address", qa);
		free(qa);
		return false;
	} else if (str_has_control(id) || str_has_control(nid) ||
	           str_has_control(naddr) || str_has_control(ndc) ||
	           str_has_control(kind) || str_has_control(ns) ||
	           str_has_control(part) || str_has_control(peer))
		why = "control character in a field";
	else if (name_reserved(dc, name, &addr, reason, sizeof(reason)) ||
	         name_reserved(dc, nname, &naddr, reason, sizeof(reason)))
		why = reason;
	else if (!safe_tags(dc, sv[S_TAGS], true, &w, &f[HS_TAGS]))
		why = "invalid tags";
	if (why != NULL) {
		drop_about(dc, &w, "%s", why);
		return false;
	}
	f[HS_NODE] = str_ref(dc, nname);
	f[HS_NODE_ID] = str_ref(dc, nid);
	f[HS_NODE_ADDRESS] = str_ref(dc, naddr);
	f[HS_NODE_TAGGED] = tagged_addresses(dc, nv[N_TAGGED], &w);
	f[HS_NODE_META] = string_map(dc, nv[N_META], &w);
	f[HS_SERVICE_META] = string_map(dc, sv[S_META], &w);
	f[HS_ADDRESS] = str_ref(dc, addr);
	f[HS_SERVICE_TAGGED] = tagged_addresses(dc, sv[S_TAGGED], &w);
	f[HS_ID] = str_ref(dc, id);
	f[HS_NAME] = str_ref(dc, name);
	f[HS_CHECKS] = checks != JD_NONE && dc->d->checks != DEP_CHECKS_NONE
	                       ? health_checks(dc, checks, &w)
	                       : crec_list(dc->b, NULL, 0);
	f[HS_STATUS] = crec_str(dc->b, status, strlen(status));
	f[HS_PORT] = crec_int(dc->b, int_value(doc, sv[S_PORT], 0));
	wn = sv[S_WEIGHTS];
	weights[0] = crec_int(dc->b, int_member(doc, wn, "Passing", 1));
	weights[1] = crec_int(dc->b, int_member(doc, wn, "Warning", 1));
	f[HS_WEIGHTS] = crec_record(dc->b, TREC_AGENT_WEIGHTS, weights);
	f[HS_NODE_DATACENTER] = str_ref(dc, ndc);
	*ret = crec_record(dc->b, TREC_HEALTH_SERVICE, f);
	*ret_node = nname;
	*ret_id = id;
	return true;
}

static int decode_health(struct dec *dc, crec_ref *ret, struct err *e)
{
	const struct jdoc *doc = dc->doc;
	struct items out;
	size_t count, v;

	if (jd_type(doc, 0) != JD_ARRAY)
		return shape_error(e, dc->d, "an array of health entries");
	items_init(&out);
	count = doc->nodes[0].len;
	v = 1;
	for (size_t i = 0; i < count; i++, v = jd_next(doc, v)) {
		struct jstr node, id;
		crec_ref r;

		if (health_record(dc, v, &r, &node, &id)) {
			struct item *x = items_add(&out);

			x->ref = r;
			x->k1 = node;
			x->k2 = id;
		}
	}
	if (dc->d->near == NULL)
		items_sort(out.v, out.n);
	*ret = items_list(dc, &out);
	items_free(&out);
	return 0;
}

/* dependency.CatalogNodeService's fields, in the schema's order. */
enum { NS_ID, NS_SERVICE, NS_TAGS, NS_META, NS_PORT, NS_ADDRESS, NS_ETO, NS_N };

static bool node_service(struct dec *dc, size_t s, struct jstr node,
                         struct jstr node_addr, crec_ref *ret,
                         struct jstr *ret_name, struct jstr *ret_id)
{
	const struct jdoc *doc = dc->doc;
	struct jstr id, name, addr;
	struct who w = {.kind = WHO_INSTANCE, .node = node};
	const char *why = NULL;
	char reason[200];
	crec_ref f[NS_N];
	size_t eto;

	if (jd_type(doc, s) != JD_OBJECT || !str_member(doc, s, "ID", &id) ||
	    !str_member(doc, s, "Service", &name) ||
	    !str_member(doc, s, "Address", &addr)) {
		char *qn = dep_quote(node.s, node.n);

		drop(dc, "node %s: service record with a non-string field", qn);
		free(qn);
		return false;
	}
	w.name = name;
	w.id = id;
	if (!name_ok(name))
		why = "invalid service name";
	else if (str_has_control(id))
		why = "control character in ID";
	else if (addr.n > 0 && !addr_ok(addr))
		why = "address is not a usable IP address";
	else if (name_reserved(dc, name, addr.n == 0 ? &node_addr : &addr,
	                       reason, sizeof(reason)))
		why = reason;
	else if (!safe_tags(dc, jd_get(doc, s, "Tags"), true, &w, &f[NS_TAGS]))
		why = "invalid tags";
	if (why != NULL) {
		drop_about(dc, &w, "%s", why);
		return false;
	}
	f[NS_ID] = str_ref(dc, id);
	f[NS_SERVICE] = str_ref(dc, name);
	f[NS_META] = string_map(dc, jd_get(doc, s, "Meta"), &w);
	f[NS_PORT] = crec_int(dc->b, int_member(doc, s, "Port", 0));
	f[NS_ADDRESS] = str_ref(dc, addr);
	eto = jd_get(doc, s, "EnableTagOverride");
	f[NS_ETO] = crec_bool(eto != JD_NONE && jd_type(doc, eto) == JD_TRUE);
	*ret = crec_record(dc->b, TREC_CATALOG_NODE_SERVICE, f);
	*ret_name = name;
	*ret_id = id;
	return true;
}

static crec_ref zero_catalog_node(struct dec *dc)
{
	crec_ref f[2] = {crec_null(), crec_list(dc->b, NULL, 0)};

	return crec_record(dc->b, TREC_CATALOG_NODE, f);
}

static int decode_node(struct dec *dc, crec_ref *ret, struct err *e)
{
	const struct jdoc *doc = dc->doc;
	struct jstr name, addr;
	struct items list, all;
	crec_ref f[2];
	size_t services;

	/* No such node: consul-template's empty &CatalogNode{} (a record
	 * whose Node is nil), which templates see as true. */
	if (jd_type(doc, 0) == JD_NULL) {
		*ret = zero_catalog_node(dc);
		return 0;
	}
	if (jd_type(doc, 0) != JD_OBJECT)
		return shape_error(e, dc->d, "a node object or null");
	if (!node_record(dc, jd_get(doc, 0, "Node"), &f[0], &name, &addr)) {
		/* The node itself is hostile: as if it did not exist. */
		*ret = zero_catalog_node(dc);
		return 0;
	}
	items_init(&list);
	items_init(&all);
	services = jd_get(doc, 0, "Services");
	if (services != JD_NONE && jd_type(doc, services) == JD_OBJECT) {
		members(doc, services, &all);
	} else if (services != JD_NONE && jd_type(doc, services) == JD_ARRAY) {
		size_t count = doc->nodes[services].len, v = services + 1;

		for (size_t i = 0; i < count; i++, v = jd_next(doc, v))
			items_add(&all)->node = v;
	}
	for (size_t i = 0; i < all.n; i++) {
		struct jstr sname, sid;
		crec_ref r;

		if (all.v[i].gone || !node_service(dc, all.v[i].node, name,
		                                   addr, &r, &sname, &sid))
			continue;
		{
			struct item *x = items_add(&list);

			x->ref = r;
			x->k1 = sname;
			x->k2 = sid;
		}
	}
	items_sort(list.v, list.n);
	f[1] = items_list(dc, &list);
	items_free(&list);
	items_free(&all);
	*ret = crec_record(dc->b, TREC_CATALOG_NODE, f);
	return 0;
}

/* The datacenters: plain strings, sorted (not records). */
static int decode_datacenters(struct dec *dc, json_t **ret, struct err *e)
{
	const struct jdoc *doc = dc->doc;
	struct items out;
	size_t count, v;
	json_t *list;

	if (jd_type(doc, 0) != JD_ARRAY)
		return shape_error(e, dc->d, "an array of datacenter names");
	items_init(&out);
	count = doc->nodes[0].len;
	v = 1;
	for (size_t i = 0; i < count; i++, v = jd_next(doc, v)) {
		struct jstr s;
		char *q;

		if (jstr_at(doc, v, &s) && name_ok(s)) {
			items_add(&out)->k1 = s;
			continue;
		}
		q = jstr_at(doc, v, &s) ? dep_quote(s.s, s.n)
		                        : xstrdup("(not a string)");
		drop(dc, "datacenter %s: invalid name", q);
		free(q);
	}
	items_sort(out.v, out.n);
	list = json_array();
	for (size_t i = 0; i < out.n; i++)
		json_array_append_new(
		        list,
		        json_stringn_nocheck(out.v[i].k1.s, out.v[i].k1.n));
	items_free(&out);
	*ret = list;
	return 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode standard base64 (Go's encoding of []byte) into out. */
static int b64_decode(const char *s, size_t n, struct buf *out)
{
	unsigned acc = 0;
	int bits = 0;
	size_t i;

	while (n > 0 && s[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++) {
		int v = b64_value((unsigned char)s[i]);

		if (v < 0)
			return -EBADMSG;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(out, (char)((acc >> bits) & 0xff));
		}
	}
	return bits >= 6 ? -EBADMSG : 0;
}

/*
 * The decoded Value of KV entry kv into out (bytes, not text: they may
 * hold NULs or invalid UTF-8; printing them is the template's business).
 */
static int kv_value(struct dec *dc, size_t kv, const char *key, size_t keylen,
                    struct buf *out, struct err *e)
{
	size_t v = jd_get(dc->doc, kv, "Value");
	struct jstr s;

	buf_reset(out);
	if (v == JD_NONE || jd_type(dc->doc, v) == JD_NULL)
		return 0;
	if (!jstr_at(dc->doc, v, &s) || b64_decode(s.s, s.n, out) < 0) {
		char *q = dep_quote(key, keylen);

		err_msg(e, -EBADMSG, "key %s: Value is not base64", q);
		free(q);
		return -EBADMSG;
	}
	return 0;
}

static int decode_kv_get(struct dec *dc, json_t **ret, struct err *e)
{
	const struct jdoc *doc = dc->doc;
	struct buf b;
	int r;

	if (jd_type(doc, 0) == JD_NULL) {
		*ret = json_null();
		return 0;
	}
	if (jd_type(doc, 0) != JD_ARRAY ||
	    (doc->nodes[0].len > 0 && jd_type(doc, 1) != JD_OBJECT))
		return shape_error(e, dc->d, "an array of KV entries");
	if (doc->nodes[0].len == 0) {
		*ret = json_null();
		return 0;
	}
	buf_init(&b, 0);
	r = kv_value(dc, 1, dc->d->name, strlen(dc->d->name), &b, e);
	if (r == 0)
		*ret = json_stringn_nocheck(b.data != NULL ? b.data : "",
		                            b.len);
	buf_free(&b);
	return r;
}

/* dependency.KeyPair's fields, in the schema's order. */
enum {
	KP_PATH,
	KP_KEY,
	KP_VALUE,
	KP_CREATE,
	KP_MODIFY,
	KP_LOCK,
	KP_FLAGS,
	KP_SESSION,
	KP_N
};

static int decode_kv_list(struct dec *dc, crec_ref *ret, struct err *e)
{
	const struct jdoc *doc = dc->doc;
	size_t plen = strlen(dc->d->name), count, kv;
	struct items out;
	struct buf value;
	int r = 0;

	if (jd_type(doc, 0) == JD_NULL) {
		*ret = crec_list(dc->b, NULL, 0);
		return 0;
	}
	if (jd_type(doc, 0) != JD_ARRAY)
		return shape_error(e, dc->d, "an array of KV entries");
	items_init(&out);
	buf_init(&value, 0);
	count = doc->nodes[0].len;
	kv = 1;
	for (size_t i = 0; i < count; i++, kv = jd_next(doc, kv)) {
		struct jstr path, sess = jstr_empty;
		const char *p, *rel;
		bool has_sess;
		crec_ref f[KP_N];
		struct item *x;
		size_t n;

		if (!jstr_at(doc, jd_get(doc, kv, "Key"), &path)) {
			r = shape_error(e, dc->d, "KV entries with a Key");
			break;
		}
		p = path.s;
		n = path.n;
		/* Folders ("a/b/") are not keys, as in consul-template. */
		if (n == 0 || p[n - 1] == '/')
			continue;
		rel = p;
		if (n >= plen && memcmp(p, dc->d->name, plen) == 0)
			rel = p + plen;
		while (rel < p + n && *rel == '/')
			rel++;
		/* The prefix itself is no key under it: consul-template's
		 * ls and tree both leave out an empty relative Key. */
		if (rel == p + n)
			continue;
		has_sess = jstr_at(doc, jd_get(doc, kv, "Session"), &sess);
		if (dep_has_control(p, n) ||
		    (has_sess && str_has_control(sess))) {
			char *q = dep_quote(p, n);

			drop(dc, "key %s: control character in %s; left out", q,
			     dep_has_control(p, n) ? "the key" : "Session");
			free(q);
			continue;
		}
		if ((r = kv_value(dc, kv, p, n, &value, e)) < 0)
			break;
		f[KP_PATH] = str_ref(dc, path);
		f[KP_KEY] = crec_str(dc->b, rel, n - (size_t)(rel - p));
		f[KP_VALUE] = crec_str(
		        dc->b, value.data != NULL ? value.data : "", value.len);
		f[KP_CREATE] = number_member(dc, kv, "CreateIndex");
		f[KP_MODIFY] = number_member(dc, kv, "ModifyIndex");
		f[KP_LOCK] = number_member(dc, kv, "LockIndex");
		f[KP_FLAGS] = number_member(dc, kv, "Flags");
		f[KP_SESSION] =
		        has_sess ? str_ref(dc, sess) : crec_str(dc->b, "", 0);
		x = items_add(&out);
		x->ref = crec_record(dc->b, TREC_KEY_PAIR, f);
		x->k1 = path;
	}
	if (r == 0) {
		items_sort(out.v, out.n);
		*ret = items_list(dc, &out);
	}
	items_free(&out);
	buf_free(&value);
	return r;
}

static int decode_agent_self(struct dec *dc, json_t **ret, struct err *e)
{
	const struct jdoc *doc = dc->doc;
	size_t cfg = jd_get(doc, 0, "Config");
	struct jstr name, dcn = jstr_empty;
	bool has_dc;
	json_t *out;

	if (cfg == JD_NONE || jd_type(doc, cfg) != JD_OBJECT ||
	    !jstr_at(doc, jd_get(doc, cfg, "NodeName"), &name))
		return shape_error(e, dc->d, "an object with Config.NodeName");
	has_dc = jstr_at(doc, jd_get(doc, cfg, "Datacenter"), &dcn);
	/* The node's own name and datacenter identify it: a control byte
	 * there is no name to render or to look up. */
	if (str_has_control(name) || (has_dc && str_has_control(dcn)))
		return shape_error(e, dc->d,
		                   "a NodeName and Datacenter without control "
		                   "characters");
	out = json_object();
	json_object_set_new(out, "Node", json_stringn_nocheck(name.s, name.n));
	json_object_set_new(out, "Datacenter",
	                    json_stringn_nocheck(dcn.s, dcn.n));
	*ret = out;
	return 0;
}

/* The field enums above are the schemas' orders: checked once. */
static const char *const hs_names[] = {
        "Node",     "NodeID",      "NodeAddress", "NodeTaggedAddresses",
        "NodeMeta", "ServiceMeta", "Address",     "ServiceTaggedAddresses",
        "ID",       "Name",        "Tags",        "Checks",
        "Status",   "Port",        "Weights",     "NodeDatacenter"};
static const char *const hc_names[] = {
        "Node",        "CheckID",    "Name",        "Status",      "Notes",
        "Output",      "ServiceID",  "ServiceName", "ServiceTags", "Type",
        "Namespace",   "Partition",  "ExposedPort", "PeerName",    "Definition",
        "CreateIndex", "ModifyIndex"};
static const char *const nd_names[] = {
        "ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta"};
static const char *const ns_names[] = {
        "ID",      "Service",          "Tags", "Meta", "Port",
        "Address", "EnableTagOverride"};
static const char *const kp_names[] = {
        "Path",        "Key",       "Value", "CreateIndex",
        "ModifyIndex", "LockIndex", "Flags", "Session"};
static const char *const sa_names[] = {"Address", "Port"};
static const char *const aw_names[] = {"Passing", "Warning"};
static const char *const cs_names[] = {"Name", "Tags"};
static const char *const cn_names[] = {"Node", "Services"};

static void check_field_orders(void)
{
	static bool checked;
	static const struct {
		enum trec_kind kind;
		size_t n;
		const char *const *names;
	} tables[] = {
	        {TREC_HEALTH_SERVICE, HS_N, hs_names},
	        {TREC_HEALTH_CHECK, HC_N, hc_names},
	        {TREC_NODE, ND_N, nd_names},
	        {TREC_CATALOG_NODE_SERVICE, NS_N, ns_names},
	        {TREC_KEY_PAIR, KP_N, kp_names},
	        {TREC_SERVICE_ADDRESS, 2, sa_names},
	        {TREC_AGENT_WEIGHTS, 2, aw_names},
	        {TREC_CATALOG_SNIPPET, 2, cs_names},
	        {TREC_CATALOG_NODE, 2, cn_names},
	};

	if (checked)
		return;
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		const struct trec_schema *s = trec_schema(tables[t].kind);

		if (s->nfields != tables[t].n)
			abort();
		for (size_t i = 0; i < s->nfields; i++)
			if (strcmp(s->fields[i].name, tables[t].names[i]) != 0)
				abort();
	}
	checked = true;
}

int dep_decode(const struct dep *d, long status, const char *body, size_t len,
               json_t **ret, json_t *dropped, struct err *e)
{
	return dep_decode_names(d, NULL, status, body, len, ret, dropped, e);
}

/*
 * The parse of the answer being decoded, kept from one decode to the next
 * (answers are decoded one at a time): a large answer's parse then reuses
 * the memory the last one had instead of asking for fresh pages (which a
 * malloc_trim between answers gives back) every time. Up to
 * DEP_SCRATCH_KEEP bytes stay (the parse of a 1.2 MB answer: 1,000
 * instances); more is freed after the decode, so a large answer's memory
 * is given back.
 */
#define DEP_SCRATCH_KEEP (4u << 20)
static struct jdoc scratch;

int dep_decode_names(const struct dep *d, const struct dep_names *names,
                     long status, const char *body, size_t len, json_t **ret,
                     json_t *dropped, struct err *e)
{
	struct jdoc doc;
	struct dec dc = {
	        .d = d, .doc = &doc, .dropped = dropped, .names = names};
	json_t *out = NULL;
	crec_ref root = crec_null();
	bool compact = false;
	int r;

	check_field_orders();
	if (len > DEP_MAX_BODY)
		return err_msg(e, -EBADMSG,
		               "%s: response of %zu bytes is larger than %u",
		               d->id, len, DEP_MAX_BODY);
	if ((d->kind == DEP_KV_GET || d->kind == DEP_KV_LIST) &&
	    status == 404) {
		/* A missing key or prefix: Consul answers 404 with an empty
		 * body (and an index to block on). */
		if (d->kind == DEP_KV_GET) {
			*ret = json_null();
		} else {
			struct crec_builder *b = crec_builder_new();

			*ret = crec_finish(b, crec_list(b, NULL, 0));
		}
		return 0;
	}
	if (status != 200)
		return err_msg(e, -EBADMSG, "%s: unexpected HTTP status %ld",
		               d->id, status);
	doc = scratch;
	if ((r = jd_parse(&doc, body != NULL ? body : "", len, e)) < 0) {
		scratch = doc;
		return r;
	}
	buf_init(&dc.scratch, 0);
	dc.b = crec_builder_new();
	switch (d->kind) {
	case DEP_CATALOG_NODES:
		r = decode_nodes(&dc, &root, e);
		compact = true;
		break;
	case DEP_CATALOG_SERVICES:
		r = decode_services(&dc, &root, e);
		compact = true;
		break;
	case DEP_CATALOG_NODE:
		r = decode_node(&dc, &root, e);
		compact = true;
		break;
	case DEP_HEALTH_SERVICE:
	case DEP_HEALTH_CONNECT:
		r = decode_health(&dc, &root, e);
		compact = true;
		break;
	case DEP_KV_LIST:
		r = decode_kv_list(&dc, &root, e);
		compact = true;
		break;
	case DEP_DATACENTERS:
		r = decode_datacenters(&dc, &out, e);
		break;
	case DEP_KV_GET:
		r = decode_kv_get(&dc, &out, e);
		break;
	case DEP_AGENT_SELF:
		r = decode_agent_self(&dc, &out, e);
		break;
	default:
		r = err_msg(e, -EINVAL, "unknown dependency kind");
		break;
	}
	/* The parse is over: only the records stay. */
	if (doc.cap * sizeof(*doc.nodes) + doc.scap > DEP_SCRATCH_KEEP)
		jd_free(&doc);
	scratch = doc;
	buf_free(&dc.scratch);
	if (r == 0 && compact) {
		out = crec_finish(dc.b, root);
		dc.b = NULL;
		if (out == NULL)
			r = err_msg(e, -EBADMSG,
			            "%s: response too large to keep", d->id);
	}
	crec_builder_free(dc.b);
	if (r == 0)
		*ret = out;
	else
		json_decref(out);
	return r;
}
