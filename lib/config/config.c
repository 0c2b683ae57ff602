/*
 * A config load in order: defaults, CONSUL_* variables, -config files and
 * directories, CT_LOCAL_CONFIG, flags; then the token file and finalize's
 * cross checks (defaults that depend on other keys). Also config_free.
 * The other steps are config_values.c, config_schema.c, config_sources.c
 * and config_flags.c (config_priv.h says which holds what).
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
		return cfg_lnote(ld, r, &e);
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
	bool clean = cfg_lcount(ld) == 0;
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
		struct tmpl_conf *tc = cfg_template_add(ld);

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
			ret = cfg_lerr(ld, -EINVAL, ts->file, ts->line, ts->col,
			               "template: needs a destination (only "
			               "-dry, which prints to stdout, can do "
			               "without)");
		for (size_t j = 0; j < i && tc->destination != NULL; j++) {
			if (c->templates[j].destination == NULL ||
			    strcmp(c->templates[j].destination,
			           tc->destination) != 0)
				continue;
			ret = cfg_lerr(ld, -EINVAL, ts->file, ts->line, ts->col,
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
	if (cfg_lcount(ld) > 0) {
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
	(void)cfg_flags_scan(&ld, argc, argv, uses, &n, ret_action);
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

	(void)cfg_apply_env(&ld);
	for (size_t i = 0; i < n; i++) {
		if (!cfg_flag_is_config(&uses[i]))
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
		(void)cfg_load_path(&ld, uses[i].value);
	}
	(void)cfg_apply_env_config(&ld);
	(void)cfg_flags_apply(&ld, uses, n);
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
	(void)cfg_load_text(&ld, name, text, len);
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
		cfg_tmpl_conf_clear(&c->templates[i]);
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
