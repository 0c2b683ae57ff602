/*
 * render_bench: the cost of one render pass over a synthetic catalog.
 *
 * Builds Consul wire JSON (the shapes of consul-fixtures/: catalog/nodes,
 * catalog/services, health/service/<s> with Node, Service and two Checks
 * per entry) for a catalog of N service instances, P per service on
 * distinct nodes, K per node, and runs the runner's render loop without
 * the network: render, fetch what the pass found missing (generate the
 * body, dep_decode it, store_put), render again until complete. Then it
 * re-renders R times, as a change does. Each render is then checked as a
 * hosts file and its lines ordered for the node (what the publisher does
 * with a render): check_ms and order_ms (cold: the first, every line
 * hashed; warm: the median, the order memo warm).
 *
 *   render_bench [-n N] [-p per-service] [-k per-node] [-c checks]
 *                [-r reps] [-t template] [-m mode] [-s seed] [-P changes]
 *
 * With -P, it then does what the daemon does for a change, in process
 * (no HTTP), changes times: instance 0 of svc-00000 leaves or comes back
 * (its body generated, decoded, stored), the template is rendered (with a
 * render cache, as the runner renders) and the render published by a real
 * publisher (publish.h: check, order, guards,
 * write, fsync, rename) into a temporary directory. change_cpu_ms is the
 * process CPU time per change (median; decode_change_ms, render_change_ms
 * and publish_change_ms its parts). Then the same instance's check gets a
 * new Output the same number of times (what an agent's sync does):
 * output_write_cpu_ms is the CPU per such answer, decoded and compared
 * with the stored one, and output_write_renders how many of them changed
 * the stored data (0: nothing rendered). Check text is dropped at decode
 * as the daemon drops it, when the template cannot see it.
 *
 * Prints one JSON object: sizes, body bytes, decode time (all dep_decode
 * calls; parse_ms is json_loadb alone on the same bodies, the floor),
 * RSS with the store filled (rss_store_kib), cold render (first complete pass:
 * every instance hashed), warm render (median of R), output size, current and
 * peak RSS. Timing is CLOCK_MONOTONIC; peak RSS is getrusage() ru_maxrss.
 * Bodies are generated one at a time and freed after decoding, so the RSS is
 * the store, the template and the order memo, as in the daemon.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "base/buf.h"
#include "consul/deps.h"
#include "base/err.h"
#include "hosts/hosts.h"
#include "order/order.h"
#include "publish/publish.h"
#include "consul/store.h"
#include "consul/trec_read.h"
#include "template/template.h"

#define MAX_PENDING 200000

struct catalog {
	long instances;
	long per_service;
	long per_node;
	long services;
	long nodes;
	int checks;        /* checks per health entry: 0, 1 (serfHealth) or 2 */
	bool skip_first;   /* svc-00000 without its instance 0 */
	long output_round; /* > 0: instance 0's check output says so */
};

struct bench {
	struct catalog cat;
	struct store *store;
	struct order *order;
	struct dep **pending; /* deps the last pass missed */
	size_t npending;
	json_t *pending_ids;
	size_t missing;
	double decode_ns;
	double parse_ns; /* json_loadb alone on the same bodies: the floor */
	long rss_store_kib;
	size_t body_bytes;
	size_t bodies;
	enum dep_checks checks;   /* as the daemon: what the template sees */
	struct tmpl_cache *cache; /* -P: as the daemon renders */
	json_t *last;             /* -P: the changed dep's last answer */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, resident = 0;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void node_name(long i, char *buf, size_t size)
{
	snprintf(buf, size, "node-%05ld", i);
}

static void node_addr(long i, char *buf, size_t size)
{
	snprintf(buf, size, "10.%ld.%ld.%ld", (i >> 16) & 255, (i >> 8) & 255,
	         (i & 255));
}

static json_t *node_json(long i)
{
	char name[32], addr[32], id[64];

	node_name(i, name, sizeof(name));
	node_addr(i, addr, sizeof(addr));
	snprintf(id, sizeof(id), "8e1f1c0a-0000-4000-8000-%012ld", i);
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, "
	                 "s:{s:s, s:s}, s:i, s:i}",
	                 "ID", id, "Node", name, "Address", addr, "Datacenter",
	                 "dc1", "TaggedAddresses", "lan", addr, "lan_ipv4",
	                 addr, "wan", addr, "wan_ipv4", addr, "Meta",
	                 "consul-network-segment", "", "consul-version",
	                 "1.21.3", "CreateIndex", 10 + i, "ModifyIndex",
	                 10 + i);
}

static json_t *check_json(const char *node, const char *id, const char *name,
                          const char *svc, const char *output)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[], "
	                 "s:s, s:s, s:s, s:i, s:{}, s:i, s:i}",
	                 "Node", node, "CheckID", id, "Name", name, "Status",
	                 "passing", "Notes", "", "Output", output, "ServiceID",
	                 svc, "ServiceName", svc, "ServiceTags", "Type",
	                 svc[0] ? "http" : "", "Interval", svc[0] ? "10s" : "",
	                 "Timeout", svc[0] ? "5s" : "", "ExposedPort", 0,
	                 "Definition", "CreateIndex", 22, "ModifyIndex", 22);
}

/* /v1/health/service/<svc-s>: per_service entries on distinct nodes. */
static json_t *health_body(const struct catalog *c, long s)
{
	json_t *list = json_array();
	char svc[32], cid[48];

	snprintf(svc, sizeof(svc), "svc-%05ld", s);
	snprintf(cid, sizeof(cid), "service:%s", svc);
	for (long k = 0; k < c->per_service; k++) {
		long n = (s * c->per_service + k) % c->nodes;
		json_t *node, *checks;
		const char *nn;
		char output[100];

		if (s == 0 && k == 0 && c->skip_first)
			continue;
		snprintf(output, sizeof(output),
		         "HTTP GET /health: 200 OK Output: ok%s%.0ld",
		         s == 0 && k == 0 && c->output_round > 0 ? " round "
		                                                 : "",
		         s == 0 && k == 0 ? c->output_round : 0);
		node = node_json(n);
		nn = json_string_value(json_object_get(node, "Node"));
		checks = json_array();
		if (c->checks > 0)
			json_array_append_new(
			        checks,
			        check_json(nn, "serfHealth",
			                   "Serf Health Status", "",
			                   "Agent alive and reachable"));
		if (c->checks > 1)
			json_array_append_new(
			        checks, check_json(nn, cid, "Service check",
			                           svc, output));
		json_t *service = json_pack(
		        "{s:s, s:s, s:[s, s], s:s, s:{s:s}, s:i, "
		        "s:{s:i, s:i}, s:b, s:{s:s, s:{}, s:{}}, s:{}, s:s, "
		        "s:i, s:i}",
		        "ID", svc, "Service", svc, "Tags", "prod", "v2",
		        "Address", "", "Meta", "version", "2.4.1", "Port",
		        8000 + (int)(s % 1000), "Weights", "Passing", 1,
		        "Warning", 1, "EnableTagOverride", 0, "Proxy", "Mode",
		        "", "MeshGateway", "Expose", "Connect", "PeerName", "",
		        "CreateIndex", 45, "ModifyIndex", 45);
		json_array_append_new(list, json_pack("{s:o, s:o, s:o}", "Node",
		                                      node, "Service", service,
		                                      "Checks", checks));
	}
	return list;
}

static json_t *nodes_body(const struct catalog *c)
{
	json_t *list = json_array();

	for (long i = 0; i < c->nodes; i++)
		json_array_append_new(list, node_json(i));
	return list;
}

static json_t *services_body(const struct catalog *c)
{
	json_t *obj = json_object();
	char svc[32];

	for (long s = 0; s < c->services; s++) {
		snprintf(svc, sizeof(svc), "svc-%05ld", s);
		json_object_set_new(obj, svc,
		                    json_pack("[s, s]", "prod", "v2"));
	}
	return obj;
}

/* The Consul answer for d, as text (caller frees), or NULL. */
static char *body_for(const struct catalog *c, const struct dep *d)
{
	json_t *v = NULL;
	char *path, *text;
	const char *prefix = "/v1/health/service/svc-";

	switch (dep_kind(d)) {
	case DEP_CATALOG_NODES:
		v = nodes_body(c);
		break;
	case DEP_CATALOG_SERVICES:
		v = services_body(c);
		break;
	case DEP_HEALTH_SERVICE:
		path = dep_request_path(d);
		if (strncmp(path, prefix, strlen(prefix)) == 0)
			v = health_body(
			        c, strtol(path + strlen(prefix), NULL, 10));
		free(path);
		break;
	default:
		break;
	}
	if (v == NULL)
		return NULL;
	text = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	return text;
}

static json_t *bench_lookup(void *ctx, const struct dep *d)
{
	struct bench *b = ctx;
	const char *id = dep_id(d);
	json_t *v = store_get(b->store, id);

	if (v != NULL)
		return v;
	b->missing++;
	if (json_object_get(b->pending_ids, id) == NULL &&
	    b->npending < MAX_PENDING) {
		json_object_set_new(b->pending_ids, id, json_true());
		b->pending[b->npending++] = dep_dup(d);
	}
	return NULL;
}

/* Fetch every pending dep: generate, decode (timed), store. */
static int bench_fetch(struct bench *b)
{
	struct err e;

	for (size_t i = 0; i < b->npending; i++) {
		struct dep *d = b->pending[i];
		char *body = body_for(&b->cat, d);
		json_t *v = NULL;
		uint64_t t0;
		int rc;

		if (body == NULL) {
			fprintf(stderr, "render_bench: no data for %s\n",
			        dep_id(d));
			return -ENOENT;
		}
		t0 = now_ns();
		v = json_loadb(body, strlen(body), JSON_DECODE_ANY, NULL);
		b->parse_ns += (double)(now_ns() - t0);
		json_decref(v);
		v = NULL;
		err_clear(&e);
		dep_set_checks(d, b->checks);
		t0 = now_ns();
		rc = dep_decode(d, 200, body, strlen(body), &v, NULL, &e);
		b->decode_ns += (double)(now_ns() - t0);
		b->body_bytes += strlen(body);
		b->bodies++;
		free(body);
		if (rc < 0) {
			fprintf(stderr, "render_bench: decode %s: %s\n",
			        dep_id(d), e.msg);
			return rc;
		}
		store_put(b->store, dep_id(d), v, NULL);
		b->pending[i] = dep_free(d);
	}
	b->npending = 0;
	json_object_clear(b->pending_ids);
	b->rss_store_kib = rss_kib();
	return 0;
}

static uint64_t bench_version(void *ctx, const struct dep *d)
{
	struct bench *b = ctx;

	return store_version(b->store, dep_id(d));
}

static int render_spans(struct bench *b, const struct tmpl *t, struct buf *out,
                        struct tmpl_spans *spans, double *ret_ms)
{
	struct tmpl_env env = {
	        .lookup = bench_lookup,
	        .ctx = b,
	        .limits = tmpl_default_limits,
	        .spans = spans,
	        .checks = b->checks,
	        .cache = b->cache,
	        .version = b->cache != NULL ? bench_version : NULL,
	};
	struct err e;
	uint64_t t0;
	int rc;

	err_clear(&e);
	buf_reset(out);
	b->missing = 0;
	t0 = now_ns();
	rc = tmpl_render(t, &env, out, &e);
	*ret_ms = (double)(now_ns() - t0) / 1e6;
	if (rc < 0 && b->missing == 0) {
		char msg[1100];
		fprintf(stderr, "render_bench: %s\n",
		        err_format(&e, msg, sizeof(msg)));
		return rc;
	}
	return 0;
}

static int render(struct bench *b, const struct tmpl *t, struct buf *out,
                  double *ret_ms)
{
	return render_spans(b, t, out, NULL, ret_ms);
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct pub_done {
	bool fired;
	enum publish_result res;
};

static void pub_done(void *data, enum publish_result res, const struct err *e)
{
	struct pub_done *d = data;

	(void)e;
	d->fired = true;
	d->res = res;
}

static void pub_closed(void *data)
{
	(void)data;
}

/* Render into out (spans kept) and publish it; the result. */
static enum publish_result render_publish(struct bench *b, const struct tmpl *t,
                                          uv_loop_t *loop,
                                          struct publisher *pub,
                                          struct buf *out, double *ret_render)
{
	struct tmpl_spans spans = {0};
	struct publish_input in = {0};
	struct pub_done d = {0};
	double ms;

	if (render_spans(b, t, out, &spans, &ms) < 0 || b->missing > 0)
		abort();
	*ret_render = ms;
	in.text = buf_str(out);
	in.len = out->len;
	in.dynamic = &spans;
	if (publisher_submit(pub, &in, pub_done, &d) < 0)
		abort();
	while (!d.fired)
		uv_run(loop, UV_RUN_ONCE);
	free(spans.v);
	return d.res;
}

/* svc-00000's dep (as the daemon asks for it) and its answer for the
 * catalog as it is now: generating it is not the daemon's work. */
static char *first_body(struct bench *b, struct dep **ret)
{
	struct err e;

	if (dep_new(DEP_HEALTH_SERVICE, "svc-00000", ret, &e) < 0)
		abort();
	dep_set_checks(*ret, b->checks);
	return body_for(&b->cat, *ret);
}

/*
 * body decoded and, when it changed the data (compared with the last
 * answer, as the watcher compares), stored; both freed. Whether it did.
 */
static int refetch(struct bench *b, struct dep *d, char *body, double *ret_ms)
{
	struct err e;
	json_t *v = NULL;
	uint64_t t0 = now_ns();
	int changed = 0;

	if (dep_decode(d, 200, body, strlen(body), &v, NULL, &e) < 0)
		abort();
	if (b->last != NULL && trec_value_equal(v, b->last)) {
		json_decref(v);
	} else {
		json_decref(b->last);
		b->last = json_incref(v);
		changed = store_put(b->store, dep_id(d), v, NULL);
	}
	*ret_ms = (double)(now_ns() - t0) / 1e6;
	free(body);
	dep_free(d);
	return changed;
}

static int cmp_double(const void *a, const void *b);

static double median(double *v, long n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/*
 * The daemon's work for n changes and n output-only writes, in process;
 * prints its JSON fields (each with a leading ", ").
 */
static void changes_bench(struct bench *b, const struct tmpl *t, long n)
{
	char dir[] = "/tmp/render_bench.XXXXXX", dest[64];
	struct tmpl_conf tc = {0};
	struct publish_opts po = {.order = b->order};
	struct publisher *pub = NULL;
	double *cpu = calloc((size_t)n, sizeof(*cpu));
	double *dec = calloc((size_t)n, sizeof(*dec));
	double *ren = calloc((size_t)n, sizeof(*ren));
	double *pubms = calloc((size_t)n, sizeof(*pubms));
	double *out_cpu = calloc((size_t)n, sizeof(*out_cpu));
	long renders = 0, written = 0;
	uv_loop_t loop;
	struct buf out;
	struct err e;
	double ms;

	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(dest, sizeof(dest), "%s/hosts", dir);
	tc.destination = dest;
	tc.perms = -1;
	tc.create_dest_dirs = true;
	tc.command_timeout_ms = 30000;
	tc.format = TMPL_FORMAT_HOSTS;
	tc.guard_enabled = true;
	tc.guard_shrink = 0.5;
	tc.guard_hold_ms = 60000;
	tc.command_max_runs = 4;
	tc.command_window_ms = 10000;
	buf_init(&out, tmpl_default_limits.max_output);
	b->cache = tmpl_cache_new();
	if (uv_loop_init(&loop) < 0 ||
	    publisher_new(&loop, &tc, &po, &pub, &e) < 0)
		abort();
	if (render_publish(b, t, &loop, pub, &out, &ms) != PUBLISH_WRITTEN)
		abort();
	for (long i = 0; i < n; i++) {
		struct dep *d;
		char *body;
		uint64_t c0, t0;

		b->cat.skip_first = !b->cat.skip_first;
		body = first_body(b, &d);
		c0 = cpu_ns();
		if (refetch(b, d, body, &dec[i]) != 1)
			abort();
		t0 = now_ns();
		written += render_publish(b, t, &loop, pub, &out, &ren[i]) ==
		           PUBLISH_WRITTEN;
		pubms[i] = (double)(now_ns() - t0) / 1e6 - ren[i];
		cpu[i] = (double)(cpu_ns() - c0) / 1e6;
	}
	for (long i = 0; i < n; i++) {
		struct dep *d;
		char *body;
		uint64_t c0;

		b->cat.output_round = i + 1;
		body = first_body(b, &d);
		c0 = cpu_ns();
		renders += refetch(b, d, body, &ms);
		out_cpu[i] = (double)(cpu_ns() - c0) / 1e6;
	}
	printf(", \"changes\": %ld, \"changes_written\": %ld, "
	       "\"change_cpu_ms\": %.3f, \"decode_change_ms\": %.3f, "
	       "\"render_change_ms\": %.3f, \"publish_change_ms\": %.3f, "
	       "\"output_write_cpu_ms\": %.3f, \"output_write_renders\": %ld, "
	       "\"checks_kept\": \"%s\"",
	       n, written, median(cpu, n), median(dec, n), median(ren, n),
	       median(pubms, n), median(out_cpu, n), renders,
	       b->checks == DEP_CHECKS_ALL       ? "all"
	       : b->checks == DEP_CHECKS_NO_TEXT ? "no text"
	                                         : "none");
	b->cache = tmpl_cache_free(b->cache);
	publisher_close(pub, pub_closed, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	buf_free(&out);
	unlink(dest);
	rmdir(dir);
	free(cpu);
	free(dec);
	free(ren);
	free(pubms);
	free(out_cpu);
}

/* The publisher's work on a render: the hosts check, then the order. */
static void check_and_order(struct bench *b, const struct buf *out,
                            double *ret_check_ms, double *ret_order_ms)
{
	struct hosts_doc d;
	uint64_t t0;

	hosts_doc_init(&d, 0);
	t0 = now_ns();
	if (hosts_doc_check(&d, buf_str(out), out->len, false, NULL) < 0)
		abort();
	*ret_check_ms = (double)(now_ns() - t0) / 1e6;
	t0 = now_ns();
	if (order_lines(b->order, &d, NULL, 0) < 0)
		abort();
	*ret_order_ms = (double)(now_ns() - t0) / 1e6;
	hosts_doc_free(&d);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static char *read_all(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[8192];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, 16 << 20);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, n) < 0)
			break;
	fclose(f);
	return buf_take(&b, ret_len);
}

static void usage(void)
{
	fprintf(stderr, "usage: render_bench [-n instances] [-p per-service] "
	                "[-k per-node] [-c checks] [-r reps] [-t template] "
	                "[-m mode] [-s seed] [-P changes]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench b = {0};
	const char *tmpl_path = "templates/hosts.tmpl", *seed = "node-00000";
	const char *mode_name = "stable";
	struct tmpl_opts opts = {0};
	struct tmpl *t = NULL;
	struct buf out;
	struct err e;
	struct rusage ru;
	double ms, cold_ms = 0, *warm, *check, *order, setup_ms;
	double check_cold_ms = 0, order_cold_ms = 0;
	long reps = 5, rss0, rss1, lines = 0, changes = 0;
	uint64_t t_setup;
	size_t len;
	char *text;
	int opt, mode, passes = 0;

	b.cat.instances = 1000;
	b.cat.per_service = 10;
	b.cat.per_node = 5;
	b.cat.checks = 2;
	while ((opt = getopt(argc, argv, "n:p:k:c:r:t:m:s:P:")) != -1) {
		switch (opt) {
		case 'P':
			changes = strtol(optarg, NULL, 10);
			break;
		case 'c':
			b.cat.checks = atoi(optarg);
			break;
		case 'n':
			b.cat.instances = strtol(optarg, NULL, 10);
			break;
		case 'p':
			b.cat.per_service = strtol(optarg, NULL, 10);
			break;
		case 'k':
			b.cat.per_node = strtol(optarg, NULL, 10);
			break;
		case 'r':
			reps = strtol(optarg, NULL, 10);
			break;
		case 't':
			tmpl_path = optarg;
			break;
		case 'm':
			mode_name = optarg;
			break;
		case 's':
			seed = optarg;
			break;
		default:
			usage();
		}
	}
	if (b.cat.checks < 0 || b.cat.checks > 2 || b.cat.instances < 1 ||
	    b.cat.per_service < 1 || b.cat.per_node < 1 || reps < 1 ||
	    reps > 1000 || b.cat.instances > 10000000 || changes < 0 ||
	    changes > 100000)
		usage();
	b.cat.services =
	        (b.cat.instances + b.cat.per_service - 1) / b.cat.per_service;
	b.cat.nodes = (b.cat.instances + b.cat.per_node - 1) / b.cat.per_node;
	if (b.cat.nodes < b.cat.per_service)
		b.cat.nodes = b.cat.per_service;
	mode = order_mode_parse(mode_name);
	if (mode < 0)
		usage();

	rss0 = rss_kib();
	text = read_all(tmpl_path, &len);
	if (text == NULL) {
		fprintf(stderr, "render_bench: %s: %s\n", tmpl_path,
		        strerror(errno));
		return 1;
	}
	opts.name = tmpl_path;
	err_clear(&e);
	if (tmpl_parse(text, len, &opts, &t, &e) < 0) {
		char msg[1100];
		fprintf(stderr, "render_bench: %s\n",
		        err_format(&e, msg, sizeof(msg)));
		return 1;
	}
	free(text);
	b.checks = tmpl_checks_seen(t);

	b.store = store_new();
	b.order = order_new((enum order_mode)mode, seed);
	b.pending = calloc(MAX_PENDING, sizeof(*b.pending));
	b.pending_ids = json_object();
	buf_init(&out, tmpl_default_limits.max_output);

	/* The runner's loop: render, fetch what was missing, again. */
	t_setup = now_ns();
	for (;;) {
		if (render(&b, t, &out, &ms) < 0)
			return 1;
		passes++;
		if (b.missing == 0) {
			cold_ms = ms;
			break;
		}
		if (passes > 10 || bench_fetch(&b) < 0)
			return 1;
	}
	setup_ms = (double)(now_ns() - t_setup) / 1e6;
	for (size_t i = 0; i < out.len; i++)
		lines += out.data[i] == '\n';

	check_and_order(&b, &out, &check_cold_ms, &order_cold_ms);
	warm = calloc((size_t)reps, sizeof(*warm));
	check = calloc((size_t)reps, sizeof(*check));
	order = calloc((size_t)reps, sizeof(*order));
	for (long i = 0; i < reps; i++) {
		if (render(&b, t, &out, &warm[i]) < 0)
			return 1;
		check_and_order(&b, &out, &check[i], &order[i]);
	}
	qsort(warm, (size_t)reps, sizeof(*warm), cmp_double);
	qsort(check, (size_t)reps, sizeof(*check), cmp_double);
	qsort(order, (size_t)reps, sizeof(*order), cmp_double);
	rss1 = rss_kib();
	getrusage(RUSAGE_SELF, &ru);

	printf("{\"instances\": %ld, \"services\": %ld, \"nodes\": %ld, "
	       "\"checks\": %d, \"mode\": \"%s\", \"deps\": %zu, "
	       "\"body_bytes\": %zu, \"decode_ms\": %.3f, \"parse_ms\": %.3f, "
	       "\"render_cold_ms\": %.3f, \"render_warm_ms\": %.3f, "
	       "\"render_warm_min_ms\": %.3f, \"check_ms\": %.3f, "
	       "\"order_cold_ms\": %.3f, \"order_warm_ms\": %.3f, "
	       "\"passes\": %d, "
	       "\"setup_ms\": %.3f, \"output_bytes\": %zu, "
	       "\"output_lines\": %ld, \"rss_start_kib\": %ld, "
	       "\"rss_store_kib\": %ld, \"rss_kib\": %ld, "
	       "\"maxrss_kib\": %ld",
	       b.cat.instances, b.cat.services, b.cat.nodes, b.cat.checks,
	       mode_name, b.bodies, b.body_bytes, b.decode_ns / 1e6,
	       b.parse_ns / 1e6, cold_ms, warm[reps / 2], warm[0],
	       check[reps / 2], order_cold_ms, order[reps / 2], passes,
	       setup_ms, out.len, lines, rss0, b.rss_store_kib, rss1,
	       ru.ru_maxrss);
	if (changes > 0)
		changes_bench(&b, t, changes);
	printf("}\n");

	(void)check_cold_ms;
	free(warm);
	free(check);
	free(order);
	buf_free(&out);
	json_decref(b.pending_ids);
	free(b.pending);
	order_free(b.order);
	json_decref(b.last);
	store_free(b.store);
	tmpl_free(t);
	return 0;
}
