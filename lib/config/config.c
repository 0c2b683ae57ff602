#include "config/config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/duration.h"
#include "config/hcl.h"
#include "hosts/hosts.h"
#include "base/log.h"
#include "base/readfile.h"
#include "base/xmalloc.h"

#include "default_template.h"

#define CONFIG_MAX_TEMPLATES    256
#define CONFIG_MAX_DIR_ENTRIES  1024
#define CONFIG_MAX_DIR_DEPTH    16
#define CONFIG_MAX_PATHS        64
#define CONFIG_MAX_STRING       4096
#define CONFIG_MAX_EMIT         65535
#define CONFIG_MAX_COMMAND_RUNS 100
#define CONFIG_MAX_TOKEN_FILE   4096
#define CONFIG_DEFAULT_ADDRESS  "127.0.0.1:8500"

/* What a load knows besides the config itself. */
struct tmpl_state {
	bool wait_set;
	bool failed; /* the block had an error: skip the final checks */
	char *file;  /* where the block is, for later errors ("" for flags) */
	int line;
	int col;
};

struct load {
	struct config *c;
	struct err *e;         /* the caller's: the first error */
	struct err_list *errs; /* every error, in the order found */
	size_t nerrs;          /* errors of this load (errs may hold more) */
	int first_code;        /* -errno of the first */
	bool in_dir;           /* reading a file found under a directory */
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

/*
 * Every error goes through these: it is recorded in ld->errs and the
 * first one is also copied to the caller's struct err, so a load reports
 * all its errors at once and config_load's one-error API still works.
 */
static int lnote(struct load *ld, int code, const struct err *e)
{
	if (ld->nerrs++ == 0) {
		ld->first_code = code < 0 ? code : -EINVAL;
		if (ld->e != NULL)
			*ld->e = *e;
	}
	err_list_add(ld->errs, e);
	return code;
}

static int lerr(struct load *ld, int code, const char *file, int line, int col,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int lerr(struct load *ld, int code, const char *file, int line, int col,
                const char *fmt, ...)
{
	struct err e;
	va_list ap;

	err_clear(&e);
	snprintf(e.file, sizeof(e.file), "%s", file != NULL ? file : "");
	e.line = line;
	e.col = col;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	return lnote(ld, code, &e);
}

#define lmsg(ld, code, ...) lerr(ld, code, NULL, 0, 0, __VA_ARGS__)

/* Errors recorded by this load so far. */
static size_t lcount(const struct load *ld)
{
	return ld->nerrs;
}

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
	char msg[sizeof(((struct err *)NULL)->msg)];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	return lerr(v->ld, -EINVAL, v->file, l.line, l.col, "%s", msg);
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

/* What a consul-template option consul-hosts does not implement is for. */
static const char *unsupported_why(const char *key)
{
	static const struct {
		const char *key;
		const char *why;
	} whys[] = {
	        {"vault", "Vault"},
	        {"nomad", "Nomad"},
	        {"dedup", "dedup mode"},
	        {"deduplicate", "dedup mode"},
	        {"exec", "exec mode"},
	        {"syslog", "it logs to stderr or the journal"},
	        {"log_file", "it logs to stderr or the journal"},
	        {"auth", "Consul basic authentication"},
	        {"namespace", "Consul Enterprise namespaces"},
	        {"once", "use the -once flag"},
	};

	for (size_t i = 0; i < sizeof(whys) / sizeof(*whys); i++)
		if (strcmp(key, whys[i].key) == 0)
			return whys[i].why;
	return NULL;
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
			        "\"%s\" is not supported by consul-hosts%s%s%s",
			        key, unsupported_why(key) ? " (" : "",
			        unsupported_why(key) ? unsupported_why(key)
			                             : "",
			        unsupported_why(key) ? ")" : "");
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

/*
 * consul-template accepts every name of its signal table (signals/
 * signals_unix.go). The ones a daemon can use for kill_signal and
 * reload_signal are taken; the others are rejected with the reason.
 * "" and SIGNULL (signal 0) mean none, as there.
 */
static const struct {
	const char *name;
	int sig;
	const char *why_not; /* NULL: usable */
} signal_names[] = {
        {"SIGNULL", 0, NULL},
        {"SIGHUP", SIGHUP, NULL},
        {"SIGINT", SIGINT, NULL},
        {"SIGQUIT", SIGQUIT, NULL},
        {"SIGTERM", SIGTERM, NULL},
        {"SIGUSR1", SIGUSR1, NULL},
        {"SIGUSR2", SIGUSR2, NULL},
        {"SIGALRM", SIGALRM, NULL},
        {"SIGWINCH", SIGWINCH, NULL},
        {"SIGKILL", SIGKILL, "cannot be caught"},
        {"SIGSTOP", SIGSTOP, "cannot be caught"},
        {"SIGABRT", SIGABRT, "reports a crash"},
        {"SIGIOT", SIGIOT, "reports a crash"},
        {"SIGBUS", SIGBUS, "reports a crash"},
        {"SIGFPE", SIGFPE, "reports a crash"},
        {"SIGILL", SIGILL, "reports a crash"},
        {"SIGSEGV", SIGSEGV, "reports a crash"},
        {"SIGSYS", SIGSYS, "reports a crash"},
        {"SIGTRAP", SIGTRAP, "reports a crash"},
        {"SIGPIPE", SIGPIPE, "is ignored: a closed pipe is an error"},
        {"SIGCONT", SIGCONT, "is job control"},
        {"SIGTSTP", SIGTSTP, "is job control"},
        {"SIGTTIN", SIGTTIN, "is job control"},
        {"SIGTTOU", SIGTTOU, "is job control"},
        {"SIGIO", SIGIO, "is sent by the kernel"},
        {"SIGPROF", SIGPROF, "is sent by the kernel"},
        {"SIGXCPU", SIGXCPU, "is sent by the kernel"},
        {"SIGXFSZ", SIGXFSZ, "is sent by the kernel"},
};

#define SIGNALS_USABLE                                                    \
	"SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM or " \
	"SIGWINCH"

/* Index into signal_names, or -1. The SIG prefix is optional. */
static int signal_find(const char *s)
{
	for (size_t i = 0; i < sizeof(signal_names) / sizeof(*signal_names);
	     i++) {
		const char *n = signal_names[i].name;

		if (strcasecmp(s, n) == 0 || strcasecmp(s, n + 3) == 0)
			return (int)i;
	}
	return -1;
}

/*
 * kill_signal or reload_signal: a name, or "" / SIGNULL for none.
 * SIGTERM and SIGINT always stop the daemon (systemd stops with SIGTERM),
 * so they cannot be the reload signal.
 */
static int want_signal(struct vctx *v, const json_t *obj, const char *key,
                       const json_t *val, bool reload, int *dst)
{
	const char *s;
	int i, sig;

	if (!json_is_string(val))
		return fail_value(v, obj, key,
		                  "%s: expected a signal name like \"SIGHUP\", "
		                  "got %s",
		                  name_of(v, key), json_kind(val));
	s = json_string_value(val);
	i = *s == '\0' ? 0 : signal_find(s);
	if (i < 0)
		return fail_value(
		        v, obj, key,
		        "%s: unknown signal \"%.64s\" (expected " SIGNALS_USABLE
		        ", or \"\" for none)",
		        name_of(v, key), s);
	if (signal_names[i].why_not != NULL)
		return fail_value(v, obj, key,
		                  "%s: %s %s (expected " SIGNALS_USABLE
		                  ", or \"\" for none)",
		                  name_of(v, key), signal_names[i].name,
		                  signal_names[i].why_not);
	sig = signal_names[i].sig;
	if (reload && (sig == SIGTERM || sig == SIGINT))
		return fail_value(
		        v, obj, key,
		        "%s: %s always stops consul-hosts (systemd "
		        "stops services with SIGTERM); choose another "
		        "reload signal",
		        name_of(v, key), signal_names[i].name);
	*dst = sig;
	return 0;
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
		buf_shell_quote(&b, json_string_value(w), true);
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
	int ret = 0, r;

	if (json_is_object(val)) {
		hcl_pos_key(v->pos, obj, key, &v->block, NULL);
		return fn(v, val, target);
	}
	if (!json_is_array(val))
		return fail_value(v, obj, key, "%s: expected a block, got %s",
		                  name_of(v, key), json_kind(val));
	json_array_foreach(val, i, b)
	{
		if (!json_is_object(b)) {
			ret = fail_index(v, val, i,
			                 "%s: expected a block, got %s",
			                 name_of(v, key), json_kind(b));
			continue;
		}
		hcl_pos_index(v->pos, val, i, &v->block);
		if ((r = fn(v, b, target)) < 0)
			ret = r;
	}
	return ret;
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
	int ret = 0, r;

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
			ret = r;
	}
	if (ret < 0)
		return ret;
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
	int ret = 0, r;

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
			ret = r;
	}
	return ret;
}

static int apply_retry(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"enabled", "attempts", "backoff",
	                                   "max_backoff", NULL};
	struct retry_conf *rc = target;
	const char *key;
	json_t *val;
	int ret = 0, r;

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
			ret = r;
	}
	return ret;
}

/* Printable ASCII only: the token goes into an HTTP header. */
bool config_token_valid(const char *s)
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
	int ret = 0, r;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "address") == 0) {
			r = want_address(v, obj, key, val, &cc->address);
		} else if (strcmp(key, "token") == 0) {
			r = want_string(v, obj, key, val, &cc->token);
			if (r == 0 && !config_token_valid(cc->token))
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
			ret = r;
	}
	return ret;
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
	int ret = 0, r;

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
			ret = r;
	}
	return ret;
}

/* metrics { textfile }: node_exporter's textfile collector reads *.prom
 * files of one directory; a file of another name would never be read. */
static int apply_metrics(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"textfile", NULL};
	struct config *c = target;
	const char *key, *f;
	json_t *val;
	int ret = 0, r;
	size_t n;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "textfile") == 0) {
			r = want_nonempty(v, obj, key, val,
			                  &c->metrics_textfile);
			f = r == 0 ? c->metrics_textfile : NULL;
			n = f != NULL ? strlen(f) : 0;
			if (f != NULL && f[0] != '/')
				r = fail_value(v, obj, key,
				               "%s: expected an absolute path, "
				               "got \"%.200s\"",
				               name_of(v, key), f);
			else if (f != NULL &&
			         (n < 6 || strcmp(f + n - 5, ".prom") != 0 ||
			          f[n - 6] == '/'))
				r = fail_value(v, obj, key,
				               "%s: \"%.200s\" does not end in "
				               "\".prom\" (node_exporter's "
				               "textfile collector reads only "
				               "*.prom files)",
				               name_of(v, key), f);
		} else {
			r = unknown_key(v, obj, key, "in metrics block", keys,
			                NULL);
		}
		if (r < 0)
			ret = r;
	}
	return ret;
}

static int apply_delimiters(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"left", "right", NULL};
	struct load *ld = target;
	const char *key;
	json_t *val;
	int ret = 0, r;

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
			ret = r;
	}
	return ret;
}

/* ---- template blocks ---- */

static void tmpl_defaults(struct tmpl_conf *t)
{
	memset(t, 0, sizeof(*t));
	t->command_timeout_ms = CONFIG_DEFAULT_COMMAND_TIMEOUT_MS;
	t->perms = -1;
	t->create_dest_dirs = true;
	t->format = TMPL_FORMAT_HOSTS;
	t->guard_enabled = true;
	t->guard_shrink = CONFIG_DEFAULT_GUARD_SHRINK;
	t->guard_service_drop = false;
	t->guard_hold_ms = CONFIG_DEFAULT_GUARD_HOLD_MS;
	t->command_max_runs = CONFIG_DEFAULT_COMMAND_MAX_RUNS;
	t->command_window_ms = CONFIG_DEFAULT_COMMAND_WINDOW_MS;
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
	for (size_t i = 0;
	     t->function_denylist != NULL && t->function_denylist[i] != NULL;
	     i++)
		free(t->function_denylist[i]);
	free(t->function_denylist);
}

/*
 * A list of function names or globs ("env", "sprig_*"), appended to *dst
 * (NULL-terminated): consul-template combines function_denylist with its
 * old name function_blacklist.
 */
static int want_denylist(struct vctx *v, const json_t *obj, const char *key,
                         const json_t *val, char ***dst)
{
	size_t n = 0, i;
	json_t *w;

	if (!json_is_array(val))
		return fail_value(
		        v, obj, key,
		        "%s: expected a list of function names, got %s",
		        name_of(v, key), json_kind(val));
	while (*dst != NULL && (*dst)[n] != NULL)
		n++;
	json_array_foreach(val, i, w)
	{
		const char *s = json_string_value(w);

		if (!json_is_string(w) || *s == '\0' ||
		    json_string_length(w) > 128 || !string_is_clean(s))
			return fail_index(
			        v, val, i,
			        "%s: expected a function name or glob, "
			        "got %s",
			        name_of(v, key),
			        json_is_string(w) ? "a bad string"
			                          : json_kind(w));
	}
	*dst = xreallocarray(*dst, n + json_array_size(val) + 1, sizeof(**dst));
	json_array_foreach(val, i, w)
	{
		(*dst)[n++] = xstrdup(json_string_value(w));
	}
	(*dst)[n] = NULL;
	return 0;
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
	int ret = 0, r;

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
			ret = r;
	}
	return ret;
}

static int want_format(struct vctx *v, const json_t *obj, const char *key,
                       const json_t *val, enum tmpl_format *dst)
{
	const char *s = json_string_value(val);

	if (s != NULL && strcmp(s, "hosts") == 0)
		*dst = TMPL_FORMAT_HOSTS;
	else if (s != NULL && strcmp(s, "text") == 0)
		*dst = TMPL_FORMAT_TEXT;
	else
		return fail_value(v, obj, key,
		                  "%s: expected \"hosts\" (a hosts file: "
		                  "checked line by line, each name's lines "
		                  "ordered per node) or \"text\" (any other "
		                  "file), got %s",
		                  name_of(v, key),
		                  s != NULL ? s : json_kind(val));
	return 0;
}

static int apply_guard(struct vctx *v, json_t *obj, void *target)
{
	static const char *const keys[] = {"enabled", "shrink", "service_drop",
	                                   "hold", NULL};
	struct tmpl_conf *t = target;
	const char *key;
	json_t *val;
	int ret = 0, r = 0;

	json_object_foreach(obj, key, val)
	{
		if (strcmp(key, "shrink") == 0) {
			double d = json_number_value(val);

			r = 0;
			if (!json_is_number(val))
				r = fail_value(v, obj, key,
				               "%s: expected a share between "
				               "0 and 1 like 0.5, got %s",
				               name_of(v, key), json_kind(val));
			else if (!(d >= 0.0 && d <= 1.0))
				r = fail_value(v, obj, key,
				               "%s: %g is out of range (0 "
				               "to 1; 0 disables)",
				               name_of(v, key), d);
			else
				t->guard_shrink = d;
		} else if (strcmp(key, "enabled") == 0) {
			r = want_bool(v, obj, key, val, &t->guard_enabled);
		} else if (strcmp(key, "service_drop") == 0) {
			r = want_bool(v, obj, key, val, &t->guard_service_drop);
		} else if (strcmp(key, "hold") == 0) {
			r = want_duration(v, obj, key, val, &t->guard_hold_ms);
		} else {
			r = unknown_key(v, obj, key, "in template.guard block",
			                keys, NULL);
		}
		if (r < 0)
			ret = r;
	}
	return ret;
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
	                                   "function_denylist",
	                                   "function_blacklist",
	                                   "create_dest_dirs",
	                                   "emit",
	                                   "managed_block",
	                                   "check_command",
	                                   "rollback_on_failure",
	                                   "in_place",
	                                   "guard",
	                                   "format",
	                                   "command_max_runs",
	                                   "command_window",
	                                   "restart_min_interval",
	                                   NULL};
	static const char *const unsupported[] = {"error_fatal", "sandbox_path",
	                                          NULL};
	struct load *ld = target;
	struct tmpl_conf *t;
	struct tmpl_state *ts;
	struct hcl_loc at = v->block;
	const char *key;
	json_t *val;
	int ret = 0, r;

	if (ld->c->ntemplates >= CONFIG_MAX_TEMPLATES)
		return lerr(v->ld, -EINVAL, v->file, 0, 0,
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
		} else if (strcmp(key, "function_denylist") == 0 ||
		           strcmp(key, "function_blacklist") == 0) {
			r = want_denylist(v, obj, key, val,
			                  &t->function_denylist);
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
		} else if (strcmp(key, "format") == 0) {
			r = want_format(v, obj, key, val, &t->format);
		} else if (strcmp(key, "command_max_runs") == 0) {
			r = want_uint(v, obj, key, val, CONFIG_MAX_COMMAND_RUNS,
			              &t->command_max_runs);
			if (r == 0 && t->command_max_runs == 0)
				r = fail_value(v, obj, key,
				               "%s: must be at least 1",
				               name_of(v, key));
		} else if (strcmp(key, "command_window") == 0) {
			r = want_duration(v, obj, key, val,
			                  &t->command_window_ms);
		} else if (strcmp(key, "restart_min_interval") == 0) {
			/* The old fixed spacing: one run per interval. */
			r = want_duration(v, obj, key, val,
			                  &t->command_window_ms);
			t->command_max_runs = 1;
			t->restart_min_interval_set = true;
		} else {
			r = unknown_key(v, obj, key, "in template block", keys,
			                unsupported);
		}
		if (r < 0)
			ret = r;
	}

	ts->file = xstrdup(v->file);
	ts->line = at.line;
	ts->col = at.col;
	if (v->file[0] != '\0')
		t->origin = xasprintf("%s:%d", v->file, at.line);
	else
		t->origin = xstrdup(v->label ? v->label : "-template");
	/* After an error in the block, checks of the whole block would only
	 * repeat it ("needs a source" after a bad source). */
	if (ret == 0 && t->source != NULL && t->contents != NULL)
		ret = fail_key(v, obj, "contents",
		               "template: source and contents are mutually "
		               "exclusive");
	else if (ret == 0 && t->source == NULL && t->contents == NULL)
		ret = lerr(v->ld, -EINVAL, v->file, at.line, at.col,
		           "template: needs a source or contents");
	/* A missing destination is checked in the final validation, where
	 * -dry (which needs none) is known. */
	ts->failed = ret < 0;
	return ret;
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
	                                   "node_join_settle",
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
	                                   "metrics",
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
	int ret = 0, r, lvl;

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
			if (r == 0)
				c->block_query_wait_set = true;
		} else if (strcmp(key, "node_join_settle") == 0) {
			r = want_duration(v, obj, key, val,
			                  &c->node_join_settle_ms);
			if (r == 0 &&
			    c->node_join_settle_ms > CONFIG_MAX_JOIN_SETTLE_MS)
				r = fail_value(v, obj, key,
				               "%s: at most 5s (a removal made "
				               "meanwhile waits for it too)",
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
		} else if (strcmp(key, "metrics") == 0) {
			r = want_blocks(v, obj, key, val, apply_metrics, c);
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
			ret = r;
	}
	return ret;
}

/* ---- files ---- */

/* Read a regular file of at most max bytes; *ret is NUL-terminated. */
static int config_read_file(const char *path, size_t max, char **ret,
                            size_t *ret_len, struct err *e)
{
	struct read_file rf;
	struct buf b;
	int r;

	buf_init(&b, 0);
	r = read_file(path, max, READ_FILE_REGULAR, &b, &rf);
	if (r == 0) {
		*ret = buf_take(&b, ret_len);
		return 0;
	}
	buf_free(&b);
	if (rf.step == READ_FILE_TYPE)
		return err_set(e, -EINVAL, path, 0, 0, "not a regular file");
	if (rf.step == READ_FILE_LIMIT)
		return err_set(e, r, path, 0, 0, "larger than %zu bytes", max);
	return err_set(e, r, path, 0, 0, "%s", strerror(-r));
}

static int load_text(struct load *ld, const char *name, const char *text,
                     size_t len)
{
	struct hcl_pos *pos = NULL;
	json_t *tree = NULL;
	struct vctx v = {ld, name, NULL, NULL, {0, 0}};
	struct err e;
	size_t n;
	int r;

	err_clear(&e);
	if ((r = hcl_parse(name, text, len, &tree, &pos, &e)) < 0) {
		n = strlen(e.msg);
		if (ld->in_dir)
			snprintf(e.msg + n, sizeof(e.msg) - n,
			         " (every file under a -config directory is "
			         "read as configuration, as consul-template "
			         "does)");
		return lnote(ld, r, &e);
	}
	v.pos = pos;
	r = apply_root(&v, tree, ld);
	json_decref(tree);
	hcl_pos_free(pos);
	return r;
}

static int load_file(struct load *ld, const char *path)
{
	struct err e;
	char *text = NULL;
	size_t len = 0;
	int r;

	err_clear(&e);
	if ((r = config_read_file(path, HCL_MAX_INPUT, &text, &len, &e)) < 0)
		return lnote(ld, r, &e);
	r = load_text(ld, path, text, len);
	free(text);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directories being read, innermost first: a link back to one loops. */
struct dir_chain {
	dev_t dev;
	ino_t ino;
	const struct dir_chain *up;
};

struct dir_walk {
	size_t nfiles; /* files read under this -config path */
	int ret;
};

static void load_dir(struct load *ld, const char *dir, const struct stat *st,
                     const struct dir_chain *up, unsigned depth,
                     struct dir_walk *w);

/* One entry of a directory: a file to parse or a directory to descend. */
static void load_dir_entry(struct load *ld, const char *path,
                           const struct dir_chain *chain, unsigned depth,
                           struct dir_walk *w)
{
	struct stat st, lst;
	bool in_dir = ld->in_dir;
	int r;

	if (stat(path, &st) < 0) {
		r = -errno;
		if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
			w->ret = lerr(ld, r, path, 0, 0,
			              "symbolic link to a missing file (%s)",
			              strerror(-r));
		else
			w->ret = lerr(ld, r, path, 0, 0, "%s", strerror(-r));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		for (const struct dir_chain *c = chain; c != NULL; c = c->up)
			if (c->dev == st.st_dev && c->ino == st.st_ino) {
				w->ret = lerr(ld, -ELOOP, path, 0, 0,
				              "leads back to a directory being "
				              "read (a symbolic link loop)");
				return;
			}
		if (depth + 1 > CONFIG_MAX_DIR_DEPTH) {
			w->ret = lerr(ld, -ELOOP, path, 0, 0,
			              "more than %d directories deep",
			              CONFIG_MAX_DIR_DEPTH);
			return;
		}
		load_dir(ld, path, &st, chain, depth + 1, w);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		w->ret = lerr(ld, -EINVAL, path, 0, 0,
		              "not a regular file or directory");
		return;
	}
	if (++w->nfiles > CONFIG_MAX_DIR_ENTRIES) {
		if (w->nfiles == CONFIG_MAX_DIR_ENTRIES + 1)
			w->ret = lerr(ld, -E2BIG, path, 0, 0,
			              "more than %d files under this -config "
			              "directory",
			              CONFIG_MAX_DIR_ENTRIES);
		return;
	}
	ld->in_dir = true;
	if ((r = load_file(ld, path)) < 0)
		w->ret = r;
	ld->in_dir = in_dir;
}

/*
 * A -config directory, read as consul-template reads one (filepath.Walk):
 * every entry, hidden ones included, in bytewise order of its name, a
 * subdirectory where it sorts, every other file parsed as HCL or JSON
 * whatever its name. Symbolic links are followed (consul-template reads a
 * linked file too, and fails on a linked directory, which is read here);
 * a link back to a directory being read is an error. Every error is
 * recorded and the walk goes on, so one run reports them all.
 */
static void load_dir(struct load *ld, const char *dir, const struct stat *st,
                     const struct dir_chain *up, unsigned depth,
                     struct dir_walk *w)
{
	struct dir_chain chain = {st->st_dev, st->st_ino, up};
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		w->ret = lerr(ld, -errno, dir, 0, 0, "%s", strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == CONFIG_MAX_DIR_ENTRIES) {
			w->ret = lerr(ld, -E2BIG, dir, 0, 0,
			              "more than %d entries",
			              CONFIG_MAX_DIR_ENTRIES);
			break;
		}
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("%s%s%s", dir,
		                       dir[strlen(dir) - 1] == '/' ? "" : "/",
		                       names[i]);

		load_dir_entry(ld, path, &chain, depth, w);
		free(path);
		free(names[i]);
	}
	free(names);
}

static int load_path(struct load *ld, const char *path)
{
	struct dir_walk w = {0, 0};
	struct stat st;

	if (stat(path, &st) < 0)
		return lerr(ld, -errno, path, 0, 0, "%s", strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return load_file(ld, path);
	load_dir(ld, path, &st, NULL, 0, &w);
	return w.ret;
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
		return lmsg(ld, -EINVAL,
		            "%s: control characters or longer than %d "
		            "characters",
		            name, CONFIG_MAX_STRING);
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

/*
 * consul-template's log level variables, first set one wins (its
 * stringFromEnv), trimmed; below files and flags, as there.
 */
static int env_log_level(struct load *ld)
{
	static const char *const names[] = {"CT_LOG", "CONSUL_TEMPLATE_LOG",
	                                    "CONSUL_TEMPLATE_LOG_LEVEL"};
	const char *s = NULL, *name = NULL;
	char *v, *end;
	int lvl;

	for (size_t i = 0; i < sizeof(names) / sizeof(*names) && s == NULL;
	     i++) {
		s = getenv(names[i]);
		if (s != NULL && *s == '\0')
			s = NULL;
		name = names[i];
	}
	if (s == NULL)
		return 0;
	v = xstrdup(s + strspn(s, " \t\r\n"));
	for (end = v + strlen(v); end > v && strchr(" \t\r\n", end[-1]);)
		*--end = '\0';
	if ((lvl = log_level_parse(v)) < 0) {
		lmsg(ld, -EINVAL,
		     "%s: unknown level \"%.64s\" (expected trace, debug, "
		     "info, warn or err)",
		     name, v);
		free(v);
		return -EINVAL;
	}
	free(v);
	free(ld->c->log_level);
	ld->c->log_level = xstrdup(log_level_name((enum log_level)lvl));
	return 0;
}

static int apply_env(struct load *ld)
{
	struct consul_conf *cc = &ld->c->consul;
	const char *s;
	bool b;
	int ret = 0;

	/*
	 * consul-template takes the first set of CONSUL_TOKEN,
	 * CONSUL_HTTP_TOKEN (and of CONSUL_TOKEN_FILE, CONSUL_HTTP_TOKEN_FILE):
	 * the second is read first, so the first wins.
	 */
	static const struct {
		const char *name;
		size_t off;
	} vars[] = {
	        {"CONSUL_HTTP_ADDR", offsetof(struct consul_conf, address)},
	        {"CONSUL_HTTP_TOKEN", offsetof(struct consul_conf, token)},
	        {"CONSUL_TOKEN", offsetof(struct consul_conf, token)},
	        {"CONSUL_HTTP_TOKEN_FILE",
	         offsetof(struct consul_conf, token_file)},
	        {"CONSUL_TOKEN_FILE", offsetof(struct consul_conf, token_file)},
	        {"CONSUL_CACERT", offsetof(struct consul_conf, ssl.ca_cert)},
	        {"CONSUL_CAPATH", offsetof(struct consul_conf, ssl.ca_path)},
	        {"CONSUL_CLIENT_CERT", offsetof(struct consul_conf, ssl.cert)},
	        {"CONSUL_CLIENT_KEY", offsetof(struct consul_conf, ssl.key)},
	        {"CONSUL_TLS_SERVER_NAME",
	         offsetof(struct consul_conf, ssl.server_name)},
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++)
		if (env_string(ld, vars[i].name,
		               (char **)(void *)((char *)cc + vars[i].off)) < 0)
			ret = -EINVAL;
	if (cc->ssl.server_name != NULL) {
		/* Consul strips a :port (net.SplitHostPort). */
		char *colon = strrchr(cc->ssl.server_name, ':');

		if (colon != NULL && strchr(cc->ssl.server_name, ':') == colon)
			*colon = '\0';
	}
	if ((s = getenv("CONSUL_HTTP_SSL")) != NULL && *s != '\0') {
		if (bool_parse(s, &b) < 0) {
			ret = lmsg(ld, -EINVAL,
			           "CONSUL_HTTP_SSL: expected true or "
			           "false, got \"%.64s\"",
			           s);
		} else {
			cc->ssl.enabled = b;
			ld->ssl_enabled_set = true;
		}
	}
	/* Unlike the Go client, an unparsable value keeps verification on. */
	if ((s = getenv("CONSUL_HTTP_SSL_VERIFY")) != NULL &&
	    bool_parse(s, &b) == 0)
		cc->ssl.verify = b;
	if (cc->token != NULL && !config_token_valid(cc->token))
		ret = lmsg(ld, -EINVAL,
		           "CONSUL_HTTP_TOKEN/CONSUL_TOKEN: only printable "
		           "characters without spaces are allowed");
	if (env_log_level(ld) < 0)
		ret = -EINVAL;
	return ret;
}

/*
 * CT_LOCAL_CONFIG: a whole config document in the environment. In
 * consul-template it is merged into the command-line config, so it
 * overrides the -config files and the flags override it.
 */
static int apply_env_config(struct load *ld)
{
	const char *s = getenv("CT_LOCAL_CONFIG");

	if (s == NULL || *s == '\0')
		return 0;
	return load_text(ld, "CT_LOCAL_CONFIG", s, strlen(s));
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
	FS_DIFF,
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
        /* consul-template's older spelling of -consul-retry-backoff. */
        {"retry", FLAG_STRING, FS_PATH, "consul.retry.backoff"},
        {"default-left-delimiter", FLAG_STRING, FS_PATH,
         "default_delimiters.left"},
        {"default-right-delimiter", FLAG_STRING, FS_PATH,
         "default_delimiters.right"},
        {"template", FLAG_STRING, FS_TEMPLATE, NULL},
        {"wait", FLAG_STRING, FS_PATH, "wait"},
        {"once", FLAG_BOOL, FS_ONCE, NULL},
        {"dry", FLAG_BOOL, FS_DRY, NULL},
        {"diff", FLAG_BOOL, FS_DIFF, NULL},
        {"metrics-textfile", FLAG_STRING, FS_PATH, "metrics.textfile"},
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

/*
 * consul-template's flags (v0.42.1, cli.go) that consul-hosts does not
 * implement: rejected with the feature they belong to, not as a typo.
 * Knowing which take a value lets the scan go on past them.
 */
static const struct {
	const char *name; /* a name, or a prefix ending in '-' */
	bool takes_value;
	const char *feature;
} flags_unsupported[] = {
        {"consul-auth", true, "Consul basic authentication"},
        {"consul-transport-disable-keep-alives", false, "consul.transport"},
        {"consul-transport-", true, "consul.transport"},
        {"dedup", false, "dedup mode"},
        {"exec-env-pristine", false, "exec mode"},
        {"exec", true, "exec mode"},
        {"exec-", true, "exec mode"},
        {"log-file", true, "log_file; it logs to stderr or the journal"},
        {"log-rotate-", true, "log_file; it logs to stderr or the journal"},
        {"syslog", false, "syslog; it logs to stderr or the journal"},
        {"syslog-", true, "syslog; it logs to stderr or the journal"},
        {"template-error-fatal", false,
         "template_error_fatal; a template error keeps the last good "
         "file"},
        {"vault-renew-token", false, "Vault"},
        {"vault-retry", false, "Vault"},
        {"vault-ssl", false, "Vault"},
        {"vault-ssl-verify", false, "Vault"},
        {"vault-transport-disable-keep-alives", false, "Vault"},
        {"vault-unwrap-token", false, "Vault"},
        {"vault-", true, "Vault"},
};

/* -1: not a consul-template flag we know of. */
static int flag_unsupported(const char *name, size_t len)
{
	for (size_t i = 0;
	     i < sizeof(flags_unsupported) / sizeof(*flags_unsupported); i++) {
		const char *u = flags_unsupported[i].name;
		size_t ul = strlen(u);

		if (u[ul - 1] == '-' ? (len > ul && strncmp(name, u, ul) == 0)
		                     : (len == ul && strncmp(name, u, ul) == 0))
			return (int)i;
	}
	return -1;
}

static int flag_unknown(struct load *ld, const char *name, size_t len)
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
		r = lmsg(ld, -EINVAL,
		         "unknown flag \"-%.100s\"; did you mean \"-%s\"?",
		         word, hint);
	else
		r = lmsg(ld, -EINVAL, "unknown flag \"-%.100s\" (see -help)",
		         word);
	free(word);
	return r;
}

/*
 * Split argv into flag uses. -h and -v stop the scan (help wins over
 * everything after it). *ret has argc entries at most. Every error is
 * recorded; the scan goes on where the next argument is known to be a
 * flag, and stops at an unknown flag (its value, if it takes one, would
 * read as an argument).
 */
static int flags_scan(struct load *ld, int argc, char **argv,
                      struct flag_use *uses, size_t *ret_n,
                      enum config_action *ret_action)
{
	size_t n = 0;
	int ret = 0, k;

	*ret_action = CONFIG_RUN;
	*ret_n = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq;
		const struct flag_def *def;
		struct flag_use *u;
		size_t len;

		if (strcmp(a, "--") == 0) {
			if (i + 1 < argc)
				ret = lmsg(ld, -EINVAL,
				           "unexpected argument \"%.100s\"",
				           argv[i + 1]);
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			ret = lmsg(ld, -EINVAL,
			           "unexpected argument \"%.100s\" (flags "
			           "start with \"-\")",
			           a);
			continue;
		}
		name = a[1] == '-' ? a + 2 : a + 1;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		if ((def = flag_find(name, len)) == NULL &&
		    (k = flag_unsupported(name, len)) >= 0) {
			ret = lmsg(ld, -EINVAL,
			           "-%.*s: not supported by consul-hosts (%s)",
			           (int)len, name,
			           flags_unsupported[k].feature);
			if (flags_unsupported[k].takes_value && eq == NULL)
				i++;
			continue;
		}
		if (def == NULL) {
			ret = flag_unknown(ld, name, len);
			break;
		}
		u = &uses[n];
		u->def = def;
		u->value = NULL;
		u->on = true;
		if (def->kind == FLAG_BOOL) {
			if (eq != NULL && bool_parse(eq + 1, &u->on) < 0) {
				ret = lmsg(ld, -EINVAL,
				           "-%s: expected true or false, got "
				           "\"%.64s\"",
				           def->name, eq + 1);
				continue;
			}
		} else if (eq != NULL) {
			u->value = eq + 1;
		} else if (i + 1 < argc) {
			u->value = argv[++i];
		} else {
			ret = lmsg(ld, -EINVAL, "-%s: needs a value",
			           def->name);
			break;
		}
		if ((def->special == FS_CONFIG ||
		     def->special == FS_TEMPLATE) &&
		    u->value != NULL && *u->value == '\0') {
			ret = lmsg(ld, -EINVAL, "-%s: needs a value",
			           def->name);
			continue;
		}
		n++;
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
	return ret;
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
			r = lmsg(ld, -EINVAL, "-template: not valid UTF-8");
		else
			r = apply_template(v, obj, ld);
		json_decref(obj);
		return r;
	}
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (c1 == NULL || c1 == s || c1[1] == '\0' || c2 == c1 + 1 ||
	    (c2 != NULL && c2[1] == '\0'))
		return lmsg(ld, -EINVAL,
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
		return lmsg(ld, -EINVAL, "-template: not valid UTF-8");
	}
	r = apply_template(v, obj, ld);
	json_decref(obj);
	return r;
}

static int flags_apply(struct load *ld, const struct flag_use *uses, size_t n)
{
	struct config *c = ld->c;
	int ret = 0;

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
		case FS_DIFF:
			c->diff = u->on;
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
			ret = r;
	}
	return ret;
}

/* ---- after everything: defaults that depend on others, cross checks */

int config_read_token_file(const char *path, char **ret, struct err *e)
{
	struct read_file rf;
	struct buf b;
	char *s, *end;
	int r;

	buf_init(&b, 0);
	r = read_file(path, CONFIG_MAX_TOKEN_FILE,
	              READ_FILE_REGULAR | READ_FILE_SECRET, &b, &rf);
	if (r < 0) {
		buf_free(&b);
		if (rf.step == READ_FILE_TYPE)
			return err_set(e, -EINVAL, path, 0, 0,
			               "token_file: not a regular file");
		if (rf.step == READ_FILE_LIMIT)
			return err_set(e, r, path, 0, 0,
			               "token_file: larger than %d bytes",
			               CONFIG_MAX_TOKEN_FILE);
		return err_set(e, r, path, 0, 0, "token_file: %s",
		               strerror(-r));
	}
	if (b.len == 0 || strlen(b.data) != b.len) { /* empty, or a NUL */
		explicit_bzero(b.data, b.cap);
		buf_free(&b);
		return err_set(e, -EINVAL, path, 0, 0,
		               "token_file: expected one token of printable "
		               "characters");
	}
	for (s = b.data; *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r';)
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	                   end[-1] == '\n' || end[-1] == '\r'))
		end--;
	*end = '\0';
	if (!config_token_valid(s) || *s == '\0')
		r = -EINVAL;
	if (r == 0)
		*ret = xstrdup(s);
	explicit_bzero(b.data, b.cap);
	buf_free(&b);
	if (r < 0)
		return err_set(e, r, path, 0, 0,
		               "token_file: expected one token of printable "
		               "characters");
	return 0;
}

static int read_token_file(struct load *ld)
{
	struct consul_conf *cc = &ld->c->consul;
	struct err e;
	char *token;
	int r;

	err_clear(&e);
	if ((r = config_read_token_file(cc->token_file, &token, &e)) < 0)
		return lnote(ld, r, &e);
	free(cc->token);
	cc->token = token;
	return 0;
}

/* Every cross check runs, each one's error recorded; returns the last. */
static int finalize(struct load *ld)
{
	struct config *c = ld->c;
	struct tls_conf *t = &c->consul.ssl;
	struct retry_conf *rc = &c->consul.retry;
	/* Errors before the checks: they may hide templates or set fields. */
	bool clean = lcount(ld) == 0;
	char a[32], b[32];
	int ret = 0;

	if (c->consul.address == NULL)
		c->consul.address = xstrdup(CONFIG_DEFAULT_ADDRESS);
	if (strchr(c->consul.address, ' ') != NULL ||
	    (strstr(c->consul.address, "://") != NULL &&
	     strncmp(c->consul.address, "http://", 7) != 0 &&
	     strncmp(c->consul.address, "https://", 8) != 0 &&
	     strncmp(c->consul.address, "unix://", 7) != 0))
		ret = lmsg(ld, -EINVAL,
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
		ret = lmsg(ld, -EINVAL,
		           "consul.ssl: key is set but cert is not");
	/*
	 * consul-template reads max_backoff = 0 as "no limit": its backoff
	 * then doubles until attempts run out. The daemon here never runs
	 * out of attempts, so it needs a ceiling.
	 */
	if (rc->max_backoff_ms == 0)
		ret = lmsg(ld, -EINVAL,
		           "consul.retry: max_backoff 0 (no limit, in "
		           "consul-template) is not supported: consul-hosts "
		           "retries for as long as it runs and needs a "
		           "ceiling; give a duration such as \"1m\"");
	else if (rc->max_backoff_ms < rc->backoff_ms)
		ret = lmsg(ld, -EINVAL,
		           "consul.retry: max_backoff (%s) is less than "
		           "backoff (%s)",
		           duration_format(rc->max_backoff_ms, a, sizeof(a)),
		           duration_format(rc->backoff_ms, b, sizeof(b)));
	if (c->consul.token_file != NULL && read_token_file(ld) < 0)
		ret = -EINVAL;
	if (c->kill_signal != 0 && c->kill_signal == c->reload_signal)
		ret = lmsg(ld, -EINVAL,
		           "kill_signal and reload_signal are the same "
		           "signal");
	/* -explain renders once, prints, writes nothing: with no template
	 * of its own, the default hosts template (templates/hosts.tmpl). */
	if (c->explain != NULL) {
		c->once = true;
		c->dry = true;
	}
	if (clean && c->ntemplates == 0 && c->explain != NULL) {
		struct tmpl_conf *tc = template_add(ld);

		tc->contents = xstrdup(config_default_template);
		tc->origin = xstrdup("the default template");
	}
	/* -diff prints what would change: a dry run against each
	 * destination, so each needs one. */
	if (c->diff)
		c->dry = true;
	if (clean && c->ntemplates == 0 && c->explain == NULL)
		ret = lmsg(ld, -EINVAL,
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
		if (ts->failed)
			continue;
		if (tc->destination == NULL && c->diff)
			ret = lmsg(ld, -EINVAL,
			           "-diff: %s \"%.200s\" has no destination "
			           "to compare the render with",
			           tc->origin, tc->source ? tc->source : "");
		else if (tc->destination == NULL && !c->dry &&
		         ts->file[0] == '\0')
			ret = lmsg(ld, -EINVAL,
			           "%s \"%.200s\": needs a destination "
			           "(\"source:destination\"); only -dry, "
			           "which prints to stdout, can do without",
			           tc->origin, tc->source ? tc->source : "");
		else if (tc->destination == NULL && !c->dry)
			ret = lerr(ld, -EINVAL, ts->file, ts->line, ts->col,
			           "template: needs a destination (only "
			           "-dry, which prints to stdout, can do "
			           "without)");
		for (size_t j = 0; j < i && tc->destination != NULL; j++) {
			if (c->templates[j].destination == NULL ||
			    strcmp(c->templates[j].destination,
			           tc->destination) != 0)
				continue;
			ret = lerr(ld, -EINVAL, ts->file, ts->line, ts->col,
			           "template: destination \"%.200s\" is "
			           "also written by the template at %s",
			           tc->destination, c->templates[j].origin);
			break;
		}
	}
	return ret;
}

/* ---- load, free ---- */

static struct config *config_defaults(void)
{
	struct config *c = xcalloc(1, sizeof(*c));

	c->consul.ssl.verify = true;
	c->consul.retry.enabled = true;
	c->consul.retry.attempts = 12; /* consul-template's defaults */
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

/* The load's result: the config, or the first error's code. */
static int load_finish(struct load *ld, struct config **ret)
{
	int r = 0;

	load_done(ld);
	if (lcount(ld) > 0) {
		r = ld->first_code;
		config_free(ld->c);
		ld->c = NULL;
	}
	*ret = ld->c;
	return r;
}

int config_load(int argc, char **argv, struct config **ret,
                enum config_action *ret_action, struct err *e,
                struct err_list *all)
{
	struct err_list local = {NULL, 0, 0};
	struct flag_use *uses;
	struct load ld;
	size_t n = 0, nconfig = 0;
	int r;

	err_clear(e);
	*ret = NULL;
	memset(&ld, 0, sizeof(ld));
	ld.e = e;
	ld.errs = all != NULL ? all : &local;
	uses = xcalloc((size_t)(argc > 0 ? argc : 1), sizeof(*uses));
	(void)flags_scan(&ld, argc, argv, uses, &n, ret_action);
	if (*ret_action != CONFIG_RUN) {
		/* -h and -v win over whatever came before them. */
		err_clear(e);
		err_list_free(ld.errs);
		free(uses);
		return 0;
	}
	ld.c = config_defaults();
	ld.c->argc = argc;
	ld.c->argv = xcalloc((size_t)argc + 1, sizeof(char *));
	for (int i = 0; i < argc; i++)
		ld.c->argv[i] = xstrdup(argv[i]);

	(void)apply_env(&ld);
	for (size_t i = 0; i < n; i++) {
		if (uses[i].def->special != FS_CONFIG)
			continue;
		if (++nconfig > CONFIG_MAX_PATHS) {
			lmsg(&ld, -EINVAL, "-config: more than %d paths",
			     CONFIG_MAX_PATHS);
			break;
		}
		ld.c->config_paths = xreallocarray(ld.c->config_paths, nconfig,
		                                   sizeof(char *));
		ld.c->config_paths[nconfig - 1] = xstrdup(uses[i].value);
		ld.c->nconfig_paths = nconfig;
		(void)load_path(&ld, uses[i].value);
	}
	(void)apply_env_config(&ld);
	(void)flags_apply(&ld, uses, n);
	(void)finalize(&ld);
	free(uses);
	r = load_finish(&ld, ret);
	err_list_free(&local);
	return r;
}

int config_parse_text(const char *name, const char *text, size_t len,
                      struct config **ret, struct err *e)
{
	struct err_list local = {NULL, 0, 0};
	struct load ld;
	int r;

	err_clear(e);
	memset(&ld, 0, sizeof(ld));
	ld.c = config_defaults();
	ld.e = e;
	ld.errs = &local;
	(void)load_text(&ld, name, text, len);
	(void)finalize(&ld);
	r = load_finish(&ld, ret);
	err_list_free(&local);
	return r;
}

int config_reload(const struct config *old, struct config **ret, struct err *e,
                  struct err_list *all)
{
	enum config_action action;
	int r;

	r = config_load(old->argc, old->argv, ret, &action, e, all);
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
	free(c->metrics_textfile);
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
	       "  -config PATH             HCL/JSON file, or a directory whose "
	       "files (all,\n"
	       "                           recursively) are config "
	       "(repeatable)\n"
	       "  -template SRC:DEST[:CMD] add a template (repeatable)\n"
	       "  -once                    render once, then exit\n"
	       "  -dry                     write renders to stdout, run no "
	       "command\n"
	       "  -diff                    print a unified diff of each "
	       "destination against\n"
	       "                           what would be written (implies "
	       "-dry; "
	       "with -once:\n"
	       "                           exit 0 same, 1 different, 2 "
	       "trouble, "
	       "as diff(1))\n"
	       "  -parse-only, -check-config, -n\n"
	       "                           check config and templates, then "
	       "exit\n"
	       "  -wait MIN[:MAX]          quiescence before rendering "
	       "(off)\n"
	       "  -explain NAME            render once and print each node's "
	       "first address\n"
	       "                           for NAME (or SERVICE.service.*) "
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
	       "  -default-left-delimiter S, -default-right-delimiter S\n"
	       "                           template delimiters ({{ and }})\n"
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
	       "  -consul-retry=BOOL       false: -once gives up at the first "
	       "failure (true)\n"
	       "  -consul-retry-attempts N -once gives up after N retries "
	       "(12; 0: never)\n"
	       "                           The daemon never gives up: it "
	       "retries for as long\n"
	       "                           as it runs and keeps the last good "
	       "file meanwhile.\n"
	       "  -consul-retry-backoff D  first retry delay, doubling per "
	       "failure (250ms)\n"
	       "  -consul-retry-max-backoff D\n"
	       "                           longest delay (1m; 0, no limit in "
	       "consul-template,\n"
	       "                           is an error)\n"
	       "  -max-stale D             allow stale reads this old (2s; 0 "
	       "disables)\n"
	       "\n"
	       "Process:\n"
	       "  -log-level LEVEL         trace|debug|info|warn|err (info)\n"
	       "  -pid-file PATH           write the pid here\n"
	       "  -kill-signal SIG         graceful stop (SIGTERM; SIGTERM and "
	       "SIGINT always\n"
	       "                           stop: exit 0, pid file removed)\n"
	       "  -reload-signal SIG       re-read config (SIGHUP; \"\": none, "
	       "SIGHUP is ignored)\n"
	       "  -metrics-textfile PATH   write Prometheus metrics there "
	       "(*.prom, for\n"
	       "                           node_exporter's textfile "
	       "collector)\n"
	       "  -v, -version             print the version\n"
	       "  -h, -help                print this help\n"
	       "\n"
	       "Exit status: 0 ok, 1 runtime failure, 2 usage or config "
	       "error.\n"
	       "See consul-hosts(8) for every config file option.\n";
}
