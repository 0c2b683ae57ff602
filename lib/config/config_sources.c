/*
 * Where configuration trees come from: a file (bounded, HCL or JSON), a
 * directory (every file under it, sorted, bounded depth and count), the
 * CONSUL_* and consul-template environment, CT_LOCAL_CONFIG.
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

int cfg_load_text(struct load *ld, const char *name, const char *text,
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
		return cfg_lnote(ld, r, &e);
	}
	v.pos = pos;
	r = cfg_apply_root(&v, tree, ld);
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
		return cfg_lnote(ld, r, &e);
	r = cfg_load_text(ld, path, text, len);
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
			w->ret =
			        cfg_lerr(ld, r, path, 0, 0,
			                 "symbolic link to a missing file (%s)",
			                 strerror(-r));
		else
			w->ret =
			        cfg_lerr(ld, r, path, 0, 0, "%s", strerror(-r));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		for (const struct dir_chain *c = chain; c != NULL; c = c->up)
			if (c->dev == st.st_dev && c->ino == st.st_ino) {
				w->ret = cfg_lerr(
				        ld, -ELOOP, path, 0, 0,
				        "leads back to a directory being "
				        "read (a symbolic link loop)");
				return;
			}
		if (depth + 1 > CONFIG_MAX_DIR_DEPTH) {
			w->ret = cfg_lerr(ld, -ELOOP, path, 0, 0,
			                  "more than %d directories deep",
			                  CONFIG_MAX_DIR_DEPTH);
			return;
		}
		load_dir(ld, path, &st, chain, depth + 1, w);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		w->ret = cfg_lerr(ld, -EINVAL, path, 0, 0,
		                  "not a regular file or directory");
		return;
	}
	if (++w->nfiles > CONFIG_MAX_DIR_ENTRIES) {
		if (w->nfiles == CONFIG_MAX_DIR_ENTRIES + 1)
			w->ret = cfg_lerr(
			        ld, -E2BIG, path, 0, 0,
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
		w->ret = cfg_lerr(ld, -errno, dir, 0, 0, "%s", strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == CONFIG_MAX_DIR_ENTRIES) {
			w->ret = cfg_lerr(ld, -E2BIG, dir, 0, 0,
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

int cfg_load_path(struct load *ld, const char *path)
{
	struct dir_walk w = {0, 0};
	struct stat st;

	if (stat(path, &st) < 0)
		return cfg_lerr(ld, -errno, path, 0, 0, "%s", strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return load_file(ld, path);
	load_dir(ld, path, &st, NULL, 0, &w);
	return w.ret;
}

/* ---- environment ---- */

/* Go's strconv.ParseBool. */
static int env_string(struct load *ld, const char *name, char **dst)
{
	const char *s = getenv(name);

	if (s == NULL || *s == '\0')
		return 0;
	if (!cfg_string_is_clean(s) || strlen(s) > CONFIG_MAX_STRING)
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

const char *const config_token_env[] = {"CONSUL_HTTP_TOKEN", "CONSUL_TOKEN",
                                        "CONSUL_HTTP_TOKEN_FILE",
                                        "CONSUL_TOKEN_FILE", NULL};

int cfg_apply_env(struct load *ld)
{
	struct consul_conf *cc = &ld->c->consul;
	const char *s;
	bool b;
	int ret = 0;

	/*
	 * consul-template takes the first set of CONSUL_TOKEN,
	 * CONSUL_HTTP_TOKEN (and of CONSUL_TOKEN_FILE, CONSUL_HTTP_TOKEN_FILE):
	 * the second is read first, so the first wins. The token's are
	 * config_token_env's.
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
		if (go_parse_bool(s, &b) < 0) {
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
	    go_parse_bool(s, &b) == 0)
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
int cfg_apply_env_config(struct load *ld)
{
	const char *s = getenv("CT_LOCAL_CONFIG");

	if (s == NULL || *s == '\0')
		return 0;
	return cfg_load_text(ld, "CT_LOCAL_CONFIG", s, strlen(s));
}
