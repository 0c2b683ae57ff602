/*
 * The watch set: one Consul blocking query per dependency, on one uv loop.
 *
 * struct watcher owns the HTTP transport (http.h, built from the config's
 * consul block by watcher_new) and one state machine per dependency, keyed
 * by dep_id(). Each runs, like consul-template's view:
 *
 *	IDLE -> FETCHING -> (data) -> RATE_WAIT or FETCHING -> ...
 *	                 -> (error) -> BACKOFF -> FETCHING
 *	                 -> (no answer) -> PARKED -> (probe answered)
 *	                                   BACKOFF -> FETCHING
 *	(to FETCHING) -> QUEUED -> FETCHING, when no connection is free
 *	(to FETCHING) -> PARKED, while the outage probe runs
 *	any failure -> GAVE_UP, with -once only (below)
 *	any -> STOPPED (watcher_remove, watcher_close)
 *
 * - At most watch_max_connections (HTTP_MAX_CONNECTIONS) requests are in
 *   flight, so curl never queues one (its timeout would run while it
 *   waits). Long polls (index > 0) use at most 90 % of them; the rest is
 *   kept for requests that answer at once (first fetches, non-blocking
 *   deps), so a first fetch never waits behind long polls. Requests
 *   beyond that wait in FIFO order in the watcher (QUEUED: no timer, no
 *   curl handle) and start as slots free.
 * - Blocking deps send index=<last X-Consul-Index>&wait=<wait>ms once
 *   they have an index (never below 1), and ?stale when max_stale > 0,
 *   with ?cached where the agent caches the query (dep_cached(): the
 *   service list and health). The agent then keeps one query to the
 *   servers per entry (a streaming view for health, when it streams),
 *   answers every expiry itself, and its query's own 10 min expiry costs
 *   the servers no body. An answer whose X-Consul-LastContact is above
 *   max_stale is dropped and asked again once of the leader (without
 *   ?stale and ?cached). An index that went backwards resets to 0 (the
 *   next query returns at once); the same index is no change; decoded
 *   data equal to the last is no change (records compared field by
 *   field: json_equal() cannot see their NUL-named mark, trecord.h).
 * - The wait: block_query_wait (60 s by default) for cached queries;
 *   WATCH_UNCACHED_WAIT_MS (10 min, Consul's max_query_time) for the
 *   others (node list, node, KV) unless block_query_wait is set (then it
 *   applies to all), since each of their expiries makes the servers send
 *   the whole unchanged answer again. A change answers either at once;
 *   what a longer wait delays is only noticing a connection that died
 *   without a FIN or RST (TCP keepalive, 30 s + 9 x 15 s, finds it).
 * - With more blocking deps than long-poll slots the long polls take
 *   turns: each waits max(1 s, block_query_wait * slots / deps), so a
 *   rotation takes about block_query_wait, and a change is seen within
 *   about that (the next query with the old index answers at once). The
 *   uncached deps keep their long wait (and a slot each) while they are
 *   at most half the slots; the others share the slots left. Entering
 *   and leaving that mode is logged once each.
 * - node_join_settle (default 0: off): after an answer that only added
 *   nodes to the node list, it is not asked again before that much time
 *   has passed, so a burst of joins costs one more fetch of the whole
 *   list, not one per join. Consul's node list cannot tell additions
 *   from removals before it is fetched, so a removal or an address
 *   change made in that window waits for it too (at most 5 s).
 * - Rate limit per dep (a cell rate algorithm): after a quiet spell up to
 *   WATCH_RATE_BURST fetches start at once, so the second write of a
 *   failover (deregister, then register) is seen as fast as the first;
 *   beyond that, fetches are 100 ms + 0-20 ms jitter apart, so a churning
 *   key degrades into about 8 queries per second.
 * - Suspect answers: Consul marks some answers as possibly not the
 *   cluster's current state. An answer is suspect when it says
 *   X-Consul-KnownLeader: false; when it is the first answer after the
 *   index went backwards (a snapshot restore, a new leader with older
 *   state); or when it is a stale answer older than max_stale and the
 *   leader could not be asked instead. The watcher decides what is
 *   suspect and says why; the publisher decides what to hold (publish.h).
 *   A dep's data stays suspect until a healthy answer confirms it: new
 *   data, the same data, or the same index after a wait.
 * - Non-blocking deps (dep_blocking() false, e.g. datacenters, agent/self)
 *   are fetched once, then again every WATCH_POLL_MS +- 10 % jitter; that
 *   timer is the only one that fires while Consul is quiet.
 * - Errors back off with capped full jitter from retry.backoff_ms to
 *   retry.max_backoff_ms (backoff.h), per dependency: 5xx, 429, 404
 *   outside KV, and answers that Consul sent but we cannot use (a body
 *   that does not decode, as a proxy's HTML page with status 200; one
 *   over max_response_size). A failure counts until an answer decodes.
 *   A 400 is a bug in us: on_event every time, retried at the cap. A 403
 *   (ACL), an undecodable or oversized answer, or another status is
 *   reported once per change of state, and "answers again" when it ends.
 * - Outages: a request that gets no answer at all (connection refused or
 *   reset, timeout, TLS failure) parks its dependency instead of
 *   retrying it, and the watcher probes WATCH_PROBE_PATH alone, with
 *   capped full jitter from retry.backoff_ms to min(max_backoff,
 *   WATCH_PROBE_MAX_MS); every fetch parks while it runs. So an outage
 *   costs one request per backoff period whatever the number of
 *   dependencies, and a dead agent is found back within 10 s.
 *   /v1/status/leader needs no ACL (a restrictive token works), cannot
 *   block, answers even with no leader ("", status 200), and its answer
 *   is a few bytes; /v1/agent/self would need agent:read. An answer to a
 *   request that started before the outage makes the probe run at once;
 *   only the probe's answer ends the outage. Then the parked
 *   dependencies resume at random moments within
 *   min(WATCH_RESUME_WINDOW_MS, WATCH_RESUME_PER_DEP_MS each), so neither
 *   the agent nor, with the probe's jitter, a fleet's servers get every
 *   request at the same moment. While rotating, each first asks once
 *   without blocking: a long poll with its old index could wait a whole
 *   rotation for a slot, and a change made during the outage with it.
 * - Giving up: the daemon never does (it keeps the last good file). With
 *   cfg->once, a dependency that has had no usable answer for as long as
 *   consul-template's retries take (backoff_budget_ms over
 *   retry.attempts: 5 min 3.75 s with the defaults; attempts 0: never),
 *   or at its first failure with retry.enabled false, is given up:
 *   on_event(WATCH_GAVE_UP) with a message, and it is asked nothing more.
 *   Retry delays then never run past that budget.
 * - Memory: after an answer of WATCH_TRIM_BYTES or more (or the
 *   replacement of one), malloc_trim(0) runs on the next loop turn, after
 *   the render pass it started (glibc otherwise keeps the freed heap), at
 *   most once every 5 s: later large answers share one trim then.
 * - Records the decoder drops (dep_decode_names: hostile records, and
 *   names reserved by the loopback list, cfg->reserved_names, and this
 *   node's hostname and short name unless at one of its own addresses)
 *   are logged when they start being dropped, not at every change.
 * - At start, a token sent in clear text (http://, not loopback) is
 *   warned about.
 * - The request timeout is wait * 17/16 + 5 s; there is no low-speed limit.
 *
 * Callbacks, always from the loop, never from inside a watcher_* call:
 *   on_data(data, d, value, suspect): d's decoded data changed (the first
 *     answer is a change), or the same data became suspect or was
 *     confirmed. "Changed?" is decided here and only here, by comparing
 *     records (trec_value_equal); when only the suspicion moved, value is
 *     the very pointer given before, so store_put (store.h) knows by
 *     identity and compares nothing. suspect is NULL for data a healthy answer
 *carried or confirmed, else why it is suspect (a static string). value is
 *     borrowed: json_incref it to keep it. d is the watcher's copy
 *     (borrowed, valid during the callback).
 *   on_event(data, d, status, what): may be NULL. status is the HTTP status
 *     (403, 400, 429, 5xx, another 4xx), a negative errno for transport
 *     errors (what says which), -EBADMSG for an answer that does not
 *     decode, -E2BIG for one over max_response_size, 0 when Consul is
 *     reachable again after an outage or a dependency answers again, and
 *     WATCH_GAVE_UP when -once gives up on d. Fired when reachability
 *     changes (first failure of an outage, and recovery) and as described
 *     above; never with the token. d is NULL when the outage probe, not a
 *     dependency, saw the change.
 * Either callback may call watcher_add/remove, and watcher_close.
 *
 * While Consul is unreachable the watcher logs (log_warnx) how long it has
 * been away, at most every WATCH_OUTAGE_LOG_MS, and logs the recovery with
 * the outage's length. State transitions are logged at trace level.
 */
#ifndef CH_WATCH_H
#define CH_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "config/config.h"
#include "consul/deps.h"
#include "base/err.h"

#define WATCH_RATE_MS           100    /* min gap between fetches of a dep */
#define WATCH_RATE_JITTER_MS    20     /* plus 0..this */
#define WATCH_RATE_BURST        3      /* fetches at once after a quiet spell */
#define WATCH_POLL_MS           60000  /* re-poll of non-blocking deps */
#define WATCH_UNCACHED_WAIT_MS  600000 /* long poll of uncached deps */
#define WATCH_TIMEOUT_SLACK     5000   /* added to wait * 17/16 */
#define WATCH_OUTAGE_LOG_MS     30000  /* "unreachable for ..." this often */
#define WATCH_PROBE_PATH        "/v1/status/leader" /* the outage probe */
#define WATCH_PROBE_MAX_MS      10000 /* longest gap between probes */
#define WATCH_RESUME_WINDOW_MS  1000  /* parked deps resume within this */
#define WATCH_RESUME_PER_DEP_MS 5     /* ... or this per dep, if less */
#define WATCH_GAVE_UP           1     /* on_event status: -once gave up */

/*
 * Requests in flight at once, and connections to the agent:
 * HTTP_MAX_CONNECTIONS. Read by watcher_new(); only tests lower it.
 */
extern unsigned watch_max_connections;
/* The rate-limit interval, WATCH_RATE_MS; only tests change it. */
extern unsigned watch_rate_ms;

struct watcher;

typedef void (*watcher_data_cb)(void *data, const struct dep *d, json_t *value,
                                const char *suspect);
typedef void (*watcher_event_cb)(void *data, const struct dep *d, int status,
                                 const char *what);

/* Room for every enum dep_kind, the index of the per-endpoint counters. */
#define WATCH_KINDS 16

struct watcher_stats {
	uint64_t requests;        /* HTTP requests started */
	uint64_t timer_fires;     /* curl timeout + watch timers fired */
	uint64_t changes;         /* on_data calls */
	unsigned deps;            /* dependencies watched */
	uint64_t connects;        /* connections opened */
	unsigned sockets;         /* connections in use (polled) */
	unsigned in_flight;       /* requests started and not answered */
	unsigned max_in_flight;   /* the most at once, ever */
	unsigned queued;          /* requests waiting for a free slot */
	unsigned max_connections; /* the cap on in_flight */
	unsigned long_slots;      /* of which long polls may use */
	uint64_t wait_ms;         /* the wait a long poll would ask now */
	/* Per endpoint (indexed by enum dep_kind): requests started, and
	 * failures (transport errors, 5xx/429/4xx, undecodable answers). */
	uint64_t kind_requests[WATCH_KINDS];
	uint64_t kind_errors[WATCH_KINDS];
	bool reachable;   /* false while Consul is unreachable */
	uint64_t down_ms; /* how long it has been unreachable; 0 if it is not */
	unsigned refused; /* deps whose last answer was a 4xx (ACL, ...) */
};

/*
 * cfg is borrowed for the watcher's life. Reads cfg->consul.token_file
 * when no token is set, by config's rule (config_read_token_file). Errors name
 * what is wrong with the address, the token file or TLS settings.
 */
int watcher_new(uv_loop_t *loop, const struct config *cfg,
                watcher_data_cb on_data, watcher_event_cb on_event, void *data,
                struct watcher **ret, struct err *e);
/* Copies d; no-op if its dep_id is watched; the first fetch starts now
 * (or parks, while the outage probe runs). */
int watcher_add(struct watcher *w, const struct dep *d);
/* Stops and forgets a dependency (an in-flight request is cancelled). */
void watcher_remove(struct watcher *w, const char *dep_id);
bool watcher_has(const struct watcher *w, const char *dep_id);
void watcher_get_stats(const struct watcher *w, struct watcher_stats *ret);
/*
 * Async: stops every dependency, closes every handle; closed(data) fires
 * after the last close callback, and then the memory is gone. No on_data
 * or on_event after this call.
 */
void watcher_close(struct watcher *w, void (*closed)(void *data), void *data);

#endif
