#include "base/duration.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct duration_unit {
	const char *name;
	uint64_t ns;
};

/* Longest names first so "ms" is not read as "m" followed by "s". */
static const struct duration_unit duration_units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
        {"ms", 1000000},
        {"s", UINT64_C(1000000000)},
        {"m", UINT64_C(60000000000)},
        {"h", UINT64_C(3600000000000)},
};

static const struct duration_unit *duration_unit_match(const char *s,
                                                       size_t *ret_len)
{
	const struct duration_unit *best = NULL;
	size_t bestlen = 0;

	for (size_t i = 0; i < sizeof(duration_units) / sizeof(*duration_units);
	     i++) {
		size_t n = strlen(duration_units[i].name);

		if (n > bestlen && strncmp(s, duration_units[i].name, n) == 0) {
			best = &duration_units[i];
			bestlen = n;
		}
	}
	*ret_len = bestlen;
	return best;
}

int duration_parse(const char *s, uint64_t *ret_ms)
{
	const uint64_t max_ns = DURATION_MAX_MS * 1000000;
	uint64_t total = 0;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	if (*s == '+')
		s++;
	if (strcmp(s, "0") == 0) {
		*ret_ms = 0;
		return 0;
	}
	if (*s == '\0')
		return -EINVAL;
	while (*s != '\0') {
		uint64_t whole = 0, frac = 0, scale = 1, part;
		bool digits = false;
		const struct duration_unit *u;
		size_t ulen;

		while (*s >= '0' && *s <= '9') {
			if (whole > max_ns / 10)
				return -ERANGE;
			whole = whole * 10 + (uint64_t)(*s++ - '0');
			digits = true;
		}
		if (*s == '.') {
			s++;
			while (*s >= '0' && *s <= '9') {
				/* Digits past nanosecond precision of an hour
				 * do not matter; stop scaling before overflow.
				 */
				if (scale < UINT64_C(1000000000000000)) {
					frac = frac * 10 + (uint64_t)(*s - '0');
					scale *= 10;
				}
				s++;
				digits = true;
			}
		}
		if (!digits)
			return -EINVAL;
		u = duration_unit_match(s, &ulen);
		if (u == NULL)
			return -EINVAL;
		s += ulen;
		if (whole > max_ns / u->ns)
			return -ERANGE;
		part = whole * u->ns;
		/* frac < scale <= 1e15 and u->ns <= 3.6e12: split to avoid
		 * overflow (frac * ns / scale). */
		part += (uint64_t)((double)frac * (double)u->ns /
		                   (double)scale);
		if (part > max_ns - total)
			return -ERANGE;
		total += part;
	}
	if (total > max_ns)
		return -ERANGE;
	*ret_ms = total / 1000000 + (total % 1000000 != 0 ? 1 : 0);
	return 0;
}

/* Append "<v>[.<frac>]<unit>" where frac has at most `prec` digits. */
static size_t duration_put_frac(char *p, size_t size, uint64_t v, uint64_t rem,
                                unsigned prec, const char *unit)
{
	char frac[8];
	size_t n = 0;
	int len;

	if (rem != 0) {
		len = snprintf(frac, sizeof(frac), "%0*llu", (int)prec,
		               (unsigned long long)rem);
		while (len > 0 && frac[len - 1] == '0')
			frac[--len] = '\0';
		n = (size_t)snprintf(p, size, "%llu.%s%s",
		                     (unsigned long long)v, frac, unit);
	} else {
		n = (size_t)snprintf(p, size, "%llu%s", (unsigned long long)v,
		                     unit);
	}
	return n;
}

const char *duration_format(uint64_t ms, char *buf, size_t size)
{
	uint64_t h, m, s;
	size_t n;

	if (size == 0)
		return buf;
	if (ms == 0) {
		snprintf(buf, size, "0s");
		return buf;
	}
	if (ms < 1000) {
		snprintf(buf, size, "%llums", (unsigned long long)ms);
		return buf;
	}
	h = ms / 3600000;
	m = ms / 60000 % 60;
	s = ms / 1000 % 60;
	buf[0] = '\0';
	n = 0;
	if (h > 0)
		n += (size_t)snprintf(buf, size, "%lluh",
		                      (unsigned long long)h);
	if (n < size && (h > 0 || m > 0))
		n += (size_t)snprintf(buf + n, size - n, "%llum",
		                      (unsigned long long)m);
	if (n < size)
		duration_put_frac(buf + n, size - n, s, ms % 1000, 3, "s");
	return buf;
}

int go_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"1",    "t",    "T",
	                                  "TRUE", "true", "True"};
	static const char *const no[] = {"0",     "f",     "F",
	                                 "FALSE", "false", "False"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

int64_t wall_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
