/*
 * The configuration's keys: one apply_* function per block (consul, ssl,
 * retry, wait, order, metrics, exec, guard, template, the top level), each
 * with its table of known and unsupported keys, and the template block's
 * defaults.
 *
 * Map:
 *   blocks             want_blocks, wait, ssl, retry, consul, order,
 *                      metrics, delimiters
 *   template blocks    defaults (CONFIG_DEFAULT_*), denylist, perms,
 *                      owner, exec, format, guard, apply_template
 *   top level          sizes, reserved names, apply_root
 * Every block's keys are a table (struct key_def, config_priv.h) that
 * drives parsing and the "did you mean" list: adding a key is one entry
 * (plus a reader when its value needs more than a type). Flags
 * (config_flags.c) and -h's text are still their own tables.
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
		return cfg_fail_value(v, obj, key,
		                      "%s: expected a block, got %s",
		                      cfg_name_of(v, key), cfg_json_kind(val));
	json_array_foreach(val, i, b)
	{
		if (!json_is_object(b)) {
			ret = cfg_fail_index(
			        v, val, i, "%s: expected a block, got %s",
			        cfg_name_of(v, key), cfg_json_kind(b));
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
		return cfg_fail_value(v, obj, key,
		                      "%s: max (%s) is less than min (%s)",
		                      cfg_name_of(v, key),
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
			r = cfg_want_duration(v, obj, key, val, &nw.min_ms);
			min_given = true;
		} else if (strcmp(key, "max") == 0) {
			r = cfg_want_duration(v, obj, key, val, &nw.max_ms);
			max_given = true;
		} else {
			r = cfg_unknown_key(v, obj, key, "in wait block", keys,
			                    NULL);
		}
		if (r < 0)
			ret = r;
	}
	if (ret < 0)
		return ret;
	if (!min_given && max_given)
		return cfg_fail_value(v, obj, "max", "%s: max without min",
		                      cfg_name_of(v, "wait"));
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
		return cfg_fail_value(
		        v, obj, key,
		        "%s: expected \"min[:max]\" like \"5s:30s\" or "
		        "a block, got %s",
		        cfg_name_of(v, key), cfg_json_kind(val));
	s = json_string_value(val);
	colon = strchr(s, ':');
	min = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
	r = cfg_parse_duration_value(v, obj, key, min, &nw.min_ms);
	free(min);
	if (r < 0)
		return r;
	if (colon != NULL && (r = cfg_parse_duration_value(
	                              v, obj, key, colon + 1, &nw.max_ms)) < 0)
		return r;
	if ((r = wait_check(v, obj, key, &nw, colon != NULL)) < 0)
		return r;
	*w = nw;
	return 0;
}

static int ssl_enabled(struct vctx *v, const json_t *obj, const char *key,
                       json_t *val, void *target)
{
	struct tls_conf *t = target;

	v->ld->ssl_enabled_set = true;
	return cfg_want_bool(v, obj, key, val, &t->enabled);
}

static int apply_ssl(struct vctx *v, json_t *obj, void *target)
{
	static const struct key_def keys[] = {
	        KEY_CALL("enabled", ssl_enabled),
	        KEY("verify", KEY_BOOL, struct tls_conf, verify),
	        KEY("cert", KEY_NONEMPTY, struct tls_conf, cert),
	        KEY("key", KEY_NONEMPTY, struct tls_conf, key),
	        KEY("ca_cert", KEY_NONEMPTY, struct tls_conf, ca_cert),
	        KEY("ca_path", KEY_NONEMPTY, struct tls_conf, ca_path),
	        KEY("server_name", KEY_NONEMPTY, struct tls_conf, server_name),
	        {NULL, KEY_NONE, 0, 0, NULL},
	};

	return cfg_apply_keys(v, obj, target, keys, "in consul.ssl block",
	                      NULL);
}

static int apply_retry(struct vctx *v, json_t *obj, void *target)
{
	static const struct key_def keys[] = {
	        KEY("enabled", KEY_BOOL, struct retry_conf, enabled),
	        KEY_MAX("attempts", struct retry_conf, attempts, 1000000),
	        KEY("backoff", KEY_DURATION, struct retry_conf, backoff_ms),
	        KEY("max_backoff", KEY_DURATION, struct retry_conf,
	            max_backoff_ms),
	        {NULL, KEY_NONE, 0, 0, NULL},
	};

	return cfg_apply_keys(v, obj, target, keys, "in consul.retry block",
	                      NULL);
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

	if ((r = cfg_want_nonempty(v, obj, key, val, dst)) < 0)
		return r;
	if (strchr(*dst, ' ') != NULL || strchr(*dst, '\t') != NULL)
		return cfg_fail_value(v, obj, key, "%s: spaces are not allowed",
		                      cfg_name_of(v, key));
	if (strstr(*dst, "://") != NULL && strncmp(*dst, "http://", 7) != 0 &&
	    strncmp(*dst, "https://", 8) != 0 &&
	    strncmp(*dst, "unix://", 7) != 0)
		return cfg_fail_value(
		        v, obj, key,
		        "%s: unknown scheme in \"%.200s\" (expected "
		        "host:port, http://, https:// or unix://)",
		        cfg_name_of(v, key), *dst);
	return 0;
}

static int consul_address(struct vctx *v, const json_t *obj, const char *key,
                          json_t *val, void *target)
{
	return want_address(v, obj, key, val,
	                    &((struct consul_conf *)target)->address);
}

static int consul_token(struct vctx *v, const json_t *obj, const char *key,
                        json_t *val, void *target)
{
	struct consul_conf *cc = target;
	int r = cfg_want_string(v, obj, key, val, &cc->token);

	if (r == 0 && !config_token_valid(cc->token))
		r = cfg_fail_value(v, obj, key,
		                   "%s: only printable characters "
		                   "without spaces are allowed",
		                   cfg_name_of(v, key));
	return r;
}

static int consul_ssl(struct vctx *v, const json_t *obj, const char *key,
                      json_t *val, void *target)
{
	return want_blocks(v, obj, key, val, apply_ssl,
	                   &((struct consul_conf *)target)->ssl);
}

static int consul_retry(struct vctx *v, const json_t *obj, const char *key,
                        json_t *val, void *target)
{
	return want_blocks(v, obj, key, val, apply_retry,
	                   &((struct consul_conf *)target)->retry);
}

static int apply_consul(struct vctx *v, json_t *obj, void *target)
{
	static const struct key_def keys[] = {
	        KEY_CALL("address", consul_address),
	        KEY_CALL("token", consul_token),
	        KEY("token_file", KEY_NONEMPTY, struct consul_conf, token_file),
	        KEY_CALL("ssl", consul_ssl),
	        KEY_CALL("retry", consul_retry),
	        {NULL, KEY_NONE, 0, 0, NULL},
	};
	static const char *const unsupported[] = {"auth", "namespace",
	                                          "transport", NULL};

	return cfg_apply_keys(v, obj, target, keys, "in consul block",
	                      unsupported);
}

static const char *const order_mode_names[] = {
        [ORDER_STABLE] = "stable",     [ORDER_WEIGHTED] = "weighted",
        [ORDER_BALANCED] = "balanced", [ORDER_RANDOM] = "random",
        [ORDER_NONE] = "none",
};

int order_mode_parse(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && i < ORDER_NMODES; i++)
		if (strcmp(s, order_mode_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

const char *order_mode_name(enum order_mode m)
{
	if ((size_t)m >= ORDER_NMODES)
		return "unknown";
	return order_mode_names[m];
}

static int want_order_mode(struct vctx *v, const json_t *obj, const char *key,
                           const json_t *val, enum order_mode *dst)
{
	int mode;

	if (!json_is_string(val))
		return cfg_fail_value(v, obj, key,
		                      "%s: expected a string, got %s",
		                      cfg_name_of(v, key), cfg_json_kind(val));
	if ((mode = order_mode_parse(json_string_value(val))) < 0)
		return cfg_fail_value(
		        v, obj, key,
		        "%s: unknown mode \"%.64s\" (expected stable, "
		        "weighted, balanced, random or none)",
		        cfg_name_of(v, key), json_string_value(val));
	*dst = (enum order_mode)mode;
	return 0;
}

static int order_mode_key(struct vctx *v, const json_t *obj, const char *key,
                          json_t *val, void *target)
{
	return want_order_mode(v, obj, key, val,
	                       &((struct config *)target)->order);
}

static int apply_order(struct vctx *v, json_t *obj, void *target)
{
	static const struct key_def keys[] = {
	        KEY_CALL("mode", order_mode_key),
	        KEY("seed", KEY_LINE, struct config, order_seed),
	        {NULL, KEY_NONE, 0, 0, NULL},
	};

	return cfg_apply_keys(v, obj, target, keys, "in order block", NULL);
}

/* metrics { textfile }: node_exporter's textfile collector reads *.prom
 * files of one directory; a file of another name would never be read. */
static int metrics_textfile(struct vctx *v, const json_t *obj, const char *key,
                            json_t *val, void *target)
{
	struct config *c = target;
	const char *f;
	size_t n;
	int r;

	r = cfg_want_nonempty(v, obj, key, val, &c->metrics_textfile);
	f = r == 0 ? c->metrics_textfile : NULL;
	n = f != NULL ? strlen(f) : 0;
	if (f != NULL && f[0] != '/')
		r = cfg_fail_value(v, obj, key,
		                   "%s: expected an absolute path, "
		                   "got \"%.200s\"",
		                   cfg_name_of(v, key), f);
	else if (f != NULL &&
	         (n < 6 || strcmp(f + n - 5, ".prom") != 0 || f[n - 6] == '/'))
		r = cfg_fail_value(v, obj, key,
		                   "%s: \"%.200s\" does not end in "
		                   "\".prom\" (node_exporter's "
		                   "textfile collector reads only "
		                   "*.prom files)",
		                   cfg_name_of(v, key), f);
	return r;
}

static int apply_metrics(struct vctx *v, json_t *obj, void *target)
{
	static const struct key_def keys[] = {
	        KEY_CALL("textfile", metrics_textfile),
	        {NULL, KEY_NONE, 0, 0, NULL},
	};

	return cfg_apply_keys(v, obj, target, keys, "in metrics block", NULL);
}

static int apply_delimiters(struct vctx *v, json_t *obj, void *target)
{
	static const struct key_def keys[] = {
	        KEY("left", KEY_NONEMPTY, struct load, default_left),
	        KEY("right", KEY_NONEMPTY, struct load, default_right),
	        {NULL, KEY_NONE, 0, 0, NULL},
	};

	return cfg_apply_keys(v, obj, target, keys,
	                      "in default_delimiters block", NULL);
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

void cfg_tmpl_conf_clear(struct tmpl_conf *t)
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
		return cfg_fail_value(
		        v, obj, key,
		        "%s: expected a list of function names, got %s",
		        cfg_name_of(v, key), cfg_json_kind(val));
	while (*dst != NULL && (*dst)[n] != NULL)
		n++;
	json_array_foreach(val, i, w)
	{
		const char *s = json_string_value(w);

		if (!json_is_string(w) || *s == '\0' ||
		    json_string_length(w) > 128 || !cfg_string_is_clean(s))
			return cfg_fail_index(
			        v, val, i,
			        "%s: expected a function name or glob, "
			        "got %s",
			        cfg_name_of(v, key),
			        json_is_string(w) ? "a bad string"
			                          : cfg_json_kind(w));
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
			return cfg_fail_value(
			        v, obj, key,
			        "%s: expected a number like 0644, got "
			        "string",
			        cfg_name_of(v, key));
		n = strtoll(s, &end, 8);
	} else if (json_is_integer(val)) {
		n = json_integer_value(val);
	} else {
		return cfg_fail_value(v, obj, key,
		                      "%s: expected a number like 0644, got %s",
		                      cfg_name_of(v, key), cfg_json_kind(val));
	}
	if (n < 0 || n > 07777)
		return cfg_fail_value(v, obj, key,
		                      "%s: %#llo is out of range (0 to 07777)",
		                      cfg_name_of(v, key), n);
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
			return cfg_fail_value(
			        v, obj, key, "%s: %lld is not a valid id",
			        cfg_name_of(v, key), (long long)n);
		free(*dst);
		*dst = xasprintf("%lld", (long long)n);
		return 0;
	}
	return cfg_want_nonempty(v, obj, key, val, dst);
}

static int apply_exec(struct vctx *v, json_t *obj, void *target)
{
	static const struct key_def keys[] = {
	        KEY("command", KEY_COMMAND, struct tmpl_conf, command),
	        KEY("timeout", KEY_DURATION, struct tmpl_conf,
	            command_timeout_ms),
	        {NULL, KEY_NONE, 0, 0, NULL},
	};
	static const char *const unsupported[] = {
	        "env",           "splay",   "kill_signal", "kill_timeout",
	        "reload_signal", "enabled", NULL};

	return cfg_apply_keys(v, obj, target, keys, "in template.exec block",
	                      unsupported);
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
		return cfg_fail_value(
		        v, obj, key,
		        "%s: expected \"hosts\" (a hosts file: "
		        "checked line by line, each name's lines "
		        "ordered per node) or \"text\" (any other "
		        "file), got %s",
		        cfg_name_of(v, key),
		        s != NULL ? s : cfg_json_kind(val));
	return 0;
}

static int guard_shrink(struct vctx *v, const json_t *obj, const char *key,
                        json_t *val, void *target)
{
	struct tmpl_conf *t = target;
	double d = json_number_value(val);

	if (!json_is_number(val))
		return cfg_fail_value(v, obj, key,
		                      "%s: expected a share between "
		                      "0 and 1 like 0.5, got %s",
		                      cfg_name_of(v, key), cfg_json_kind(val));
	if (!(d >= 0.0 && d <= 1.0))
		return cfg_fail_value(v, obj, key,
		                      "%s: %g is out of range (0 "
		                      "to 1; 0 disables)",
		                      cfg_name_of(v, key), d);
	t->guard_shrink = d;
	return 0;
}

static int apply_guard(struct vctx *v, json_t *obj, void *target)
{
	static const struct key_def keys[] = {
	        KEY("enabled", KEY_BOOL, struct tmpl_conf, guard_enabled),
	        KEY_CALL("shrink", guard_shrink),
	        KEY("service_drop", KEY_BOOL, struct tmpl_conf,
	            guard_service_drop),
	        KEY("hold", KEY_DURATION, struct tmpl_conf, guard_hold_ms),
	        {NULL, KEY_NONE, 0, 0, NULL},
	};

	return cfg_apply_keys(v, obj, target, keys, "in template.guard block",
	                      NULL);
}

struct tmpl_conf *cfg_template_add(struct load *ld)
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
static int tmpl_exec(struct vctx *v, const json_t *obj, const char *key,
                     json_t *val, void *target)
{
	return want_blocks(v, obj, key, val, apply_exec, target);
}

static int tmpl_guard(struct vctx *v, const json_t *obj, const char *key,
                      json_t *val, void *target)
{
	return want_blocks(v, obj, key, val, apply_guard, target);
}

static int tmpl_perms(struct vctx *v, const json_t *obj, const char *key,
                      json_t *val, void *target)
{
	return want_perms(v, obj, key, val,
	                  &((struct tmpl_conf *)target)->perms);
}

static int tmpl_user(struct vctx *v, const json_t *obj, const char *key,
                     json_t *val, void *target)
{
	return want_owner(v, obj, key, val,
	                  &((struct tmpl_conf *)target)->user);
}

static int tmpl_group(struct vctx *v, const json_t *obj, const char *key,
                      json_t *val, void *target)
{
	return want_owner(v, obj, key, val,
	                  &((struct tmpl_conf *)target)->group);
}

static int tmpl_wait(struct vctx *v, const json_t *obj, const char *key,
                     json_t *val, void *target)
{
	v->ld->ts[v->ld->c->ntemplates - 1].wait_set = true;
	return want_wait(v, obj, key, val, &((struct tmpl_conf *)target)->wait);
}

static int tmpl_denylist(struct vctx *v, const json_t *obj, const char *key,
                         json_t *val, void *target)
{
	return want_denylist(v, obj, key, val,
	                     &((struct tmpl_conf *)target)->function_denylist);
}

static int tmpl_format(struct vctx *v, const json_t *obj, const char *key,
                       json_t *val, void *target)
{
	return want_format(v, obj, key, val,
	                   &((struct tmpl_conf *)target)->format);
}

static int tmpl_max_runs(struct vctx *v, const json_t *obj, const char *key,
                         json_t *val, void *target)
{
	struct tmpl_conf *t = target;
	int r = cfg_want_uint(v, obj, key, val, CONFIG_MAX_COMMAND_RUNS,
	                      &t->command_max_runs);

	if (r == 0 && t->command_max_runs == 0)
		r = cfg_fail_value(v, obj, key, "%s: must be at least 1",
		                   cfg_name_of(v, key));
	return r;
}

/* The old fixed spacing: one run per interval. */
static int tmpl_restart(struct vctx *v, const json_t *obj, const char *key,
                        json_t *val, void *target)
{
	struct tmpl_conf *t = target;
	int r = cfg_want_duration(v, obj, key, val, &t->command_window_ms);

	t->command_max_runs = 1;
	t->restart_min_interval_set = true;
	return r;
}

int cfg_apply_template(struct vctx *v, json_t *obj, void *target)
{
#define T struct tmpl_conf
	static const struct key_def keys[] = {
	        KEY("source", KEY_NONEMPTY, T, source),
	        KEY("contents", KEY_STRING, T, contents),
	        KEY("destination", KEY_NONEMPTY, T, destination),
	        KEY("command", KEY_COMMAND, T, command),
	        KEY("command_timeout", KEY_DURATION, T, command_timeout_ms),
	        KEY_CALL("exec", tmpl_exec),
	        KEY_CALL("perms", tmpl_perms),
	        KEY_CALL("user", tmpl_user),
	        KEY_CALL("group", tmpl_group),
	        KEY_CALL("uid", tmpl_user),
	        KEY_CALL("gid", tmpl_group),
	        KEY("backup", KEY_BOOL, T, backup),
	        KEY_CALL("wait", tmpl_wait),
	        KEY("left_delimiter", KEY_NONEMPTY, T, left_delim),
	        KEY("right_delimiter", KEY_NONEMPTY, T, right_delim),
	        KEY("error_on_missing_key", KEY_BOOL, T, error_on_missing_key),
	        KEY_CALL("function_denylist", tmpl_denylist),
	        KEY_CALL("function_blacklist", tmpl_denylist),
	        KEY("create_dest_dirs", KEY_BOOL, T, create_dest_dirs),
	        KEY_MAX("emit", T, emit, CONFIG_MAX_EMIT),
	        KEY("managed_block", KEY_BOOL, T, managed_block),
	        KEY("check_command", KEY_COMMAND, T, check_command),
	        KEY("rollback_on_failure", KEY_BOOL, T, rollback_on_failure),
	        KEY("in_place", KEY_BOOL, T, in_place),
	        KEY_CALL("guard", tmpl_guard),
	        KEY_CALL("format", tmpl_format),
	        KEY_CALL("command_max_runs", tmpl_max_runs),
	        KEY("command_window", KEY_DURATION, T, command_window_ms),
	        KEY_CALL("restart_min_interval", tmpl_restart),
	        {NULL, KEY_NONE, 0, 0, NULL},
	};
#undef T
	static const char *const unsupported[] = {"error_fatal", "sandbox_path",
	                                          NULL};
	struct load *ld = target;
	struct tmpl_conf *t;
	struct tmpl_state *ts;
	struct hcl_loc at = v->block;
	int ret;

	if (ld->c->ntemplates >= CONFIG_MAX_TEMPLATES)
		return cfg_lerr(v->ld, -EINVAL, v->file, 0, 0,
		                "too many templates (at most %d)",
		                CONFIG_MAX_TEMPLATES);
	t = cfg_template_add(ld);
	ts = &ld->ts[ld->c->ntemplates - 1];
	ret = cfg_apply_keys(v, obj, t, keys, "in template block", unsupported);

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
		ret = cfg_fail_key(v, obj, "contents",
		                   "template: source and contents are mutually "
		                   "exclusive");
	else if (ret == 0 && t->source == NULL && t->contents == NULL)
		ret = cfg_lerr(v->ld, -EINVAL, v->file, at.line, at.col,
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
		return cfg_fail_value(
		        v, obj, key,
		        "%s: expected a size like \"32MiB\" "
		        "(B, KiB, MiB, GiB, KB, MB, GB) or a number of "
		        "bytes",
		        cfg_name_of(v, key));
	if (n > max / mult || n * mult < min || n * mult > max)
		return cfg_fail_value(
		        v, obj, key, "%s: must be between %zu KiB and %zu MiB",
		        cfg_name_of(v, key), min >> 10, max >> 20);
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
		return cfg_fail_value(
		        v, obj, key,
		        "%s: expected a list of host names, got %s",
		        cfg_name_of(v, key), cfg_json_kind(val));
	n = json_array_size(val);
	if (n > CONFIG_MAX_PATHS * 16)
		return cfg_fail_value(v, obj, key, "%s: more than %d names",
		                      cfg_name_of(v, key),
		                      CONFIG_MAX_PATHS * 16);
	json_array_foreach(val, i, w)
	{
		const char *s = json_string_value(w);
		size_t len = json_string_length(w);

		if (s != NULL && len > 2 && s[0] == '*' && s[1] == '.') {
			s += 2;
			len -= 2;
		}
		if (s == NULL || !hosts_name_ok(s, len))
			return cfg_fail_index(v, val, i,
			                      "%s: expected a host name or "
			                      "\"*.domain\", got %s",
			                      cfg_name_of(v, key),
			                      json_is_string(w)
			                              ? "an invalid name"
			                              : cfg_json_kind(w));
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

static int root_consul(struct vctx *v, const json_t *obj, const char *key,
                       json_t *val, void *target)
{
	struct config *c = target;

	if (json_is_string(val))
		return want_address(v, obj, key, val, &c->consul.address);
	return want_blocks(v, obj, key, val, apply_consul, &c->consul);
}

static int root_block_query_wait(struct vctx *v, const json_t *obj,
                                 const char *key, json_t *val, void *target)
{
	struct config *c = target;
	int r = cfg_want_duration(v, obj, key, val, &c->block_query_wait_ms);

	if (r == 0 &&
	    (c->block_query_wait_ms < 1000 || c->block_query_wait_ms > 600000))
		r = cfg_fail_value(v, obj, key,
		                   "%s: must be between 1s and 10m "
		                   "(Consul's limit)",
		                   cfg_name_of(v, key));
	if (r == 0)
		c->block_query_wait_set = true;
	return r;
}

static int root_join_settle(struct vctx *v, const json_t *obj, const char *key,
                            json_t *val, void *target)
{
	struct config *c = target;
	int r = cfg_want_duration(v, obj, key, val, &c->node_join_settle_ms);

	if (r == 0 && c->node_join_settle_ms > CONFIG_MAX_JOIN_SETTLE_MS)
		r = cfg_fail_value(v, obj, key,
		                   "%s: at most 5s (a removal made "
		                   "meanwhile waits for it too)",
		                   cfg_name_of(v, key));
	return r;
}

static int root_wait(struct vctx *v, const json_t *obj, const char *key,
                     json_t *val, void *target)
{
	return want_wait(v, obj, key, val, &((struct config *)target)->wait);
}

static int root_log_level(struct vctx *v, const json_t *obj, const char *key,
                          json_t *val, void *target)
{
	struct config *c = target;
	int r = cfg_want_nonempty(v, obj, key, val, &c->log_level), lvl = 0;

	if (r == 0 && (lvl = log_level_parse(c->log_level)) < 0)
		r = cfg_fail_value(v, obj, key,
		                   "%s: unknown level \"%.64s\" "
		                   "(expected trace, debug, info, "
		                   "warn or err)",
		                   cfg_name_of(v, key), c->log_level);
	if (r == 0) {
		free(c->log_level);
		c->log_level = xstrdup(log_level_name((enum log_level)lvl));
	}
	return r;
}

static int root_kill_signal(struct vctx *v, const json_t *obj, const char *key,
                            json_t *val, void *target)
{
	return cfg_want_signal(v, obj, key, val, false,
	                       &((struct config *)target)->kill_signal);
}

static int root_reload_signal(struct vctx *v, const json_t *obj,
                              const char *key, json_t *val, void *target)
{
	return cfg_want_signal(v, obj, key, val, true,
	                       &((struct config *)target)->reload_signal);
}

static int root_template(struct vctx *v, const json_t *obj, const char *key,
                         json_t *val, void *target)
{
	(void)target;
	return want_blocks(v, obj, key, val, cfg_apply_template, v->ld);
}

static int root_order(struct vctx *v, const json_t *obj, const char *key,
                      json_t *val, void *target)
{
	struct config *c = target;

	if (json_is_string(val))
		return want_order_mode(v, obj, key, val, &c->order);
	return want_blocks(v, obj, key, val, apply_order, c);
}

static int root_delimiters(struct vctx *v, const json_t *obj, const char *key,
                           json_t *val, void *target)
{
	(void)target;
	return want_blocks(v, obj, key, val, apply_delimiters, v->ld);
}

static int root_metrics(struct vctx *v, const json_t *obj, const char *key,
                        json_t *val, void *target)
{
	return want_blocks(v, obj, key, val, apply_metrics, target);
}

static int root_max_response(struct vctx *v, const json_t *obj, const char *key,
                             json_t *val, void *target)
{
	return want_size(v, obj, key, val, CONFIG_MIN_RESPONSE,
	                 CONFIG_MAX_RESPONSE,
	                 &((struct config *)target)->max_response_size);
}

static int root_reserved(struct vctx *v, const json_t *obj, const char *key,
                         json_t *val, void *target)
{
	struct config *c = target;

	return want_names(v, obj, key, val, &c->reserved_names,
	                  &c->nreserved_names);
}

/* The top level; target is the load, its keys go into ld->c. */
int cfg_apply_root(struct vctx *v, json_t *obj, void *target)
{
	static const struct key_def keys[] = {
	        KEY_CALL("consul", root_consul),
	        KEY("max_stale", KEY_DURATION, struct config, max_stale_ms),
	        KEY_CALL("block_query_wait", root_block_query_wait),
	        KEY_CALL("node_join_settle", root_join_settle),
	        KEY_CALL("wait", root_wait),
	        KEY_CALL("log_level", root_log_level),
	        KEY("pid_file", KEY_NONEMPTY, struct config, pid_file),
	        KEY_CALL("kill_signal", root_kill_signal),
	        KEY_CALL("reload_signal", root_reload_signal),
	        KEY_CALL("template", root_template),
	        KEY_CALL("order", root_order),
	        KEY("shuffle_seed", KEY_LINE, struct config, order_seed),
	        KEY_CALL("default_delimiters", root_delimiters),
	        KEY_CALL("max_response_size", root_max_response),
	        KEY_CALL("reserved_names", root_reserved),
	        KEY_CALL("metrics", root_metrics),
	        {NULL, KEY_NONE, 0, 0, NULL},
	};
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

	return cfg_apply_keys(v, obj, ld->c, keys, "at top level", unsupported);
}
