/*
 * One blocking-query state machine per dependency (consul-template's
 * watch/view.go, on a uv loop instead of goroutines). Every state change
 * goes through watch_set_state(), as curl's mstate() does.
 */
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "backoff.h"
#include "buf.h"
#include "consul_addr.h"
#include "http.h"
#include "log.h"
#include "xmalloc.h"

#define WATCH_NONBLOCK_TIMEOUT_MS  30000
#define WATCH_DEFAULT_WAIT_MS      60000
#define WATCH_TOKEN_FILE_MAX       4096
#define WATCH_WHAT_MAX             240 /* bytes of a Consul error body kept */
#define WATCH_DROPPED_LOG_MAX      20
#define WATCH_MIN_ROTATION_WAIT_MS 1000 /* shortest wait while rotating */

unsigned watch_max_connections = HTTP_MAX_CONNECTIONS;
unsigned watch_rate_ms = WATCH_RATE_MS;

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

enum watch_state {
	WATCH_IDLE,      /* not fetching; a non-blocking dep's re-poll timer */
	WATCH_FETCHING,  /* a request is in flight (a long poll, usually) */
	WATCH_RATE_WAIT, /* answered; waiting out the per-dep rate limit */
	WATCH_BACKOFF,   /* failed; waiting out the retry delay */
	WATCH_QUEUED,    /* waiting for a free connection (no timer, no req) */
	WATCH_STOPPED,   /* removed; waiting for the timer's close callback */
};

static const char *const watch_state_names[] = {
        [WATCH_IDLE] = "IDLE",           [WATCH_FETCHING] = "FETCHING",
        [WATCH_RATE_WAIT] = "RATE_WAIT", [WATCH_BACKOFF] = "BACKOFF",
        [WATCH_QUEUED] = "QUEUED",       [WATCH_STOPPED] = "STOPPED",
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
	const char *reset; /* the index went backwards: why, for the next */
	unsigned failures;
	uint64_t rate_tat; /* rate limit: theoretical arrival time (GCRA) */
	int reported;      /* 403/400 reported to on_event; 0: none */
	bool holds_slot;   /* its request counts in w->in_flight */
	bool long_poll;    /* that request (or the queued one) blocks */
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
	uint64_t changes;
	uint64_t timer_fires;
	uint64_t kind_requests[WATCH_KINDS], kind_errors[WATCH_KINDS];
	unsigned max_conns;  /* requests in flight at most */
	unsigned long_slots; /* of which long polls */
	unsigned in_flight, in_flight_long, max_in_flight;
	unsigned nblocking; /* deps with dep_blocking() */
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

/*
 * The wait of a long poll. With more blocking deps than long-poll slots
 * they take turns: each waits its share of block_query_wait, so a full
 * rotation takes about block_query_wait. A query with an old index
 * answers at once when the data changed since, so no change is lost; it
 * is seen within about one rotation.
 */
static uint64_t watch_long_wait(const struct watcher *w)
{
	uint64_t wait = watch_wait_ms(w), share;

	if (w->nblocking <= w->long_slots)
		return wait;
	share = wait * w->long_slots / w->nblocking;
	if (share < WATCH_MIN_ROTATION_WAIT_MS)
		share = WATCH_MIN_ROTATION_WAIT_MS;
	return share < wait ? share : wait;
}

/* Log entering and leaving rotation, with the numbers of the moment. */
static void watch_check_rotation(struct watcher *w)
{
	bool rotating = w->nblocking > w->long_slots;
	double wait = (double)watch_long_wait(w) / 1000.0;

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
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return true;
}

static void watch_event(struct watch_dep *wd, int status, const char *what)
{
	struct watcher *w = wd->w;

	if (w->on_event != NULL && !w->closing)
		w->on_event(w->data, wd->dep, status, what);
}

/* Consul answered (any status but 5xx/429): end an outage. */
static void watch_reachable(struct watch_dep *wd)
{
	struct watcher *w = wd->w;
	char what[128];
	double secs;

	if (!w->down)
		return;
	w->down = false;
	secs = (double)(uv_now(w->loop) - w->down_since) / 1000.0;
	log_info("consul: reachable again after %.1fs", secs);
	snprintf(what, sizeof(what), "Consul reachable again after %.1fs",
	         secs);
	watch_event(wd, 0, what);
}

static void watch_unreachable(struct watch_dep *wd, int status,
                              const char *what, uint64_t delay)
{
	struct watcher *w = wd->w;
	uint64_t now = uv_now(w->loop);

	if (!w->down) {
		w->down = true;
		w->down_since = w->down_logged = now;
		log_warnx("consul: %s: %s; retrying in %.1fs", wd->id, what,
		          (double)delay / 1000.0);
		watch_event(wd, status, what);
	} else if (now - w->down_logged >= WATCH_OUTAGE_LOG_MS) {
		w->down_logged = now;
		log_warnx("consul: unreachable for %" PRIu64 "s (%s: %s); "
		          "retrying in %.1fs",
		          (now - w->down_since) / 1000, wd->id, what,
		          (double)delay / 1000.0);
	} else {
		log_debug("consul: %s: %s; retrying in %.1fs", wd->id, what,
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
	if (now >= due)
		watch_fetch(wd);
	else
		watch_after(wd, WATCH_RATE_WAIT, due - now);
}

static uint64_t watch_backoff(struct watch_dep *wd, bool at_cap)
{
	struct watcher *w = wd->w;
	const struct retry_conf *rc = &w->cfg->consul.retry;
	uint64_t now = uv_now(w->loop), delay, due;

	/* As consul-template: after an error, try ?stale again first; if
	 * the leader was asked because a stale answer was too old, take the
	 * next such answer (marked suspect) rather than none at all. */
	if (wd->no_stale)
		wd->leader_failed = true;
	wd->no_stale = false;
	if (wd->failures < UINT32_MAX)
		wd->failures++;
	if (at_cap)
		delay = backoff_ceiling_ms(rc->backoff_ms, rc->max_backoff_ms,
		                           UINT32_MAX);
	else
		delay = backoff_delay_ms(rc->backoff_ms, rc->max_backoff_ms,
		                         wd->failures, backoff_rand(&w->rng));
	/* Retries get no burst: never sooner than one interval after the
	 * last request started. */
	due = wd->rate_tat;
	if (now + delay < due)
		delay = due - now;
	return delay;
}

/* A failure without an HTTP answer, or an answer we cannot use. */
static void watch_failed(struct watch_dep *wd, int status, const char *what)
{
	uint64_t delay = watch_backoff(wd, false);

	wd->w->kind_errors[dep_kind(wd->dep)]++;
	if (status == -EBADMSG || status == -E2BIG) {
		/* Consul answered, but with something we cannot use. */
		watch_reachable(wd);
		log_warnx("consul: %s: %s; retrying in %.1fs", wd->id, what,
		          (double)delay / 1000.0);
	} else {
		watch_unreachable(wd, status, what, delay);
	}
	watch_after(wd, WATCH_BACKOFF, delay);
}

static void watch_failed_status(struct watch_dep *wd, long status,
                                const struct http_response *resp)
{
	char body[WATCH_WHAT_MAX + 1], what[WATCH_WHAT_MAX + 128];
	uint64_t delay;

	wd->w->kind_errors[dep_kind(wd->dep)]++;
	watch_describe(body, sizeof(body), resp->body, resp->len);
	if (status >= 500 || status == 429) {
		snprintf(what, sizeof(what), "HTTP %ld%s%s", status,
		         body[0] ? ": " : "", body);
		delay = watch_backoff(wd, false);
		watch_unreachable(wd, (int)status, what, delay);
		watch_after(wd, WATCH_BACKOFF, delay);
		return;
	}
	watch_reachable(wd);
	if (status == 403) {
		snprintf(what, sizeof(what),
		         "ACL: Consul refused %s (HTTP 403: %s); check the "
		         "token and its policy",
		         wd->id, body[0] ? body : "no reason given");
		delay = watch_backoff(wd, false);
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
		delay = watch_backoff(wd, true);
		wd->reported = 400;
		log_errx("consul: %s; retrying in %.1fs", what,
		         (double)delay / 1000.0);
		watch_event(wd, 400, what);
	} else {
		snprintf(what, sizeof(what), "%s: unexpected HTTP %ld%s%s",
		         wd->id, status, body[0] ? ": " : "", body);
		delay = watch_backoff(wd, false);
		log_warnx("consul: %s; retrying in %.1fs", what,
		          (double)delay / 1000.0);
		if (wd->reported != (int)status) {
			wd->reported = (int)status;
			watch_event(wd, (int)status, what);
		}
	}
	watch_after(wd, WATCH_BACKOFF, delay);
}

static void watch_log_dropped(struct watch_dep *wd, json_t *dropped)
{
	size_t n = json_array_size(dropped);

	for (size_t i = 0; i < n && i < WATCH_DROPPED_LOG_MAX; i++) {
		const char *s = json_string_value(json_array_get(dropped, i));

		log_warnx("consul: %s: dropped %s", wd->id,
		          s != NULL ? s : "a record");
	}
	if (n > WATCH_DROPPED_LOG_MAX)
		log_warnx("consul: %s: dropped %zu more records", wd->id,
		          n - WATCH_DROPPED_LOG_MAX);
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
	watch_reachable(wd);
	if (wd->state == WATCH_STOPPED)
		return;
	if (suspect == NULL)
		wd->leader_failed = false; /* a fresh or consistent answer */
	wd->no_stale = false;
	wd->failures = 0;
	if (wd->reported != 0) {
		char what[160];

		wd->reported = 0;
		snprintf(what, sizeof(what), "%s answers again", wd->id);
		log_info("consul: %s", what);
		watch_event(wd, 0, what);
		if (wd->state == WATCH_STOPPED)
			return;
	}
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
	r = dep_decode(wd->dep, resp->status, resp->body, resp->len, &value,
	               dropped, &e);
	if (r < 0) {
		char what[sizeof(e.msg) + 64];

		json_decref(dropped);
		snprintf(what, sizeof(what), "undecodable answer: %s", e.msg);
		watch_failed(wd, -EBADMSG, what);
		return;
	}
	if (blocking)
		wd->index = idx < 1 ? 1 : idx; /* never block on index 0 */
	if (wd->last != NULL && json_equal(value, wd->last)) {
		bool moved = (wd->suspect == NULL) != (suspect == NULL);

		json_decref(value);
		json_decref(dropped);
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
	watch_log_dropped(wd, dropped);
	json_decref(dropped);
	json_decref(wd->last);
	wd->last = value;
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
	if (result == -E2BIG) {
		snprintf(what, sizeof(what), "%s", errmsg);
		watch_failed(wd, result, what);
	} else if (result < 0) {
		snprintf(what, sizeof(what), "%s (%s)", errmsg,
		         strerror(-result));
		watch_failed(wd, result, what);
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
	uint64_t wait = watch_long_wait(w), timeout;
	char *path;
	struct buf url;
	int r;

	if (block)
		watch_check_rotation(w);
	path = dep_request_path(wd->dep);
	if (path == NULL) {
		log_warnx("watch %s: no request path", wd->id);
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
		r = buf_printf(&url, "%cstale",
		               strchr(buf_str(&url), '?') ? '&' : '?');
	/* Consul may hold the answer wait + wait/16; curl must wait longer. */
	timeout = block ? wait + wait / 16 + WATCH_TIMEOUT_SLACK
	                : WATCH_NONBLOCK_TIMEOUT_MS;
	watch_rate_take(wd, uv_now(w->loop));
	if (r == 0)
		r = http_get(w->http, buf_str(&url), timeout, watch_done, wd,
		             &wd->req);
	buf_free(&url);
	if (r < 0) {
		uint64_t delay = watch_backoff(wd, false);

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
	block = dep_blocking(wd->dep) && wd->index > 0;
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
		watch_start(wd, wd->long_poll);
	}
}

static struct watch_dep *watch_find(const struct watcher *w, const char *id)
{
	for (struct watch_dep *wd = w->deps; wd != NULL; wd = wd->next)
		if (strcmp(wd->id, id) == 0)
			return wd;
	return NULL;
}

static void watch_maybe_finalize(struct watcher *w)
{
	void (*closed)(void *data);
	void *data;

	if (!w->closing || w->pending_closes > 0)
		return;
	closed = w->closed;
	data = w->closed_data;
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
	json_decref(wd->last);
	wd->last = NULL;
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
	ret->wait_ms = watch_long_wait(w);
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

void watcher_close(struct watcher *w, void (*closed)(void *data), void *data)
{
	if (w == NULL || w->closing)
		return;
	w->closing = true;
	w->closed = closed;
	w->closed_data = data;
	while (w->deps != NULL)
		watch_stop(w->deps);
	w->pending_closes++;
	http_close(w->http, watch_http_closed, w);
}

/* The token file, trimmed; the caller wipes and frees it. */
static int watch_read_token(const char *path, char **ret, struct err *e)
{
	char buf[WATCH_TOKEN_FILE_MAX + 1];
	size_t len = 0, start = 0;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, path, 0, 0,
		               "cannot read the Consul token file: %s",
		               strerror(errno));
	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_set(e, -errno, path, 0, 0,
			            "cannot read the Consul token file: %s",
			            strerror(errno));
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (r == 0 && len == sizeof(buf) - 1)
		r = err_set(e, -EFBIG, path, 0, 0,
		            "Consul token file larger than %d bytes",
		            WATCH_TOKEN_FILE_MAX);
	close(fd);
	if (r == 0) {
		while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
			len--;
		while (start < len && strchr(" \t\r\n", buf[start]) != NULL)
			start++;
		for (size_t i = start; i < len; i++)
			if ((unsigned char)buf[i] < ' ' || buf[i] == 0x7f)
				r = err_set(e, -EINVAL, path, 0, 0,
				            "Consul token file holds a control "
				            "character");
		if (r == 0 && start == len)
			r = err_set(e, -EINVAL, path, 0, 0,
			            "Consul token file is empty");
		if (r == 0)
			*ret = xstrndup(buf + start, len - start);
	}
	explicit_bzero(buf, sizeof(buf));
	return r;
}

static bool watch_token_ok(const char *t)
{
	for (; *t != '\0'; t++)
		if ((unsigned char)*t < ' ' || *t == 0x7f)
			return false;
	return true;
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
		r = watch_read_token(cc->token_file, &token, e);
	else if (r == 0 && cc->token != NULL && *cc->token != '\0') {
		if (!watch_token_ok(cc->token))
			r = err_msg(e, -EINVAL,
			            "Consul token holds a control character");
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
	log_debug("consul: %s%s%s%s", addr.url, addr.unix_path ? " via " : "",
	          addr.unix_path ? addr.unix_path : "",
	          token != NULL ? " (with a token)" : "");
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
