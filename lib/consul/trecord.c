/*
 * Record schemas: consul-template's dependency structs and the Consul API
 * structs inside them, field for field and in declaration order
 * (consul-template 0.42 dependency/ sources, github.com/hashicorp/consul/api
 * 1.34 health.go and agent.go).
 */
#include "consul/trecord.h"

#include <string.h>

/* clang-format off */
/* field, field with json:",omitempty", consul-hosts extension */
#define F(name, type, kind, go)  {name, type, kind, go, false, false}
#define FO(name, type, kind, go) {name, type, kind, go, true, false}
#define FX(name, type, kind, go) {name, type, kind, go, false, true}
/* clang-format on */
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct trec_field health_service[] = {
        F("Node", TF_STRING, TREC_NONE, "string"),
        F("NodeID", TF_STRING, TREC_NONE, "string"),
        F("NodeAddress", TF_STRING, TREC_NONE, "string"),
        F("NodeTaggedAddresses", TF_STRMAP, TREC_NONE, "map[string]string"),
        F("NodeMeta", TF_STRMAP, TREC_NONE, "map[string]string"),
        F("ServiceMeta", TF_STRMAP, TREC_NONE, "map[string]string"),
        F("Address", TF_STRING, TREC_NONE, "string"),
        F("ServiceTaggedAddresses", TF_VALUEMAP, TREC_SERVICE_ADDRESS,
          "map[string]api.ServiceAddress"),
        F("ID", TF_STRING, TREC_NONE, "string"),
        F("Name", TF_STRING, TREC_NONE, "string"),
        F("Tags", TF_STRLIST, TREC_NONE, "dependency.ServiceTags"),
        F("Checks", TF_PTRLIST, TREC_HEALTH_CHECK, "api.HealthChecks"),
        F("Status", TF_STRING, TREC_NONE, "string"),
        F("Port", TF_INT, TREC_NONE, "int"),
        F("Weights", TF_VALUE, TREC_AGENT_WEIGHTS, "api.AgentWeights"),
        /* consul-hosts' own: the node's datacenter (the shipped templates
         * name services per datacenter); consul-template has no such
         * field, so it is never printed or encoded */
        FX("NodeDatacenter", TF_STRING, TREC_NONE, "string"),
};

static const struct trec_field health_check[] = {
        F("Node", TF_STRING, TREC_NONE, "string"),
        F("CheckID", TF_STRING, TREC_NONE, "string"),
        F("Name", TF_STRING, TREC_NONE, "string"),
        F("Status", TF_STRING, TREC_NONE, "string"),
        F("Notes", TF_STRING, TREC_NONE, "string"),
        F("Output", TF_STRING, TREC_NONE, "string"),
        F("ServiceID", TF_STRING, TREC_NONE, "string"),
        F("ServiceName", TF_STRING, TREC_NONE, "string"),
        F("ServiceTags", TF_STRLIST, TREC_NONE, "[]string"),
        F("Type", TF_STRING, TREC_NONE, "string"),
        FO("Namespace", TF_STRING, TREC_NONE, "string"),
        FO("Partition", TF_STRING, TREC_NONE, "string"),
        F("ExposedPort", TF_INT, TREC_NONE, "int"),
        FO("PeerName", TF_STRING, TREC_NONE, "string"),
        F("Definition", TF_ABSENT, TREC_NONE, "api.HealthCheckDefinition"),
        F("CreateIndex", TF_UINT, TREC_NONE, "uint64"),
        F("ModifyIndex", TF_UINT, TREC_NONE, "uint64"),
};

static const struct trec_field agent_weights[] = {
        F("Passing", TF_INT, TREC_NONE, "int"),
        F("Warning", TF_INT, TREC_NONE, "int"),
};

static const struct trec_field service_address[] = {
        F("Address", TF_STRING, TREC_NONE, "string"),
        F("Port", TF_INT, TREC_NONE, "int"),
};

static const struct trec_field node[] = {
        F("ID", TF_STRING, TREC_NONE, "string"),
        F("Node", TF_STRING, TREC_NONE, "string"),
        F("Address", TF_STRING, TREC_NONE, "string"),
        F("Datacenter", TF_STRING, TREC_NONE, "string"),
        F("TaggedAddresses", TF_STRMAP, TREC_NONE, "map[string]string"),
        F("Meta", TF_STRMAP, TREC_NONE, "map[string]string"),
};

static const struct trec_field catalog_node[] = {
        F("Node", TF_PTR, TREC_NODE, "*dependency.Node"),
        F("Services", TF_PTRLIST, TREC_CATALOG_NODE_SERVICE,
          "[]*dependency.CatalogNodeService"),
};

static const struct trec_field catalog_node_service[] = {
        F("ID", TF_STRING, TREC_NONE, "string"),
        F("Service", TF_STRING, TREC_NONE, "string"),
        F("Tags", TF_STRLIST, TREC_NONE, "dependency.ServiceTags"),
        F("Meta", TF_STRMAP, TREC_NONE, "map[string]string"),
        F("Port", TF_INT, TREC_NONE, "int"),
        F("Address", TF_STRING, TREC_NONE, "string"),
        F("EnableTagOverride", TF_BOOL, TREC_NONE, "bool"),
};

static const struct trec_field catalog_snippet[] = {
        F("Name", TF_STRING, TREC_NONE, "string"),
        F("Tags", TF_STRLIST, TREC_NONE, "dependency.ServiceTags"),
};

static const struct trec_field key_pair[] = {
        F("Path", TF_STRING, TREC_NONE, "string"),
        F("Key", TF_STRING, TREC_NONE, "string"),
        F("Value", TF_STRING, TREC_NONE, "string"),
        F("CreateIndex", TF_UINT, TREC_NONE, "uint64"),
        F("ModifyIndex", TF_UINT, TREC_NONE, "uint64"),
        F("LockIndex", TF_UINT, TREC_NONE, "uint64"),
        F("Flags", TF_UINT, TREC_NONE, "uint64"),
        F("Session", TF_STRING, TREC_NONE, "string"),
};

#define S(kind, go, slice, ptr, fields) \
	[kind] = {kind, go, slice, ptr, fields, N(fields)}

static const struct trec_schema schemas[TREC_NKINDS] = {
        S(TREC_HEALTH_SERVICE, "*dependency.HealthService",
          "[]*dependency.HealthService", true, health_service),
        S(TREC_HEALTH_CHECK, "*api.HealthCheck", "[]*api.HealthCheck", true,
          health_check),
        S(TREC_AGENT_WEIGHTS, "api.AgentWeights", "[]api.AgentWeights", false,
          agent_weights),
        S(TREC_SERVICE_ADDRESS, "api.ServiceAddress", "[]api.ServiceAddress",
          false, service_address),
        S(TREC_NODE, "*dependency.Node", "[]*dependency.Node", true, node),
        S(TREC_CATALOG_NODE, "*dependency.CatalogNode",
          "[]*dependency.CatalogNode", true, catalog_node),
        S(TREC_CATALOG_NODE_SERVICE, "*dependency.CatalogNodeService",
          "[]*dependency.CatalogNodeService", true, catalog_node_service),
        S(TREC_CATALOG_SNIPPET, "*dependency.CatalogSnippet",
          "[]*dependency.CatalogSnippet", true, catalog_snippet),
        S(TREC_KEY_PAIR, "*dependency.KeyPair", "[]*dependency.KeyPair", true,
          key_pair),
};

json_t *trec_new(enum trec_kind kind)
{
	json_t *o = json_object();

	json_object_setn_new_nocheck(o, TREC_MARK, TREC_MARK_LEN,
	                             json_integer(kind));
	return o;
}

json_t *trec_zero(enum trec_kind kind)
{
	const struct trec_schema *s = trec_schema(kind);
	json_t *o = trec_new(kind);

	for (size_t i = 0; s != NULL && i < s->nfields; i++) {
		const struct trec_field *f = &s->fields[i];
		json_t *v = NULL;

		switch (f->type) {
		case TF_STRING:
			v = json_string("");
			break;
		case TF_INT:
		case TF_UINT:
			v = json_integer(0);
			break;
		case TF_BOOL:
			v = json_false();
			break;
		case TF_STRMAP:
		case TF_VALUEMAP:
			v = json_object();
			break;
		case TF_STRLIST:
		case TF_PTRLIST:
			v = json_array();
			break;
		case TF_VALUE:
			v = trec_zero(f->kind);
			break;
		case TF_PTR:
			v = json_null();
			break;
		case TF_ABSENT:
			break;
		}
		if (v != NULL)
			json_object_set_new(o, f->name, v);
	}
	return o;
}

bool trec_is_mark(const char *key, size_t len)
{
	return len == TREC_MARK_LEN && key[0] == '\0';
}

const struct trec_schema *trec_schema(enum trec_kind kind)
{
	if (kind <= TREC_NONE || kind >= TREC_NKINDS)
		return NULL;
	return &schemas[kind];
}

const struct trec_field *trec_field(const struct trec_schema *s,
                                    const char *name)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i].name, name) == 0)
			return &s->fields[i];
	return NULL;
}
