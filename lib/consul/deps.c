/*
 * Dependencies, part one: a dep's identity. consul-template's query
 * specs, parsed; the canonical id two equal queries share; the request
 * path and query parameters. Decoding Consul's answers is dep_decode.c's.
 *
 * Specs follow consul-template's regular expressions (dependency.go):
 *   service  "[tag.]name[@dc][~near][|filter,...]"
 *   nodes    "[@dc][~near]"         services "[@dc]"
 *   node     "name[@dc]"            key/ls/tree "path[@dc]"
 * The node function resolves an empty name through /v1/agent/self itself;
 * dep_new() refuses a node dep without a name.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/xmalloc.h"
#include "consul/dep_priv.h"
#include "consul/deps.h"
#include "hosts/hosts.h"

#define DEP_MAX_SPEC 1024 /* bytes of a spec */

/* --- text helpers ------------------------------------------------------ */

const char *const dep_filter_names[DEP_NFILTERS] = {
        "any", "critical", "maintenance", "passing", "warning"};

char *dep_quote(const char *s, size_t n)
{
	struct buf b;

	buf_init(&b, 0);
	buf_putc(&b, '"');
	(void)hosts_escape(s, n, DEP_QUOTE_MAX, &b);
	buf_putc(&b, '"');
	return buf_take(&b, NULL);
}

bool dep_has_control(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

static bool word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* s[0..n) is non-empty and made of [[:word:]] plus the bytes of extra. */
static bool spec_chars_ok(const char *s, size_t n, const char *extra)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!word_char((unsigned char)s[i]) &&
		    strchr(extra, s[i]) == NULL)
			return false;
	return true;
}

int dep_cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

/* --- specs ------------------------------------------------------------- */

static const char *kind_label(enum dep_kind kind)
{
	switch (kind) {
	case DEP_CATALOG_NODES:
		return "nodes";
	case DEP_CATALOG_SERVICES:
		return "services";
	case DEP_CATALOG_NODE:
		return "node";
	case DEP_HEALTH_SERVICE:
		return "service";
	case DEP_HEALTH_CONNECT:
		return "connect";
	case DEP_DATACENTERS:
		return "datacenters";
	case DEP_KV_GET:
		return "key";
	case DEP_KV_LIST:
		return "prefix";
	case DEP_AGENT_SELF:
		return "agent self";
	}
	return "dependency";
}

/* Fail with 'label "spec": why', the spec quoted and escaped. */
static int spec_error(struct err *e, enum dep_kind kind, const char *spec,
                      const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int spec_error(struct err *e, enum dep_kind kind, const char *spec,
                      const char *fmt, ...)
{
	char why[384];
	char *q = dep_quote(spec, strlen(spec));
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	err_msg(e, -EINVAL, "%s %s: %s", kind_label(kind), q, why);
	free(q);
	return -EINVAL;
}

/* A quoted copy of s[0..n) for a message, in a caller's small buffer. */
static const char *part(char *out, size_t size, const char *s, size_t n)
{
	char *q = dep_quote(s, n);

	snprintf(out, size, "%s", q);
	free(q);
	return out;
}

/*
 * Split s[0..*n) into its main part and the "@dc" and (when allow_near)
 * "~near" suffixes. On return *n is the main part's length.
 */
static int parse_suffixes(struct dep *d, const char *spec, const char *s,
                          size_t *n, bool allow_near, struct err *e)
{
	const char *at = memchr(s, '@', *n);
	const char *tilde = allow_near ? memchr(s, '~', *n) : NULL;
	const char *end = s + *n;
	char q[128];

	if (at != NULL && tilde != NULL && tilde < at)
		return spec_error(e, d->kind, spec,
		                  "\"@datacenter\" must come before \"~near\"");
	if (tilde != NULL) {
		size_t len = (size_t)(end - tilde - 1);

		if (!spec_chars_ok(tilde + 1, len, ".-"))
			return spec_error(e, d->kind, spec, "invalid near %s",
			                  part(q, sizeof(q), tilde + 1, len));
		d->near = xstrndup(tilde + 1, len);
		end = tilde;
	}
	if (at != NULL) {
		size_t len = (size_t)(end - at - 1);

		if (!spec_chars_ok(at + 1, len, ".-"))
			return spec_error(e, d->kind, spec,
			                  "invalid datacenter %s",
			                  part(q, sizeof(q), at + 1, len));
		d->dc = xstrndup(at + 1, len);
		end = at;
	}
	*n = (size_t)(end - s);
	return 0;
}

static int parse_filters(struct dep *d, const char *spec, const char *s,
                         size_t n, struct err *e)
{
	const char *p = s, *end = s + n;
	char q[128];

	d->filters = 0;
	while (p <= end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *fe = comma != NULL ? comma : end;
		const char *fs = p;
		size_t i;

		while (fs < fe && (*fs == ' ' || *fs == '\t'))
			fs++;
		while (fe > fs && (fe[-1] == ' ' || fe[-1] == '\t'))
			fe--;
		if (fe > fs) {
			for (i = 0; i < DEP_NFILTERS; i++)
				if (strlen(dep_filter_names[i]) ==
				            (size_t)(fe - fs) &&
				    memcmp(dep_filter_names[i], fs,
				           (size_t)(fe - fs)) == 0)
					break;
			if (i == DEP_NFILTERS)
				return spec_error(
				        e, d->kind, spec,
				        "invalid filter %s (expected any, "
				        "passing, warning, critical or "
				        "maintenance)",
				        part(q, sizeof(q), fs,
				             (size_t)(fe - fs)));
			d->filters |= 1u << i;
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	if (d->filters == 0)
		return spec_error(e, d->kind, spec, "empty filter list");
	if (d->filters & HF_ANY)
		d->filters = HF_ANY;
	return 0;
}

static int parse_service(struct dep *d, const char *spec, struct err *e)
{
	const char *orig = spec;
	const char *bar = strchr(spec, '|');
	size_t n = bar != NULL ? (size_t)(bar - spec) : strlen(spec);
	const char *dot;
	char q[128];
	int r;

	if (strchr(spec, '?') != NULL)
		return spec_error(e, d->kind, spec,
		                  "query parameters (?ns=, ?peer=, ...) are "
		                  "not supported");
	d->filters = HF_PASSING;
	if (bar != NULL &&
	    (r = parse_filters(d, spec, bar + 1, strlen(bar + 1), e)) < 0)
		return r;
	if ((r = parse_suffixes(d, spec, spec, &n, true, e)) < 0)
		return r;
	/* consul-template's tag regex is greedy: the name follows the last
	 * dot, everything before it is the tag. */
	dot = NULL;
	for (size_t i = 0; i < n; i++)
		if (spec[i] == '.')
			dot = spec + i;
	if (dot != NULL) {
		size_t tlen = (size_t)(dot - spec);

		if (!spec_chars_ok(spec, tlen, "=:.-"))
			return spec_error(e, d->kind, orig, "invalid tag %s",
			                  part(q, sizeof(q), spec, tlen));
		d->tag = xstrndup(spec, tlen);
		n -= tlen + 1;
		spec = dot + 1;
	}
	if (n == 0)
		return spec_error(e, d->kind, orig, "missing service name");
	if (!spec_chars_ok(spec, n, "-"))
		return spec_error(e, d->kind, orig, "invalid service name %s",
		                  part(q, sizeof(q), spec, n));
	d->name = xstrndup(spec, n);
	return 0;
}

static int parse_spec(struct dep *d, const char *spec, struct err *e)
{
	size_t n = strlen(spec);
	const char *s = spec;
	char q[128];
	int r;

	switch (d->kind) {
	case DEP_HEALTH_SERVICE:
	case DEP_HEALTH_CONNECT:
		return parse_service(d, spec, e);
	case DEP_CATALOG_NODES:
	case DEP_CATALOG_SERVICES:
		r = parse_suffixes(d, spec, s, &n, d->kind == DEP_CATALOG_NODES,
		                   e);
		if (r == 0 && n > 0)
			r = spec_error(e, d->kind, spec,
			               "unexpected %s (expected %s)",
			               part(q, sizeof(q), s, n),
			               d->kind == DEP_CATALOG_NODES
			                       ? "\"@datacenter\" or \"~near\""
			                       : "\"@datacenter\"");
		return r;
	case DEP_CATALOG_NODE:
		if ((r = parse_suffixes(d, spec, s, &n, false, e)) < 0)
			return r;
		if (n == 0)
			return spec_error(e, d->kind, spec,
			                  "node without a name (the node "
			                  "function resolves the local node "
			                  "through agent self)");
		if (!spec_chars_ok(s, n, ".-"))
			return spec_error(e, d->kind, spec,
			                  "invalid node name %s",
			                  part(q, sizeof(q), s, n));
		d->name = xstrndup(s, n);
		return 0;
	case DEP_KV_GET:
	case DEP_KV_LIST:
		if (*s == '/') {
			s++;
			n--;
		}
		if ((r = parse_suffixes(d, spec, s, &n, false, e)) < 0)
			return r;
		if (n == 0 && d->kind == DEP_KV_GET)
			return spec_error(e, d->kind, spec, "missing key path");
		d->name = xstrndup(s, n);
		return 0;
	case DEP_DATACENTERS:
	case DEP_AGENT_SELF:
		if (n > 0)
			return spec_error(e, d->kind, spec,
			                  "takes no arguments");
		return 0;
	}
	return spec_error(e, d->kind, spec, "unknown dependency kind");
}

static void put_dc_near(struct buf *b, const struct dep *d)
{
	if (d->dc != NULL)
		buf_printf(b, "@%s", d->dc);
	if (d->near != NULL)
		buf_printf(b, "~%s", d->near);
}

static void make_id(struct dep *d)
{
	struct buf b;

	buf_init(&b, 0);
	switch (d->kind) {
	case DEP_CATALOG_NODES:
	case DEP_CATALOG_SERVICES:
		buf_puts(&b, d->kind == DEP_CATALOG_NODES ? "catalog.nodes"
		                                          : "catalog.services");
		if (d->dc != NULL || d->near != NULL) {
			buf_putc(&b, '(');
			put_dc_near(&b, d);
			buf_putc(&b, ')');
		}
		break;
	case DEP_CATALOG_NODE:
		buf_printf(&b, "catalog.node(%s", d->name);
		put_dc_near(&b, d);
		buf_putc(&b, ')');
		break;
	case DEP_HEALTH_SERVICE:
	case DEP_HEALTH_CONNECT:
		buf_puts(&b, d->kind == DEP_HEALTH_CONNECT ? "health.connect("
		                                           : "health.service(");
		if (d->tag != NULL)
			buf_printf(&b, "%s.", d->tag);
		buf_puts(&b, d->name);
		put_dc_near(&b, d);
		buf_putc(&b, '|');
		for (size_t i = 0, first = 1; i < DEP_NFILTERS; i++) {
			if (!(d->filters & (1u << i)))
				continue;
			buf_printf(&b, "%s%s", first ? "" : ",",
			           dep_filter_names[i]);
			first = 0;
		}
		buf_putc(&b, ')');
		break;
	case DEP_DATACENTERS:
		buf_puts(&b, "catalog.datacenters");
		break;
	case DEP_KV_GET:
	case DEP_KV_LIST:
		buf_printf(&b, "%s(%s",
		           d->kind == DEP_KV_LIST ? "kv.list"
		           : d->kv_block          ? "kv.block"
		                                  : "kv.get",
		           d->name);
		put_dc_near(&b, d);
		buf_putc(&b, ')');
		break;
	case DEP_AGENT_SELF:
		buf_puts(&b, "agent.self");
		break;
	}
	free(d->id);
	d->id = buf_take(&b, NULL);
}

int dep_new(enum dep_kind kind, const char *spec, struct dep **ret,
            struct err *e)
{
	struct dep *d;
	int r;

	if (spec == NULL)
		spec = "";
	if (strlen(spec) > DEP_MAX_SPEC)
		return err_msg(e, -EINVAL, "%s spec longer than %d bytes",
		               kind_label(kind), DEP_MAX_SPEC);
	if (dep_has_control(spec, strlen(spec)))
		return spec_error(e, kind, spec, "control character in spec");
	d = xcalloc(1, sizeof(*d));
	d->kind = kind;
	if ((r = parse_spec(d, spec, e)) < 0) {
		dep_free(d);
		return r;
	}
	make_id(d);
	*ret = d;
	return 0;
}

void dep_kv_block(struct dep *d)
{
	if (d->kind != DEP_KV_GET)
		return;
	d->kv_block = true;
	make_id(d);
}

bool dep_id_null_is_missing(const char *id)
{
	return id != NULL && strncmp(id, "kv.block(", 9) == 0;
}

void dep_set_checks(struct dep *d, enum dep_checks keep)
{
	d->checks = keep;
}

bool dep_id_compact(const char *id)
{
	static const char *const prefixes[] = {
	        "catalog.nodes",   "catalog.services", "catalog.node(",
	        "health.service(", "health.connect(",  "kv.list(",
	};

	if (id == NULL)
		return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(id, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct dep *dep_dup(const struct dep *d)
{
	struct dep *c;

	if (d == NULL)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->kind = d->kind;
	c->kv_block = d->kv_block;
	c->name = dup_or_null(d->name);
	c->tag = dup_or_null(d->tag);
	c->dc = dup_or_null(d->dc);
	c->near = dup_or_null(d->near);
	c->filters = d->filters;
	c->checks = d->checks;
	c->id = xstrdup(d->id);
	return c;
}

struct dep *dep_free(struct dep *d)
{
	if (d == NULL)
		return NULL;
	free(d->name);
	free(d->tag);
	free(d->dc);
	free(d->near);
	free(d->id);
	free(d);
	return NULL;
}

enum dep_kind dep_kind(const struct dep *d)
{
	return d->kind;
}

const char *dep_id(const struct dep *d)
{
	return d->id;
}

bool dep_blocking(const struct dep *d)
{
	return d->kind != DEP_DATACENTERS && d->kind != DEP_AGENT_SELF;
}

bool dep_cached(const struct dep *d)
{
	switch (d->kind) {
	case DEP_CATALOG_SERVICES:
		return true;
	case DEP_HEALTH_SERVICE:
	case DEP_HEALTH_CONNECT:
		return d->near == NULL;
	default:
		return false;
	}
}

/* --- request paths ----------------------------------------------------- */

/* s[0..n) is a "." or ".." path segment, which URL normalisation (curl's,
 * a proxy's) would resolve away unless its dots are encoded. */
static bool dot_segment(const char *s, size_t n)
{
	return (n == 1 && s[0] == '.') ||
	       (n == 2 && s[0] == '.' && s[1] == '.');
}

static void url_put(struct buf *b, const char *s, bool keep_slash)
{
	const char *seg = s;

	for (const char *p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		size_t seglen;

		if (c == '/' && keep_slash) {
			buf_putc(b, '/');
			seg = p + 1;
			continue;
		}
		seglen = strcspn(seg, keep_slash ? "/" : "");
		if (word_char(c) || c == '-' || c == '~' ||
		    (c == '.' && !dot_segment(seg, seglen)))
			buf_putc(b, (char)c);
		else
			buf_printf(b, "%%%02X", c);
	}
}

/* Append "?key=value" or "&key=value" (value NULL: just the key). */
static void query_put(struct buf *b, bool *first, const char *key,
                      const char *value)
{
	buf_putc(b, *first ? '?' : '&');
	*first = false;
	buf_puts(b, key);
	if (value != NULL) {
		buf_putc(b, '=');
		url_put(b, value, false);
	}
}

char *dep_request_path(const struct dep *d)
{
	struct buf b;
	bool first = true;

	buf_init(&b, 0);
	switch (d->kind) {
	case DEP_CATALOG_NODES:
		buf_puts(&b, "/v1/catalog/nodes");
		break;
	case DEP_CATALOG_SERVICES:
		buf_puts(&b, "/v1/catalog/services");
		break;
	case DEP_CATALOG_NODE:
		buf_puts(&b, "/v1/catalog/node/");
		url_put(&b, d->name, false);
		break;
	case DEP_HEALTH_SERVICE:
	case DEP_HEALTH_CONNECT:
		buf_puts(&b, d->kind == DEP_HEALTH_CONNECT
		                     ? "/v1/health/connect/"
		                     : "/v1/health/service/");
		url_put(&b, d->name, false);
		/* Only a pure "passing" filter can be left to the server;
		 * any other set is fetched whole and filtered here. */
		if (d->filters == HF_PASSING)
			query_put(&b, &first, "passing", NULL);
		if (d->tag != NULL)
			query_put(&b, &first, "tag", d->tag);
		break;
	case DEP_DATACENTERS:
		buf_puts(&b, "/v1/catalog/datacenters");
		break;
	case DEP_KV_GET:
	case DEP_KV_LIST:
		buf_puts(&b, "/v1/kv/");
		url_put(&b, d->name, true);
		if (d->kind == DEP_KV_LIST)
			query_put(&b, &first, "recurse", NULL);
		break;
	case DEP_AGENT_SELF:
		buf_puts(&b, "/v1/agent/self");
		break;
	}
	if (d->dc != NULL)
		query_put(&b, &first, "dc", d->dc);
	if (d->near != NULL)
		query_put(&b, &first, "near", d->near);
	return buf_take(&b, NULL);
}
