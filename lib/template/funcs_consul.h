/*
 * The Consul data functions of consul-template (nodes, services, service,
 * connect, node, datacenters, key, keyExists, keyOrDefault, ls, tree,
 * safeLs, safeTree, byTag, byMeta): each builds a dependency (deps.h)
 * from its arguments, asks env->lookup for its data and returns what
 * consul-template returns; no data yet gives the empty value of its type
 * (the caller, which saw the lookup fail, knows the pass is incomplete).
 */
#ifndef CH_FUNCS_CONSUL_H
#define CH_FUNCS_CONSUL_H

#include "template/fcall.h"

/* Ends with a { NULL } entry. */
extern const struct func_def funcs_consul[];

#endif
