/*
 * Go value semantics over jansson: types, truth, the comparisons behind
 * eq/ne/lt/le/gt/ge, and encoding/json's output (toJSON). Printing (fmt's
 * Sprint/Sprintf and %v) is tv_printf.c's.
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

bool tv_truth(const json_t *v)
{
	if (v == NULL)
		return false;
	if (crec_is_handle(v))
		return true; /* a struct, or a non-nil pointer to one */
	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_string_length(v) > 0;
	case JSON_INTEGER:
		return json_integer_value(v) != 0;
	case JSON_REAL:
		return json_real_value(v) != 0;
	case JSON_TRUE:
		return true;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	case JSON_OBJECT:
		return json_object_size(v) > 0;
	default:
		return false;
	}
}

const char *tv_type_name(const json_t *v)
{
	const struct trec_schema *rs;

	if (v == NULL)
		return "<nil>";
	if ((rs = trec_schema_of(v)) != NULL)
		return rs->go_type;
	if (json_is_array(v) && json_array_size(v) > 0 &&
	    (rs = trec_schema_of(json_array_get(v, 0))) != NULL)
		return rs->slice_go_type;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "int";
	case JSON_REAL:
		return "float64";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	case JSON_ARRAY:
		return "[]interface {}";
	case JSON_OBJECT:
		return "map[string]interface {}";
	default:
		return "<nil>";
	}
}

void tv_format_float(char *out, size_t size, double d)
{
	char tmp[64];
	int prec, exp;
	const char *e;

	if (isnan(d)) {
		snprintf(out, size, "NaN");
		return;
	}
	if (isinf(d)) {
		snprintf(out, size, d > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (d == 0) {
		snprintf(out, size, signbit(d) ? "-0" : "0");
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
	e = strchr(tmp, 'e');
	exp = e != NULL ? atoi(e + 1) : 0;
	if (exp < -4 || exp >= 6)
		snprintf(out, size, "%s", tmp);
	else
		snprintf(out, size, "%.*f",
		         prec - 1 - exp > 0 ? prec - 1 - exp : 0, d);
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **tv_sorted_keys(const json_t *v, size_t *n)
{
	const char **keys, *k;
	json_t *x;
	size_t i = 0;

	*n = json_object_size(v);
	keys = xreallocarray(NULL, *n ? *n : 1, sizeof(*keys));
	union {
		const json_t *c;
		json_t *m;
	} u = {v};

	json_object_foreach(u.m, k, x)
	{
		(void)x;
		keys[i++] = k;
	}
	*n = i;
	qsort(keys, *n, sizeof(*keys), cmp_str_ptr);
	return keys;
}

/* ---- comparison ---- */

enum kind { K_NIL, K_BOOL, K_INT, K_FLOAT, K_STRING, K_OTHER };

static enum kind kind_of(const json_t *v)
{
	if (v == NULL)
		return K_NIL;
	switch (json_typeof(v)) {
	case JSON_NULL:
		return K_NIL;
	case JSON_TRUE:
	case JSON_FALSE:
		return K_BOOL;
	case JSON_INTEGER:
		return K_INT;
	case JSON_REAL:
		return K_FLOAT;
	case JSON_STRING:
		return K_STRING;
	default:
		return K_OTHER;
	}
}

static int str_cmp(const json_t *a, const json_t *b)
{
	size_t la = json_string_length(a), lb = json_string_length(b);
	int c = memcmp(json_string_value(a), json_string_value(b),
	               la < lb ? la : lb);

	if (c != 0)
		return c < 0 ? -1 : 1;
	return la < lb ? -1 : la > lb ? 1 : 0;
}

int tv_eq(const json_t *a, json_t *const *bs, size_t n, bool *ret,
          const char **msg)
{
	enum kind k1 = kind_of(a);
	size_t i;

	*ret = false;
	if (n == 0) {
		*msg = "missing argument for comparison";
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		const json_t *b = bs[i];
		enum kind k2 = kind_of(b);
		bool t = false;

		if (k1 != k2) {
			if (k1 != K_NIL && k2 != K_NIL) {
				*msg = "incompatible types for comparison";
				return -EINVAL;
			}
		} else {
			switch (k1) {
			case K_NIL:
				t = true;
				break;
			case K_BOOL:
				t = json_is_true(a) == json_is_true(b);
				break;
			case K_INT:
				t = json_integer_value(a) ==
				    json_integer_value(b);
				break;
			case K_FLOAT:
				t = json_real_value(a) == json_real_value(b);
				break;
			case K_STRING:
				t = str_cmp(a, b) == 0;
				break;
			default: {
				const struct trec_schema *ra =
				        trec_schema_of(a);

				/* pointers compare by identity, struct values
				 * field by field, as Go's == does */
				if (ra != NULL && ra == trec_schema_of(b)) {
					t = ra->pointer ? a == b
					                : trec_equal(a, b);
					break;
				}
				*msg = "non-comparable type";
				return -EINVAL;
			}
			}
		}
		if (t) {
			*ret = true;
			return 0;
		}
	}
	return 0;
}

int tv_cmp(const json_t *a, const json_t *b, int *ret, const char **msg)
{
	enum kind k1 = kind_of(a), k2 = kind_of(b);

	if (k1 == K_NIL || k1 == K_BOOL || k1 == K_OTHER || k2 == K_NIL ||
	    k2 == K_BOOL || k2 == K_OTHER) {
		*msg = "invalid type for comparison";
		return -EINVAL;
	}
	if (k1 != k2) {
		*msg = "incompatible types for comparison";
		return -EINVAL;
	}
	switch (k1) {
	case K_INT: {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);

		*ret = x < y ? -1 : x > y ? 1 : 0;
		return 0;
	}
	case K_FLOAT: {
		double x = json_real_value(a), y = json_real_value(b);

		*ret = x < y ? -1 : x > y ? 1 : 0;
		return 0;
	}
	default:
		*ret = str_cmp(a, b);
		return 0;
	}
}

bool tv_is_string_map(const json_t *v)
{
	const char *k;
	json_t *x;

	if (!json_is_object(v))
		return false;
	json_object_foreach((json_t *)(uintptr_t)v, k, x)
	{
		(void)k;
		if (!json_is_string(x))
			return false;
	}
	return true;
}

/* ---- encoding/json ---- */

struct jenc {
	struct buf *b;
	bool pretty, html;
	struct err *e;
};

static int json_newline(struct jenc *j, int depth)
{
	int r = 0;

	if (!j->pretty)
		return 0;
	r = buf_putc(j->b, '\n');
	for (int k = 0; r == 0 && k < depth; k++)
		r = buf_puts(j->b, "  ");
	return r;
}

/* Go's encodeState.string: HTML-safe, \u2028/\u2029, invalid as \ufffd. */
static int json_string_out(struct jenc *j, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;
	int r = buf_putc(j->b, '"');

	while (r == 0 && i < n) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp;
		size_t k;

		if (c < 0x80) {
			if (c == '"' || c == '\\') {
				r = buf_putc(j->b, '\\');
				if (r == 0)
					r = buf_putc(j->b, (char)c);
			} else if (c == '\n') {
				r = buf_puts(j->b, "\\n");
			} else if (c == '\r') {
				r = buf_puts(j->b, "\\r");
			} else if (c == '\t') {
				r = buf_puts(j->b, "\\t");
			} else if (c == '\b') {
				r = buf_puts(j->b, "\\b");
			} else if (c == '\f') {
				r = buf_puts(j->b, "\\f");
			} else if (c < 0x20 ||
			           (j->html &&
			            (c == '<' || c == '>' || c == '&'))) {
				r = buf_printf(j->b, "\\u00%c%c", hex[c >> 4],
				               hex[c & 0xf]);
			} else {
				r = buf_putc(j->b, (char)c);
			}
			i++;
			continue;
		}
		k = utf8_decode(s + i, n - i, &cp);
		if (k == 1 && cp == 0xfffd)
			r = buf_puts(j->b, "\\ufffd");
		else if (cp == 0x2028 || cp == 0x2029)
			r = buf_printf(j->b, "\\u%04x", (unsigned)cp);
		else
			r = buf_append(j->b, s + i, k);
		i += k;
	}
	return r < 0 ? r : buf_putc(j->b, '"');
}

/* Go's float64 encoding: 'f' form, 'e' form below 1e-6 or from 1e21. */
static int json_float_out(struct jenc *j, double d)
{
	char tmp[64];
	double a = fabs(d);
	int prec;

	if (isnan(d) || isinf(d)) {
		if (j->e != NULL)
			err_msg(j->e, -EINVAL, "json: unsupported value: %s",
			        isnan(d) ? "NaN"
			        : d > 0  ? "+Inf"
			                 : "-Inf");
		return -EINVAL;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	if (a != 0 && (a < 1e-6 || a >= 1e21)) {
		char *e;
		int exp;

		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
		e = strchr(tmp, 'e');
		exp = atoi(e + 1);
		snprintf(e, sizeof(tmp) - (size_t)(e - tmp), "e%c%02d",
		         exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		/* Go cleans e-09 to e-9 (but keeps e+21) */
		if (exp < 0 && exp > -10) {
			size_t l = strlen(tmp);

			tmp[l - 2] = tmp[l - 1];
			tmp[l - 1] = '\0';
		}
		return buf_puts(j->b, tmp);
	}
	{
		int exp, decimals;
		char *e;

		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
		e = strchr(tmp, 'e');
		exp = e != NULL ? atoi(e + 1) : 0;
		decimals = prec - 1 - exp;
		return buf_printf(j->b, "%.*f", decimals > 0 ? decimals : 0, d);
	}
}

static int json_value_out(struct jenc *j, const json_t *v, int depth);

static int json_record_out(struct jenc *j, const json_t *v,
                           const struct trec_schema *rs, int depth)
{
	bool first = true;
	int r = buf_putc(j->b, '{');

	for (size_t i = 0; r == 0 && i < rs->nfields; i++) {
		const struct trec_field *f = &rs->fields[i];
		json_t *x = trec_get(v, f);

		if (f->type == TF_ABSENT) {
			if (j->e != NULL)
				err_msg(j->e, -ENOTSUP,
				        "consul-hosts does not keep %s.%s: "
				        "encoding a %s is not supported",
				        rs->go_type, f->name, rs->go_type);
			return -ENOTSUP;
		}
		if (f->extension ||
		    (f->omitempty && json_string_length(x) == 0))
			continue;
		if (!first)
			r = buf_putc(j->b, ',');
		first = false;
		if (r == 0)
			r = json_newline(j, depth + 1);
		if (r == 0)
			r = json_string_out(j, f->name, strlen(f->name));
		if (r == 0)
			r = buf_puts(j->b, j->pretty ? ": " : ":");
		if (r == 0)
			r = json_value_out(j, x != NULL ? x : json_null(),
			                   depth + 1);
	}
	if (r == 0 && !first)
		r = json_newline(j, depth);
	return r < 0 ? r : buf_putc(j->b, '}');
}

static int json_value_out(struct jenc *j, const json_t *v, int depth)
{
	const struct trec_schema *rs;
	size_t i, n;
	int r = 0;

	if (v == NULL)
		return buf_puts(j->b, "null");
	if ((rs = trec_schema_of(v)) != NULL)
		return json_record_out(j, v, rs, depth);
	switch (json_typeof(v)) {
	case JSON_NULL:
		return buf_puts(j->b, "null");
	case JSON_TRUE:
		return buf_puts(j->b, "true");
	case JSON_FALSE:
		return buf_puts(j->b, "false");
	case JSON_INTEGER:
		return buf_printf(j->b, "%lld",
		                  (long long)json_integer_value(v));
	case JSON_REAL:
		return json_float_out(j, json_real_value(v));
	case JSON_STRING:
		return json_string_out(j, json_string_value(v),
		                       json_string_length(v));
	case JSON_ARRAY:
		n = json_array_size(v);
		r = buf_putc(j->b, '[');
		for (i = 0; r == 0 && i < n; i++) {
			if (i > 0)
				r = buf_putc(j->b, ',');
			if (r == 0)
				r = json_newline(j, depth + 1);
			if (r == 0)
				r = json_value_out(j, json_array_get(v, i),
				                   depth + 1);
		}
		if (r == 0 && n > 0)
			r = json_newline(j, depth);
		return r < 0 ? r : buf_putc(j->b, ']');
	case JSON_OBJECT: {
		const char **keys = tv_sorted_keys(v, &n);

		r = buf_putc(j->b, '{');
		for (i = 0; r == 0 && i < n; i++) {
			if (i > 0)
				r = buf_putc(j->b, ',');
			if (r == 0)
				r = json_newline(j, depth + 1);
			if (r == 0)
				r = json_string_out(j, keys[i],
				                    strlen(keys[i]));
			if (r == 0)
				r = buf_puts(j->b, j->pretty ? ": " : ":");
			if (r == 0)
				r = json_value_out(j,
				                   json_object_get(v, keys[i]),
				                   depth + 1);
		}
		free(keys);
		if (r == 0 && n > 0)
			r = json_newline(j, depth);
		return r < 0 ? r : buf_putc(j->b, '}');
	}
	}
	return buf_puts(j->b, "null");
}

int tv_json(struct buf *b, const json_t *v, bool pretty, bool escape_html,
            struct err *e)
{
	struct jenc j = {b, pretty, escape_html, e};

	return json_value_out(&j, v, 0);
}
