/*
 * Records: Consul data as consul-template's Go structs.
 *
 * consul-template hands templates Go structs (*dependency.HealthService,
 * *dependency.Node, api.AgentWeights, ...), not maps: a field that is not
 * in the struct is an error naming the field and the type ("can't evaluate
 * field Nmae in type *dependency.HealthService"), printing one gives Go's
 * struct form ({10 1}, &{web [a b]}), toJSON lists the fields in
 * declaration order. This module is the one place that knows those types:
 * one schema per kind (Go type name, pointer or value, fields in order
 * with their Go types). Everything else asks it.
 *
 * A record is one of two things, read alike through trec_read.h:
 *  - a compact record (crec.h): a handle into a decoded Consul answer,
 *    which is how every record from Consul reaches a template;
 *  - a jansson object made by trec_new(): its first key is the hidden
 *    TREC_MARK ("\0", which no Consul or Go field name can be) holding
 *    the kind; the other keys are the fields, each present. This is how
 *    zero values (trec_zero) and expanded answers (crec_expand) are made.
 * Objects without the mark are Go maps.
 *
 * Pure module: no I/O, no logging.
 */
#ifndef CH_TRECORD_H
#define CH_TRECORD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define TREC_MARK     "\0"
#define TREC_MARK_LEN 1

enum trec_kind {
	TREC_NONE = 0,
	TREC_HEALTH_SERVICE,  /* *dependency.HealthService (service, connect) */
	TREC_HEALTH_CHECK,    /* *api.HealthCheck (HealthService.Checks) */
	TREC_AGENT_WEIGHTS,   /* api.AgentWeights (a value) */
	TREC_SERVICE_ADDRESS, /* api.ServiceAddress (a value) */
	TREC_NODE,            /* *dependency.Node (nodes, CatalogNode.Node) */
	TREC_CATALOG_NODE,    /* *dependency.CatalogNode (node) */
	TREC_CATALOG_NODE_SERVICE, /* *dependency.CatalogNodeService */
	TREC_CATALOG_SNIPPET,      /* *dependency.CatalogSnippet (services) */
	TREC_KEY_PAIR,             /* *dependency.KeyPair (ls, tree) */
	TREC_NKINDS,
};

enum trec_ftype {
	TF_STRING,
	TF_INT,  /* int */
	TF_UINT, /* uint64 */
	TF_BOOL,
	TF_STRMAP,   /* map[string]string */
	TF_STRLIST,  /* []string, dependency.ServiceTags */
	TF_VALUE,    /* a struct value of kind */
	TF_PTR,      /* a pointer to kind; json null for nil */
	TF_PTRLIST,  /* a slice of pointers to kind */
	TF_VALUEMAP, /* map[string] of struct values of kind */
	TF_ABSENT,   /* in the Go struct, not kept by consul-hosts */
};

struct trec_field {
	const char *name;
	enum trec_ftype type;
	enum trec_kind kind; /* for TF_VALUE, TF_PTR, TF_PTRLIST, TF_VALUEMAP */
	const char *go_type; /* "dependency.ServiceTags" */
	bool omitempty;      /* json:",omitempty": toJSON leaves "" out */
	bool extension;      /* consul-hosts only: readable, never printed */
};

struct trec_schema {
	enum trec_kind kind;
	const char
	        *go_type; /* "*dependency.HealthService", "api.AgentWeights" */
	const char *slice_go_type; /* "[]*dependency.HealthService" */
	bool pointer;              /* handed around as a pointer */
	const struct trec_field *fields;
	size_t nfields;
};

/* A new record of kind with only its mark: the caller sets every field. */
json_t *trec_new(enum trec_kind kind);
/* A new record of kind with every field at its Go zero value. */
json_t *trec_zero(enum trec_kind kind);
const struct trec_schema *trec_schema(enum trec_kind kind);
/* The field called name, or NULL when the Go struct has none. */
const struct trec_field *trec_field(const struct trec_schema *s,
                                    const char *name);
/* Whether key (len bytes) is the mark, for code that walks object keys. */
bool trec_is_mark(const char *key, size_t len);

#endif
