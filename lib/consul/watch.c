/*
 * One blocking-query state machine per dependency (consul-template's
 * watch/view.go, on a uv loop instead of goroutines). Every state change
 * goes through watch_set_state(), as curl's mstate() does.
 *
 * Map:
 *   state and waits    watch_set_state, the long-poll wait, rotation
 *   the queue          enqueue/dequeue under max connections, rate limit
 *   events             reachable/unreachable, on_event
 *   after an answer    watch_next (re-poll, jitter), settle, -once budget,
 *                      give up, backoff after failures (backoff.h)
 *   answers            transport failures, unusable answers, HTTP status,
 *                      watch_answer (decode, "changed?" by
 *                      trec_value_equal, deliver), watch_done
 *   fetch              watch_start, watch_fetch, watch_admit, park
 *   the outage probe   /v1/status/leader while Consul is unreachable
 *   memory             malloc_trim at most every WATCH_TRIM_EVERY_MS
 *   watcher API        add/remove/has/stats/close; loopback check and
 *                      reserved names; watcher_new (token: config's rule)
 */
#include "consul/watch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/container_of.h"
#include "base/backoff.h"
#include "base/buf.h"
#include "consul/consul_addr.h"
#include "consul/crec.h"
#include "consul/trec_read.h"
#include "hosts/hosts.h"
#include "consul/http.h"
#include "base/log.h"
#include "base/xmalloc.h"

#define WATCH_NONBLOCK_TIMEOUT_MS  30000
#define WATCH_DEFAULT_WAIT_MS      60000
#define WATCH_WHAT_MAX             240 /* bytes of a Consul error body kept */
#define WATCH_DROPPED_LOG_MAX      20
#define WATCH_MIN_ROTATION_WAIT_MS 1000 /* shortest wait while rotating */
#define WATCH_PROBE_TIMEOUT_MS     10000
#define WATCH_TRIM_BYTES           (1u << 20) /* answers worth a trim */
#define WATCH_TRIM_EVERY_MS        5000       /* at most one trim this often */
#define WATCH_OWN_ADDRS_MAX        64

unsigned watch_max_connections = HTTP_MAX_CONNECTIONS;
unsigned watch_rate_ms = WATCH_RATE_MS;

enum watch_state {
	WATCH_IDLE,      /* not fetching; a non-blocking dep's re-poll timer */
	WATCH_FETCHING,  /* a request is in flight (a long poll, usually) */
	WATCH_RATE_WAIT, /* answered; waiting out the per-dep rate limit */
	WATCH_BACKOFF,   /* failed; waiting out the retry delay */
	WATCH_QUEUED,    /* waiting for a free connection (no timer, no req) */
	WATCH_PARKED,    /* waiting for the outage probe (no timer, no req) */
	WATCH_GAVE_UP_S, /* -once gave up on it (no timer, no req) */
	WATCH_STOPPED,   /* removed; waiting for the timer's close callback */
};

static const char *const watch_state_names[] = {
        [WATCH_IDLE] = "IDLE",           [WATCH_FETCHING] = "FETCHING",
        [WATCH_RATE_WAIT] = "RATE_WAIT", [WATCH_BACKOFF] = "BACKOFF",
        [WATCH_QUEUED] = "QUEUED",       [WATCH_PARKED] = "PARKED",
        [WATCH_GAVE_UP_S] = "GAVE_UP",   [WATCH_STOPPED] = "STOPPED",
};

struct watch_dep {
	struct watcher *w;
	struct dep *dep;
	const char *id; /* dep_id(dep), borrowed from dep */
	enum watch_state state;
	uv_timer_t timer;
	struct http_request *req;
	uint64_t index;  /* last X-Consul-Index; 0: none (do not block) */
	json_t *last;    /* last decoded value (ours), NULL before the first */
	bool no_stale;   /* ask the leader once: the stale answer was old */
	bool used_stale; /* the request in flight has ?stale */
	bool leader_failed; /* asking the leader failed: take a stale answer */
	/* Why the data in last is suspect (a static string), NULL when a
	 * healthy answer carried it or confirmed it since. */
	const char *suspect;
	const char *reset;   /* the index went backwards: why, for the next */
	unsigned failures;   /* in a row, until an answer decodes */
	uint64_t fail_since; /* loop time of the first of them */
	uint64_t rate_tat;   /* rate limit: theoretical arrival time (GCRA) */
	int reported;        /* 403/400/-EBADMSG/-E2BIG reported; 0: none */
	size_t last_len;     /* bytes of the body that gave last */
	json_t *drops;       /* messages of the last decode's drops: a set */
	bool catch_up;       /* after an outage: ask without blocking once */
	bool long_wait; /* uncached: long polls wait WATCH_UNCACHED_WAIT_MS */
	uint64_t settle_until;     /* node list grew: no fetch before this */
	bool holds_slot;           /* its request counts in w->in_flight */
	bool long_poll;            /* that request (or the queued one) blocks */
	struct watch_queue *queue; /* the FIFO it waits in, or NULL */
	struct watch_dep *prev, *next;
	struct watch_dep *qprev, *qnext;
};

/*
 * Admission: at most max_conns requests in flight (curl never queues one
 * behind a long poll, where its timeout would run out); long polls use at
 * most long_slots of them, the rest is kept for first fetches, polls of
 * non-blocking deps and retries without an index. Requests beyond that
 * wait in FIFO order, long polls and the others in separate queues.
 */
struct watch_queue {
	struct watch_dep *head, *tail;
	unsigned len;
};

struct watcher {
	uv_loop_t *loop;
	const struct config *cfg;
	struct http *http;
	watcher_data_cb on_data;
	watcher_event_cb on_event;
	void *data;
	struct watch_dep *deps;
	unsigned ndeps;
	uint64_t rng;
	bool down; /* Consul unreachable */
	uint64_t down_since;
	uint64_t down_logged;
	/* The outage probe: while requests fail to connect, deps park and
	 * one cheap request finds out when Consul is back. */
	bool probing;
	unsigned probe_failures; /* since the last usable answer */
	uint64_t probe_due;      /* loop time of the next probe */
	unsigned nparked;
	uv_timer_t probe_timer;
	struct http_request *probe_req;
	uv_timer_t trim_timer; /* malloc_trim after a large answer */
	uint64_t trimmed;      /* loop time of the last trim; 0: none */
	/* Names no record may take (dep_decode_names). */
	struct dep_names names;
	const char **reserved; /* loopback names + cfg->reserved_names */
	char *own[3];          /* this node's hostname and short name */
	char **own_addrs;      /* this node's interface addresses */
	uint64_t changes;
	uint64_t timer_fires;
	uint64_t kind_requests[WATCH_KINDS], kind_errors[WATCH_KINDS];
	unsigned max_conns;  /* requests in flight at most */
	unsigned long_slots; /* of which long polls */
	unsigned in_flight, in_flight_long, max_in_flight;
	unsigned nblocking; /* deps with dep_blocking() */
	unsigned nlong;     /* of which long_wait */
	bool rotating;      /* nblocking > long_slots: waits are shortened */
	struct watch_queue q_short, q_long;
	bool closing;
	unsigned pending_closes;
	void (*closed)(void *data);
	void *closed_data;
};

_Static_assert(DEP_HEALTH_CONNECT < WATCH_KINDS, "WATCH_KINDS too small");

static void watch_fetch(struct watch_dep *wd);
static void watch_admit(struct watcher *w);
static void watch_probe_cb(uv_timer_t *timer);
static void watch_probe_end(struct watcher *w);
static void watch_probe_now(struct watcher *w);
static void watch_trim_later(struct watcher *w);

static void watch_set_state(struct watch_dep *wd, enum watch_state state)
{
	if (wd->state != state)
		log_trace("watch %s: %s -> [%s]", wd->id,
		          watch_state_names[wd->state],
		          watch_state_names[state]);
	wd->state = state;
}

static uint64_t watch_wait_ms(const struct watcher *w)
{
	return w->cfg->block_query_wait_ms != 0 ? w->cfg->block_query_wait_ms
	                                        : WATCH_DEFAULT_WAIT_MS;
}

/* Whether the uncached deps keep their long wait while rotating: only
 * while they hold at most half the long-poll slots. */
static bool watch_long_kept(const struct watcher *w)
{
	return w->nlong * 2 <= w->long_slots;
}

/*
 * The wait of the other long polls. With more blocking deps than
 * long-poll slots they take turns: each waits its share of
 * block_query_wait over the slots the uncached deps leave, so a full
 * rotation takes about block_query_wait. A query with an old index
 * answers at once when the data changed since, so no change is lost; it
 * is seen within about one rotation.
 */
static uint64_t watch_share_wait(const struct watcher *w)
{
	uint64_t wait = watch_wait_ms(w), share;
	unsigned slots = w->long_slots, deps = w->nblocking;

	if (w->nblocking <= w->long_slots)
		return wait;
	if (watch_long_kept(w)) {
		slots -= w->nlong;
		deps -= w->nlong;
	}
	share = wait * slots / deps;
	if (share < WATCH_MIN_ROTATION_WAIT_MS)
		share = WATCH_MIN_ROTATION_WAIT_MS;
	return share < wait ? share : wait;
}

/*
 * The wait of wd's long poll: WATCH_UNCACHED_WAIT_MS for a query the
 * agent does not answer from its cache, whose every expiry makes the
 * servers send the whole unchanged answer again (unless block_query_wait
 * is set, or they would hold more than half the slots while rotating);
 * else the share above.
 */
static uint64_t watch_poll_wait(const struct watch_dep *wd)
{
	const struct watcher *w = wd->w;

	if (wd->long_wait &&
	    (w->nblocking <= w->long_slots || watch_long_kept(w)))
		return WATCH_UNCACHED_WAIT_MS;
	return watch_share_wait(w);
}

/* Log entering and leaving rotation, with the numbers of the moment. */
static void watch_check_rotation(struct watcher *w)
{
	bool rotating = w->nblocking > w->long_slots;
	double wait = (double)watch_share_wait(w) / 1000.0;

	if (rotating == w->rotating)
		return;
	w->rotating = rotating;
	if (rotating)
		log_warnx("watching %u dependencies over %u connections: each "
		          "blocking query waits %.1f s (rotation ~%.0f s); "
		          "consider fewer dependencies or a higher agent limit",
		          w->nblocking, w->long_slots, wait,
		          wait * w->nblocking / w->long_slots);
	else
		log_info("watching %u dependencies over %u connections: "
		         "blocking queries wait %.1f s again",
		         w->nblocking, w->long_slots, wait);
}

static void watch_enqueue(struct watch_dep *wd, bool long_poll)
{
	struct watch_queue *q = long_poll ? &wd->w->q_long : &wd->w->q_short;

	wd->long_poll = long_poll;
	wd->queue = q;
	wd->qnext = NULL;
	wd->qprev = q->tail;
	if (q->tail != NULL)
		q->tail->qnext = wd;
	else
		q->head = wd;
	q->tail = wd;
	q->len++;
	watch_set_state(wd, WATCH_QUEUED);
}

static void watch_dequeue(struct watch_dep *wd)
{
	struct watch_queue *q = wd->queue;

	if (q == NULL)
		return;
	if (wd->qprev != NULL)
		wd->qprev->qnext = wd->qnext;
	else
		q->head = wd->qnext;
	if (wd->qnext != NULL)
		wd->qnext->qprev = wd->qprev;
	else
		q->tail = wd->qprev;
	q->len--;
	wd->queue = NULL;
	wd->qprev = wd->qnext = NULL;
}

/* Whether a new request may start now rather than join its queue. */
static bool watch_may_start(const struct watcher *w, bool long_poll)
{
	if (w->q_short.head != NULL || w->in_flight >= w->max_conns)
		return false;
	return !long_poll ||
	       (w->q_long.head == NULL && w->in_flight_long < w->long_slots);
}

/* wd's request ended or was cancelled: free its slot. */
static void watch_release(struct watch_dep *wd)
{
	struct watcher *w = wd->w;

	if (!wd->holds_slot)
		return;
	wd->holds_slot = false;
	w->in_flight--;
	if (wd->long_poll)
		w->in_flight_long--;
}

static bool watch_is_kv(const struct watch_dep *wd)
{
	enum dep_kind k = dep_kind(wd->dep);

	return k == DEP_KV_GET || k == DEP_KV_LIST;
}

/* Consul's text, printable and bounded, for logs and on_event. */
static void watch_describe(char *out, size_t size, const char *body, size_t len)
{
	size_t o = 0;

	if (len > WATCH_WHAT_MAX)
		len = WATCH_WHAT_MAX;
	for (size_t i = 0; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)body[i];

		out[o++] = c >= ' ' && c < 0x7f ? (char)c : ' ';
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

static bool watch_parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		/* Every value up to UINT64_MAX (2^64 - 1) is an index. */
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

static void watch_event_dep(struct watcher *w, const struct dep *d, int status,
                            const char *what)
{
	if (w->on_event != NULL && !w->closing)
		w->on_event(w->data, d, status, what);
}

static void watch_event(struct watch_dep *wd, int status, const char *what)
{
	watch_event_dep(wd->w, wd->dep, status, what);
}

/* Consul answered (any status but 5xx/429): end an outage. d may be NULL
 * (the outage probe answered). While the probe runs, only it decides. */
static void watch_reachable(struct watcher *w, const struct dep *d)
{
	char what[128];
	double secs;

	if (!w->down || w->probing)
		return;
	w->down = false;
	secs = (double)(uv_now(w->loop) - w->down_since) / 1000.0;
	log_info("consul: reachable again after %.1fs", secs);
	snprintf(what, sizeof(what), "Consul reachable again after %.1fs",
	         secs);
	watch_event_dep(w, d, 0, what);
}

/* A request of id (a dep's, or the probe's) found Consul unreachable. */
static void watch_unreachable(struct watcher *w, const struct dep *d,
                              const char *id, int status, const char *what,
                              uint64_t delay)
{
	uint64_t now = uv_now(w->loop);

	if (!w->down) {
		w->down = true;
		w->down_since = w->down_logged = now;
		log_warnx("consul: %s: %s; retrying in %.1fs", id, what,
		          (double)delay / 1000.0);
		watch_event_dep(w, d, status, what);
	} else if (now - w->down_logged >= WATCH_OUTAGE_LOG_MS) {
		w->down_logged = now;
		log_warnx("consul: unreachable for %" PRIu64 "s (%s: %s); "
		          "retrying in %.1fs",
		          (now - w->down_since) / 1000, id, what,
		          (double)delay / 1000.0);
	} else {
		log_debug("consul: %s: %s; retrying in %.1fs", id, what,
		          (double)delay / 1000.0);
	}
}

static void watch_timer_cb(uv_timer_t *timer)
{
	struct watch_dep *wd = container_of(timer, struct watch_dep, timer);

	wd->w->timer_fires++;
	watch_fetch(wd);
}

static void watch_after(struct watch_dep *wd, enum watch_state state,
                        uint64_t delay)
{
	int r;

	if (wd->state == WATCH_STOPPED) /* a callback removed it */
		return;
	watch_set_state(wd, state);
	r = uv_timer_start(&wd->timer, watch_timer_cb, delay, 0);
	if (r < 0) /* cannot happen for a valid timer; do not stall */
		log_warnx("watch %s: uv_timer_start: %s", wd->id,
		          uv_strerror(r));
}

/*
 * When the rate limit lets this dep fetch again (uv_now() based): a
 * generic cell rate algorithm. Each fetch moves rate_tat one interval
 * (watch_rate_ms + 0..WATCH_RATE_JITTER_MS) past max(rate_tat, now), and a
 * fetch may start once now >= rate_tat - (WATCH_RATE_BURST - 1) intervals:
 * after a quiet spell the next WATCH_RATE_BURST fetches start at once (a
 * failover's deregister and register, moments apart), while a churning
 * key is held to one fetch per interval.
 */
static uint64_t watch_rate_due(const struct watch_dep *wd)
{
	uint64_t allow = (uint64_t)(WATCH_RATE_BURST - 1) * watch_rate_ms;

	return wd->rate_tat > allow ? wd->rate_tat - allow : 0;
}

static void watch_rate_take(struct watch_dep *wd, uint64_t now)
{
	uint64_t from = wd->rate_tat > now ? wd->rate_tat : now;

	wd->rate_tat = from + watch_rate_ms +
	               backoff_jitter(&wd->w->rng, 0, WATCH_RATE_JITTER_MS);
}

/* After a good answer: the next long poll, rate-limited. */
static void watch_next(struct watch_dep *wd)
{
	struct watcher *w = wd->w;
	uint64_t now = uv_now(w->loop), due;

	if (!dep_blocking(wd->dep) && !wd->no_stale) {
		uint64_t poll = backoff_jitter(&w->rng, WATCH_POLL_MS * 9 / 10,
		                               WATCH_POLL_MS * 11 / 10);

		watch_after(wd, WATCH_IDLE, poll);
		return;
	}
	due = watch_rate_due(wd);
	if (due < wd->settle_until)
		due = wd->settle_until;
	if (now >= due)
		watch_fetch(wd);
	else
		watch_after(wd, WATCH_RATE_WAIT, due - now);
}

/*
 * Whether now, the node list's new answer, only added nodes to old: each
 * of old's records is in now, in the same order (the decoder sorts), and
 * now has more. Anything else (a removal, an address or any other field
 * changed) is no pure addition.
 */
static bool watch_only_added(json_t *old, json_t *now)
{
	size_t n = json_array_size(now), j = 0, i;
	json_t *o;

	if (!json_is_array(old) || !json_is_array(now) ||
	    n <= json_array_size(old))
		return false;
	json_array_foreach(old, i, o)
	{
		while (j < n && !trec_value_equal(o, json_array_get(now, j)))
			j++;
		if (j++ == n)
			return false;
	}
	return true;
}

/*
 * node_join_settle: after an answer that only added nodes, the node list
 * is not asked again before the setting has passed, so the rest of a
 * burst of joins comes in one more fetch instead of one per join.
 */
static void watch_settle(struct watch_dep *wd, json_t *value)
{
	uint64_t settle = wd->w->cfg->node_join_settle_ms;
	json_t *old = wd->last, *now = value, *xold = NULL, *xnow = NULL;
	bool added;

	wd->settle_until = 0;
	if (settle == 0 || dep_kind(wd->dep) != DEP_CATALOG_NODES)
		return;
	/* The node list decodes to a blob of compact records (crec.h):
	 * compared as the records it holds. */
	if (json_is_string(old) && json_is_string(now)) {
		old = xold = crec_expand(old);
		now = xnow = crec_expand(now);
	}
	added = watch_only_added(old, now);
	json_decref(xold);
	json_decref(xnow);
	if (!added)
		return;
	wd->settle_until = uv_now(wd->w->loop) + settle;
	log_debug("watch %s: nodes joined; asking again in %" PRIu64 " ms",
	          wd->id, settle);
}

/*
 * -once gives up on a dependency that has had no usable answer for as
 * long as consul-template's retries take (backoff_budget_ms over
 * retry.attempts: 5 min 3.75 s with the defaults), or at its first
 * failure when retries are off. The daemon never gives up.
 */
static bool watch_gives_up(const struct watcher *w)
{
	const struct retry_conf *rc = &w->cfg->consul.retry;

	return w->cfg->once && (!rc->enabled || rc->attempts > 0);
}

/* The time left before -once gives up on wd (UINT64_MAX: never). */
static uint64_t watch_budget_left(const struct watch_dep *wd, uint64_t now)
{
	const struct watcher *w = wd->w;
	const struct retry_conf *rc = &w->cfg->consul.retry;
	uint64_t budget, spent;

	if (!watch_gives_up(w) || wd->failures == 0)
		return UINT64_MAX;
	if (!rc->enabled)
		return 0;
	budget = backoff_budget_ms(rc->backoff_ms, rc->max_backoff_ms,
	                           rc->attempts);
	spent = now - wd->fail_since;
	return spent >= budget ? 0 : budget - spent;
}

/* -once: no more retries for wd; the runner exits (watch.h). */
static void watch_give_up(struct watch_dep *wd, const char *what)
{
	struct watcher *w = wd->w;
	const struct retry_conf *rc = &w->cfg->consul.retry;
	char msg[WATCH_WHAT_MAX + 512];

	watch_set_state(wd, WATCH_GAVE_UP_S);
	if (!rc->enabled)
		snprintf(msg, sizeof(msg),
		         "giving up on %s (retries are disabled): %s", wd->id,
		         what);
	else
		snprintf(msg, sizeof(msg),
		         "giving up on %s after %.1fs without an answer (retry "
		         "attempts %u, backoff %.3gs to %.3gs): %s",
		         wd->id,
		         (double)(uv_now(w->loop) - wd->fail_since) / 1000.0,
		         rc->attempts, (double)rc->backoff_ms / 1000.0,
		         (double)rc->max_backoff_ms / 1000.0, what);
	watch_event(wd, WATCH_GAVE_UP, msg);
}

/*
 * Count a failed request of wd (a failure lasts until an answer decodes).
 * False when -once gives up on wd now (on_event has run: wd may be
 * stopped); the caller must not touch wd's state then.
 */
static bool watch_count_failure(struct watch_dep *wd, const char *what)
{
	uint64_t now = uv_now(wd->w->loop);

	wd->w->kind_errors[dep_kind(wd->dep)]++;
	/* As consul-template: after an error, try ?stale again first; if
	 * the leader was asked because a stale answer was too old, take the
	 * next such answer (marked suspect) rather than none at all. */
	if (wd->no_stale)
		wd->leader_failed = true;
	wd->no_stale = false;
	if (wd->failures == 0)
		wd->fail_since = now;
	if (wd->failures < UINT32_MAX)
		wd->failures++;
	if (watch_budget_left(wd, now) == 0) {
		watch_give_up(wd, what);
		return false;
	}
	return true;
}

/* The retry delay after wd's failures (counted already). */
static uint64_t watch_backoff(struct watch_dep *wd, bool at_cap)
{
	struct watcher *w = wd->w;
	const struct retry_conf *rc = &w->cfg->consul.retry;
	uint64_t now = uv_now(w->loop), delay, due, left;

	if (at_cap)
		delay = backoff_ceiling_ms(rc->backoff_ms, rc->max_backoff_ms,
		                           UINT32_MAX);
	else
		delay = backoff_delay_ms(rc->backoff_ms, rc->max_backoff_ms,
		                         wd->failures, backoff_rand(&w->rng));
	/* -once: the last retry comes when the budget ends, not after. */
	left = watch_budget_left(wd, now);
	if (delay > left)
		delay = left;
	/* Retries get no burst: never sooner than one interval after the
	 * last request started. */
	due = wd->rate_tat;
	if (now + delay < due)
		delay = due - now;
	return delay;
}

/* A usable answer: wd's failures are over. */
static void watch_answered_ok(struct watch_dep *wd)
{
	wd->failures = 0;
	/* The probe backs off until requests work again after it ends. */
	if (!wd->w->probing)
		wd->w->probe_failures = 0;
	if (wd->reported != 0) {
		char what[160];

		wd->reported = 0;
		snprintf(what, sizeof(what), "%s answers again", wd->id);
		log_info("consul: %s", what);
		watch_event(wd, 0, what);
	}
}

static void watch_park(struct watch_dep *wd);
static void watch_probe_start(struct watcher *w);

/*
 * No answer at all (the connection failed, broke or timed out): wd waits
 * for the outage probe instead of retrying on its own, so an outage costs
 * one request per backoff period, whatever the number of dependencies.
 */
static void watch_transport_failed(struct watch_dep *wd, int status,
                                   const char *what)
{
	struct watcher *w = wd->w;

	if (!watch_count_failure(wd, what))
		return;
	watch_park(wd);
	watch_probe_start(w);
	watch_unreachable(w, wd->dep, wd->id, status, what,
	                  w->probe_due - uv_now(w->loop));
}

/*
 * Consul answered, with something we cannot use (a body that does not
 * decode, one over the size bound): back off like any failure, and say
 * so once per change of state, as for a 403.
 */
static void watch_unusable(struct watch_dep *wd, int status, const char *what)
{
	uint64_t delay;

	watch_reachable(wd->w, wd->dep);
	if (wd->state == WATCH_STOPPED || !watch_count_failure(wd, what))
		return;
	delay = watch_backoff(wd, false);
	if (wd->reported != status) {
		wd->reported = status;
		log_warnx("consul: %s: %s; retrying with backoff", wd->id,
		          what);
		watch_event(wd, status, what);
	} else {
		log_debug("consul: %s: still %s; retrying in %.1fs", wd->id,
		          what, (double)delay / 1000.0);
	}
	watch_after(wd, WATCH_BACKOFF, delay);
}

/*
 * An HTTP error status. 5xx and 429: Consul is (partly) away, back off.
 * Otherwise Consul answered: report it (on_event first, so the runner
 * may unwatch the dep, as it does for agent/self without agent:read),
 * then count the failure and back off.
 */
static void watch_failed_status(struct watch_dep *wd, long status,
                                const struct http_response *resp)
{
	struct watcher *w = wd->w;
	char body[WATCH_WHAT_MAX + 1], what[WATCH_WHAT_MAX + 128];
	bool at_cap = false;
	uint64_t delay;

	watch_describe(body, sizeof(body), resp->body, resp->len);
	if (status >= 500 || status == 429) {
		snprintf(what, sizeof(what), "HTTP %ld%s%s", status,
		         body[0] ? ": " : "", body);
		if (!watch_count_failure(wd, what))
			return;
		delay = watch_backoff(wd, false);
		watch_unreachable(w, wd->dep, wd->id, (int)status, what, delay);
		watch_after(wd, WATCH_BACKOFF, delay);
		return;
	}
	watch_reachable(w, wd->dep);
	if (wd->state == WATCH_STOPPED)
		return;
	if (status == 403) {
		snprintf(what, sizeof(what),
		         "ACL: Consul refused %s (HTTP 403: %s); check the "
		         "token and its policy",
		         wd->id, body[0] ? body : "no reason given");
		if (wd->reported != 403) {
			wd->reported = 403;
			log_warnx("consul: %s; retrying", what);
			watch_event(wd, 403, what);
		} else {
			log_debug("consul: %s: still HTTP 403", wd->id);
		}
	} else if (status == 400) {
		snprintf(what, sizeof(what),
		         "BUG: Consul rejected our query for %s as malformed "
		         "(HTTP 400: %s); please report this",
		         wd->id, body);
		at_cap = true;
		wd->reported = 400;
		log_errx("consul: %s; retrying at the backoff cap", what);
		watch_event(wd, 400, what);
	} else {
		snprintf(what, sizeof(what), "%s: unexpected HTTP %ld%s%s",
		         wd->id, status, body[0] ? ": " : "", body);
		log_warnx("consul: %s; retrying", what);
		if (wd->reported != (int)status) {
			wd->reported = (int)status;
			watch_event(wd, (int)status, what);
		}
	}
	if (wd->state == WATCH_STOPPED || !watch_count_failure(wd, what))
		return;
	delay = watch_backoff(wd, at_cap);
	log_debug("consul: %s: retrying in %.1fs", wd->id,
	          (double)delay / 1000.0);
	watch_after(wd, WATCH_BACKOFF, delay);
}

/*
 * Log the records the decoder dropped that the previous decode of wd did
 * not: each is named once, when it starts being dropped, not at every
 * change of the dependency (a health answer changes with every check).
 */
static void watch_log_dropped(struct watch_dep *wd, json_t *dropped)
{
	json_t *seen = json_object(), *m;
	size_t i, fresh = 0;

	json_array_foreach(dropped, i, m)
	{
		const char *s = json_string_value(m);

		if (s == NULL)
			continue;
		json_object_set_new(seen, s, json_true());
		if (wd->drops != NULL && json_object_get(wd->drops, s) != NULL)
			continue;
		if (fresh++ < WATCH_DROPPED_LOG_MAX)
			log_warnx("consul: %s: dropped %s", wd->id, s);
	}
	if (fresh > WATCH_DROPPED_LOG_MAX)
		log_warnx("consul: %s: dropped %zu more records", wd->id,
		          fresh - WATCH_DROPPED_LOG_MAX);
	json_decref(wd->drops);
	wd->drops = seen;
}

/* Deliver wd's data (wd->last) as it now stands, with its suspicion. */
static void watch_deliver(struct watch_dep *wd)
{
	struct watcher *w = wd->w;

	w->changes++;
	w->on_data(w->data, wd->dep, wd->last, wd->suspect);
}

/*
 * Whether Consul says it answered without a known leader. The streaming
 * backend (X-Consul-Query-Backend: streaming, Consul >= 1.10) always
 * sends X-Consul-KnownLeader: false, leader or not, and its maintainers
 * say not to read that as an error (hashicorp/consul#9776): it counts
 * only from the blocking-query backend.
 */
static bool watch_no_leader(const struct http_response *resp)
{
	const char *kl = http_response_header(resp, "X-Consul-KnownLeader");
	const char *be = http_response_header(resp, "X-Consul-Query-Backend");

	return kl != NULL && strcasecmp(kl, "false") == 0 &&
	       (be == NULL || strcasecmp(be, "streaming") != 0);
}

static void watch_answer(struct watch_dep *wd, const struct http_response *resp)
{
	struct watcher *w = wd->w;
	bool blocking = dep_blocking(wd->dep);
	uint64_t idx = 0, contact;
	json_t *value = NULL, *dropped;
	const char *suspect;
	struct err e;
	int r;

	suspect = watch_no_leader(resp) ? "Consul has no known leader" : NULL;
	if (wd->used_stale &&
	    watch_parse_u64(http_response_header(resp, "X-Consul-LastContact"),
	                    &contact) &&
	    contact > w->cfg->max_stale_ms) {
		if (!wd->leader_failed) {
			log_debug("consul: %s: stale answer (last contact "
			          "%" PRIu64 "ms > max_stale %" PRIu64 "ms); "
			          "asking the leader",
			          wd->id, contact, w->cfg->max_stale_ms);
			wd->no_stale = true;
			watch_next(wd);
			return;
		}
		/* The leader could not be asked: better a suspect answer
		 * (its additions are published, its removals held) than
		 * none. */
		suspect = "a stale answer older than max_stale (the leader "
		          "could not be asked)";
	}
	/* Not before: an answer too stale to use says nothing of Consul. */
	watch_reachable(w, wd->dep);
	if (wd->state == WATCH_STOPPED)
		return;
	if (suspect == NULL)
		wd->leader_failed = false; /* a fresh or consistent answer */
	wd->no_stale = false;
	if (blocking) {
		(void)watch_parse_u64(
		        http_response_header(resp, "X-Consul-Index"), &idx);
		if (wd->last != NULL && idx != 0 && idx < wd->index) {
			log_debug("consul: %s: index went backwards (%" PRIu64
			          " < %" PRIu64 "), resetting",
			          wd->id, idx, wd->index);
			wd->index = 0;
			wd->reset = "the index went backwards (a snapshot "
			            "restore or a new leader with older state)";
			watch_next(wd);
			return;
		}
		if (suspect == NULL && wd->reset != NULL) {
			suspect = wd->reset;
			wd->reset = NULL;
		}
		if (wd->last != NULL && idx != 0 && idx == wd->index) {
			/* Timed out, or an idempotent write: the same data,
			 * now confirmed by a healthy answer if it is one. */
			watch_answered_ok(wd);
			if (wd->state == WATCH_STOPPED)
				return;
			if (wd->suspect != NULL && suspect == NULL) {
				wd->suspect = NULL;
				watch_deliver(wd);
				if (wd->state == WATCH_STOPPED)
					return;
			}
			watch_next(wd);
			return;
		}
	}
	err_clear(&e);
	dropped = json_array();
	r = dep_decode_names(wd->dep, &w->names, resp->status, resp->body,
	                     resp->len, &value, dropped, &e);
	if (r < 0) {
		char what[sizeof(e.msg) + 64];

		json_decref(dropped);
		snprintf(what, sizeof(what), "undecodable answer: %s", e.msg);
		watch_unusable(wd, -EBADMSG, what);
		return;
	}
	/* Only an answer that decodes ends a run of failures: a proxy's
	 * HTML page with status 200 backs off like a 500. */
	watch_answered_ok(wd);
	if (wd->state == WATCH_STOPPED) {
		json_decref(value);
		json_decref(dropped);
		return;
	}
	watch_log_dropped(wd, dropped);
	json_decref(dropped);
	if (blocking)
		wd->index = idx < 1 ? 1 : idx; /* never block on index 0 */
	if (wd->last != NULL && trec_value_equal(value, wd->last)) {
		bool moved = (wd->suspect == NULL) != (suspect == NULL);

		json_decref(value);
		wd->suspect = suspect;
		if (moved) {
			/* The same data, now suspect or confirmed. */
			watch_deliver(wd);
			if (wd->state == WATCH_STOPPED)
				return;
		}
		watch_next(wd);
		return;
	}
	if (suspect != NULL)
		log_info("consul: %s: answer marked suspect: %s", wd->id,
		         suspect);
	watch_settle(wd, value);
	/* The tree the old answer made is freed now (and by the store in
	 * on_data): give its memory back. */
	if (wd->last_len >= WATCH_TRIM_BYTES)
		watch_trim_later(w);
	json_decref(wd->last);
	wd->last = value;
	wd->last_len = resp->len;
	wd->suspect = suspect;
	watch_deliver(wd);
	if (wd->state == WATCH_STOPPED)
		return;
	watch_next(wd);
}

static void watch_done(void *data, int result, const struct http_response *resp,
                       const char *errmsg)
{
	struct watch_dep *wd = data;
	struct watcher *w = wd->w;
	char what[512];

	wd->req = NULL;
	watch_release(wd);
	if (wd->state == WATCH_STOPPED)
		return;
	/* Its body (and the tree decoded from it) is freed after this. */
	if (result == -E2BIG || (resp != NULL && resp->len >= WATCH_TRIM_BYTES))
		watch_trim_later(w);
	if (result == 0)
		watch_probe_now(w); /* an answer: Consul may be back */
	if (result == -E2BIG) {
		snprintf(what, sizeof(what), "%s (max_response_size)", errmsg);
		watch_unusable(wd, result, what);
	} else if (result < 0) {
		snprintf(what, sizeof(what), "%s (%s)", errmsg,
		         strerror(-result));
		watch_transport_failed(wd, result, what);
	} else if (resp->status == 200 ||
	           (resp->status == 404 && watch_is_kv(wd))) {
		watch_answer(wd, resp);
	} else {
		watch_failed_status(wd, resp->status, resp);
	}
	/* After wd took its turn: it queues behind those waiting already. */
	watch_admit(w);
}

/* Start wd's request now; the caller checked that a slot is free. */
static void watch_start(struct watch_dep *wd, bool block)
{
	struct watcher *w = wd->w;
	uint64_t wait = watch_poll_wait(wd), timeout;
	char *path;
	struct buf url;
	int r;

	if (block)
		watch_check_rotation(w);
	path = dep_request_path(wd->dep);
	if (path == NULL) {
		log_warnx("watch %s: no request path", wd->id);
		if (watch_count_failure(wd, "no request path"))
			watch_after(wd, WATCH_BACKOFF, watch_backoff(wd, true));
		return;
	}
	buf_init(&url, 0);
	r = buf_puts(&url, path);
	free(path);
	wd->used_stale = w->cfg->max_stale_ms > 0 && !wd->no_stale;
	if (r == 0 && block)
		r = buf_printf(&url, "%cindex=%" PRIu64 "&wait=%" PRIu64 "ms",
		               strchr(buf_str(&url), '?') ? '&' : '?',
		               wd->index, wait);
	if (r == 0 && wd->used_stale)
		r = buf_printf(&url, "%cstale%s",
		               strchr(buf_str(&url), '?') ? '&' : '?',
		               dep_cached(wd->dep) ? "&cached" : "");
	/* Consul may hold the answer wait + wait/16; curl must wait longer. */
	timeout = block ? wait + wait / 16 + WATCH_TIMEOUT_SLACK
	                : WATCH_NONBLOCK_TIMEOUT_MS;
	watch_rate_take(wd, uv_now(w->loop));
	if (r == 0)
		r = http_get(w->http, buf_str(&url), timeout, watch_done, wd,
		             &wd->req);
	buf_free(&url);
	if (r < 0) {
		uint64_t delay;

		if (!watch_count_failure(wd, strerror(-r)))
			return;
		delay = watch_backoff(wd, false);
		log_warnx("watch %s: cannot start a request: %s; retrying in "
		          "%.1fs",
		          wd->id, strerror(-r), (double)delay / 1000.0);
		watch_after(wd, WATCH_BACKOFF, delay);
		return;
	}
	w->kind_requests[dep_kind(wd->dep)]++;
	wd->holds_slot = true;
	wd->long_poll = block;
	w->in_flight++;
	if (block)
		w->in_flight_long++;
	if (w->in_flight > w->max_in_flight)
		w->max_in_flight = w->in_flight;
	watch_set_state(wd, WATCH_FETCHING);
}

static void watch_fetch(struct watch_dep *wd)
{
	bool block;

	if (wd->state == WATCH_STOPPED) /* a callback removed it */
		return;
	if (wd->w->probing) { /* Consul is away: the probe asks for all */
		watch_park(wd);
		return;
	}
	block = dep_blocking(wd->dep) && wd->index > 0 && !wd->catch_up;
	wd->catch_up = false;
	if (watch_may_start(wd->w, block))
		watch_start(wd, block);
	else
		watch_enqueue(wd, block);
}

/* Start queued requests while slots are free, oldest first. */
static void watch_admit(struct watcher *w)
{
	struct watch_dep *wd;

	while (!w->closing && w->in_flight < w->max_conns) {
		wd = w->q_short.head;
		if (wd == NULL && w->in_flight_long < w->long_slots)
			wd = w->q_long.head;
		if (wd == NULL)
			return;
		watch_dequeue(wd);
		if (w->probing) { /* queued before the outage was seen */
			watch_park(wd);
			continue;
		}
		watch_start(wd, wd->long_poll);
	}
}

/* ---- the outage probe ---- */

/* wd waits for the probe: no timer, no request. */
static void watch_park(struct watch_dep *wd)
{
	if (wd->state == WATCH_STOPPED || wd->state == WATCH_PARKED)
		return;
	(void)uv_timer_stop(&wd->timer);
	watch_set_state(wd, WATCH_PARKED);
	wd->w->nparked++;
}

/* The next probe's delay: capped full jitter, at most WATCH_PROBE_MAX_MS,
 * and, for -once, no later than a parked dep's budget ends. */
static uint64_t watch_probe_delay(struct watcher *w)
{
	const struct retry_conf *rc = &w->cfg->consul.retry;
	uint64_t cap = rc->max_backoff_ms < WATCH_PROBE_MAX_MS
	                       ? rc->max_backoff_ms
	                       : WATCH_PROBE_MAX_MS;
	uint64_t now = uv_now(w->loop), delay;

	delay = backoff_delay_ms(rc->backoff_ms, cap, w->probe_failures + 1,
	                         backoff_rand(&w->rng));
	for (struct watch_dep *wd = w->deps; wd != NULL; wd = wd->next) {
		uint64_t left;

		if (wd->state != WATCH_PARKED)
			continue;
		left = watch_budget_left(wd, now);
		if (left < delay)
			delay = left;
	}
	return delay;
}

static void watch_probe_schedule(struct watcher *w)
{
	uint64_t delay = watch_probe_delay(w);

	w->probe_due = uv_now(w->loop) + delay;
	(void)uv_timer_start(&w->probe_timer, watch_probe_cb, delay, 0);
}

/*
 * A request that started before the outage answered: probe now rather
 * than at the next backoff (one request, whatever the number of such
 * answers); only the probe's answer resumes the parked deps, so a flaky
 * link where old connections work and new ones fail costs one probe per
 * answer, not one request per dependency.
 */
static void watch_probe_now(struct watcher *w)
{
	if (!w->probing || w->probe_req != NULL)
		return;
	w->probe_due = uv_now(w->loop);
	(void)uv_timer_start(&w->probe_timer, watch_probe_cb, 0, 0);
}

/* Requests fail to connect: start probing (no-op when it is on). */
static void watch_probe_start(struct watcher *w)
{
	if (w->probing || w->closing)
		return;
	w->probing = true;
	log_debug("consul: requests fail to connect; probing %s",
	          WATCH_PROBE_PATH);
	watch_probe_schedule(w);
}

/* The probe failed: -once may give up on a parked dep; else probe again. */
static void watch_probe_failed(struct watcher *w, int status, const char *what)
{
	uint64_t now = uv_now(w->loop);

	if (w->probe_failures < UINT32_MAX)
		w->probe_failures++;
	for (struct watch_dep *wd = w->deps; wd != NULL; wd = wd->next) {
		if (wd->state == WATCH_PARKED &&
		    watch_budget_left(wd, now) == 0) {
			w->nparked--;
			watch_give_up(wd, what);
			return; /* the runner exits; nothing more to ask */
		}
	}
	watch_probe_schedule(w);
	watch_unreachable(w, NULL, WATCH_PROBE_PATH, status, what,
	                  w->probe_due - now);
}

static void watch_probe_done(void *data, int result,
                             const struct http_response *resp,
                             const char *errmsg)
{
	struct watcher *w = data;
	char what[512];

	w->probe_req = NULL;
	if (result < 0 && result != -E2BIG) {
		snprintf(what, sizeof(what), "%s (%s)", errmsg,
		         strerror(-result));
		watch_probe_failed(w, result, what);
		return;
	}
	/* Any answer: Consul takes requests again. A 5xx or 429 is no
	 * recovery yet; the deps find out and back off on their own. */
	watch_probe_end(w);
	if (resp != NULL && resp->status < 500 && resp->status != 429)
		watch_reachable(w, NULL);
}

static void watch_probe_cb(uv_timer_t *timer)
{
	struct watcher *w = container_of(timer, struct watcher, probe_timer);
	int r;

	w->timer_fires++;
	r = http_get(w->http, WATCH_PROBE_PATH, WATCH_PROBE_TIMEOUT_MS,
	             watch_probe_done, w, &w->probe_req);
	if (r < 0)
		watch_probe_failed(w, r, strerror(-r));
}

/*
 * Consul answered (the probe, or a request in flight): resume the parked
 * deps over a short jittered window (WATCH_RESUME_PER_DEP_MS each, at
 * most WATCH_RESUME_WINDOW_MS), so the agent is not hit by all of them at
 * once, nor a fleet's agents by every daemon at the same moment.
 */
static void watch_probe_end(struct watcher *w)
{
	bool rotating = w->nblocking > w->long_slots;
	uint64_t window;

	if (!w->probing)
		return;
	w->probing = false;
	(void)uv_timer_stop(&w->probe_timer);
	http_cancel(w->probe_req);
	w->probe_req = NULL;
	window = (uint64_t)w->nparked * WATCH_RESUME_PER_DEP_MS;
	if (window > WATCH_RESUME_WINDOW_MS)
		window = WATCH_RESUME_WINDOW_MS;
	log_debug("consul: answering again; resuming %u watches over %" PRIu64
	          " ms",
	          w->nparked, window);
	for (struct watch_dep *wd = w->deps; wd != NULL; wd = wd->next) {
		if (wd->state != WATCH_PARKED)
			continue;
		/* Rotating, a long poll with the old index can wait a whole
		 * rotation for a slot: ask once without blocking, so every
		 * change made during the outage arrives now. */
		wd->catch_up = rotating;
		watch_after(wd, WATCH_BACKOFF,
		            backoff_jitter(&w->rng, 0, window));
	}
	w->nparked = 0;
}

/* ---- memory ---- */

static void watch_trim_cb(uv_timer_t *timer)
{
	struct watcher *w = container_of(timer, struct watcher, trim_timer);

	w->timer_fires++;
	w->trimmed = uv_now(w->loop);
#ifdef __GLIBC__
	/* glibc keeps freed heap pages; a large answer's tree leaves
	 * hundreds of MiB behind without this. */
	(void)malloc_trim(0);
#endif
}

/*
 * Give freed memory back to the system on the next loop turn: after the
 * answer's body is freed, and after the render pass its change started
 * (a 0 ms timer started earlier runs first). At most once per
 * WATCH_TRIM_EVERY_MS: a large catalog answers over a MiB on every
 * change, and a trim each time makes every next answer fault its pages
 * in again (half of an output-only answer's CPU at 50k instances); more
 * large answers within the period share one trim at its end.
 */
static void watch_trim_later(struct watcher *w)
{
	uint64_t now = uv_now(w->loop), delay = 0;

	if (w->closing || uv_is_active((uv_handle_t *)&w->trim_timer))
		return;
	if (w->trimmed != 0 && now - w->trimmed < WATCH_TRIM_EVERY_MS)
		delay = w->trimmed + WATCH_TRIM_EVERY_MS - now;
	(void)uv_timer_start(&w->trim_timer, watch_trim_cb, delay, 0);
}

static struct watch_dep *watch_find(const struct watcher *w, const char *id)
{
	for (struct watch_dep *wd = w->deps; wd != NULL; wd = wd->next)
		if (strcmp(wd->id, id) == 0)
			return wd;
	return NULL;
}

static void watch_names_free(struct watcher *w)
{
	free(w->reserved);
	for (size_t i = 0; i < sizeof(w->own) / sizeof(w->own[0]); i++)
		free(w->own[i]);
	for (size_t i = 0; w->own_addrs != NULL && w->own_addrs[i] != NULL; i++)
		free(w->own_addrs[i]);
	free(w->own_addrs);
}

static void watch_maybe_finalize(struct watcher *w)
{
	void (*closed)(void *data);
	void *data;

	if (!w->closing || w->pending_closes > 0)
		return;
	closed = w->closed;
	data = w->closed_data;
	watch_names_free(w);
	free(w);
	if (closed != NULL)
		closed(data);
}

static void watch_dep_closed(uv_handle_t *handle)
{
	struct watch_dep *wd = container_of(handle, struct watch_dep, timer);
	struct watcher *w = wd->w;

	dep_free(wd->dep);
	free(wd);
	w->pending_closes--;
	watch_maybe_finalize(w);
}

static void watch_stop(struct watch_dep *wd)
{
	struct watcher *w = wd->w;

	http_cancel(wd->req);
	wd->req = NULL;
	watch_release(wd);
	watch_dequeue(wd);
	(void)uv_timer_stop(&wd->timer);
	if (wd->state == WATCH_PARKED)
		w->nparked--;
	if (wd->last_len >= WATCH_TRIM_BYTES)
		watch_trim_later(w);
	watch_set_state(wd, WATCH_STOPPED);
	if (wd->prev != NULL)
		wd->prev->next = wd->next;
	else
		w->deps = wd->next;
	if (wd->next != NULL)
		wd->next->prev = wd->prev;
	w->ndeps--;
	if (dep_blocking(wd->dep))
		w->nblocking--;
	if (wd->long_wait)
		w->nlong--;
	json_decref(wd->last);
	wd->last = NULL;
	json_decref(wd->drops);
	wd->drops = NULL;
	w->pending_closes++;
	uv_close((uv_handle_t *)&wd->timer, watch_dep_closed);
	watch_admit(w);
}

int watcher_add(struct watcher *w, const struct dep *d)
{
	struct watch_dep *wd;
	int r;

	if (w->closing)
		return -EINVAL;
	if (watch_find(w, dep_id(d)) != NULL)
		return 0;
	wd = xcalloc(1, sizeof(*wd));
	wd->w = w;
	wd->dep = dep_dup(d);
	if (wd->dep == NULL) {
		free(wd);
		return -EINVAL;
	}
	wd->id = dep_id(wd->dep);
	r = uv_timer_init(w->loop, &wd->timer);
	if (r < 0) {
		dep_free(wd->dep);
		free(wd);
		return r;
	}
	wd->next = w->deps;
	if (w->deps != NULL)
		w->deps->prev = wd;
	w->deps = wd;
	w->ndeps++;
	if (dep_blocking(wd->dep))
		w->nblocking++;
	wd->long_wait = dep_blocking(wd->dep) && !dep_cached(wd->dep) &&
	                !w->cfg->block_query_wait_set;
	if (wd->long_wait)
		w->nlong++;
	log_debug("watch %s: added", wd->id);
	watch_fetch(wd);
	return 0;
}

void watcher_remove(struct watcher *w, const char *dep_id)
{
	struct watch_dep *wd = watch_find(w, dep_id);

	if (wd != NULL) {
		log_debug("watch %s: removed", wd->id);
		watch_stop(wd);
	}
}

bool watcher_has(const struct watcher *w, const char *dep_id)
{
	return watch_find(w, dep_id) != NULL;
}

void watcher_get_stats(const struct watcher *w, struct watcher_stats *ret)
{
	struct http_stats hs;

	http_get_stats(w->http, &hs);
	ret->requests = hs.requests;
	ret->timer_fires = hs.timer_fires + w->timer_fires;
	ret->changes = w->changes;
	ret->deps = w->ndeps;
	ret->connects = hs.connects;
	ret->sockets = hs.sockets;
	ret->in_flight = w->in_flight;
	ret->max_in_flight = w->max_in_flight;
	ret->queued = w->q_short.len + w->q_long.len;
	ret->max_connections = w->max_conns;
	ret->long_slots = w->long_slots;
	ret->wait_ms = watch_share_wait(w);
	memcpy(ret->kind_requests, w->kind_requests, sizeof(w->kind_requests));
	memcpy(ret->kind_errors, w->kind_errors, sizeof(w->kind_errors));
	ret->reachable = !w->down;
	ret->down_ms = w->down ? uv_now(w->loop) - w->down_since : 0;
	ret->refused = 0;
	for (const struct watch_dep *wd = w->deps; wd != NULL; wd = wd->next)
		ret->refused += wd->reported != 0;
}

static void watch_http_closed(void *data)
{
	struct watcher *w = data;

	w->http = NULL;
	w->pending_closes--;
	watch_maybe_finalize(w);
}

static void watch_timer_closed(uv_handle_t *handle)
{
	struct watcher *w = handle->data;

	w->pending_closes--;
	watch_maybe_finalize(w);
}

void watcher_close(struct watcher *w, void (*closed)(void *data), void *data)
{
	if (w == NULL || w->closing)
		return;
	w->closing = true;
	w->closed = closed;
	w->closed_data = data;
	while (w->deps != NULL)
		watch_stop(w->deps);
	http_cancel(w->probe_req);
	w->probe_req = NULL;
	w->pending_closes += 2;
	uv_close((uv_handle_t *)&w->probe_timer, watch_timer_closed);
	uv_close((uv_handle_t *)&w->trim_timer, watch_timer_closed);
	w->pending_closes++;
	http_close(w->http, watch_http_closed, w);
}

/*
 * The names no record may take (dep_decode_names): the loopback names and
 * the configured ones (borrowed: static, and cfg's), this node's hostname
 * and its short name, and its interface addresses, which tell its own
 * registration from another node's that took its name.
 */
static void watch_names_init(struct watcher *w)
{
	const struct config *cfg = w->cfg;
	struct ifaddrs *ifa;
	char host[256], buf[INET6_ADDRSTRLEN];
	size_t n = 0, k = 0, len;

	for (const char *const *l = dep_loopback_names; *l != NULL; l++)
		n++;
	w->reserved =
	        xcalloc(n + cfg->nreserved_names + 1, sizeof(*w->reserved));
	n = 0;
	for (const char *const *l = dep_loopback_names; *l != NULL; l++)
		w->reserved[n++] = *l;
	for (size_t i = 0; i < cfg->nreserved_names; i++)
		w->reserved[n++] = cfg->reserved_names[i];
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		len = strlen(host);
		if (len > 0 && host[len - 1] == '.')
			host[--len] = '\0';
		if (hosts_name_ok(host, len)) {
			char *dot = strchr(host, '.');

			w->own[0] = xstrdup(host);
			if (dot != NULL && dot != host)
				w->own[1] =
				        xstrndup(host, (size_t)(dot - host));
		}
	}
	if (getifaddrs(&ifa) == 0) {
		w->own_addrs =
		        xcalloc(WATCH_OWN_ADDRS_MAX + 1, sizeof(*w->own_addrs));
		for (struct ifaddrs *i = ifa;
		     i != NULL && k < WATCH_OWN_ADDRS_MAX; i = i->ifa_next) {
			const void *a;

			if (i->ifa_addr == NULL)
				continue;
			if (i->ifa_addr->sa_family == AF_INET)
				a = &((const struct sockaddr_in *)(const void *)
				              i->ifa_addr)
				             ->sin_addr;
			else if (i->ifa_addr->sa_family == AF_INET6)
				a = &((const struct sockaddr_in6
				               *)(const void *)i->ifa_addr)
				             ->sin6_addr;
			else
				continue;
			if (inet_ntop(i->ifa_addr->sa_family, a, buf,
			              sizeof(buf)) != NULL)
				w->own_addrs[k++] = xstrdup(buf);
		}
		freeifaddrs(ifa);
	}
	w->names.reserved = w->reserved;
	w->names.own = (const char *const *)(void *)w->own;
	w->names.own_addrs = (const char *const *)(void *)w->own_addrs;
}

int watcher_new(uv_loop_t *loop, const struct config *cfg,
                watcher_data_cb on_data, watcher_event_cb on_event, void *data,
                struct watcher **ret, struct err *e)
{
	const struct consul_conf *cc = &cfg->consul;
	struct consul_addr addr;
	struct http_conf hc;
	struct watcher *w;
	char *token = NULL, *sni_url = NULL, *connect_to = NULL;
	unsigned max_conns = watch_max_connections > 0 ? watch_max_connections
	                                               : HTTP_MAX_CONNECTIONS;
	unsigned reserve;
	int r;

	if (on_data == NULL)
		return err_msg(e, -EINVAL, "watcher needs a data callback");
	memset(&addr, 0, sizeof(addr));
	r = consul_addr_parse(cc->address, cc->ssl.enabled, &addr, e);
	if (r < 0)
		return r;
	if (addr.tls)
		r = consul_addr_connect_to(&addr, cc->ssl.server_name, &sni_url,
		                           &connect_to, e);
	if (r == 0 && (cc->token == NULL || *cc->token == '\0') &&
	    cc->token_file != NULL && *cc->token_file != '\0')
		r = config_read_token_file(cc->token_file, &token, e);
	else if (r == 0 && cc->token != NULL && *cc->token != '\0') {
		if (!config_token_valid(cc->token))
			r = err_msg(e, -EINVAL,
			            "Consul token: only printable characters "
			            "without spaces are allowed");
		else
			token = xstrdup(cc->token);
	}
	if (r < 0)
		goto out;

	memset(&hc, 0, sizeof(hc));
	hc.base_url = sni_url != NULL ? sni_url : addr.url;
	hc.unix_path = addr.unix_path;
	hc.connect_to = connect_to;
	hc.token = token;
	hc.verify = !addr.tls || cc->ssl.verify;
	hc.ca_cert = cc->ssl.ca_cert;
	hc.ca_path = cc->ssl.ca_path;
	hc.cert = cc->ssl.cert;
	hc.key = cc->ssl.key;
	hc.max_host_connections = (long)max_conns;
	hc.max_body = cfg->max_response_size;
	w = xcalloc(1, sizeof(*w));
	r = http_new(loop, &hc, &w->http, e);
	if (r < 0) {
		free(w);
		goto out;
	}
	w->loop = loop;
	w->cfg = cfg;
	w->on_data = on_data;
	w->on_event = on_event;
	w->data = data;
	w->max_conns = max_conns;
	/* 10 % (15 of 150) kept for requests that answer at once. */
	reserve = max_conns / 10 > 0 ? max_conns / 10 : 1;
	w->long_slots = max_conns > reserve ? max_conns - reserve : max_conns;
	w->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^
	         (uint64_t)(uintptr_t)w;
	(void)uv_timer_init(loop, &w->probe_timer);
	(void)uv_timer_init(loop, &w->trim_timer);
	w->probe_timer.data = w->trim_timer.data = w;
	watch_names_init(w);
	log_debug("consul: %s%s%s%s", addr.url, addr.unix_path ? " via " : "",
	          addr.unix_path ? addr.unix_path : "",
	          token != NULL ? " (with a token)" : "");
	if (token != NULL && !addr.tls && addr.unix_path == NULL &&
	    !consul_addr_is_loopback(addr.host))
		log_warnx("consul: the ACL token travels in clear text to %s "
		          "(http:// and not a loopback address): anyone on "
		          "the path can read it; use https:// or the local "
		          "agent",
		          addr.url);
	*ret = w;
out:
	if (token != NULL) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	free(sni_url);
	free(connect_to);
	consul_addr_clear(&addr);
	return r;
}
