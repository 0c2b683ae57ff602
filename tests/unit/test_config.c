/*
 * Unit tests for config: the seed config, every option, merging order,
 * environment, flags, and each error message exactly.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "base/err.h"

static char srcdir[512];
static char tmpdir[64];

/* tests/config/<name> */
static const char *sample(const char *name)
{
	static char path[4][700];
	static int slot;

	slot = (slot + 1) % 4;
	snprintf(path[slot], sizeof(path[slot]), "%s/tests/config/%s", srcdir,
	         name);
	return path[slot];
}

static const char *tmp_file(const char *name, const char *text)
{
	static char path[4][200];
	static int slot;
	FILE *f;

	slot = (slot + 1) % 4;
	snprintf(path[slot], sizeof(path[slot]), "%s/%s", tmpdir, name);
	f = fopen(path[slot], "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path[slot];
}

static const char *const consul_env[] = {
        "CONSUL_HTTP_ADDR",
        "CONSUL_HTTP_TOKEN",
        "CONSUL_TOKEN",
        "CONSUL_HTTP_TOKEN_FILE",
        "CONSUL_CACERT",
        "CONSUL_CAPATH",
        "CONSUL_CLIENT_CERT",
        "CONSUL_CLIENT_KEY",
        "CONSUL_TLS_SERVER_NAME",
        "CONSUL_HTTP_SSL",
        "CONSUL_HTTP_SSL_VERIFY",
        "CONSUL_TOKEN_FILE",
        "CT_LOG",
        "CONSUL_TEMPLATE_LOG",
        "CONSUL_TEMPLATE_LOG_LEVEL",
        "CT_LOCAL_CONFIG",
};

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(consul_env) / sizeof(*consul_env); i++)
		unsetenv(consul_env[i]);
	return 0;
}

/* config_load with argv = "consul-hosts", then args up to NULL. */
static int vload(struct config **ret, char *errbuf, size_t errsize, va_list ap)
{
	char *argv[64];
	int argc = 0, r;
	enum config_action action;
	struct err e;
	const char *a;

	argv[argc++] = strdup("consul-hosts");
	while ((a = va_arg(ap, const char *)) != NULL && argc < 63)
		argv[argc++] = strdup(a);
	argv[argc] = NULL;
	*ret = NULL;
	r = config_load(argc, argv, ret, &action, &e, NULL);
	errbuf[0] = '\0';
	if (r < 0)
		err_format(&e, errbuf, errsize);
	if (r == 0)
		assert_int_equal(action, CONFIG_RUN);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return r;
}

static struct config *load_ok(const char *first, ...)
{
	struct config *c;
	char eb[700];
	va_list ap;
	int r;

	(void)first; /* always "-": a marker so the list is never empty */
	va_start(ap, first);
	r = vload(&c, eb, sizeof(eb), ap);
	va_end(ap);
	if (r != 0)
		fail_msg("load failed: %s", eb);
	return c;
}

/* Expect an error; compare its formatted text exactly. */
static void load_err(const char *want, ...)
{
	struct config *c;
	char eb[700];
	va_list ap;
	int r;

	va_start(ap, want);
	r = vload(&c, eb, sizeof(eb), ap);
	va_end(ap);
	assert_int_not_equal(r, 0);
	assert_null(c);
	assert_string_equal(eb, want);
}

#define LOAD_OK(...)        load_ok("-", __VA_ARGS__, NULL)
#define LOAD_ERR(want, ...) load_err(want, __VA_ARGS__, NULL)
#define LOAD_ERR0(want)     load_err(want, NULL)

/* A config from text alone; error text or NULL. */
static struct config *text_ok(const char *text)
{
	struct config *c = NULL;
	struct err e;
	char eb[700];

	if (config_parse_text("t.hcl", text, strlen(text), &c, &e) != 0)
		fail_msg("%s", err_format(&e, eb, sizeof(eb)));
	return c;
}

static void text_err(const char *text, const char *want)
{
	struct config *c = NULL;
	struct err e;
	char eb[700];

	assert_int_equal(config_parse_text("t.hcl", text, strlen(text), &c, &e),
	                 -EINVAL);
	assert_null(c);
	assert_string_equal(err_format(&e, eb, sizeof(eb)), want);
}

#define T "template {\n source = \"s\"\n destination = \"/d\"\n}\n"

/* ---- field-by-field comparison ---- */

static void assert_str_eq(const char *what, const char *a, const char *b)
{
	if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0))
		fail_msg("%s: \"%s\" != \"%s\"", what, a ? a : "(null)",
		         b ? b : "(null)");
}

static void assert_wait_eq(const struct wait_conf *a, const struct wait_conf *b)
{
	assert_int_equal(a->enabled, b->enabled);
	assert_int_equal(a->min_ms, b->min_ms);
	assert_int_equal(a->max_ms, b->max_ms);
}

static void assert_config_eq(const struct config *a, const struct config *b)
{
	assert_str_eq("address", a->consul.address, b->consul.address);
	assert_str_eq("token", a->consul.token, b->consul.token);
	assert_str_eq("token_file", a->consul.token_file, b->consul.token_file);
	assert_int_equal(a->consul.ssl.enabled, b->consul.ssl.enabled);
	assert_int_equal(a->consul.ssl.verify, b->consul.ssl.verify);
	assert_str_eq("ca_cert", a->consul.ssl.ca_cert, b->consul.ssl.ca_cert);
	assert_str_eq("ca_path", a->consul.ssl.ca_path, b->consul.ssl.ca_path);
	assert_str_eq("cert", a->consul.ssl.cert, b->consul.ssl.cert);
	assert_str_eq("key", a->consul.ssl.key, b->consul.ssl.key);
	assert_str_eq("server_name", a->consul.ssl.server_name,
	              b->consul.ssl.server_name);
	assert_int_equal(a->consul.retry.enabled, b->consul.retry.enabled);
	assert_int_equal(a->consul.retry.attempts, b->consul.retry.attempts);
	assert_int_equal(a->consul.retry.backoff_ms,
	                 b->consul.retry.backoff_ms);
	assert_int_equal(a->consul.retry.max_backoff_ms,
	                 b->consul.retry.max_backoff_ms);
	assert_int_equal(a->max_stale_ms, b->max_stale_ms);
	assert_int_equal(a->block_query_wait_ms, b->block_query_wait_ms);
	assert_wait_eq(&a->wait, &b->wait);
	assert_str_eq("log_level", a->log_level, b->log_level);
	assert_str_eq("pid_file", a->pid_file, b->pid_file);
	assert_int_equal(a->kill_signal, b->kill_signal);
	assert_int_equal(a->reload_signal, b->reload_signal);
	assert_int_equal(a->order, b->order);
	assert_str_eq("order_seed", a->order_seed, b->order_seed);
	assert_int_equal(a->ntemplates, b->ntemplates);
	for (size_t i = 0; i < a->ntemplates; i++) {
		const struct tmpl_conf *x = &a->templates[i];
		const struct tmpl_conf *y = &b->templates[i];

		assert_str_eq("source", x->source, y->source);
		assert_str_eq("contents", x->contents, y->contents);
		assert_str_eq("destination", x->destination, y->destination);
		assert_str_eq("command", x->command, y->command);
		assert_int_equal(x->command_timeout_ms, y->command_timeout_ms);
		assert_str_eq("check_command", x->check_command,
		              y->check_command);
		assert_int_equal(x->perms, y->perms);
		assert_str_eq("user", x->user, y->user);
		assert_str_eq("group", x->group, y->group);
		assert_int_equal(x->backup, y->backup);
		assert_wait_eq(&x->wait, &y->wait);
		assert_str_eq("left_delim", x->left_delim, y->left_delim);
		assert_str_eq("right_delim", x->right_delim, y->right_delim);
		assert_int_equal(x->error_on_missing_key,
		                 y->error_on_missing_key);
		assert_int_equal(x->create_dest_dirs, y->create_dest_dirs);
		assert_int_equal(x->managed_block, y->managed_block);
		assert_int_equal(x->in_place, y->in_place);
		assert_int_equal(x->rollback_on_failure,
		                 y->rollback_on_failure);
		assert_true(x->guard_shrink == y->guard_shrink);
		assert_int_equal(x->guard_service_drop, y->guard_service_drop);
		assert_int_equal(x->guard_hold_ms, y->guard_hold_ms);
		assert_int_equal(x->format, y->format);
		assert_int_equal(x->guard_enabled, y->guard_enabled);
		assert_int_equal(x->command_max_runs, y->command_max_runs);
		assert_int_equal(x->command_window_ms, y->command_window_ms);
		assert_int_equal(x->emit, y->emit);
	}
	assert_int_equal(a->once, b->once);
	assert_int_equal(a->dry, b->dry);
	assert_int_equal(a->parse_only, b->parse_only);
	assert_str_eq("explain", a->explain, b->explain);
}

/* ---- tests ---- */

static void test_config_seed(void **state)
{
	struct config *c;
	const struct tmpl_conf *t;

	(void)state;
	c = LOAD_OK("-config", sample("seed.hcl"));
	assert_string_equal(c->consul.address, "127.0.0.1:8500");
	assert_int_equal(c->ntemplates, 1);
	t = &c->templates[0];
	assert_string_equal(t->source, "/etc/hosts.ctmpl");
	assert_null(t->contents);
	assert_string_equal(t->destination, "/etc/hosts");
	assert_string_equal(t->command, "service dnsmasq restart");
	assert_string_equal(t->origin + strlen(t->origin) - 10, "seed.hcl:3");
	assert_int_equal(c->nconfig_paths, 1);
	assert_string_equal(c->config_paths[0], sample("seed.hcl"));
	config_free(c);
}

static void test_config_defaults(void **state)
{
	struct config *c;
	const struct tmpl_conf *t;

	(void)state;
	c = LOAD_OK("-template", "in.tmpl:/tmp/out");
	assert_string_equal(c->consul.address, "127.0.0.1:8500");
	assert_null(c->consul.token);
	assert_false(c->consul.ssl.enabled);
	assert_true(c->consul.ssl.verify);
	assert_true(c->consul.retry.enabled);
	/* consul-template's retry defaults (config/retry.go). */
	assert_int_equal(c->consul.retry.attempts, 12);
	assert_int_equal(c->consul.retry.backoff_ms, 250);
	assert_int_equal(c->consul.retry.max_backoff_ms, 60000);
	assert_int_equal(c->max_stale_ms, 2000);
	assert_int_equal(c->block_query_wait_ms, 60000);
	assert_false(c->block_query_wait_set); /* per endpoint (watch.h) */
	assert_int_equal(c->node_join_settle_ms, 0);
	assert_false(c->wait.enabled);
	assert_string_equal(c->log_level, "info");
	assert_null(c->pid_file);
	assert_int_equal(c->kill_signal, SIGTERM);
	assert_int_equal(c->reload_signal, SIGHUP);
	assert_int_equal(c->order, ORDER_STABLE);
	assert_null(c->order_seed);
	assert_false(c->once || c->dry || c->parse_only);
	assert_null(c->explain);
	assert_int_equal(c->ntemplates, 1);
	t = &c->templates[0];
	assert_string_equal(t->source, "in.tmpl");
	assert_string_equal(t->destination, "/tmp/out");
	assert_null(t->command);
	assert_int_equal(t->command_timeout_ms, 30000);
	assert_null(t->check_command);
	assert_int_equal(t->perms, -1);
	assert_null(t->user);
	assert_false(t->backup);
	assert_false(t->wait.enabled);
	assert_string_equal(t->left_delim, "{{");
	assert_string_equal(t->right_delim, "}}");
	assert_false(t->error_on_missing_key);
	assert_true(t->create_dest_dirs);
	assert_false(t->managed_block || t->in_place || t->rollback_on_failure);
	assert_true(t->guard_shrink == 0.5);
	/* Failover first: a name losing its last entry is what a failover
	 * does, so service_drop is off by default. */
	assert_false(t->guard_service_drop);
	assert_true(t->guard_enabled);
	assert_int_equal(t->format, TMPL_FORMAT_HOSTS);
	assert_int_equal(t->guard_hold_ms, 60000);
	assert_int_equal(t->command_max_runs, 4);
	assert_int_equal(t->command_window_ms, 10000);
	assert_false(t->restart_min_interval_set);
	assert_int_equal(t->emit, 0);
	assert_string_equal(t->origin, "-template");
	config_free(c);
}

static void test_config_full_hcl_json_same(void **state)
{
	struct config *h, *j;
	const struct tmpl_conf *t;

	(void)state;
	h = LOAD_OK("-config", sample("full.hcl"));
	j = LOAD_OK("-config", sample("full.json"));
	assert_config_eq(h, j);

	/* And the values are the ones written. */
	assert_string_equal(h->consul.address, "https://consul.example:8501");
	assert_string_equal(h->consul.token, "abcd-1234");
	assert_true(h->consul.ssl.enabled);
	assert_false(h->consul.ssl.verify);
	assert_string_equal(h->consul.ssl.server_name, "consul.example");
	assert_int_equal(h->consul.retry.attempts, 5);
	assert_int_equal(h->consul.retry.backoff_ms, 500);
	assert_int_equal(h->consul.retry.max_backoff_ms, 120000);
	assert_int_equal(h->max_stale_ms, 10000);
	assert_int_equal(h->block_query_wait_ms, 300000);
	assert_true(h->block_query_wait_set);
	assert_true(h->wait.enabled);
	assert_int_equal(h->wait.min_ms, 2000);
	assert_int_equal(h->wait.max_ms, 10000);
	assert_string_equal(h->log_level, "debug");
	assert_string_equal(h->pid_file, "/run/consul-hosts.pid");
	assert_int_equal(h->kill_signal, SIGINT);
	assert_int_equal(h->reload_signal, SIGUSR1);
	assert_int_equal(h->order, ORDER_WEIGHTED);
	assert_string_equal(h->order_seed, "node-7");
	assert_int_equal(h->ntemplates, 2);
	t = &h->templates[0];
	assert_string_equal(t->command, "systemctl restart dnsmasq");
	assert_int_equal(t->command_timeout_ms, 15000);
	assert_string_equal(t->check_command,
	                    "dnsmasq --test --addn-hosts={{path}}");
	assert_int_equal(t->perms, 0644);
	assert_string_equal(t->user, "root");
	assert_string_equal(t->group, "0");
	assert_true(t->backup);
	assert_int_equal(t->wait.min_ms, 1000);
	assert_int_equal(t->wait.max_ms, 3000);
	assert_string_equal(t->left_delim, "[[");
	assert_string_equal(t->right_delim, "]]");
	assert_true(t->error_on_missing_key);
	assert_false(t->create_dest_dirs);
	assert_int_equal(t->emit, 3);
	assert_true(t->managed_block && t->rollback_on_failure && t->in_place);
	assert_true(t->guard_shrink == 0.25);
	assert_true(t->guard_service_drop);
	assert_false(t->guard_enabled);
	assert_int_equal(t->format, TMPL_FORMAT_TEXT);
	assert_int_equal(t->guard_hold_ms, 120000);
	assert_int_equal(t->command_max_runs, 2);
	assert_int_equal(t->command_window_ms, 30000);
	t = &h->templates[1];
	assert_null(t->source);
	assert_string_equal(t->contents,
	                    "{{ range service \"web\" }}{{ .Address }} web\n"
	                    "{{ end }}\n");
	assert_string_equal(t->command, "pkill -HUP dnsmasq");
	assert_int_equal(t->command_timeout_ms, 5000);
	/* No wait of its own: the global one. */
	assert_true(t->wait.enabled);
	assert_int_equal(t->wait.min_ms, 2000);
	config_free(h);
	config_free(j);
}

static void test_config_merge_order(void **state)
{
	struct config *c;

	(void)state;
	/* The right-most file wins. */
	c = LOAD_OK("-config", sample("merge-b.json"), "-config",
	            sample("merge-a.hcl"));
	assert_string_equal(c->consul.address, "10.0.0.1:8500");
	assert_int_equal(c->max_stale_ms, 5000);
	assert_string_equal(c->templates[0].source, "b.tmpl");
	assert_string_equal(c->templates[1].source, "a.tmpl");
	config_free(c);
	LOAD_ERR("-config: needs a value", "-config=");
}

static void test_config_merge_dir(void **state)
{
	struct config *c;
	char dir[700];

	(void)state;
	snprintf(dir, sizeof(dir), "%s", sample("merge.d"));
	c = LOAD_OK("-config", sample("merge-a.hcl"), "--config",
	            sample("merge-b.json"), "-config", dir, "-max-stale", "9s",
	            "-template", "x.tmpl:/tmp/x:touch /tmp/x:done",
	            "-log-level=WARNING");
	/* Later files win, field by field. */
	assert_string_equal(c->consul.address, "10.0.0.2:8500");
	assert_string_equal(c->consul.token, "from-a");
	/* Flags win over files. */
	assert_int_equal(c->max_stale_ms, 9000);
	assert_string_equal(c->log_level, "warn");
	/* Templates accumulate: files in order (directory in lexical
	 * order), then flags. */
	assert_int_equal(c->ntemplates, 5);
	assert_string_equal(c->templates[0].source, "a.tmpl");
	assert_string_equal(c->templates[1].source, "b.tmpl");
	assert_string_equal(c->templates[2].source, "d1.tmpl");
	assert_string_equal(c->templates[3].source, "d2.tmpl");
	assert_string_equal(c->templates[4].source, "x.tmpl");
	assert_string_equal(c->templates[4].destination, "/tmp/x");
	/* Split on the first two colons only. */
	assert_string_equal(c->templates[4].command, "touch /tmp/x:done");
	assert_int_equal(c->nconfig_paths, 3);
	config_free(c);

	/* Without the flag, the directory's last file sets log_level. */
	c = LOAD_OK("-config", dir);
	assert_string_equal(c->log_level, "trace");
	config_free(c);
}

static void test_config_env(void **state)
{
	struct config *c;
	const char *tf;

	(void)state;
	setenv("CONSUL_HTTP_ADDR", "unix:///run/consul.sock", 1);
	setenv("CONSUL_HTTP_TOKEN", "http-token", 1);
	setenv("CONSUL_CACERT", "/ca.pem", 1);
	setenv("CONSUL_TLS_SERVER_NAME", "consul.local:8501", 1);
	setenv("CONSUL_HTTP_SSL_VERIFY", "garbage", 1);
	c = LOAD_OK("-template", "a:b");
	assert_string_equal(c->consul.address, "unix:///run/consul.sock");
	assert_string_equal(c->consul.token, "http-token");
	assert_string_equal(c->consul.ssl.ca_cert, "/ca.pem");
	assert_string_equal(c->consul.ssl.server_name, "consul.local");
	assert_true(c->consul.ssl.verify);  /* fail closed */
	assert_true(c->consul.ssl.enabled); /* a CA given enables TLS */
	config_free(c);

	/* CONSUL_TOKEN first, as consul-template; files beat env; flags
	 * beat files. */
	setenv("CONSUL_TOKEN", "ct-token", 1);
	setenv("CONSUL_HTTP_SSL_VERIFY", "false", 1);
	setenv("CONSUL_HTTP_SSL", "0", 1);
	c = LOAD_OK("-config", sample("seed.hcl"));
	assert_string_equal(c->consul.token, "ct-token");
	assert_string_equal(c->consul.address, "127.0.0.1:8500");
	assert_false(c->consul.ssl.verify);
	assert_false(c->consul.ssl.enabled); /* explicitly off */
	config_free(c);
	c = LOAD_OK("-config", sample("seed.hcl"), "-consul-addr",
	            "https://flag:8501", "-consul-token=flag-token");
	assert_string_equal(c->consul.address, "https://flag:8501");
	assert_string_equal(c->consul.token, "flag-token");
	assert_true(c->consul.ssl.enabled); /* https:// implies TLS */
	config_free(c);

	/* A token file is read and trimmed, and wins over the token. */
	tf = tmp_file("token", "  file-token\n\n");
	setenv("CONSUL_HTTP_TOKEN_FILE", tf, 1);
	c = LOAD_OK("-template", "a:b");
	assert_string_equal(c->consul.token, "file-token");
	assert_string_equal(c->consul.token_file, tf);
	config_free(c);
	unsetenv("CONSUL_HTTP_TOKEN_FILE");

	setenv("CONSUL_HTTP_ADDR", "tcp://10.0.0.1:8500", 1);
	LOAD_ERR("consul address \"tcp://10.0.0.1:8500\": expected host:port, "
	         "http://, https:// or unix://",
	         "-template", "a:b");
	unsetenv("CONSUL_HTTP_ADDR");
	unsetenv("CONSUL_TOKEN");
	unsetenv("CONSUL_HTTP_TOKEN");
	c = LOAD_OK("-template", "a:b", "-consul-token=");
	assert_null(c->consul.token); /* "" is no token */
	config_free(c);

	setenv("CONSUL_HTTP_SSL", "yes", 1);
	LOAD_ERR("CONSUL_HTTP_SSL: expected true or false, got \"yes\"",
	         "-template", "a:b");
	setup(NULL);
	setenv("CONSUL_HTTP_TOKEN", "a\r\nX-Evil: 1", 1);
	LOAD_ERR("CONSUL_HTTP_TOKEN: control characters or longer than 4096 "
	         "characters",
	         "-template", "a:b");
	setup(NULL);
	tf = tmp_file("token2", "two words\n");
	setenv("CONSUL_HTTP_TOKEN_FILE", tf, 1);
	{
		char want[300];

		snprintf(want, sizeof(want),
		         "%s: token_file: expected one token of printable "
		         "characters",
		         tf);
		LOAD_ERR(want, "-template", "a:b");
	}
	setup(NULL);
}

static void test_config_flags(void **state)
{
	struct config *c;
	enum config_action action;
	struct err e;
	char a0[] = "consul-hosts", a1[] = "-once", a2[] = "--help",
	     a3[] = "-bogus", v1[] = "-v", v2[] = "--version=true";
	char *help[] = {a0, a1, a2, a3, NULL};
	char *version[] = {a0, v1, NULL};
	char *version2[] = {a0, v2, NULL};

	(void)state;
	c = LOAD_OK("-template", "a:/b", "-once", "--dry=true", "-n", "-wait",
	            "5s", "-order", "balanced", "--shuffle-seed=s1", "-explain",
	            "web", "-emit", "2", "-managed-block", "-kill-signal",
	            "INT", "-reload-signal=", "-pid-file", "/run/p",
	            "-consul-ssl", "-consul-ssl-verify=false",
	            "-consul-ssl-cert", "/c", "-consul-ssl-key", "/k",
	            "-consul-ssl-ca-cert", "/ca", "-consul-ssl-ca-path", "/cap",
	            "-consul-ssl-server-name", "sn", "-consul-retry=false",
	            "-consul-retry-attempts", "3", "-consul-retry-backoff",
	            "1s", "-consul-retry-max-backoff", "30s",
	            "-consul-token-file", tmp_file("tok", "flag-file-token"));
	assert_true(c->once && c->dry && c->parse_only);
	assert_true(c->wait.enabled);
	assert_int_equal(c->wait.min_ms, 5000);
	assert_int_equal(c->wait.max_ms, 20000); /* 4 * min */
	assert_int_equal(c->templates[0].wait.max_ms, 20000);
	assert_int_equal(c->order, ORDER_BALANCED);
	assert_string_equal(c->order_seed, "s1");
	assert_string_equal(c->explain, "web");
	assert_int_equal(c->templates[0].emit, 2);
	assert_true(c->templates[0].managed_block);
	assert_int_equal(c->kill_signal, SIGINT);
	assert_int_equal(c->reload_signal, 0);
	assert_string_equal(c->pid_file, "/run/p");
	assert_true(c->consul.ssl.enabled);
	assert_false(c->consul.ssl.verify);
	assert_string_equal(c->consul.ssl.cert, "/c");
	assert_string_equal(c->consul.ssl.key, "/k");
	assert_string_equal(c->consul.ssl.ca_cert, "/ca");
	assert_string_equal(c->consul.ssl.ca_path, "/cap");
	assert_string_equal(c->consul.ssl.server_name, "sn");
	assert_false(c->consul.retry.enabled);
	assert_int_equal(c->consul.retry.attempts, 3);
	assert_int_equal(c->consul.retry.backoff_ms, 1000);
	assert_int_equal(c->consul.retry.max_backoff_ms, 30000);
	assert_string_equal(c->consul.token, "flag-file-token");
	config_free(c);

	/* -flag=false turns a boolean off. */
	c = LOAD_OK("-once=false", "-dry=0", "-template", "/s:/d");
	assert_false(c->once || c->dry);
	config_free(c);
	/* -explain alone: a render printed, not written, of the default
	 * template when none is given. */
	c = LOAD_OK("-explain=web");
	assert_true(c->once && c->dry);
	assert_int_equal(c->ntemplates, 1);
	assert_non_null(strstr(c->templates[0].contents, "range services"));
	assert_null(c->templates[0].destination);
	config_free(c);

	/* Flags override every template of the files. */
	c = LOAD_OK("-config", sample("full.hcl"), "-emit=0",
	            "-managed-block=false");
	assert_int_equal(c->templates[0].emit, 0);
	assert_false(c->templates[0].managed_block);
	config_free(c);

	assert_int_equal(config_load(4, help, &c, &action, &e, NULL), 0);
	assert_int_equal(action, CONFIG_HELP);
	assert_null(c);
	assert_int_equal(config_load(2, version, &c, &action, &e, NULL), 0);
	assert_int_equal(action, CONFIG_VERSION);
	assert_int_equal(config_load(2, version2, &c, &action, &e, NULL), 0);
	assert_int_equal(action, CONFIG_VERSION);
	assert_non_null(strstr(config_usage(), "-consul-ssl-ca-cert"));
	assert_non_null(strstr(config_usage(), "-check-config"));
}

static void test_config_flag_errors(void **state)
{
	(void)state;
	LOAD_ERR("unknown flag \"-consul-adr\"; did you mean "
	         "\"-consul-addr\"?",
	         "-consul-adr", "x");
	LOAD_ERR("unknown flag \"-onse\"; did you mean \"-once\"?", "--onse");
	LOAD_ERR("unknown flag \"-frobnicate\" (see -help)", "-frobnicate");
	LOAD_ERR("-max-stale: needs a value", "-max-stale");
	LOAD_ERR("-max-stale: invalid duration \"fast\" (expected a number "
	         "and unit like \"250ms\", \"5s\" or \"1m30s\")",
	         "-template", "a:b", "-max-stale", "fast");
	LOAD_ERR("-once: expected true or false, got \"maybe\"", "-once=maybe");
	LOAD_ERR("unexpected argument \"hosts.tmpl\" (flags start with \"-\")",
	         "hosts.tmpl");
	LOAD_ERR("unexpected argument \"x\"", "--", "x");
	LOAD_ERR("-template \"only-source\": needs a destination "
	         "(\"source:destination\"); only -dry, which prints to "
	         "stdout, can do without",
	         "-template", "only-source");
	LOAD_ERR("-template \"a:\": expected \"source:destination[:command]\"",
	         "-template", "a:");
	LOAD_ERR("-emit: expected a whole number, got string", "-template",
	         "a:b", "-emit", "all");
	LOAD_ERR("-emit: 70000 is out of range (0 to 65535)", "-template",
	         "a:b", "-emit", "70000");
	LOAD_ERR("-order: unknown mode \"shuffle\" (expected stable, weighted, "
	         "balanced, random or none)",
	         "-template", "a:b", "-order", "shuffle");
	LOAD_ERR("-kill-signal: SIGKILL cannot be caught (expected SIGHUP, "
	         "SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM or "
	         "SIGWINCH, or \"\" for none)",
	         "-template", "a:b", "-kill-signal", "KILL");
	LOAD_ERR("-kill-signal: unknown signal \"SIGFOO\" (expected SIGHUP, "
	         "SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM or "
	         "SIGWINCH, or \"\" for none)",
	         "-template", "a:b", "-kill-signal", "SIGFOO");
	LOAD_ERR("-reload-signal: SIGTERM always stops consul-hosts (systemd "
	         "stops services with SIGTERM); choose another reload signal",
	         "-template", "a:b", "-reload-signal", "term");
	/* consul-template's flags that are not implemented name the
	 * feature, and the scan goes on past their value. */
	LOAD_ERR("-vault-token: not supported by consul-hosts (Vault)",
	         "-template", "a:b", "-vault-token", "s.xyz");
	LOAD_ERR("-vault-renew-token: not supported by consul-hosts (Vault)",
	         "-vault-renew-token", "-template", "a:b");
	LOAD_ERR("-exec: not supported by consul-hosts (exec mode)",
	         "-template", "a:b", "-exec=/bin/app");
	LOAD_ERR("-syslog: not supported by consul-hosts (syslog; it logs to "
	         "stderr or the journal)",
	         "-syslog", "-template", "a:b");
	LOAD_ERR("-consul-transport-dial-timeout: not supported by "
	         "consul-hosts (consul.transport)",
	         "-consul-transport-dial-timeout", "5s", "-template", "a:b");
	LOAD_ERR("-log-level: unknown level \"loud\" (expected trace, debug, "
	         "info, warn or err)",
	         "-template", "a:b", "-log-level", "loud");
	LOAD_ERR("-consul-addr: unknown scheme in \"ftp://x\" (expected "
	         "host:port, http://, https:// or unix://)",
	         "-template", "a:b", "-consul-addr", "ftp://x");
	LOAD_ERR("-wait: max (1s) is less than min (5s)", "-template", "a:b",
	         "-wait", "5s:1s");
	LOAD_ERR("-consul-retry-attempts: expected a whole number, got string",
	         "-template", "a:b", "-consul-retry-attempts", "-1");
	LOAD_ERR0("no templates: give -template \"source:destination\" or a "
	          "template block in a -config file");
	LOAD_ERR("template: destination \"/b\" is also written by the "
	         "template at -template",
	         "-template", "a:/b", "-template", "c:/b");
}

static void test_config_file_errors(void **state)
{
	char want[900];

	(void)state;
	snprintf(want, sizeof(want),
	         "%s:7:3: unknown key \"destinaton\" in template block; did "
	         "you mean \"destination\"?",
	         sample("typo.hcl"));
	LOAD_ERR(want, "-config", sample("typo.hcl"));
	snprintf(want, sizeof(want),
	         "%s:4:10: perms: expected a number like 0644, got string",
	         sample("perms-string.hcl"));
	LOAD_ERR(want, "-config", sample("perms-string.hcl"));
	snprintf(want, sizeof(want), "%s: No such file or directory",
	         sample("missing.hcl"));
	LOAD_ERR(want, "-config", sample("missing.hcl"));
}

static void test_config_validation(void **state)
{
	(void)state;
	/* Unknown keys, with and without a suggestion, in each block. */
	text_err("consull = \"x\"\n" T,
	         "t.hcl:1:1: unknown key \"consull\" at top level; did you "
	         "mean \"consul\"?");
	text_err("frobnicate = 1\n",
	         "t.hcl:1:1: unknown key \"frobnicate\" at top level");
	text_err("consul { adress = \"x\" }\n",
	         "t.hcl:1:10: unknown key \"adress\" in consul block; did you "
	         "mean \"address\"?");
	text_err("consul { ssl { verfy = true } }\n",
	         "t.hcl:1:16: unknown key \"verfy\" in consul.ssl block; did "
	         "you mean \"verify\"?");
	text_err("consul { retry { atempts = 1 } }\n",
	         "t.hcl:1:18: unknown key \"atempts\" in consul.retry block; "
	         "did you mean \"attempts\"?");
	text_err("wait { mn = \"1s\" }\n",
	         "t.hcl:1:8: unknown key \"mn\" in wait block; did you mean "
	         "\"min\"?");
	text_err("order { mod = \"none\" }\n",
	         "t.hcl:1:9: unknown key \"mod\" in order block; did you mean "
	         "\"mode\"?");
	text_err("template {\n source = \"s\"\n guard { shrnk = 1 }\n}\n",
	         "t.hcl:3:10: unknown key \"shrnk\" in template.guard block; "
	         "did you mean \"shrink\"?");
	text_err("template {\n exec { comand = \"x\" }\n}\n",
	         "t.hcl:2:9: unknown key \"comand\" in template.exec block; "
	         "did you mean \"command\"?");

	/* consul-template options we do not implement. */
	text_err("vault { address = \"x\" }\n",
	         "t.hcl:1:1: \"vault\" is not supported by consul-hosts "
	         "(Vault)");
	text_err("exec { command = \"x\" }\n",
	         "t.hcl:1:1: \"exec\" is not supported by consul-hosts (exec "
	         "mode)");
	text_err("syslog { enabled = true }\n",
	         "t.hcl:1:1: \"syslog\" is not supported by consul-hosts (it "
	         "logs to stderr or the journal)");
	text_err("dedup { enabled = true }\n",
	         "t.hcl:1:1: \"dedup\" is not supported by consul-hosts "
	         "(dedup mode)");
	text_err("consul { namespace = \"x\" }\n",
	         "t.hcl:1:10: \"namespace\" is not supported by consul-hosts "
	         "(Consul Enterprise namespaces)");
	text_err("template {\n sandbox_path = \"/x\"\n}\n",
	         "t.hcl:2:2: \"sandbox_path\" is not supported by "
	         "consul-hosts");
	text_err("template {\n exec { splay = \"5s\" }\n}\n",
	         "t.hcl:2:9: \"splay\" is not supported by consul-hosts");

	/* Types. */
	text_err("max_stale = 5\n",
	         "t.hcl:1:13: max_stale: expected a duration like \"5s\", got "
	         "number");
	text_err("max_stale = \"5\"\n",
	         "t.hcl:1:13: max_stale: invalid duration \"5\" (expected a "
	         "number and unit like \"250ms\", \"5s\" or \"1m30s\")");
	text_err("max_stale = \"99999999h\"\n",
	         "t.hcl:1:13: max_stale: duration \"99999999h\" is too long");
	text_err("block_query_wait = \"20m\"\n",
	         "t.hcl:1:20: block_query_wait: must be between 1s and 10m "
	         "(Consul's limit)");
	{
		struct config *c = text_ok("node_join_settle = \"750ms\"\n" T);

		assert_int_equal(c->node_join_settle_ms, 750);
		assert_false(c->block_query_wait_set);
		config_free(c);
	}
	text_err("node_join_settle = \"6s\"\n",
	         "t.hcl:1:20: node_join_settle: at most 5s (a removal made "
	         "meanwhile waits for it too)");
	text_err("log_level = 3\n",
	         "t.hcl:1:13: log_level: expected a string, got number");
	text_err("pid_file = \"\"\n", "t.hcl:1:12: pid_file: must not be "
	                              "empty");
	text_err("consul { ssl { verify = \"no\" } }\n",
	         "t.hcl:1:25: verify: expected true or false, got string");
	text_err("consul { ssl = \"on\" }\n",
	         "t.hcl:1:16: ssl: expected a block, got string");
	text_err("consul = 8500\n",
	         "t.hcl:1:10: consul: expected a block, got number");
	text_err("consul { token = \"a b\" }\n",
	         "t.hcl:1:18: token: only printable characters without spaces "
	         "are allowed");
	text_err("consul { retry { attempts = -1 } }\n",
	         "t.hcl:1:29: attempts: -1 is out of range (0 to 1000000)");
}

/* The keys this project adds for reliability: answer size, names. */
static void test_config_reliability_keys(void **state)
{
	struct config *c;

	(void)state;
	c = text_ok(T);
	assert_int_equal(c->max_response_size, 16u << 20);
	assert_null(c->reserved_names);
	assert_int_equal(c->nreserved_names, 0);
	config_free(c);
	c = text_ok(
	        "max_response_size = \"128MiB\"\n"
	        "reserved_names = [\"gw.example\", \"*.corp.example\"]\n" T);
	assert_int_equal(c->max_response_size, 128u << 20);
	assert_int_equal(c->nreserved_names, 2);
	assert_string_equal(c->reserved_names[0], "gw.example");
	assert_string_equal(c->reserved_names[1], "*.corp.example");
	assert_null(c->reserved_names[2]);
	config_free(c);
	c = text_ok("max_response_size = 1048576\nreserved_names = []\n" T);
	assert_int_equal(c->max_response_size, 1u << 20);
	assert_int_equal(c->nreserved_names, 0);
	config_free(c);
	c = text_ok("max_response_size = \"5MB\"\n" T);
	assert_int_equal(c->max_response_size, 5000000);
	config_free(c);
	text_err("max_response_size = \"32 MiB\"\n" T,
	         "t.hcl:1:21: max_response_size: expected a size like "
	         "\"32MiB\" (B, KiB, MiB, GiB, KB, MB, GB) or a number of "
	         "bytes");
	text_err("max_response_size = \"2GiB\"\n" T,
	         "t.hcl:1:21: max_response_size: must be between 64 KiB and "
	         "1024 MiB");
	text_err("max_response_size = 1000\n" T,
	         "t.hcl:1:21: max_response_size: must be between 64 KiB and "
	         "1024 MiB");
	text_err("reserved_names = \"localhost\"\n" T,
	         "t.hcl:1:18: reserved_names: expected a list of host names, "
	         "got string");
	text_err("reserved_names = [\"ok\", \"bad name\"]\n" T,
	         "t.hcl:1:25: reserved_names: expected a host name or "
	         "\"*.domain\", got an invalid name");
}

static void test_config_validation2(void **state)
{
	(void)state;
	text_err("consul { retry { backoff = \"2m\" } }\n" T,
	         "consul.retry: max_backoff (1m0s) is less than backoff "
	         "(2m0s)");
	text_err("consul { ssl { key = \"/k\" } }\n" T,
	         "consul.ssl: key is set but cert is not");
	text_err("kill_signal = \"SIGHUP\"\n" T,
	         "kill_signal and reload_signal are the same signal");
	text_err("kill_signal = \"SIGSEGV\"\n" T,
	         "t.hcl:1:15: kill_signal: SIGSEGV reports a crash (expected "
	         "SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM "
	         "or SIGWINCH, or \"\" for none)");
	text_err("reload_signal = \"SIGINT\"\n" T,
	         "t.hcl:1:17: reload_signal: SIGINT always stops consul-hosts "
	         "(systemd stops services with SIGTERM); choose another "
	         "reload signal");
	text_err("reload_signal = 1\n",
	         "t.hcl:1:17: reload_signal: expected a signal name like "
	         "\"SIGHUP\", got number");
	text_err("wait = \"5s:1s\"\n",
	         "t.hcl:1:8: wait: max (1s) is less than min (5s)");
	text_err("wait { max = \"1s\" }\n",
	         "t.hcl:1:14: wait: max without min");
	text_err("wait = true\n", "t.hcl:1:8: wait: expected \"min[:max]\" "
	                          "like \"5s:30s\" or a block, got boolean");
	text_err("order = \"shuffle\"\n",
	         "t.hcl:1:9: order: unknown mode \"shuffle\" (expected stable, "
	         "weighted, balanced, random or none)");
	text_err("template = \"x\"\n",
	         "t.hcl:1:12: template: expected a block, got string");
	text_err("template = [\"x\"]\n",
	         "t.hcl:1:13: template: expected a block, got string");

	/* Template checks. */
	text_err("template {\n destination = \"/d\"\n}\n",
	         "t.hcl:1:1: template: needs a source or contents");
	text_err("template {\n source = \"s\"\n}\n",
	         "t.hcl:1:1: template: needs a destination (only -dry, which "
	         "prints to stdout, can do without)");
	text_err("template {\n source = \"s\"\n contents = \"c\"\n"
	         " destination = \"/d\"\n}\n",
	         "t.hcl:3:2: template: source and contents are mutually "
	         "exclusive");
	text_err("template {\n source = \"s\"\n destination = \"/d\"\n"
	         " perms = 01777777\n}\n",
	         "t.hcl:4:10: perms: 01777777 is out of range (0 to 07777)");
	text_err("template {\n perms = true\n}\n",
	         "t.hcl:2:10: perms: expected a number like 0644, got "
	         "boolean");
	text_err("template {\n command = []\n}\n",
	         "t.hcl:2:12: command: the list is empty");
	text_err("template {\n command = [\"a\", 1]\n}\n",
	         "t.hcl:2:18: command: expected a string, got number");
	text_err("template {\n command = \"\"\n}\n",
	         "t.hcl:2:12: command: expected a command of 1 to 4096 "
	         "characters");
	text_err("template {\n emit = 1.5\n}\n",
	         "t.hcl:2:9: emit: expected a whole number, got number");
	text_err("template {\n guard { shrink = 2 }\n}\n",
	         "t.hcl:2:19: shrink: 2 is out of range (0 to 1; 0 disables)");
	text_err("template {\n guard { hold = \"soon\" }\n}\n",
	         "t.hcl:2:17: hold: invalid duration \"soon\" (expected a "
	         "number and unit like \"250ms\", \"5s\" or \"1m30s\")");
	text_err("template {\n user = -1\n}\n",
	         "t.hcl:2:9: user: -1 is not a valid id");
	text_err("template {\n destination = \"/d\nx\"\n}\n",
	         "t.hcl:2:16: unterminated string");
	text_err("template {\n source = \"s\"\n destination = \"/d\"\n}\n"
	         "template {\n source = \"s2\"\n destination = \"/d\"\n}\n",
	         "t.hcl:5:1: template: destination \"/d\" is also written by "
	         "the template at t.hcl:1");
	text_err("", "no templates: give -template \"source:destination\" or "
	             "a template block in a -config file");
}

static void test_config_values(void **state)
{
	struct config *c;

	(void)state;
	/* Command lists are quoted for sh -c. */
	c = text_ok("template {\n source = \"s\"\n destination = \"/d\"\n"
	            " command = [\"echo\", \"it's\", \"a b\", \"\", \"x=1\"]\n"
	            " check_command = [\"test\", \"-s\"]\n"
	            " perms = 0\n uid = 33\n gid = \"www\"\n}\n"
	            "order = \"none\"\nshuffle_seed = \"seed\"\n"
	            "default_delimiters { left = \"<%\" right = \"%>\" }\n"
	            "wait { min = \"3s\" }\nmax_stale = 0\n"
	            "consul { ssl { cert = \"/both.pem\" } }\n");
	assert_string_equal(c->templates[0].command,
	                    "echo 'it'\\''s' 'a b' '' x=1");
	assert_string_equal(c->templates[0].check_command, "test -s");
	assert_int_equal(c->templates[0].perms, -1); /* 0 keeps the mode */
	assert_string_equal(c->templates[0].user, "33");
	assert_string_equal(c->templates[0].group, "www");
	assert_int_equal(c->order, ORDER_NONE);
	assert_string_equal(c->order_seed, "seed");
	assert_string_equal(c->templates[0].left_delim, "<%");
	assert_string_equal(c->templates[0].right_delim, "%>");
	assert_int_equal(c->wait.min_ms, 3000);
	assert_int_equal(c->wait.max_ms, 12000);
	assert_int_equal(c->max_stale_ms, 0);
	/* A cert alone (file with both) enables TLS, as consul-template. */
	assert_true(c->consul.ssl.enabled);
	config_free(c);

	/* Other order modes, wait "0s" disables, perms as JSON string. */
	c = text_ok("{\"order\": {\"mode\": \"random\"}, \"wait\": \"0s\","
	            "\"template\": {\"source\": \"s\", \"destination\": \"/d\","
	            "\"perms\": \"0600\", \"wait\": {\"min\": \"1s\", \"max\": "
	            "\"1s\"}}}");
	assert_int_equal(c->order, ORDER_RANDOM);
	assert_false(c->wait.enabled);
	assert_int_equal(c->templates[0].perms, 0600);
	assert_true(c->templates[0].wait.enabled);
	assert_int_equal(c->templates[0].wait.max_ms, 1000);
	config_free(c);

	/* Repeated non-template blocks merge; later wins. */
	c = text_ok("consul { address = \"a:1\" }\nconsul { token = \"t\" }\n"
	            "consul { address = \"b:2\" }\n" T);
	assert_string_equal(c->consul.address, "b:2");
	assert_string_equal(c->consul.token, "t");
	assert_false(c->consul.ssl.enabled);
	config_free(c);
	assert_null(config_free(NULL));
}

/* The publisher's keys: format, the command budget, guard.enabled, and
 * the deprecated restart_min_interval (one run per interval). */
static void test_config_publish_keys(void **state)
{
	struct config *c;

	(void)state;
	c = text_ok("template {\n source = \"s\"\n destination = \"/d\"\n"
	            " restart_min_interval = \"10s\"\n}\n");
	assert_int_equal(c->templates[0].command_max_runs, 1);
	assert_int_equal(c->templates[0].command_window_ms, 10000);
	assert_true(c->templates[0].restart_min_interval_set);
	config_free(c);
	text_err("template {\n source = \"s\"\n format = \"yaml\"\n}\n",
	         "t.hcl:3:11: format: expected \"hosts\" (a hosts file: "
	         "checked line by line, each name's lines ordered per node) "
	         "or \"text\" (any other file), got yaml");
	text_err("template {\n source = \"s\"\n command_max_runs = 0\n}\n",
	         "t.hcl:3:21: command_max_runs: must be at least 1");
	text_err("template {\n source = \"s\"\n guard { enabled = 1 }\n}\n",
	         "t.hcl:3:20: enabled: expected true or false, got number");
}

/* consul-template's function_denylist, and function_blacklist, its name
 * before 0.25, combined (config/template.go Finalize). */
static void test_config_function_denylist(void **state)
{
	struct config *c;
	char **d;

	(void)state;
	c = text_ok("template {\n source = \"s\"\n destination = \"/d\"\n"
	            " function_denylist = [\"env\", \"sprig_*\"]\n"
	            " function_blacklist = [\"file\"]\n}\n"
	            "template {\n source = \"s\"\n destination = \"/e\"\n}\n");
	d = c->templates[0].function_denylist;
	assert_non_null(d);
	assert_string_equal(d[0], "env");
	assert_string_equal(d[1], "sprig_*");
	assert_string_equal(d[2], "file");
	assert_null(d[3]);
	assert_null(c->templates[1].function_denylist);
	config_free(c);

	c = text_ok("{\"template\": {\"source\": \"s\", \"destination\": "
	            "\"/d\", \"function_denylist\": [\"plugin\"]}}");
	assert_string_equal(c->templates[0].function_denylist[0], "plugin");
	assert_null(c->templates[0].function_denylist[1]);
	config_free(c);

	text_err("template {\n source = \"s\"\n destination = \"/d\"\n"
	         " function_denylist = \"env\"\n}\n",
	         "t.hcl:4:22: function_denylist: expected a list of "
	         "function names, got string");
	text_err("template {\n source = \"s\"\n destination = \"/d\"\n"
	         " function_denylist = [\"env\", 3]\n}\n",
	         "t.hcl:4:30: function_denylist: expected a function "
	         "name or glob, got number");
}

static void test_config_reload(void **state)
{
	struct config *c, *c2;
	struct err e;
	const char *f;

	(void)state;
	f = tmp_file("reload.hcl", "log_level = \"debug\"\n" T);
	c = LOAD_OK("-config", f, "-max-stale", "3s");
	assert_int_equal(c->argc, 5);
	assert_string_equal(c->argv[4], "3s");
	assert_int_equal(config_reload(c, &c2, &e, NULL), 0);
	assert_config_eq(c, c2);
	config_free(c2);

	tmp_file("reload.hcl", "log_level = \"err\"\n" T T);
	assert_int_equal(config_reload(c, &c2, &e, NULL), -EINVAL);
	assert_non_null(strstr(e.msg, "is also written by the template at"));
	tmp_file("reload.hcl", "log_level = \"err\"\n" T);
	assert_int_equal(config_reload(c, &c2, &e, NULL), 0);
	assert_string_equal(c2->log_level, "err");
	assert_int_equal(c2->max_stale_ms, 3000); /* the flag still wins */
	config_free(c2);
	config_free(c);
}

/* tmpdir/<name>, with its directories made. */
static const char *tmp_path(const char *name)
{
	static char path[8][300];
	static int slot;
	char *p;

	slot = (slot + 1) % 8;
	snprintf(path[slot], sizeof(path[slot]), "%s/%s", tmpdir, name);
	for (p = path[slot] + strlen(tmpdir) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path[slot], 0755);
		*p = '/';
	}
	return path[slot];
}

static void tmp_write(const char *name, const char *text)
{
	FILE *f = fopen(tmp_path(name), "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Every error of a load, formatted, one per line. */
static int load_all(char *out, size_t size, const char *first, ...)
{
	char *argv[32], buf[700];
	struct err_list all = {NULL, 0, 0};
	enum config_action action;
	struct config *c = NULL;
	const char *a;
	struct err e;
	va_list ap;
	int argc = 0, r;
	size_t n = 0;

	argv[argc++] = strdup("consul-hosts");
	va_start(ap, first);
	for (a = first; a != NULL && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = strdup(a);
	va_end(ap);
	argv[argc] = NULL;
	r = config_load(argc, argv, &c, &action, &e, &all);
	out[0] = '\0';
	for (size_t i = 0; i < all.n; i++)
		n += (size_t)snprintf(out + n, size - n, "%s\n",
		                      err_format(&all.v[i], buf, sizeof(buf)));
	/* The first also went to e, for callers that want one. */
	if (r < 0)
		assert_string_equal(err_format(&e, buf, sizeof(buf)),
		                    err_format(&all.v[0], buf + 350, 350));
	err_list_free(&all);
	config_free(c);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return r;
}

/*
 * -config DIR reads what consul-template reads (filepath.Walk): every
 * file whatever its name (a 00-consul.conf was once skipped, and the
 * daemon used 127.0.0.1:8500), hidden files, subdirectories in lexical
 * order, and symlinked files; symlinked directories are read too.
 */
static void test_config_dir_walk(void **state)
{
	struct config *c;
	char dir[300];

	(void)state;
	tmp_write("walk/00-consul.conf",
	          "consul { address = \"10.9.9.9:8500\" }\n");
	tmp_write("walk/10-a.hcl", "template {\n source = \"a\"\n"
	                           " destination = \"/a\"\n}\n");
	tmp_write("walk/20-sub/05-b.json",
	          "{\"template\": [{\"source\": \"b\", "
	          "\"destination\": \"/b\"}]}\n");
	tmp_write("walk/20-sub/.hidden", "log_level = \"debug\"\n");
	tmp_write("outside/c.hcl", "template {\n source = \"c\"\n"
	                           " destination = \"/c\"\n}\n");
	tmp_write("outside/dir/d.hcl", "template {\n source = \"d\"\n"
	                               " destination = \"/d\"\n}\n");
	assert_int_equal(symlink("../outside/c.hcl", tmp_path("walk/30-c.hcl")),
	                 0);
	assert_int_equal(symlink("../outside/dir", tmp_path("walk/40-linkdir")),
	                 0);
	snprintf(dir, sizeof(dir), "%s", tmp_path("walk"));
	c = LOAD_OK("-config", dir);
	assert_string_equal(c->consul.address, "10.9.9.9:8500");
	assert_string_equal(c->log_level, "debug");
	assert_int_equal(c->ntemplates, 4);
	assert_string_equal(c->templates[0].source, "a");
	assert_string_equal(c->templates[1].source, "b");
	assert_string_equal(c->templates[2].source, "c");
	assert_string_equal(c->templates[3].source, "d");
	config_free(c);
	/* A trailing slash changes nothing. */
	strcat(dir, "/");
	c = LOAD_OK("-config", dir);
	assert_int_equal(c->ntemplates, 4);
	config_free(c);
}

/* What cannot be read under a directory is an error naming the file. */
static void test_config_dir_errors(void **state)
{
	char want[2000], got[4000], dir[300];

	(void)state;
	tmp_write("bad/README", "Not a config file.\n");
	tmp_write("bad/a.hcl", "template {\n source = \"a\"\n"
	                       " destination = \"/a\"\n}\n");
	assert_int_equal(symlink("nowhere.hcl", tmp_path("bad/b-dangling")), 0);
	assert_int_equal(symlink(".", tmp_path("bad/c-loop")), 0);
	assert_int_equal(mkfifo(tmp_path("bad/d-fifo"), 0600), 0);
	snprintf(dir, sizeof(dir), "%s", tmp_path("bad"));
	assert_int_equal(load_all(got, sizeof(got), "-config", dir, NULL),
	                 -EINVAL);
	snprintf(want, sizeof(want),
	         "%s/README:1:5: expected \"=\" or \"{\" after the key, got "
	         "\"a\" (every file under a -config directory is read as "
	         "configuration, as consul-template does)\n"
	         "%s/b-dangling: symbolic link to a missing file (No such "
	         "file or directory)\n"
	         "%s/c-loop: leads back to a directory being read (a symbolic "
	         "link loop)\n"
	         "%s/d-fifo: not a regular file or directory\n",
	         dir, dir, dir, dir);
	assert_string_equal(got, want);
}

/* One run reports every error: flags, environment, files, checks. */
static void test_config_all_errors(void **state)
{
	char want[3000], got[4000];
	const char *f1, *f2;

	(void)state;
	f1 = tmp_file("e1.hcl", "max_stale = 5\n"
	                        "template {\n source = 1\n"
	                        " destinaton = \"/x\"\n}\n"
	                        "consul { retry { max_backoff = \"0\" } }\n");
	f2 = tmp_file("e2.hcl", "kill_signal = \"SIGSTOP\"\n"
	                        "template {\n source = \"s\"\n}\n");
	setenv("CT_LOG", "loud", 1);
	assert_int_equal(load_all(got, sizeof(got), "-vault-token", "t",
	                          "-config", f1, "-config", f2, "-wait",
	                          "5s:1s", "-onse", NULL),
	                 -EINVAL);
	unsetenv("CT_LOG");
	snprintf(want, sizeof(want),
	         "-vault-token: not supported by consul-hosts (Vault)\n"
	         "unknown flag \"-onse\"; did you mean \"-once\"?\n"
	         "CT_LOG: unknown level \"loud\" (expected trace, debug, "
	         "info, warn or err)\n"
	         "%s:1:13: max_stale: expected a duration like \"5s\", got "
	         "number\n"
	         "%s:3:11: source: expected a string, got number\n"
	         "%s:4:2: unknown key \"destinaton\" in template block; did "
	         "you mean \"destination\"?\n"
	         "%s:1:15: kill_signal: SIGSTOP cannot be caught (expected "
	         "SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM "
	         "or SIGWINCH, or \"\" for none)\n"
	         "-wait: max (1s) is less than min (5s)\n"
	         "consul.retry: max_backoff 0 (no limit, in consul-template) "
	         "is not supported: consul-hosts retries for as long as it "
	         "runs and needs a ceiling; give a duration such as \"1m\"\n"
	         "%s:2:1: template: needs a destination (only -dry, which "
	         "prints to stdout, can do without)\n",
	         f1, f1, f1, f2, f2);
	assert_string_equal(got, want);
}

/* consul.retry carries consul-template's settings; 0 max_backoff is not
 * a ceiling. */
static void test_config_retry(void **state)
{
	struct config *c;

	(void)state;
	c = text_ok("consul { retry {\n enabled = false\n attempts = 0\n"
	            " backoff = \"1s\"\n max_backoff = \"10s\"\n} }\n" T);
	assert_false(c->consul.retry.enabled);
	assert_int_equal(c->consul.retry.attempts, 0);
	assert_int_equal(c->consul.retry.backoff_ms, 1000);
	assert_int_equal(c->consul.retry.max_backoff_ms, 10000);
	config_free(c);
	/* -retry is consul-template's older spelling of the backoff flag. */
	c = LOAD_OK("-template", "a:b", "-retry", "2s", "-consul-retry=false",
	            "-consul-retry-attempts=0");
	assert_int_equal(c->consul.retry.backoff_ms, 2000);
	assert_false(c->consul.retry.enabled);
	assert_int_equal(c->consul.retry.attempts, 0);
	config_free(c);
	text_err("consul { retry { max_backoff = \"0s\" } }\n" T,
	         "consul.retry: max_backoff 0 (no limit, in consul-template) "
	         "is not supported: consul-hosts retries for as long as it "
	         "runs and needs a ceiling; give a duration such as \"1m\"");
	/* -h says what the daemon and -once do with them. */
	assert_non_null(strstr(config_usage(), "-once gives up after N"));
	assert_non_null(strstr(config_usage(), "The daemon never gives up"));
}

/* kill_signal and reload_signal as consul-template reads them. */
static void test_config_signals(void **state)
{
	struct config *c;

	(void)state;
	c = text_ok("kill_signal = \"SIGINT\"\nreload_signal = \"\"\n" T);
	assert_int_equal(c->kill_signal, SIGINT);
	assert_int_equal(c->reload_signal, 0);
	config_free(c);
	/* "" and SIGNULL: none (SIGTERM and SIGINT still stop). */
	c = text_ok("kill_signal = \"\"\nreload_signal = \"SIGNULL\"\n" T);
	assert_int_equal(c->kill_signal, 0);
	assert_int_equal(c->reload_signal, 0);
	config_free(c);
	c = text_ok("kill_signal = \"usr2\"\nreload_signal = \"SIGWINCH\"\n" T);
	assert_int_equal(c->kill_signal, SIGUSR2);
	assert_int_equal(c->reload_signal, SIGWINCH);
	config_free(c);
}

/* consul-template's other environment: log level, token file, config. */
static void test_config_env_consul_template(void **state)
{
	struct config *c;
	const char *f;

	(void)state;
	setenv("CONSUL_TEMPLATE_LOG_LEVEL", " WARN\n", 1);
	c = LOAD_OK("-template", "a:b");
	assert_string_equal(c->log_level, "warn");
	config_free(c);
	/* First set wins, as consul-template's stringFromEnv; files and
	 * flags beat it. */
	setenv("CONSUL_TEMPLATE_LOG", "debug", 1);
	setenv("CT_LOG", "err", 1);
	c = LOAD_OK("-template", "a:b");
	assert_string_equal(c->log_level, "err");
	config_free(c);
	c = LOAD_OK("-config",
	            tmp_file("lvl.hcl", "log_level = \"trace\"\n" T));
	assert_string_equal(c->log_level, "trace");
	config_free(c);
	c = LOAD_OK("-template", "a:b", "-log-level", "info");
	assert_string_equal(c->log_level, "info");
	config_free(c);
	setup(NULL);

	/* CONSUL_TOKEN_FILE beats CONSUL_HTTP_TOKEN_FILE, as there. */
	setenv("CONSUL_HTTP_TOKEN_FILE", tmp_file("t1", "one\n"), 1);
	setenv("CONSUL_TOKEN_FILE", tmp_file("t2", "two\n"), 1);
	c = LOAD_OK("-template", "a:b");
	assert_string_equal(c->consul.token, "two");
	config_free(c);
	setup(NULL);

	/* CT_LOCAL_CONFIG: over the files, under the flags. */
	f = tmp_file("base.hcl", "max_stale = \"1s\"\nlog_level = \"err\"\n" T);
	setenv("CT_LOCAL_CONFIG",
	       "max_stale = \"7s\"\nlog_level = \"debug\"\n"
	       "template {\n source = \"env\"\n destination = \"/env\"\n}\n",
	       1);
	c = LOAD_OK("-config", f, "-log-level", "warn");
	assert_int_equal(c->max_stale_ms, 7000);
	assert_string_equal(c->log_level, "warn");
	assert_int_equal(c->ntemplates, 2);
	assert_string_equal(c->templates[1].source, "env");
	config_free(c);
	setenv("CT_LOCAL_CONFIG", "bogus = 1\n", 1);
	LOAD_ERR("CT_LOCAL_CONFIG:1:1: unknown key \"bogus\" at top level",
	         "-template", "a:b");
	setup(NULL);

	/* consul-template's delimiter flags. */
	c = LOAD_OK("-template", "a:b", "-default-left-delimiter", "<<",
	            "-default-right-delimiter=>>");
	assert_string_equal(c->templates[0].left_delim, "<<");
	assert_string_equal(c->templates[0].right_delim, ">>");
	config_free(c);
}

static int group_setup(void **state)
{
	const char *s = getenv("CH_SOURCE_DIR");

	(void)state;
	snprintf(srcdir, sizeof(srcdir), "%s", s ? s : ".");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_config_seed, setup),
	        cmocka_unit_test_setup(test_config_defaults, setup),
	        cmocka_unit_test_setup(test_config_full_hcl_json_same, setup),
	        cmocka_unit_test_setup(test_config_merge_order, setup),
	        cmocka_unit_test_setup(test_config_merge_dir, setup),
	        cmocka_unit_test_setup(test_config_env, setup),
	        cmocka_unit_test_setup(test_config_flags, setup),
	        cmocka_unit_test_setup(test_config_flag_errors, setup),
	        cmocka_unit_test_setup(test_config_file_errors, setup),
	        cmocka_unit_test_setup(test_config_validation, setup),
	        cmocka_unit_test_setup(test_config_validation2, setup),
	        cmocka_unit_test_setup(test_config_reliability_keys, setup),
	        cmocka_unit_test_setup(test_config_values, setup),
	        cmocka_unit_test_setup(test_config_publish_keys, setup),
	        cmocka_unit_test_setup(test_config_function_denylist, setup),
	        cmocka_unit_test_setup(test_config_reload, setup),
	        cmocka_unit_test_setup(test_config_dir_walk, setup),
	        cmocka_unit_test_setup(test_config_dir_errors, setup),
	        cmocka_unit_test_setup(test_config_all_errors, setup),
	        cmocka_unit_test_setup(test_config_retry, setup),
	        cmocka_unit_test_setup(test_config_signals, setup),
	        cmocka_unit_test_setup(test_config_env_consul_template, setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
