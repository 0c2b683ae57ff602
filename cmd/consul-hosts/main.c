/*
 * consul-hosts: render Consul's catalog into hosts files, ordered per node.
 *
 * main() only turns arguments into a config and runs the loop: the runner
 * (lib/runner.h) does the work. Signals are loop events: the kill signal
 * and SIGINT stop gracefully (exit 0), the reload signal re-reads config
 * and templates and swaps runners only when the new ones parse.
 * Exit codes: 0 done, 1 runtime failure, 2 usage or config error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "config.h"
#include "err.h"
#include "explain.h"
#include "log.h"
#include "runner.h"
#include "sdnotify.h"
#include "xmalloc.h"

struct daemon {
	uv_loop_t *loop;
	struct config *cfg;
	struct runner *runner;
	struct config *old_cfg; /* kept until the old runner has closed */
	uv_signal_t sig_stop;
	uv_signal_t sig_int;
	uv_signal_t sig_reload;
	uv_timer_t watchdog;
	uv_timer_t exit_timer; /* defers -once's exit out of the callback */
	int exit_code;
	bool stopping;
	bool reload_pending; /* a reload signal came while one settled */
};

static void daemon_shutdown(struct daemon *d, int code);

static void on_status(void *data, const char *status)
{
	(void)data;
	/* sdnotify_status drops newlines: the text may quote Consul. */
	sdnotify_status("%.200s", status);
}

static void on_ready(void *data)
{
	(void)data;
	log_info("first complete render published; ready");
	sdnotify_send("READY=1\nSTATUS=watching Consul");
}

static void on_exit_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;

	daemon_shutdown(d, d->exit_code);
}

/* Called from inside the runner's callbacks: shut down on the next turn. */
static void on_exit_cb(void *data, int code)
{
	struct daemon *d = data;

	if (d->stopping || uv_is_active((uv_handle_t *)&d->exit_timer))
		return;
	d->exit_code = code;
	uv_timer_start(&d->exit_timer, on_exit_timer, 0, 0);
}

static const struct runner_cbs *daemon_cbs(struct daemon *d)
{
	static struct runner_cbs cbs;

	cbs.on_ready = on_ready;
	cbs.on_exit = on_exit_cb;
	cbs.on_status = on_status;
	cbs.data = d;
	return &cbs;
}

static void close_handle(uv_handle_t *h)
{
	if (h->loop != NULL && !uv_is_closing(h))
		uv_close(h, NULL);
}

/* The runner is gone: close main's own handles so uv_run returns. */
static void runner_closed(void *data)
{
	struct daemon *d = data;

	d->runner = NULL;
	close_handle((uv_handle_t *)&d->sig_stop);
	close_handle((uv_handle_t *)&d->sig_int);
	close_handle((uv_handle_t *)&d->sig_reload);
	/* Closing a uv_signal restores the default action: a second stop
	 * signal while the last handles close must not kill us (exit 0). */
	if (d->cfg != NULL) {
		signal(d->cfg->kill_signal, SIG_IGN);
		signal(d->cfg->reload_signal > 0 ? d->cfg->reload_signal
		                                 : SIGHUP,
		       SIG_IGN);
	}
	signal(SIGINT, SIG_IGN);
	close_handle((uv_handle_t *)&d->watchdog);
	close_handle((uv_handle_t *)&d->exit_timer);
}

static void daemon_shutdown(struct daemon *d, int code)
{
	if (d->stopping)
		return;
	d->stopping = true;
	d->exit_code = code;
	sdnotify_send("STOPPING=1");
	if (d->runner != NULL)
		runner_close(d->runner, runner_closed, d);
	else
		runner_closed(d);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	log_info("%s: stopping", strsignal(signum));
	daemon_shutdown(d, 0);
}

static void daemon_reload(struct daemon *d);

/*
 * The old runner has finished (its running command or check included):
 * only now does the new one start, so the two never publish the same
 * destination at once.
 */
static void old_runner_closed(void *data)
{
	struct daemon *d = data;

	d->old_cfg = config_free(d->old_cfg);
	if (d->stopping)
		return;
	runner_start(d->runner);
	sdnotify_send("READY=1\nSTATUS=reloaded");
	if (d->reload_pending) {
		d->reload_pending = false;
		daemon_reload(d);
	}
}

static void on_reload_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	(void)signum;
	if (d->stopping)
		return;
	if (d->old_cfg != NULL) {
		/* The previous runner is still finishing (a command runs):
		 * reload again as soon as it is gone, so no signal is lost. */
		log_info("reload requested while the previous one settles; "
		         "reloading when it is done");
		d->reload_pending = true;
		return;
	}
	daemon_reload(d);
}

static void daemon_reload(struct daemon *d)
{
	struct config *cfg = NULL;
	struct runner *r = NULL, *old;
	struct err e;
	char msg[1100];

	sdnotify_reloading();
	log_info("reloading configuration and templates");
	err_clear(&e);
	if (config_reload(d->cfg, &cfg, &e) < 0 ||
	    runner_new(d->loop, cfg, daemon_cbs(d), &r, &e) < 0) {
		log_errx("reload failed, keeping the running configuration: %s",
		         err_format(&e, msg, sizeof(msg)));
		config_free(cfg);
		sdnotify_send("READY=1\nSTATUS=reload failed; old config "
		              "still running");
		return;
	}
	log_set_level((enum log_level)log_level_parse(cfg->log_level));
	/* The old runner's file stays as it is until the new one publishes;
	 * the new one starts when the old one has closed. */
	old = d->runner;
	d->old_cfg = d->cfg;
	d->cfg = cfg;
	d->runner = r;
	runner_close(old, old_runner_closed, d);
}

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	sdnotify_send("WATCHDOG=1");
}

static int write_pid_file(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -errno;
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

static int run_daemon(struct daemon *d)
{
	struct err e;
	char msg[1100];
	uint64_t wd_usec = 0;
	int wd_on;

	err_clear(&e);
	if (runner_new(d->loop, d->cfg, daemon_cbs(d), &d->runner, &e) < 0) {
		fprintf(stderr, "consul-hosts: %s\n",
		        err_format(&e, msg, sizeof(msg)));
		return 2;
	}
	uv_signal_init(d->loop, &d->sig_stop);
	uv_signal_init(d->loop, &d->sig_int);
	uv_signal_init(d->loop, &d->sig_reload);
	d->sig_stop.data = d->sig_int.data = d->sig_reload.data = d;
	uv_signal_start(&d->sig_stop, on_stop_signal, d->cfg->kill_signal);
	if (d->cfg->kill_signal != SIGINT)
		uv_signal_start(&d->sig_int, on_stop_signal, SIGINT);
	if (d->cfg->reload_signal > 0 && !d->cfg->once)
		uv_signal_start(&d->sig_reload, on_reload_signal,
		                d->cfg->reload_signal);
	uv_timer_init(d->loop, &d->watchdog);
	uv_timer_init(d->loop, &d->exit_timer);
	d->exit_timer.data = d;
	/* 1 when the watchdog is on for us: ping at half its interval. */
	wd_on = sdnotify_watchdog_usec(&wd_usec);
	if (wd_on < 0)
		log_warnx(
		        "ignoring WATCHDOG_USEC: not a number of microseconds");
	else if (wd_on > 0 && wd_usec >= 2000)
		uv_timer_start(&d->watchdog, on_watchdog, wd_usec / 2000,
		               wd_usec / 2000);
	if (d->cfg->pid_file != NULL && write_pid_file(d->cfg->pid_file) < 0)
		log_warn("cannot write pid file %s", d->cfg->pid_file);

	sdnotify_send("STATUS=waiting for Consul");
	runner_start(d->runner);
	uv_run(d->loop, UV_RUN_DEFAULT);

	if (d->cfg->pid_file != NULL)
		unlink(d->cfg->pid_file);
	return d->exit_code;
}

/* -parse-only: parse config and templates, contact nothing. */
static int check_config(uv_loop_t *loop, struct config *cfg)
{
	struct runner *r = NULL;
	struct err e;
	char msg[1100];

	err_clear(&e);
	if (runner_new(loop, cfg, NULL, &r, &e) < 0) {
		fprintf(stderr, "consul-hosts: %s\n",
		        err_format(&e, msg, sizeof(msg)));
		return 2;
	}
	runner_close(r, NULL, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	printf("configuration OK\n");
	return 0;
}

/*
 * A -consul-token value on the command line is readable by every local
 * user (ps, /proc/PID/cmdline): overwrite it in place once the config has
 * its copy, as database clients do with passwords. It was visible from
 * exec until here; the man page recommends a token file instead.
 */
static void scrub_token_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char *v = NULL;

		if (a[0] != '-')
			continue;
		a += a[1] == '-' ? 2 : 1;
		if (strcmp(a, "consul-token") == 0 && i + 1 < argc)
			v = argv[++i];
		else if (strncmp(a, "consul-token=", 13) == 0)
			v = argv[i] + (a - argv[i]) + 13;
		if (v != NULL)
			memset(v, 'x', strlen(v));
	}
}

int main(int argc, char **argv)
{
	struct daemon d = {.exit_code = 0};
	enum config_action action = CONFIG_RUN;
	struct err e;
	char msg[1100];
	int code, lvl;

	log_init(LOG_LVL_INFO, -1);
	err_clear(&e);
	if (config_load(argc, argv, &d.cfg, &action, &e) < 0) {
		fprintf(stderr, "consul-hosts: %s\n",
		        err_format(&e, msg, sizeof(msg)));
		fprintf(stderr, "Run \"consul-hosts -h\" for usage.\n");
		return 2;
	}
	scrub_token_args(argc, argv);
	if (action == CONFIG_HELP) {
		fputs(config_usage(), stdout);
		config_free(d.cfg);
		return 0;
	}
	if (action == CONFIG_VERSION) {
		printf("consul-hosts %s\n", CH_VERSION);
		config_free(d.cfg);
		return 0;
	}
	lvl = log_level_parse(d.cfg->log_level ? d.cfg->log_level : "info");
	log_set_level(lvl < 0 ? LOG_LVL_INFO : (enum log_level)lvl);
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit (ulimit -f) below a render fails the write with
	 * EFBIG, which the publisher reports, instead of killing us. */
	signal(SIGXFSZ, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	d.loop = xmalloc(sizeof(*d.loop));
	uv_loop_init(d.loop);

	if (d.cfg->parse_only)
		code = check_config(d.loop, d.cfg);
	else if (d.cfg->explain != NULL)
		code = explain_run(d.loop, d.cfg, stdout);
	else
		code = run_daemon(&d);

	uv_run(d.loop, UV_RUN_DEFAULT); /* let close callbacks finish */
	if (uv_loop_close(d.loop) != 0)
		log_debug("event loop closed with handles still open");
	free(d.loop);
	config_free(d.old_cfg);
	config_free(d.cfg);
	curl_global_cleanup();
	return code;
}
