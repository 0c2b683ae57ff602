/*
 * Command-line flags: their table (name, kind, the config key each sets),
 * the scan of argv, applying them over the files, and -h's text.
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
	hint = len > 1 ? cfg_suggest(word, names) : NULL;
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
int cfg_flags_scan(struct load *ld, int argc, char **argv,
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
			if (eq != NULL && go_parse_bool(eq + 1, &u->on) < 0) {
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
			r = cfg_apply_template(v, obj, ld);
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
	r = cfg_apply_template(v, obj, ld);
	json_decref(obj);
	return r;
}

int cfg_flags_apply(struct load *ld, const struct flag_use *uses, size_t n)
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
			r = cfg_apply_root(&v, obj, ld);
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
			r = cfg_want_nonempty(&v, obj, "explain",
			                      json_object_get(obj, "explain"),
			                      &c->explain);
			json_decref(obj);
			break;
		case FS_EMIT:
			obj = json_pack("{so}", "emit", flag_json(u));
			r = cfg_want_uint(&v, obj, "emit",
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

bool cfg_flag_is_config(const struct flag_use *u)
{
	return u->def->special == FS_CONFIG;
}
