#include "daemon/metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "consul/deps.h"
#include "daemon/histogram.h"
#include "publish/destfile.h"
#include "daemon/runner.h"

/* The same bounds as label values, as Prometheus' clients print them. */
static const char *const bucket_labels[HISTOGRAM_BUCKETS] = {
        "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
        "0.05",   "0.1",   "0.25",   "0.5",   "1",    "5",
};

/* The endpoint label of each dependency kind (watch.h's counters). */
static const char *metrics_endpoint(unsigned kind)
{
	switch ((enum dep_kind)kind) {
	case DEP_CATALOG_NODES:
		return "/v1/catalog/nodes";
	case DEP_CATALOG_SERVICES:
		return "/v1/catalog/services";
	case DEP_CATALOG_NODE:
		return "/v1/catalog/node";
	case DEP_HEALTH_SERVICE:
		return "/v1/health/service";
	case DEP_DATACENTERS:
		return "/v1/catalog/datacenters";
	case DEP_KV_GET:
		return "/v1/kv";
	case DEP_KV_LIST:
		return "/v1/kv?recurse";
	case DEP_AGENT_SELF:
		return "/v1/agent/self";
	case DEP_HEALTH_CONNECT:
		return "/v1/health/connect";
	}
	return NULL;
}

/* ---- the exposition format ------------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static int put_label(struct buf *out, const char *name, const char *v)
{
	int r = buf_printf(out, "%s=\"", name);

	for (; r == 0 && *v != '\0'; v++) {
		if (*v == '\\')
			r = buf_puts(out, "\\\\");
		else if (*v == '"')
			r = buf_puts(out, "\\\"");
		else if (*v == '\n')
			r = buf_puts(out, "\\n");
		else
			r = buf_putc(out, *v);
	}
	return r == 0 ? buf_putc(out, '"') : r;
}

static int put_head(struct buf *out, const char *name, const char *type,
                    const char *help)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	                  type);
}

/* name{dest="..."[,extra]} value */
static int put_sample(struct buf *out, const char *name, const char *dest,
                      const char *extra, const char *value)
{
	int r = buf_puts(out, name);

	if (r == 0 && (dest != NULL || extra != NULL))
		r = buf_putc(out, '{');
	if (r == 0 && dest != NULL)
		r = put_label(out, "destination", dest);
	if (r == 0 && dest != NULL && extra != NULL)
		r = buf_putc(out, ',');
	if (r == 0 && extra != NULL)
		r = buf_puts(out, extra);
	if (r == 0 && (dest != NULL || extra != NULL))
		r = buf_putc(out, '}');
	if (r == 0)
		r = buf_printf(out, " %s\n", value);
	return r;
}

static int put_u64(struct buf *out, const char *name, const char *dest,
                   const char *extra, uint64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%llu", (unsigned long long)v);
	return put_sample(out, name, dest, extra, s);
}

/*
 * A counter by endpoint: v[kind] for each kind that has made a request or
 * failed one (requests and errors list the same endpoints).
 */
static int put_by_endpoint(struct buf *out, const char *name, const char *help,
                           const struct watcher_stats *w, const uint64_t *v)
{
	char label[64];
	int r = put_head(out, name, "counter", help);

	for (unsigned k = 0; k < WATCH_KINDS && r == 0; k++) {
		const char *ep = metrics_endpoint(k);

		if (ep == NULL ||
		    (w->kind_requests[k] == 0 && w->kind_errors[k] == 0))
			continue;
		snprintf(label, sizeof(label), "endpoint=\"%s\"", ep);
		r = put_u64(out, name, NULL, label, v[k]);
	}
	return r;
}

/* A wall-clock time in ms as Unix seconds; 0 stays 0 (never). */
static int put_time(struct buf *out, const char *name, const char *dest,
                    int64_t ms)
{
	char s[40];

	snprintf(s, sizeof(s), "%lld.%03lld", (long long)(ms / 1000),
	         (long long)(ms % 1000));
	return put_sample(out, name, dest, NULL, s);
}

static const char *dest_of(const struct runner_tmpl_stats *t)
{
	return t->destination != NULL ? t->destination : "-";
}

static int put_histogram(struct buf *out, const char *name,
                         const struct runner_tmpl_stats *t,
                         const struct histogram *h)
{
	char series[128], le[40], sum[40];
	uint64_t cum = 0;
	int r = 0;

	snprintf(series, sizeof(series), "%s_bucket", name);
	for (size_t i = 0; i < HISTOGRAM_BUCKETS && r == 0; i++) {
		cum += h->counts[i];
		snprintf(le, sizeof(le), "le=\"%s\"", bucket_labels[i]);
		r = put_u64(out, series, dest_of(t), le, cum);
	}
	if (r == 0)
		r = put_u64(out, series, dest_of(t), "le=\"+Inf\"", h->count);
	snprintf(series, sizeof(series), "%s_sum", name);
	snprintf(sum, sizeof(sum), "%.9g", h->sum);
	if (r == 0)
		r = put_sample(out, series, dest_of(t), NULL, sum);
	snprintf(series, sizeof(series), "%s_count", name);
	if (r == 0)
		r = put_u64(out, series, dest_of(t), NULL, h->count);
	return r;
}

/* One metric per template: its head, then a sample per template. */
#define PER_TEMPLATE(name, type, help, expr)                              \
	do {                                                              \
		if (r == 0)                                               \
			r = put_head(out, name, type, help);              \
		for (size_t i = 0; i < s->ntmpls && r == 0; i++) {        \
			const struct runner_tmpl_stats *t = &s->tmpls[i]; \
			r = (expr);                                       \
		}                                                         \
	} while (0)

int metrics_format(const struct runner_stats *s, int64_t start_ms,
                   int64_t now_ms, struct buf *out)
{
	static const char *const results[] = {"written", "unchanged", "held",
	                                      "failed"};
	const struct watcher_stats *w = &s->watch;
	char label[160];
	int64_t down_since = 0;
	int r;

	r = put_head(out, "consul_hosts_build_info", "gauge",
	             "The running consul-hosts version.");
	if (r == 0)
		r = put_sample(out, "consul_hosts_build_info", NULL,
		               "version=\"" CH_VERSION "\"", "1");
	if (r == 0)
		r = put_head(out, "consul_hosts_start_time_seconds", "gauge",
		             "When the process started, in Unix time.");
	if (r == 0)
		r = put_time(out, "consul_hosts_start_time_seconds", NULL,
		             start_ms);

	if (r == 0)
		r = put_head(out, "consul_hosts_consul_up", "gauge",
		             "1 while Consul answers, 0 during an outage.");
	if (r == 0)
		r = put_u64(out, "consul_hosts_consul_up", NULL, NULL,
		            w->reachable ? 1 : 0);
	if (!w->reachable)
		down_since = now_ms - (int64_t)w->down_ms;
	if (r == 0)
		r = put_head(out,
		             "consul_hosts_consul_unreachable_since_timestamp_"
		             "seconds",
		             "gauge",
		             "When the current Consul outage began, in Unix "
		             "time; 0 while Consul answers.");
	if (r == 0)
		r = put_time(out,
		             "consul_hosts_consul_unreachable_since_timestamp_"
		             "seconds",
		             NULL, down_since);
	if (r == 0)
		r = put_head(out, "consul_hosts_consul_refused_queries",
		             "gauge",
		             "Queries whose last answer was a 4xx (an ACL "
		             "problem).");
	if (r == 0)
		r = put_u64(out, "consul_hosts_consul_refused_queries", NULL,
		            NULL, w->refused);
	if (r == 0)
		r = put_head(out, "consul_hosts_watched_queries", "gauge",
		             "Consul queries watched (one per distinct "
		             "dependency).");
	if (r == 0)
		r = put_u64(out, "consul_hosts_watched_queries", NULL, NULL,
		            w->deps);
	if (r == 0)
		r = put_by_endpoint(out, "consul_hosts_consul_requests_total",
		                    "HTTP requests to Consul, by endpoint.", w,
		                    w->kind_requests);
	if (r == 0)
		r = put_by_endpoint(
		        out, "consul_hosts_consul_errors_total",
		        "Failed Consul requests (transport errors, "
		        "4xx, 5xx, undecodable answers), by endpoint.",
		        w, w->kind_errors);
	if (r == 0)
		r = put_head(out, "consul_hosts_consul_changes_total",
		             "counter",
		             "Consul answers that changed a dependency's "
		             "data.");
	if (r == 0)
		r = put_u64(out, "consul_hosts_consul_changes_total", NULL,
		            NULL, w->changes);

	if (r == 0)
		r = put_head(out, "consul_hosts_publishes_total", "counter",
		             "Finished publishes, by result: written, "
		             "unchanged (identical to the file), held (a "
		             "guard held the whole render), failed.");
	for (size_t i = 0; i < s->ntmpls && r == 0; i++)
		for (size_t k = 0; k < 4 && r == 0; k++) {
			snprintf(label, sizeof(label), "result=\"%s\"",
			         results[k]);
			r = put_u64(out, "consul_hosts_publishes_total",
			            dest_of(&s->tmpls[i]), label,
			            s->tmpls[i].pub.results[k]);
		}
	PER_TEMPLATE("consul_hosts_last_publish_timestamp_seconds", "gauge",
	             "When the destination was last found current (written "
	             "or unchanged), in Unix time; 0: never.",
	             put_time(out,
	                      "consul_hosts_last_publish_timestamp_seconds",
	                      dest_of(t), t->pub.last_ok_ms));
	PER_TEMPLATE("consul_hosts_last_write_timestamp_seconds", "gauge",
	             "When the destination was last written, in Unix time; "
	             "0: never.",
	             put_time(out, "consul_hosts_last_write_timestamp_seconds",
	                      dest_of(t), t->pub.last_write_ms));
	PER_TEMPLATE("consul_hosts_publish_failing", "gauge",
	             "1 while the last publish failed (retried by itself).",
	             put_u64(out, "consul_hosts_publish_failing", dest_of(t),
	                     NULL, t->pub.failing ? 1 : 0));
	PER_TEMPLATE("consul_hosts_render_held", "gauge",
	             "1 while a guard holds the whole render (it has no "
	             "entry from Consul).",
	             put_u64(out, "consul_hosts_render_held", dest_of(t), NULL,
	                     t->pub.holding ? 1 : 0));
	PER_TEMPLATE("consul_hosts_entries", "gauge",
	             "Address lines published, held ones included.",
	             put_u64(out, "consul_hosts_entries", dest_of(t), NULL,
	                     t->pub.entries));
	PER_TEMPLATE("consul_hosts_held_entries", "gauge",
	             "Removals a guard holds back (kept in the file, "
	             "marked).",
	             put_u64(out, "consul_hosts_held_entries", dest_of(t), NULL,
	                     t->pub.held));
	PER_TEMPLATE("consul_hosts_command_runs_total", "counter",
	             "Runs of the template's command (the dnsmasq reload).",
	             put_u64(out, "consul_hosts_command_runs_total", dest_of(t),
	                     NULL, t->pub.command_runs));
	PER_TEMPLATE("consul_hosts_command_failures_total", "counter",
	             "Command runs that failed, timed out or could not "
	             "signal.",
	             put_u64(out, "consul_hosts_command_failures_total",
	                     dest_of(t), NULL, t->pub.command_failures));
	PER_TEMPLATE("consul_hosts_renders_total", "counter",
	             "Complete renders handed to the publisher.",
	             put_u64(out, "consul_hosts_renders_total", dest_of(t),
	                     NULL, t->renders));
	PER_TEMPLATE("consul_hosts_render_errors_total", "counter",
	             "Renders that failed (a template error or bound); the "
	             "last good file stays.",
	             put_u64(out, "consul_hosts_render_errors_total",
	                     dest_of(t), NULL, t->render_errors));
	PER_TEMPLATE("consul_hosts_render_duration_seconds", "histogram",
	             "Time to render the template.",
	             put_histogram(out, "consul_hosts_render_duration_seconds",
	                           t, &t->render_seconds));
	PER_TEMPLATE("consul_hosts_change_to_file_seconds", "histogram",
	             "From a Consul change to the new file renamed into "
	             "place.",
	             put_histogram(out, "consul_hosts_change_to_file_seconds",
	                           t, &t->change_seconds));
	return r;
}

/* ---- STATUS= ---------------------------------------------------------- */

/* "45s", "3m", "2h", "4d": an age, rounded down. */
static void fmt_age(int64_t ms, char *out, size_t size)
{
	int64_t s = ms > 0 ? ms / 1000 : 0;

	if (s < 120)
		snprintf(out, size, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(out, size, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(out, size, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, size, "%lldd", (long long)(s / 86400));
}

/* Local time of day, or the date too when it is not from the last 20 h. */
static void fmt_when(int64_t ms, int64_t now_ms, char *out, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, size,
	         now_ms - ms < 20 * 3600 * 1000 ? "%H:%M:%S" : "%Y-%m-%d %H:%M",
	         &tm);
}

/* Append "; " and the printf text to out (size bytes), if it fits. */
static void add(char *out, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void add(char *out, size_t size, const char *fmt, ...)
{
	size_t len = strlen(out);
	char part[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(part, sizeof(part), fmt, ap);
	va_end(ap);
	if (len + (len > 0 ? 2 : 0) + strlen(part) >= size)
		return;
	snprintf(out + len, size - len, "%s%s", len > 0 ? "; " : "", part);
}

void metrics_status(const struct runner_stats *s, int64_t now_ms,
                    const char *note, char *out, size_t size)
{
	const struct watcher_stats *w = &s->watch;
	int64_t last_write = 0, last_ok = 0, fail_since = 0;
	size_t held = 0, failing = 0, holding = 0, cmd_failing = 0;
	const char *failing_dest = NULL, *cmd_dest = NULL;
	char when[40], age[16];

	if (size == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < s->ntmpls; i++) {
		const struct publish_stats *p = &s->tmpls[i].pub;

		if (p->last_write_ms > last_write)
			last_write = p->last_write_ms;
		if (p->last_ok_ms > last_ok)
			last_ok = p->last_ok_ms;
		held += p->held;
		holding += p->holding;
		if (p->failing) {
			failing++;
			failing_dest = dest_of(&s->tmpls[i]);
			if (fail_since == 0 || p->failing_since_ms < fail_since)
				fail_since = p->failing_since_ms;
		}
		if (p->command_failing) {
			cmd_failing++;
			cmd_dest = dest_of(&s->tmpls[i]);
		}
	}

	if (!w->reachable) {
		fmt_when(now_ms - (int64_t)w->down_ms, now_ms, when,
		         sizeof(when));
		fmt_age((int64_t)w->down_ms, age, sizeof(age));
		add(out, size, "Consul unreachable since %s (%s)", when, age);
	} else if (w->refused > 0) {
		add(out, size, "Consul refuses %u quer%s%s%.120s", w->refused,
		    w->refused == 1 ? "y" : "ies", note != NULL ? ": " : "",
		    note != NULL ? note : "");
	} else {
		add(out, size, "Consul reachable");
	}
	if (!s->ready && last_ok == 0 && failing == 0 && holding == 0)
		add(out, size, "waiting for the first complete render");
	if (last_write > 0) {
		fmt_when(last_write, now_ms, when, sizeof(when));
		fmt_age(now_ms - last_write, age, sizeof(age));
		add(out, size, "last write %s (%s ago)", when, age);
	} else if (last_ok > 0) {
		add(out, size, "file%s already current",
		    s->ntmpls > 1 ? "s" : "");
	}
	if (failing > 0) {
		fmt_when(fail_since, now_ms, when, sizeof(when));
		if (failing == 1)
			add(out, size, "publishing %.100s failing since %s",
			    failing_dest, when);
		else
			add(out, size, "%zu publishes failing since %s",
			    failing, when);
	}
	if (holding > 0)
		add(out, size, "%zu render%s held (no Consul entry)", holding,
		    holding == 1 ? "" : "s");
	if (held > 0)
		add(out, size, "%zu removal%s held", held,
		    held == 1 ? "" : "s");
	if (cmd_failing == 1)
		add(out, size, "command for %.100s failing", cmd_dest);
	else if (cmd_failing > 1)
		add(out, size, "%zu commands failing", cmd_failing);
}

/* ---- the file ---------------------------------------------------------- */

int metrics_write(const char *path, const char *text, size_t len, bool first,
                  struct err *e)
{
	struct tmpl_conf tc;
	struct destfile *f = NULL;
	struct destfile_old old;
	int r;

	memset(&tc, 0, sizeof(tc));
	memset(&old, 0, sizeof(old));
	tc.perms = 0644;
	r = destfile_new(&tc, path, &f, e);
	if (r < 0)
		return r;
	if (first)
		(void)destfile_remove_stale(f);
	r = destfile_replace(f, text, len, &old, e);
	destfile_free(f);
	return r;
}
