/*
 * libFuzzer target for the Consul response decoders (dep_decode).
 *
 * The first byte picks the dependency kind (and, for KV, a 404), the rest
 * is the body (0x7f: spec mode, below). A blob of compact records is read
 * back through a view (crec_expand), so the reader is fuzzed too. Besides
 * memory errors, it checks the promise the decoders make to the hosts file:
 * every node or service record that survives has an IP literal address and a
 * valid host name, and no string or object key anywhere in a decoded value
 * holds a control byte (NUL, CR, LF, ..., DEL) except KV values, which are raw
 * bytes.
 *
 *   cmake -S . -B build-fuzz -DFUZZ=ON -DCMAKE_C_COMPILER=clang
 *   cmake --build build-fuzz --target fuzz_decode
 *   ./build-fuzz/tests/fuzz_decode -max_total_time=60 \
 *           tests/fuzz/corpus/decode
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consul/crec.h"
#include "consul/deps.h"
#include "hosts/hosts.h"
#include "consul/trecord.h"

static const struct {
	enum dep_kind kind;
	const char *spec;
} targets[] = {
        {DEP_CATALOG_NODES, ""},     {DEP_CATALOG_SERVICES, ""},
        {DEP_CATALOG_NODE, "web-2"}, {DEP_HEALTH_SERVICE, "web|any"},
        {DEP_DATACENTERS, ""},       {DEP_KV_GET, "hostsd/leader"},
        {DEP_KV_LIST, "hostsd"},     {DEP_AGENT_SELF, ""},
        {DEP_HEALTH_SERVICE, "web"}, {DEP_CATALOG_NODES, "~_agent"},
};
#define NTARGETS (sizeof(targets) / sizeof(targets[0]))

static void check_string(json_t *o, const char *key, bool addr)
{
	json_t *s = json_object_get(o, key);
	const char *v = json_string_value(s);
	size_t n = json_string_length(s);

	if (v == NULL)
		abort();
	if (addr ? !hosts_addr_ok(v, n, false) : !hosts_name_ok(v, n))
		abort();
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Recursively: no control byte in a string or key; kv_value exempts v. */
static void check_one_line(json_t *v, bool kv_value)
{
	const char *k, *s;
	size_t i, n;
	json_t *x;

	if (json_is_string(v) && !kv_value) {
		s = json_string_value(v);
		n = json_string_length(v);
		for (i = 0; i < n; i++)
			if (is_control((unsigned char)s[i]))
				abort();
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
		{
			check_one_line(x, false);
		}
	} else if (json_is_object(v)) {
		json_object_keylen_foreach(v, k, n, x)
		{
			if (trec_is_mark(k, n)) /* a record's hidden kind */
				continue;
			for (i = 0; i < n; i++)
				if (is_control((unsigned char)k[i]))
					abort();
			check_one_line(x, false);
		}
	}
}

/* Every string is one line, but for the KV values (raw bytes): a KV_GET
 * value is those bytes, KV_LIST records carry theirs under "Value". */
static void check_decoded(enum dep_kind kind, json_t *v)
{
	json_t *rec, *x;
	const char *k;
	size_t i;

	if (kind == DEP_KV_GET)
		return;
	if (kind != DEP_KV_LIST) {
		check_one_line(v, false);
		return;
	}
	json_array_foreach(v, i, rec)
	{
		if (!json_is_object(rec))
			abort();
		json_object_foreach(rec, k, x)
		{
			check_one_line(x, strcmp(k, "Value") == 0);
		}
	}
}

static void check_records(enum dep_kind kind, json_t *v)
{
	json_t *r;
	size_t i;

	switch (kind) {
	case DEP_CATALOG_NODES:
	case DEP_HEALTH_SERVICE:
		json_array_foreach(v, i, r)
		{
			check_string(r, "Node", false);
			check_string(r, "Address", true);
			if (kind == DEP_HEALTH_SERVICE)
				check_string(r, "Name", false);
		}
		break;
	case DEP_CATALOG_SERVICES:
		json_array_foreach(v, i, r)
		{
			check_string(r, "Name", false);
		}
		break;
	case DEP_CATALOG_NODE:
		if (!json_is_null(json_object_get(v, "Node"))) {
			check_string(json_object_get(v, "Node"), "Node", false);
			check_string(json_object_get(v, "Node"), "Address",
			             true);
		}
		break;
	default:
		break;
	}
}

/*
 * Spec mode (first byte 0x7f): the second byte picks a kind, the rest is a
 * spec. A parsed spec must give an id and a request path free of spaces
 * and control bytes; a refused one must say why.
 */
static void fuzz_spec(const uint8_t *data, size_t size)
{
	char spec[1100];
	size_t n = size - 2 < sizeof(spec) - 1 ? size - 2 : sizeof(spec) - 1;
	struct dep *d = NULL, *c;
	struct err e;
	char *path;

	memcpy(spec, data + 2, n);
	spec[n] = '\0';
	err_clear(&e);
	if (dep_new((enum dep_kind)(data[1] % 8), spec, &d, &e) != 0) {
		if (d != NULL || e.msg[0] == '\0')
			abort();
		return;
	}
	path = dep_request_path(d);
	for (const char *p = path; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			abort();
	c = dep_dup(d);
	if (dep_id(d)[0] == '\0' || strcmp(dep_id(c), dep_id(d)) != 0)
		abort();
	free(path);
	dep_free(c);
	dep_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dep *d;
	struct err e;
	json_t *v = NULL, *dropped;
	unsigned pick;
	long status;

	if (size < 1)
		return 0;
	if (data[0] == 0x7f && size >= 2) {
		fuzz_spec(data, size);
		return 0;
	}
	pick = data[0] % NTARGETS;
	status = (data[0] & 0x80) ? 404 : 200;
	if (dep_new(targets[pick].kind, targets[pick].spec, &d, &e) != 0)
		abort();
	dropped = json_array();
	if (dep_decode(d, status, (const char *)data + 1, size - 1, &v, dropped,
	               &e) == 0) {
		/* A blob of compact records, read back as plain values. */
		json_t *x = crec_is_blob(v) && dep_id_compact(dep_id(d))
		                    ? crec_expand(v)
		                    : json_incref(v);

		check_records(targets[pick].kind, x);
		check_decoded(targets[pick].kind, x);
		json_decref(x);
		json_decref(v);
	} else if (v != NULL) {
		abort(); /* nothing is returned on error */
	}
	json_decref(dropped);
	dep_free(d);
	return 0;
}
