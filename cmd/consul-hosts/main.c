/*
 * consul-hosts: render Consul's catalog into hosts files, ordered per node.
 *
 * main() only turns arguments into a config and runs the loop: the runner
 * (lib/runner.h) does the work. Signals are loop events: SIGTERM, SIGINT
 * and the kill signal stop gracefully (exit 0, pid file removed), the
 * reload signal re-reads config and templates and swaps runners only
 * when the new ones parse. SIGHUP, SIGUSR1 and SIGUSR2 are ignored (with
 * a log line) when they are neither, as consul-template ignores them:
 * with reload_signal = "" a SIGHUP must not kill the daemon.
 * Exit codes: 0 done, 1 runtime failure, 2 usage or config error; with
 * -once -diff, diff(1)'s: 0 no difference, 1 differences, 2 trouble.
 *
 * Reporting: the runner's on_change marks STATUS= (under systemd) and the
 * metrics textfile (metrics { textfile }) as due; one timer sends STATUS=
 * at most every REPORT_STATUS_MS and writes the metrics at most every
 * REPORT_METRICS_MS, only after a change, so an idle daemon reports
 * nothing and no timer fires. The watchdog ping, which fires anyway,
 * refreshes STATUS='s ages. The metrics are written once more at exit.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "config/config.h"
#include "base/duration.h"
#include "base/err.h"
#include "base/log.h"
#include "daemon/metrics.h"
#include "daemon/runner.h"
#include "daemon/sdnotify.h"
#include "base/strmap.h"
#include "base/xmalloc.h"

#define DAEMON_MAX_SIGNALS 8
#define REPORT_STATUS_MS   1000 /* STATUS= at most this often */
#define REPORT_METRICS_MS  5000 /* the metrics file at most this often */
#define REPORT_STATUS_MAX  200  /* STATUS= text, bytes */

/* A caught signal; what it does is decided from the config in force. */
struct daemon_signal {
	uv_signal_t h;
	int signum;
	struct daemon *d;
};

struct daemon {
	uv_loop_t *loop;
	struct config *cfg;
	struct runner *runner;
	struct config *old_cfg; /* kept until the old runner has closed */
	struct daemon_signal sigs[DAEMON_MAX_SIGNALS];
	int nsigs;
	uv_timer_t watchdog;
	uv_timer_t exit_timer; /* defers -once's exit out of the callback */
	int exit_code;
	bool stopping;
	bool reload_pending; /* a reload signal came while one settled */

	/* Reporting: STATUS= and the metrics textfile. */
	uv_timer_t report_timer;
	bool notify;      /* $NOTIFY_SOCKET is set */
	int64_t start_ms; /* wall clock at start */
	bool status_due, metrics_due;
	uint64_t status_at;  /* loop time of the last STATUS= (0: none) */
	uint64_t metrics_at; /* and of the last metrics write */
	uint64_t metrics_hash;
	bool metrics_written;
	int metrics_error; /* the error last logged; 0: none */
	char note[160];    /* the last thing Consul said (on_status) */
	char status[REPORT_STATUS_MAX + 1];
};

static void daemon_shutdown(struct daemon *d, int code);
static void report_schedule(struct daemon *d);

/* The STATUS= text of now, in d->status; false when it is unchanged. */
static bool report_status_text(struct daemon *d)
{
	struct runner_stats st;
	char text[sizeof(d->status)];

	runner_get_stats(d->runner, &st);
	metrics_status(&st, wall_clock_ms(), d->note[0] ? d->note : NULL, text,
	               sizeof(text));
	if (strcmp(text, d->status) == 0)
		return false;
	memcpy(d->status, text, sizeof(text));
	return true;
}

static void report_status(struct daemon *d)
{
	d->status_due = false;
	d->status_at = uv_now(d->loop);
	if (d->runner != NULL && report_status_text(d))
		/* sdnotify_status drops newlines: the text may quote Consul. */
		sdnotify_status("%s", d->status);
}

/* Write the metrics textfile if its text changed; log a failure once. */
static void report_metrics(struct daemon *d)
{
	const char *path = d->cfg->metrics_textfile;
	struct runner_stats st;
	struct buf text;
	struct err e;
	uint64_t hash;
	char msg[700];
	int r;

	d->metrics_due = false;
	d->metrics_at = uv_now(d->loop);
	if (path == NULL || d->runner == NULL)
		return;
	runner_get_stats(d->runner, &st);
	buf_init(&text, 0);
	r = metrics_format(&st, d->start_ms, wall_clock_ms(), &text);
	hash = strmap_fnv1a(STRMAP_FNV_OFFSET, buf_str(&text), text.len);
	if (r == 0 && hash == d->metrics_hash && d->metrics_error == 0) {
		buf_free(&text);
		return;
	}
	err_clear(&e);
	if (r == 0)
		r = metrics_write(path, buf_str(&text), text.len,
		                  !d->metrics_written, &e);
	buf_free(&text);
	if (r < 0 && r != d->metrics_error)
		log_warnx("metrics: %s; retrying at the next change",
		          err_format(&e, msg, sizeof(msg)));
	else if (r == 0 && d->metrics_error != 0)
		log_info("metrics: %s written again", path);
	d->metrics_error = r;
	if (r == 0) {
		d->metrics_hash = hash;
		d->metrics_written = true;
	}
}

/* What is due and allowed now is done; the rest is timed. */
static void on_report_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;
	uint64_t now = uv_now(d->loop);

	if (d->status_due &&
	    (d->status_at == 0 || now >= d->status_at + REPORT_STATUS_MS))
		report_status(d);
	if (d->metrics_due &&
	    (d->metrics_at == 0 || now >= d->metrics_at + REPORT_METRICS_MS))
		report_metrics(d);
	report_schedule(d);
}

/* Start the timer for the earliest report due, unless it runs. */
static void report_schedule(struct daemon *d)
{
	uint64_t now = uv_now(d->loop), due = UINT64_MAX;

	if (d->stopping || d->report_timer.loop == NULL ||
	    uv_is_active((uv_handle_t *)&d->report_timer))
		return;
	if (d->status_due)
		due = d->status_at == 0 ? now : d->status_at + REPORT_STATUS_MS;
	if (d->metrics_due) {
		uint64_t m = d->metrics_at == 0
		                     ? now
		                     : d->metrics_at + REPORT_METRICS_MS;
		due = m < due ? m : due;
	}
	if (due != UINT64_MAX)
		uv_timer_start(&d->report_timer, on_report_timer,
		               due > now ? due - now : 0, 0);
}

static void on_change(void *data)
{
	struct daemon *d = data;

	d->status_due = d->notify;
	d->metrics_due = d->cfg->metrics_textfile != NULL && !d->cfg->dry;
	report_schedule(d);
}

/* A Consul event (an outage, a refusal, a recovery): kept for STATUS=. */
static void on_status(void *data, const char *status)
{
	struct daemon *d = data;

	snprintf(d->note, sizeof(d->note), "%s", status);
	on_change(d);
}

static void on_ready(void *data)
{
	struct daemon *d = data;

	log_info("first complete render published; ready");
	if (d->notify) {
		(void)report_status_text(d);
		d->status_at = uv_now(d->loop);
		sdnotify_ready(d->status);
	}
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
	if (d->cfg->diff && d->cfg->once) {
		/* diff(1)'s codes: 0 the same, 1 different, 2 trouble. */
		struct runner_stats st;
		uint64_t differ = 0;

		runner_get_stats(d->runner, &st);
		for (size_t i = 0; i < st.ntmpls; i++)
			differ += st.tmpls[i].pub.results[PUBLISH_WRITTEN];
		code = code != 0 ? 2 : differ > 0 ? 1 : 0;
	}
	d->exit_code = code;
	uv_timer_start(&d->exit_timer, on_exit_timer, 0, 0);
}

static const struct runner_cbs *daemon_cbs(struct daemon *d)
{
	static struct runner_cbs cbs;

	cbs.on_ready = on_ready;
	cbs.on_exit = on_exit_cb;
	cbs.on_status = on_status;
	cbs.on_change = on_change;
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
	/* Closing a uv_signal restores the default action: a second stop
	 * signal while the last handles close must not kill us (exit 0). */
	for (int i = 0; i < d->nsigs; i++) {
		close_handle((uv_handle_t *)&d->sigs[i].h);
		signal(d->sigs[i].signum, SIG_IGN);
	}
	close_handle((uv_handle_t *)&d->watchdog);
	close_handle((uv_handle_t *)&d->exit_timer);
	close_handle((uv_handle_t *)&d->report_timer);
}

static void daemon_shutdown(struct daemon *d, int code)
{
	if (d->stopping)
		return;
	d->exit_code = code;
	/* The last word of this run, for the collector (-once from cron). */
	if (d->cfg->metrics_textfile != NULL && !d->cfg->dry) {
		d->metrics_hash = 0;
		report_metrics(d);
	}
	d->stopping = true;
	if (d->report_timer.loop != NULL)
		uv_timer_stop(&d->report_timer);
	sdnotify_stopping();
	if (d->runner != NULL)
		runner_close(d->runner, runner_closed, d);
	else
		runner_closed(d);
}

static void daemon_reload(struct daemon *d);
static void daemon_reload_request(struct daemon *d);

/* sigabbrev_np() needs glibc 2.32; EL8 has 2.28. */
static const char *sig_name(int signum)
{
	switch (signum) {
	case SIGHUP:
		return "SIGHUP";
	case SIGINT:
		return "SIGINT";
	case SIGQUIT:
		return "SIGQUIT";
	case SIGTERM:
		return "SIGTERM";
	case SIGUSR1:
		return "SIGUSR1";
	case SIGUSR2:
		return "SIGUSR2";
	case SIGALRM:
		return "SIGALRM";
	case SIGWINCH:
		return "SIGWINCH";
	default:
		return "signal";
	}
}

/*
 * What a signal does, from the config in force (a reload may change it):
 * SIGTERM and SIGINT always stop (systemd stops with SIGTERM; consul-
 * template would swallow it unless it is its kill_signal), as does the
 * kill signal; the reload signal reloads (config keeps it apart from
 * those); any other caught signal is ignored, as consul-template does.
 */
static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon_signal *s = h->data;
	struct daemon *d = s->d;
	const struct config *c = d->cfg;

	if (signum == SIGTERM || signum == SIGINT || signum == c->kill_signal) {
		log_info("%s: stopping", sig_name(signum));
		daemon_shutdown(d, 0);
	} else if (signum == c->reload_signal && !c->once) {
		daemon_reload_request(d);
	} else {
		log_info("%s received: ignored (%s)", sig_name(signum),
		         signum == c->reload_signal
		                 ? "no reload under -once"
		                 : "neither the kill nor the reload signal");
	}
}

/* Catch signum, unless it is caught already. */
static void daemon_catch(struct daemon *d, int signum)
{
	struct daemon_signal *s;

	if (signum <= 0 || d->nsigs == DAEMON_MAX_SIGNALS)
		return;
	for (int i = 0; i < d->nsigs; i++)
		if (d->sigs[i].signum == signum)
			return;
	s = &d->sigs[d->nsigs++];
	s->signum = signum;
	s->d = d;
	uv_signal_init(d->loop, &s->h);
	s->h.data = s;
	uv_signal_start(&s->h, on_signal, signum);
}

/* The stop signals, the configured ones, and SIGHUP/SIGUSR1/SIGUSR2, which
 * must not kill the daemon when they are neither: at most the 8 usable
 * ones config accepts, whatever reloads change. */
static void daemon_catch_signals(struct daemon *d)
{
	daemon_catch(d, SIGTERM);
	daemon_catch(d, SIGINT);
	daemon_catch(d, SIGHUP);
	daemon_catch(d, SIGUSR1);
	daemon_catch(d, SIGUSR2);
	daemon_catch(d, d->cfg->kill_signal);
	daemon_catch(d, d->cfg->reload_signal);
}

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
	d->status[0] = '\0';
	sdnotify_ready("reloaded");
	on_change(d);
	if (d->reload_pending) {
		d->reload_pending = false;
		daemon_reload(d);
	}
}

static void daemon_reload_request(struct daemon *d)
{
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
	struct err_list all = {NULL, 0, 0};
	struct err e;
	char msg[1100];

	sdnotify_reloading();
	log_info("reloading configuration and templates");
	err_clear(&e);
	if (config_reload(d->cfg, &cfg, &e, &all) < 0 ||
	    runner_new(d->loop, cfg, daemon_cbs(d), &r, &e) < 0) {
		log_errx("reload failed, keeping the running configuration: %s",
		         err_format(&e, msg, sizeof(msg)));
		/* The first is above; a config has more to say at once. */
		for (size_t i = 1; i < all.n; i++)
			log_errx("reload failed: %s",
			         err_format(&all.v[i], msg, sizeof(msg)));
		if (all.dropped > 0)
			log_errx("reload failed: and %zu more errors",
			         all.dropped);
		err_list_free(&all);
		config_free(cfg);
		sdnotify_ready("reload failed; old config still running");
		return;
	}
	log_set_level((enum log_level)log_level_parse(cfg->log_level));
	/* The old runner's file stays as it is until the new one publishes;
	 * the new one starts when the old one has closed. */
	old = d->runner;
	d->old_cfg = d->cfg;
	d->cfg = cfg;
	d->runner = r;
	daemon_catch_signals(d); /* a new kill or reload signal */
	runner_close(old, old_runner_closed, d);
}

/* The ping also refreshes STATUS='s ages ("last write 11:02:33 (4m
 * ago)"): the timer fires anyway. */
static void on_watchdog(uv_timer_t *t)
{
	struct daemon *d = t->data;

	sdnotify_watchdog();
	if (d->runner != NULL && !d->stopping && d->old_cfg == NULL &&
	    report_status_text(d))
		sdnotify_status("%s", d->status);
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
	daemon_catch_signals(d);
	uv_timer_init(d->loop, &d->watchdog);
	d->watchdog.data = d;
	uv_timer_init(d->loop, &d->exit_timer);
	d->exit_timer.data = d;
	uv_timer_init(d->loop, &d->report_timer);
	d->report_timer.data = d;
	d->notify = getenv("NOTIFY_SOCKET") != NULL;
	d->start_ms = wall_clock_ms();
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

	sdnotify_status("waiting for Consul");
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
	struct err_list all = {NULL, 0, 0};
	struct err e;
	char msg[1100];
	int code, lvl;

	log_init(LOG_LVL_INFO, -1);
	err_clear(&e);
	if (config_load(argc, argv, &d.cfg, &action, &e, &all) < 0) {
		/* Every error, so one run shows everything to fix. */
		for (size_t i = 0; i < all.n; i++)
			fprintf(stderr, "consul-hosts: %s\n",
			        err_format(&all.v[i], msg, sizeof(msg)));
		if (all.dropped > 0)
			fprintf(stderr, "consul-hosts: and %zu more errors\n",
			        all.dropped);
		err_list_free(&all);
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
