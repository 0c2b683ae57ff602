/*
 * Go regexp syntax over PCRE2: a translator that follows Go's
 * regexp/syntax parser (parse.go) step for step, so errors come in Go's
 * order and words, and emits a PCRE2 pattern of the same meaning; then
 * Go's match, ReplaceAll and Expand over pcre2_match.
 *
 * Map:
 *   the translator     Go syntax -> PCRE2 pattern, Go's error texts
 *   compiled patterns  regex_compile / regex_free
 *   the cache          compiled patterns by text, bounded
 *   matching           match, find, replace (Go's Expand)
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "template/regexp.h"

#include <errno.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"
#include "base/xmalloc.h"

#define MAX_REPEAT 1000 /* Go's maxRepeat */
#define MAX_GROUPS 1000 /* Go's maxHeight bounds nesting the same way */
#define CACHE_SIZE 64

struct regex {
	pcre2_code *code;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	char **names; /* names[k]: group k's name, or NULL; k = 1..ncap */
	int ncap;
	char *pattern; /* Go's text, for messages */
	size_t patlen;
};

/* ---- the translator ---------------------------------------------- */

struct frame {
	size_t out_start; /* where the group starts in out */
	size_t maxw;      /* largest repeat weight inside */
};

struct rx {
	const char *s;
	size_t len, i;
	struct buf out;
	struct err *e;
	int ncap;
	char **names;
	struct frame *frames;
	size_t depth, cap;
	/* the item on top of Go's stack, if it can be repeated */
	bool have_atom;
	bool atom_assert;  /* ^ $ \A \z \b \B: wrap before repeating */
	size_t atom_start; /* its offset in out */
	size_t atom_w;     /* product of the counted repeats inside it */
	/* the previous item was a repeat (Go's lastRepeat), from here */
	bool last_repeat;
	size_t last_repeat_pos;
	bool after_flags; /* the previous item was a bare (?flags) */
};

static int rx_error(struct rx *x, const char *code, const char *expr, size_t n)
{
	return err_msg(x->e, -EINVAL, "error parsing regexp: %s: `%.*s`", code,
	               (int)(n > 300 ? 300 : n), expr);
}

static int rx_error_from(struct rx *x, const char *code, size_t from, size_t to)
{
	return rx_error(x, code, x->s + from, to - from);
}

/* Go's nextRune: the code point at pos, or ErrInvalidUTF8 on the rest. */
static int next_rune(struct rx *x, size_t pos, uint32_t *cp, size_t *next)
{
	size_t k = utf8_decode(x->s + pos, x->len - pos, cp);

	if (k == 1 && *cp == 0xfffd && (unsigned char)x->s[pos] >= 0x80)
		return rx_error_from(x, "invalid UTF-8", pos, x->len);
	*next = pos + k;
	return 0;
}

static bool is_alnum(uint32_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	       (c >= 'a' && c <= 'z');
}

/* Append code point c so PCRE2 reads it as a literal, in or out of []. */
static void emit_char(struct rx *x, uint32_t c)
{
	char tmp[4];

	if (c < 0x80 && is_alnum(c))
		buf_putc(&x->out, (char)c);
	else if (c < 0x80)
		buf_printf(&x->out, "\\x{%x}", (unsigned)c);
	else
		buf_append(&x->out, tmp, utf8_encode(tmp, c));
}

static void set_atom(struct rx *x, size_t start, bool assert)
{
	struct frame *f = &x->frames[x->depth];

	x->have_atom = true;
	x->atom_assert = assert;
	x->atom_start = start;
	x->atom_w = 1;
	if (f->maxw < 1)
		f->maxw = 1;
}

/*
 * Go's parseEscape at pos (a backslash): the escaped code point, *next
 * past it.
 */
static int parse_escape(struct rx *x, size_t pos, uint32_t *ret, size_t *next)
{
	size_t t = pos + 1;
	uint32_t c, r;
	int v, y;

	if (t >= x->len)
		return rx_error(x, "trailing backslash at end of expression",
		                "", 0);
	if (next_rune(x, t, &c, &t) < 0)
		return -EINVAL;
	switch (c) {
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
		/* A single non-zero digit is a backreference: refused. */
		if (t >= x->len || x->s[t] < '0' || x->s[t] > '7')
			break;
		r = c - '0';
		goto octal;
	case '0':
		r = 0;
	octal:
		for (int k = 1; k < 3; k++) {
			if (t >= x->len || x->s[t] < '0' || x->s[t] > '7')
				break;
			r = r * 8 + (uint32_t)(x->s[t] - '0');
			t++;
		}
		*ret = r;
		*next = t;
		return 0;
	case 'x':
		if (t >= x->len)
			break;
		if (next_rune(x, t, &c, &t) < 0)
			return -EINVAL;
		if (c == '{') {
			int nhex = 0;

			r = 0;
			for (;;) {
				if (t >= x->len)
					goto bad;
				if (next_rune(x, t, &c, &t) < 0)
					return -EINVAL;
				if (c == '}')
					break;
				if ((v = utf8_hexdigit(c)) < 0)
					goto bad;
				r = r * 16 + (uint32_t)v;
				if (r > 0x10ffff)
					goto bad;
				nhex++;
			}
			if (nhex == 0)
				goto bad;
			*ret = r;
			*next = t;
			return 0;
		}
		v = utf8_hexdigit(c);
		if (t >= x->len) {
			/* Go's nextRune("") gives RuneError, not a digit */
			goto bad;
		}
		if (next_rune(x, t, &c, &t) < 0)
			return -EINVAL;
		y = utf8_hexdigit(c);
		if (v < 0 || y < 0)
			break;
		*ret = (uint32_t)(v * 16 + y);
		*next = t;
		return 0;
	case 'a':
		*ret = '\a';
		*next = t;
		return 0;
	case 'f':
		*ret = '\f';
		*next = t;
		return 0;
	case 'n':
		*ret = '\n';
		*next = t;
		return 0;
	case 'r':
		*ret = '\r';
		*next = t;
		return 0;
	case 't':
		*ret = '\t';
		*next = t;
		return 0;
	case 'v':
		*ret = '\v';
		*next = t;
		return 0;
	default:
		if (c < 0x80 && !is_alnum(c)) {
			*ret = c;
			*next = t;
			return 0;
		}
		break;
	}
bad:
	return rx_error_from(x, "invalid escape sequence", pos, t);
}

/* Go's canonicalName: "Old_italic" and "old italic" are one name. */
static void canonical_name(const char *s, size_t n, char *out, size_t size)
{
	size_t j = 0;
	bool first = true;

	for (size_t i = 0; i < n && j + 1 < size; i++) {
		char c = s[i];

		if (c == '_' || c == '-' || c == ' ')
			continue;
		if (first && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!first && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		first = false;
		out[j++] = c;
	}
	out[j] = '\0';
}

/*
 * A Unicode class \pN, \p{Name}, \PN, \P{Name} at pos, emitted for use in
 * or out of brackets (in_class). Names Go knows but PCRE2 spells another
 * way are translated; any other name is checked by compiling it alone.
 */
static int parse_unicode_class(struct rx *x, size_t pos, bool in_class,
                               size_t *next)
{
	int sign = x->s[pos + 1] == 'P' ? -1 : 1;
	size_t t = pos + 2, seq_end, name_start, name_len;
	char canon[64];
	uint32_t c;

	if (t >= x->len) {
		seq_end = t;
		name_start = t;
		name_len = 0;
	} else {
		if (next_rune(x, t, &c, &t) < 0)
			return -EINVAL;
		if (c != '{') {
			seq_end = t;
			name_start = pos + 2;
			name_len = t - name_start;
		} else {
			const char *end = memchr(x->s + pos, '}', x->len - pos);

			if (end == NULL) {
				if (!utf8_valid(x->s + pos, x->len - pos))
					return rx_error_from(x, "invalid UTF-8",
					                     pos, x->len);
				return rx_error_from(
				        x, "invalid character class range", pos,
				        x->len);
			}
			seq_end = (size_t)(end - x->s) + 1;
			name_start = pos + 3;
			name_len = seq_end - 1 - name_start;
			if (!utf8_valid(x->s + name_start, name_len))
				return rx_error_from(x, "invalid UTF-8",
				                     name_start, x->len);
		}
	}
	if (name_len > 0 && x->s[name_start] == '^') {
		sign = -sign;
		name_start++;
		name_len--;
	}
	canonical_name(x->s + name_start, name_len, canon, sizeof(canon));
	if (name_len == 0 || name_len >= sizeof(canon))
		return rx_error_from(x, "invalid character class range", pos,
		                     seq_end);
	if (strcmp(canon, "Ascii") == 0) {
		if (in_class)
			buf_puts(&x->out, sign > 0 ? "\\x{0}-\\x{7f}"
			                           : "\\x{80}-\\x{10ffff}");
		else
			buf_puts(&x->out, sign > 0 ? "[\\x{0}-\\x{7f}]"
			                           : "[^\\x{0}-\\x{7f}]");
	} else if (strcmp(canon, "Assigned") == 0) {
		buf_puts(&x->out, sign > 0 ? "\\P{Cn}" : "\\p{Cn}");
	} else if (strcmp(canon, "Lc") == 0) {
		buf_puts(&x->out, sign > 0 ? "\\p{L&}" : "\\P{L&}");
	} else {
		char probe[80];
		int errcode;
		PCRE2_SIZE erroff;
		pcre2_code *code;

		/* Letters only: the name goes into a PCRE2 pattern. */
		for (size_t k = 0; canon[k] != '\0'; k++)
			if (!is_alnum((unsigned char)canon[k]))
				return rx_error_from(
				        x, "invalid character class range", pos,
				        seq_end);
		snprintf(probe, sizeof(probe), "\\p{%s}", canon);
		code = pcre2_compile((PCRE2_SPTR)probe, PCRE2_ZERO_TERMINATED,
		                     PCRE2_UTF, &errcode, &erroff, NULL);
		if (code == NULL)
			return rx_error_from(x, "invalid character class range",
			                     pos, seq_end);
		pcre2_code_free(code);
		buf_printf(&x->out, "\\%c{%s}", sign > 0 ? 'p' : 'P', canon);
	}
	*next = seq_end;
	return 0;
}

/*
 * Go's Perl classes \d \D \s \S \w \W at pos, if there is one there
 * (returns 1). Go's \s is [\t\n\f\r ]; PCRE2's adds \v, so \s and \S are
 * spelled out.
 */
static int perl_class(struct rx *x, size_t pos, bool in_class)
{
	char c;

	if (pos + 1 >= x->len || x->s[pos] != '\\')
		return 0;
	c = x->s[pos + 1];
	switch (c) {
	case 'd':
	case 'D':
	case 'w':
	case 'W':
		buf_printf(&x->out, "\\%c", c);
		return 1;
	case 's':
		buf_puts(&x->out, in_class ? "\\t\\n\\f\\r\\x{20}"
		                           : "[\\t\\n\\f\\r\\x{20}]");
		return 1;
	case 'S':
		buf_puts(&x->out, in_class ? "\\x{0}-\\x{8}\\x{b}\\x{e}-\\x{1f}"
		                             "\\x{21}-\\x{10ffff}"
		                           : "[^\\t\\n\\f\\r\\x{20}]");
		return 1;
	default:
		return 0;
	}
}

static const char *const posix_names[] = {
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph",
        "lower", "print", "punct", "space", "upper", "word",  "xdigit"};

/* Go's parseClass at x->i (a '['). */
static int parse_class(struct rx *x)
{
	size_t start = x->i, t = x->i + 1, out_start = x->out.len;
	bool first = true;
	uint32_t lo, hi;
	int r;

	buf_putc(&x->out, '[');
	if (t < x->len && x->s[t] == '^') {
		buf_putc(&x->out, '^');
		t++;
	}
	while (t >= x->len || x->s[t] != ']' || first) {
		size_t rng = t;

		first = false;
		if (x->len - t > 2 && x->s[t] == '[' && x->s[t + 1] == ':') {
			const char *end = NULL;

			for (size_t k = t + 2; k + 1 < x->len; k++)
				if (x->s[k] == ':' && x->s[k + 1] == ']') {
					end = x->s + k;
					break;
				}
			if (end != NULL) {
				size_t nlen = (size_t)(end - (x->s + t)) + 2;
				const char *nm = x->s + t + 2;
				size_t n = nlen - 4;
				bool found = false;

				if (n > 0 && nm[0] == '^') {
					nm++;
					n--;
				}
				for (size_t k = 0;
				     k <
				     sizeof(posix_names) / sizeof(*posix_names);
				     k++)
					if (strlen(posix_names[k]) == n &&
					    memcmp(posix_names[k], nm, n) == 0)
						found = true;
				if (!found)
					return rx_error(
					        x,
					        "invalid character class range",
					        x->s + t, nlen);
				buf_append(&x->out, x->s + t, nlen);
				t += nlen;
				continue;
			}
		}
		if (x->len - t >= 2 && x->s[t] == '\\' &&
		    (x->s[t + 1] == 'p' || x->s[t + 1] == 'P')) {
			if ((r = parse_unicode_class(x, t, true, &t)) < 0)
				return r;
			continue;
		}
		if (perl_class(x, t, true)) {
			t += 2;
			continue;
		}
		/* a single character or a range */
		if (t >= x->len)
			return rx_error_from(x, "missing closing ]", start,
			                     x->len);
		if (x->s[t] == '\\') {
			if ((r = parse_escape(x, t, &lo, &t)) < 0)
				return r;
		} else if ((r = next_rune(x, t, &lo, &t)) < 0) {
			return r;
		}
		hi = lo;
		if (x->len - t >= 2 && x->s[t] == '-' && x->s[t + 1] != ']') {
			t++;
			if (t >= x->len)
				return rx_error_from(x, "missing closing ]",
				                     start, x->len);
			if (x->s[t] == '\\') {
				if ((r = parse_escape(x, t, &hi, &t)) < 0)
					return r;
			} else if ((r = next_rune(x, t, &hi, &t)) < 0) {
				return r;
			}
			if (hi < lo)
				return rx_error_from(
				        x, "invalid character class range", rng,
				        t);
		}
		emit_char(x, lo);
		if (hi != lo) {
			buf_putc(&x->out, '-');
			emit_char(x, hi);
		}
	}
	buf_putc(&x->out, ']');
	x->i = t + 1;
	set_atom(x, out_start, false);
	return 0;
}

static int push_group(struct rx *x, const char *name, size_t nlen,
                      const char *open)
{
	size_t out_start = x->out.len;

	if (x->depth + 1 >= MAX_GROUPS)
		return rx_error(x, "expression nests too deeply", x->s, x->len);
	if (x->depth + 2 > x->cap) {
		x->cap = x->cap * 2 + 8;
		x->frames =
		        xreallocarray(x->frames, x->cap, sizeof(*x->frames));
	}
	if (open == NULL) { /* a capturing group */
		x->ncap++;
		x->names = xreallocarray(x->names, (size_t)x->ncap + 1,
		                         sizeof(*x->names));
		x->names[x->ncap] = name != NULL ? xstrndup(name, nlen) : NULL;
		open = "(";
	}
	buf_puts(&x->out, open);
	x->depth++;
	x->frames[x->depth].out_start = out_start;
	x->frames[x->depth].maxw = 0;
	x->have_atom = false;
	return 0;
}

/* Go's parsePerlFlags at x->i ("(?"). */
static int parse_perl_flags(struct rx *x)
{
	const char *t = x->s + x->i;
	size_t rem = x->len - x->i, j;
	bool with_p = rem > 4 && t[2] == 'P' && t[3] == '<';
	bool with_name = rem > 3 && t[2] == '<';
	char flags[16];
	size_t nf = 0;
	int sign = 1;
	bool saw = false;
	uint32_t c;

	if (with_p || with_name) {
		size_t estart = with_p ? 4 : 3, end;
		const char *gt = memchr(t, '>', rem);

		if (gt == NULL) {
			if (!utf8_valid(t, rem))
				return rx_error_from(x, "invalid UTF-8", x->i,
				                     x->len);
			return rx_error(x, "invalid named capture", t, rem);
		}
		end = (size_t)(gt - t);
		if (!utf8_valid(t + estart, end - estart))
			return rx_error_from(x, "invalid UTF-8", x->i + estart,
			                     x->len);
		if (end == estart)
			return rx_error(x, "invalid named capture", t, end + 1);
		for (size_t k = estart; k < end; k++)
			if (t[k] != '_' && !is_alnum((unsigned char)t[k]))
				return rx_error(x, "invalid named capture", t,
				                end + 1);
		x->i += end + 1;
		return push_group(x, t + estart, end - estart, NULL);
	}
	j = x->i + 2;
	while (j < x->len) {
		if (next_rune(x, j, &c, &j) < 0)
			return -EINVAL;
		switch (c) {
		case 'i':
		case 'm':
		case 's':
		case 'U':
			if (nf + 2 < sizeof(flags))
				flags[nf++] = (char)c;
			saw = true;
			continue;
		case '-':
			if (sign < 0)
				goto bad;
			sign = -1;
			saw = false;
			if (nf + 2 < sizeof(flags))
				flags[nf++] = '-';
			continue;
		case ':':
		case ')':
			if (sign < 0 && !saw)
				goto bad;
			flags[nf] = '\0';
			x->i = j;
			if (c == ':') {
				char open[24];

				snprintf(open, sizeof(open), "(?%s:", flags);
				return push_group(x, NULL, 0, open);
			}
			if (nf > 0)
				buf_printf(&x->out, "(?%s)", flags);
			x->after_flags = true;
			return 0;
		default:
			goto bad;
		}
	}
bad:
	return rx_error_from(x, "invalid or unsupported Perl syntax", x->i, j);
}

/* Go's parseRepeat at pos ('{'): true with min, max (-1: none). */
static bool parse_repeat(struct rx *x, size_t pos, long *min, long *max,
                         size_t *next)
{
	size_t t = pos + 1;

	for (int which = 0; which < 2; which++) {
		long *dst = which == 0 ? min : max;
		size_t d = t;
		long v = 0;

		if (which == 1) {
			if (t >= x->len)
				return false;
			if (x->s[t] != ',') {
				*max = *min;
				break;
			}
			t++;
			if (t >= x->len)
				return false;
			if (x->s[t] == '}') {
				*max = -1;
				break;
			}
			d = t;
		}
		if (d >= x->len || x->s[d] < '0' || x->s[d] > '9')
			return false;
		if (x->len - d >= 2 && x->s[d] == '0' && x->s[d + 1] >= '0' &&
		    x->s[d + 1] <= '9')
			return false; /* no leading zeros */
		while (t < x->len && x->s[t] >= '0' && x->s[t] <= '9') {
			if (v >= 100000000 || v < 0)
				v = -1;
			else
				v = v * 10 + (x->s[t] - '0');
			t++;
		}
		*dst = v;
		if (which == 1 && v < 0)
			*min = -1;
	}
	if (t >= x->len || x->s[t] != '}')
		return false;
	*next = t + 1;
	return true;
}

/*
 * Apply a repeat op (s[op..after)) to the item on top, as Go's repeat():
 * a following '?' makes it lazy; a repeat of a repeat, or of nothing, is
 * an error.
 */
static int apply_repeat(struct rx *x, size_t op, size_t after, long min,
                        long max, bool counted)
{
	bool lazy = false;
	struct frame *f = &x->frames[x->depth];

	if (after < x->len && x->s[after] == '?') {
		lazy = true;
		after++;
	}
	if (x->last_repeat)
		return rx_error_from(x, "invalid nested repetition operator",
		                     x->last_repeat_pos, after);
	if (!x->have_atom)
		return rx_error_from(x,
		                     "missing argument to repetition operator",
		                     op, after);
	if (x->after_flags)
		return err_msg(x->e, -EINVAL,
		               "error parsing regexp: a repetition right after "
		               "a flag group is not supported by consul-hosts: "
		               "`%.*s`",
		               (int)(after - op), x->s + op);
	if (counted && (min >= 2 || max >= 2)) {
		long m = max < 0 ? min : max;

		if (m > 0 && (long)x->atom_w > MAX_REPEAT / m)
			return rx_error_from(x, "invalid repeat count", op,
			                     after);
	}
	if (x->atom_assert) {
		/* PCRE2 repeats no assertion; a group of one it does */
		size_t n = x->out.len - x->atom_start;
		char *tail = xstrndup(x->out.data + x->atom_start, n);

		x->out.len = x->atom_start;
		buf_puts(&x->out, "(?:");
		buf_append(&x->out, tail, n);
		buf_putc(&x->out, ')');
		free(tail);
		x->atom_assert = false;
	}
	if (!counted)
		buf_putc(&x->out, x->s[op]);
	else if (max == min)
		buf_printf(&x->out, "{%ld}", min);
	else if (max < 0)
		buf_printf(&x->out, "{%ld,}", min);
	else
		buf_printf(&x->out, "{%ld,%ld}", min, max);
	if (lazy)
		buf_putc(&x->out, '?');
	if (counted) {
		long m = max < 0 ? min : max;

		x->atom_w = m <= 0 ? 1 : x->atom_w * (size_t)m;
	}
	if (f->maxw < x->atom_w)
		f->maxw = x->atom_w;
	x->i = after;
	x->last_repeat = true;
	x->last_repeat_pos = op;
	return 0;
}

static int parse_backslash(struct rx *x)
{
	size_t pos = x->i, start = x->out.len, t;
	uint32_t c;
	int r;

	if (pos + 1 < x->len) {
		switch (x->s[pos + 1]) {
		case 'A':
		case 'b':
		case 'B':
		case 'z':
			buf_printf(&x->out, "\\%c", x->s[pos + 1]);
			x->i = pos + 2;
			set_atom(x, start, true);
			return 0;
		case 'C':
			return rx_error_from(x, "invalid escape sequence", pos,
			                     pos + 2);
		case 'Q': {
			size_t k = pos + 2, end = x->len, resume = x->len;

			for (size_t q = k; q + 1 < x->len; q++)
				if (x->s[q] == '\\' && x->s[q + 1] == 'E') {
					end = q;
					resume = q + 2;
					break;
				}
			while (k < end) {
				size_t lit = x->out.len;
				size_t kk = utf8_decode(x->s + k, end - k, &c);

				if (kk == 1 && c == 0xfffd &&
				    (unsigned char)x->s[k] >= 0x80)
					return rx_error_from(x, "invalid UTF-8",
					                     k, end);
				emit_char(x, c);
				set_atom(x, lit, false);
				k += kk;
			}
			x->i = resume;
			return 0;
		}
		case 'p':
		case 'P':
			if ((r = parse_unicode_class(x, pos, false, &t)) < 0)
				return r;
			x->i = t;
			set_atom(x, start, false);
			return 0;
		default:
			break;
		}
	}
	if (perl_class(x, pos, false)) {
		x->i = pos + 2;
		set_atom(x, start, false);
		return 0;
	}
	if ((r = parse_escape(x, pos, &c, &t)) < 0)
		return r;
	emit_char(x, c);
	x->i = t;
	set_atom(x, start, false);
	return 0;
}

/* Translate x->s into x->out; 0 or -EINVAL with x->e set. */
static int translate(struct rx *x)
{
	int r = 0;

	x->cap = 8;
	x->frames = xreallocarray(NULL, x->cap, sizeof(*x->frames));
	x->frames[0].out_start = 0;
	x->frames[0].maxw = 0;
	while (r == 0 && x->i < x->len) {
		char c = x->s[x->i];
		size_t start = x->out.len;
		bool repeat = false, flags = false;
		long min = 0, max = 0;
		size_t after = 0; /* set by parse_repeat or next_rune first */
		uint32_t cp;

		switch (c) {
		case '(':
			if (x->i + 1 < x->len && x->s[x->i + 1] == '?') {
				x->after_flags = false;
				r = parse_perl_flags(x);
				flags = x->after_flags;
				break;
			}
			x->i++;
			r = push_group(x, NULL, 0, NULL);
			break;
		case '|':
			buf_putc(&x->out, '|');
			x->have_atom = false;
			x->i++;
			break;
		case ')':
			if (x->depth == 0)
				return rx_error(x, "unexpected )", x->s,
				                x->len);
			buf_putc(&x->out, ')');
			{
				struct frame *f = &x->frames[x->depth];
				size_t w = f->maxw ? f->maxw : 1;

				x->depth--;
				set_atom(x, f->out_start, false);
				x->atom_w = w;
				if (x->frames[x->depth].maxw < w)
					x->frames[x->depth].maxw = w;
			}
			x->i++;
			break;
		case '^':
		case '$':
		case '.':
			buf_putc(&x->out, c);
			set_atom(x, start, c != '.');
			x->i++;
			break;
		case '[':
			r = parse_class(x);
			break;
		case '*':
		case '+':
		case '?':
			r = apply_repeat(x, x->i, x->i + 1, 0, 0, false);
			repeat = true;
			break;
		case '{':
			if (!parse_repeat(x, x->i, &min, &max, &after)) {
				buf_puts(&x->out, "\\{");
				set_atom(x, start, false);
				x->i++;
				break;
			}
			if (min < 0 || min > MAX_REPEAT || max > MAX_REPEAT ||
			    (max >= 0 && min > max))
				return rx_error_from(x, "invalid repeat count",
				                     x->i, after);
			r = apply_repeat(x, x->i, after, min, max, true);
			repeat = true;
			break;
		case '\\':
			r = parse_backslash(x);
			break;
		default:
			if ((r = next_rune(x, x->i, &cp, &after)) < 0)
				break;
			emit_char(x, cp);
			set_atom(x, start, false);
			x->i = after;
			break;
		}
		if (!repeat)
			x->last_repeat = false;
		x->after_flags = flags;
	}
	if (r == 0 && x->depth > 0)
		return rx_error(x, "missing closing )", x->s, x->len);
	return r;
}

/* ---- compiled patterns ------------------------------------------- */

struct regex *regex_free(struct regex *re)
{
	if (re == NULL)
		return NULL;
	pcre2_match_data_free(re->md);
	pcre2_match_context_free(re->mctx);
	pcre2_code_free(re->code);
	for (int k = 1; k <= re->ncap; k++)
		free(re->names[k]);
	free(re->names);
	free(re->pattern);
	free(re);
	return NULL;
}

int regex_compile(const char *pat, size_t len, struct regex **ret,
                  struct err *e)
{
	struct rx x = {.s = pat, .len = len, .e = e};
	pcre2_compile_context *cctx;
	struct regex *re;
	uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY |
	                PCRE2_ALT_CIRCUMFLEX | PCRE2_NO_UTF_CHECK;
	PCRE2_SIZE erroff;
	int errcode, r;

#ifdef PCRE2_MATCH_INVALID_UTF
	opts |= PCRE2_MATCH_INVALID_UTF;
#endif
#ifdef PCRE2_NEVER_BACKSLASH_C
	opts |= PCRE2_NEVER_BACKSLASH_C;
#endif
	if (len > REGEX_MAX_PATTERN)
		return err_msg(e, -EINVAL,
		               "error parsing regexp: expression too large: "
		               "%zu bytes (at most %u)",
		               len, REGEX_MAX_PATTERN);
	buf_init(&x.out, 0);
	r = translate(&x);
	free(x.frames);
	if (r < 0) {
		for (int k = 1; k <= x.ncap; k++)
			free(x.names[k]);
		free(x.names);
		buf_free(&x.out);
		return r;
	}
	re = xcalloc(1, sizeof(*re));
	re->names = x.names;
	re->ncap = x.ncap;
	re->pattern = xmalloc(len + 1);
	memcpy(re->pattern, pat, len);
	re->pattern[len] = '\0';
	re->patlen = len;
	cctx = pcre2_compile_context_create(NULL);
	pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
	re->code = pcre2_compile((PCRE2_SPTR)buf_str(&x.out), x.out.len, opts,
	                         &errcode, &erroff, cctx);
	pcre2_compile_context_free(cctx);
	buf_free(&x.out);
	if (re->code == NULL) {
		PCRE2_UCHAR msg[200];

		pcre2_get_error_message(errcode, msg, sizeof(msg));
		err_msg(e, -EINVAL, "error parsing regexp: %s: `%.*s`",
		        (const char *)msg, (int)(len > 300 ? 300 : len), pat);
		regex_free(re);
		return -EINVAL;
	}
	re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
	re->mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(re->mctx, REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(re->mctx, REGEX_HEAP_LIMIT);
	*ret = re;
	return 0;
}

/* ---- the cache ---------------------------------------------------- */

static struct {
	char *pat;
	size_t len;
	struct regex *re;
	unsigned long used;
} cache[CACHE_SIZE];
static unsigned long cache_tick;

int regex_get(const char *pat, size_t len, struct regex **ret, struct err *e)
{
	size_t k, victim = 0;
	struct regex *re;
	int r;

	for (k = 0; k < CACHE_SIZE; k++) {
		if (cache[k].re != NULL && cache[k].len == len &&
		    memcmp(cache[k].pat, pat, len) == 0) {
			cache[k].used = ++cache_tick;
			*ret = cache[k].re;
			return 0;
		}
		if (cache[k].used < cache[victim].used)
			victim = k;
	}
	if ((r = regex_compile(pat, len, &re, e)) < 0)
		return r;
	regex_free(cache[victim].re);
	free(cache[victim].pat);
	cache[victim].pat = xmalloc(len + 1);
	memcpy(cache[victim].pat, pat, len);
	cache[victim].len = len;
	cache[victim].re = re;
	cache[victim].used = ++cache_tick;
	*ret = re;
	return 0;
}

static void word_free(void);

void regex_cache_clear(void)
{
	word_free();
	for (size_t k = 0; k < CACHE_SIZE; k++) {
		cache[k].re = regex_free(cache[k].re);
		free(cache[k].pat);
		cache[k].pat = NULL;
		cache[k].len = 0;
		cache[k].used = 0;
	}
}

/* ---- matching ------------------------------------------------------ */

/*
 * One pcre2_match from start: 1 with the match in re->md, 0 for none, or
 * a negative errno with e set.
 */
static int exec(struct regex *re, const char *s, size_t n, size_t start,
                bool checked, struct err *e)
{
	uint32_t opts = 0;
	int rc;

#ifndef PCRE2_MATCH_INVALID_UTF
	if (!checked && !utf8_valid(s, n))
		return err_msg(e, -EINVAL,
		               "regexp `%.*s`: the text is not valid UTF-8 "
		               "(this PCRE2 predates 10.34, which matches it "
		               "as Go does)",
		               (int)(re->patlen > 80 ? 80 : re->patlen),
		               re->pattern);
	opts |= PCRE2_NO_UTF_CHECK;
#else
	(void)checked;
#endif
	rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, opts, re->md,
	                 re->mctx);
	if (rc > 0)
		return 1;
	if (rc == 0) /* the ovector is sized from the pattern: cannot be */
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	    rc == PCRE2_ERROR_HEAPLIMIT)
		return err_msg(e, -ERANGE,
		               "regexp `%.*s` backtracks too much on this text "
		               "(PCRE2 %s limit; RE2 would run in linear "
		               "time): simplify the pattern",
		               (int)(re->patlen > 80 ? 80 : re->patlen),
		               re->pattern,
		               rc == PCRE2_ERROR_MATCHLIMIT   ? "match"
		               : rc == PCRE2_ERROR_DEPTHLIMIT ? "depth"
		                                              : "heap");
	{
		PCRE2_UCHAR msg[200];

		pcre2_get_error_message(rc, msg, sizeof(msg));
		return err_msg(e, -EINVAL, "regexp `%.*s`: %s",
		               (int)(re->patlen > 80 ? 80 : re->patlen),
		               re->pattern, (const char *)msg);
	}
}

int regex_match(struct regex *re, const char *s, size_t n, bool *ret,
                struct err *e)
{
	int r = exec(re, s, n, 0, false, e);

	if (r < 0)
		return r;
	*ret = r == 1;
	return 0;
}

static pcre2_code *word_code;
static pcre2_match_data *word_md;

static void word_free(void)
{
	pcre2_match_data_free(word_md);
	pcre2_code_free(word_code);
	word_md = NULL;
	word_code = NULL;
}

/* unicode.IsLetter(c) || unicode.IsDigit(c) for c >= 0x80. */
static bool unicode_word(uint32_t c)
{
	pcre2_code *code = word_code;
	char tmp[4];
	size_t n = utf8_encode(tmp, c);
	int errcode;
	PCRE2_SIZE erroff;

	if (code == NULL) {
		code = pcre2_compile((PCRE2_SPTR) "^[\\p{L}\\p{Nd}]",
		                     PCRE2_ZERO_TERMINATED, PCRE2_UTF, &errcode,
		                     &erroff, NULL);
		if (code == NULL)
			return true;
		word_code = code;
		word_md = pcre2_match_data_create_from_pattern(code, NULL);
	}
	return pcre2_match(code, (PCRE2_SPTR)tmp, n, 0, 0, word_md, NULL) > 0;
}

/* Go's regexp extract(): a group name or number after '$'. */
static bool extract(const char *t, size_t n, size_t *name_at, size_t *name_len,
                    long *num, size_t *used)
{
	bool brace = false;
	size_t i = 0, start;

	if (n == 0)
		return false;
	if (t[0] == '{') {
		brace = true;
		i = 1;
	}
	start = i;
	while (i < n) {
		uint32_t c;
		size_t k = utf8_decode(t + i, n - i, &c);

		if (!(c == '_' || is_alnum(c) ||
		      (c >= 0x80 && !(k == 1 && c == 0xfffd) &&
		       unicode_word(c))))
			break;
		i += k;
	}
	if (i == start)
		return false;
	*name_at = start;
	*name_len = i - start;
	if (brace) {
		if (i >= n || t[i] != '}')
			return false;
		i++;
	}
	*num = 0;
	for (size_t k = 0; k < *name_len; k++) {
		char c = t[start + k];

		if (c < '0' || c > '9' || *num >= 100000000) {
			*num = -1;
			break;
		}
		*num = *num * 10 + (c - '0');
	}
	if (t[start] == '0' && *name_len > 1)
		*num = -1;
	*used = i;
	return true;
}

/* Go's Regexp.expand of tpl for the match in re->md, onto out. */
static int expand(struct regex *re, const char *tpl, size_t tlen, const char *s,
                  struct buf *out)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
	uint32_t nov = pcre2_get_ovector_count(re->md);
	size_t i = 0;
	int r = 0;

	while (r == 0 && i < tlen) {
		const char *dollar = memchr(tpl + i, '$', tlen - i);
		size_t at, nlen, used, d;
		long num;
		int g = -1;

		if (dollar == NULL) {
			r = buf_append(out, tpl + i, tlen - i);
			break;
		}
		d = (size_t)(dollar - tpl);
		r = buf_append(out, tpl + i, d - i);
		i = d + 1;
		if (r < 0)
			break;
		if (i < tlen && tpl[i] == '$') {
			r = buf_putc(out, '$');
			i++;
			continue;
		}
		if (!extract(tpl + i, tlen - i, &at, &nlen, &num, &used)) {
			r = buf_putc(out, '$');
			continue;
		}
		if (num >= 0) {
			g = num <= re->ncap ? (int)num : -1;
		} else {
			for (int k = 1; k <= re->ncap; k++) {
				if (re->names[k] != NULL &&
				    strlen(re->names[k]) == nlen &&
				    memcmp(re->names[k], tpl + i + at, nlen) ==
				            0 &&
				    (uint32_t)k < nov &&
				    ov[2 * k] != PCRE2_UNSET) {
					g = k;
					break;
				}
			}
		}
		i += used;
		if (g >= 0 && (uint32_t)g < nov && ov[2 * g] != PCRE2_UNSET)
			r = buf_append(out, s + ov[2 * g],
			               ov[2 * g + 1] - ov[2 * g]);
	}
	return r;
}

int regex_replace_all(struct regex *re, const char *s, size_t n,
                      const char *repl, size_t rlen, struct buf *out,
                      struct err *e)
{
	size_t last_end = 0, search = 0;
	bool has_dollar = memchr(repl, '$', rlen) != NULL;
	bool checked = false;
	int r = 0;

	while (search <= n) {
		PCRE2_SIZE *ov;
		size_t a0, a1, width;
		uint32_t cp;
		int m = exec(re, s, n, search, checked, e);

		if (m < 0)
			return m;
		checked = true;
		if (m == 0)
			break;
		ov = pcre2_get_ovector_pointer(re->md);
		a0 = ov[0];
		a1 = ov[1];
		if ((r = buf_append(out, s + last_end, a0 - last_end)) < 0)
			return r;
		/* no replacement for an empty match right after a match */
		if (a1 > last_end || a0 == 0) {
			r = has_dollar ? expand(re, repl, rlen, s, out)
			               : buf_append(out, repl, rlen);
			if (r < 0)
				return r;
		}
		last_end = a1;
		width = search < n ? utf8_decode(s + search, n - search, &cp)
		                   : 0;
		if (search + width > a1)
			search += width;
		else if (search + 1 > a1)
			search++;
		else
			search = a1;
	}
	return buf_append(out, s + last_end, n - last_end);
}
