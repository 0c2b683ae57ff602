/*
 * Go-style durations ("1m30s", "250ms", "5s", "1.5h", bare "0"), the
 * spelling consul-template's configs and flags use.
 *
 * Values are whole milliseconds: a non-zero duration below 1ms rounds up
 * to 1ms so "500us" never silently means "off". Negative durations,
 * missing units (other than "0") and values above DURATION_MAX_MS are
 * rejected. Pure module: no allocation, no logging. wall_clock_ms() is
 * the one reader of the wall clock in milliseconds.
 */
#ifndef CH_DURATION_H
#define CH_DURATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* About 10 years; bigger values are certainly typos. */
#define DURATION_MAX_MS (UINT64_C(10) * 366 * 24 * 3600 * 1000)

/* Parse s; 0 and *ret_ms set, or -EINVAL (-ERANGE above the limit). */
int duration_parse(const char *s, uint64_t *ret_ms);

/*
 * Format ms as Go prints a time.Duration: "0s", "250ms", "1m30s",
 * "1h0m0s", "1.5s". Returns buf; 24 bytes are always enough.
 */
const char *duration_format(uint64_t ms, char *buf, size_t size);

/*
 * Go's strconv.ParseBool: 1 t T TRUE true True, 0 f F FALSE false False;
 * 0 and *ret set, or -EINVAL. The spelling of booleans in consul-template's
 * environment and its parseBool function.
 */
int go_parse_bool(const char *s, bool *ret);

/* The wall clock (CLOCK_REALTIME) in Unix milliseconds. */
int64_t wall_clock_ms(void);

#endif
