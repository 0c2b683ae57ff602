/*
 * An HCL (v1, as consul-template reads it) and JSON parser into a jansson
 * tree, with a position table so config errors can say file:line:col.
 *
 * Map:
 *   position table     hcl_pos_*: where each key and list element began
 *   lexing helpers     errors, newlines and comments, identifiers, escapes
 *   strings            quoted (with ${} refused), heredocs, numbers
 *   values and bodies  hcl_value, hcl_list, hcl_body (blocks merge as
 *                      HCL v1 does: repeated keys become lists)
 *   hcl_parse          the entry point, bounded by HCL_MAX_INPUT and depth
 */
#include "config/hcl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "base/xmalloc.h"

enum hcl_entry_kind {
	HCL_ENTRY_VALUE,  /* key = value, or an array element */
	HCL_ENTRY_BLOCK,  /* key { ... } */
	HCL_ENTRY_BLOCKS, /* key { ... } repeated: an array of blocks */
};

struct hcl_entry {
	struct hcl_loc key;
	struct hcl_loc value;
	enum hcl_entry_kind kind;
};

struct hcl_pos {
	json_t *index; /* "%p/key" or "%p#i" -> integer into entries */
	struct hcl_entry *entries;
	size_t nentries;
	size_t cap;
};

struct hcl_parser {
	const char *name;
	const char *p;
	const char *end;
	const char *line_start;
	int line;
	int depth;
	struct hcl_pos *pos;
	struct err *e;
};

/* ---- position table ---- */

static void hcl_pos_keyname(char *out, size_t size, const json_t *c,
                            const char *key, size_t i)
{
	if (key != NULL)
		snprintf(out, size, "%p/%s", (const void *)c, key);
	else
		snprintf(out, size, "%p#%zu", (const void *)c, i);
}

static struct hcl_entry *hcl_pos_find(const struct hcl_pos *p, const json_t *c,
                                      const char *key, size_t i)
{
	char name[64];
	char *big = NULL;
	json_t *v;

	if (p == NULL)
		return NULL;
	if (key != NULL && strlen(key) > 32) {
		big = xasprintf("%p/%s", (const void *)c, key);
		v = json_object_get(p->index, big);
		free(big);
	} else {
		hcl_pos_keyname(name, sizeof(name), c, key, i);
		v = json_object_get(p->index, name);
	}
	if (v == NULL)
		return NULL;
	return &p->entries[json_integer_value(v)];
}

static struct hcl_entry *hcl_pos_put(struct hcl_pos *p, const json_t *c,
                                     const char *key, size_t i)
{
	struct hcl_entry *old = hcl_pos_find(p, c, key, i);
	char *name;

	if (old != NULL) {
		memset(old, 0, sizeof(*old));
		return old;
	}
	if (p->nentries == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->entries =
		        xreallocarray(p->entries, p->cap, sizeof(*p->entries));
	}
	if (key != NULL)
		name = xasprintf("%p/%s", (const void *)c, key);
	else
		name = xasprintf("%p#%zu", (const void *)c, i);
	json_object_set_new(p->index, name,
	                    json_integer((json_int_t)p->nentries));
	free(name);
	memset(&p->entries[p->nentries], 0, sizeof(*p->entries));
	return &p->entries[p->nentries++];
}

struct hcl_pos *hcl_pos_free(struct hcl_pos *p)
{
	if (p == NULL)
		return NULL;
	json_decref(p->index);
	free(p->entries);
	free(p);
	return NULL;
}

bool hcl_pos_key(const struct hcl_pos *p, const json_t *obj, const char *key,
                 struct hcl_loc *ret_key, struct hcl_loc *ret_value)
{
	const struct hcl_entry *en = hcl_pos_find(p, obj, key, 0);
	struct hcl_loc zero = {0, 0};

	if (ret_key != NULL)
		*ret_key = en ? en->key : zero;
	if (ret_value != NULL)
		*ret_value = en ? en->value : zero;
	return en != NULL;
}

bool hcl_pos_index(const struct hcl_pos *p, const json_t *arr, size_t i,
                   struct hcl_loc *ret)
{
	const struct hcl_entry *en = hcl_pos_find(p, arr, NULL, i);
	struct hcl_loc zero = {0, 0};

	if (ret != NULL)
		*ret = en ? en->value : zero;
	return en != NULL;
}

/* ---- lexing helpers ---- */

static struct hcl_loc hcl_here(const struct hcl_parser *ps)
{
	struct hcl_loc l = {ps->line, (int)(ps->p - ps->line_start) + 1};

	return l;
}

static int hcl_error_at(struct hcl_parser *ps, struct hcl_loc l,
                        const char *what)
{
	return err_set(ps->e, -EINVAL, ps->name, l.line, l.col, "%s", what);
}

static int hcl_error(struct hcl_parser *ps, const char *what)
{
	return hcl_error_at(ps, hcl_here(ps), what);
}

/* Describe the character at p for "expected X, got Y" messages. */
static int hcl_error_got(struct hcl_parser *ps, const char *expected)
{
	char msg[160];
	unsigned char c;

	if (ps->p >= ps->end) {
		snprintf(msg, sizeof(msg), "expected %s, got end of file",
		         expected);
	} else {
		c = (unsigned char)*ps->p;
		if (c == '\n')
			snprintf(msg, sizeof(msg), "expected %s, got newline",
			         expected);
		else if (c >= 0x21 && c < 0x7f)
			snprintf(msg, sizeof(msg), "expected %s, got \"%c\"",
			         expected, c);
		else
			snprintf(msg, sizeof(msg),
			         "expected %s, got byte 0x%02x", expected, c);
	}
	return hcl_error(ps, msg);
}

static void hcl_newline(struct hcl_parser *ps)
{
	ps->line++;
	ps->line_start = ps->p;
}

/* Skip whitespace (newlines included) and comments. */
static int hcl_skip(struct hcl_parser *ps)
{
	while (ps->p < ps->end) {
		char c = *ps->p;

		if (c == ' ' || c == '\t' || c == '\r') {
			ps->p++;
		} else if (c == '\n') {
			ps->p++;
			hcl_newline(ps);
		} else if (c == '#' || (c == '/' && ps->p + 1 < ps->end &&
		                        ps->p[1] == '/')) {
			while (ps->p < ps->end && *ps->p != '\n')
				ps->p++;
		} else if (c == '/' && ps->p + 1 < ps->end && ps->p[1] == '*') {
			struct hcl_loc start = hcl_here(ps);

			ps->p += 2;
			for (;;) {
				if (ps->p + 1 >= ps->end)
					return hcl_error_at(
					        ps, start,
					        "unterminated /* comment");
				if (ps->p[0] == '*' && ps->p[1] == '/')
					break;
				if (*ps->p++ == '\n')
					hcl_newline(ps);
			}
			ps->p += 2;
		} else {
			break;
		}
	}
	return 0;
}

static bool hcl_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool hcl_ident_char(char c)
{
	return hcl_ident_start(c) || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.';
}

static void hcl_utf8_put(struct buf *b, uint32_t cp)
{
	char u[4];

	buf_append(b, u, utf8_encode(u, cp));
}

static int hcl_hex(struct hcl_parser *ps, int ndigits, uint32_t *ret)
{
	uint32_t v = 0;

	for (int i = 0; i < ndigits; i++) {
		int h = utf8_hexdigit(ps->p < ps->end ? (unsigned char)*ps->p
		                                      : '\0');

		if (h < 0)
			return hcl_error_got(ps, "a hex digit");
		v = v << 4 | (uint32_t)h;
		ps->p++;
	}
	*ret = v;
	return 0;
}

/* After a backslash: decode one escape into b. */
static int hcl_escape(struct hcl_parser *ps, struct buf *b)
{
	uint32_t cp = 0, lo = 0;
	struct hcl_loc at = hcl_here(ps);
	int r;

	at.col--; /* at the backslash */
	if (ps->p >= ps->end)
		return hcl_error(ps, "unterminated string");
	switch (*ps->p++) {
	case 'n':
		return buf_putc(b, '\n');
	case 't':
		return buf_putc(b, '\t');
	case 'r':
		return buf_putc(b, '\r');
	case 'b':
		return buf_putc(b, '\b');
	case 'f':
		return buf_putc(b, '\f');
	case '"':
		return buf_putc(b, '"');
	case '\\':
		return buf_putc(b, '\\');
	case '/':
		return buf_putc(b, '/');
	case 'u':
		if ((r = hcl_hex(ps, 4, &cp)) < 0)
			return r;
		if (cp >= 0xd800 && cp < 0xdc00) {
			if (ps->end - ps->p < 6 || ps->p[0] != '\\' ||
			    ps->p[1] != 'u')
				return hcl_error_at(ps, at,
				                    "unpaired UTF-16 surrogate "
				                    "in \\u escape");
			ps->p += 2;
			if ((r = hcl_hex(ps, 4, &lo)) < 0)
				return r;
			if (lo < 0xdc00 || lo >= 0xe000)
				return hcl_error_at(ps, at,
				                    "unpaired UTF-16 surrogate "
				                    "in \\u escape");
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		} else if (cp >= 0xdc00 && cp < 0xe000) {
			return hcl_error_at(ps, at,
			                    "unpaired UTF-16 surrogate in \\u "
			                    "escape");
		}
		break;
	case 'U':
		if ((r = hcl_hex(ps, 8, &cp)) < 0)
			return r;
		if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
			return hcl_error_at(ps, at,
			                    "\\U escape is not a Unicode "
			                    "code point");
		break;
	default:
		ps->p--;
		return hcl_error_at(ps, at, "unknown escape sequence");
	}
	if (cp == 0)
		return hcl_error_at(ps, at, "NUL character in string");
	hcl_utf8_put(b, cp);
	return 0;
}

/* Copy a ${ ... } interpolation literally, nested strings included. */
static int hcl_interpolation(struct hcl_parser *ps, struct buf *b)
{
	struct hcl_loc start = hcl_here(ps);
	const char *from = ps->p;
	int depth = 0;
	bool instr = false;

	while (ps->p < ps->end && *ps->p != '\n') {
		char c = *ps->p++;

		if (instr) {
			if (c == '\\' && ps->p < ps->end && *ps->p != '\n')
				ps->p++;
			else if (c == '"')
				instr = false;
		} else if (c == '"') {
			instr = true;
		} else if (c == '{') {
			depth++;
		} else if (c == '}' && --depth == 0) {
			buf_append(b, from, (size_t)(ps->p - from));
			return 0;
		}
	}
	return hcl_error_at(ps, start, "unterminated ${ interpolation");
}

/* A quoted string at p; *ret is a new string. */
static int hcl_string(struct hcl_parser *ps, char **ret, size_t *ret_len)
{
	struct hcl_loc start = hcl_here(ps);
	struct buf b;
	int r = 0;

	buf_init(&b, HCL_MAX_INPUT);
	ps->p++; /* opening quote */
	for (;;) {
		char c;

		if (ps->p >= ps->end || *ps->p == '\n') {
			r = hcl_error_at(ps, start, "unterminated string");
			break;
		}
		c = *ps->p;
		if (c == '"') {
			ps->p++;
			break;
		}
		if (c == '\\') {
			ps->p++;
			if ((r = hcl_escape(ps, &b)) < 0)
				break;
		} else if (c == '$' && ps->p + 1 < ps->end && ps->p[1] == '{') {
			if ((r = hcl_interpolation(ps, &b)) < 0)
				break;
		} else if (c == '\0') {
			r = hcl_error(ps, "NUL character in string");
			break;
		} else {
			buf_putc(&b, c);
			ps->p++;
		}
	}
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	*ret = buf_take(&b, ret_len);
	return 0;
}

/* Leading spaces and tabs of the line [s, e). */
static size_t hcl_indent(const char *s, const char *e)
{
	size_t n = 0;

	while (s + n < e && (s[n] == ' ' || s[n] == '\t'))
		n++;
	return n;
}

/* <<EOF or <<-EOF at p; the body ends at a line holding only the marker. */
static int hcl_heredoc(struct hcl_parser *ps, char **ret, size_t *ret_len)
{
	struct hcl_loc start = hcl_here(ps);
	const char *marker, *body, *q;
	size_t mlen, strip = SIZE_MAX;
	bool indented = false;
	struct buf b;

	ps->p += 2;
	if (ps->p < ps->end && *ps->p == '-') {
		indented = true;
		ps->p++;
	}
	marker = ps->p;
	if (ps->p >= ps->end || !hcl_ident_start(*ps->p))
		return hcl_error_got(ps, "a heredoc marker like EOF");
	while (ps->p < ps->end && hcl_ident_char(*ps->p))
		ps->p++;
	mlen = (size_t)(ps->p - marker);
	if (ps->p < ps->end && *ps->p == '\r')
		ps->p++;
	if (ps->p >= ps->end || *ps->p != '\n')
		return hcl_error_got(ps, "a newline after the heredoc marker");
	ps->p++;
	hcl_newline(ps);
	body = ps->p;

	/* Find the closing line; remember the smallest indentation. */
	for (q = body;;) {
		const char *eol = memchr(q, '\n', (size_t)(ps->end - q));
		const char *le = eol ? eol : ps->end;
		const char *t = le;
		size_t ind = hcl_indent(q, le);

		if (t > q && t[-1] == '\r')
			t--;
		if ((size_t)(t - q - (indented ? ind : 0)) == mlen &&
		    memcmp(q + (indented ? ind : 0), marker, mlen) == 0 &&
		    (indented || ind == 0))
			break;
		if (ind < (size_t)(t - q) && ind < strip)
			strip = ind;
		if (eol == NULL)
			return hcl_error_at(ps, start, "unterminated heredoc");
		q = eol + 1;
		ps->line++;
		ps->line_start = q;
	}
	if (!indented || strip == SIZE_MAX)
		strip = 0;
	buf_init(&b, HCL_MAX_INPUT);
	for (const char *l = body; l < q;) {
		const char *eol = memchr(l, '\n', (size_t)(q - l));
		size_t n = (size_t)(eol + 1 - l); /* q is at a line start */
		size_t ind = hcl_indent(l, eol);
		size_t cut = ind < strip ? ind : strip;

		buf_append(&b, l + cut, n - cut);
		l = eol + 1;
	}
	/* Skip the marker line itself (but not its newline). */
	ps->p = q + hcl_indent(q, ps->end) + mlen;
	if (memchr(b.data ? b.data : "", '\0', b.len) != NULL) {
		buf_free(&b);
		return hcl_error_at(ps, start, "NUL character in heredoc");
	}
	*ret = buf_take(&b, ret_len);
	return 0;
}

static int hcl_number(struct hcl_parser *ps, json_t **ret)
{
	struct hcl_loc start = hcl_here(ps);
	const char *s = ps->p;
	char tok[64], *endp;
	size_t n;
	bool neg = false, isreal = false;
	const char *digits;

	while (ps->p < ps->end) {
		char c = *ps->p;

		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '.' || c == '_')
			ps->p++;
		else if ((c == '-' || c == '+') &&
		         (ps->p == s || ps->p[-1] == 'e' || ps->p[-1] == 'E'))
			ps->p++;
		else
			break;
	}
	n = (size_t)(ps->p - s);
	if (n >= sizeof(tok))
		return hcl_error_at(ps, start, "number too long");
	memcpy(tok, s, n);
	tok[n] = '\0';
	digits = tok;
	if (*digits == '-' || *digits == '+') {
		neg = *digits == '-';
		digits++;
	}
	if (*digits < '0' || *digits > '9')
		goto bad;
	if (!(digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')))
		isreal = strpbrk(digits, ".eE") != NULL;
	errno = 0;
	if (isreal) {
		double d = strtod(tok, &endp);

		if (*endp != '\0' || errno != 0 || d != d)
			goto bad;
		*ret = json_real(d);
		return 0;
	} else {
		unsigned long long u;
		int base = 10;

		if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
			base = 16, digits += 2;
		else if (digits[0] == '0' && digits[1] != '\0')
			base = 8;
		if (*digits == '\0' || *digits == '-' || *digits == '+')
			goto bad;
		u = strtoull(digits, &endp, base);
		if (*endp != '\0')
			goto bad;
		if (errno == ERANGE || u > (unsigned long long)INT64_MAX)
			return hcl_error_at(ps, start, "number out of range");
		*ret = json_integer(neg ? -(json_int_t)u : (json_int_t)u);
		return 0;
	}
bad:
	return err_set(ps->e, -EINVAL, ps->name, start.line, start.col,
	               "invalid number \"%s\"", tok);
}

static int hcl_value(struct hcl_parser *ps, json_t **ret);
static int hcl_body(struct hcl_parser *ps, json_t *obj, char close);

static int hcl_list(struct hcl_parser *ps, json_t **ret)
{
	struct hcl_loc start = hcl_here(ps);
	json_t *arr = json_array();
	json_t *v;
	int r;

	ps->p++; /* [ */
	for (;;) {
		struct hcl_loc at;

		if ((r = hcl_skip(ps)) < 0)
			goto fail;
		if (ps->p >= ps->end) {
			r = hcl_error_at(ps, start, "unterminated list");
			goto fail;
		}
		if (*ps->p == ']') {
			ps->p++;
			break;
		}
		at = hcl_here(ps);
		if ((r = hcl_value(ps, &v)) < 0)
			goto fail;
		hcl_pos_put(ps->pos, arr, NULL, json_array_size(arr))->value =
		        at;
		json_array_append_new(arr, v);
		if ((r = hcl_skip(ps)) < 0)
			goto fail;
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
		} else if (ps->p < ps->end && *ps->p != ']') {
			r = hcl_error_got(ps, "\",\" or \"]\" in list");
			goto fail;
		}
	}
	*ret = arr;
	return 0;
fail:
	json_decref(arr);
	return r;
}

static int hcl_enter(struct hcl_parser *ps)
{
	if (++ps->depth > HCL_MAX_DEPTH)
		return err_set(ps->e, -EINVAL, ps->name, ps->line,
		               (int)(ps->p - ps->line_start) + 1,
		               "nesting deeper than %d levels", HCL_MAX_DEPTH);
	return 0;
}

static int hcl_value(struct hcl_parser *ps, json_t **ret)
{
	char *s;
	size_t n;
	int r;
	char c;

	if (ps->p >= ps->end)
		return hcl_error_got(ps, "a value");
	c = *ps->p;
	if (c == '"' || (c == '<' && ps->p + 1 < ps->end && ps->p[1] == '<')) {
		struct hcl_loc start = hcl_here(ps);

		r = c == '"' ? hcl_string(ps, &s, &n) : hcl_heredoc(ps, &s, &n);
		if (r < 0)
			return r;
		*ret = json_stringn(s, n);
		free(s);
		if (*ret == NULL)
			return hcl_error_at(ps, start,
			                    "string is not valid UTF-8");
		return 0;
	}
	if ((c >= '0' && c <= '9') || c == '-' || c == '+')
		return hcl_number(ps, ret);
	if (c == '[' || c == '{') {
		if ((r = hcl_enter(ps)) < 0)
			return r;
		if (c == '[') {
			r = hcl_list(ps, ret);
		} else {
			json_t *obj = json_object();

			ps->p++;
			r = hcl_body(ps, obj, '}');
			if (r < 0)
				json_decref(obj);
			else
				*ret = obj;
		}
		ps->depth--;
		return r;
	}
	if (hcl_ident_start(c)) {
		const char *w = ps->p;

		while (ps->p < ps->end && hcl_ident_char(*ps->p))
			ps->p++;
		n = (size_t)(ps->p - w);
		if (n == 4 && memcmp(w, "true", 4) == 0)
			*ret = json_true();
		else if (n == 5 && memcmp(w, "false", 5) == 0)
			*ret = json_false();
		else if (n == 4 && memcmp(w, "null", 4) == 0)
			*ret = json_null();
		else {
			ps->p = w;
			return hcl_error(ps, "expected a value (strings need "
			                     "double quotes)");
		}
		return 0;
	}
	return hcl_error_got(ps, "a value");
}

/* Store a value, or append a block (a repeated block becomes an array). */
static void hcl_set(struct hcl_parser *ps, json_t *obj, const char *key,
                    json_t *v, bool block, struct hcl_loc kl, struct hcl_loc vl)
{
	json_t *old = json_object_get(obj, key);
	struct hcl_entry *en = hcl_pos_find(ps->pos, obj, key, 0);

	if (block && old != NULL && en != NULL && en->kind == HCL_ENTRY_BLOCK) {
		json_t *arr = json_array();
		struct hcl_loc first = en->key;

		hcl_pos_put(ps->pos, arr, NULL, 0)->value = first;
		hcl_pos_put(ps->pos, arr, NULL, 1)->value = kl;
		json_array_append(arr, old);
		json_array_append_new(arr, v);
		json_object_set_new(obj, key, arr);
		en = hcl_pos_put(ps->pos, obj, key, 0);
		en->key = first;
		en->value = first;
		en->kind = HCL_ENTRY_BLOCKS;
		return;
	}
	if (block && old != NULL && en != NULL &&
	    en->kind == HCL_ENTRY_BLOCKS) {
		hcl_pos_put(ps->pos, old, NULL, json_array_size(old))->value =
		        kl;
		json_array_append_new(old, v);
		return;
	}
	json_object_set_new(obj, key, v);
	en = hcl_pos_put(ps->pos, obj, key, 0);
	en->key = kl;
	en->value = vl;
	en->kind = block ? HCL_ENTRY_BLOCK : HCL_ENTRY_VALUE;
}

/* Items up to close ('}' or '\0' for end of file). */
static int hcl_body(struct hcl_parser *ps, json_t *obj, char close)
{
	struct hcl_loc open = hcl_here(ps);
	char *key = NULL;
	json_t *utf8;
	int r;

	if (close == '}')
		open.col--; /* at the "{" just consumed */
	for (;;) {
		struct hcl_loc kl, vl;
		size_t klen;
		json_t *v;
		bool block = false;

		if ((r = hcl_skip(ps)) < 0)
			return r;
		if (ps->p >= ps->end) {
			if (close == '\0')
				return 0;
			return hcl_error_at(ps, open,
			                    "unterminated block "
			                    "(missing \"}\")");
		}
		if (*ps->p == close) {
			ps->p++;
			return 0;
		}
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		kl = hcl_here(ps);
		if (*ps->p == '"') {
			if ((r = hcl_string(ps, &key, &klen)) < 0)
				return r;
			if (strlen(key) != klen) {
				free(key);
				return hcl_error_at(ps, kl, "NUL in key");
			}
		} else if (hcl_ident_start(*ps->p)) {
			const char *w = ps->p;

			while (ps->p < ps->end && hcl_ident_char(*ps->p))
				ps->p++;
			key = xstrndup(w, (size_t)(ps->p - w));
		} else {
			return hcl_error_got(ps, "a key");
		}
		if ((r = hcl_skip(ps)) < 0)
			goto fail;
		vl = hcl_here(ps);
		if (ps->p < ps->end && (*ps->p == '=' || *ps->p == ':')) {
			ps->p++;
			if ((r = hcl_skip(ps)) < 0)
				goto fail;
			vl = hcl_here(ps);
			if ((r = hcl_value(ps, &v)) < 0)
				goto fail;
		} else if (ps->p < ps->end && *ps->p == '{') {
			if ((r = hcl_value(ps, &v)) < 0)
				goto fail;
			block = true;
		} else if (ps->p < ps->end && *ps->p == '"') {
			r = hcl_error(ps, "block labels are not supported");
			goto fail;
		} else {
			r = hcl_error_got(ps, "\"=\" or \"{\" after the key");
			goto fail;
		}
		if ((utf8 = json_string(key)) == NULL) {
			json_decref(v);
			r = hcl_error_at(ps, kl, "key is not valid UTF-8");
			goto fail;
		}
		json_decref(utf8);
		hcl_set(ps, obj, key, v, block, kl, vl);
		free(key);
		key = NULL;
	}
fail:
	free(key);
	return r;
}

int hcl_parse(const char *name, const char *text, size_t len, json_t **ret_tree,
              struct hcl_pos **ret_pos, struct err *e)
{
	struct hcl_parser ps;
	json_t *root = json_object();
	int r;

	if (len > HCL_MAX_INPUT) {
		json_decref(root);
		return err_set(e, -E2BIG, name, 0, 0,
		               "file larger than %d bytes", HCL_MAX_INPUT);
	}
	memset(&ps, 0, sizeof(ps));
	ps.name = name;
	ps.p = ps.line_start = text;
	ps.end = text + len;
	ps.line = 1;
	ps.e = e;
	ps.pos = xcalloc(1, sizeof(*ps.pos));
	ps.pos->index = json_object();

	/* A UTF-8 byte order mark is harmless; skip it. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		ps.p = ps.line_start = text + 3;
	if ((r = hcl_skip(&ps)) < 0)
		goto fail;
	if (ps.p < ps.end && *ps.p == '{') {
		/* JSON: one object, then nothing. */
		ps.p++;
		ps.depth = 1;
		if ((r = hcl_body(&ps, root, '}')) < 0)
			goto fail;
		if ((r = hcl_skip(&ps)) < 0)
			goto fail;
		if (ps.p < ps.end) {
			r = hcl_error_got(&ps, "end of file after the object");
			goto fail;
		}
	} else if ((r = hcl_body(&ps, root, '\0')) < 0) {
		goto fail;
	}
	*ret_tree = root;
	*ret_pos = ps.pos;
	return 0;
fail:
	json_decref(root);
	hcl_pos_free(ps.pos);
	return r;
}
