/*
 * Unit tests for per-node ordering: each name's lines in a checked hosts
 * text (order_lines, order_explain_lines), and lists for shuffle
 * (order_apply).
 *
 * The line tests render a service's instances as lines "ADDRESS name", an
 * address per instance (kept for the whole run, so removing an instance
 * keeps the others' addresses), and read the order back from the lines.
 *
 * Spread bounds: a node's first choice in stable mode is uniform over the M
 * instances and independent across nodes, so an instance's first-choice
 * count over N nodes is Binomial(N, 1/M) (Binomial(N, w/sum w) in weighted
 * mode). We assert |count - N p| <= 4 sqrt(N p (1 - p)) + 1, a 4-sigma
 * bound (a chance below 1e-4 per count for a random data set; the data
 * here are fixed, so the test is deterministic). The spread the README
 * quotes, 60 nodes and 3 instances, is checked with [12, 28]: 20 +- 2.2
 * sigma.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "hosts/hosts.h"
#include "consul/deps.h"
#include "order/order.h"
#include "base/xmalloc.h"

static json_t *instance(const char *node, const char *id, int passing,
                        int warning, const char *status)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:i, s:i}}", "Node", node,
	                 "ID", id, "Name", "web", "Status", status, "Weights",
	                 "Passing", passing, "Warning", warning);
}

/* M instances "web-NN/web": the ID repeats on every node, as in Consul. */
static json_t *service(int m)
{
	json_t *list = json_array();
	char node[32];

	for (int i = 0; i < m; i++) {
		snprintf(node, sizeof(node), "web-%02d", i + 1);
		json_array_append_new(list,
		                      instance(node, "web", 1, 1, "passing"));
	}
	return list;
}

/* Node names "node-0001".."node-N" (sorted, as the catalog returns). */
static json_t *fleet(int n)
{
	json_t *names = json_array();
	char name[32];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "node-%04d", i + 1);
		json_array_append_new(names, json_string(name));
	}
	return names;
}

static const char *node_of(json_t *inst)
{
	return json_string_value(json_object_get(inst, "Node"));
}

static size_t index_of(json_t *list, const char *node)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i,
	                   v) if (strcmp(node_of(v), node) == 0) return i;
	fail_msg("%s not in list", node);
	return 0;
}

/* Each instance's address, by identity (Node/ID), for the whole run. */
static json_t *addresses;

static const char *addr_of(json_t *inst)
{
	char id[256], addr[32];
	json_t *a;
	size_t n;

	snprintf(id, sizeof(id), "%s/%s", node_of(inst),
	         json_string_value(json_object_get(inst, "ID")));
	if (addresses == NULL)
		addresses = json_object();
	a = json_object_get(addresses, id);
	if (a == NULL) {
		n = json_object_size(addresses) + 1;
		snprintf(addr, sizeof(addr), "10.%zu.%zu.%zu", n >> 16,
		         (n >> 8) & 255, n & 255);
		a = json_string(addr);
		json_object_set_new(addresses, id, a);
	}
	return json_string_value(a);
}

/* list as lines "ADDRESS name" (name: key, "x" when empty), checked. */
static void list_doc(const char *key, json_t *list, struct hosts_doc *d,
                     json_t *weights)
{
	struct buf text;
	size_t i;
	json_t *v;

	buf_init(&text, 0);
	json_array_foreach(list, i, v)
	{
		buf_printf(&text, "%s %s\n", addr_of(v),
		           key[0] != '\0' ? key : "x");
		if (weights != NULL)
			json_object_set_new(
			        weights, addr_of(v),
			        json_integer(order_instance_weight(v)));
	}
	hosts_doc_init(d, 0);
	assert_int_equal(
	        hosts_doc_check(d, buf_str(&text), text.len, false, NULL), 0);
	buf_free(&text);
}

/* The element of list at address addr[0..len). */
static json_t *by_addr(json_t *list, const char *addr, size_t len)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
	{
		const char *a = addr_of(v);

		if (strlen(a) == len && memcmp(a, addr, len) == 0)
			return v;
	}
	fail_msg("%.*s not in list", (int)len, addr);
	return NULL;
}

/* The list as node seed orders its lines (emit: keep the first k). New
 * reference. */
static json_t *ordered_emit(enum order_mode mode, const char *seed,
                            const char *key, json_t *list, json_t *nodes,
                            unsigned emit)
{
	struct order *o = order_new(mode, seed);
	json_t *out = json_array(), *weights = json_object();
	struct hosts_doc d;

	order_set_fleet(o, nodes);
	list_doc(key, list, &d, weights);
	assert_int_equal(order_lines(o, &d, weights, emit), 0);
	for (size_t i = 0; i < d.nlines; i++) {
		/* the index follows the lines to their new places */
		if (d.lines[i].entry)
			assert_int_equal(hosts_doc_find(&d,
			                                d.keys + d.lines[i].key,
			                                d.lines[i].key_len),
			                 (long)i);
		json_array_append(out, by_addr(list, d.keys + d.lines[i].key,
		                               d.lines[i].addr_len));
	}
	hosts_doc_free(&d);
	json_decref(weights);
	order_free(o);
	return out;
}

static json_t *ordered(enum order_mode mode, const char *seed, const char *key,
                       json_t *list, json_t *nodes)
{
	return ordered_emit(mode, seed, key, list, nodes, 0);
}

/* The list as shuffle orders it (order_apply). New reference. */
static json_t *applied(enum order_mode mode, const char *seed, const char *key,
                       json_t *list, json_t *nodes)
{
	struct order *o = order_new(mode, seed);
	json_t *copy = json_deep_copy(list);

	order_set_fleet(o, nodes);
	order_apply(o, key, copy);
	order_free(o);
	return copy;
}

/* First-choice counts per instance of list over the fleet, by ordering
 * on every node, into count[M]. */
static void first_counts(enum order_mode mode, const char *key, json_t *list,
                         json_t *nodes, size_t *count)
{
	size_t k;
	json_t *name;

	memset(count, 0, json_array_size(list) * sizeof(*count));
	json_array_foreach(nodes, k, name)
	{
		json_t *o = ordered(mode, json_string_value(name), key, list,
		                    nodes);

		count[index_of(list, node_of(json_array_get(o, 0)))]++;
		json_decref(o);
	}
}

static void assert_binomial(size_t count, size_t n, double p)
{
	double mean = (double)n * p;
	double bound = 4.0 * sqrt((double)n * p * (1.0 - p)) + 1.0;

	if (fabs((double)count - mean) > bound)
		fail_msg("count %zu, expected %.1f +- %.1f", count, mean,
		         bound);
}

static void test_hash_vectors(void **state)
{
	/* python3 hashlib.sha256("\0".join(args).encode()), first 8 bytes */
	(void)state;
	assert_int_equal(order_hash("node-01", "foo-app", "foo-app01/foo-app"),
	                 0x1fa84c1886100627ULL);
	assert_int_equal(order_hash("node-01", "foo-app", "foo-app02/foo-app"),
	                 0xb27ebf6232384528ULL);
	assert_int_equal(order_hash("node-01", "foo-app", "foo-app03/foo-app"),
	                 0x478e7758dca99765ULL);
	assert_int_equal(order_hash("", "", ""), 0x96a296d224f285c6ULL);
	assert_int_equal(order_hash(NULL, NULL, NULL), 0x96a296d224f285c6ULL);
	assert_int_equal(order_hash("web-1", "web", "web-2/web-blue"),
	                 0x5147bfe2367d8355ULL);
	/* The line formula, as the README's sha256sum one-liner has it. */
	assert_int_equal(order_hash("node-01", "foo-app.service.dc1.consul",
	                            "192.0.2.11"),
	                 0x607f4516d576f6e7ULL);
	assert_int_equal(order_hash("node-01", "foo-app.service.dc1.consul",
	                            "192.0.2.12"),
	                 0xd63c0e9ca94062beULL);
	/* Padding edges: 55, 56, 64 and 121 bytes hashed. */
	char seed[128];

	memset(seed, 'x', sizeof(seed));
	seed[53] = '\0';
	assert_int_equal(order_hash(seed, "", ""), 0xefdb6e27d6a5b592ULL);
	memset(seed, 'x', sizeof(seed));
	seed[54] = '\0';
	assert_int_equal(order_hash(seed, "", ""), 0x2a693e82068327aaULL);
	memset(seed, 'x', sizeof(seed));
	seed[62] = '\0';
	assert_int_equal(order_hash(seed, "", ""), 0x180e6a654a52973eULL);
	memset(seed, 'x', sizeof(seed));
	seed[119] = '\0';
	assert_int_equal(order_hash(seed, "", ""), 0xa8b1ff568f5158d5ULL);
}

static void test_mode_names(void **state)
{
	(void)state;
	for (int m = ORDER_STABLE; m <= ORDER_NONE; m++)
		assert_int_equal(order_mode_parse(order_mode_name(m)), m);
	assert_int_equal(order_mode_parse("stable"), ORDER_STABLE);
	assert_int_equal(order_mode_parse("balanced"), ORDER_BALANCED);
	assert_int_equal(order_mode_parse("Stable"), -EINVAL);
	assert_int_equal(order_mode_parse(""), -EINVAL);
	assert_int_equal(order_mode_parse(NULL), -EINVAL);
	assert_string_equal(order_mode_name((enum order_mode)99), "unknown");
}

/* The documented order: a name's lines by descending order_hash(seed,
 * names, address), in the positions the group occupies; other lines stay
 * where they are. */
static void test_lines_documented_order(void **state)
{
	const char *text = "# top\n"
	                   "192.0.2.11 foo-app.service.dc1.consul\n"
	                   "10.0.0.1 other\n"
	                   "192.0.2.12 Foo-App.service.dc1.consul\n"
	                   "\n"
	                   "192.0.2.13 foo-app.service.dc1.consul\n"
	                   "10.0.0.2 other two\n";
	struct order *o = order_new(ORDER_STABLE, "node-01");
	struct hosts_doc d;

	(void)state;
	hosts_doc_init(&d, 0);
	assert_int_equal(hosts_doc_check(&d, text, strlen(text), false, NULL),
	                 0);
	d.lines[1].dynamic = true; /* fields move with their lines */
	assert_int_equal(order_lines(o, &d, NULL, 0), 0);
	/* d63c (.12) > 607f (.11) > 2e8d (.13): test_hash_vectors */
	assert_string_equal(d.text.data,
	                    "# top\n"
	                    "192.0.2.12 Foo-App.service.dc1.consul\n"
	                    "10.0.0.1 other\n"
	                    "192.0.2.11 foo-app.service.dc1.consul\n"
	                    "\n"
	                    "192.0.2.13 foo-app.service.dc1.consul\n"
	                    "10.0.0.2 other two\n");
	assert_true(d.lines[3].dynamic);
	assert_int_equal(d.lines[3].src, strlen("# top\n"));
	assert_int_equal(hosts_doc_find(&d,
	                                "192.0.2.11 foo-app.service.dc1."
	                                "consul",
	                                37),
	                 3);
	/* emit = 1: the first of each name stays. */
	assert_int_equal(order_lines(o, &d, NULL, 1), 0);
	assert_string_equal(d.text.data,
	                    "# top\n"
	                    "192.0.2.12 Foo-App.service.dc1.consul\n"
	                    "10.0.0.1 other\n"
	                    "\n"
	                    "10.0.0.2 other two\n");
	assert_int_equal(d.st.entries, 3);
	assert_int_equal(hosts_doc_find(&d, "10.0.0.2 other two", 18), 4);
	hosts_doc_free(&d);
	order_free(o);
}

static void test_stable_is_documented_hash_order(void **state)
{
	json_t *list = json_array(), *o;
	const char *nodes[] = {"foo-app01", "foo-app02", "foo-app03"};
	uint64_t prev = UINT64_MAX;
	size_t i;
	json_t *v;

	(void)state;
	for (i = 0; i < 3; i++)
		json_array_append_new(
		        list, instance(nodes[i], "foo-app", 1, 1, "passing"));
	o = ordered(ORDER_STABLE, "node-01", "foo-app", list, NULL);
	json_array_foreach(o, i, v)
	{
		uint64_t h = order_hash("node-01", "foo-app", addr_of(v));

		assert_true(h <= prev);
		prev = h;
	}
	json_decref(o);
	json_decref(list);
}

static void test_determinism(void **state)
{
	json_t *list = service(8), *ref, *o, *rot;
	char *want, *got;

	(void)state;
	ref = ordered(ORDER_STABLE, "node-0042", "web", list, NULL);
	want = json_dumps(ref, JSON_COMPACT);
	for (int i = 0; i < 200; i++) {
		/* Any input order gives the same output. */
		rot = json_deep_copy(list);
		for (int r = 0; r < i % 8; r++) {
			json_t *head = json_incref(json_array_get(rot, 0));

			json_array_remove(rot, 0);
			json_array_append_new(rot, head);
		}
		o = ordered(ORDER_STABLE, "node-0042", "web", rot, NULL);
		got = json_dumps(o, JSON_COMPACT);
		assert_string_equal(got, want);
		free(got);
		json_decref(o);
		json_decref(rot);
	}
	free(want);
	json_decref(ref);
	json_decref(list);
}

static void test_seeds_and_services_differ(void **state)
{
	json_t *list = service(8), *a, *b, *c;

	(void)state;
	a = ordered(ORDER_STABLE, "node-0001", "web", list, NULL);
	b = ordered(ORDER_STABLE, "node-0002", "web", list, NULL);
	c = ordered(ORDER_STABLE, "node-0001", "api", list, NULL);
	/* Fixed data: 1 in 8! that any two agree. */
	assert_false(json_equal(a, b));
	assert_false(json_equal(a, c));
	assert_false(json_equal(b, c));
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(list);
}

/* First choices spread over the instances: foo-app on foo-app01..03 (ID
 * "foo-app" on each), rendered by node-01..node-60, puts each instance
 * first on 12..28 nodes. */
static void test_first_choice_spread_60_nodes(void **state)
{
	json_t *list = json_array(), *nodes = json_array();
	size_t count[3];
	char name[16];

	(void)state;
	for (int i = 1; i <= 3; i++) {
		snprintf(name, sizeof(name), "foo-app%02d", i);
		json_array_append_new(
		        list, instance(name, "foo-app", 1, 1, "passing"));
	}
	for (int i = 1; i <= 60; i++) {
		snprintf(name, sizeof(name), "node-%02d", i);
		json_array_append_new(nodes, json_string(name));
	}
	first_counts(ORDER_STABLE, "foo-app", list, nodes, count);
	print_message("stable 60 nodes: %zu/%zu/%zu\n", count[0], count[1],
	              count[2]);
	for (int i = 0; i < 3; i++) {
		assert_true(count[i] >= 12 && count[i] <= 28);
	}
	first_counts(ORDER_BALANCED, "foo-app", list, nodes, count);
	for (int i = 0; i < 3; i++)
		assert_int_equal(count[i], 20);
	/* none: consul-template's stampede, everyone on the first. */
	first_counts(ORDER_NONE, "foo-app", list, nodes, count);
	assert_int_equal(count[0], 60);
	json_decref(list);
	json_decref(nodes);
}

static void test_spread_stable(void **state)
{
	const int fleets[] = {20, 100, 1000};
	size_t count[8];

	(void)state;
	for (size_t f = 0; f < 3; f++) {
		json_t *nodes = fleet(fleets[f]);

		for (int m = 2; m <= 8; m++) {
			json_t *list = service(m);
			size_t total = 0;

			first_counts(ORDER_STABLE, "web", list, nodes, count);
			for (int i = 0; i < m; i++) {
				assert_binomial(count[i], (size_t)fleets[f],
				                1.0 / m);
				total += count[i];
			}
			assert_int_equal(total, fleets[f]);
			json_decref(list);
		}
		json_decref(nodes);
	}
}

/*
 * Explain's NODE table as first[k] = index in list of node k's first
 * choice (the fleet is sorted, so k is the node's position).
 */
static void explain_firsts(enum order_mode mode, const char *key, json_t *list,
                           json_t *nodes, size_t *first)
{
	struct order *o = order_new(mode, "");
	struct hosts_doc d;
	struct buf out;
	struct err e;
	const char *p;
	size_t k;

	order_set_fleet(o, nodes);
	list_doc(key, list, &d, NULL);
	buf_init(&out, 0);
	assert_int_equal(order_explain_lines(o, &d, key, NULL, &out, &e), 0);
	p = strstr(buf_str(&out), "\nNODE ");
	assert_non_null(p);
	p = strchr(p + 1, '\n') + 1;
	for (k = 0; k < json_array_size(nodes); k++) {
		char node[64], addr[64];

		assert_int_equal(sscanf(p, "%63s %63s", node, addr), 2);
		assert_string_equal(
		        node, json_string_value(json_array_get(nodes, k)));
		first[k] = index_of(list,
		                    node_of(by_addr(list, addr, strlen(addr))));
		p = strchr(p, '\n') + 1;
	}
	buf_free(&out);
	hosts_doc_free(&d);
	order_free(o);
}

static void test_spread_balanced(void **state)
{
	const int fleets[] = {20, 100, 1000};
	size_t count[8], *first = xcalloc(1000, sizeof(*first));

	(void)state;
	for (size_t f = 0; f < 3; f++) {
		json_t *nodes = fleet(fleets[f]);

		for (int m = 2; m <= 8; m++) {
			json_t *list = service(m);
			size_t max = 0, min = SIZE_MAX;

			if (fleets[f] <= 100) {
				/* Every node computes its own slot. */
				first_counts(ORDER_BALANCED, "web", list, nodes,
				             count);
			} else {
				/* Explain's fleet-wide table, checked
				 * against a sample of nodes' own orders. */
				explain_firsts(ORDER_BALANCED, "web", list,
				               nodes, first);
				memset(count, 0, sizeof(count));
				for (int k = 0; k < fleets[f]; k++) {
					count[first[k]]++;
					if (k % 97 != 0)
						continue;
					json_t *o = ordered(
					        ORDER_BALANCED,
					        json_string_value(
					                json_array_get(nodes,
					                               k)),
					        "web", list, nodes);
					assert_int_equal(
					        index_of(list,
					                 node_of(json_array_get(
					                         o, 0))),
					        first[k]);
					json_decref(o);
				}
			}
			for (int i = 0; i < m; i++) {
				max = count[i] > max ? count[i] : max;
				min = count[i] < min ? count[i] : min;
			}
			assert_true(max - min <= 1);
			json_decref(list);
		}
		json_decref(nodes);
	}
	free(first);
}

static void test_weighted_spread(void **state)
{
	json_t *list = json_array(), *nodes = fleet(1000), *o;
	size_t count[6];
	size_t k;

	(void)state;
	json_array_append_new(list, instance("web-01", "web", 1, 1, "passing"));
	json_array_append_new(list, instance("web-02", "web", 2, 1, "passing"));
	json_array_append_new(list, instance("web-03", "web", 3, 1, "passing"));
	/* warning: its Warning weight (4) counts, not Passing (100) */
	json_array_append_new(list,
	                      instance("web-04", "web", 100, 4, "warning"));
	/* weight 0 and critical: never first, always last */
	json_array_append_new(list, instance("web-05", "web", 0, 0, "passing"));
	json_array_append_new(list,
	                      instance("web-06", "web", 50, 50, "critical"));
	first_counts(ORDER_WEIGHTED, "web", list, nodes, count);
	print_message("weighted 1:2:3:4 over 1000: %zu %zu %zu %zu\n", count[0],
	              count[1], count[2], count[3]);
	for (int i = 0; i < 4; i++)
		assert_binomial(count[i], 1000, (i + 1) / 10.0);
	assert_int_equal(count[4], 0);
	assert_int_equal(count[5], 0);
	for (k = 0; k < 50; k++) {
		o = ordered(ORDER_WEIGHTED,
		            json_string_value(json_array_get(nodes, k)), "web",
		            list, nodes);
		assert_true(index_of(o, "web-05") >= 4);
		assert_true(index_of(o, "web-06") >= 4);
		json_decref(o);
	}
	json_decref(list);
	json_decref(nodes);
}

/* Removing an instance keeps every node's relative order of the rest, so
 * only nodes that had it first change their first choice. */
static void test_removal_stable(void **state)
{
	json_t *list = service(5), *fewer, *nodes = fleet(1000);
	size_t k, moved = 0, had = 0;
	json_t *name;

	(void)state;
	fewer = json_deep_copy(list);
	json_array_remove(fewer, 2); /* web-03 */
	json_array_foreach(nodes, k, name)
	{
		const char *seed = json_string_value(name);
		json_t *a = ordered(ORDER_STABLE, seed, "web", list, NULL);
		json_t *b = ordered(ORDER_STABLE, seed, "web", fewer, NULL);
		size_t i, j = 0;

		had += strcmp(node_of(json_array_get(a, 0)), "web-03") == 0;
		moved += strcmp(node_of(json_array_get(a, 0)),
		                node_of(json_array_get(b, 0))) != 0;
		for (i = 0; i < json_array_size(a); i++) {
			if (strcmp(node_of(json_array_get(a, i)), "web-03") ==
			    0)
				continue;
			assert_true(json_equal(json_array_get(a, i),
			                       json_array_get(b, j++)));
		}
		json_decref(a);
		json_decref(b);
	}
	assert_int_equal(moved, had);
	assert_true(had > 0);
	json_decref(fewer);
	json_decref(list);
	json_decref(nodes);
}

/*
 * Balanced churn: the nodes that had the removed instance must move (the
 * ideal, N/M); capacity rebalancing moves a few more. Assert at most 2x
 * the ideal (measured about 1.2-1.5x in reference/peers.md 4.2).
 */
static void test_removal_balanced(void **state)
{
	const int fleets[] = {100, 1000};
	size_t *a = xcalloc(1000, sizeof(*a)), *b = xcalloc(1000, sizeof(*b));

	(void)state;
	for (size_t f = 0; f < 2; f++) {
		json_t *nodes = fleet(fleets[f]);

		for (int m = 3; m <= 8; m++) {
			json_t *list = service(m), *fewer;
			size_t moved = 0, had = 0;
			int gone = m / 2;

			fewer = json_deep_copy(list);
			json_array_remove(fewer, (size_t)gone);
			explain_firsts(ORDER_BALANCED, "web", list, nodes, a);
			explain_firsts(ORDER_BALANCED, "web", fewer, nodes, b);
			for (int k = 0; k < fleets[f]; k++) {
				/* b indexes fewer; map back to list */
				size_t bi =
				        b[k] >= (size_t)gone ? b[k] + 1 : b[k];

				had += a[k] == (size_t)gone;
				moved += a[k] != bi;
			}
			print_message("balanced N=%d M=%d: churn %zu, ideal "
			              "%zu\n",
			              fleets[f], m, moved, had);
			assert_true(moved >= had);
			assert_true(moved <= 2 * had);
			json_decref(fewer);
			json_decref(list);
		}
		json_decref(nodes);
	}
	free(a);
	free(b);
}

static void test_balanced_fallbacks(void **state)
{
	json_t *list = service(5), *nodes = fleet(30), *a, *b;
	json_t *objs = json_array(), *name;
	size_t k;

	(void)state;
	/* A seed outside the fleet, or no fleet: the stable order. */
	a = ordered(ORDER_BALANCED, "elsewhere", "web", list, nodes);
	b = ordered(ORDER_STABLE, "elsewhere", "web", list, NULL);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	a = ordered(ORDER_BALANCED, "node-0003", "web", list, NULL);
	b = ordered(ORDER_STABLE, "node-0003", "web", list, NULL);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	/* {Node: name} objects, reversed, duplicated: the same fleet. */
	for (k = json_array_size(nodes); k-- > 0;) {
		name = json_array_get(nodes, k);
		json_array_append_new(objs, json_pack("{s:O}", "Node", name));
		json_array_append_new(objs, json_pack("{s:O}", "Node", name));
	}
	a = ordered(ORDER_BALANCED, "node-0003", "web", list, nodes);
	b = ordered(ORDER_BALANCED, "node-0003", "web", list, objs);
	assert_true(json_equal(a, b));
	/* After the first, the node's stable order of the rest. */
	json_t *s = ordered(ORDER_STABLE, "node-0003", "web", list, NULL);
	size_t j = 0;

	for (size_t i = 1; i < json_array_size(a); i++) {
		if (json_equal(json_array_get(s, j), json_array_get(a, 0)))
			j++;
		assert_true(json_equal(json_array_get(a, i),
		                       json_array_get(s, j++)));
	}
	json_decref(s);
	json_decref(a);
	json_decref(b);
	json_decref(objs);
	json_decref(list);
	json_decref(nodes);
}

/* The memo (scores and balanced assignments a node remembers) gives what
 * a fresh computation gives, across a fleet change and past its bound. */
static void test_memo(void **state)
{
	struct order *o = order_new(ORDER_BALANCED, "node-0007");
	json_t *list = service(6), *small = fleet(30), *big = fleet(90);
	json_t *strings = json_array(), *a, *b;
	char key[32];

	(void)state;
	for (int round = 0; round < 3; round++) {
		json_t *nodes = round == 1 ? big : small;

		struct hosts_doc d;

		order_set_fleet(o, nodes);
		list_doc("web", list, &d, NULL);
		assert_int_equal(order_lines(o, &d, NULL, 0), 0);
		a = json_array();
		for (size_t i = 0; i < d.nlines; i++)
			json_array_append(a,
			                  by_addr(list, d.keys + d.lines[i].key,
			                          d.lines[i].addr_len));
		hosts_doc_free(&d);
		b = ordered(ORDER_BALANCED, "node-0007", "web", list, nodes);
		assert_true(json_equal(a, b));
		json_decref(a);
		json_decref(b);
	}
	order_free(o);
	/* 300 values x 500 keys: more entries than the memo holds. */
	o = order_new(ORDER_STABLE, "node-0007");
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "value-%03d", i);
		json_array_append_new(strings, json_string(key));
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int k = 0; k < 500; k++) {
			snprintf(key, sizeof(key), "svc-%03d", k);
			a = json_deep_copy(strings);
			order_apply(o, key, a);
			if (k % 50 == 0) {
				b = applied(ORDER_STABLE, "node-0007", key,
				            strings, NULL);
				assert_true(json_equal(a, b));
				json_decref(b);
			}
			json_decref(a);
		}
	}
	order_free(o);
	json_decref(strings);
	json_decref(list);
	json_decref(small);
	json_decref(big);
}

static void test_random_and_none(void **state)
{
	json_t *list = service(8), *o, *first = NULL;
	bool differs = false;

	(void)state;
	o = ordered(ORDER_NONE, "node-0001", "web", list, NULL);
	assert_true(json_equal(o, list));
	json_decref(o);
	for (int i = 0; i < 20; i++) {
		o = ordered(ORDER_RANDOM, "node-0001", "web", list, NULL);
		/* A permutation: every instance exactly once. */
		assert_int_equal(json_array_size(o), 8);
		for (int n = 1; n <= 8; n++) {
			char node[16];

			snprintf(node, sizeof(node), "web-%02d", n);
			index_of(o, node);
		}
		if (first == NULL)
			first = json_incref(o);
		else if (!json_equal(first, o))
			differs = true;
		json_decref(o);
	}
	assert_true(differs); /* 20 equal draws: 1 in 40320^19 */
	json_decref(first);
	json_decref(list);
}

/* The shuffle function's lists: strings by value, numbers by JSON text. */
static void test_generic_values(void **state)
{
	json_t *list = json_pack("[s, s, i, s]", "alpha", "beta", 42, "gamma");
	struct order *o = order_new(ORDER_STABLE, "node-07");
	uint64_t prev = UINT64_MAX;
	size_t i;
	json_t *v;

	(void)state;
	order_apply(o, "", list);
	json_array_foreach(list, i, v)
	{
		char buf[32];
		const char *id = json_string_value(v);
		uint64_t h;

		if (id == NULL) {
			snprintf(buf, sizeof(buf), "%lld",
			         (long long)json_integer_value(v));
			id = buf;
		}
		h = order_hash("node-07", "", id);
		assert_true(h <= prev);
		prev = h;
	}
	assert_int_equal(order_hash("node-07", "", "42"),
	                 0xaddfd870d11464c0ULL);
	/* Lists of 0 or 1 element, non-arrays and NULLs are no-ops. */
	json_t *one = json_pack("[s]", "x"), *obj = json_object();

	order_apply(o, "", one);
	order_apply(o, "", obj);
	order_apply(o, "", NULL);
	order_apply(NULL, "", one);
	assert_int_equal(json_array_size(one), 1);
	json_decref(one);
	json_decref(obj);
	json_decref(list);
	order_free(o);
	assert_null(order_free(NULL));
}

/* A raw /v1/health/service entry orders like its flattened form. */
static void test_raw_health_entries(void **state)
{
	const char *raw =
	        "[{\"Node\":{\"Node\":\"web-1\"},\"Service\":{\"ID\":\"web\","
	        "\"Weights\":{\"Passing\":10,\"Warning\":1}},\"Checks\":[{"
	        "\"CheckID\":\"serfHealth\",\"Status\":\"passing\"}]},"
	        "{\"Node\":{\"Node\":\"web-2\"},\"Service\":{\"ID\":\"web-"
	        "blue\",\"Weights\":{\"Passing\":1,\"Warning\":1}},\"Checks\":"
	        "[{\"CheckID\":\"service:web-blue\",\"Status\":\"warning\"}]},"
	        "{\"Node\":{\"Node\":\"web-2\"},\"Service\":{\"ID\":\"web-"
	        "green\",\"Weights\":{\"Passing\":1,\"Warning\":1}},"
	        "\"Checks\":[{\"CheckID\":\"service:web-green\",\"Status\":"
	        "\"critical\"}]}]";
	json_t *r = json_loads(raw, 0, NULL), *flat = json_array();
	json_t *a, *b, *nodes = fleet(200);
	size_t k;

	(void)state;
	assert_non_null(r);
	json_array_append_new(flat, instance("web-1", "web", 10, 1, "passing"));
	json_array_append_new(flat,
	                      instance("web-2", "web-blue", 1, 1, "warning"));
	json_array_append_new(flat,
	                      instance("web-2", "web-green", 1, 1, "critical"));
	for (k = 0; k < 200; k++) {
		const char *seed = json_string_value(json_array_get(nodes, k));

		a = applied(ORDER_WEIGHTED, seed, "web", r, NULL);
		b = applied(ORDER_WEIGHTED, seed, "web", flat, NULL);
		for (size_t i = 0; i < 3; i++)
			assert_string_equal(
			        json_string_value(json_object_get(
			                json_object_get(json_array_get(a, i),
			                                "Service"),
			                "ID")),
			        json_string_value(json_object_get(
			                json_array_get(b, i), "ID")));
		/* critical: weight 0, last */
		assert_string_equal(json_string_value(json_object_get(
		                            json_array_get(b, 2), "ID")),
		                    "web-green");
		json_decref(a);
		json_decref(b);
	}
	json_decref(r);
	json_decref(flat);
	json_decref(nodes);
}

/* Aggregated check status has one owner (deps.h's health_fold, Consul's
 * AggregatedStatus): an unknown status makes it "", whose weight is 1
 * (Consul's findWeight), in a raw entry's Checks as in a decoded Status. */
static void test_weight_unknown_status(void **state)
{
	struct health_fold h = {0};
	json_t *v;

	(void)state;
	health_fold_add(&h, "c1", "critical");
	assert_string_equal(health_fold_status(&h), "critical");
	health_fold_add(&h, "_node_maintenance", "passing");
	assert_string_equal(health_fold_status(&h), "maintenance");
	health_fold_add(&h, "c2", "bogus");
	assert_string_equal(health_fold_status(&h), "");
	v = json_pack("{s:{s:s},s:{s:s,s:{s:i,s:i}},s:[{s:s,s:s}]}", "Node",
	              "Node", "n1", "Service", "ID", "web-1", "Weights",
	              "Passing", 5, "Warning", 2, "Checks", "CheckID", "c",
	              "Status", "bogus");
	assert_int_equal(order_instance_weight(v), 1);
	json_object_set_new(json_array_get(json_object_get(v, "Checks"), 0),
	                    "Status", json_string("warning"));
	assert_int_equal(order_instance_weight(v), 2);
	json_object_set_new(v, "Status", json_string(""));
	assert_int_equal(order_instance_weight(v), 1);
	json_decref(v);
}

static void test_explain(void **state)
{
	json_t *list = json_array(), *nodes = json_array();
	struct order *o = order_new(ORDER_BALANCED, "");
	struct hosts_doc d;
	struct buf out;
	struct err e;
	char name[16];
	const char *text;

	(void)state;
	for (int i = 1; i <= 3; i++) {
		snprintf(name, sizeof(name), "foo-app%02d", i);
		json_array_append_new(
		        list, instance(name, "foo-app", 1, 1, "passing"));
	}
	for (int i = 1; i <= 60; i++) {
		snprintf(name, sizeof(name), "node-%02d", i);
		json_array_append_new(nodes, json_string(name));
	}
	order_set_fleet(o, nodes);
	text = "192.0.2.11 foo-app.service.consul foo-app.service.dc1.consul\n"
	       "192.0.2.12 foo-app.service.consul foo-app.service.dc1.consul\n"
	       "192.0.2.13 foo-app.service.consul foo-app.service.dc1.consul\n"
	       "192.0.2.11 foo-app01\n";
	hosts_doc_init(&d, 0);
	assert_int_equal(hosts_doc_check(&d, text, strlen(text), false, NULL),
	                 0);
	buf_init(&out, 0);
	/* A name of the group, whole: balanced, exactly even. */
	assert_int_equal(order_explain_lines(o, &d, "foo-app.service.consul",
	                                     NULL, &out, &e),
	                 0);
	assert_non_null(strstr(buf_str(&out), "mode:      balanced\n"));
	assert_non_null(strstr(buf_str(&out), "nodes:     60\n"));
	assert_non_null(strstr(buf_str(&out), "addresses: 3\n"));
	assert_non_null(strstr(buf_str(&out),
	                       "192.0.2.11       1      20   33.3%   33.3%\n"));
	assert_non_null(strstr(buf_str(&out), "max - min 0\n"));
	assert_null(strstr(buf_str(&out), "foo-app01\n")); /* one group */
	buf_reset(&out);
	/* The service shortcut; stable: node-01's first is .13 (ed19... >
	 * c6af... > 72e1... for these names). */
	order_free(o);
	o = order_new(ORDER_STABLE, "");
	order_set_fleet(o, nodes);
	assert_int_equal(order_explain_lines(o, &d, "foo-app", NULL, &out, &e),
	                 0);
	assert_non_null(strstr(buf_str(&out), "\nnode-01  192.0.2.13\n"));
	buf_reset(&out);
	order_free(o);
	o = order_new(ORDER_NONE, "");
	order_set_fleet(o, nodes);
	assert_int_equal(order_explain_lines(o, &d, "foo-app", NULL, &out, &e),
	                 0);
	assert_non_null(strstr(buf_str(&out), "60  100.0%  100.0%\n"));
	buf_reset(&out);
	/* Hostile node names are escaped, never printed raw. */
	order_free(o);
	o = order_new(ORDER_RANDOM, "");
	json_array_append_new(nodes, json_string("evil\nname"));
	order_set_fleet(o, nodes);
	assert_int_equal(order_explain_lines(o, &d, "foo-app", NULL, &out, &e),
	                 0);
	assert_non_null(strstr(buf_str(&out), "evil\\x0aname"));
	assert_null(strstr(buf_str(&out), "evil\n"));
	buf_free(&out);
	/* Errors. */
	buf_init(&out, 64);
	assert_int_equal(order_explain_lines(o, &d, "foo-app", NULL, &out, &e),
	                 -E2BIG);
	assert_non_null(strstr(e.msg, "too large"));
	assert_int_equal(order_explain_lines(o, &d, "nope", NULL, &out, &e),
	                 -ENOENT);
	assert_non_null(strstr(e.msg, "no line of the render carries"));
	order_set_fleet(o, NULL);
	assert_int_equal(order_explain_lines(o, &d, "foo-app", NULL, &out, &e),
	                 -EINVAL);
	assert_non_null(strstr(e.msg, "no nodes"));
	buf_free(&out);
	hosts_doc_free(&d);
	order_free(o);
	json_decref(list);
	json_decref(nodes);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hash_vectors),
	        cmocka_unit_test(test_mode_names),
	        cmocka_unit_test(test_lines_documented_order),
	        cmocka_unit_test(test_stable_is_documented_hash_order),
	        cmocka_unit_test(test_determinism),
	        cmocka_unit_test(test_seeds_and_services_differ),
	        cmocka_unit_test(test_first_choice_spread_60_nodes),
	        cmocka_unit_test(test_spread_stable),
	        cmocka_unit_test(test_spread_balanced),
	        cmocka_unit_test(test_weighted_spread),
	        cmocka_unit_test(test_weight_unknown_status),
	        cmocka_unit_test(test_removal_stable),
	        cmocka_unit_test(test_removal_balanced),
	        cmocka_unit_test(test_balanced_fallbacks),
	        cmocka_unit_test(test_memo),
	        cmocka_unit_test(test_random_and_none),
	        cmocka_unit_test(test_generic_values),
	        cmocka_unit_test(test_raw_health_entries),
	        cmocka_unit_test(test_explain),
	};

	int r = cmocka_run_group_tests(tests, NULL, NULL);

	json_decref(addresses);
	return r;
}
