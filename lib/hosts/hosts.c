#include "hosts/hosts.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

bool hosts_addr_ok(const char *s, size_t len, bool allow_zone)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char out[sizeof(struct in6_addr)];
	const char *zone = memchr(s, '%', len);
	size_t alen = zone != NULL ? (size_t)(zone - s) : len;

	if (alen == 0 || alen >= sizeof(tmp) || memchr(s, '\0', len) != NULL)
		return false;
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	if (zone == NULL)
		return inet_pton(AF_INET, tmp, out) == 1 ||
		       inet_pton(AF_INET6, tmp, out) == 1;
	if (!allow_zone || inet_pton(AF_INET6, tmp, out) != 1)
		return false;
	/* A zone is an interface name: 1-15 characters, no separators. */
	size_t zlen = len - alen - 1;
	if (zlen == 0 || zlen > 15)
		return false;
	for (size_t i = alen + 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || c == '#' || c == '/')
			return false;
	}
	return true;
}

static bool label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool hosts_name_ok(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!label_char(c))
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > 63)
			return false;
	}
	/* A trailing dot (FQDN form) is fine; an empty last label is not. */
	if (label == 0)
		return s[len - 1] == '.' && len > 1 && s[len - 2] != '.';
	return s[len - 1] != '-';
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

int hosts_escape(const char *s, size_t len, size_t max, struct buf *out)
{
	size_t n = len < max ? len : max;
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\' || c == '"')
			r = buf_printf(out, "\\%c", c);
		else if (c == '\n')
			r = buf_puts(out, "\\n");
		else if (c == '\r')
			r = buf_puts(out, "\\r");
		else if (c == '\t')
			r = buf_puts(out, "\\t");
		else if (c < 0x20 || c >= 0x7f)
			r = buf_printf(out, "\\x%02x", c);
		else
			r = buf_putc(out, (char)c);
	}
	if (r == 0 && n < len)
		r = buf_puts(out, "...");
	return r;
}

static void add_problem(json_t *problems, size_t lineno, const char *line,
                        size_t len, const char *reason)
{
	struct buf esc;

	if (problems == NULL || json_array_size(problems) >= HOSTS_MAX_PROBLEMS)
		return;
	buf_init(&esc, 0);
	(void)hosts_escape(line, len, HOSTS_PROBLEM_TEXT, &esc);
	json_array_append_new(problems,
	                      json_pack("{s:I, s:s, s:s}", "line",
	                                (json_int_t)lineno, "text",
	                                buf_str(&esc), "reason", reason));
	buf_free(&esc);
}

/* Why line[0..len) may not be in a hosts file at all, or NULL. */
static const char *bad_bytes(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\0')
			return "NUL byte";
		if (c == '\r')
			return "carriage return";
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return "control character";
	}
	return NULL;
}

static void count_name(json_t *names, const char *s, size_t len)
{
	char key[256];
	json_t *old;

	for (size_t i = 0; i < len; i++)
		key[i] = (char)tolower((unsigned char)s[i]);
	key[len] = '\0';
	old = json_object_get(names, key);
	json_object_set_new(
	        names, key,
	        json_integer(old != NULL ? json_integer_value(old) + 1 : 1));
}

/*
 * Check one entry line (no control bytes, not blank, not a comment): sets
 * *why and returns false when it is invalid; otherwise writes its
 * normalised form (address, then lower-cased names, one space apart) to
 * key, which has room for len bytes (the form is never longer than the
 * line), and sets *ret_key_len and *ret_addr_len.
 */
static bool hosts_check_entry(const char *line, size_t len, bool allow_zone,
                              char *key, size_t *ret_key_len,
                              size_t *ret_addr_len, const char **why)
{
	size_t i = 0, nnames = 0, k = 0;

	while (i < len && line[i] != '#') {
		size_t f;

		while (i < len && blank(line[i]))
			i++;
		if (i == len || line[i] == '#')
			break;
		f = i;
		while (i < len && !blank(line[i]))
			i++;
		/* glibc ends the line at any '#', dnsmasq only at the start of
		 * a field: a '#' inside one would be read two ways. */
		if (memchr(line + f, '#', i - f) != NULL) {
			*why = "'#' inside a field";
			return false;
		}
		if (k == 0) {
			if (!hosts_addr_ok(line + f, i - f, allow_zone)) {
				*why = "invalid address";
				return false;
			}
			memcpy(key, line + f, i - f);
			k = i - f;
			*ret_addr_len = k;
			continue;
		}
		if (!hosts_name_ok(line + f, i - f)) {
			*why = "invalid host name";
			return false;
		}
		key[k++] = ' ';
		for (size_t j = f; j < i; j++)
			key[k++] = (char)tolower((unsigned char)line[j]);
		nnames++;
	}
	if (nnames == 0) {
		*why = "address without a name";
		return false;
	}
	*ret_key_len = k;
	return true;
}

void hosts_doc_init(struct hosts_doc *d, size_t max)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->text, max);
	strmap_init(&d->index);
}

void hosts_doc_free(struct hosts_doc *d)
{
	buf_free(&d->text);
	free(d->keys);
	free(d->lines);
	strmap_free(&d->index);
	memset(d, 0, sizeof(*d));
}

static void hosts_doc_reset(struct hosts_doc *d, size_t len)
{
	buf_reset(&d->text);
	free(d->keys);
	d->keys = xmalloc(len + 1);
	d->keys_len = 0;
	d->nlines = 0;
	strmap_clear(&d->index);
	memset(&d->st, 0, sizeof(d->st));
}

static struct hosts_line *hosts_doc_add(struct hosts_doc *d)
{
	struct hosts_line *l;

	if (d->nlines == d->cap) {
		d->cap = d->cap != 0 ? d->cap * 2 : 64;
		d->lines = xreallocarray(d->lines, d->cap, sizeof(*d->lines));
	}
	l = &d->lines[d->nlines++];
	memset(l, 0, sizeof(*l));
	return l;
}

/* The line of text[0..len) at pos: *ret_body bytes, then its '\n' if
 * any (*ret_whole counts it). */
static const char *line_at(const char *text, size_t len, size_t pos,
                           size_t *ret_body, size_t *ret_whole)
{
	const char *line = text + pos;
	const char *nl = memchr(line, '\n', len - pos);

	*ret_body = nl != NULL ? (size_t)(nl - line) : len - pos;
	*ret_whole = nl != NULL ? *ret_body + 1 : *ret_body;
	return line;
}

/* Keep line (whole bytes, from src in the input) as d's next line; an
 * entry's key is keys[key..key+klen), its address the first alen. */
static int hosts_doc_keep(struct hosts_doc *d, const char *line, size_t body,
                          size_t whole, size_t src, bool entry, size_t key,
                          size_t klen, size_t alen)
{
	struct hosts_line *l = hosts_doc_add(d);

	l->off = d->text.len;
	l->len = body;
	l->src = src;
	l->lineno = d->st.lines;
	l->entry = entry;
	l->key = key;
	l->key_len = (uint32_t)klen;
	l->addr_len = (uint32_t)alen;
	return buf_append(&d->text, line, whole);
}

int hosts_doc_check(struct hosts_doc *d, const char *text, size_t len,
                    bool allow_zone, json_t *problems)
{
	size_t pos = 0, body, whole;
	int r = 0;

	hosts_doc_reset(d, len);
	while (pos < len && r == 0) {
		const char *line = line_at(text, len, pos, &body, &whole);
		const char *why = bad_bytes(line, body);
		char *key = d->keys + d->keys_len;
		size_t i = 0, klen = 0, alen = 0, src = pos;
		struct strmap_slot *slot;
		bool entry = false, fresh;

		pos += whole;
		d->st.lines++;
		while (i < body && blank(line[i]))
			i++;
		if (why == NULL && i < body && line[i] != '#') {
			entry = hosts_check_entry(line, body, allow_zone, key,
			                          &klen, &alen, &why);
			if (!entry && why == NULL)
				why = "invalid line";
		}
		if (why != NULL) {
			d->st.dropped++;
			add_problem(problems, d->st.lines, line, body, why);
			continue;
		}
		if (entry) {
			slot = strmap_put(&d->index, key, klen,
			                  (uint32_t)d->nlines, &fresh);
			if (!fresh) {
				char note[64];

				snprintf(note, sizeof(note),
				         "duplicate of line %zu",
				         d->lines[slot->value].lineno);
				d->st.duplicates++;
				add_problem(problems, d->st.lines, line, body,
				            note);
				continue;
			}
			d->keys_len += klen;
			d->st.entries++;
		}
		r = hosts_doc_keep(d, line, body, whole, src, entry,
		                   (size_t)(key - d->keys), klen, alen);
	}
	if (r < 0)
		d->nlines = 0;
	return r;
}

int hosts_doc_lines(struct hosts_doc *d, const char *text, size_t len)
{
	size_t pos = 0, body, whole;
	int r = 0;

	hosts_doc_reset(d, len);
	while (pos < len && r == 0) {
		const char *line = line_at(text, len, pos, &body, &whole);
		char *key = d->keys + d->keys_len;
		size_t i = 0;
		bool entry;

		while (i < body && blank(line[i]))
			i++;
		entry = i < body && line[i] != '#';
		d->st.lines++;
		if (entry) {
			memcpy(key, line, body);
			(void)strmap_put(&d->index, key, body,
			                 (uint32_t)d->nlines, NULL);
			d->keys_len += body;
			d->st.entries++;
		}
		r = hosts_doc_keep(d, line, body, whole, pos, entry,
		                   (size_t)(key - d->keys), entry ? body : 0,
		                   0);
		pos += whole;
	}
	if (r < 0)
		d->nlines = 0;
	return r;
}

/* The line a key is on (index into d->lines), or -1. */
long hosts_doc_find(const struct hosts_doc *d, const char *key, size_t len)
{
	uint32_t v;

	return strmap_get(&d->index, key, len, &v) ? (long)v : -1;
}

static bool same_key(const struct hosts_doc *a, const struct hosts_line *x,
                     const struct hosts_doc *b, const struct hosts_line *y)
{
	return x->key_len == y->key_len &&
	       memcmp(a->keys + x->key, b->keys + y->key, x->key_len) == 0;
}

void hosts_doc_match(const struct hosts_doc *a, const struct hosts_doc *b,
                     long *at)
{
	size_t j = 0; /* where b is expected to go on */

	for (size_t i = 0; i < a->nlines; i++) {
		const struct hosts_line *x = &a->lines[i];
		long k;

		at[i] = -1;
		if (!x->entry)
			continue;
		while (j < b->nlines && !b->lines[j].entry)
			j++;
		if (j < b->nlines && same_key(a, x, b, &b->lines[j])) {
			at[i] = (long)j++;
			continue;
		}
		k = hosts_doc_find(b, a->keys + x->key, x->key_len);
		at[i] = k;
		/* Found further on: what b has in between is not in a here
		 * (removed, or moved); go on after it. */
		if (k >= 0 && (size_t)k >= j)
			j = (size_t)k + 1;
	}
}

int hosts_check(const char *text, size_t len, bool allow_zone, struct buf *out,
                json_t *problems, json_t *names, struct hosts_stats *ret_stats)
{
	struct hosts_doc d;
	int r;

	hosts_doc_init(&d, out != NULL ? out->max : 0);
	r = hosts_doc_check(&d, text, len, allow_zone, problems);
	if (r == 0 && out != NULL)
		r = buf_append(out, d.text.data != NULL ? d.text.data : "",
		               d.text.len);
	for (size_t i = 0; r == 0 && names != NULL && i < d.nlines; i++) {
		const struct hosts_line *l = &d.lines[i];
		const char *k = d.keys + l->key, *end = k + l->key_len;
		const char *p = k + l->addr_len;

		while (l->entry && p < end) {
			const char *q;

			p++;
			q = memchr(p, ' ', (size_t)(end - p));
			if (q == NULL)
				q = end;
			count_name(names, p, (size_t)(q - p));
			p = q;
		}
	}
	if (r == 0 && ret_stats != NULL)
		*ret_stats = d.st;
	hosts_doc_free(&d);
	return r;
}

/* line[0..len) is the marker, alone but for trailing blanks or a CR. */
static bool is_marker(const char *line, size_t len, const char *marker)
{
	size_t mlen = strlen(marker);

	if (len < mlen || memcmp(line, marker, mlen) != 0)
		return false;
	for (size_t i = mlen; i < len; i++)
		if (!blank(line[i]) && line[i] != '\r')
			return false;
	return true;
}

int hosts_block_find(const char *text, size_t len, size_t *ret_start,
                     size_t *ret_end, const char **why)
{
	size_t pos = 0, start = 0, end = 0;
	int nbegin = 0, nend = 0;
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	while (pos < len) {
		size_t body, whole;
		const char *line = line_at(text, len, pos, &body, &whole);

		if (is_marker(line, body, HOSTS_BLOCK_BEGIN)) {
			nbegin++;
			start = pos + whole;
			if (whole == body) { /* no '\n': the last line */
				*why = "\"" HOSTS_BLOCK_BEGIN
				       "\" is the last line, with no "
				       "\"" HOSTS_BLOCK_END "\" after it";
				return -EINVAL;
			}
		} else if (is_marker(line, body, HOSTS_BLOCK_END)) {
			nend++;
			end = pos;
		}
		pos += whole;
	}
	if (nbegin == 0 && nend == 0)
		return -ENOENT;
	if (nbegin > 1 || nend > 1) {
		*why = "the managed-block markers appear more than once";
		return -EINVAL;
	}
	if (nbegin != nend) {
		*why = nbegin == 0 ? "\"" HOSTS_BLOCK_END
		                     "\" without \"" HOSTS_BLOCK_BEGIN "\""
		                   : "\"" HOSTS_BLOCK_BEGIN
		                     "\" without \"" HOSTS_BLOCK_END "\"";
		return -EINVAL;
	}
	if (end < start) {
		*why = "\"" HOSTS_BLOCK_END
		       "\" comes before \"" HOSTS_BLOCK_BEGIN "\"";
		return -EINVAL;
	}
	*ret_start = start;
	*ret_end = end;
	return 0;
}

static int append_block(struct buf *out, const char *block, size_t blen)
{
	int r = buf_append(out, block, blen);

	if (r == 0 && blen > 0 && block[blen - 1] != '\n')
		r = buf_putc(out, '\n');
	return r;
}

int hosts_splice(const char *old, size_t oldlen, const char *block, size_t blen,
                 struct buf *out, const char **why)
{
	size_t start, end;
	const char *dummy;
	int r;

	if (why == NULL)
		why = &dummy;
	r = hosts_block_find(block, blen, &start, &end, why);
	if (r != -ENOENT) {
		*why = "the rendered block contains a managed-block marker "
		       "line";
		return -EINVAL;
	}
	r = hosts_block_find(old, oldlen, &start, &end, why);
	if (r == -ENOENT) {
		r = buf_append(out, old, oldlen);
		if (r == 0 && oldlen > 0 && old[oldlen - 1] != '\n')
			r = buf_putc(out, '\n');
		if (r == 0)
			r = buf_puts(out, HOSTS_BLOCK_BEGIN "\n");
		if (r == 0)
			r = append_block(out, block, blen);
		if (r == 0)
			r = buf_puts(out, HOSTS_BLOCK_END "\n");
		return r;
	}
	if (r < 0)
		return r;
	r = buf_append(out, old, start);
	if (r == 0)
		r = append_block(out, block, blen);
	if (r == 0)
		r = buf_append(out, old + end, oldlen - end);
	return r;
}
