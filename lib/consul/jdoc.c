/*
 * The flat JSON parser: one pass over the text with an explicit stack of
 * open containers, nodes appended as they start, a container's end and
 * count filled in when it closes.
 */
#include "consul/jdoc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "base/xmalloc.h"

void jd_init(struct jdoc *d)
{
	memset(d, 0, sizeof(*d));
}

void jd_free(struct jdoc *d)
{
	free(d->nodes);
	free(d->strs);
	jd_init(d);
}

struct jp {
	struct jdoc *d;
	const char *s;
	size_t n, p;
	struct err *e;
};

/* Line and column (1-based, in bytes) of offset off. */
static int jp_fail(struct jp *j, size_t off, const char *what)
{
	int line = 1, col = 1;

	if (off > j->n)
		off = j->n;
	for (size_t i = 0; i < off; i++) {
		if (j->s[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	return err_set(j->e, -EBADMSG, NULL, line, col, "invalid JSON: %s",
	               what);
}

static inline size_t jp_node(struct jp *j, enum jd_type type)
{
	struct jdoc *d = j->d;

	if (d->n == d->cap) {
		d->cap = d->cap < 64 ? 64 : d->cap * 2;
		d->nodes = xreallocarray(d->nodes, d->cap, sizeof(*d->nodes));
	}
	d->nodes[d->n].type = (uint8_t)type;
	d->nodes[d->n].len = 0;
	d->nodes[d->n].u.i = 0;
	return d->n++;
}

static inline bool jp_blank(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline void jp_ws(struct jp *j)
{
	const char *s = j->s;
	size_t p = j->p, n = j->n;

	if (p < n && !jp_blank(s[p]))
		return; /* compact JSON: the common case */
	while (p < n && jp_blank(s[p]))
		p++;
	j->p = p;
}

/* Bytes that end a run of plain string bytes: '"', '\\', controls, and
 * the first byte of a multi-byte sequence (checked apart). */
static inline bool jp_special(unsigned char c)
{
	return (unsigned char)(c - 0x20) >= 0x60 || c == '"' || c == '\\';
}

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Whether any of the 8 bytes of x is special (jp_special), without a
 * branch per byte: a '"' or '\\' byte (zero after the xor), a byte below
 * 0x20, or one with its high bit set. */
static inline uint64_t jp_special8(uint64_t x)
{
	uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');

	return (((q - ONES) & ~q) | ((b - ONES) & ~b) |
	        ((x - ONES * 0x20) & ~x) | x) &
	       HIGHS;
}

/*
 * Copy the plain bytes of s[p..n) to *o, up to the first special byte;
 * returns its offset (or n). 8 bytes at a time: a whole word is stored
 * before it is tested, which never passes the end of the output (it is
 * always at least one byte behind the input, and as long). On a little
 * endian machine the first special byte of a word is its lowest flag
 * (the flags' false positives only come above a true one).
 */
static inline size_t jp_plain_run(const unsigned char *s, size_t p, size_t n,
                                  char **o)
{
	char *out = *o;

	while (p + 8 <= n) {
		uint64_t x, m;

		memcpy(&x, s + p, 8);
		memcpy(out, &x, 8);
		m = jp_special8(x);
		if (m != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			size_t k = (size_t)__builtin_ctzll(m) / 8;

			*o = out + k;
			return p + k;
#else
			break;
#endif
		}
		p += 8;
		out += 8;
	}
	while (p < n && !jp_special(s[p]))
		*out++ = (char)s[p++];
	*o = out;
	return p;
}

static bool jp_hex4(const char *s, uint32_t *ret)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		int h = utf8_hexdigit((unsigned char)s[i]);

		if (h < 0)
			return false;
		v = v << 4 | (uint32_t)h;
	}
	*ret = v;
	return true;
}

/* The string at j->p (its opening quote) as a new node. */
static int jp_string(struct jp *j)
{
	struct jdoc *d = j->d;
	const unsigned char *s = (const unsigned char *)j->s;
	size_t n = j->n, p = j->p + 1, i;
	char *out = d->strs + d->slen, *o = out;

	for (;;) {
		unsigned char c;

		p = jp_plain_run(s, p, n, &o);
		if (p >= n)
			return jp_fail(j, p,
			               "premature end of input in a string");
		c = s[p];
		if (c == '"') {
			p++;
			break;
		}
		if (c < 0x20)
			return jp_fail(j, p, "control character in a string");
		if (c >= 0x80) {
			uint32_t cp;
			/* s[p] >= 0x80: a valid sequence is 2 to 4 bytes,
			 * an invalid one decodes as 1 (U+FFFD). */
			size_t k = utf8_decode((const char *)s + p, n - p, &cp);

			if (k < 2)
				return jp_fail(j, p,
				               "invalid UTF-8 in a string");
			memcpy(o, s + p, k);
			o += k;
			p += k;
			continue;
		}
		/* an escape */
		if (p + 1 >= n)
			return jp_fail(j, p,
			               "premature end of input in a string");
		c = s[p + 1];
		p += 2;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			*o++ = (char)c;
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u': {
			uint32_t cp, lo;

			if (p + 4 > n || !jp_hex4((const char *)s + p, &cp))
				return jp_fail(j, p - 2, "invalid \\u escape");
			p += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return jp_fail(j, p - 6,
				               "invalid Unicode escape (a lone "
				               "low surrogate)");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p + 6 > n || s[p] != '\\' ||
				    s[p + 1] != 'u' ||
				    !jp_hex4((const char *)s + p + 2, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return jp_fail(
					        j, p - 6,
					        "invalid Unicode escape "
					        "(a lone high surrogate)");
				p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
			}
			o += utf8_encode(o, cp); /* a valid code point */
			break;
		}
		default:
			return jp_fail(j, p - 2, "invalid escape");
		}
	}
	*o = '\0';
	i = jp_node(j, JD_STRING);
	d->nodes[i].len = (uint32_t)(o - out);
	d->nodes[i].u.c.off = (uint32_t)d->slen;
	d->slen += (size_t)(o - out) + 1;
	j->p = p;
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int jp_number(struct jp *j)
{
	const char *s = j->s;
	size_t n = j->n, p = j->p, start = p, i;
	bool integer = true, neg = false;
	uint64_t u = 0;
	bool overflow = false;

	if (s[p] == '-') {
		neg = true;
		p++;
	}
	if (p >= n || !is_digit(s[p]))
		return jp_fail(j, start, "invalid number");
	if (s[p] == '0') {
		p++;
		if (p < n && is_digit(s[p]))
			return jp_fail(j, start,
			               "invalid number (leading zero)");
	} else {
		while (p < n && is_digit(s[p])) {
			unsigned dgt = (unsigned)(s[p] - '0');

			if (u > (UINT64_MAX - dgt) / 10)
				overflow = true;
			else
				u = u * 10 + dgt;
			p++;
		}
	}
	if (p < n && s[p] == '.') {
		integer = false;
		p++;
		if (p >= n || !is_digit(s[p]))
			return jp_fail(j, start, "invalid number");
		while (p < n && is_digit(s[p]))
			p++;
	}
	if (p < n && (s[p] == 'e' || s[p] == 'E')) {
		integer = false;
		p++;
		if (p < n && (s[p] == '+' || s[p] == '-'))
			p++;
		if (p >= n || !is_digit(s[p]))
			return jp_fail(j, start, "invalid number");
		while (p < n && is_digit(s[p]))
			p++;
	}
	if (integer && !overflow &&
	    u <= (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
		i = jp_node(j, JD_INT);
		j->d->nodes[i].u.i = neg ? (int64_t)(0 - u) : (int64_t)u;
	} else {
		/* A real, or an integer beyond int64 read as one. */
		char small[64], *buf = small;
		double v;

		if (p - start >= sizeof(small))
			buf = xmalloc(p - start + 1);
		memcpy(buf, s + start, p - start);
		buf[p - start] = '\0';
		v = strtod(buf, NULL);
		if (buf != small)
			free(buf);
		if (isinf(v))
			return jp_fail(j, start, "real number overflow");
		i = jp_node(j, JD_REAL);
		j->d->nodes[i].u.d = v;
	}
	j->p = p;
	return 0;
}

static int jp_literal(struct jp *j, const char *word, enum jd_type type)
{
	size_t len = strlen(word);

	if (j->n - j->p < len || memcmp(j->s + j->p, word, len) != 0)
		return jp_fail(j, j->p, "invalid token");
	j->p += len;
	jp_node(j, type);
	return 0;
}

int jd_parse(struct jdoc *d, const char *text, size_t len, struct err *e)
{
	struct jp j = {d, text, len, 0, e};
	uint32_t *stack = NULL;
	size_t depth = 0;
	int r = 0;

	d->n = 0;
	d->slen = 0;
	/* Unescaped strings, each with its NUL, never outgrow the text
	 * (every string has two quotes that are not copied). */
	if (d->scap < len + 1) {
		free(d->strs);
		d->scap = len + 1;
		d->strs = xmalloc(d->scap);
	}
	if (d->cap == 0) {
		d->cap = len / 8 + 16;
		d->nodes = xreallocarray(d->nodes, d->cap, sizeof(*d->nodes));
	}
	jp_ws(&j);
	for (;;) {
		size_t top;
		char c;

		/* A value at j.p. */
		if (j.p >= len) {
			r = jp_fail(&j, j.p, "premature end of input");
			break;
		}
		c = text[j.p];
		if (c == '{' || c == '[') {
			bool obj = c == '{';

			if (depth == JD_MAX_DEPTH) {
				r = jp_fail(&j, j.p,
				            "maximum nesting depth "
				            "exceeded");
				break;
			}
			if (stack == NULL)
				stack = xreallocarray(NULL, JD_MAX_DEPTH,
				                      sizeof(*stack));
			stack[depth++] = (uint32_t)jp_node(&j, obj ? JD_OBJECT
			                                           : JD_ARRAY);
			j.p++;
			jp_ws(&j);
			if (j.p < len && text[j.p] == (obj ? '}' : ']')) {
				j.p++;
				d->nodes[stack[--depth]].u.c.end =
				        (uint32_t)d->n;
				goto after_value;
			}
			if (obj)
				goto key;
			continue;
		}
		switch (c) {
		case '"':
			r = jp_string(&j);
			break;
		case 't':
			r = jp_literal(&j, "true", JD_TRUE);
			break;
		case 'f':
			r = jp_literal(&j, "false", JD_FALSE);
			break;
		case 'n':
			r = jp_literal(&j, "null", JD_NULL);
			break;
		default:
			if (c == '-' || is_digit(c))
				r = jp_number(&j);
			else
				r = jp_fail(&j, j.p, "unexpected character");
			break;
		}
		if (r < 0)
			break;
	after_value:
		jp_ws(&j);
		if (depth == 0) {
			if (j.p != len)
				r = jp_fail(&j, j.p, "end of file expected");
			break;
		}
		top = stack[depth - 1];
		d->nodes[top].len++;
		if (j.p < len && text[j.p] == ',') {
			j.p++;
			jp_ws(&j);
			if (d->nodes[top].type == JD_OBJECT)
				goto key;
			continue;
		}
		if (j.p < len &&
		    text[j.p] ==
		            (d->nodes[top].type == JD_OBJECT ? '}' : ']')) {
			j.p++;
			d->nodes[top].u.c.end = (uint32_t)d->n;
			depth--;
			goto after_value;
		}
		r = jp_fail(&j, j.p,
		            d->nodes[top].type == JD_OBJECT
		                    ? "',' or '}' expected"
		                    : "',' or ']' expected");
		break;
	key:
		if (j.p >= len || text[j.p] != '"') {
			r = jp_fail(&j, j.p, "string or '}' expected");
			break;
		}
		if ((r = jp_string(&j)) < 0)
			break;
		jp_ws(&j);
		if (j.p >= len || text[j.p] != ':') {
			r = jp_fail(&j, j.p, "':' expected");
			break;
		}
		j.p++;
		jp_ws(&j);
	}
	free(stack);
	if (r < 0) {
		d->n = 0;
		d->slen = 0;
	}
	return r;
}

size_t jd_get(const struct jdoc *d, size_t i, const char *key)
{
	size_t klen = strlen(key), found = JD_NONE, m, count;

	if (i == JD_NONE || d->nodes[i].type != JD_OBJECT)
		return JD_NONE;
	count = d->nodes[i].len;
	m = i + 1;
	for (size_t k = 0; k < count; k++) {
		const struct jd_node *kn = &d->nodes[m];

		if (kn->len == klen &&
		    memcmp(d->strs + kn->u.c.off, key, klen) == 0)
			found = m + 1;
		m = jd_next(d, m + 1);
	}
	return found;
}

static unsigned jd_key_hash(const char *s, size_t n)
{
	return (unsigned)(n * 7 + (unsigned char)s[0] * 3 +
	                  (unsigned char)s[n - 1]) &
	       127;
}

static void jd_keys_make(struct jd_keys *k)
{
	memset(k->table, 0, sizeof(k->table));
	for (k->n = 0; k->names[k->n] != NULL; k->n++) {
		size_t n = strlen(k->names[k->n]);
		unsigned h;

		if (k->n == JD_MAX_KEYS || n == 0 || n > 255)
			abort(); /* a programming error in a static table */
		k->len[k->n] = (uint8_t)n;
		for (h = jd_key_hash(k->names[k->n], n); k->table[h] != 0;
		     h = (h + 1) & 127)
			;
		k->table[h] = (uint8_t)(k->n + 1);
	}
	k->ready = true;
}

void jd_members(const struct jdoc *d, size_t i, struct jd_keys *k, size_t *out)
{
	size_t count, m;

	if (!k->ready)
		jd_keys_make(k);
	for (size_t x = 0; x < k->n; x++)
		out[x] = JD_NONE;
	if (i == JD_NONE || d->nodes[i].type != JD_OBJECT)
		return;
	count = d->nodes[i].len;
	m = i + 1;
	for (size_t x = 0; x < count; x++, m = jd_next(d, m + 1)) {
		const struct jd_node *kn = &d->nodes[m];
		const char *key = d->strs + kn->u.c.off;
		unsigned h;

		if (kn->len == 0 || kn->len > 255)
			continue;
		for (h = jd_key_hash(key, kn->len); k->table[h] != 0;
		     h = (h + 1) & 127) {
			size_t idx = k->table[h] - 1u;

			if (k->len[idx] == kn->len &&
			    memcmp(k->names[idx], key, kn->len) == 0) {
				out[idx] = m + 1; /* the last one wins */
				break;
			}
		}
	}
}
