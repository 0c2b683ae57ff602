/*
 * Per-node ordering of service instances: the reason this project exists.
 *
 * consul-template sorts every service's instances by node name, so every
 * node writes the same /etc/hosts and glibc's files backend sends the
 * whole fleet to the first line. order_apply() reorders each list per
 * node, as a pure function of (seed, service, instances): the same data
 * gives byte-identical output on a node, other nodes get other orders, and
 * removing an instance moves only the nodes that had it first.
 *
 * Modes (enum order_mode in config.h):
 *   stable    rendezvous (HRW) hashing: descending order_hash(seed, key, id)
 *   weighted  weighted rendezvous: descending w / -ln(u), with u from the
 *             hash (below) and w = Weights.Passing, or Weights.Warning when
 *             .Status is "warning", 0 when critical or maintenance; weight
 *             0 goes last. P(first = i) = w_i / sum(w).
 *   balanced  every node computes the same fleet-wide assignment from the
 *             fleet (order_set_fleet: the catalog's node names), so first
 *             choices differ by at most one between instances; the rest
 *             of the list follows in the node's stable order. Falls back
 *             to stable when the seed is not a node of the fleet.
 *   random    a new order from getrandom() at every call (rewrites the
 *             file each render; opt-in)
 *   none      the list is left as it is (consul-template's sorted order)
 *
 * Identity of an instance: .Node + "/" + .ID ("foo-app01/foo-app"), since
 * service IDs repeat across nodes. A raw health entry ({Node:{Node},
 * Service:{ID}}) is understood too. A string is its own identity, a number
 * its JSON text; any other value is its compact JSON text with sorted keys.
 *
 * The hash, stable across versions and architectures: the first 8 bytes,
 * big-endian, of SHA-256(seed "\0" key "\0" id). An operator reproduces a
 * score with either of
 *
 *   printf '%s\0%s\0%s' node-01 foo-app foo-app01/foo-app |
 *       sha256sum | cut -c1-16
 *
 *   python3 -c 'import hashlib, sys; print(hashlib.sha256(
 *       "\0".join(sys.argv[1:]).encode()).hexdigest()[:16])' \
 *       node-01 foo-app foo-app01/foo-app
 *
 * and a node's order is its instances sorted by that value, highest first
 * (ties, which need equal hashes, by identity). In weighted mode
 * u = ((h >> 11) + 0.5) / 2^53 and the score is w / -ln(u). In balanced
 * mode the fleet's nodes are processed in ascending order_hash("", key,
 * node); each takes its highest-scoring instance (by order_hash(node, key,
 * id)) that still has room, where a fleet of N nodes and M instances lets
 * N mod M instances take ceil(N/M) nodes and the others floor(N/M).
 *
 * With equal weights, weighted gives exactly the stable order.
 *
 * Cost: one SHA-256 block per instance (inputs under 56 bytes) and a sort.
 * A struct order remembers the scores it computed (a pure function of
 * seed, key and identity) and each balanced assignment per (key, fleet,
 * list), bounded at 2^17 entries, so a re-render hashes only what is new.
 * Measured (tests/bench/order_spread.c, 2-vCPU Xeon VM): 10k instances in
 * 500 services, about 8.6 ms on the first call, 1.9 ms after. Balanced
 * mode hashes every (node, instance) pair of the fleet ahead of this node
 * in the processing order: up to N * M hashes per service when a list or
 * the fleet changes.
 *
 * Pure module: no I/O except getrandom() in random mode, no logging.
 * Lists are borrowed and reordered in place; only scores are kept. Not
 * thread-safe: one struct order per thread (the memo is written through
 * the const pointer order_apply() takes).
 */
#ifndef CH_ORDER_H
#define CH_ORDER_H

#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "err.h"

/* Most fleet nodes order_set_fleet() keeps (the rest are ignored). */
#define ORDER_MAX_FLEET 100000

struct order;

/* seed: this node's name (NULL means ""); copied. */
struct order *order_new(enum order_mode mode, const char *seed);
struct order *order_free(struct order *o); /* NULL-safe; returns NULL */

enum order_mode order_get_mode(const struct order *o);
const char *order_get_seed(const struct order *o); /* borrowed */

/*
 * The fleet for balanced mode: nodes is a borrowed array of node name
 * strings or of objects with a "Node" string (the catalog node list); the
 * names are copied, sorted and deduplicated. NULL or a non-array clears it.
 */
void order_set_fleet(struct order *o, json_t *nodes);

/* "stable" ... "none" to the mode, or -EINVAL. */
int order_mode_parse(const char *s);
/* The mode's name; "unknown" for an invalid value. */
const char *order_mode_name(enum order_mode m);

/*
 * Reorder list (a borrowed array of service instances, or of strings or
 * numbers for the generic shuffle) in place for key (the service name; ""
 * for the shuffle function). NULL o or list, or a non-array, is a no-op.
 */
void order_apply(const struct order *o, const char *key, json_t *list);

/* The documented hash (above). NULL strings count as "". */
uint64_t order_hash(const char *seed, const char *key, const char *id);

/*
 * Explain a service's spread: for each node of fleet_nodes (borrowed, as
 * for order_set_fleet), the instance it would put first with that node's
 * name as seed, then each instance's first-choice count and share against
 * the ideal. Appended to out as a readable table. instances is borrowed.
 * Returns 0, -EINVAL (bad arguments, e says why) or -E2BIG (out is full).
 */
int order_explain(enum order_mode mode, const char *key, json_t *instances,
                  json_t *fleet_nodes, struct buf *out, struct err *e);

#endif
