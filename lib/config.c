#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "duration.h"
#include "hcl.h"
#include "hosts.h"
#include "log.h"
#include "xmalloc.h"

#define CONFIG_MAX_TEMPLATES   256
#define CONFIG_MAX_DIR_ENTRIES 1024
#define CONFIG_MAX_PATHS       64
#define CONFIG_MAX_STRING      4096
#define CONFIG_MAX_EMIT        65535
#define CONFIG_MAX_TOKEN_FILE  4096
#define CONFIG_DEFAULT_ADDRESS "127.0.0.1:8500"

/* What a load knows besides the config itself. */
struct tmpl_state {
	bool wait_set;
	char *file; /* where the block is, for later errors ("" for flags) */
	int line;
	int col;
};

struct load {
	struct config *c;
	struct err *e;
	struct tmpl_state *ts; /* parallel to c->templates */
	bool ssl_enabled_set;
	char *default_left;
	char *default_right;
	bool emit_set;
	unsigned emit;
	bool managed_set;
	bool managed;
};

/* Validation of one tree: where it came from. */
struct vctx {
	struct load *ld;
	const char *file;          /* "" for flags */
	const struct hcl_pos *pos; /* NULL for flags */
	const char *label;         /* the flag being applied, or NULL */
	struct hcl_loc block;      /* where the block being applied starts */
};

/* ---- messages ---- */

static size_t levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64], prev, tmp;

	if (la >= 64 || lb >= 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* The closest of names (NULL-terminated) within distance 2, or NULL. */
static const char *suggest(const char *word, const char *const *names)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (; *names != NULL; names++) {
		size_t d = levenshtein(word, *names);

		if (d < bestd) {
			bestd = d;
			best = *names;
		}
	}
	return best;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "block";
	case JSON_ARRAY:
		return "list";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}

static int vfail_at(struct vctx *v, struct hcl_loc l, const char *fmt,
                    va_list ap) __attribute__((format(printf, 3, 0)));

static int vfail_at(struct vctx *v, struct hcl_loc l, const char *fmt,
                    va_list ap)
{
	char msg[sizeof(v->ld->e->msg)];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	return err_set(v->ld->e, -EINVAL, v->file, l.line, l.col, "%s", msg);
}

/* An error at the value of obj.key. */
static int fail_value(struct vctx *v, const json_t *obj, const char *key,
                      const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int fail_value(struct vctx *v, const json_t *obj, const char *key,
                      const char *fmt, ...)
{
	struct hcl_loc l;
	va_list ap;
	int r;

	hcl_pos_key(v->pos, obj, key, NULL, &l);
	va_start(ap, fmt);
	r = vfail_at(v, l, fmt, ap);
	va_end(ap);
	return r;
}

/* An error at the key itself. */
static int fail_key(struct vctx *v, const json_t *obj, const char *key,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_key(struct vctx *v, const json_t *obj, const char *key,
                    const char *fmt, ...)
{
	struct hcl_loc l;
	va_list ap;
	int r;

	hcl_pos_key(v->pos, obj, key, &l, NULL);
	va_start(ap, fmt);
	r = vfail_at(v, l, fmt, ap);
	va_end(ap);
	return r;
}

static int fail_index(struct vctx *v, const json_t *arr, size_t i,
                      const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int fail_index(struct vctx *v, const json_t *arr, size_t i,
                      const char *fmt, ...)
{
	struct hcl_loc l;
	va_list ap;
	int r;

	hcl_pos_index(v->pos, arr, i, &l);
	va_start(ap, fmt);
	r = vfail_at(v, l, fmt, ap);
	va_end(ap);
	return r;
}

/* The name errors use for a setting: the flag when applying one. */
static const char *name_of(const struct vctx *v, const char *key)
{
	return v->label != NULL ? v->label : key;
}

/*
 * An unknown key: consul-template options we do not implement say so;
 * anything else gets a suggestion from the known keys.
 */
static int unknown_key(struct vctx *v, const json_t *obj, const char *key,
                       const char *where, const char *const *known,
                       const char *const *unsupported)
{
	const char *hint;

	for (; unsupported != NULL && *unsupported != NULL; unsupported++)
		if (strcmp(key, *unsupported) == 0)
			return fail_key(
			        v, obj, key,
			        "\"%s\" is not supported by consul-hosts", key);
	hint = suggest(key, known);
	if (hint != NULL)
		return fail_key(v, obj, key,
		                "unknown key \"%s\" %s; did you mean \"%s\"?",
		                key, where, hint);
	return fail_key(v, obj, key, "unknown key \"%s\" %s", key, where);
}

/* ---- typed getters ---- */

static bool string_is_clean(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
	return true;
}

static int want_string(struct vctx *v, const json_t *obj, const char *key,
                       const json_t *val, char **dst)
{
	const char *s;

	if (!json_is_string(val))
		return fail_value(v, obj, key, "%s: expected a string, got %s",
		                  name_of(v, key), json_kind(val));
	s = json_string_value(val);
	if (json_string_length(val) > CONFIG_MAX_STRING)
		return fail_value(v, obj, key, "%s: longer than %d characters",
		                  name_of(v, key), CONFIG_MAX_STRING);
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

/* A single-line string: no control characters (paths, names, tokens). */
static int want_line(struct vctx *v, const json_t *obj, const char *key,
                     const json_t *val, char **dst)
{
	int r;

	if ((r = want_string(v, obj, key, val, dst)) < 0)
		return r;
	if (!string_is_clean(*dst))
		return fail_value(v, obj, key,
		                  "%s: control characters are not allowed",
		                  name_of(v, key));
	return 0;
}

/* Like want_line, but "" is an error. */
static int want_nonempty(struct vctx *v, const json_t *obj, const char *key,
                         const json_t *val, char **dst)
{
	int r;

	if ((r = want_line(v, obj, key, val, dst)) < 0)
		return r;
	if (**dst == '\0')
		return fail_value(v, obj, key, "%s: must not be empty",
		                  name_of(v, key));
	return 0;
}

static int want_bool(struct vctx *v, const json_t *obj, const char *key,
                     const json_t *val, bool *dst)
{
	if (!json_is_boolean(val))
		return fail_value(v, obj, key,
		                  "%s: expected true or false, got %s",
		                  name_of(v, key), json_kind(val));
	*dst = json_is_true(val);
	return 0;
}

static int parse_duration_value(struct vctx *v, const json_t *obj,
                                const char *key, const char *s, uint64_t *dst)
{
	int r = duration_parse(s, dst);

	if (r == -ERANGE)
		return fail_value(v, obj, key,
		                  "%s: duration \"%s\" is too long",
		                  name_of(v, key), s);
	if (r < 0)
		return fail_value(v, obj, key,
		                  "%s: invalid duration \"%s\" (expected a "
		                  "number and unit like \"250ms\", \"5s\" or "
		                  "\"1m30s\")",
		                  name_of(v, key), s);
	return 0;
}

static int want_duration(struct vctx *v, const json_t *obj, const char *key,
                         const json_t *val, uint64_t *dst)
{
	if (json_is_integer(val) && json_integer_value(val) == 0) {
		*dst = 0;
		return 0;
	}
	if (!json_is_string(val))
		return fail_value(v, obj, key,
		                  "%s: expected a duration like \"5s\", got %s",
		                  name_of(v, key), json_kind(val));
	return parse_duration_value(v, obj, key, json_string_value(val), dst);
}

static int want_uint(struct vctx *v, const json_t *obj, const char *key,
                     const json_t *val, unsigned max, unsigned *dst)
{
	json_int_t n;

	if (!json_is_integer(val))
		return fail_value(v, obj, key,
		                  "%s: expected a whole number, got %s",
		                  name_of(v, key), json_kind(val));
	n = json_integer_value(val);
	if (n < 0 || (unsigned long long)n > max)
		return fail_value(v, obj, key,
		                  "%s: %lld is out of range (0 to %u)",
		                  name_of(v, key), (long long)n, max);
	*dst = (unsigned)n;
	return 0;
}

struct signal_name {
	const char *name;
	int sig;
};

static const struct signal_name signal_names[] = {
        {"SIGHUP", SIGHUP},   {"SIGINT", SIGINT},   {"SIGQUIT", SIGQUIT},
        {"SIGTERM", SIGTERM}, {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2},
};

static int signal_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(signal_names) / sizeof(*signal_names);
	     i++) {
		const char *n = signal_names[i].name;

		if (strcasecmp(s, n) == 0 || strcasecmp(s, n + 3) == 0)
			return signal_names[i].sig;
	}
	return -1;
}

static int want_signal(struct vctx *v, const json_t *obj, const char *key,
                       const json_t *val, bool allow_none, int *dst)
{
	const char *s;
	int sig;

	if (!json_is_string(val))
		return fail_value(v, obj, key,
		                  "%s: expected a signal name like \"SIGHUP\", "
		                  "got %s",
		                  name_of(v, key), json_kind(val));
	s = json_string_value(val);
	if (*s == '\0' && allow_none) {
		*dst = 0;
		return 0;
	}
	if ((sig = signal_parse(s)) < 0)
		return fail_value(
		        v, obj, key,
		        "%s: unknown signal \"%.64s\" (expected one "
		        "of SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, "
		        "SIGUSR2%s)",
		        name_of(v, key), s,
		        allow_none ? " or \"\" for none" : "");
	*dst = sig;
	return 0;
}

/* Shell-quote word onto b: 'it'\''s'. */
static void shell_quote(struct buf *b, const char *word)
{
	if (*word != '\0' &&
	    strspn(word, "abcdefghijklmnopqrstuvwxyz"
	                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789_-./=:,+@%") == strlen(word)) {
		buf_puts(b, word);
		return;
	}
	buf_putc(b, '\'');
	for (; *word != '\0'; word++) {
		if (*word == '\'')
			buf_puts(b, "'\\''");
		else
			buf_putc(b, *word);
	}
	buf_putc(b, '\'');
}

/* A command: a string for sh -c, or a list of words, quoted and joined. */
static int want_command(struct vctx *v, const json_t *obj, const char *key,
                        const json_t *val, char **dst)
{
	struct buf b;
	size_t i;
	json_t *w;

	if (json_is_string(val)) {
		if (json_string_length(val) > CONFIG_MAX_STRING ||
		    strlen(json_string_value(val)) == 0)
			return fail_value(v, obj, key,
			                  "%s: expected a command of 1 to %d "
			                  "characters",
			                  name_of(v, key), CONFIG_MAX_STRING);
		free(*dst);
		*dst = xstrdup(json_string_value(val));
		return 0;
	}
	if (!json_is_array(val))
		return fail_value(v, obj, key,
		                  "%s: expected a string or a list of strings, "
		                  "got %s",
		                  name_of(v, key), json_kind(val));
	if (json_array_size(val) == 0)
		return fail_value(v, obj, key, "%s: the list is empty",
		                  name_of(v, key));
	buf_init(&b, CONFIG_MAX_STRING * 2);
	json_array_foreach(val, i, w)
	{
		if (!json_is_string(w)) {
			buf_free(&b);
			return fail_index(v, val, i,
			                  "%s: expected a string, got %s",
			                  name_of(v, key), json_kind(w));
		}
		if (i > 0)
			buf_putc(&b, ' ');
		shell_quote(&b, json_string_value(w));
	}
	if (b.len > CONFIG_MAX_STRING) {
		buf_free(&b);
		return fail_value(v, obj, key, "%s: longer than %d characters",
		                  name_of(v, key), CONFIG_MAX_STRING);
	}
	free(*dst);
	*dst = buf_take(&b, NULL);
	return 0;
}

/* ---- blocks ---- */

typedef int (*block_fn)(struct vctx *v, json_t *obj, void *target);

/*
 * A block written once (object) or several times (array of objects, from
 * a repeated HCL block or a JSON list): apply each in order.
 */
static int want_blocks(struct vctx *v, const json_t *obj, const char *key,
                       json_t *val, block_fn fn, void *target)
{
	size_t i;
	json_t *b;
	int r;

	if (json_is_object(val)) {
		hcl_pos_key(v->pos, obj, key, &v->block, NULL);
		return fn(v, val, target);
	}
	if (!json_is_array(val))
		return fail_value(v, obj, key, "%s: expected a block, got %s",
		                  name_of(v, key), json_kind(val));
	json_array_foreach(val, i, b)
	{
		if (!json_is_object(b))
			return fail_index(v, val, i,
			                  "%s: expected a block, got %s",
			                  name_of(v, key), json_kind(b));
		hcl_pos_index(v->pos, val, i, &v->block);
		if ((r = fn(v, b, target)) < 0)
			return r;
	}
	return 0;
}

static int wait_check(struct vctx *v, const json_t *obj, const char *key,
                      struct wait_conf *w, bool max_given)
{
	char a[32], b[32];

	if (!max_given)
		w->max_ms = w->min_ms * 4;
	if (w->max_ms < w->min_ms)
		return fail_value(v, obj, key,
		                  "%s: max (%s) is less than min (%s)",
		                  name_of(v, key),
		                  duration_format(w->max_ms, a, sizeof(a)),
		                  duration_format(w->min_ms, b, sizeof(b)));
	w->enabled = w->min_ms > 0;
	return 0;
}

static int apply_wait_block(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"min", "max", NULL};
	struct wait_conf *w = target, nw = {false, 0, 0};
	bool max_given = false, min_given = false;
	const char *key;
	json_t *val;
	int r;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "min") == 0) {
			r = want_duration(v, obj, key, val, &nw.min_ms);
			min_given = true;
		} else if (strcmp(key, "max") == 0) {
			r = want_duration(v, obj, key, val, &nw.max_ms);
			max_given = true;
		} else {
			r = unknown_key(v, obj, key, "in wait block", keys,
			                NULL);
		}
		if (r < 0)
			return r;
	}
	if (!min_given && max_given)
		return fail_value(v, obj, "max", "%s: max without min",
		                  name_of(v, "wait"));
	if ((r = wait_check(v, obj, min_given ? "min" : "max", &nw,
	                    max_given)) < 0)
		return r;
	*w = nw;
	return 0;
}

/* wait = "min[:max]" or wait { min = ..., max = ... } */
static int want_wait(struct vctx *v, const json_t *obj, const char *key,
                     json_t *val, struct wait_conf *w)
{
	struct wait_conf nw = {false, 0, 0};
	const char *s, *colon;
	char *min;
	int r;

	if (json_is_object(val) || json_is_array(val))
		return want_blocks(v, obj, key, val, apply_wait_block, w);
	if (!json_is_string(val))
		return fail_value(
		        v, obj, key,
		        "%s: expected \"min[:max]\" like \"5s:30s\" or "
		        "a block, got %s",
		        name_of(v, key), json_kind(val));
	s = json_string_value(val);
	colon = strchr(s, ':');
	min = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
	r = parse_duration_value(v, obj, key, min, &nw.min_ms);
	free(min);
	if (r < 0)
		return r;
	if (colon != NULL &&
	    (r = parse_duration_value(v, obj, key, colon + 1, &nw.max_ms)) < 0)
		return r;
	if ((r = wait_check(v, obj, key, &nw, colon != NULL)) < 0)
		return r;
	*w = nw;
	return 0;
}

static int apply_ssl(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"enabled",     "verify",  "cert",
	                                   "key",         "ca_cert", "ca_path",
	                                   "server_name", NULL};
	struct tls_conf *t = target;
	const char *key;
	json_t *val;
	int r;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "enabled") == 0) {
			r = want_bool(v, obj, key, val, &t->enabled);
			v->ld->ssl_enabled_set = true;
		} else if (strcmp(key, "verify") == 0) {
			r = want_bool(v, obj, key, val, &t->verify);
		} else if (strcmp(key, "cert") == 0) {
			r = want_nonempty(v, obj, key, val, &t->cert);
		} else if (strcmp(key, "key") == 0) {
			r = want_nonempty(v, obj, key, val, &t->key);
		} else if (strcmp(key, "ca_cert") == 0) {
			r = want_nonempty(v, obj, key, val, &t->ca_cert);
		} else if (strcmp(key, "ca_path") == 0) {
			r = want_nonempty(v, obj, key, val, &t->ca_path);
		} else if (strcmp(key, "server_name") == 0) {
			r = want_nonempty(v, obj, key, val, &t->server_name);
		} else {
			r = unknown_key(v, obj, key, "in consul.ssl block",
			                keys, NULL);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_retry(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"enabled", "attempts", "backoff",
	                                   "max_backoff", NULL};
	struct retry_conf *rc = target;
	const char *key;
	json_t *val;
	int r;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "enabled") == 0)
			r = want_bool(v, obj, key, val, &rc->enabled);
		else if (strcmp(key, "attempts") == 0)
			r = want_uint(v, obj, key, val, 1000000, &rc->attempts);
		else if (strcmp(key, "backoff") == 0)
			r = want_duration(v, obj, key, val, &rc->backoff_ms);
		else if (strcmp(key, "max_backoff") == 0)
			r = want_duration(v, obj, key, val,
			                  &rc->max_backoff_ms);
		else
			r = unknown_key(v, obj, key, "in consul.retry block",
			                keys, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Printable ASCII only: the token goes into an HTTP header. */
static bool token_is_clean(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static int want_address(struct vctx *v, const json_t *obj, const char *key,
                        const json_t *val, char **dst)
{
	int r;

	if ((r = want_nonempty(v, obj, key, val, dst)) < 0)
		return r;
	if (strchr(*dst, ' ') != NULL || strchr(*dst, '\t') != NULL)
		return fail_value(v, obj, key, "%s: spaces are not allowed",
		                  name_of(v, key));
	if (strstr(*dst, "://") != NULL && strncmp(*dst, "http://", 7) != 0 &&
	    strncmp(*dst, "https://", 8) != 0 &&
	    strncmp(*dst, "unix://", 7) != 0)
		return fail_value(v, obj, key,
		                  "%s: unknown scheme in \"%.200s\" (expected "
		                  "host:port, http://, https:// or unix://)",
		                  name_of(v, key), *dst);
	return 0;
}

static int apply_consul(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"address", "token", "token_file",
	                                   "ssl",     "retry", NULL};
	static const char *const unsupported[] = {"auth", "namespace",
	                                          "transport", NULL};
	struct consul_conf *cc = target;
	const char *key;
	json_t *val;
	int r;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "address") == 0) {
			r = want_address(v, obj, key, val, &cc->address);
		} else if (strcmp(key, "token") == 0) {
			r = want_string(v, obj, key, val, &cc->token);
			if (r == 0 && !token_is_clean(cc->token))
				r = fail_value(v, obj, key,
				               "%s: only printable characters "
				               "without spaces are allowed",
				               name_of(v, key));
		} else if (strcmp(key, "token_file") == 0) {
			r = want_nonempty(v, obj, key, val, &cc->token_file);
		} else if (strcmp(key, "ssl") == 0) {
			r = want_blocks(v, obj, key, val, apply_ssl, &cc->ssl);
		} else if (strcmp(key, "retry") == 0) {
			r = want_blocks(v, obj, key, val, apply_retry,
			                &cc->retry);
		} else {
			r = unknown_key(v, obj, key, "in consul block", keys,
			                unsupported);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int order_parse(const char *s, enum order_mode *ret)
{
	static const struct {
		const char *name;
		enum order_mode mode;
	} modes[] = {
	        {"stable", ORDER_STABLE},     {"weighted", ORDER_WEIGHTED},
	        {"balanced", ORDER_BALANCED}, {"random", ORDER_RANDOM},
	        {"none", ORDER_NONE},
	};

	for (size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
		if (strcmp(s, modes[i].name) == 0) {
			*ret = modes[i].mode;
			return 0;
		}
	}
	return -EINVAL;
}

static int want_order_mode(struct vctx *v, const json_t *obj, const char *key,
                           const json_t *val, enum order_mode *dst)
{
	if (!json_is_string(val))
		return fail_value(v, obj, key, "%s: expected a string, got %s",
		                  name_of(v, key), json_kind(val));
	if (order_parse(json_string_value(val), dst) < 0)
		return fail_value(
		        v, obj, key,
		        "%s: unknown mode \"%.64s\" (expected stable, "
		        "weighted, balanced, random or none)",
		        name_of(v, key), json_string_value(val));
	return 0;
}

static int apply_order(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"mode", "seed", NULL};
	struct config *c = target;
	const char *key;
	json_t *val;
	int r;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "mode") == 0)
			r = want_order_mode(v, obj, key, val, &c->order);
		else if (strcmp(key, "seed") == 0)
			r = want_line(v, obj, key, val, &c->order_seed);
		else
			r = unknown_key(v, obj, key, "in order block", keys,
			                NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_delimiters(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"left", "right", NULL};
	struct load *ld = target;
	const char *key;
	json_t *val;
	int r;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "left") == 0)
			r = want_nonempty(v, obj, key, val, &ld->default_left);
		else if (strcmp(key, "right") == 0)
			r = want_nonempty(v, obj, key, val, &ld->default_right);
		else
			r = unknown_key(v, obj, key,
			                "in default_delimiters block", keys,
			                NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- template blocks ---- */

static void tmpl_defaults(struct tmpl_conf *t)
{
	memset(t, 0, sizeof(*t));
	t->command_timeout_ms = 30000;
	t->perms = -1;
	t->create_dest_dirs = true;
	t->guard_shrink = 0.5;
	t->guard_service_drop = true;
	t->guard_hold_ms = 60000;
	t->restart_min_interval_ms = 10000;
}

static void tmpl_conf_clear(struct tmpl_conf *t)
{
	free(t->source);
	free(t->contents);
	free(t->destination);
	free(t->command);
	free(t->check_command);
	free(t->user);
	free(t->group);
	free(t->left_delim);
	free(t->right_delim);
	free(t->origin);
}

static int want_perms(struct vctx *v, const json_t *obj, const char *key,
                      const json_t *val, int *dst)
{
	long long n;

	if (json_is_string(val)) {
		/* JSON has no octal numbers; consul-template reads "0644". */
		const char *s = json_string_value(val);
		char *end;

		if (*s == '\0' || strspn(s, "01234567") != strlen(s) ||
		    strlen(s) > 5)
			return fail_value(
			        v, obj, key,
			        "%s: expected a number like 0644, got "
			        "string",
			        name_of(v, key));
		n = strtoll(s, &end, 8);
	} else if (json_is_integer(val)) {
		n = json_integer_value(val);
	} else {
		return fail_value(v, obj, key,
		                  "%s: expected a number like 0644, got %s",
		                  name_of(v, key), json_kind(val));
	}
	if (n < 0 || n > 07777)
		return fail_value(v, obj, key,
		                  "%s: %#llo is out of range (0 to 07777)",
		                  name_of(v, key), n);
	*dst = n == 0 ? -1 : (int)n;
	return 0;
}

/* user/group: a name or a numeric id. */
static int want_owner(struct vctx *v, const json_t *obj, const char *key,
                      const json_t *val, char **dst)
{
	if (json_is_integer(val)) {
		json_int_t n = json_integer_value(val);

		if (n < 0 || n > (json_int_t)UINT32_MAX - 1)
			return fail_value(v, obj, key,
			                  "%s: %lld is not a valid id",
			                  name_of(v, key), (long long)n);
		free(*dst);
		*dst = xasprintf("%lld", (long long)n);
		return 0;
	}
	return want_nonempty(v, obj, key, val, dst);
}

static int apply_exec(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"command", "timeout", NULL};
	static const char *const unsupported[] = {
	        "env",           "splay",   "kill_signal", "kill_timeout",
	        "reload_signal", "enabled", NULL};
	struct tmpl_conf *t = target;
	const char *key;
	json_t *val;
	int r;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "command") == 0)
			r = want_command(v, obj, key, val, &t->command);
		else if (strcmp(key, "timeout") == 0)
			r = want_duration(v, obj, key, val,
			                  &t->command_timeout_ms);
		else
			r = unknown_key(v, obj, key, "in template.exec block",
			                keys, unsupported);
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_guard(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"shrink", "service_drop", "hold",
	                                   NULL};
	struct tmpl_conf *t = target;
	const char *key;
	json_t *val;
	int r = 0;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "shrink") == 0) {
			double d;

			if (!json_is_number(val))
				return fail_value(
				        v, obj, key,
				        "%s: expected a share between "
				        "0 and 1 like 0.5, got %s",
				        name_of(v, key), json_kind(val));
			d = json_number_value(val);
			if (!(d >= 0.0 && d <= 1.0))
				return fail_value(v, obj, key,
				                  "%s: %g is out of range (0 "
				                  "to 1; 0 disables)",
				                  name_of(v, key), d);
			t->guard_shrink = d;
		} else if (strcmp(key, "service_drop") == 0) {
			r = want_bool(v, obj, key, val, &t->guard_service_drop);
		} else if (strcmp(key, "hold") == 0) {
			r = want_duration(v, obj, key, val, &t->guard_hold_ms);
		} else {
			r = unknown_key(v, obj, key, "in template.guard block",
			                keys, NULL);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static struct tmpl_conf *template_add(struct load *ld)
{
	struct config *c = ld->c;

	c->templates = xreallocarray(c->templates, c->ntemplates + 1,
	                             sizeof(*c->templates));
	ld->ts = xreallocarray(ld->ts, c->ntemplates + 1, sizeof(*ld->ts));
	tmpl_defaults(&c->templates[c->ntemplates]);
	memset(&ld->ts[c->ntemplates], 0, sizeof(*ld->ts));
	return &c->templates[c->ntemplates++];
}

/* One template block: fills a new template; checks what the block alone
 * can tell (source xor contents, destination). */
static int apply_template(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"source",
	                                   "contents",
	                                   "destination",
	                                   "command",
	                                   "command_timeout",
	                                   "exec",
	                                   "perms",
	                                   "user",
	                                   "group",
	                                   "uid",
	                                   "gid",
	                                   "backup",
	                                   "wait",
	                                   "left_delimiter",
	                                   "right_delimiter",
	                                   "error_on_missing_key",
	                                   "create_dest_dirs",
	                                   "emit",
	                                   "managed_block",
	                                   "check_command",
	                                   "rollback_on_failure",
	                                   "in_place",
	                                   "guard",
	                                   "restart_min_interval",
	                                   NULL};
	static const char *const unsupported[] = {
	        "error_fatal", "function_denylist", "function_blacklist",
	        "sandbox_path", NULL};
	struct load *ld = target;
	struct tmpl_conf *t;
	struct tmpl_state *ts;
	struct hcl_loc at = v->block;
	const char *key;
	json_t *val;
	int r;

	if (ld->c->ntemplates >= CONFIG_MAX_TEMPLATES)
		return err_set(v->ld->e, -EINVAL, v->file, 0, 0,
		               "too many templates (at most %d)",
		               CONFIG_MAX_TEMPLATES);
	t = template_add(ld);
	ts = &ld->ts[ld->c->ntemplates - 1];
	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "source") == 0) {
			r = want_nonempty(v, obj, key, val, &t->source);
		} else if (strcmp(key, "contents") == 0) {
			r = want_string(v, obj, key, val, &t->contents);
		} else if (strcmp(key, "destination") == 0) {
			r = want_nonempty(v, obj, key, val, &t->destination);
		} else if (strcmp(key, "command") == 0) {
			r = want_command(v, obj, key, val, &t->command);
		} else if (strcmp(key, "command_timeout") == 0) {
			r = want_duration(v, obj, key, val,
			                  &t->command_timeout_ms);
		} else if (strcmp(key, "exec") == 0) {
			r = want_blocks(v, obj, key, val, apply_exec, t);
		} else if (strcmp(key, "perms") == 0) {
			r = want_perms(v, obj, key, val, &t->perms);
		} else if (strcmp(key, "user") == 0 ||
		           strcmp(key, "uid") == 0) {
			r = want_owner(v, obj, key, val, &t->user);
		} else if (strcmp(key, "group") == 0 ||
		           strcmp(key, "gid") == 0) {
			r = want_owner(v, obj, key, val, &t->group);
		} else if (strcmp(key, "backup") == 0) {
			r = want_bool(v, obj, key, val, &t->backup);
		} else if (strcmp(key, "wait") == 0) {
			r = want_wait(v, obj, key, val, &t->wait);
			ts->wait_set = true;
		} else if (strcmp(key, "left_delimiter") == 0) {
			r = want_nonempty(v, obj, key, val, &t->left_delim);
		} else if (strcmp(key, "right_delimiter") == 0) {
			r = want_nonempty(v, obj, key, val, &t->right_delim);
		} else if (strcmp(key, "error_on_missing_key") == 0) {
			r = want_bool(v, obj, key, val,
			              &t->error_on_missing_key);
		} else if (strcmp(key, "create_dest_dirs") == 0) {
			r = want_bool(v, obj, key, val, &t->create_dest_dirs);
		} else if (strcmp(key, "emit") == 0) {
			r = want_uint(v, obj, key, val, CONFIG_MAX_EMIT,
			              &t->emit);
		} else if (strcmp(key, "managed_block") == 0) {
			r = want_bool(v, obj, key, val, &t->managed_block);
		} else if (strcmp(key, "check_command") == 0) {
			r = want_command(v, obj, key, val, &t->check_command);
		} else if (strcmp(key, "rollback_on_failure") == 0) {
			r = want_bool(v, obj, key, val,
			              &t->rollback_on_failure);
		} else if (strcmp(key, "in_place") == 0) {
			r = want_bool(v, obj, key, val, &t->in_place);
		} else if (strcmp(key, "guard") == 0) {
			r = want_blocks(v, obj, key, val, apply_guard, t);
		} else if (strcmp(key, "restart_min_interval") == 0) {
			r = want_duration(v, obj, key, val,
			                  &t->restart_min_interval_ms);
		} else {
			r = unknown_key(v, obj, key, "in template block", keys,
			                unsupported);
		}
		if (r < 0)
			return r;
	}

	ts->file = xstrdup(v->file);
	ts->line = at.line;
	ts->col = at.col;
	if (v->file[0] != '\0')
		t->origin = xasprintf("%s:%d", v->file, at.line);
	else
		t->origin = xstrdup(v->label ? v->label : "-template");
	if (t->source != NULL && t->contents != NULL)
		return fail_key(v, obj, "contents",
		                "template: source and contents are mutually "
		                "exclusive");
	if (t->source == NULL && t->contents == NULL)
		return err_set(v->ld->e, -EINVAL, v->file, at.line, at.col,
		               "template: needs a source or contents");
	/* A missing destination is checked in the final validation, where
	 * -dry (which needs none) is known. */
	return 0;
}

/* ---- top level ---- */

/*
 * A size in bytes: a whole number, or a string with a unit ("512KiB",
 * "32MiB", "1GiB"; KB, MB and GB are powers of 1000; B or no unit: bytes).
 */
static int want_size(struct vctx *v, const json_t *obj, const char *key,
                     const json_t *val, size_t min, size_t max, size_t *dst)
{
	static const struct {
		const char *unit;
		unsigned long long mult;
	} units[] = {{"", 1},
	             {"B", 1},
	             {"KiB", 1ull << 10},
	             {"MiB", 1ull << 20},
	             {"GiB", 1ull << 30},
	             {"KB", 1000},
	             {"MB", 1000000},
	             {"GB", 1000000000}};
	unsigned long long n = 0, mult = 0;
	const char *s, *end;
	size_t i;

	if (json_is_integer(val) && json_integer_value(val) >= 0) {
		n = (unsigned long long)json_integer_value(val);
		mult = 1;
	} else if (json_is_string(val)) {
		s = json_string_value(val);
		for (end = s; *end >= '0' && *end <= '9' && end - s < 12; end++)
			n = n * 10 + (unsigned long long)(*end - '0');
		for (i = 0; end != s && i < sizeof(units) / sizeof(units[0]);
		     i++)
			if (strcmp(end, units[i].unit) == 0)
				mult = units[i].mult;
	}
	if (mult == 0)
		return fail_value(
		        v, obj, key,
		        "%s: expected a size like \"32MiB\" "
		        "(B, KiB, MiB, GiB, KB, MB, GB) or a number of "
		        "bytes",
		        name_of(v, key));
	if (n > max / mult || n * mult < min || n * mult > max)
		return fail_value(v, obj, key,
		                  "%s: must be between %zu KiB and %zu MiB",
		                  name_of(v, key), min >> 10, max >> 20);
	*dst = (size_t)(n * mult);
	return 0;
}

/* A list of host names, each a valid name or "*." and one. */
static int want_names(struct vctx *v, const json_t *obj, const char *key,
                      const json_t *val, char ***dst, size_t *ret_n)
{
	size_t i, n;
	json_t *w;

	if (!json_is_array(val))
		return fail_value(v, obj, key,
		                  "%s: expected a list of host names, got %s",
		                  name_of(v, key), json_kind(val));
	n = json_array_size(val);
	if (n > CONFIG_MAX_PATHS * 16)
		return fail_value(v, obj, key, "%s: more than %d names",
		                  name_of(v, key), CONFIG_MAX_PATHS * 16);
	json_array_foreach(val, i, w)
	{
		const char *s = json_string_value(w);
		size_t len = json_string_length(w);

		if (s != NULL && len > 2 && s[0] == '*' && s[1] == '.') {
			s += 2;
			len -= 2;
		}
		if (s == NULL || !hosts_name_ok(s, len))
			return fail_index(v, val, i,
			                  "%s: expected a host name or "
			                  "\"*.domain\", got %s",
			                  name_of(v, key),
			                  json_is_string(w) ? "an invalid name"
			                                    : json_kind(w));
	}
	for (i = 0; i < *ret_n; i++)
		free((*dst)[i]);
	free(*dst);
	*dst = xcalloc(n + 1, sizeof(**dst));
	json_array_foreach(val, i, w)
	{
		(*dst)[i] = xstrdup(json_string_value(w));
	}
	*ret_n = n;
	return 0;
}

static int apply_root(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"consul",
	                                   "max_stale",
	                                   "block_query_wait",
	                                   "wait",
	                                   "log_level",
	                                   "pid_file",
	                                   "kill_signal",
	                                   "reload_signal",
	                                   "template",
	                                   "order",
	                                   "shuffle_seed",
	                                   "default_delimiters",
	                                   "max_response_size",
	                                   "reserved_names",
	                                   NULL};
	static const char *const unsupported[] = {"vault",
	                                          "dedup",
	                                          "deduplicate",
	                                          "exec",
	                                          "syslog",
	                                          "log_file",
	                                          "nomad",
	                                          "template_error_fatal",
	                                          "err_on_failed_lookup",
	                                          "once",
	                                          NULL};
	struct load *ld = target;
	struct config *c = ld->c;
	const char *key;
	json_t *val;
	int r, lvl;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "consul") == 0) {
			if (json_is_string(val))
				r = want_address(v, obj, key, val,
				                 &c->consul.address);
			else
				r = want_blocks(v, obj, key, val, apply_consul,
				                &c->consul);
		} else if (strcmp(key, "max_stale") == 0) {
			r = want_duration(v, obj, key, val, &c->max_stale_ms);
		} else if (strcmp(key, "block_query_wait") == 0) {
			r = want_duration(v, obj, key, val,
			                  &c->block_query_wait_ms);
			if (r == 0 && (c->block_query_wait_ms < 1000 ||
			               c->block_query_wait_ms > 600000))
				r = fail_value(v, obj, key,
				               "%s: must be between 1s and 10m "
				               "(Consul's limit)",
				               name_of(v, key));
		} else if (strcmp(key, "wait") == 0) {
			r = want_wait(v, obj, key, val, &c->wait);
		} else if (strcmp(key, "log_level") == 0) {
			r = want_nonempty(v, obj, key, val, &c->log_level);
			if (r == 0 && (lvl = log_level_parse(c->log_level)) < 0)
				r = fail_value(v, obj, key,
				               "%s: unknown level \"%.64s\" "
				               "(expected trace, debug, info, "
				               "warn or err)",
				               name_of(v, key), c->log_level);
			if (r == 0) {
				free(c->log_level);
				c->log_level = xstrdup(
				        log_level_name((enum log_level)lvl));
			}
		} else if (strcmp(key, "pid_file") == 0) {
			r = want_nonempty(v, obj, key, val, &c->pid_file);
		} else if (strcmp(key, "kill_signal") == 0) {
			r = want_signal(v, obj, key, val, false,
			                &c->kill_signal);
		} else if (strcmp(key, "reload_signal") == 0) {
			r = want_signal(v, obj, key, val, true,
			                &c->reload_signal);
		} else if (strcmp(key, "template") == 0) {
			r = want_blocks(v, obj, key, val, apply_template, ld);
		} else if (strcmp(key, "order") == 0) {
			if (json_is_string(val))
				r = want_order_mode(v, obj, key, val,
				                    &c->order);
			else
				r = want_blocks(v, obj, key, val, apply_order,
				                c);
		} else if (strcmp(key, "shuffle_seed") == 0) {
			r = want_line(v, obj, key, val, &c->order_seed);
		} else if (strcmp(key, "default_delimiters") == 0) {
			r = want_blocks(v, obj, key, val, apply_delimiters, ld);
		} else if (strcmp(key, "max_response_size") == 0) {
			r = want_size(v, obj, key, val, CONFIG_MIN_RESPONSE,
			              CONFIG_MAX_RESPONSE,
			              &c->max_response_size);
		} else if (strcmp(key, "reserved_names") == 0) {
			r = want_names(v, obj, key, val, &c->reserved_names,
			               &c->nreserved_names);
		} else {
			r = unknown_key(v, obj, key, "at top level", keys,
			                unsupported);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- files ---- */

/* Read a regular file of at most max bytes; *ret is NUL-terminated. */
static int read_file(const char *path, size_t max, char **ret, size_t *ret_len,
                     struct err *e)
{
	struct stat st;
	struct buf b;
	char chunk[8192];
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(e, -errno, path, 0, 0, "%s", strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = err_set(e, -errno, path, 0, 0, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = err_set(e, -EINVAL, path, 0, 0, "not a regular file");
		goto out;
	}
	buf_init(&b, max);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_set(e, -errno, path, 0, 0, "%s",
			            strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) < 0) {
			r = err_set(e, -E2BIG, path, 0, 0,
			            "larger than %zu bytes", max);
			break;
		}
	}
	if (r < 0)
		buf_free(&b);
	else
		*ret = buf_take(&b, ret_len);
out:
	close(fd);
	return r;
}

static int load_text(struct load *ld, const char *name, const char *text,
                     size_t len)
{
	struct hcl_pos *pos = NULL;
	json_t *tree = NULL;
	struct vctx v = {ld, name, NULL, NULL, {0, 0}};
	int r;

	if ((r = hcl_parse(name, text, len, &tree, &pos, ld->e)) < 0)
		return r;
	v.pos = pos;
	r = apply_root(&v, tree, ld);
	json_decref(tree);
	hcl_pos_free(pos);
	return r;
}

static int load_file(struct load *ld, const char *path)
{
	char *text;
	size_t len;
	int r;

	if ((r = read_file(path, HCL_MAX_INPUT, &text, &len, ld->e)) < 0)
		return r;
	r = load_text(ld, path, text, len);
	free(text);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool config_file_name(const char *name)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	return (n > 4 && strcmp(name + n - 4, ".hcl") == 0) ||
	       (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

/* A directory: its *.hcl and *.json regular files in lexical order. */
static int load_dir(struct load *ld, const char *dir)
{
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if ((d = opendir(dir)) == NULL)
		return err_set(ld->e, -errno, dir, 0, 0, "%s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		char *path;

		if (!config_file_name(de->d_name))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		/* Like consul-template, symlinks are not followed. */
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		if (n == CONFIG_MAX_DIR_ENTRIES) {
			free(path);
			r = err_set(ld->e, -E2BIG, dir, 0, 0,
			            "more than %d config files",
			            CONFIG_MAX_DIR_ENTRIES);
			break;
		}
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = path;
	}
	closedir(d);
	if (r == 0) {
		if (n > 0)
			qsort(names, n, sizeof(*names), cmp_names);
		for (size_t i = 0; i < n && r == 0; i++)
			r = load_file(ld, names[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

static int load_path(struct load *ld, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return err_set(ld->e, -errno, path, 0, 0, "%s",
		               strerror(errno));
	if (S_ISDIR(st.st_mode))
		return load_dir(ld, path);
	return load_file(ld, path);
}

/* ---- environment ---- */

/* Go's strconv.ParseBool. */
static int bool_parse(const char *s, bool *ret)
{
	static const char *const yes[] = {"1",    "t",    "T",
	                                  "TRUE", "true", "True"};
	static const char *const no[] = {"0",     "f",     "F",
	                                 "FALSE", "false", "False"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int env_string(struct load *ld, const char *name, char **dst)
{
	const char *s = getenv(name);

	if (s == NULL || *s == '\0')
		return 0;
	if (!string_is_clean(s) || strlen(s) > CONFIG_MAX_STRING)
		return err_msg(ld->e, -EINVAL,
		               "%s: control characters or longer than %d "
		               "characters",
		               name, CONFIG_MAX_STRING);
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

static int apply_env(struct load *ld)
{
	struct consul_conf *cc = &ld->c->consul;
	const char *s;
	bool b;
	int r = 0;

	/* consul-template reads CONSUL_TOKEN before CONSUL_HTTP_TOKEN. */
	if ((r = env_string(ld, "CONSUL_HTTP_ADDR", &cc->address)) < 0 ||
	    (r = env_string(ld, "CONSUL_HTTP_TOKEN", &cc->token)) < 0 ||
	    (r = env_string(ld, "CONSUL_TOKEN", &cc->token)) < 0 ||
	    (r = env_string(ld, "CONSUL_HTTP_TOKEN_FILE", &cc->token_file)) <
	            0 ||
	    (r = env_string(ld, "CONSUL_CACERT", &cc->ssl.ca_cert)) < 0 ||
	    (r = env_string(ld, "CONSUL_CAPATH", &cc->ssl.ca_path)) < 0 ||
	    (r = env_string(ld, "CONSUL_CLIENT_CERT", &cc->ssl.cert)) < 0 ||
	    (r = env_string(ld, "CONSUL_CLIENT_KEY", &cc->ssl.key)) < 0 ||
	    (r = env_string(ld, "CONSUL_TLS_SERVER_NAME",
	                    &cc->ssl.server_name)) < 0)
		return r;
	if (cc->ssl.server_name != NULL) {
		/* Consul strips a :port (net.SplitHostPort). */
		char *colon = strrchr(cc->ssl.server_name, ':');

		if (colon != NULL && strchr(cc->ssl.server_name, ':') == colon)
			*colon = '\0';
	}
	if ((s = getenv("CONSUL_HTTP_SSL")) != NULL && *s != '\0') {
		if (bool_parse(s, &b) < 0)
			return err_msg(ld->e, -EINVAL,
			               "CONSUL_HTTP_SSL: expected true or "
			               "false, got \"%.64s\"",
			               s);
		cc->ssl.enabled = b;
		ld->ssl_enabled_set = true;
	}
	/* Unlike the Go client, an unparsable value keeps verification on. */
	if ((s = getenv("CONSUL_HTTP_SSL_VERIFY")) != NULL &&
	    bool_parse(s, &b) == 0)
		cc->ssl.verify = b;
	if (cc->token != NULL && !token_is_clean(cc->token))
		return err_msg(ld->e, -EINVAL,
		               "CONSUL_HTTP_TOKEN/CONSUL_TOKEN: only printable "
		               "characters without spaces are allowed");
	return 0;
}

/* ---- flags ---- */

enum flag_kind {
	FLAG_BOOL,   /* -x or -x=true|false */
	FLAG_STRING, /* -x value or -x=value */
	FLAG_NUMBER, /* a string, given as a number when it is one */
};

enum flag_special {
	FS_PATH, /* set the config key at path */
	FS_CONFIG,
	FS_TEMPLATE,
	FS_ONCE,
	FS_DRY,
	FS_PARSE_ONLY,
	FS_EXPLAIN,
	FS_EMIT,
	FS_MANAGED_BLOCK,
	FS_HELP,
	FS_VERSION,
};

struct flag_def {
	const char *name;
	enum flag_kind kind;
	enum flag_special special;
	const char *path; /* dotted config key for FS_PATH */
};

static const struct flag_def flag_defs[] = {
        {"consul-addr", FLAG_STRING, FS_PATH, "consul.address"},
        {"consul-token", FLAG_STRING, FS_PATH, "consul.token"},
        {"consul-token-file", FLAG_STRING, FS_PATH, "consul.token_file"},
        {"consul-ssl", FLAG_BOOL, FS_PATH, "consul.ssl.enabled"},
        {"consul-ssl-verify", FLAG_BOOL, FS_PATH, "consul.ssl.verify"},
        {"consul-ssl-cert", FLAG_STRING, FS_PATH, "consul.ssl.cert"},
        {"consul-ssl-key", FLAG_STRING, FS_PATH, "consul.ssl.key"},
        {"consul-ssl-ca-cert", FLAG_STRING, FS_PATH, "consul.ssl.ca_cert"},
        {"consul-ssl-ca-path", FLAG_STRING, FS_PATH, "consul.ssl.ca_path"},
        {"consul-ssl-server-name", FLAG_STRING, FS_PATH,
         "consul.ssl.server_name"},
        {"consul-retry", FLAG_BOOL, FS_PATH, "consul.retry.enabled"},
        {"consul-retry-attempts", FLAG_NUMBER, FS_PATH,
         "consul.retry.attempts"},
        {"consul-retry-backoff", FLAG_STRING, FS_PATH, "consul.retry.backoff"},
        {"consul-retry-max-backoff", FLAG_STRING, FS_PATH,
         "consul.retry.max_backoff"},
        {"template", FLAG_STRING, FS_TEMPLATE, NULL},
        {"wait", FLAG_STRING, FS_PATH, "wait"},
        {"once", FLAG_BOOL, FS_ONCE, NULL},
        {"dry", FLAG_BOOL, FS_DRY, NULL},
        {"config", FLAG_STRING, FS_CONFIG, NULL},
        {"log-level", FLAG_STRING, FS_PATH, "log_level"},
        {"pid-file", FLAG_STRING, FS_PATH, "pid_file"},
        {"max-stale", FLAG_STRING, FS_PATH, "max_stale"},
        {"kill-signal", FLAG_STRING, FS_PATH, "kill_signal"},
        {"reload-signal", FLAG_STRING, FS_PATH, "reload_signal"},
        {"parse-only", FLAG_BOOL, FS_PARSE_ONLY, NULL},
        {"check-config", FLAG_BOOL, FS_PARSE_ONLY, NULL},
        {"n", FLAG_BOOL, FS_PARSE_ONLY, NULL},
        {"order", FLAG_STRING, FS_PATH, "order.mode"},
        {"order-seed", FLAG_STRING, FS_PATH, "order.seed"},
        {"shuffle-seed", FLAG_STRING, FS_PATH, "order.seed"},
        {"explain", FLAG_STRING, FS_EXPLAIN, NULL},
        {"emit", FLAG_NUMBER, FS_EMIT, NULL},
        {"managed-block", FLAG_BOOL, FS_MANAGED_BLOCK, NULL},
        {"v", FLAG_BOOL, FS_VERSION, NULL},
        {"version", FLAG_BOOL, FS_VERSION, NULL},
        {"h", FLAG_BOOL, FS_HELP, NULL},
        {"help", FLAG_BOOL, FS_HELP, NULL},
};

#define NFLAGS (sizeof(flag_defs) / sizeof(*flag_defs))

/* One flag from argv, value already split off. */
struct flag_use {
	const struct flag_def *def;
	const char *value; /* borrowed from argv; NULL for a bare bool */
	bool on;           /* bool flags */
};

static const struct flag_def *flag_find(const char *name, size_t len)
{
	for (size_t i = 0; i < NFLAGS; i++)
		if (strlen(flag_defs[i].name) == len &&
		    strncmp(flag_defs[i].name, name, len) == 0)
			return &flag_defs[i];
	return NULL;
}

static int flag_unknown(const char *name, size_t len, struct err *e)
{
	const char *names[NFLAGS + 1];
	char *word = xstrndup(name, len);
	const char *hint;
	int r;

	for (size_t i = 0; i < NFLAGS; i++)
		names[i] = flag_defs[i].name;
	names[NFLAGS] = NULL;
	hint = len > 1 ? suggest(word, names) : NULL;
	if (hint != NULL)
		r = err_msg(e, -EINVAL,
		            "unknown flag \"-%.100s\"; did you mean \"-%s\"?",
		            word, hint);
	else
		r = err_msg(e, -EINVAL, "unknown flag \"-%.100s\" (see -help)",
		            word);
	free(word);
	return r;
}

/*
 * Split argv into flag uses. -h and -v stop the scan (help wins over
 * everything after it). *ret has argc entries at most.
 */
static int flags_scan(int argc, char **argv, struct flag_use *uses,
                      size_t *ret_n, enum config_action *ret_action,
                      struct err *e)
{
	size_t n = 0;

	*ret_action = CONFIG_RUN;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq;
		const struct flag_def *def;
		struct flag_use *u;
		size_t len;

		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc)
				return err_msg(e, -EINVAL,
				               "unexpected argument \"%.100s\"",
				               argv[i + 1]);
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			return err_msg(e, -EINVAL,
			               "unexpected argument \"%.100s\" (flags "
			               "start with \"-\")",
			               a);
		name = a[1] == '-' ? a + 2 : a + 1;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		if ((def = flag_find(name, len)) == NULL)
			return flag_unknown(name, len, e);
		u = &uses[n++];
		u->def = def;
		u->value = NULL;
		u->on = true;
		if (def->kind == FLAG_BOOL) {
			if (eq != NULL && bool_parse(eq + 1, &u->on) < 0)
				return err_msg(
				        e, -EINVAL,
				        "-%s: expected true or false, got "
				        "\"%.64s\"",
				        def->name, eq + 1);
		} else if (eq != NULL) {
			u->value = eq + 1;
		} else if (i + 1 < argc) {
			u->value = argv[++i];
		} else {
			return err_msg(e, -EINVAL, "-%s: needs a value",
			               def->name);
		}
		if ((def->special == FS_CONFIG ||
		     def->special == FS_TEMPLATE) &&
		    u->value != NULL && *u->value == '\0')
			return err_msg(e, -EINVAL, "-%s: needs a value",
			               def->name);
		if (def->special == FS_HELP && u->on) {
			*ret_action = CONFIG_HELP;
			return 0;
		}
		if (def->special == FS_VERSION && u->on) {
			*ret_action = CONFIG_VERSION;
			return 0;
		}
	}
	*ret_n = n;
	return 0;
}

/* The flag's value as JSON: strings stay strings, numbers become numbers. */
static json_t *flag_json(const struct flag_use *u)
{
	const char *s = u->value;
	json_t *j;

	if (u->def->kind == FLAG_BOOL)
		return json_boolean(u->on);
	if (u->def->kind == FLAG_NUMBER && *s != '\0' &&
	    strspn(s, "0123456789") == strlen(s) && strlen(s) < 18)
		return json_integer(strtoll(s, NULL, 10));
	j = json_string(s);
	return j != NULL ? j : json_string("");
}

/* {"a": {"b": value}} for path "a.b"; steals value. */
static json_t *path_object(const char *path, json_t *value)
{
	const char *dot = strrchr(path, '.');
	json_t *obj = json_object();
	char *head;

	if (dot == NULL) {
		json_object_set_new(obj, path, value);
		return obj;
	}
	json_object_set_new(obj, dot + 1, value);
	head = xstrndup(path, (size_t)(dot - path));
	obj = path_object(head, obj);
	free(head);
	return obj;
}

/* -template "source:destination[:command]", split on the first two
 * colons like consul-template; a bare "source" is allowed for -dry. */
static int flag_template(struct load *ld, struct vctx *v, const char *s)
{
	const char *c1 = strchr(s, ':'), *c2;
	json_t *obj;
	int r;

	if (c1 == NULL && *s != '\0') {
		obj = json_object();
		json_object_set_new(obj, "source", json_string(s));
		if (json_object_size(obj) != 1)
			r = err_msg(ld->e, -EINVAL,
			            "-template: not valid UTF-8");
		else
			r = apply_template(v, obj, ld);
		json_decref(obj);
		return r;
	}
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (c1 == NULL || c1 == s || c1[1] == '\0' || c2 == c1 + 1 ||
	    (c2 != NULL && c2[1] == '\0'))
		return err_msg(ld->e, -EINVAL,
		               "-template \"%.200s\": expected "
		               "\"source:destination[:command]\"",
		               s);
	obj = json_object();
	json_object_set_new(obj, "source", json_stringn(s, (size_t)(c1 - s)));
	json_object_set_new(obj, "destination",
	                    c2 ? json_stringn(c1 + 1, (size_t)(c2 - c1 - 1))
	                       : json_string(c1 + 1));
	if (c2 != NULL)
		json_object_set_new(obj, "command", json_string(c2 + 1));
	if (json_object_size(obj) != (c2 ? 3u : 2u)) {
		json_decref(obj);
		return err_msg(ld->e, -EINVAL, "-template: not valid UTF-8");
	}
	r = apply_template(v, obj, ld);
	json_decref(obj);
	return r;
}

static int flags_apply(struct load *ld, const struct flag_use *uses, size_t n)
{
	struct config *c = ld->c;

	for (size_t i = 0; i < n; i++) {
		const struct flag_use *u = &uses[i];
		char label[64];
		struct vctx v = {ld, "", NULL, label, {0, 0}};
		json_t *obj;
		int r = 0;

		snprintf(label, sizeof(label), "-%s", u->def->name);
		switch (u->def->special) {
		case FS_PATH:
			obj = path_object(u->def->path, flag_json(u));
			r = apply_root(&v, obj, ld);
			json_decref(obj);
			break;
		case FS_TEMPLATE:
			r = flag_template(ld, &v, u->value);
			break;
		case FS_ONCE:
			c->once = u->on;
			break;
		case FS_DRY:
			c->dry = u->on;
			break;
		case FS_PARSE_ONLY:
			c->parse_only = u->on;
			break;
		case FS_EXPLAIN:
			obj = json_pack("{so}", "explain", flag_json(u));
			r = want_nonempty(&v, obj, "explain",
			                  json_object_get(obj, "explain"),
			                  &c->explain);
			json_decref(obj);
			break;
		case FS_EMIT:
			obj = json_pack("{so}", "emit", flag_json(u));
			r = want_uint(&v, obj, "emit",
			              json_object_get(obj, "emit"),
			              CONFIG_MAX_EMIT, &ld->emit);
			ld->emit_set = true;
			json_decref(obj);
			break;
		case FS_MANAGED_BLOCK:
			ld->managed_set = true;
			ld->managed = u->on;
			break;
		case FS_CONFIG:
		case FS_HELP:
		case FS_VERSION:
			break;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- after everything: defaults that depend on others, cross checks */

static int read_token_file(struct load *ld)
{
	struct consul_conf *cc = &ld->c->consul;
	char *text, *s, *end;
	size_t len;
	int r;

	r = read_file(cc->token_file, CONFIG_MAX_TOKEN_FILE, &text, &len,
	              ld->e);
	if (r < 0) {
		char msg[sizeof(ld->e->msg)];

		snprintf(msg, sizeof(msg), "token_file: %.400s", ld->e->msg);
		snprintf(ld->e->msg, sizeof(ld->e->msg), "%s", msg);
		return r;
	}
	for (s = text; *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r';)
		s++;
	end = text + strlen(text);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	                   end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	if (strlen(s) != (size_t)(end - s) || !token_is_clean(s) ||
	    *s == '\0') {
		free(text);
		return err_set(ld->e, -EINVAL, cc->token_file, 0, 0,
		               "token_file: expected one token of printable "
		               "characters");
	}
	free(cc->token);
	cc->token = xstrdup(s);
	free(text);
	return 0;
}

static int finalize(struct load *ld)
{
	struct config *c = ld->c;
	struct tls_conf *t = &c->consul.ssl;
	char a[32], b[32];
	int r;

	if (c->consul.address == NULL)
		c->consul.address = xstrdup(CONFIG_DEFAULT_ADDRESS);
	if (strchr(c->consul.address, ' ') != NULL ||
	    (strstr(c->consul.address, "://") != NULL &&
	     strncmp(c->consul.address, "http://", 7) != 0 &&
	     strncmp(c->consul.address, "https://", 8) != 0 &&
	     strncmp(c->consul.address, "unix://", 7) != 0))
		return err_msg(ld->e, -EINVAL,
		               "consul address \"%.200s\": expected host:port, "
		               "http://, https:// or unix://",
		               c->consul.address);
	if (c->consul.token != NULL && c->consul.token[0] == '\0') {
		free(c->consul.token); /* "" means none */
		c->consul.token = NULL;
	}
	if (strncmp(c->consul.address, "https://", 8) == 0)
		t->enabled = true;
	else if (!ld->ssl_enabled_set && (t->cert || t->key || t->ca_cert ||
	                                  t->ca_path || t->server_name))
		t->enabled = true; /* as consul-template does */
	if (t->key != NULL && t->cert == NULL)
		return err_msg(ld->e, -EINVAL,
		               "consul.ssl: key is set but cert is not");
	if (c->consul.retry.max_backoff_ms < c->consul.retry.backoff_ms)
		return err_msg(ld->e, -EINVAL,
		               "consul.retry: max_backoff (%s) is less than "
		               "backoff (%s)",
		               duration_format(c->consul.retry.max_backoff_ms,
		                               a, sizeof(a)),
		               duration_format(c->consul.retry.backoff_ms, b,
		                               sizeof(b)));
	if (c->consul.token_file != NULL && (r = read_token_file(ld)) < 0)
		return r;
	if (c->kill_signal == c->reload_signal)
		return err_msg(ld->e, -EINVAL,
		               "kill_signal and reload_signal are the same "
		               "signal");
	if (c->ntemplates == 0 && c->explain == NULL)
		return err_msg(ld->e, -EINVAL,
		               "no templates: give -template "
		               "\"source:destination\" or a template block in "
		               "a -config file");
	for (size_t i = 0; i < c->ntemplates; i++) {
		struct tmpl_conf *tc = &c->templates[i];
		struct tmpl_state *ts = &ld->ts[i];

		if (!ts->wait_set)
			tc->wait = c->wait;
		if (tc->left_delim == NULL)
			tc->left_delim = xstrdup(
			        ld->default_left ? ld->default_left : "{{");
		if (tc->right_delim == NULL)
			tc->right_delim = xstrdup(
			        ld->default_right ? ld->default_right : "}}");
		if (ld->emit_set)
			tc->emit = ld->emit;
		if (ld->managed_set)
			tc->managed_block = ld->managed;
		if (tc->destination == NULL && !c->dry && ts->file[0] == '\0')
			return err_msg(ld->e, -EINVAL,
			               "%s \"%.200s\": needs a destination "
			               "(\"source:destination\"); only -dry, "
			               "which prints to stdout, can do without",
			               tc->origin,
			               tc->source ? tc->source : "");
		if (tc->destination == NULL && !c->dry)
			return err_set(ld->e, -EINVAL, ts->file, ts->line,
			               ts->col,
			               "template: needs a destination (only "
			               "-dry, which prints to stdout, can do "
			               "without)");
		for (size_t j = 0; j < i && tc->destination != NULL; j++) {
			if (c->templates[j].destination == NULL)
				continue;
			if (strcmp(c->templates[j].destination,
			           tc->destination) == 0)
				return err_set(
				        ld->e, -EINVAL, ts->file, ts->line,
				        ts->col,
				        "template: destination \"%.200s\" is "
				        "also written by the template at %s",
				        tc->destination,
				        c->templates[j].origin);
		}
	}
	return 0;
}

/* ---- load, free ---- */

static struct config *config_defaults(void)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->consul.ssl.verify = true;
	c->consul.retry.enabled = true;
	c->consul.retry.attempts = 12; /* consul-template's */
	c->consul.retry.backoff_ms = 250;
	c->consul.retry.max_backoff_ms = 60000;
	c->max_stale_ms = 2000;
	c->block_query_wait_ms = 60000;
	c->log_level = xstrdup("info");
	c->kill_signal = SIGTERM;
	c->reload_signal = SIGHUP;
	c->order = ORDER_STABLE;
	c->max_response_size = CONFIG_DEFAULT_MAX_RESPONSE;
	return c;
}

static void load_done(struct load *ld)
{
	if (ld->ts != NULL)
		for (size_t i = 0; i < ld->c->ntemplates; i++)
			free(ld->ts[i].file);
	free(ld->ts);
	free(ld->default_left);
	free(ld->default_right);
}

int config_load(int argc, char **argv, struct config **ret,
                enum config_action *ret_action, struct err *e)
{
	struct flag_use *uses;
	struct load ld;
	size_t n = 0, nconfig = 0;
	int r;

	err_clear(e);
	*ret = NULL;
	uses = xcalloc((size_t)(argc > 0 ? argc : 1), sizeof(*uses));
	if ((r = flags_scan(argc, argv, uses, &n, ret_action, e)) < 0 ||
	    *ret_action != CONFIG_RUN) {
		free(uses);
		return r;
	}
	memset(&ld, 0, sizeof(ld));
	ld.c = config_defaults();
	ld.e = e;
	ld.c->argc = argc;
	ld.c->argv = xcalloc((size_t)argc + 1, sizeof(char *));
	for (int i = 0; i < argc; i++)
		ld.c->argv[i] = xstrdup(argv[i]);

	if ((r = apply_env(&ld)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (uses[i].def->special != FS_CONFIG)
			continue;
		if (++nconfig > CONFIG_MAX_PATHS) {
			r = err_msg(e, -EINVAL, "-config: more than %d paths",
			            CONFIG_MAX_PATHS);
			goto fail;
		}
		ld.c->config_paths = xreallocarray(ld.c->config_paths, nconfig,
		                                   sizeof(char *));
		ld.c->config_paths[nconfig - 1] = xstrdup(uses[i].value);
		ld.c->nconfig_paths = nconfig;
		if ((r = load_path(&ld, uses[i].value)) < 0)
			goto fail;
	}
	if ((r = flags_apply(&ld, uses, n)) < 0 || (r = finalize(&ld)) < 0)
		goto fail;
	load_done(&ld);
	free(uses);
	*ret = ld.c;
	return 0;
fail:
	load_done(&ld);
	config_free(ld.c);
	free(uses);
	return r;
}

int config_parse_text(const char *name, const char *text, size_t len,
                      struct config **ret, struct err *e)
{
	struct load ld;
	int r;

	err_clear(e);
	memset(&ld, 0, sizeof(ld));
	ld.c = config_defaults();
	ld.e = e;
	if ((r = load_text(&ld, name, text, len)) < 0 ||
	    (r = finalize(&ld)) < 0) {
		load_done(&ld);
		config_free(ld.c);
		return r;
	}
	load_done(&ld);
	*ret = ld.c;
	return 0;
}

int config_reload(const struct config *old, struct config **ret, struct err *e)
{
	enum config_action action;
	int r;

	r = config_load(old->argc, old->argv, ret, &action, e);
	if (r == 0 && action != CONFIG_RUN)
		return err_msg(e, -EINVAL, "reload: arguments ask for help");
	return r;
}

struct config *config_free(struct config *c)
{
	if (c == NULL)
		return NULL;
	free(c->consul.address);
	free(c->consul.token);
	free(c->consul.token_file);
	free(c->consul.ssl.ca_cert);
	free(c->consul.ssl.ca_path);
	free(c->consul.ssl.cert);
	free(c->consul.ssl.key);
	free(c->consul.ssl.server_name);
	free(c->log_level);
	free(c->pid_file);
	free(c->order_seed);
	for (size_t i = 0; i < c->nreserved_names; i++)
		free(c->reserved_names[i]);
	free(c->reserved_names);
	for (size_t i = 0; i < c->ntemplates; i++)
		tmpl_conf_clear(&c->templates[i]);
	free(c->templates);
	free(c->explain);
	for (size_t i = 0; i < c->nconfig_paths; i++)
		free(c->config_paths[i]);
	free(c->config_paths);
	for (int i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	free(c);
	return NULL;
}

const char *config_usage(void)
{
	return "Usage: consul-hosts [flags]\n"
	       "\n"
	       "Render consul-template templates from Consul into hosts "
	       "files, with\n"
	       "instances ordered per node. Flags take -flag or --flag, and "
	       "-flag=value\n"
	       "or -flag value. Flags beat -config files, which beat "
	       "CONSUL_* variables.\n"
	       "\n"
	       "Run mode:\n"
	       "  -config PATH             HCL/JSON file or directory "
	       "(repeatable)\n"
	       "  -template SRC:DEST[:CMD] add a template (repeatable)\n"
	       "  -once                    render once, then exit\n"
	       "  -dry                     write renders to stdout, run no "
	       "command\n"
	       "  -parse-only, -check-config, -n\n"
	       "                           check config and templates, then "
	       "exit\n"
	       "  -wait MIN[:MAX]          quiescence before rendering "
	       "(off)\n"
	       "  -explain SERVICE         print each node's first backend "
	       "and the shares\n"
	       "\n"
	       "Ordering and output:\n"
	       "  -order MODE              stable|weighted|balanced|random|"
	       "none (stable)\n"
	       "  -order-seed S            per-node seed (Consul node name, "
	       "then hostname)\n"
	       "  -shuffle-seed S          alias of -order-seed\n"
	       "  -emit K                  keep the first K instances per "
	       "service (0: all)\n"
	       "  -managed-block           replace only the "
	       "# BEGIN/# END consul-hosts block\n"
	       "\n"
	       "Consul:\n"
	       "  -consul-addr ADDR        host:port, http://, https://, "
	       "unix:// (127.0.0.1:8500)\n"
	       "  -consul-token TOKEN      ACL token\n"
	       "  -consul-token-file PATH  file holding the ACL token\n"
	       "  -consul-ssl              use HTTPS\n"
	       "  -consul-ssl-verify=BOOL  verify the server certificate "
	       "(true)\n"
	       "  -consul-ssl-cert PATH    client certificate\n"
	       "  -consul-ssl-key PATH     client key\n"
	       "  -consul-ssl-ca-cert PATH CA bundle\n"
	       "  -consul-ssl-ca-path DIR  directory of CA certificates\n"
	       "  -consul-ssl-server-name NAME\n"
	       "                           name to verify (SNI)\n"
	       "  -consul-retry=BOOL       retry failed requests (true)\n"
	       "  -consul-retry-attempts N -once gives up after N retries "
	       "(12; 0: never)\n"
	       "  -consul-retry-backoff D  first backoff (250ms)\n"
	       "  -consul-retry-max-backoff D\n"
	       "                           longest backoff (1m)\n"
	       "  -max-stale D             allow stale reads this old (2s; 0 "
	       "disables)\n"
	       "\n"
	       "Process:\n"
	       "  -log-level LEVEL         trace|debug|info|warn|err (info)\n"
	       "  -pid-file PATH           write the pid here\n"
	       "  -kill-signal SIG         graceful stop (SIGTERM; SIGINT "
	       "always stops)\n"
	       "  -reload-signal SIG       re-read config (SIGHUP; \"\" "
	       "disables)\n"
	       "  -v, -version             print the version\n"
	       "  -h, -help                print this help\n"
	       "\n"
	       "Exit status: 0 ok, 1 runtime failure, 2 usage or config "
	       "error.\n"
	       "See consul-hosts(8) for every config file option.\n";
}
