/* Unit tests for the retry delay (capped full jitter with a floor). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/backoff.h"

static void test_backoff_ceiling(void **state)
{
	(void)state;
	assert_int_equal(backoff_ceiling_ms(250, 60000, 0), 250);
	assert_int_equal(backoff_ceiling_ms(250, 60000, 1), 250);
	assert_int_equal(backoff_ceiling_ms(250, 60000, 2), 500);
	assert_int_equal(backoff_ceiling_ms(250, 60000, 8), 32000);
	assert_int_equal(backoff_ceiling_ms(250, 60000, 9), 60000);
	assert_int_equal(backoff_ceiling_ms(250, 60000, 4000000000u), 60000);
	assert_int_equal(backoff_ceiling_ms(50, 400, 4), 400);
	assert_int_equal(backoff_ceiling_ms(0, 0, 5), 1);
	assert_int_equal(backoff_ceiling_ms(500, 100, 5), 500); /* cap < base */
	assert_int_equal(backoff_ceiling_ms(UINT64_MAX / 2 + 1, UINT64_MAX, 3),
	                 UINT64_MAX);
}

/*
 * consul-template's RetryFunc sleeps base * 2^retry, or max_backoff once
 * retry > log2(max/base); 12 retries by default, then it gives up.
 */
static uint64_t consul_template_sleeps(double base, double max, int attempts)
{
	double sum = 0;
	int till = (int)floor(log2(max / base));

	for (int retry = 0; retry < attempts; retry++)
		sum += retry > till ? max : pow(2, retry) * base;
	return (uint64_t)(sum + 0.5);
}

static void test_backoff_budget(void **state)
{
	static const uint64_t bases[] = {1, 50, 250, 300, 1000};
	static const uint64_t caps[] = {1, 200, 1000, 60000, 600000};

	(void)state;
	/* The defaults: 5 min 3.75 s, as consul-template waits. */
	assert_int_equal(backoff_budget_ms(250, 60000, 12), 303750);
	assert_int_equal(backoff_budget_ms(250, 60000, 0), 0);
	assert_int_equal(backoff_budget_ms(250, 60000, 1), 250);
	assert_int_equal(backoff_budget_ms(50, 200, 3), 50 + 100 + 200);
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++)
		for (size_t j = 0; j < sizeof(caps) / sizeof(caps[0]); j++)
			for (int a = 0; a < 40; a++) {
				if (caps[j] < bases[i])
					continue;
				assert_int_equal(
				        backoff_budget_ms(bases[i], caps[j],
				                          (unsigned)a),
				        consul_template_sleeps((double)bases[i],
				                               (double)caps[j],
				                               a));
			}
	/* A million attempts at the cap, and saturation. */
	assert_int_equal(backoff_budget_ms(1000, 1000, 1000000), 1000000000);
	assert_int_equal(backoff_budget_ms(UINT64_MAX / 4, UINT64_MAX, 8),
	                 UINT64_MAX);
	assert_int_equal(backoff_budget_ms(1u << 30, 1u << 30, 4000000000u),
	                 (uint64_t)4000000000u << 30);
	assert_int_equal(
	        backoff_budget_ms(UINT64_MAX / 2, UINT64_MAX / 2, 4000000000u),
	        UINT64_MAX);
}

static void test_backoff_bounds(void **state)
{
	uint64_t seed = 42;

	(void)state;
	for (unsigned f = 1; f < 20; f++) {
		uint64_t lo = UINT64_MAX, hi = 0, ceil;

		ceil = backoff_ceiling_ms(50, 400, f);
		for (int i = 0; i < 2000; i++) {
			uint64_t d = backoff_delay_ms(50, 400, f,
			                              backoff_rand(&seed));

			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		assert_true(lo >= 50);
		assert_true(hi <= ceil);
		/* Full jitter: the whole window is used. */
		assert_true(lo < 50 + (ceil - 50) / 10 + 1);
		assert_true(hi + (ceil - 50) / 10 + 1 > ceil);
	}
	/* Extremes of rnd stay in the window. */
	assert_int_equal(backoff_delay_ms(100, 1000, 30, 0), 100);
	assert_int_equal(backoff_delay_ms(100, 1000, 30, 900), 1000);
	assert_int_equal(backoff_delay_ms(100, 1000, 30, UINT64_MAX),
	                 100 + UINT64_MAX % 901);
	assert_int_equal(backoff_delay_ms(0, UINT64_MAX, 70, 7), 8);
}

static void test_backoff_mean_grows(void **state)
{
	uint64_t seed = 7, prev = 0;

	(void)state;
	for (unsigned f = 1; f <= 9; f++) {
		uint64_t sum = 0;

		for (int i = 0; i < 4000; i++)
			sum += backoff_delay_ms(250, 60000, f,
			                        backoff_rand(&seed));
		if (f > 1)
			assert_true(sum / 4000 > prev);
		prev = sum / 4000;
	}
	/* At the cap the mean is about (base + cap) / 2. */
	assert_true(prev > 28000 && prev < 32500);
}

static void test_backoff_jitter(void **state)
{
	uint64_t seed = 1;
	int seen[21] = {0};

	(void)state;
	for (int i = 0; i < 5000; i++) {
		uint64_t j = backoff_jitter(&seed, 100, 120);

		assert_true(j >= 100 && j <= 120);
		seen[j - 100]++;
	}
	for (int i = 0; i <= 20; i++)
		assert_true(seen[i] > 0);
	assert_int_equal(backoff_jitter(&seed, 5, 5), 5);
	assert_int_equal(backoff_jitter(&seed, 9, 3), 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_backoff_ceiling),
	        cmocka_unit_test(test_backoff_budget),
	        cmocka_unit_test(test_backoff_bounds),
	        cmocka_unit_test(test_backoff_mean_grows),
	        cmocka_unit_test(test_backoff_jitter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
