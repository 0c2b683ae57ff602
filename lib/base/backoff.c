#include "base/backoff.h"

static uint64_t backoff_base(uint64_t base_ms)
{
	return base_ms == 0 ? 1 : base_ms;
}

uint64_t backoff_ceiling_ms(uint64_t base_ms, uint64_t cap_ms,
                            unsigned failures)
{
	uint64_t base = backoff_base(base_ms);
	uint64_t cap = cap_ms < base ? base : cap_ms;
	uint64_t ceil = base;

	for (unsigned i = 1; i < failures && ceil < cap; i++) {
		if (ceil > cap / 2) {
			ceil = cap;
			break;
		}
		ceil *= 2;
	}
	return ceil < cap ? ceil : cap;
}

uint64_t backoff_delay_ms(uint64_t base_ms, uint64_t cap_ms, unsigned failures,
                          uint64_t rnd)
{
	uint64_t base = backoff_base(base_ms);
	uint64_t ceil = backoff_ceiling_ms(base_ms, cap_ms, failures);
	uint64_t span = ceil - base;

	if (span == UINT64_MAX)
		return base + rnd;
	return base + rnd % (span + 1);
}

uint64_t backoff_budget_ms(uint64_t base_ms, uint64_t cap_ms, unsigned attempts)
{
	uint64_t cap = backoff_ceiling_ms(base_ms, cap_ms, UINT32_MAX);
	uint64_t sum = 0, c = 0;
	unsigned n;

	/* Doubling: at most 64 steps before the cap. */
	for (n = 1; n <= attempts && c < cap; n++) {
		c = backoff_ceiling_ms(base_ms, cap_ms, n);
		if (c > UINT64_MAX - sum)
			return UINT64_MAX;
		sum += c;
	}
	/* The rest wait the cap each. */
	if (n <= attempts) {
		uint64_t rest = (uint64_t)attempts - n + 1;

		if (cap > (UINT64_MAX - sum) / rest)
			return UINT64_MAX;
		sum += rest * cap;
	}
	return sum;
}

uint64_t backoff_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t backoff_jitter(uint64_t *state, uint64_t lo, uint64_t hi)
{
	uint64_t r = backoff_rand(state);

	if (hi <= lo)
		return lo;
	if (hi - lo == UINT64_MAX)
		return r;
	return lo + r % (hi - lo + 1);
}
