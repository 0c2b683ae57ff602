/*
 * order_spread: spread tables and timing for lib/order.c (not built by
 * default). From the repo root, after building build-order:
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Ilib tests/bench/order_spread.c \
 *       build-order/libchosts.a -ljansson -lm -o /tmp/order_spread &&
 *       /tmp/order_spread
 *
 * Prints, per mode and fleet size N with M instances: first-choice
 * max/mean and max - min, and the share of nodes whose first choice moves
 * when one instance is removed (ideal 1/M). Then the cost of ordering 10k
 * instances spread over 500 services (20 each) once, as a render does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "order.h"

static json_t *service(int m, int skip)
{
	json_t *list = json_array();
	char node[32];

	for (int i = 0; i < m; i++) {
		if (i == skip)
			continue;
		snprintf(node, sizeof(node), "web-%02d", i + 1);
		json_array_append_new(
		        list, json_pack("{s:s, s:s, s:s, s:{s:i, s:i}}", "Node",
		                        node, "ID", "web", "Status", "passing",
		                        "Weights", "Passing", 1, "Warning", 1));
	}
	return list;
}

/* first[k]: the number (1-based) of node k's first choice. */
static void firsts(enum order_mode mode, json_t *list, json_t *nodes,
                   int *first)
{
	size_t k;
	json_t *name;

	json_array_foreach(nodes, k, name)
	{
		struct order *o = order_new(mode, json_string_value(name));
		json_t *copy = json_deep_copy(list);

		order_set_fleet(o, nodes);
		order_apply(o, "web", copy);
		first[k] = atoi(json_string_value(json_object_get(
		                        json_array_get(copy, 0), "Node")) +
		                4);
		json_decref(copy);
		order_free(o);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void spread(enum order_mode mode, int n, int m)
{
	json_t *nodes = json_array(), *all = service(m, -1);
	json_t *fewer = service(m, m / 2);
	int *a = calloc((size_t)n, sizeof(*a)),
	    *b = calloc((size_t)n, sizeof(*b));
	int count[64] = {0}, max = 0, min = n, moved = 0;
	char name[32];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "node-%04d", i + 1);
		json_array_append_new(nodes, json_string(name));
	}
	firsts(mode, all, nodes, a);
	firsts(mode, fewer, nodes, b);
	for (int k = 0; k < n; k++) {
		count[a[k]]++;
		moved += a[k] != b[k];
	}
	for (int i = 1; i <= m; i++) {
		max = count[i] > max ? count[i] : max;
		min = count[i] < min ? count[i] : min;
	}
	printf("%-9s %5d %3d  %8.2f  %7d  %6.3f  %6.3f\n",
	       order_mode_name(mode), n, m, (double)max * m / n, max - min,
	       (double)moved / n, 1.0 / m);
	free(a);
	free(b);
	json_decref(nodes);
	json_decref(all);
	json_decref(fewer);
}

int main(void)
{
	const int fleets[][2] = {{20, 4}, {60, 3}, {100, 5}, {1000, 10}};
	const enum order_mode modes[] = {ORDER_STABLE, ORDER_WEIGHTED,
	                                 ORDER_BALANCED};
	json_t *lists[500];
	struct order *o = order_new(ORDER_STABLE, "node-0042");
	double t0, best = 1e9, cold = 0;
	char key[32];

	printf("mode          N   M  max/mean  max-min  churn   ideal\n");
	for (size_t f = 0; f < sizeof(fleets) / sizeof(fleets[0]); f++)
		for (size_t i = 0; i < 3; i++)
			spread(modes[i], fleets[f][0], fleets[f][1]);

	for (int s = 0; s < 500; s++)
		lists[s] = service(20, -1);
	for (int round = 0; round < 20; round++) {
		t0 = now();
		for (int s = 0; s < 500; s++) {
			snprintf(key, sizeof(key), "svc-%03d", s);
			order_apply(o, key, lists[s]);
		}
		if (round == 0)
			cold = now() - t0;
		else if (now() - t0 < best)
			best = now() - t0;
	}
	printf("\nstable: 10000 instances in 500 services: first call "
	       "%.3f ms (hashing), later calls %.3f ms (memo, best of 19)\n",
	       cold * 1e3, best * 1e3);
	for (int s = 0; s < 500; s++)
		json_decref(lists[s]);
	order_free(o);
	return 0;
}
