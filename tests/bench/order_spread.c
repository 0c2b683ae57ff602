/*
 * order_spread: spread tables and timing for the per-node order of each
 * name's lines (order_lines, lib/order.c). Built with the tree
 * (tests/bench/CMakeLists.txt); run by tests/bench/run.sh.
 *
 * Prints, per mode and fleet size N with M addresses for one name:
 * first-choice max/mean and max - min, and the share of nodes whose first
 * choice moves when one address is removed (ideal 1/M). Then the cost of
 * ordering a 10k-line render (500 names of 20 addresses) once, as a
 * publish does, first with a cold memo and then warm.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "hosts/hosts.h"
#include "order/order.h"

/* m lines "10.0.0.i web.service.consul", address skip left out. */
static void render(int m, int skip, struct hosts_doc *d)
{
	char line[64];
	struct buf text;

	buf_init(&text, 0);
	for (int i = 0; i < m; i++) {
		if (i == skip)
			continue;
		snprintf(line, sizeof(line), "10.0.0.%d web.service.consul\n",
		         i + 1);
		buf_puts(&text, line);
	}
	hosts_doc_init(d, 0);
	if (hosts_doc_check(d, buf_str(&text), text.len, false, NULL) < 0)
		abort();
	buf_free(&text);
}

/* first[k]: the address (last octet) node k writes first. */
static void firsts(enum order_mode mode, int m, int skip, json_t *nodes,
                   int *first)
{
	size_t k;
	json_t *name;

	json_array_foreach(nodes, k, name)
	{
		struct order *o = order_new(mode, json_string_value(name));
		struct hosts_doc d;

		render(m, skip, &d);
		order_set_fleet(o, nodes);
		if (order_lines(o, &d, NULL, 0) < 0)
			abort();
		/* "10.0.0.X web...": the first line's last octet. */
		first[k] = atoi(d.text.data + strlen("10.0.0."));
		hosts_doc_free(&d);
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
	json_t *nodes = json_array();
	int *a = calloc((size_t)n, sizeof(*a)),
	    *b = calloc((size_t)n, sizeof(*b));
	int count[64] = {0}, max = 0, min = n, moved = 0;
	char name[32];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "node-%04d", i + 1);
		json_array_append_new(nodes, json_string(name));
	}
	firsts(mode, m, -1, nodes, a);
	firsts(mode, m, m / 2, nodes, b);
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
}

int main(void)
{
	const int fleets[][2] = {{20, 4}, {60, 3}, {100, 5}, {1000, 10}};
	const enum order_mode modes[] = {ORDER_STABLE, ORDER_WEIGHTED,
	                                 ORDER_BALANCED};
	struct order *o = order_new(ORDER_STABLE, "node-0042");
	double t0, t, best = 1e9, cold = 0;
	struct buf text;
	char line[96];

	printf("mode          N   M  max/mean  max-min  churn   ideal\n");
	for (size_t f = 0; f < sizeof(fleets) / sizeof(fleets[0]); f++)
		for (size_t i = 0; i < 3; i++)
			spread(modes[i], fleets[f][0], fleets[f][1]);

	buf_init(&text, 0);
	for (int s = 0; s < 500; s++)
		for (int i = 0; i < 20; i++) {
			snprintf(line, sizeof(line),
			         "10.%d.%d.%d svc-%03d.service.consul\n",
			         s / 250, s % 250, i + 1, s);
			buf_puts(&text, line);
		}
	for (int round = 0; round < 20; round++) {
		struct hosts_doc d;

		hosts_doc_init(&d, 0);
		if (hosts_doc_check(&d, buf_str(&text), text.len, false, NULL) <
		    0)
			abort();
		t0 = now();
		if (order_lines(o, &d, NULL, 0) < 0)
			abort();
		t = now() - t0;
		hosts_doc_free(&d);
		if (round == 0)
			cold = t;
		else if (t < best)
			best = t;
	}
	printf("\nstable: a 10000-line render, 500 names of 20 addresses: "
	       "first order %.3f ms (hashing), later %.3f ms (memo, best of "
	       "19)\n",
	       cold * 1e3, best * 1e3);
	buf_free(&text);
	order_free(o);
	return 0;
}
