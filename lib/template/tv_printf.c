/*
 * Go's fmt over jansson values: Sprint, Sprintln, Sprintf (verbs, flags,
 * width, precision, argument indexes, Go's %!verb(type=value) errors) and
 * %v of every value (tvalue.h). Truth, comparison and JSON are tvalue.c's.
 */
#include "template/tvalue.h"
#include "base/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consul/crec.h"
#include "consul/trec_read.h"
#include "base/xmalloc.h"

/* ---- printf machinery (also used for %v) ---- */

struct spec {
	bool minus, plus, sharp, space, zero;
	bool plus_v, sharp_v; /* %+v (field names), %#v (Go syntax) */
	bool amp;             /* fmt's '&' before a pointer to a struct */
	int width;            /* -1: none */
	int prec;             /* -1: none */
	char verb;
	struct err *e; /* for what cannot be printed; may be NULL */
};

static size_t rune_count(const char *s, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

static int pad(struct buf *b, int n, char c)
{
	int r = 0;

	while (r == 0 && n-- > 0)
		r = buf_putc(b, c);
	return r;
}

/* s padded to the width, honouring '-' (and '0' for numbers). */
static int put_padded(struct buf *b, const struct spec *sp, const char *s,
                      size_t n, bool numeric)
{
	size_t runes = rune_count(s, n);
	int fill = sp->width > 0 && (size_t)sp->width > runes
	                   ? sp->width - (int)runes
	                   : 0;
	int r;

	if (fill == 0)
		return buf_append(b, s, n);
	if (sp->minus) {
		r = buf_append(b, s, n);
		return r < 0 ? r : pad(b, fill, ' ');
	}
	if (sp->zero && numeric) {
		/* zeros go after the sign */
		if (n > 0 && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) {
			r = buf_putc(b, s[0]);
			if (r == 0)
				r = pad(b, fill, '0');
			return r < 0 ? r : buf_append(b, s + 1, n - 1);
		}
		r = pad(b, fill, '0');
		return r < 0 ? r : buf_append(b, s, n);
	}
	r = pad(b, fill, ' ');
	return r < 0 ? r : buf_append(b, s, n);
}

/* Go's strconv.Quote (bytes >= 0x80 are kept as they are). */
static int put_quoted(struct buf *b, const char *s, size_t n, char q)
{
	size_t i;
	int r = buf_putc(b, q);

	for (i = 0; r == 0 && i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '\a':
			r = buf_puts(b, "\\a");
			break;
		case '\b':
			r = buf_puts(b, "\\b");
			break;
		case '\f':
			r = buf_puts(b, "\\f");
			break;
		case '\n':
			r = buf_puts(b, "\\n");
			break;
		case '\r':
			r = buf_puts(b, "\\r");
			break;
		case '\t':
			r = buf_puts(b, "\\t");
			break;
		case '\v':
			r = buf_puts(b, "\\v");
			break;
		case '\\':
			r = buf_puts(b, "\\\\");
			break;
		default:
			if (c == (unsigned char)q)
				r = buf_printf(b, "\\%c", q);
			else if (c < 0x20 || c == 0x7f)
				r = buf_printf(b, "\\x%02x", c);
			else
				r = buf_putc(b, (char)c);
		}
	}
	return r < 0 ? r : buf_putc(b, q);
}

static int fmt_value(struct buf *b, const struct spec *sp, const json_t *v,
                     int depth);

static int bad_verb(struct buf *b, const struct spec *sp, const json_t *v)
{
	struct spec plain = {
	        .width = -1, .prec = -1, .verb = 'v', .amp = true, .e = sp->e};
	int r;

	if (v == NULL || json_is_null(v))
		return buf_printf(b, "%%!%c(<nil>)", sp->verb);
	r = buf_printf(b, "%%!%c(%s=", sp->verb, tv_type_name(v));
	if (r == 0)
		r = fmt_value(b, &plain, v, 0);
	return r < 0 ? r : buf_putc(b, ')');
}

static int fmt_int(struct buf *b, const struct spec *sp, json_int_t v)
{
	char digits[80], out[200];
	const char *set = "0123456789abcdef";
	unsigned long long u;
	unsigned base = 10;
	size_t nd = 0, n = 0, i;
	bool neg = v < 0;
	const char *prefix = "";
	int prec = sp->prec;

	switch (sp->verb) {
	case 'd':
	case 'v':
		break;
	case 'x':
		base = 16;
		prefix = sp->sharp ? "0x" : "";
		break;
	case 'X':
		base = 16;
		set = "0123456789ABCDEF";
		prefix = sp->sharp ? "0X" : "";
		break;
	case 'o':
		base = 8;
		prefix = sp->sharp ? "0" : "";
		break;
	case 'O':
		base = 8;
		prefix = "0o";
		break;
	case 'b':
		base = 2;
		prefix = sp->sharp ? "0b" : "";
		break;
	case 'c':
		n += utf8_encode(out + n,
		                 v < 0 || v > 0x10ffff ? 0xfffd : (uint32_t)v);
		return put_padded(b, sp, out, n, false);
	case 'q': {
		struct buf t;
		int r;

		n += utf8_encode(out + n,
		                 v < 0 || v > 0x10ffff ? 0xfffd : (uint32_t)v);
		buf_init(&t, 0);
		put_quoted(&t, out, n, '\'');
		r = put_padded(b, sp, t.data, t.len, false);
		buf_free(&t);
		return r;
	}
	case 'U':
		n = (size_t)snprintf(out, sizeof(out), "U+%04llX",
		                     (unsigned long long)v);
		return put_padded(b, sp, out, n, false);
	default: {
		json_t *x = json_integer(v);
		int r = bad_verb(b, sp, x);

		json_decref(x);
		return r;
	}
	}
	u = neg ? (unsigned long long)0 - (unsigned long long)v
	        : (unsigned long long)v;
	do {
		digits[nd++] = set[u % base];
		u /= base;
	} while (u > 0);
	if (prec == 0 && v == 0)
		nd = 0;
	if (neg)
		out[n++] = '-';
	else if (sp->plus)
		out[n++] = '+';
	else if (sp->space)
		out[n++] = ' ';
	if (!(prefix[0] == '0' && prefix[1] == '\0' && nd > 0 &&
	      digits[nd - 1] == '0')) {
		memcpy(out + n, prefix, strlen(prefix));
		n += strlen(prefix);
	}
	if (prec > 60)
		prec = 60;
	for (i = nd; (int)i < prec; i++)
		out[n++] = '0';
	while (nd > 0)
		out[n++] = digits[--nd];
	if (prec >= 0) {
		struct spec s2 = *sp;

		s2.zero = false;
		return put_padded(b, &s2, out, n, true);
	}
	return put_padded(b, sp, out, n, true);
}

static int fmt_float(struct buf *b, const struct spec *sp, double d)
{
	char out[512], cfmt[32];
	size_t n;
	int prec = sp->prec > 100 ? 100 : sp->prec;
	char verb = sp->verb;

	if (isnan(d) || isinf(d)) {
		struct spec s2 = *sp;

		s2.zero = false;
		snprintf(out, sizeof(out), "%s",
		         isnan(d) ? (sp->plus ? "+NaN" : "NaN")
		         : d > 0  ? (sp->plus || !sp->space ? "+Inf" : " Inf")
		                  : "-Inf");
		if (isinf(d) && d > 0 && !sp->plus && !sp->space)
			memmove(out, out + 1, strlen(out));
		return put_padded(b, &s2, out, strlen(out), true);
	}
	switch (verb) {
	case 'v':
	case 'g':
	case 'G':
		if (prec < 0) {
			size_t off = 0;

			if (sp->plus && d >= 0)
				out[off++] = '+';
			else if (sp->space && d >= 0)
				out[off++] = ' ';
			tv_format_float(out + off, sizeof(out) - off, d);
			if (verb == 'G') {
				char *e = strchr(out, 'e');

				if (e != NULL)
					*e = 'E';
			}
			return put_padded(b, sp, out, strlen(out), true);
		}
		verb = verb == 'v' ? 'g' : verb;
		break;
	case 'e':
	case 'E':
	case 'f':
	case 'F':
		break;
	default: {
		json_t *x = json_real(d);
		int r = bad_verb(b, sp, x);

		json_decref(x);
		return r;
	}
	}
	snprintf(cfmt, sizeof(cfmt), "%%%s%s%s.*%c", sp->plus ? "+" : "",
	         sp->space ? " " : "", sp->sharp ? "#" : "", verb);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	n = (size_t)snprintf(out, sizeof(out), cfmt, prec < 0 ? 6 : prec, d);
#pragma GCC diagnostic pop
	if (n >= sizeof(out))
		n = sizeof(out) - 1;
	return put_padded(b, sp, out, n, true);
}

static int fmt_string(struct buf *b, const struct spec *sp, const char *s,
                      size_t n)
{
	struct buf t;
	size_t i;
	int r;

	switch (sp->verb) {
	case 'v':
	case 's':
		if (sp->prec >= 0) {
			size_t runes = 0;

			for (i = 0; i < n; i++) {
				if (((unsigned char)s[i] & 0xc0) != 0x80 &&
				    runes++ == (size_t)sp->prec)
					break;
			}
			n = i;
		}
		return put_padded(b, sp, s, n, false);
	case 'q':
		buf_init(&t, 0);
		put_quoted(&t, s, n, '"');
		r = put_padded(b, sp, buf_str(&t), t.len, false);
		buf_free(&t);
		return r;
	case 'x':
	case 'X':
		buf_init(&t, 0);
		for (i = 0; i < n; i++) {
			if (sp->space && i > 0)
				buf_putc(&t, ' ');
			buf_printf(&t, sp->verb == 'x' ? "%02x" : "%02X",
			           (unsigned char)s[i]);
		}
		r = put_padded(b, sp, buf_str(&t), t.len, false);
		buf_free(&t);
		return r;
	default: {
		json_t *x = json_stringn_nocheck(s, n);

		r = bad_verb(b, sp, x);
		json_decref(x);
		return r;
	}
	}
}

static int unprintable(const struct spec *sp, const char *what)
{
	if (sp->e != NULL)
		err_msg(sp->e, -ENOTSUP,
		        "consul-template prints %s here as a memory address; "
		        "printing it is not supported",
		        what);
	return -ENOTSUP;
}

/* Go's %v (and %+v) of the struct fields of record v. */
static int fmt_record(struct buf *b, const struct spec *sp, const json_t *v,
                      const struct trec_schema *rs, int depth)
{
	int r = buf_putc(b, '{');

	for (size_t i = 0; r == 0 && i < rs->nfields; i++) {
		const struct trec_field *f = &rs->fields[i];
		json_t *x = trec_get(v, f);

		if (f->extension)
			continue;
		if (i > 0)
			r = buf_putc(b, ' ');
		if (r == 0 && sp->plus_v)
			r = buf_printf(b, "%s:", f->name);
		if (r < 0)
			break;
		if (f->type == TF_ABSENT) {
			if (sp->e != NULL)
				err_msg(sp->e, -ENOTSUP,
				        "consul-hosts does not keep %s.%s: "
				        "printing a %s is not supported",
				        rs->go_type, f->name, rs->go_type);
			return -ENOTSUP;
		}
		if (f->type == TF_PTR && (x == NULL || json_is_null(x))) {
			r = buf_puts(b, "<nil>");
			continue;
		}
		r = fmt_value(b, sp, x != NULL ? x : json_null(), depth + 1);
	}
	return r < 0 ? r : buf_putc(b, '}');
}

static int fmt_value(struct buf *b, const struct spec *sp, const json_t *v,
                     int depth)
{
	const struct trec_schema *rs;
	size_t i, n;
	int r = 0;

	if (sp->verb == 'T') {
		const char *t = tv_type_name(v);

		return put_padded(b, sp, t, strlen(t), false);
	}
	if (sp->sharp_v && v != NULL && !json_is_string(v) &&
	    !json_is_integer(v) && !json_is_boolean(v) && !json_is_null(v)) {
		if (sp->e != NULL)
			err_msg(sp->e, -ENOTSUP,
			        "printf %%#v (Go syntax) of %s is not "
			        "supported",
			        tv_type_name(v));
		return -ENOTSUP;
	}
	if (v == NULL || json_is_null(v)) {
		if (sp->verb == 'v')
			return put_padded(b, sp, "<nil>", 5, false);
		return bad_verb(b, sp, v);
	}
	if ((rs = trec_schema_of(v)) != NULL) {
		if (rs->pointer && depth > 0)
			return unprintable(sp, rs->go_type);
		if (sp->verb != 'v') {
			/* Go applies the verb to each field; say so */
			if (sp->e != NULL)
				err_msg(sp->e, -ENOTSUP,
				        "printf %%%c of a %s is not supported "
				        "(use %%v)",
				        sp->verb, rs->go_type);
			return -ENOTSUP;
		}
		if (rs->pointer && sp->amp && (r = buf_putc(b, '&')) < 0)
			return r;
		return fmt_record(b, sp, v, rs, depth);
	}
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (sp->sharp_v) {
			struct buf t;

			buf_init(&t, 0);
			put_quoted(&t, json_string_value(v),
			           json_string_length(v), '"');
			r = put_padded(b, sp, buf_str(&t), t.len, false);
			buf_free(&t);
			return r;
		}
		return fmt_string(b, sp, json_string_value(v),
		                  json_string_length(v));
	case JSON_INTEGER:
		return fmt_int(b, sp, json_integer_value(v));
	case JSON_REAL:
		return fmt_float(b, sp, json_real_value(v));
	case JSON_TRUE:
	case JSON_FALSE:
		if (sp->verb != 'v' && sp->verb != 't')
			return bad_verb(b, sp, v);
		return put_padded(b, sp, json_is_true(v) ? "true" : "false",
		                  json_is_true(v) ? 4 : 5, false);
	case JSON_ARRAY:
		r = buf_putc(b, '[');
		n = json_array_size(v);
		for (i = 0; r == 0 && i < n; i++) {
			if (i > 0)
				r = buf_putc(b, ' ');
			if (r == 0)
				r = fmt_value(b, sp, json_array_get(v, i),
				              depth + 1);
		}
		return r < 0 ? r : buf_putc(b, ']');
	case JSON_OBJECT: {
		const char **keys = tv_sorted_keys(v, &n);

		r = buf_puts(b, "map[");
		for (i = 0; r == 0 && i < n; i++) {
			if (i > 0)
				r = buf_putc(b, ' ');
			if (r == 0)
				r = fmt_string(b, sp, keys[i], strlen(keys[i]));
			if (r == 0)
				r = buf_putc(b, ':');
			if (r == 0)
				r = fmt_value(b, sp,
				              json_object_get(v, keys[i]),
				              depth + 1);
		}
		free(keys);
		return r < 0 ? r : buf_putc(b, ']');
	}
	default:
		return bad_verb(b, sp, v);
	}
}

int tv_print(struct buf *b, const json_t *v, struct err *e)
{
	struct spec plain = {.width = -1, .prec = -1, .verb = 'v', .e = e};

	if (v == NULL)
		return buf_puts(b, "<no value>");
	if (json_is_string(v)) /* the common case, kept short */
		return buf_append(b, json_string_value(v),
		                  json_string_length(v));
	if (json_is_integer(v))
		return buf_printf(b, "%lld", (long long)json_integer_value(v));
	/* text/template prints what a pointer points to: no '&' */
	return fmt_value(b, &plain, v, 0);
}

int tv_sprint(struct buf *b, json_t *const *args, size_t n, bool ln,
              struct err *e)
{
	struct spec plain = {
	        .width = -1, .prec = -1, .verb = 'v', .amp = true, .e = e};
	size_t i;
	int r = 0;
	bool prev_string = false;

	for (i = 0; r == 0 && i < n; i++) {
		bool is_string = args[i] != NULL && json_is_string(args[i]);

		if (i > 0 && (ln || (!is_string && !prev_string)))
			r = buf_putc(b, ' ');
		if (r == 0)
			r = fmt_value(b, &plain,
			              args[i] != NULL ? args[i] : json_null(),
			              0);
		prev_string = is_string;
	}
	if (r == 0 && ln)
		r = buf_putc(b, '\n');
	return r;
}

static int parse_num(const char *fmt, size_t len, size_t *i)
{
	int v = 0;

	while (*i < len && fmt[*i] >= '0' && fmt[*i] <= '9') {
		if (v < 1000000)
			v = v * 10 + (fmt[*i] - '0');
		(*i)++;
	}
	return v > 10000 ? 10000 : v; /* bound the padding we produce */
}

/*
 * Go's argNumber at fmt[*i]: an explicit "[n]" (1-based). Returns whether
 * a bracket was consumed and well formed (Go's afterIndex); sets *argi when
 * n is in range, clears *good when it is not or the bracket is malformed.
 */
static bool arg_number(const char *fmt, size_t len, size_t *i, size_t *argi,
                       size_t n, bool *good, bool *reordered)
{
	size_t k, d;
	long v = 0;
	bool digits = false, large = false;

	if (*i >= len || fmt[*i] != '[')
		return false;
	*reordered = true;
	for (k = *i + 1; len - *i >= 3 && k < len && fmt[k] != ']'; k++)
		;
	if (len - *i < 3 || k >= len) {
		/* no closing bracket: Go skips the '[' alone */
		*good = false;
		(*i)++;
		return false;
	}
	for (d = *i + 1; d < k && fmt[d] >= '0' && fmt[d] <= '9'; d++) {
		if (v > 1000000)
			large = true;
		else
			v = v * 10 + (fmt[d] - '0');
		digits = true;
	}
	*i = k + 1;
	if (!digits || large || d != k) {
		*good = false;
		return false;
	}
	if (v >= 1 && (size_t)v <= n) {
		*argi = (size_t)v - 1;
		return true;
	}
	*good = false;
	return true;
}

/* Go's intFromArg: args[*argi] as a width or precision. */
static bool int_from_arg(json_t *const *args, size_t n, size_t *argi, int *ret)
{
	bool ok = false;

	*ret = 0;
	if (*argi < n) {
		const json_t *a = args[*argi];

		if (a != NULL && json_is_integer(a)) {
			json_int_t w = json_integer_value(a);

			if (w > -1000000 && w < 1000000) {
				*ret = (int)w;
				ok = true;
			}
		}
		(*argi)++;
	}
	return ok;
}

int tv_sprintf(struct buf *b, const char *fmt, size_t len, json_t *const *args,
               size_t n, struct err *e)
{
	size_t i = 0, argi = 0;
	bool reordered = false;
	int r = 0;

	while (r == 0 && i < len) {
		struct spec sp = {.width = -1, .prec = -1, .e = e};
		const char *pct = memchr(fmt + i, '%', len - i);
		bool good = true, after_index;

		if (pct == NULL) {
			r = buf_append(b, fmt + i, len - i);
			break;
		}
		r = buf_append(b, fmt + i, (size_t)(pct - (fmt + i)));
		i = (size_t)(pct - fmt) + 1;
		for (; r == 0 && i < len; i++) {
			switch (fmt[i]) {
			case '-':
				sp.minus = true;
				sp.zero = false;
				continue;
			case '+':
				sp.plus = true;
				continue;
			case '#':
				sp.sharp = true;
				continue;
			case ' ':
				sp.space = true;
				continue;
			case '0':
				sp.zero = !sp.minus;
				continue;
			default:
				break;
			}
			break;
		}
		after_index =
		        arg_number(fmt, len, &i, &argi, n, &good, &reordered);
		if (i < len && fmt[i] == '*') {
			int w;

			i++;
			if (!int_from_arg(args, n, &argi, &w)) {
				r = buf_puts(b, "%!(BADWIDTH)");
			} else {
				if (w < 0) {
					sp.minus = true;
					sp.zero = false;
					w = -w;
				}
				sp.width = w > 10000 ? 10000 : w;
			}
			after_index = false;
		} else {
			size_t before = i;

			sp.width = parse_num(fmt, len, &i);
			if (i == before)
				sp.width = -1;
			if (after_index && i > before)
				good = false; /* "%[3]2d" */
		}
		if (i + 1 < len && fmt[i] == '.') {
			i++;
			if (after_index)
				good = false; /* "%[3].2d" */
			after_index = arg_number(fmt, len, &i, &argi, n, &good,
			                         &reordered);
			if (i < len && fmt[i] == '*') {
				int p;

				i++;
				if (!int_from_arg(args, n, &argi, &p)) {
					r = buf_puts(b, "%!(BADPREC)");
				} else if (p < 0) {
					sp.prec = -1;
					r = buf_puts(b, "%!(BADPREC)");
				} else {
					sp.prec = p > 10000 ? 10000 : p;
				}
				after_index = false;
			} else {
				sp.prec = parse_num(fmt, len, &i);
			}
		}
		if (!after_index)
			after_index = arg_number(fmt, len, &i, &argi, n, &good,
			                         &reordered);
		if (r < 0)
			break;
		if (i >= len) {
			r = buf_puts(b, "%!(NOVERB)");
			break;
		}
		sp.verb = fmt[i++];
		if (sp.verb == '%') {
			r = buf_putc(b, '%');
			continue;
		}
		if (!good) {
			r = buf_printf(b, "%%!%c(BADINDEX)", sp.verb);
			continue;
		}
		if (argi >= n) {
			r = buf_printf(b, "%%!%c(MISSING)", sp.verb);
			continue;
		}
		if (sp.verb == 'v') {
			sp.sharp_v = sp.sharp;
			sp.sharp = false;
			sp.plus_v = sp.plus;
			sp.plus = false;
		}
		sp.amp = true;
		r = fmt_value(b, &sp, args[argi++], 0);
	}
	if (r == 0 && !reordered && argi < n) {
		struct spec plain = {.width = -1,
		                     .prec = -1,
		                     .verb = 'v',
		                     .amp = true,
		                     .e = e};

		r = buf_puts(b, "%!(EXTRA ");
		for (; r == 0 && argi < n; argi++) {
			const json_t *v = args[argi];

			if (v == NULL || json_is_null(v)) {
				r = buf_puts(b, "<nil>");
			} else {
				r = buf_printf(b, "%s=", tv_type_name(v));
				if (r == 0)
					r = fmt_value(b, &plain, v, 0);
			}
			if (r == 0 && argi + 1 < n)
				r = buf_puts(b, ", ");
		}
		if (r == 0)
			r = buf_putc(b, ')');
	}
	return r;
}
