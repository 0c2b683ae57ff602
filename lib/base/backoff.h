/*
 * Retry delays and the jitter behind them.
 *
 * backoff_delay_ms() is "full jitter" (AWS architecture blog, "Exponential
 * Backoff and Jitter") with a floor: the n-th retry after consecutive
 * failures waits a uniformly random time in [base, min(cap, base * 2^(n-1))],
 * so the ceiling doubles per failure until it reaches the cap, and a fleet
 * of nodes that lost Consul at the same moment spreads its retries over the
 * whole window instead of arriving in waves. The floor keeps a retry from
 * ever being immediate. The caller keeps the failure count (reset on
 * success) and supplies the randomness, which keeps this testable.
 *
 * backoff_budget_ms() is how long a run of retries waits at most: the
 * sum of their ceilings. consul-template sleeps exactly those ceilings
 * (config/retry.go: backoff doubling per retry up to max_backoff, 12
 * retries by default: 5 min 3.75 s) before it gives up, so this is how
 * long `-once` keeps asking before it gives up the same way.
 *
 * backoff_rand() is splitmix64, the project's only one: fast, good enough
 * for jitter and for order's fallback when getrandom() fails, not for
 * anything secret.
 *
 * Who uses which policy (the only retry delays in the tree):
 * - watch.c, a dep's retry after a failed request: backoff_delay_ms over
 *   consul.retry's backoff .. max_backoff (full jitter); with -once the
 *   retries stop when backoff_budget_ms has passed, and a dep already at
 *   the cap waits backoff_ceiling_ms.
 * - watch.c, the outage probe (/v1/status/leader): backoff_delay_ms over
 *   backoff .. min(max_backoff, WATCH_PROBE_MAX_MS: 10 s).
 * - runner.c, a failed publish tried again: backoff_ceiling_ms, 1 s
 *   doubling to 60 s, no jitter (one node's own file, no herd).
 * - publish.c, the command (dnsmasq reload) run again after it failed:
 *   backoff_ceiling_ms, 1 s doubling to 5 min, no jitter.
 * Jitter without a backoff: watch.c's rate limit and poll spread
 * (backoff_jitter), order.c's fallback generator (backoff_rand).
 *
 * Pure module: no I/O, no logging.
 */
#ifndef CH_BACKOFF_H
#define CH_BACKOFF_H

#include <stdint.h>

/*
 * Delay before retry number failures (1 = the first retry after one
 * failure; 0 is treated as 1). base 0 counts as 1 ms; cap below base
 * counts as base. rnd is any 64-bit random value.
 */
uint64_t backoff_delay_ms(uint64_t base_ms, uint64_t cap_ms, unsigned failures,
                          uint64_t rnd);
/* The ceiling of that window: min(cap, base * 2^(failures-1)). */
uint64_t backoff_ceiling_ms(uint64_t base_ms, uint64_t cap_ms,
                            unsigned failures);
/*
 * The sum of the ceilings of retries 1..attempts (0 for none); saturates
 * at UINT64_MAX.
 */
uint64_t backoff_budget_ms(uint64_t base_ms, uint64_t cap_ms,
                           unsigned attempts);
/* Next value of the generator whose state is *state (any seed works). */
uint64_t backoff_rand(uint64_t *state);
/* A value in [lo, hi] from *state. */
uint64_t backoff_jitter(uint64_t *state, uint64_t lo, uint64_t hi);

#endif
