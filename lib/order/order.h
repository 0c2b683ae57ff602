/*
 * Per-node order of each name's lines: the reason this project exists.
 *
 * glibc's files backend (and most clients) take the first line that
 * carries a name, so a fleet that writes every name's lines in the same
 * order sends every client to one backend. Templates render exactly what
 * consul-template renders (its order: by node, then ID, so `index (service
 * "db") 0` is the same on every node); order_lines() then orders the
 * checked hosts text: every group of lines that carry the same names (the
 * lines a resolver chooses between) is permuted within the positions it
 * occupies, per node, as a pure function of (seed, names, addresses). The
 * same data gives byte-identical output on a node, other nodes get other
 * orders, and removing an address moves only the nodes that had it first.
 * Lines with names of their own are untouched; outputs of format "text"
 * are never ordered.
 *
 * Modes (enum order_mode in config.h):
 *   stable    rendezvous (HRW) hashing: descending score of each address
 *   weighted  weighted rendezvous: descending w / -ln(u), with u from the
 *             score and w the address's Consul weight as the render
 *             recorded it (Weights.Passing, or Warning for an instance in
 *             warning; 1 when unknown); P(first = a) = w_a / sum(w)
 *   balanced  every node computes the same fleet-wide assignment from the
 *             fleet (order_set_fleet: the catalog's node names), so first
 *             choices differ by at most one between addresses; the rest of
 *             the group follows in the node's stable order. Falls back to
 *             stable when the seed is not a node of the fleet.
 *   random    a new order from getrandom() at every call (rewrites the
 *             file each render; opt-in)
 *   none      the template's order (consul-template's)
 * emit = k keeps the first k lines of each group after ordering.
 *
 * The score, stable across versions and architectures: the first 8 bytes,
 * big-endian, of SHA-256(seed "\0" names "\0" address), where names are
 * the line's names, lower-cased, one space apart, as the line lists them.
 * An operator reproduces it with
 *
 *   printf '%s\0%s\0%s' node-01 foo-app.service.dc1.consul 192.0.2.11 |
 *       sha256sum | cut -c1-16
 *
 * and a node's order for a name is its addresses sorted by that value,
 * highest first (ties, which need equal hashes, by address). In weighted
 * mode u = ((h >> 11) + 0.5) / 2^53 and the score is w / -ln(u). In
 * balanced mode the fleet's nodes are processed in ascending score of
 * ("", names, node); each takes its highest-scoring address (by the
 * score of (node, names, address)) that still has room, where a fleet of
 * N nodes and M addresses lets N mod M addresses take ceil(N/M) nodes and
 * the others floor(N/M).
 *
 * The same machinery orders any list for the template function shuffle
 * (order_apply: key "" and each element's identity instead of names and
 * address).
 *
 * Cost: one SHA-256 block per line (inputs under 56 bytes) and a sort per
 * group. A struct order remembers the scores it computed (a pure function
 * of seed, names and address) and each balanced assignment per (names,
 * fleet, group), bounded at 2^17 entries, so a re-render hashes only what
 * is new. Balanced mode hashes every (node, address) pair of the fleet
 * ahead of this node in the processing order when a group or the fleet
 * changes.
 *
 * Pure module: no I/O except getrandom() in random mode, no logging. Not
 * thread-safe: the memo is written through the const pointer the ordering
 * functions take.
 *
 * Where: order.c orders (items, scores, shuffle, balanced, lines),
 * order_explain.c prints the explain table, memo.h remembers scores.
 */
#ifndef CH_ORDER_H
#define CH_ORDER_H

#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"
#include "hosts/hosts.h"

/* Most fleet nodes order_set_fleet() keeps (the rest are ignored). */
#define ORDER_MAX_FLEET 100000

struct order;

/* seed: this node's name (NULL means ""); copied. */
struct order *order_new(enum order_mode mode, const char *seed);
struct order *order_free(struct order *o); /* NULL-safe; returns NULL */
/* Another seed (the agent's node name, once known); forgets the scores. */
void order_set_seed(struct order *o, const char *seed);

/*
 * The fleet for balanced mode and -explain: nodes is a borrowed array of
 * node name strings or of objects with a "Node" string (the catalog node
 * list); the names are copied, sorted and deduplicated. NULL or a
 * non-array clears it.
 */
void order_set_fleet(struct order *o, json_t *nodes);

/* order_mode_parse() and order_mode_name() are config.h's. */

/*
 * Order d's lines in place (text, lines and index rebuilt), as above.
 * weights (borrowed, may be NULL): address -> Consul weight, for weighted
 * mode. emit > 0 drops each group's lines after the first emit. Lines keep
 * their src, lineno and dynamic fields. Returns 0 or -E2BIG (d unchanged).
 */
int order_lines(const struct order *o, struct hosts_doc *d, json_t *weights,
                unsigned emit);

/*
 * Reorder list (a borrowed array of service instances, or of strings or
 * numbers) in place for key ("" for the shuffle function), with each
 * element's identity: .Node + "/" + .ID for an instance, a string itself,
 * a number its JSON text, anything else its compact JSON text with sorted
 * keys. NULL o or list, or a non-array, is a no-op.
 */
void order_apply(const struct order *o, const char *key, json_t *list);

/*
 * An instance's weight for weighted mode: Weights.Passing, or
 * Weights.Warning when its status is warning, 0 when critical or in
 * maintenance, 1 when it has none (Consul's default) or its status is
 * unknown ("", Consul's findWeight). The status is the record's Status,
 * else its Checks folded by deps.h's health_fold.
 */
uint32_t order_instance_weight(json_t *instance);

/* The documented hash (above). NULL strings count as "". */
uint64_t order_hash(const char *seed, const char *key, const char *id);

/*
 * Explain the groups of d (an unordered, checked render) whose names
 * include name, or, when none does, a name "<name>.service.*": for each
 * node of o's fleet, the address it would put first under o's mode with
 * that node's name as seed, then each address's share of first choices
 * against the ideal, as a readable table appended to out. Returns 0,
 * -ENOENT (no such name), -EINVAL (no fleet) or -E2BIG, with e filled.
 */
int order_explain_lines(const struct order *o, const struct hosts_doc *d,
                        const char *name, json_t *weights, struct buf *out,
                        struct err *e);

#endif
