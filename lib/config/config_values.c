/*
 * A config load's messages (every error recorded with file:line:col, a
 * "did you mean" for an unknown key) and the typed getters each key's
 * value goes through (string, line, bool, duration, number, signal,
 * command).
 */
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

#include "config/config_priv.h"

/* ---- messages ---- */

/*
 * Every error goes through these: it is recorded in ld->errs and the
 * first one is also copied to the caller's struct err, so a load reports
 * all its errors at once and config_load's one-error API still works.
 */
int cfg_lnote(struct load *ld, int code, const struct err *e)
{
	if (ld->nerrs++ == 0) {
		ld->first_code = code < 0 ? code : -EINVAL;
		if (ld->e != NULL)
			*ld->e = *e;
	}
	err_list_add(ld->errs, e);
	return code;
}

int cfg_lerr(struct load *ld, int code, const char *file, int line, int col,
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
	return cfg_lnote(ld, code, &e);
}

/* Errors recorded by this load so far. */
size_t cfg_lcount(const struct load *ld)
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
const char *cfg_suggest(const char *word, const char *const *names)
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

const char *cfg_json_kind(const json_t *v)
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
	return cfg_lerr(v->ld, -EINVAL, v->file, l.line, l.col, "%s", msg);
}

/* An error at the value of obj.key. */
int cfg_fail_value(struct vctx *v, const json_t *obj, const char *key,
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
int cfg_fail_key(struct vctx *v, const json_t *obj, const char *key,
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

int cfg_fail_index(struct vctx *v, const json_t *arr, size_t i, const char *fmt,
                   ...)
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
const char *cfg_name_of(const struct vctx *v, const char *key)
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
int cfg_unknown_key(struct vctx *v, const json_t *obj, const char *key,
                    const char *where, const char *const *known,
                    const char *const *unsupported)
{
	const char *hint;

	for (; unsupported != NULL && *unsupported != NULL; unsupported++)
		if (strcmp(key, *unsupported) == 0)
			return cfg_fail_key(
			        v, obj, key,
			        "\"%s\" is not supported by consul-hosts%s%s%s",
			        key, unsupported_why(key) ? " (" : "",
			        unsupported_why(key) ? unsupported_why(key)
			                             : "",
			        unsupported_why(key) ? ")" : "");
	hint = cfg_suggest(key, known);
	if (hint != NULL)
		return cfg_fail_key(
		        v, obj, key,
		        "unknown key \"%s\" %s; did you mean \"%s\"?", key,
		        where, hint);
	return cfg_fail_key(v, obj, key, "unknown key \"%s\" %s", key, where);
}

/* ---- typed getters ---- */

bool cfg_string_is_clean(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return false;
	return true;
}

int cfg_want_string(struct vctx *v, const json_t *obj, const char *key,
                    const json_t *val, char **dst)
{
	const char *s;

	if (!json_is_string(val))
		return cfg_fail_value(v, obj, key,
		                      "%s: expected a string, got %s",
		                      cfg_name_of(v, key), cfg_json_kind(val));
	s = json_string_value(val);
	if (json_string_length(val) > CONFIG_MAX_STRING)
		return cfg_fail_value(v, obj, key,
		                      "%s: longer than %d characters",
		                      cfg_name_of(v, key), CONFIG_MAX_STRING);
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

/* A single-line string: no control characters (paths, names, tokens). */
int cfg_want_line(struct vctx *v, const json_t *obj, const char *key,
                  const json_t *val, char **dst)
{
	int r;

	if ((r = cfg_want_string(v, obj, key, val, dst)) < 0)
		return r;
	if (!cfg_string_is_clean(*dst))
		return cfg_fail_value(v, obj, key,
		                      "%s: control characters are not allowed",
		                      cfg_name_of(v, key));
	return 0;
}

/* Like cfg_want_line, but "" is an error. */
int cfg_want_nonempty(struct vctx *v, const json_t *obj, const char *key,
                      const json_t *val, char **dst)
{
	int r;

	if ((r = cfg_want_line(v, obj, key, val, dst)) < 0)
		return r;
	if (**dst == '\0')
		return cfg_fail_value(v, obj, key, "%s: must not be empty",
		                      cfg_name_of(v, key));
	return 0;
}

int cfg_want_bool(struct vctx *v, const json_t *obj, const char *key,
                  const json_t *val, bool *dst)
{
	if (!json_is_boolean(val))
		return cfg_fail_value(v, obj, key,
		                      "%s: expected true or false, got %s",
		                      cfg_name_of(v, key), cfg_json_kind(val));
	*dst = json_is_true(val);
	return 0;
}

int cfg_parse_duration_value(struct vctx *v, const json_t *obj, const char *key,
                             const char *s, uint64_t *dst)
{
	int r = duration_parse(s, dst);

	if (r == -ERANGE)
		return cfg_fail_value(v, obj, key,
		                      "%s: duration \"%s\" is too long",
		                      cfg_name_of(v, key), s);
	if (r < 0)
		return cfg_fail_value(
		        v, obj, key,
		        "%s: invalid duration \"%s\" (expected a "
		        "number and unit like \"250ms\", \"5s\" or "
		        "\"1m30s\")",
		        cfg_name_of(v, key), s);
	return 0;
}

int cfg_want_duration(struct vctx *v, const json_t *obj, const char *key,
                      const json_t *val, uint64_t *dst)
{
	if (json_is_integer(val) && json_integer_value(val) == 0) {
		*dst = 0;
		return 0;
	}
	if (!json_is_string(val))
		return cfg_fail_value(
		        v, obj, key,
		        "%s: expected a duration like \"5s\", got %s",
		        cfg_name_of(v, key), cfg_json_kind(val));
	return cfg_parse_duration_value(v, obj, key, json_string_value(val),
	                                dst);
}

int cfg_want_uint(struct vctx *v, const json_t *obj, const char *key,
                  const json_t *val, unsigned max, unsigned *dst)
{
	json_int_t n;

	if (!json_is_integer(val))
		return cfg_fail_value(v, obj, key,
		                      "%s: expected a whole number, got %s",
		                      cfg_name_of(v, key), cfg_json_kind(val));
	n = json_integer_value(val);
	if (n < 0 || (unsigned long long)n > max)
		return cfg_fail_value(v, obj, key,
		                      "%s: %lld is out of range (0 to %u)",
		                      cfg_name_of(v, key), (long long)n, max);
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
int cfg_want_signal(struct vctx *v, const json_t *obj, const char *key,
                    const json_t *val, bool reload, int *dst)
{
	const char *s;
	int i, sig;

	if (!json_is_string(val))
		return cfg_fail_value(
		        v, obj, key,
		        "%s: expected a signal name like \"SIGHUP\", "
		        "got %s",
		        cfg_name_of(v, key), cfg_json_kind(val));
	s = json_string_value(val);
	i = *s == '\0' ? 0 : signal_find(s);
	if (i < 0)
		return cfg_fail_value(
		        v, obj, key,
		        "%s: unknown signal \"%.64s\" (expected " SIGNALS_USABLE
		        ", or \"\" for none)",
		        cfg_name_of(v, key), s);
	if (signal_names[i].why_not != NULL)
		return cfg_fail_value(v, obj, key,
		                      "%s: %s %s (expected " SIGNALS_USABLE
		                      ", or \"\" for none)",
		                      cfg_name_of(v, key), signal_names[i].name,
		                      signal_names[i].why_not);
	sig = signal_names[i].sig;
	if (reload && (sig == SIGTERM || sig == SIGINT))
		return cfg_fail_value(
		        v, obj, key,
		        "%s: %s always stops consul-hosts (systemd "
		        "stops services with SIGTERM); choose another "
		        "reload signal",
		        cfg_name_of(v, key), signal_names[i].name);
	*dst = sig;
	return 0;
}

/* A command: a string for sh -c, or a list of words, quoted and joined. */
int cfg_want_command(struct vctx *v, const json_t *obj, const char *key,
                     const json_t *val, char **dst)
{
	struct buf b;
	size_t i;
	json_t *w;

	if (json_is_string(val)) {
		if (json_string_length(val) > CONFIG_MAX_STRING ||
		    strlen(json_string_value(val)) == 0)
			return cfg_fail_value(
			        v, obj, key,
			        "%s: expected a command of 1 to %d "
			        "characters",
			        cfg_name_of(v, key), CONFIG_MAX_STRING);
		free(*dst);
		*dst = xstrdup(json_string_value(val));
		return 0;
	}
	if (!json_is_array(val))
		return cfg_fail_value(
		        v, obj, key,
		        "%s: expected a string or a list of strings, "
		        "got %s",
		        cfg_name_of(v, key), cfg_json_kind(val));
	if (json_array_size(val) == 0)
		return cfg_fail_value(v, obj, key, "%s: the list is empty",
		                      cfg_name_of(v, key));
	buf_init(&b, CONFIG_MAX_STRING * 2);
	json_array_foreach(val, i, w)
	{
		if (!json_is_string(w)) {
			buf_free(&b);
			return cfg_fail_index(
			        v, val, i, "%s: expected a string, got %s",
			        cfg_name_of(v, key), cfg_json_kind(w));
		}
		if (i > 0)
			buf_putc(&b, ' ');
		buf_shell_quote(&b, json_string_value(w), true);
	}
	if (b.len > CONFIG_MAX_STRING) {
		buf_free(&b);
		return cfg_fail_value(v, obj, key,
		                      "%s: longer than %d characters",
		                      cfg_name_of(v, key), CONFIG_MAX_STRING);
	}
	free(*dst);
	*dst = buf_take(&b, NULL);
	return 0;
}

/* ---- a block's key table ---- */

int cfg_apply_keys(struct vctx *v, json_t *obj, void *target,
                   const struct key_def *defs, const char *where,
                   const char *const *unsupported)
{
	const char *names[CONFIG_MAX_BLOCK_KEYS + 1];
	const struct key_def *d;
	const char *key;
	json_t *val;
	size_t n = 0;
	int ret = 0, r;

	for (d = defs; d->name != NULL && n < CONFIG_MAX_BLOCK_KEYS; d++)
		names[n++] = d->name;
	names[n] = NULL;
	json_object_foreach(obj, key, val)
	{
		char *field;

		for (d = defs; d->name != NULL; d++)
			if (strcmp(key, d->name) == 0)
				break;
		field = (char *)target + d->offset;
		switch (d->name == NULL ? KEY_NONE : d->kind) {
		case KEY_NONE:
			r = cfg_unknown_key(v, obj, key, where, names,
			                    unsupported);
			break;
		case KEY_BOOL:
			r = cfg_want_bool(v, obj, key, val, (bool *)field);
			break;
		case KEY_STRING:
			r = cfg_want_string(v, obj, key, val, (char **)field);
			break;
		case KEY_NONEMPTY:
			r = cfg_want_nonempty(v, obj, key, val, (char **)field);
			break;
		case KEY_LINE:
			r = cfg_want_line(v, obj, key, val, (char **)field);
			break;
		case KEY_DURATION:
			r = cfg_want_duration(v, obj, key, val,
			                      (uint64_t *)field);
			break;
		case KEY_UINT:
			r = cfg_want_uint(v, obj, key, val, d->max,
			                  (unsigned *)field);
			break;
		case KEY_COMMAND:
			r = cfg_want_command(v, obj, key, val, (char **)field);
			break;
		case KEY_FN:
		default:
			r = d->fn(v, obj, key, val, target);
			break;
		}
		if (r < 0)
			ret = r;
	}
	return ret;
}
