/*
 * Builtin template functions: Go's text/template builtins and
 * consul-template's text, list, math and conversion helpers.
 *
 * consul-template puts the value a pipeline feeds in last, so helpers
 * take "the thing operated on" as their last argument:
 *   {{ .Tags | join "," }}  {{ 10 | subtract 3 }} (= 7)
 *
 * Regular expressions are Go's (RE2 syntax and semantics, template/regexp.c).
 *
 * Map: logic and comparison; Go builtins (index, len, slice, print*,
 * html, js, urlquery); parseJSON; membership (contains, in); env and file
 * (base/readfile.h); strings; math in consul-template's (b, a) order;
 * lists; conversion (toJSON, parseInt, ...).
 */
#include "template/funcs.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wctype.h>

#include "template/funcs_consul.h"
#include "template/regexp.h"
#include "consul/trec_read.h"
#include "base/duration.h"
#include "base/utf8.h"
#include "template/tvalue.h"
#include "base/readfile.h"
#include "base/xmalloc.h"

/* Hard bound on what file reads. */
#define FUNCS_MAX_FILE (4u << 20)
/* Hard bound on loop's list, whatever max_steps says. */
#define FUNCS_MAX_LOOP 1000000

static size_t out_limit(const struct fcall *c)
{
	size_t m = c->env != NULL ? c->env->limits.max_output : 0;

	return m ? m : TMPL_DEFAULT_MAX_OUTPUT;
}

static int want_string(struct fcall *c, const json_t *v, const char **s,
                       size_t *n)
{
	*s = "";
	if (n != NULL)
		*n = 0;
	if (!json_is_string(v))
		return err_msg(c->err, -EINVAL,
		               "wrong type for value; expected string; got %s",
		               tv_type_name(v));
	*s = json_string_value(v);
	if (n != NULL)
		*n = json_string_length(v);
	return 0;
}

static json_t *str_from_buf(struct buf *b)
{
	json_t *v = json_stringn_nocheck(buf_str(b), b->len);

	buf_free(b);
	return v;
}

static int too_big(struct fcall *c, struct buf *b)
{
	buf_free(b);
	return err_msg(c->err, -E2BIG, "result exceeds %zu bytes",
	               out_limit(c));
}

/* A printer's failure r: too big, or its message already in c->err. */
static int print_failed(struct fcall *c, struct buf *b, int r)
{
	if (r == -E2BIG)
		return too_big(c, b);
	buf_free(b);
	return r;
}

/* ---- logic and comparison ---- */

static int f_and_or(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	/* and/or are evaluated (short-circuit) by the evaluator */
	*ret = json_incref(a[n - 1]);
	return 0;
}

static int f_not(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	*ret = json_boolean(!tv_truth(a[0]));
	return 0;
}

static int f_eq(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	const char *msg = NULL;
	bool t;

	if (tv_eq(a[0], a + 1, n - 1, &t, &msg) < 0)
		return err_msg(c->err, -EINVAL, "%s", msg);
	*ret = json_boolean(t);
	return 0;
}

static int f_ne(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	const char *msg = NULL;
	bool t;

	if (tv_eq(a[0], a + 1, 1, &t, &msg) < 0)
		return err_msg(c->err, -EINVAL, "%s", msg);
	*ret = json_boolean(!t);
	return 0;
}

static int compare(struct fcall *c, json_t *const *a, int *cmp)
{
	const char *msg = NULL;

	if (tv_cmp(a[0], a[1], cmp, &msg) < 0)
		return err_msg(c->err, -EINVAL, "%s", msg);
	return 0;
}

#define CMP_FUNC(name, expr)                                         \
	static int name(struct fcall *c, json_t *const *a, size_t n, \
	                json_t **ret)                                \
	{                                                            \
		int cmp, r = compare(c, a, &cmp);                    \
		if (r < 0)                                           \
			return r;                                    \
		*ret = json_boolean(expr);                           \
		return 0;                                            \
	}

CMP_FUNC(f_lt, cmp < 0)
CMP_FUNC(f_le, cmp <= 0)
CMP_FUNC(f_gt, cmp > 0)
CMP_FUNC(f_ge, cmp >= 0)

/* ---- Go builtins ---- */

static int f_len(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	const json_t *v = a[0];
	size_t len;

	if (json_is_null(v))
		return err_msg(c->err, -EINVAL, "len of nil pointer");
	if (trec_schema_of(v) != NULL)
		return err_msg(c->err, -EINVAL, "len of type %s",
		               tv_type_name(v));
	if (json_is_string(v))
		len = json_string_length(v);
	else if (json_is_array(v))
		len = json_array_size(v);
	else if (json_is_object(v))
		len = json_object_size(v);
	else
		return err_msg(c->err, -EINVAL, "len of type %s",
		               tv_type_name(v));
	*ret = json_integer((json_int_t)len);
	return 0;
}

static int f_index(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	json_t *item = a[0];
	size_t i;

	if (json_is_null(item))
		return err_msg(c->err, -EINVAL, "index of untyped nil");
	for (i = 1; i < n; i++) {
		json_t *idx = a[i];

		if (json_is_array(item) || json_is_string(item)) {
			size_t len = json_is_array(item)
			                     ? json_array_size(item)
			                     : json_string_length(item);
			json_int_t k;

			if (!json_is_integer(idx))
				return err_msg(c->err, -EINVAL,
				               "cannot index slice/array with "
				               "type %s",
				               tv_type_name(idx));
			k = json_integer_value(idx);
			if (k < 0 || (size_t)k >= len)
				return err_msg(c->err, -EINVAL,
				               "index out of range: %lld",
				               (long long)k);
			if (json_is_string(item)) {
				*ret = json_integer(
				        (unsigned char)json_string_value(
				                item)[k]);
				if (i + 1 < n) {
					json_decref(*ret);
					*ret = NULL;
					return err_msg(
					        c->err, -EINVAL,
					        "can't index item of type "
					        "uint8");
				}
				return 0;
			}
			item = json_array_get(item, (size_t)k);
		} else if (json_is_object(item) &&
		           trec_schema_of(item) == NULL) {
			if (!json_is_string(idx))
				return err_msg(c->err, -EINVAL,
				               "value has type %s; should be "
				               "string",
				               tv_type_name(idx));
			json_t *v =
			        json_object_get(item, json_string_value(idx));

			/* Go's index gives the map's zero value */
			if (v == NULL && tv_is_string_map(item)) {
				if (i + 1 == n) {
					*ret = json_string("");
					return 0;
				}
				/* indexing "" further, as above */
				idx = a[i + 1];
				if (!json_is_integer(idx))
					return err_msg(c->err, -EINVAL,
					               "cannot index "
					               "slice/array with type "
					               "%s",
					               tv_type_name(idx));
				return err_msg(
				        c->err, -EINVAL,
				        "index out of range: %lld",
				        (long long)json_integer_value(idx));
			}
			item = v != NULL ? v : json_null();
		} else if (json_is_null(item)) {
			return err_msg(c->err, -EINVAL, "index of untyped nil");
		} else {
			return err_msg(c->err, -EINVAL,
			               "can't index item of type %s",
			               tv_type_name(item));
		}
	}
	*ret = json_incref(item);
	return 0;
}

static int f_printf(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	struct buf b;
	const char *fmt;
	size_t len;
	int r = want_string(c, a[0], &fmt, &len);

	if (r < 0)
		return r;
	buf_init(&b, out_limit(c));
	if ((r = tv_sprintf(&b, fmt, len, a + 1, n - 1, c->err)) < 0)
		return print_failed(c, &b, r);
	*ret = str_from_buf(&b);
	return 0;
}

static int sprint(struct fcall *c, json_t *const *a, size_t n, bool ln,
                  json_t **ret)
{
	struct buf b;
	int r;

	buf_init(&b, out_limit(c));
	if ((r = tv_sprint(&b, a, n, ln, c->err)) < 0)
		return print_failed(c, &b, r);
	*ret = str_from_buf(&b);
	return 0;
}

static int f_print(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	return sprint(c, a, n, false, ret);
}

static int f_println(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	return sprint(c, a, n, true, ret);
}

/* html: Go's HTMLEscapeString over fmt.Sprint of the arguments. */
static int f_html(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	struct buf in, b;
	size_t i;
	int r = 0;

	buf_init(&in, out_limit(c));
	if ((r = tv_sprint(&in, a, n, false, c->err)) < 0)
		return print_failed(c, &in, r);
	buf_init(&b, out_limit(c));
	for (i = 0; r == 0 && i < in.len; i++) {
		switch (in.data[i]) {
		case '<':
			r = buf_puts(&b, "&lt;");
			break;
		case '>':
			r = buf_puts(&b, "&gt;");
			break;
		case '&':
			r = buf_puts(&b, "&amp;");
			break;
		case '\'':
			r = buf_puts(&b, "&#39;");
			break;
		case '"':
			r = buf_puts(&b, "&#34;");
			break;
		case '\0':
			r = buf_puts(&b, "\xef\xbf\xbd");
			break;
		default:
			r = buf_putc(&b, in.data[i]);
			break;
		}
	}
	buf_free(&in);
	if (r < 0)
		return too_big(c, &b);
	*ret = str_from_buf(&b);
	return 0;
}

/* urlquery: Go's url.QueryEscape over fmt.Sprint of the arguments. */
static int f_urlquery(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	struct buf in, b;
	size_t i;
	int r = 0;

	buf_init(&in, out_limit(c));
	if ((r = tv_sprint(&in, a, n, false, c->err)) < 0)
		return print_failed(c, &in, r);
	buf_init(&b, out_limit(c));
	for (i = 0; r == 0 && i < in.len; i++) {
		unsigned char ch = (unsigned char)in.data[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.' || ch == '~')
			r = buf_putc(&b, (char)ch);
		else if (ch == ' ')
			r = buf_putc(&b, '+');
		else
			r = buf_printf(&b, "%%%02X", ch);
	}
	buf_free(&in);
	if (r < 0)
		return too_big(c, &b);
	*ret = str_from_buf(&b);
	return 0;
}

static locale_t utf8_locale(void);

/* Go's call: templates get no function values, so it always fails; the
 * evaluator names the operand (see tmpl_eval.c). */
static int f_call(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	if (json_is_null(a[0]))
		return err_msg(c->err, -EINVAL, "call of nil");
	return err_msg(c->err, -EINVAL, "non-function of type %s",
	               tv_type_name(a[0]));
}

/* ---- Go builtins: slice, js ---- */

/* Go's indexArg for slice: an int in 0..cap. */
static int slice_index(struct fcall *c, const json_t *v, size_t cap,
                       size_t *ret)
{
	json_int_t x;

	if (json_is_null(v))
		return err_msg(c->err, -EINVAL,
		               "cannot index slice/array with nil");
	if (!json_is_integer(v))
		return err_msg(c->err, -EINVAL,
		               "cannot index slice/array with type %s",
		               tv_type_name(v));
	x = json_integer_value(v);
	if (x < 0 || (uint64_t)x > cap)
		return err_msg(c->err, -EINVAL, "index out of range: %lld",
		               (long long)x);
	*ret = (size_t)x;
	return 0;
}

/* Go's slice: item[i:j] (or [i:j:k] for lists) of a string or list. */
static int f_slice(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	const json_t *item = a[0];
	size_t idx[3] = {0, 0, 0}, len, i;
	int r;

	if (json_is_null(item))
		return err_msg(c->err, -EINVAL, "slice of untyped nil");
	if (n - 1 > 3)
		return err_msg(c->err, -EINVAL, "too many slice indexes: %zu",
		               n - 1);
	if (json_is_string(item)) {
		if (n - 1 == 3)
			return err_msg(c->err, -EINVAL,
			               "cannot 3-index slice a string");
		len = json_string_length(item);
	} else if (json_is_array(item)) {
		len = json_array_size(item);
	} else {
		return err_msg(c->err, -EINVAL, "can't slice item of type %s",
		               tv_type_name(item));
	}
	idx[1] = len;
	for (i = 1; i < n; i++)
		if ((r = slice_index(c, a[i], len, &idx[i - 1])) < 0)
			return r;
	if (idx[0] > idx[1])
		return err_msg(c->err, -EINVAL,
		               "invalid slice index: %zu > %zu", idx[0],
		               idx[1]);
	if (n - 1 == 3 && idx[1] > idx[2])
		return err_msg(c->err, -EINVAL,
		               "invalid slice index: %zu > %zu", idx[1],
		               idx[2]);
	if (json_is_string(item)) {
		*ret = json_stringn_nocheck(json_string_value(item) + idx[0],
		                            idx[1] - idx[0]);
		return 0;
	}
	*ret = json_array();
	for (i = idx[0]; i < idx[1]; i++)
		json_array_append(*ret, json_array_get(item, i));
	return 0;
}

/* Go's JSEscapeString over fmt.Sprint of the arguments. */
static int f_js(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf in, b;
	size_t i = 0;
	locale_t loc = (locale_t)0;
	int r;

	buf_init(&in, out_limit(c));
	if ((r = tv_sprint(&in, a, n, false, c->err)) < 0)
		return print_failed(c, &in, r);
	buf_init(&b, out_limit(c));
	while (r == 0 && i < in.len) {
		unsigned char ch = (unsigned char)in.data[i];
		uint32_t cp;
		size_t k;

		if (ch < 0x80) {
			switch (ch) {
			case '\\':
				r = buf_puts(&b, "\\\\");
				break;
			case '\'':
				r = buf_puts(&b, "\\'");
				break;
			case '"':
				r = buf_puts(&b, "\\\"");
				break;
			case '<':
				r = buf_puts(&b, "\\u003C");
				break;
			case '>':
				r = buf_puts(&b, "\\u003E");
				break;
			case '&':
				r = buf_puts(&b, "\\u0026");
				break;
			case '=':
				r = buf_puts(&b, "\\u003D");
				break;
			default:
				if (ch < ' ')
					r = buf_printf(&b, "\\u00%c%c",
					               hex[ch >> 4],
					               hex[ch & 15]);
				else
					r = buf_putc(&b, (char)ch);
			}
			i++;
			continue;
		}
		k = utf8_decode(in.data + i, in.len - i, &cp);
		if (loc == (locale_t)0)
			loc = utf8_locale();
		/* unicode.IsPrint; an invalid byte reads as U+FFFD (printable)
		 */
		if ((k == 1 && cp == 0xfffd) || loc == (locale_t)0 ||
		    iswprint_l((wint_t)cp, loc))
			r = buf_append(&b, in.data + i, k);
		else
			r = buf_printf(&b, "\\u%04X", (unsigned)cp);
		i += k;
	}
	buf_free(&in);
	if (r < 0)
		return too_big(c, &b);
	*ret = str_from_buf(&b);
	return 0;
}

/* ---- parseJSON ---- */

/* No object key may be a record's hidden mark. */
static bool json_keys_ok(const json_t *v)
{
	const char *k;
	size_t klen, i;
	json_t *x;

	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			if (!json_keys_ok(x))
				return false;
		}
	} else if (json_is_object(v)) {
		json_object_keylen_foreach((json_t *)(uintptr_t)v, k, klen, x)
		{
			if (memchr(k, '\0', klen) != NULL || !json_keys_ok(x))
				return false;
		}
	}
	return true;
}

/*
 * consul-template's parseJSON: json.Unmarshal into interface{}, so every
 * number is a float64; "" is an empty map.
 */
static int f_parse_json(struct fcall *c, json_t *const *a, size_t n,
                        json_t **ret)
{
	const char *s;
	size_t len;
	json_error_t je;
	json_t *v;
	int r = want_string(c, a[0], &s, &len);

	if (r < 0)
		return r;
	if (len == 0) {
		*ret = json_object();
		return 0;
	}
	v = json_loadb(s, len,
	               JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL |
	                       JSON_ALLOW_NUL,
	               &je);
	if (v == NULL)
		return err_msg(c->err, -EINVAL, "%s (line %d, column %d)",
		               je.text, je.line, je.column);
	if (!json_keys_ok(v)) {
		json_decref(v);
		return err_msg(c->err, -ENOTSUP,
		               "object keys holding a NUL byte are not "
		               "supported");
	}
	*ret = v;
	return 0;
}

/* ---- consul-template: membership ---- */

/* consul-template's in(l, v): v is an element of list l, or a substring
 * of string l. */
static bool in_value(const json_t *l, const json_t *v)
{
	size_t i;

	if (json_is_array(l)) {
		for (i = 0; i < json_array_size(l); i++) {
			const json_t *x = json_array_get(l, i);

			if (json_is_integer(x) && json_is_integer(v) &&
			    json_integer_value(x) == json_integer_value(v))
				return true;
			if (json_is_real(x) && json_is_real(v) &&
			    json_real_value(x) == json_real_value(v))
				return true;
			if (json_is_string(x) && json_is_string(v) &&
			    json_string_length(x) == json_string_length(v) &&
			    memcmp(json_string_value(x), json_string_value(v),
			           json_string_length(v)) == 0)
				return true;
		}
		return false;
	}
	if (json_is_string(l) && json_is_string(v))
		return memmem(json_string_value(l), json_string_length(l),
		              json_string_value(v),
		              json_string_length(v)) != NULL;
	return false;
}

static int f_in(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	*ret = json_boolean(in_value(a[0], a[1]));
	return 0;
}

static int f_contains(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	*ret = json_boolean(in_value(a[1], a[0]));
	return 0;
}

/* containsAny/All/None/NotAll values list: how many of values are in
 * list. */
static int count_in(struct fcall *c, json_t *const *a, size_t *hits,
                    size_t *total)
{
	size_t i;

	if (!json_is_array(a[0]))
		return err_msg(c->err, -EINVAL,
		               "wrong type for value; expected []interface {}; "
		               "got %s",
		               tv_type_name(a[0]));
	*total = json_array_size(a[0]);
	*hits = 0;
	for (i = 0; i < *total; i++)
		if (in_value(a[1], json_array_get(a[0], i)))
			(*hits)++;
	return 0;
}

#define CONTAINS_FUNC(name, expr)                                    \
	static int name(struct fcall *c, json_t *const *a, size_t n, \
	                json_t **ret)                                \
	{                                                            \
		size_t hits, total;                                  \
		int r = count_in(c, a, &hits, &total);               \
		if (r < 0)                                           \
			return r;                                    \
		*ret = json_boolean(expr);                           \
		return 0;                                            \
	}

CONTAINS_FUNC(f_contains_any, hits > 0)
CONTAINS_FUNC(f_contains_all, hits == total)
CONTAINS_FUNC(f_contains_none, hits == 0)
CONTAINS_FUNC(f_contains_not_all, hits < total)

/* ---- environment and files ---- */

static int f_env(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	const char *name, *v;
	int r = want_string(c, a[0], &name, NULL);

	if (r < 0)
		return r;
	v = getenv(name);
	*ret = json_string_nocheck(v != NULL ? v : "");
	return 0;
}

static int f_env_or_default(struct fcall *c, json_t *const *a, size_t n,
                            json_t **ret)
{
	const char *name, *v;
	int r = want_string(c, a[0], &name, NULL);

	if (r < 0)
		return r;
	v = getenv(name);
	*ret = v != NULL ? json_string_nocheck(v) : json_incref(a[1]);
	return 0;
}

static int f_file(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	size_t max =
	        FUNCS_MAX_FILE < out_limit(c) ? FUNCS_MAX_FILE : out_limit(c);
	struct read_file rf;
	const char *path;
	struct buf b;
	int r = want_string(c, a[0], &path, NULL);

	if (r < 0)
		return r;
	/* Never block the loop: a FIFO (or a device) would wait for a
	 * writer, and SIGTERM with it. Only regular files are read. */
	buf_init(&b, max);
	r = read_file(path, max, READ_FILE_REGULAR, &b, &rf);
	if (r == 0) {
		*ret = str_from_buf(&b);
		return 0;
	}
	buf_free(&b);
	switch (rf.step) {
	case READ_FILE_OPEN:
		return err_msg(c->err, r, "open %s: %s", path, strerror(-r));
	case READ_FILE_STAT:
		return err_msg(c->err, r, "stat %s: %s", path, strerror(-r));
	case READ_FILE_TYPE:
		return err_msg(
		        c->err, -EINVAL,
		        "read %s: not a regular file (only regular files "
		        "are read: a FIFO or a device would block)",
		        path);
	case READ_FILE_LIMIT:
		return err_msg(c->err, -EFBIG,
		               "read %s: file larger than %zu bytes", path,
		               max);
	case READ_FILE_READ:
		break;
	}
	return err_msg(c->err, -EIO, "read %s: I/O error", path);
}

/* ---- strings ---- */

static int f_join(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	const char *sep;
	size_t seplen, i;
	struct buf b;
	int r = want_string(c, a[0], &sep, &seplen);

	if (r < 0)
		return r;
	if (!json_is_array(a[1]))
		return err_msg(
		        c->err, -EINVAL,
		        "wrong type for value; expected []string; got %s",
		        tv_type_name(a[1]));
	buf_init(&b, out_limit(c));
	for (i = 0; r == 0 && i < json_array_size(a[1]); i++) {
		if (i > 0)
			r = buf_append(&b, sep, seplen);
		if (r == 0)
			r = tv_print(&b, json_array_get(a[1], i), c->err);
	}
	if (r < 0)
		return print_failed(c, &b, r);
	*ret = str_from_buf(&b);
	return 0;
}

static void trim_bounds(const char *s, size_t *start, size_t *end,
                        const char *set, size_t setlen, bool left, bool right)
{
	while (left && *start < *end && memchr(set, s[*start], setlen) != NULL)
		(*start)++;
	while (right && *end > *start &&
	       memchr(set, s[*end - 1], setlen) != NULL)
		(*end)--;
}

static const char spaces[] = " \t\n\v\f\r";

static int f_split(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	const char *sep, *s;
	size_t seplen, len, start = 0, end;
	json_t *list;
	int r = want_string(c, a[0], &sep, &seplen);

	if (r == 0)
		r = want_string(c, a[1], &s, &len);
	if (r < 0)
		return r;
	end = len;
	trim_bounds(s, &start, &end, spaces, sizeof(spaces) - 1, true, true);
	list = json_array();
	if (start == end) {
		*ret = list;
		return 0;
	}
	if (seplen == 0) {
		/* Go splits into UTF-8 sequences */
		while (start < end) {
			size_t k = 1;

			while (start + k < end &&
			       ((unsigned char)s[start + k] & 0xc0) == 0x80)
				k++;
			json_array_append_new(
			        list, json_stringn_nocheck(s + start, k));
			start += k;
		}
		*ret = list;
		return 0;
	}
	for (;;) {
		const char *m = memmem(s + start, end - start, sep, seplen);
		size_t stop = m != NULL ? (size_t)(m - s) : end;

		json_array_append_new(
		        list, json_stringn_nocheck(s + start, stop - start));
		if (m == NULL)
			break;
		start = stop + seplen;
	}
	*ret = list;
	return 0;
}

static int replace_all(struct fcall *c, const char *from, size_t flen,
                       const char *to, size_t tlen, const char *s, size_t len,
                       json_t **ret)
{
	struct buf b;
	size_t pos = 0;
	int r = 0;

	buf_init(&b, out_limit(c));
	if (flen == 0) {
		/* Go inserts to before every rune and at the end */
		while (r == 0 && pos <= len) {
			size_t k = 1;

			r = buf_append(&b, to, tlen);
			if (pos == len)
				break;
			while (pos + k < len &&
			       ((unsigned char)s[pos + k] & 0xc0) == 0x80)
				k++;
			if (r == 0)
				r = buf_append(&b, s + pos, k);
			pos += k;
		}
	} else {
		for (;;) {
			const char *m = memmem(s + pos, len - pos, from, flen);

			if (m == NULL) {
				r = buf_append(&b, s + pos, len - pos);
				break;
			}
			r = buf_append(&b, s + pos, (size_t)(m - s) - pos);
			if (r == 0)
				r = buf_append(&b, to, tlen);
			if (r < 0)
				break;
			pos = (size_t)(m - s) + flen;
		}
	}
	if (r < 0)
		return too_big(c, &b);
	*ret = str_from_buf(&b);
	return 0;
}

static int f_replace_all(struct fcall *c, json_t *const *a, size_t n,
                         json_t **ret)
{
	const char *from = NULL, *to = NULL, *s = NULL;
	size_t flen = 0, tlen = 0, len = 0;
	int r = want_string(c, a[0], &from, &flen);

	if (r == 0)
		r = want_string(c, a[1], &to, &tlen);
	if (r == 0)
		r = want_string(c, a[2], &s, &len);
	if (r < 0)
		return r;
	return replace_all(c, from, flen, to, tlen, s, len, ret);
}

/* The compiled pattern v (borrowed from the regex cache). */
static int get_regex(struct fcall *c, const json_t *v, struct regex **re)
{
	const char *pat;
	size_t len;
	int r = want_string(c, v, &pat, &len);

	if (r < 0)
		return r;
	return regex_get(pat, len, re, c->err);
}

static int f_regex_match(struct fcall *c, json_t *const *a, size_t n,
                         json_t **ret)
{
	struct regex *re;
	const char *s;
	size_t len;
	bool m;
	int r = want_string(c, a[1], &s, &len);

	if (r == 0)
		r = get_regex(c, a[0], &re);
	if (r == 0)
		r = regex_match(re, s, len, &m, c->err);
	if (r < 0)
		return r;
	*ret = json_boolean(m);
	return 0;
}

static int f_regex_replace_all(struct fcall *c, json_t *const *a, size_t n,
                               json_t **ret)
{
	struct regex *re;
	const char *tpl = NULL, *s = NULL;
	size_t tlen = 0, len = 0;
	struct buf b;
	int r = want_string(c, a[1], &tpl, &tlen);

	if (r == 0)
		r = want_string(c, a[2], &s, &len);
	if (r == 0)
		r = get_regex(c, a[0], &re);
	if (r < 0)
		return r;
	buf_init(&b, out_limit(c));
	r = regex_replace_all(re, s, len, tpl, tlen, &b, c->err);
	if (r == -E2BIG)
		return too_big(c, &b);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	*ret = str_from_buf(&b);
	return 0;
}

/*
 * The C.UTF-8 locale for Unicode case mapping (glibc's tables: Go's
 * simple case mapping), or 0 when the system has none: then only ASCII
 * letters change case and other text is an error, never silently kept.
 */
static locale_t utf8_locale(void)
{
	static locale_t loc;
	static bool tried;

	if (!tried) {
		tried = true;
		loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
		if (loc == (locale_t)0)
			loc = newlocale(LC_CTYPE_MASK, "C.utf8", (locale_t)0);
	}
	return loc;
}

enum casing { CASE_LOWER, CASE_UPPER, CASE_TITLE };

/* x/text/cases word classes, for title casing (ASCII exact). */
enum wclass { W_LETTER, W_MID, W_BREAK };

static enum wclass word_class(uint32_t c, locale_t loc)
{
	if (c < 0x80) {
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_')
			return W_LETTER;
		if (c == '.' || c == ':' || c == '\'')
			return W_MID;
		return W_BREAK;
	}
	if (loc != (locale_t)0 &&
	    (iswspace_l((wint_t)c, loc) || iswpunct_l((wint_t)c, loc)))
		return W_BREAK;
	return W_LETTER;
}

static uint32_t map_rune(uint32_t c, enum casing how, locale_t loc)
{
	if (c < 0x80) {
		if (how == CASE_LOWER && c >= 'A' && c <= 'Z')
			return c - 'A' + 'a';
		if (how != CASE_LOWER && c >= 'a' && c <= 'z')
			return c - 'a' + 'A';
		return c;
	}
	if (loc == (locale_t)0)
		return c;
	return (uint32_t)(how == CASE_LOWER ? towlower_l((wint_t)c, loc)
	                                    : towupper_l((wint_t)c, loc));
}

static bool is_cased(uint32_t c, locale_t loc)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	return loc != (locale_t)0 && (towupper_l((wint_t)c, loc) != c ||
	                              towlower_l((wint_t)c, loc) != c);
}

/*
 * Go's strings.ToLower / ToUpper (invalid UTF-8 becomes U+FFFD, as
 * strings.Map writes it) and consul-template's toTitle, x/text's
 * cases.Title(language.Und, cases.NoLower): the first cased letter of
 * each word upper-cased, the rest kept; a word ends at a break (blank,
 * '-', '/', ...) or two "mid" runes in a row ('.', ':', '\'').
 */
static int map_string(struct fcall *c, const json_t *v, enum casing how,
                      json_t **ret)
{
	const char *s;
	size_t len, i = 0;
	struct buf b;
	bool ascii = true, mid_word = false;
	locale_t loc;
	int r = want_string(c, v, &s, &len);

	if (r < 0)
		return r;
	for (size_t k = 0; k < len; k++)
		if ((unsigned char)s[k] >= 0x80)
			ascii = false;
	loc = ascii ? (locale_t)0 : utf8_locale();
	if (!ascii && loc == (locale_t)0)
		return err_msg(c->err, -ENOTSUP,
		               "%s of non-ASCII text needs the C.UTF-8 locale, "
		               "which this system lacks",
		               how == CASE_LOWER   ? "toLower"
		               : how == CASE_UPPER ? "toUpper"
		                                   : "toTitle");
	buf_init(&b, out_limit(c));
	while (r == 0 && i < len) {
		uint32_t cp, nx = 0;
		size_t k = utf8_decode(s + i, len - i, &cp), nk = 0;
		bool invalid = k == 1 && cp == 0xfffd;
		char tmp[4];

		if (how != CASE_TITLE) {
			if (invalid) {
				r = buf_puts(&b, "\xef\xbf\xbd");
			} else {
				cp = map_rune(cp, how, loc);
				r = buf_append(&b, tmp, utf8_encode(tmp, cp));
			}
			i += k;
			continue;
		}
		if (!invalid && is_cased(cp, loc)) {
			if (!mid_word)
				cp = map_rune(cp, CASE_UPPER, loc);
			mid_word = true;
			r = buf_append(&b, tmp, utf8_encode(tmp, cp));
		} else {
			r = buf_append(&b, s + i, k);
			if (invalid || word_class(cp, loc) == W_BREAK)
				mid_word = false;
		}
		if (i + k < len)
			nk = utf8_decode(s + i + k, len - i - k, &nx);
		if (!invalid && word_class(cp, loc) == W_MID && nk > 0 &&
		    word_class(nx, loc) == W_MID)
			mid_word = false;
		i += k;
	}
	if (r < 0)
		return too_big(c, &b);
	*ret = str_from_buf(&b);
	return 0;
}

static int f_to_lower(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	return map_string(c, a[0], CASE_LOWER, ret);
}

static int f_to_upper(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	return map_string(c, a[0], CASE_UPPER, ret);
}

static int f_to_title(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	return map_string(c, a[0], CASE_TITLE, ret);
}

/* mode: 0 trimSpace, 1 trim cutset, 2 trimPrefix, 3 trimSuffix */
static int trim(struct fcall *c, json_t *const *a, size_t n, int mode,
                json_t **ret)
{
	const char *s, *set = spaces;
	size_t len, setlen = sizeof(spaces) - 1, start = 0, end;
	int r = want_string(c, a[n - 1], &s, &len);

	if (r == 0 && mode > 0)
		r = want_string(c, a[0], &set, &setlen);
	if (r < 0)
		return r;
	end = len;
	if (mode <= 1) {
		trim_bounds(s, &start, &end, set, setlen, true, true);
	} else if (mode == 2) {
		if (setlen <= len && memcmp(s, set, setlen) == 0)
			start = setlen;
	} else {
		if (setlen <= len && memcmp(s + len - setlen, set, setlen) == 0)
			end = len - setlen;
	}
	*ret = json_stringn_nocheck(s + start, end - start);
	return 0;
}

static int f_trim_space(struct fcall *c, json_t *const *a, size_t n,
                        json_t **ret)
{
	return trim(c, a, n, 0, ret);
}

static int f_trim(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	return trim(c, a, n, 1, ret);
}

static int f_trim_prefix(struct fcall *c, json_t *const *a, size_t n,
                         json_t **ret)
{
	return trim(c, a, n, 2, ret);
}

static int f_trim_suffix(struct fcall *c, json_t *const *a, size_t n,
                         json_t **ret)
{
	return trim(c, a, n, 3, ret);
}

/* consul-template's mustEnv: env, but an empty or unset variable is an
 * error. */
static int f_must_env(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	const char *name, *v;
	int r = want_string(c, a[0], &name, NULL);

	if (r < 0)
		return r;
	v = getenv(name);
	if (v == NULL || *v == '\0')
		return err_msg(c->err, -ENOENT,
		               "required environment variable %s is empty",
		               name);
	*ret = json_string_nocheck(v);
	return 0;
}

/* consul-template's indent: every line of s prefixed with n spaces. */
static int f_indent(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	const char *s;
	size_t len, i;
	json_int_t width;
	bool line_start = true;
	struct buf b;
	int r;

	if (!json_is_integer(a[0]))
		return err_msg(c->err, -EINVAL,
		               "wrong type for value; expected int; got %s",
		               tv_type_name(a[0]));
	if ((r = want_string(c, a[1], &s, &len)) < 0)
		return r;
	width = json_integer_value(a[0]);
	if (width < 0)
		return err_msg(c->err, -EINVAL,
		               "indent value must be a positive integer");
	buf_init(&b, out_limit(c));
	for (i = 0; r == 0 && i < len; i++) {
		if (line_start && s[i] != '\n')
			for (json_int_t k = 0; r == 0 && k < width; k++)
				r = buf_putc(&b, ' ');
		if (r == 0)
			r = buf_putc(&b, s[i]);
		line_start = s[i] == '\n';
	}
	if (r < 0)
		return too_big(c, &b);
	*ret = str_from_buf(&b);
	return 0;
}

/* consul-template's splitToMap: "a:x,b:y" to map[a:x b:y]; a part
 * without sep2 is left out. */
static int f_split_to_map(struct fcall *c, json_t *const *a, size_t n,
                          json_t **ret)
{
	const char *sep1, *sep2 = NULL, *s;
	size_t l1, l2 = 0, len, start = 0, end;
	json_t *m;
	int r = want_string(c, a[0], &sep1, &l1);

	if (r == 0)
		r = want_string(c, a[1], &sep2, &l2);
	if (r == 0)
		r = want_string(c, a[2], &s, &len);
	if (r < 0)
		return r;
	end = len;
	trim_bounds(s, &start, &end, spaces, sizeof(spaces) - 1, true, true);
	m = json_object();
	while (start < end) {
		const char *hit =
		        l1 > 0 ? memmem(s + start, end - start, sep1, l1)
		               : NULL;
		size_t stop = hit != NULL ? (size_t)(hit - s)
		              : l1 == 0   ? start + 1
		                          : end;
		const char *kv =
		        l2 > 0 ? memmem(s + start, stop - start, sep2, l2)
		               : s + start;

		if (kv != NULL)
			json_object_setn_new_nocheck(
			        m, s + start, (size_t)(kv - (s + start)),
			        json_stringn_nocheck(
			                kv + l2, stop - (size_t)(kv - s) - l2));
		if (hit == NULL && l1 > 0)
			break;
		start = stop + l1;
	}
	*ret = m;
	return 0;
}

/* consul-template's parseUint: strconv.ParseUint(s, 10, 64); "" is 0. */
static int f_parse_uint(struct fcall *c, json_t *const *a, size_t n,
                        json_t **ret)
{
	const char *s, *p;
	unsigned long long v = 0;
	int r = want_string(c, a[0], &s, NULL);

	if (r < 0)
		return r;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (v > (~0ULL - (unsigned)(*p - '0')) / 10)
			return err_msg(c->err, -ERANGE,
			               "parseUint: strconv.ParseUint: parsing "
			               "\"%s\": value out of range",
			               s);
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (*p != '\0')
		return err_msg(c->err, -EINVAL,
		               "parseUint: strconv.ParseUint: parsing \"%s\": "
		               "invalid syntax",
		               s);
	/* uint64 beyond int64 reads as a float64, as KV Flags do */
	*ret = v > (unsigned long long)INT64_MAX ? json_real((double)v)
	                                         : json_integer((json_int_t)v);
	return 0;
}

/* ---- math: consul-template's (b, a) order, so "a | add b" works ---- */

enum math_op { M_ADD, M_SUB, M_MUL, M_DIV, M_MOD };

static const char *const math_names[] = {"add", "subtract", "multiply",
                                         "divide", "modulo"};

static int math_type_error(struct fcall *c, enum math_op op, const json_t *v)
{
	struct buf b;
	int r;

	buf_init(&b, 200);
	tv_print(&b, v, NULL);
	r = err_msg(c->err, -EINVAL, "%s: unknown type for %s%s%s (%s)",
	            math_names[op], json_is_string(v) ? "\"" : "", buf_str(&b),
	            json_is_string(v) ? "\"" : "", tv_type_name(v));
	buf_free(&b);
	return r;
}

static int math(struct fcall *c, json_t *const *args, enum math_op op,
                json_t **ret)
{
	const json_t *b = args[0], *a = args[1];

	if (!json_is_number(a))
		return math_type_error(c, op, a);
	if (!json_is_number(b))
		return math_type_error(c, op, b);
	if (json_is_integer(a) && json_is_integer(b)) {
		uint64_t x = (uint64_t)json_integer_value(a);
		uint64_t y = (uint64_t)json_integer_value(b);
		json_int_t sy = json_integer_value(b);
		json_int_t sx = json_integer_value(a);

		switch (op) {
		case M_ADD:
			*ret = json_integer((json_int_t)(x + y));
			return 0;
		case M_SUB:
			*ret = json_integer((json_int_t)(x - y));
			return 0;
		case M_MUL:
			*ret = json_integer((json_int_t)(x * y));
			return 0;
		case M_DIV:
		case M_MOD:
			if (sy == 0)
				return err_msg(c->err, -EDOM,
				               "%s: division by zero",
				               math_names[op]);
			if (sy == -1) /* INT64_MIN / -1 wraps as in Go */
				*ret = json_integer(
				        op == M_DIV ? (json_int_t)(0 - x) : 0);
			else
				*ret = json_integer(op == M_DIV ? sx / sy
				                                : sx % sy);
			return 0;
		}
	}
	{
		double x = json_number_value(a), y = json_number_value(b);

		switch (op) {
		case M_ADD:
			*ret = json_real(x + y);
			break;
		case M_SUB:
			*ret = json_real(x - y);
			break;
		case M_MUL:
			*ret = json_real(x * y);
			break;
		case M_DIV:
			if (y == 0)
				return err_msg(c->err, -EDOM,
				               "divide: division by zero");
			*ret = json_real(x / y);
			break;
		case M_MOD:
			return err_msg(c->err, -EINVAL,
			               "modulo: unknown type for %g (float64)",
			               x);
		}
	}
	if (*ret == NULL) /* inf/nan: jansson refuses them */
		return err_msg(c->err, -ERANGE, "%s: result out of range",
		               math_names[op]);
	return 0;
}

#define MATH_FUNC(name, op)                                          \
	static int name(struct fcall *c, json_t *const *a, size_t n, \
	                json_t **ret)                                \
	{                                                            \
		return math(c, a, op, ret);                          \
	}

MATH_FUNC(f_add, M_ADD)
MATH_FUNC(f_subtract, M_SUB)
MATH_FUNC(f_multiply, M_MUL)
MATH_FUNC(f_divide, M_DIV)
MATH_FUNC(f_modulo, M_MOD)

/* ---- lists ---- */

static int parse_int_str(struct fcall *c, const char *s, json_int_t *ret);

/* consul-template's loop takes integers and numeric strings. */
static int loop_arg(struct fcall *c, const json_t *v, json_int_t *ret)
{
	*ret = 0;
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v))
		return parse_int_str(c, json_string_value(v), ret);
	return err_msg(c->err, -EINVAL, "loop: bad argument type: %s",
	               tv_type_name(v));
}

static int f_loop(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	json_int_t start = 0, stop, i;
	unsigned long limit = c->env != NULL ? c->env->limits.max_steps : 0;
	json_t *list;
	int r;

	if (limit == 0)
		limit = TMPL_DEFAULT_MAX_STEPS;
	if (limit > FUNCS_MAX_LOOP)
		limit = FUNCS_MAX_LOOP;
	if (n == 2) {
		r = loop_arg(c, a[0], &start);
		if (r == 0)
			r = loop_arg(c, a[1], &stop);
	} else {
		r = loop_arg(c, a[0], &stop);
	}
	if (r < 0)
		return r;
	if (stop > start && (uint64_t)stop - (uint64_t)start > limit)
		return err_msg(
		        c->err, -E2BIG,
		        "loop: %llu iterations exceed the limit of %lu",
		        (unsigned long long)((uint64_t)stop - (uint64_t)start),
		        limit);
	list = json_array();
	for (i = start; i < stop; i++)
		json_array_append_new(list, json_integer(i));
	*ret = list;
	return 0;
}

struct sort_item {
	json_t *v;
	size_t i;
};

static int sort_cmp(const void *pa, const void *pb)
{
	const struct sort_item *a = pa, *b = pb;
	const char *msg;
	int cmp = 0;

	if (tv_cmp(a->v, b->v, &cmp, &msg) < 0)
		cmp = 0;
	if (cmp != 0)
		return cmp;
	return a->i < b->i ? -1 : a->i > b->i;
}

static int f_sort(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	size_t i, len;
	struct sort_item *items;
	json_t *list;

	if (!json_is_array(a[0]))
		return err_msg(c->err, -EINVAL,
		               "sort: wrong type for value; expected a list; "
		               "got %s",
		               tv_type_name(a[0]));
	len = json_array_size(a[0]);
	for (i = 1; i < len; i++) {
		const json_t *x = json_array_get(a[0], 0),
		             *y = json_array_get(a[0], i);
		int cmp;
		const char *msg;

		if (tv_cmp(x, y, &cmp, &msg) < 0)
			return err_msg(c->err, -EINVAL,
			               "sort: cannot compare %s and %s",
			               tv_type_name(x), tv_type_name(y));
	}
	if (len == 1 && tv_cmp(json_array_get(a[0], 0), json_array_get(a[0], 0),
	                       &(int){0}, &(const char *){NULL}) < 0)
		return err_msg(c->err, -EINVAL, "sort: cannot sort %s",
		               tv_type_name(json_array_get(a[0], 0)));
	items = xreallocarray(NULL, len ? len : 1, sizeof(*items));
	for (i = 0; i < len; i++) {
		items[i].v = json_array_get(a[0], i);
		items[i].i = i;
	}
	qsort(items, len, sizeof(*items), sort_cmp);
	list = json_array();
	for (i = 0; i < len; i++)
		json_array_append(list, items[i].v);
	free(items);
	*ret = list;
	return 0;
}

static int f_shuffle(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	json_t *list;

	if (!json_is_array(a[0]))
		return err_msg(
		        c->err, -EINVAL,
		        "shuffle: wrong type for value; expected a list; "
		        "got %s",
		        tv_type_name(a[0]));
	list = json_array();
	json_array_extend(list, a[0]);
	if (c->env != NULL && c->env->order != NULL)
		c->env->order(c->env->ctx, "", list);
	*ret = list;
	return 0;
}

/* ---- conversion ---- */

/* consul-template's toJSON family: encoding/json, trimmed. */
static int json_out(struct fcall *c, const json_t *v, bool pretty, bool html,
                    json_t **ret)
{
	struct buf b;
	int r;

	buf_init(&b, out_limit(c));
	if ((r = tv_json(&b, v, pretty, html, c->err)) < 0)
		return print_failed(c, &b, r);
	*ret = str_from_buf(&b);
	return 0;
}

static int f_to_json(struct fcall *c, json_t *const *a, size_t n, json_t **ret)
{
	return json_out(c, a[0], false, true, ret);
}

static int f_to_json_pretty(struct fcall *c, json_t *const *a, size_t n,
                            json_t **ret)
{
	return json_out(c, a[0], true, true, ret);
}

static int f_to_unescaped_json(struct fcall *c, json_t *const *a, size_t n,
                               json_t **ret)
{
	return json_out(c, a[0], false, false, ret);
}

static int f_to_unescaped_json_pretty(struct fcall *c, json_t *const *a,
                                      size_t n, json_t **ret)
{
	return json_out(c, a[0], true, false, ret);
}

/* consul-template's parseInt: "" is 0, else strconv.ParseInt(s, 10, 64). */
static int parse_int_str(struct fcall *c, const char *s, json_int_t *ret)
{
	char *end;
	long long v;

	*ret = 0;
	if (*s == '\0')
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || end == s || s[0] == ' ' || s[0] == '\t' ||
	    s[0] == '\n' || s[0] == '\v' || s[0] == '\f' || s[0] == '\r')
		return err_msg(c->err, -EINVAL,
		               "parseInt: strconv.ParseInt: parsing \"%s\": "
		               "invalid syntax",
		               s);
	if (errno == ERANGE)
		return err_msg(c->err, -ERANGE,
		               "parseInt: strconv.ParseInt: parsing \"%s\": "
		               "value out of range",
		               s);
	*ret = v;
	return 0;
}

static int f_parse_int(struct fcall *c, json_t *const *a, size_t n,
                       json_t **ret)
{
	const char *s;
	json_int_t v;
	int r = want_string(c, a[0], &s, NULL);

	if (r == 0)
		r = parse_int_str(c, s, &v);
	if (r < 0)
		return r;
	*ret = json_integer(v);
	return 0;
}

static int f_parse_float(struct fcall *c, json_t *const *a, size_t n,
                         json_t **ret)
{
	const char *s;
	char *end;
	double v;
	int r = want_string(c, a[0], &s, NULL);

	if (r < 0)
		return r;
	if (*s == '\0') {
		*ret = json_real(0);
		return 0;
	}
	v = strtod(s, &end);
	if (*end != '\0' || end == s || s[0] == ' ' ||
	    (*ret = json_real(v)) == NULL)
		return err_msg(
		        c->err, -EINVAL,
		        "parseFloat: strconv.ParseFloat: parsing \"%s\": "
		        "invalid syntax",
		        s);
	return 0;
}

static int f_parse_bool(struct fcall *c, json_t *const *a, size_t n,
                        json_t **ret)
{
	const char *s;
	bool b;
	int r = want_string(c, a[0], &s, NULL);

	if (r < 0)
		return r;
	if (*s == '\0') {
		*ret = json_false();
		return 0;
	}
	if (go_parse_bool(s, &b) == 0) {
		*ret = json_boolean(b);
		return 0;
	}
	return err_msg(c->err, -EINVAL,
	               "parseBool: strconv.ParseBool: parsing \"%s\": invalid "
	               "syntax",
	               s);
}

const struct func_def funcs_builtin[] = {
        /* Go's builtins */
        {"and", f_and_or, 1, -1},
        {"or", f_and_or, 1, -1},
        {"not", f_not, 1, 1},
        {"eq", f_eq, 1, -1},
        {"ne", f_ne, 2, 2},
        {"lt", f_lt, 2, 2},
        {"le", f_le, 2, 2},
        {"gt", f_gt, 2, 2},
        {"ge", f_ge, 2, 2},
        {"len", f_len, 1, 1},
        {"index", f_index, 1, -1},
        {"printf", f_printf, 1, -1},
        {"print", f_print, 0, -1},
        {"println", f_println, 0, -1},
        {"html", f_html, 0, -1},
        {"urlquery", f_urlquery, 0, -1},
        {"js", f_js, 0, -1},
        {"slice", f_slice, 1, -1},
        {"call", f_call, 1, -1},
        /* consul-template's helpers */
        {"contains", f_contains, 2, 2},
        {"containsAny", f_contains_any, 2, 2},
        {"containsAll", f_contains_all, 2, 2},
        {"containsNone", f_contains_none, 2, 2},
        {"containsNotAll", f_contains_not_all, 2, 2},
        {"in", f_in, 2, 2},
        {"env", f_env, 1, 1},
        {"envOrDefault", f_env_or_default, 2, 2},
        {"mustEnv", f_must_env, 1, 1},
        {"indent", f_indent, 2, 2},
        {"splitToMap", f_split_to_map, 3, 3},
        {"parseUint", f_parse_uint, 1, 1},
        {"file", f_file, 1, 1},
        {"join", f_join, 2, 2},
        {"split", f_split, 2, 2},
        {"replaceAll", f_replace_all, 3, 3},
        {"regexReplaceAll", f_regex_replace_all, 3, 3},
        {"regexMatch", f_regex_match, 2, 2},
        {"toLower", f_to_lower, 1, 1},
        {"toUpper", f_to_upper, 1, 1},
        {"toTitle", f_to_title, 1, 1},
        {"trimSpace", f_trim_space, 1, 1},
        {"trim", f_trim, 2, 2},
        {"trimPrefix", f_trim_prefix, 2, 2},
        {"trimSuffix", f_trim_suffix, 2, 2},
        {"add", f_add, 2, 2},
        {"subtract", f_subtract, 2, 2},
        {"multiply", f_multiply, 2, 2},
        {"divide", f_divide, 2, 2},
        {"modulo", f_modulo, 2, 2},
        {"loop", f_loop, 1, 2},
        {"sort", f_sort, 1, 1},
        {"shuffle", f_shuffle, 1, 1},
        {"toJSON", f_to_json, 1, 1},
        {"toJSONPretty", f_to_json_pretty, 1, 1},
        {"toUnescapedJSON", f_to_unescaped_json, 1, 1},
        {"toUnescapedJSONPretty", f_to_unescaped_json_pretty, 1, 1},
        {"parseInt", f_parse_int, 1, 1},
        {"parseFloat", f_parse_float, 1, 1},
        {"parseBool", f_parse_bool, 1, 1},
        {"parseJSON", f_parse_json, 1, 1},
        {NULL, NULL, 0, 0},
};

/* consul-template's functions that consul-hosts leaves out, and why. */
static const struct {
	const char *name;
	const char *why;
} unsupported[] = {
        {"secret", "Vault"},
        {"secrets", "Vault"},
        {"pkiCert", "Vault"},
        {"caLeaf", "Consul Connect certificates"},
        {"caRoots", "Consul Connect certificates"},
        {"nomadServices", "Nomad"},
        {"nomadService", "Nomad"},
        {"nomadVarList", "Nomad"},
        {"nomadVarListSafe", "Nomad"},
        {"nomadVar", "Nomad"},
        {"nomadVarExists", "Nomad"},
        {"exportedServices", "Consul admin partitions"},
        {"importedServices", "Consul admin partitions"},
        {"partitions", "Consul admin partitions"},
        {"peerings", "Consul cluster peering"},
        {"scratch", "the scratch pad"},
        {"executeTemplate", "use the template action"},
        {"plugin", "it runs external commands"},
        {"writeToFile", "it writes files"},
        {"sockaddr", "go-sockaddr templates"},
        {"timestamp", "it would rewrite the file on every render"},
        {"byKey", "not needed for hosts files"},
        {"byPort", "not needed for hosts files"},
        {"explode", "not needed for hosts files"},
        {"explodeMap", "not needed for hosts files"},
        {"mergeMap", "not needed for hosts files"},
        {"mergeMapWithOverride", "not needed for hosts files"},
        {"parseYAML", "YAML"},
        {"toYAML", "YAML"},
        {"toTOML", "TOML"},
        {"sha256Hex", "hashing"},
        {"md5sum", "hashing"},
        {"hmacSHA256Hex", "hashing"},
        {"base64Decode", "not implemented yet"},
        {"base64Encode", "not implemented yet"},
        {"base64URLDecode", "not implemented yet"},
        {"base64URLEncode", "not implemented yet"},
        {"minimum", "not implemented yet"},
        {"maximum", "not implemented yet"},
        {"spew_dump", "debugging output"},
        {"spew_sdump", "debugging output"},
        {"spew_printf", "debugging output"},
        {"spew_sprintf", "debugging output"},
};

const char *func_unsupported(const char *name)
{
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(*unsupported); i++)
		if (strcmp(unsupported[i].name, name) == 0)
			return unsupported[i].why;
	if (strncmp(name, "sprig_", 6) == 0)
		return "Sprig functions";
	return NULL;
}

/* Go's text/template builtins: consul-template's denylist cannot touch
 * them (it only replaces entries of its own function map). */
static bool go_builtin(const char *name)
{
	static const char *const names[] = {
	        "and",    "call",    "eq",    "ge",      "gt",
	        "html",   "index",   "js",    "le",      "len",
	        "lt",     "ne",      "not",   "or",      "print",
	        "printf", "println", "slice", "urlquery"};

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* github.com/ryanuber/go-glob: '*' matches any run, nothing else is
 * special. */
static bool glob_match(const char *pat, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s != '\0') {
		if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (*pat == *s) {
			pat++;
			s++;
		} else if (star != NULL) {
			pat = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

bool func_denied(const char *name, const char *const *denylist)
{
	if (denylist == NULL || go_builtin(name))
		return false;
	for (; *denylist != NULL; denylist++)
		if (glob_match(*denylist, name))
			return true;
	return false;
}

const struct func_def *func_lookup(const char *name)
{
	const struct func_def *tables[] = {funcs_builtin, funcs_consul};
	size_t t;
	const struct func_def *f;

	for (t = 0; t < 2; t++)
		for (f = tables[t]; f->name != NULL; f++)
			if (strcmp(f->name, name) == 0)
				return f;
	return NULL;
}
