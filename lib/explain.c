#include "explain.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "deps.h"
#include "log.h"
#include "order.h"
#include "watch.h"
#include "xmalloc.h"

#define EXPLAIN_TIMEOUT_MS 30000

struct explain {
	const struct config *cfg;
	FILE *out;
	struct watcher *watcher;
	struct dep *service;
	struct dep *nodes;
	json_t *instances; /* new references once answered */
	json_t *fleet;
	char *key; /* the service name, as the ordering sees it */
	uv_timer_t timeout;
	int code;
	bool done;
};

static void explain_closed(void *data)
{
	(void)data;
}

static void explain_finish(struct explain *x, int code)
{
	if (x->done)
		return;
	x->done = true;
	x->code = code;
	uv_close((uv_handle_t *)&x->timeout, NULL);
	watcher_close(x->watcher, explain_closed, x);
}

static void explain_print(struct explain *x)
{
	struct buf out;
	struct err e;
	char msg[1100];

	err_clear(&e);
	buf_init(&out, 64 << 20);
	if (order_explain(x->cfg->order, x->key, x->instances, x->fleet, &out,
	                  &e) < 0) {
		/* order_explain's messages start with "explain:". */
		log_errx("%s", err_format(&e, msg, sizeof(msg)));
		buf_free(&out);
		explain_finish(x, 1);
		return;
	}
	fwrite(out.data, 1, out.len, x->out);
	fflush(x->out);
	buf_free(&out);
	explain_finish(x, 0);
}

static void explain_on_data(void *data, const struct dep *d, json_t *value,
                            const char *suspect)
{
	struct explain *x = data;

	(void)suspect; /* a one-off read: what Consul says now */
	if (x->done)
		return;
	if (strcmp(dep_id(d), dep_id(x->service)) == 0 && x->instances == NULL)
		x->instances = json_incref(value);
	else if (strcmp(dep_id(d), dep_id(x->nodes)) == 0 && x->fleet == NULL)
		x->fleet = json_incref(value);
	if (x->instances != NULL && x->fleet != NULL)
		explain_print(x);
}

static void explain_on_event(void *data, const struct dep *d, int status,
                             const char *what)
{
	(void)data;
	(void)d;
	(void)status;
	if (what != NULL)
		log_warnx("explain: %s", what);
}

static void explain_on_timeout(uv_timer_t *t)
{
	struct explain *x = t->data;

	log_errx("explain: no answer from Consul within %d s",
	         EXPLAIN_TIMEOUT_MS / 1000);
	explain_finish(x, 1);
}

/* The service name in a spec "tag.name@dc~near|filter". */
static char *spec_service_name(const char *spec)
{
	size_t n = strcspn(spec, "@~|");
	char *name = xstrndup(spec, n);
	char *dot = strrchr(name, '.');

	if (dot != NULL)
		memmove(name, dot + 1, strlen(dot + 1) + 1);
	return name;
}

int explain_run(uv_loop_t *loop, const struct config *cfg, FILE *out)
{
	struct explain x = {.cfg = cfg, .out = out, .code = 1};
	struct err e;
	char msg[1100];

	err_clear(&e);
	if (dep_new(DEP_HEALTH_SERVICE, cfg->explain, &x.service, &e) < 0 ||
	    dep_new(DEP_CATALOG_NODES, "", &x.nodes, &e) < 0 ||
	    watcher_new(loop, cfg, explain_on_data, explain_on_event, &x,
	                &x.watcher, &e) < 0) {
		log_errx("explain: %s", err_format(&e, msg, sizeof(msg)));
		dep_free(x.service);
		dep_free(x.nodes);
		return 2;
	}
	x.key = spec_service_name(cfg->explain);
	uv_timer_init(loop, &x.timeout);
	x.timeout.data = &x;
	uv_timer_start(&x.timeout, explain_on_timeout, EXPLAIN_TIMEOUT_MS, 0);
	watcher_add(x.watcher, x.service);
	watcher_add(x.watcher, x.nodes);
	uv_run(loop, UV_RUN_DEFAULT);

	json_decref(x.instances);
	json_decref(x.fleet);
	dep_free(x.service);
	dep_free(x.nodes);
	free(x.key);
	return x.code;
}
