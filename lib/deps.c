/*
 * Dependencies: consul-template's query specs, canonical ids, request paths
 * and the decoders that turn Consul's answers into template values.
 *
 * Specs follow consul-template's regular expressions (dependency.go):
 *   service  "[tag.]name[@dc][~near][|filter,...]"
 *   nodes    "[@dc][~near]"         services "[@dc]"
 *   node     "name[@dc]"            key/ls/tree "path[@dc]"
 * The node function resolves an empty name through /v1/agent/self itself;
 * dep_new() refuses a node dep without a name.
 *
 * Decoders produce consul-template's structs as jansson objects (every
 * field present, zero values where Consul sent nothing) and drop records
 * that could inject into a hosts file, one message per record in dropped.
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
 * Records are consul-template's structs (trecord.h): made by trec_new(),
 * with every field of the Go struct set.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "deps.h"
#include "hosts.h"
#include "trecord.h"
#include "xmalloc.h"

#define DEP_MAX_SPEC 1024 /* bytes of a spec */
/* Bytes of a response body: config's largest max_response_size. */
#define DEP_MAX_BODY    (1024u << 20)
#define DEP_QUOTE_MAX   80   /* bytes of Consul text quoted in a message */
#define DEP_MAX_DROPPED 1000 /* messages appended per decode */

enum health_filter {
	HF_ANY = 1 << 0,
	HF_CRITICAL = 1 << 1,
	HF_MAINT = 1 << 2,
	HF_PASSING = 1 << 3,
	HF_WARNING = 1 << 4,
};

/* Sorted, as consul-template sorts the filter list before printing it. */
static const char *const filter_names[] = {"any", "critical", "maintenance",
                                           "passing", "warning"};
#define NFILTERS (sizeof(filter_names) / sizeof(filter_names[0]))

struct dep {
	enum dep_kind kind;
	bool kv_block; /* DEP_KV_GET for `key`: 404 means "no data yet" */
	char *name;    /* service or node name, KV path or prefix */
	char *tag;     /* NULL when none */
	char *dc;      /* NULL when none */
	char *near;    /* NULL when none */
	unsigned filters;
	char *id;
};

/* --- text helpers ------------------------------------------------------ */

/*
 * s[0..n) as a double-quoted, escaped, bounded string for a message
 * (new string): "web\n1", "\x00", "xxxx...".
 */
static char *quote(const char *s, size_t n)
{
	struct buf b;
	size_t max = n < DEP_QUOTE_MAX ? n : DEP_QUOTE_MAX;

	buf_init(&b, 0);
	buf_putc(&b, '"');
	for (size_t i = 0; i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			buf_printf(&b, "\\%c", c);
		else if (c == '\n')
			buf_puts(&b, "\\n");
		else if (c == '\t')
			buf_puts(&b, "\\t");
		else if (c == '\r')
			buf_puts(&b, "\\r");
		else if (c < 0x20 || c >= 0x7f)
			buf_printf(&b, "\\x%02x", c);
		else
			buf_putc(&b, (char)c);
	}
	if (max < n)
		buf_puts(&b, "...");
	buf_putc(&b, '"');
	return buf_take(&b, NULL);
}

static char *quote_json(json_t *s)
{
	return quote(json_string_value(s), json_string_length(s));
}

static bool has_control(const char *s, size_t n)
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

/* Bytewise, like Go's string comparison. */
static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

static int cmp_json_str(json_t *a, json_t *b)
{
	return cmp_bytes(json_string_value(a), json_string_length(a),
	                 json_string_value(b), json_string_length(b));
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
	char *q = quote(spec, strlen(spec));
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
	char *q = quote(s, n);

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
			for (i = 0; i < NFILTERS; i++)
				if (strlen(filter_names[i]) ==
				            (size_t)(fe - fs) &&
				    memcmp(filter_names[i], fs,
				           (size_t)(fe - fs)) == 0)
					break;
			if (i == NFILTERS)
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
		for (size_t i = 0, first = 1; i < NFILTERS; i++) {
			if (!(d->filters & (1u << i)))
				continue;
			buf_printf(&b, "%s%s", first ? "" : ",",
			           filter_names[i]);
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
	if (has_control(spec, strlen(spec)))
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

/* --- parsing bodies ---------------------------------------------------- */

/* The digits of an integer token overflow int64 (sign excluded). */
static bool int_overflows(const char *digits, size_t n, bool negative)
{
	const char *max =
	        negative ? "9223372036854775808" : "9223372036854775807";

	while (n > 1 && *digits == '0') {
		digits++;
		n--;
	}
	if (n != 19)
		return n > 19;
	return memcmp(digits, max, 19) > 0;
}

/*
 * Copy body to out with every integer that jansson cannot hold (KV Flags
 * are uint64: 18446744073709551615) turned into a real ("...0.0"), so the
 * document still parses; such a value then reads as a lossy real.
 */
static void widen_big_integers(const char *body, size_t len, struct buf *out)
{
	size_t i = 0;
	bool in_string = false;

	while (i < len) {
		char c = body[i];

		if (in_string) {
			size_t start = i;

			while (i < len && body[i] != '"' && body[i] != '\\')
				i++;
			if (i < len && body[i] == '\\')
				i = i + 2 <= len ? i + 2 : len;
			else if (i < len) {
				in_string = false;
				i++;
			}
			buf_append(out, body + start, i - start);
			continue;
		}
		if (c == '"') {
			in_string = true;
			buf_putc(out, c);
			i++;
			continue;
		}
		if (c == '-' || (c >= '0' && c <= '9')) {
			size_t start = i, digits;
			bool integer = true;

			while (i < len && strchr("0123456789+-.eE", body[i]) &&
			       body[i] != '\0') {
				if (strchr(".eE+", body[i]) ||
				    (body[i] == '-' && i > start))
					integer = false;
				i++;
			}
			buf_append(out, body + start, i - start);
			digits = i - start - (c == '-');
			if (integer && digits > 0 &&
			    int_overflows(body + start + (c == '-'), digits,
			                  c == '-'))
				buf_puts(out, ".0");
			continue;
		}
		buf_putc(out, c);
		i++;
	}
}

static int parse_body(const char *body, size_t len, json_t **ret, struct err *e)
{
	const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
	json_error_t je;
	json_t *root = json_loadb(body, len, flags, &je);

	if (root == NULL && strstr(je.text, "too big") != NULL) {
		struct buf wide;

		buf_init(&wide, 0);
		widen_big_integers(body, len, &wide);
		root = json_loadb(wide.data != NULL ? wide.data : "", wide.len,
		                  flags, &je);
		buf_free(&wide);
	}
	if (root == NULL)
		return err_set(e, -EBADMSG, NULL, je.line, je.column,
		               "invalid JSON: %s", je.text);
	*ret = root;
	return 0;
}

/* --- record helpers ---------------------------------------------------- */

struct dropper {
	json_t *dropped;
	size_t count;
	const struct dep_names *names; /* may be NULL */
};

static void drop(struct dropper *dr, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void drop(struct dropper *dr, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (dr->dropped == NULL || dr->count >= DEP_MAX_DROPPED)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(dr->dropped, json_string(msg));
	dr->count++;
}

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

/*
 * Whether a record with name s (a node or service name) at address addr
 * (or NULL) may not be kept; why (size bytes) then says which entry.
 */
static bool name_reserved(const struct dropper *dr, json_t *s, json_t *addr,
                          char *why, size_t size)
{
	const char *entry = dep_name_reserved(
	        dr->names, json_string_value(s), json_string_length(s),
	        addr != NULL ? json_string_value(addr) : NULL);

	if (entry == NULL)
		return false;
	snprintf(why, size, "reserved name (matches \"%.100s\"%s)", entry,
	         entry_of(dr->names->own, entry)
	                 ? ", this node's name, at another address"
	                 : "");
	return true;
}

/*
 * The string field key of o, "" when absent or null (a new reference).
 * NULL when it has another type.
 */
static json_t *str_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return json_string("");
	if (!json_is_string(v))
		return NULL;
	return json_incref(v);
}

static json_int_t int_field(json_t *o, const char *key, json_int_t dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* A copy of an index-like number (integer, or real after widening). */
static json_t *number_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_incref(v) : json_integer(0);
}

static bool str_is_empty(json_t *s)
{
	return json_string_length(s) == 0;
}

static bool str_has_control(json_t *s)
{
	return has_control(json_string_value(s), json_string_length(s));
}

/*
 * s is an IP literal a hosts file can map a name to. No zone ids: "fe80::1%
 * eth0" only means something on the node that registered it. Not the
 * unspecified address (0.0.0.0, ::), which Consul itself refuses for
 * services and which no client can connect to.
 */
static bool addr_ok(json_t *s)
{
	unsigned char raw[sizeof(struct in6_addr)] = {0};
	const char *a = json_string_value(s);

	if (!hosts_addr_ok(a, json_string_length(s), false))
		return false;
	if (inet_pton(AF_INET, a, raw) != 1 && inet_pton(AF_INET6, a, raw) != 1)
		return false;
	for (size_t i = 0; i < sizeof(raw); i++)
		if (raw[i] != 0)
			return true;
	return false;
}

static bool name_ok(json_t *s)
{
	return hosts_name_ok(json_string_value(s), json_string_length(s));
}

static json_t *one_line(json_t *s);

/*
 * A copy of the string map o (Meta), {} when absent or null. Values are
 * free text: control bytes become spaces (Consul accepts a tab or a
 * newline in them). An entry whose key holds a control byte, or whose
 * value is not a string, is left out and reported as "<who>: Meta key
 * "..." left out: why"; the record stays.
 */
static json_t *string_map(json_t *o, struct dropper *dr, const char *who)
{
	json_t *out = json_object(), *v;
	const char *k;
	size_t klen;

	if (o == NULL || json_is_null(o))
		return out;
	if (!json_is_object(o)) {
		drop(dr, "%s: Meta is not a map; left out", who);
		return out;
	}
	json_object_keylen_foreach(o, k, klen, v)
	{
		char *q;

		if (json_is_string(v) && !has_control(k, klen)) {
			json_object_setn_new_nocheck(out, k, klen, one_line(v));
			continue;
		}
		q = quote(k, klen);
		drop(dr, "%s: Meta key %s left out: %s", who, q,
		     json_is_string(v) ? "control character in the key"
		                       : "the value is not a string");
		free(q);
	}
	return out;
}

/*
 * A copy of tagged addresses o ({"lan": "10.0.0.1"} for nodes, {"lan_ipv4":
 * {"Address": ..., "Port": ...}} for services), {} when absent or null.
 * Entries whose address is not an IP literal are left out, each reported.
 */
static json_t *tagged_addresses(json_t *o, struct dropper *dr, const char *who)
{
	json_t *out = json_object(), *v;
	const char *k;
	size_t klen;

	if (!json_is_object(o))
		return out;
	json_object_keylen_foreach(o, k, klen, v)
	{
		json_t *a =
		        json_is_object(v) ? json_object_get(v, "Address") : v;
		char *qk, *qa;

		if (json_is_string(a) && addr_ok(a) && !has_control(k, klen)) {
			json_t *sa = NULL;

			if (json_is_object(v)) {
				sa = trec_new(TREC_SERVICE_ADDRESS);
				json_object_set(sa, "Address", a);
				json_object_set_new(
				        sa, "Port",
				        json_integer(int_field(v, "Port", 0)));
			}
			json_object_setn_new_nocheck(
			        out, k, klen, sa != NULL ? sa : json_incref(a));
			continue;
		}
		qk = quote(k, klen);
		qa = json_is_string(a) ? quote_json(a)
		                       : xstrdup("(not a string)");
		drop(dr,
		     "%s: tagged address %s %s is not a usable IP address; "
		     "left out",
		     who, qk, qa);
		free(qk);
		free(qa);
	}
	return out;
}

/*
 * Why tag t cannot reach a template, NULL when it can. Tags are data, kept
 * verbatim as consul-template keeps them (Traefik's "Host(`a`) &&
 * PathPrefix(`/`)" has blanks; byTag, contains and "tag.name" must see
 * the catalog consul-template sees): a tag printed into a line is checked
 * with that line. Only a control byte (a line break, a NUL) drops a tag:
 * printed, it would end the line it is in.
 */
static const char *tag_problem(json_t *t)
{
	const char *s = json_string_value(t);
	size_t n = json_string_length(t);

	if (!json_is_string(t))
		return "not a string";
	if (has_control(s, n))
		return "control character in a tag";
	return NULL;
}

/*
 * A copy of the tag list t ([] when absent), sorted when sort is set; NULL
 * when t is not a list. A tag with a control byte is left out, reported as
 * "<who>: tag "..." dropped: why"; the record stays.
 */
static json_t *safe_tags(json_t *t, bool sort, struct dropper *dr,
                         const char *who)
{
	json_t *out = json_array(), *v;
	size_t i, n;

	if (t == NULL || json_is_null(t))
		return out;
	if (!json_is_array(t)) {
		json_decref(out);
		return NULL;
	}
	json_array_foreach(t, i, v)
	{
		const char *why = tag_problem(v);
		char *q;

		if (why == NULL) {
			json_array_append(out, v);
			continue;
		}
		q = json_is_string(v) ? quote_json(v)
		                      : xstrdup("(not a string)");
		drop(dr, "%s: tag %s dropped: %s", who, q, why);
		free(q);
	}
	n = json_array_size(out);
	if (!sort || n < 2)
		return out;
	{
		json_t **items = xreallocarray(NULL, n, sizeof(*items));

		for (i = 0; i < n; i++)
			items[i] = json_incref(json_array_get(out, i));
		/* insertion sort: tag lists are short */
		for (i = 1; i < n; i++) {
			json_t *x = items[i];
			size_t j = i;

			while (j > 0 && cmp_json_str(items[j - 1], x) > 0) {
				items[j] = items[j - 1];
				j--;
			}
			items[j] = x;
		}
		json_array_clear(out);
		for (i = 0; i < n; i++)
			json_array_append_new(out, items[i]);
		free(items);
	}
	return out;
}

/*
 * Free text (a check's Output or Notes) as a new string with every control
 * byte (NUL, CR, LF, tab, ...) turned into a space: it may be printed, but
 * never start a line of its own. Not a string: "".
 */
static json_t *one_line(json_t *s)
{
	const char *v = json_string_value(s);
	size_t n = json_string_length(s);
	char *copy;
	json_t *out;

	if (!json_is_string(s))
		return json_string("");
	if (!has_control(v, n))
		return json_incref(s);
	copy = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		copy[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	copy[n] = '\0';
	/* Only ASCII bytes changed: still valid UTF-8. */
	out = json_stringn_nocheck(copy, n);
	free(copy);
	return out;
}

/* --- sorting ----------------------------------------------------------- */

struct sort_item {
	json_t *v;
	size_t pos; /* input position, for a stable sort */
	const char *k1;
	size_t k1len;
	const char *k2;
	size_t k2len;
};

static int sort_item_cmp(const void *a, const void *b)
{
	const struct sort_item *x = a, *y = b;
	int c = cmp_bytes(x->k1, x->k1len, y->k1, y->k1len);

	if (c == 0 && x->k2 != NULL)
		c = cmp_bytes(x->k2, x->k2len, y->k2, y->k2len);
	if (c == 0)
		c = x->pos < y->pos ? -1 : x->pos > y->pos;
	return c;
}

/* Stable-sort array a of objects by string field f1, then f2 (or NULL). */
static void sort_objects(json_t *a, const char *f1, const char *f2)
{
	size_t n = json_array_size(a);
	struct sort_item *items;

	if (n < 2)
		return;
	items = xreallocarray(NULL, n, sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(a, i);
		json_t *s1 = json_object_get(v, f1);
		json_t *s2 = f2 != NULL ? json_object_get(v, f2) : NULL;

		items[i].v = json_incref(v);
		items[i].pos = i;
		items[i].k1 = json_is_string(s1) ? json_string_value(s1) : "";
		items[i].k1len =
		        json_is_string(s1) ? json_string_length(s1) : 0;
		items[i].k2 = f2 == NULL           ? NULL
		              : json_is_string(s2) ? json_string_value(s2)
		                                   : "";
		items[i].k2len =
		        json_is_string(s2) ? json_string_length(s2) : 0;
	}
	qsort(items, n, sizeof(*items), sort_item_cmp);
	json_array_clear(a);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, items[i].v);
	free(items);
}

static void sort_strings(json_t *a)
{
	size_t n = json_array_size(a);
	struct sort_item *items;

	if (n < 2)
		return;
	items = xreallocarray(NULL, n, sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(a, i);

		items[i].v = json_incref(v);
		items[i].pos = i;
		items[i].k1 = json_string_value(v);
		items[i].k1len = json_string_length(v);
		items[i].k2 = NULL;
		items[i].k2len = 0;
	}
	qsort(items, n, sizeof(*items), sort_item_cmp);
	json_array_clear(a);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, items[i].v);
	free(items);
}

/* --- decoders ---------------------------------------------------------- */

static int shape_error(struct err *e, const struct dep *d, const char *want)
{
	return err_msg(e, -EBADMSG, "%s: unexpected response: expected %s",
	               d->id, want);
}

/*
 * The fields every node record shares ({ID, Node, Address, Datacenter,
 * TaggedAddresses, Meta}); NULL and a message in dr when it is hostile
 * or takes a reserved name.
 */
static json_t *node_record(json_t *n, struct dropper *dr)
{
	json_t *id = NULL, *name = NULL, *addr = NULL, *dc = NULL;
	json_t *meta = NULL, *out = NULL;
	char *qn = NULL, *qa = NULL, *who = NULL;
	const char *why = NULL;
	char reason[200];

	if (!json_is_object(n)) {
		drop(dr, "node record is not an object");
		return NULL;
	}
	name = str_field(n, "Node");
	if (name == NULL) {
		drop(dr, "node record without a Node name");
		return NULL;
	}
	qn = quote_json(name);
	who = xasprintf("node %s", qn);
	id = str_field(n, "ID");
	addr = str_field(n, "Address");
	dc = str_field(n, "Datacenter");
	if (!name_ok(name))
		why = "invalid node name";
	else if (addr == NULL)
		why = "Address is not a string";
	else if (!addr_ok(addr)) {
		/* A hosts file maps IP addresses to names; a hostname here
		 * (external nodes) would need resolving, which is not ours
		 * to do, and anything else could inject lines. */
		qa = quote_json(addr);
		drop(dr, "node %s: address %s is not a usable IP address", qn,
		     qa);
		goto out;
	} else if (id == NULL || dc == NULL || str_has_control(id) ||
	           str_has_control(dc))
		why = "invalid ID or Datacenter";
	else if (name_reserved(dr, name, addr, reason, sizeof(reason)))
		why = reason;
	if (why != NULL) {
		drop(dr, "%s: %s", who, why);
		goto out;
	}
	meta = string_map(json_object_get(n, "Meta"), dr, who);
	out = trec_new(TREC_NODE);
	json_object_set(out, "ID", id);
	json_object_set(out, "Node", name);
	json_object_set(out, "Address", addr);
	json_object_set(out, "Datacenter", dc);
	json_object_set_new(
	        out, "TaggedAddresses",
	        tagged_addresses(json_object_get(n, "TaggedAddresses"), dr,
	                         who));
	json_object_set(out, "Meta", meta);
out:
	json_decref(id);
	json_decref(name);
	json_decref(addr);
	json_decref(dc);
	json_decref(meta);
	free(qn);
	free(qa);
	free(who);
	return out;
}

static int decode_nodes(const struct dep *d, json_t *root, json_t **ret,
                        struct dropper *dr, struct err *e)
{
	json_t *out, *v;
	size_t i;

	if (!json_is_array(root))
		return shape_error(e, d, "an array of nodes");
	out = json_array();
	json_array_foreach(root, i, v)
	{
		json_t *rec = node_record(v, dr);

		if (rec != NULL)
			json_array_append_new(out, rec);
	}
	if (d->near == NULL)
		sort_objects(out, "Node", NULL);
	*ret = out;
	return 0;
}

static int decode_services(const struct dep *d, json_t *root, json_t **ret,
                           struct dropper *dr, struct err *e)
{
	json_t *out, *v;
	const char *k;
	size_t klen;

	if (!json_is_object(root))
		return shape_error(e, d, "an object of service names");
	out = json_array();
	json_object_keylen_foreach(root, k, klen, v)
	{
		json_t *tags;
		char *q = quote(k, klen), *who;

		const char *entry;

		if (!hosts_name_ok(k, klen)) {
			drop(dr, "service %s: invalid service name", q);
			free(q);
			continue;
		}
		/* No address to tell this node's own from another's. */
		entry = dr->names != NULL ? dep_name_reserved(
		                                    &(struct dep_names){
		                                            dr->names->reserved,
		                                            NULL, NULL},
		                                    k, klen, NULL)
		                          : NULL;
		if (entry != NULL) {
			drop(dr,
			     "service %s: reserved name (matches \"%.100s\")",
			     q, entry);
			free(q);
			continue;
		}
		who = xasprintf("service %s", q);
		tags = safe_tags(v, true, dr, who);
		free(who);
		if (tags == NULL) {
			drop(dr, "service %s: invalid tags", q);
			free(q);
			continue;
		}
		free(q);
		{
			json_t *rec = trec_new(TREC_CATALOG_SNIPPET);

			json_object_set_new(rec, "Name",
			                    json_stringn_nocheck(k, klen));
			json_object_set_new(rec, "Tags", tags);
			json_array_append_new(out, rec);
		}
	}
	sort_objects(out, "Name", NULL);
	*ret = out;
	return 0;
}

/* consul's api.HealthChecks.AggregatedStatus(). */
static const char *aggregated_status(json_t *checks)
{
	bool passing = false, warning = false, critical = false, maint = false;
	json_t *c;
	size_t i;

	json_array_foreach(checks, i, c)
	{
		const char *id =
		        json_string_value(json_object_get(c, "CheckID"));
		const char *st =
		        json_string_value(json_object_get(c, "Status"));

		if (!json_is_object(c))
			continue; /* left out of Checks too */

		if (id != NULL &&
		    (strcmp(id, "_node_maintenance") == 0 ||
		     strncmp(id, "_service_maintenance:", 21) == 0)) {
			maint = true;
			continue;
		}
		if (st != NULL && strcmp(st, "passing") == 0)
			passing = true;
		else if (st != NULL && strcmp(st, "warning") == 0)
			warning = true;
		else if (st != NULL && strcmp(st, "critical") == 0)
			critical = true;
		else
			return "";
	}
	(void)passing;
	if (maint)
		return "maintenance";
	if (critical)
		return "critical";
	if (warning)
		return "warning";
	return "passing";
}

static bool status_accepted(unsigned filters, const char *status)
{
	if (filters & HF_ANY)
		return true;
	for (size_t i = 0; i < NFILTERS; i++)
		if ((filters & (1u << i)) &&
		    strcmp(filter_names[i], status) == 0)
			return true;
	return false;
}

/*
 * The checks of a health entry as consul-template's api.HealthCheck
 * fields, nothing else (no Definition): free text made one line, hostile
 * ServiceTags left out. A check whose Output is a service's own answer
 * stays, so a healthy instance is never dropped for what it printed.
 */
static json_t *health_checks(json_t *checks, struct dropper *dr,
                             const char *who)
{
	static const char *const text[] = {
	        "Node",  "CheckID",   "Name",      "Status",
	        "Notes", "Output",    "ServiceID", "ServiceName",
	        "Type",  "Namespace", "Partition", "PeerName"};
	json_t *out = json_array(), *c;
	size_t i;

	json_array_foreach(checks, i, c)
	{
		json_t *rec, *tags;
		char *q, *cwho;

		if (!json_is_object(c)) {
			drop(dr, "%s: check that is not an object left out",
			     who);
			continue;
		}
		rec = trec_new(TREC_HEALTH_CHECK);
		for (size_t j = 0; j < sizeof(text) / sizeof(text[0]); j++)
			json_object_set_new(
			        rec, text[j],
			        one_line(json_object_get(c, text[j])));
		q = quote_json(json_object_get(rec, "CheckID"));
		cwho = xasprintf("%s: check %s", who, q);
		tags = safe_tags(json_object_get(c, "ServiceTags"), false, dr,
		                 cwho);
		json_object_set_new(rec, "ServiceTags",
		                    tags != NULL ? tags : json_array());
		json_object_set_new(
		        rec, "ExposedPort",
		        json_integer(int_field(c, "ExposedPort", 0)));
		json_object_set_new(rec, "CreateIndex",
		                    number_field(c, "CreateIndex"));
		json_object_set_new(rec, "ModifyIndex",
		                    number_field(c, "ModifyIndex"));
		json_array_append_new(out, rec);
		free(q);
		free(cwho);
	}
	return out;
}

struct health_fields {
	json_t *node, *node_id, *node_addr, *node_dc, *id, *name, *addr, *kind,
	        *socket, *ns, *partition, *peer;
};

static void health_fields_free(struct health_fields *f)
{
	json_t **all[] = {&f->node,   &f->node_id, &f->node_addr, &f->node_dc,
	                  &f->id,     &f->name,    &f->addr,      &f->kind,
	                  &f->socket, &f->ns,      &f->partition, &f->peer};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		json_decref(*all[i]);
		*all[i] = NULL;
	}
}

static json_t *health_record(const struct dep *d, json_t *entry,
                             struct dropper *dr)
{
	struct health_fields f = {0};
	json_t *node, *svc, *checks, *out = NULL;
	json_t *tags = NULL, *nmeta = NULL, *smeta = NULL, *w;
	const char *status, *why = NULL;
	char *qs = NULL, *qi = NULL, *qn = NULL, *qa = NULL, *who = NULL;
	char reason[200];

	node = json_object_get(entry, "Node");
	svc = json_object_get(entry, "Service");
	checks = json_object_get(entry, "Checks");
	if (!json_is_object(node) || !json_is_object(svc)) {
		drop(dr, "health entry without a Node and a Service object");
		return NULL;
	}
	if (!json_is_array(checks))
		checks = NULL;
	status = checks != NULL ? aggregated_status(checks) : "passing";
	if (!status_accepted(d->filters, status))
		return NULL;

	f.node = str_field(node, "Node");
	f.node_id = str_field(node, "ID");
	f.node_addr = str_field(node, "Address");
	f.node_dc = str_field(node, "Datacenter");
	f.id = str_field(svc, "ID");
	f.name = str_field(svc, "Service");
	f.addr = str_field(svc, "Address");
	f.kind = str_field(svc, "Kind");
	f.socket = str_field(svc, "SocketPath");
	f.ns = str_field(svc, "Namespace");
	f.partition = str_field(svc, "Partition");
	f.peer = str_field(svc, "PeerName");
	if (!f.node || !f.node_id || !f.node_addr || !f.node_dc || !f.id ||
	    !f.name || !f.addr || !f.kind || !f.socket || !f.ns ||
	    !f.partition || !f.peer) {
		drop(dr, "health entry with a non-string field");
		goto out;
	}
	if (str_is_empty(f.addr)) {
		json_decref(f.addr);
		f.addr = json_incref(f.node_addr);
	}
	qs = quote_json(f.name);
	qi = quote_json(f.id);
	qn = quote_json(f.node);
	who = xasprintf("service %s instance %s on node %s", qs, qi, qn);
	if (!name_ok(f.name))
		why = "invalid service name";
	else if (!name_ok(f.node))
		why = "invalid node name";
	else if (!str_is_empty(f.socket) && f.addr == f.node_addr)
		why = "listens on a unix socket and has no address";
	else if (!addr_ok(f.addr)) {
		qa = quote_json(f.addr);
		drop(dr, "%s: address %s is not a usable IP address", who, qa);
		goto out;
	} else if (str_has_control(f.id) || str_has_control(f.node_id) ||
	           str_has_control(f.node_dc) || str_has_control(f.kind) ||
	           str_has_control(f.ns) || str_has_control(f.partition) ||
	           str_has_control(f.peer))
		why = "control character in a field";
	else if (name_reserved(dr, f.name, f.addr, reason, sizeof(reason)) ||
	         name_reserved(dr, f.node, f.node_addr, reason, sizeof(reason)))
		why = reason;
	else if ((tags = safe_tags(json_object_get(svc, "Tags"), true, dr,
	                           who)) == NULL)
		why = "invalid tags";
	if (why != NULL) {
		drop(dr, "%s: %s", who, why);
		goto out;
	}
	nmeta = string_map(json_object_get(node, "Meta"), dr, who);
	smeta = string_map(json_object_get(svc, "Meta"), dr, who);

	out = trec_new(TREC_HEALTH_SERVICE);
	json_object_set(out, "Node", f.node);
	json_object_set(out, "NodeID", f.node_id);
	json_object_set(out, "Kind", f.kind);
	json_object_set(out, "NodeAddress", f.node_addr);
	json_object_set(out, "NodeDatacenter", f.node_dc);
	json_object_set_new(
	        out, "NodeTaggedAddresses",
	        tagged_addresses(json_object_get(node, "TaggedAddresses"), dr,
	                         who));
	json_object_set(out, "NodeMeta", nmeta);
	json_object_set(out, "ServiceMeta", smeta);
	json_object_set(out, "Address", f.addr);
	json_object_set_new(
	        out, "ServiceTaggedAddresses",
	        tagged_addresses(json_object_get(svc, "TaggedAddresses"), dr,
	                         who));
	json_object_set(out, "ID", f.id);
	json_object_set(out, "Name", f.name);
	json_object_set(out, "Tags", tags);
	json_object_set_new(out, "Checks",
	                    checks != NULL ? health_checks(checks, dr, who)
	                                   : json_array());
	json_object_set_new(out, "Status", json_string(status));
	json_object_set_new(out, "Port",
	                    json_integer(int_field(svc, "Port", 0)));
	w = json_object_get(svc, "Weights");
	{
		json_t *weights = trec_new(TREC_AGENT_WEIGHTS);

		json_object_set_new(weights, "Passing",
		                    json_integer(int_field(w, "Passing", 1)));
		json_object_set_new(weights, "Warning",
		                    json_integer(int_field(w, "Warning", 1)));
		json_object_set_new(out, "Weights", weights);
	}
	json_object_set(out, "Namespace", f.ns);
	json_object_set(out, "Partition", f.partition);
	json_object_set(out, "Peer", f.peer);
out:
	health_fields_free(&f);
	json_decref(tags);
	json_decref(nmeta);
	json_decref(smeta);
	free(qs);
	free(qi);
	free(qn);
	free(qa);
	free(who);
	return out;
}

static int decode_health(const struct dep *d, json_t *root, json_t **ret,
                         struct dropper *dr, struct err *e)
{
	json_t *out, *v;
	size_t i;

	if (!json_is_array(root))
		return shape_error(e, d, "an array of health entries");
	out = json_array();
	json_array_foreach(root, i, v)
	{
		json_t *rec = health_record(d, v, dr);

		if (rec != NULL)
			json_array_append_new(out, rec);
	}
	if (d->near == NULL)
		sort_objects(out, "Node", "ID");
	*ret = out;
	return 0;
}

static json_t *node_service(json_t *s, const char *node, json_t *node_addr,
                            struct dropper *dr)
{
	json_t *id, *name, *addr, *tags = NULL, *meta = NULL, *out = NULL;
	const char *why = NULL;
	char reason[200];
	char *qn = quote(node, strlen(node)), *qs = NULL, *qi = NULL;
	char *who = NULL;

	id = str_field(s, "ID");
	name = str_field(s, "Service");
	addr = str_field(s, "Address");
	if (!json_is_object(s) || id == NULL || name == NULL || addr == NULL) {
		drop(dr, "node %s: service record with a non-string field", qn);
		goto out;
	}
	qs = quote_json(name);
	qi = quote_json(id);
	who = xasprintf("service %s instance %s on node %s", qs, qi, qn);
	if (!name_ok(name))
		why = "invalid service name";
	else if (str_has_control(id))
		why = "control character in ID";
	else if (!str_is_empty(addr) && !addr_ok(addr))
		why = "address is not a usable IP address";
	else if (name_reserved(dr, name, str_is_empty(addr) ? node_addr : addr,
	                       reason, sizeof(reason)))
		why = reason;
	else if ((tags = safe_tags(json_object_get(s, "Tags"), true, dr,
	                           who)) == NULL)
		why = "invalid tags";
	if (why != NULL) {
		drop(dr, "%s: %s", who, why);
		goto out;
	}
	meta = string_map(json_object_get(s, "Meta"), dr, who);
	out = trec_new(TREC_CATALOG_NODE_SERVICE);
	json_object_set(out, "ID", id);
	json_object_set(out, "Service", name);
	json_object_set(out, "Tags", tags);
	json_object_set(out, "Meta", meta);
	json_object_set_new(out, "Port", json_integer(int_field(s, "Port", 0)));
	json_object_set(out, "Address", addr);
	json_object_set_new(out, "EnableTagOverride",
	                    json_boolean(json_is_true(
	                            json_object_get(s, "EnableTagOverride"))));
out:
	json_decref(id);
	json_decref(name);
	json_decref(addr);
	json_decref(tags);
	json_decref(meta);
	free(qn);
	free(qs);
	free(qi);
	free(who);
	return out;
}

static int decode_node(const struct dep *d, json_t *root, json_t **ret,
                       struct dropper *dr, struct err *e)
{
	json_t *node, *services, *list, *v, *naddr;
	const char *name;

	/* No such node: consul-template's empty &CatalogNode{} (a record
	 * whose Node is nil), which templates see as true. */
	if (json_is_null(root)) {
		*ret = trec_zero(TREC_CATALOG_NODE);
		return 0;
	}
	if (!json_is_object(root))
		return shape_error(e, d, "a node object or null");
	node = node_record(json_object_get(root, "Node"), dr);
	if (node == NULL) {
		/* The node itself is hostile: as if it did not exist. */
		*ret = trec_zero(TREC_CATALOG_NODE);
		return 0;
	}
	name = json_string_value(json_object_get(node, "Node"));
	naddr = json_object_get(node, "Address");
	list = json_array();
	services = json_object_get(root, "Services");
	if (json_is_object(services)) {
		const char *k;

		json_object_foreach(services, k, v)
		{
			json_t *s = node_service(v, name, naddr, dr);

			if (s != NULL)
				json_array_append_new(list, s);
		}
	} else if (json_is_array(services)) {
		size_t i;

		json_array_foreach(services, i, v)
		{
			json_t *s = node_service(v, name, naddr, dr);

			if (s != NULL)
				json_array_append_new(list, s);
		}
	}
	sort_objects(list, "Service", "ID");
	*ret = trec_new(TREC_CATALOG_NODE);
	json_object_set_new(*ret, "Node", node);
	json_object_set_new(*ret, "Services", list);
	return 0;
}

static int decode_datacenters(const struct dep *d, json_t *root, json_t **ret,
                              struct dropper *dr, struct err *e)
{
	json_t *out, *v;
	size_t i;

	if (!json_is_array(root))
		return shape_error(e, d, "an array of datacenter names");
	out = json_array();
	json_array_foreach(root, i, v)
	{
		char *q;

		if (json_is_string(v) && name_ok(v)) {
			json_array_append(out, v);
			continue;
		}
		q = json_is_string(v) ? quote_json(v)
		                      : xstrdup("(not a string)");
		drop(dr, "datacenter %s: invalid name", q);
		free(q);
	}
	sort_strings(out);
	*ret = out;
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
 * The decoded Value of KV entry kv as a string (new reference). Values are
 * bytes, not text: they are made with json_stringn_nocheck, so they may
 * hold NULs or invalid UTF-8 (printing them is the template's business).
 */
static json_t *kv_value(json_t *kv, const char *key, struct err *e)
{
	json_t *v = json_object_get(kv, "Value");
	struct buf b;
	json_t *out;

	if (v == NULL || json_is_null(v))
		return json_string("");
	buf_init(&b, 0);
	if (!json_is_string(v) ||
	    b64_decode(json_string_value(v), json_string_length(v), &b) < 0) {
		char *q = quote(key, strlen(key));

		err_msg(e, -EBADMSG, "key %s: Value is not base64", q);
		free(q);
		buf_free(&b);
		return NULL;
	}
	out = json_stringn_nocheck(b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	return out;
}

static int decode_kv_get(const struct dep *d, json_t *root, json_t **ret,
                         struct err *e)
{
	json_t *kv = json_array_get(root, 0), *v;

	if (json_is_null(root)) {
		*ret = json_null();
		return 0;
	}
	if (!json_is_array(root) ||
	    (json_array_size(root) > 0 && !json_is_object(kv)))
		return shape_error(e, d, "an array of KV entries");
	if (kv == NULL) {
		*ret = json_null();
		return 0;
	}
	if ((v = kv_value(kv, d->name, e)) == NULL)
		return -EBADMSG;
	*ret = v;
	return 0;
}

static int decode_kv_list(const struct dep *d, json_t *root, json_t **ret,
                          struct dropper *dr, struct err *e)
{
	size_t plen = strlen(d->name), i;
	json_t *out, *kv;

	if (json_is_null(root)) {
		*ret = json_array();
		return 0;
	}
	if (!json_is_array(root))
		return shape_error(e, d, "an array of KV entries");
	out = json_array();
	json_array_foreach(root, i, kv)
	{
		json_t *path = json_object_get(kv, "Key"), *value, *sess, *rec;
		const char *p, *rel;
		size_t n;

		if (!json_is_string(path)) {
			json_decref(out);
			return shape_error(e, d, "KV entries with a Key");
		}
		p = json_string_value(path);
		n = json_string_length(path);
		/* Folders ("a/b/") are not keys, as in consul-template. */
		if (n == 0 || p[n - 1] == '/')
			continue;
		rel = p;
		if (n >= plen && memcmp(p, d->name, plen) == 0)
			rel = p + plen;
		while (rel < p + n && *rel == '/')
			rel++;
		/* The prefix itself is no key under it: consul-template's
		 * ls and tree both leave out an empty relative Key. */
		if (rel == p + n)
			continue;
		sess = json_object_get(kv, "Session");
		if (!json_is_string(sess))
			sess = NULL;
		if (has_control(p, n) ||
		    (sess != NULL && str_has_control(sess))) {
			char *q = quote(p, n);

			drop(dr, "key %s: control character in %s; left out", q,
			     has_control(p, n) ? "the key" : "Session");
			free(q);
			continue;
		}
		if ((value = kv_value(kv, p, e)) == NULL) {
			json_decref(out);
			return -EBADMSG;
		}
		rec = trec_new(TREC_KEY_PAIR);
		json_object_set(rec, "Path", path);
		json_object_set_new(
		        rec, "Key",
		        json_stringn_nocheck(rel, n - (size_t)(rel - p)));
		json_object_set_new(rec, "Value", value);
		json_object_set_new(rec, "CreateIndex",
		                    number_field(kv, "CreateIndex"));
		json_object_set_new(rec, "ModifyIndex",
		                    number_field(kv, "ModifyIndex"));
		json_object_set_new(rec, "LockIndex",
		                    number_field(kv, "LockIndex"));
		json_object_set_new(rec, "Flags", number_field(kv, "Flags"));
		json_object_set_new(rec, "Session",
		                    sess != NULL ? json_incref(sess)
		                                 : json_string(""));
		json_array_append_new(out, rec);
	}
	sort_objects(out, "Path", NULL);
	*ret = out;
	return 0;
}

static int decode_agent_self(const struct dep *d, json_t *root, json_t **ret,
                             struct err *e)
{
	json_t *cfg = json_object_get(root, "Config");
	json_t *name = json_object_get(cfg, "NodeName");
	json_t *dc = json_object_get(cfg, "Datacenter");
	json_t *out;

	if (!json_is_object(cfg) || !json_is_string(name))
		return shape_error(e, d, "an object with Config.NodeName");
	/* The node's own name and datacenter identify it: a control byte
	 * there is no name to render or to look up. */
	if (str_has_control(name) ||
	    (json_is_string(dc) && str_has_control(dc)))
		return shape_error(e, d,
		                   "a NodeName and Datacenter without control "
		                   "characters");
	out = json_object();
	json_object_set(out, "Node", name);
	json_object_set_new(out, "Datacenter",
	                    json_is_string(dc) ? json_incref(dc)
	                                       : json_string(""));
	*ret = out;
	return 0;
}

int dep_decode(const struct dep *d, long status, const char *body, size_t len,
               json_t **ret, json_t *dropped, struct err *e)
{
	return dep_decode_names(d, NULL, status, body, len, ret, dropped, e);
}

int dep_decode_names(const struct dep *d, const struct dep_names *names,
                     long status, const char *body, size_t len, json_t **ret,
                     json_t *dropped, struct err *e)
{
	struct dropper dr = {dropped, 0, names};
	json_t *root = NULL, *out = NULL;
	bool kv = d->kind == DEP_KV_GET || d->kind == DEP_KV_LIST;
	int r;

	if (len > DEP_MAX_BODY)
		return err_msg(e, -EBADMSG,
		               "%s: response of %zu bytes is larger than %u",
		               d->id, len, DEP_MAX_BODY);
	if (kv && status == 404) {
		/* A missing key or prefix: Consul answers 404 with an empty
		 * body (and an index to block on). */
		*ret = d->kind == DEP_KV_GET ? json_null() : json_array();
		return 0;
	}
	if (status != 200)
		return err_msg(e, -EBADMSG, "%s: unexpected HTTP status %ld",
		               d->id, status);
	if ((r = parse_body(body != NULL ? body : "", len, &root, e)) < 0)
		return r;
	switch (d->kind) {
	case DEP_CATALOG_NODES:
		r = decode_nodes(d, root, &out, &dr, e);
		break;
	case DEP_CATALOG_SERVICES:
		r = decode_services(d, root, &out, &dr, e);
		break;
	case DEP_CATALOG_NODE:
		r = decode_node(d, root, &out, &dr, e);
		break;
	case DEP_HEALTH_SERVICE:
	case DEP_HEALTH_CONNECT:
		r = decode_health(d, root, &out, &dr, e);
		break;
	case DEP_DATACENTERS:
		r = decode_datacenters(d, root, &out, &dr, e);
		break;
	case DEP_KV_GET:
		r = decode_kv_get(d, root, &out, e);
		break;
	case DEP_KV_LIST:
		r = decode_kv_list(d, root, &out, &dr, e);
		break;
	case DEP_AGENT_SELF:
		r = decode_agent_self(d, root, &out, e);
		break;
	default:
		r = err_msg(e, -EINVAL, "unknown dependency kind");
		break;
	}
	json_decref(root);
	if (r == 0)
		*ret = out;
	return r;
}
