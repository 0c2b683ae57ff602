/*
 * The Consul data functions of consul-template: nodes, services, service,
 * connect, node, datacenters, key, keyExists, keyOrDefault, ls, tree,
 * safeLs, safeTree, and the grouping helpers byTag and byMeta. Their values
 * are records (trecord.h), consul-template's structs.
 *
 * Each data function builds a dep from its arguments (spec errors become
 * the call's error), asks env->lookup for its data and returns a new
 * reference: the empty value of its type while there is no data yet (the
 * caller, which saw the lookup fail, knows the pass is incomplete).
 */
#include "template/funcs_consul.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "consul/deps.h"
#include "consul/trec_read.h"
#include "base/xmalloc.h"

#define BYMETA_MAX_KEYS 16 /* comma-separated meta keys of one byMeta */

static const char *type_name(json_t *v)
{
	if (v == NULL)
		return "nil";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "map";
	case JSON_ARRAY:
		return "list";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "int";
	case JSON_REAL:
		return "float";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	case JSON_NULL:
		return "nil";
	}
	return "value";
}

/*
 * Join the string arguments with sep into a spec (new string); NULL with
 * c->err set when one is not a string.
 */
static char *join_args(struct fcall *c, json_t *const *args, size_t nargs,
                       const char *sep)
{
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < nargs; i++) {
		if (!json_is_string(args[i])) {
			err_msg(c->err, -EINVAL,
			        "argument %zu: expected a string, got %s",
			        i + 1, type_name(args[i]));
			buf_free(&b);
			return NULL;
		}
		if (i > 0)
			buf_puts(&b, sep);
		buf_append(&b, json_string_value(args[i]),
		           json_string_length(args[i]));
	}
	if (memchr(buf_str(&b), '\0', b.len) != NULL) {
		err_msg(c->err, -EINVAL, "NUL byte in an argument");
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b, NULL);
}

/*
 * Look up the data of kind/spec: *ret_data is borrowed (NULL while there is
 * none). The dep, when kv_block, waits for the key to exist.
 */
static int fetch(struct fcall *c, enum dep_kind kind, const char *spec,
                 bool kv_block, json_t **ret_data)
{
	struct dep *d;
	int r;

	if ((r = dep_new(kind, spec, &d, c->err)) < 0)
		return r;
	if (kv_block)
		dep_kv_block(d);
	dep_set_checks(d, c->env->checks);
	*ret_data = c->env->lookup(c->env->ctx, d);
	dep_free(d);
	return 0;
}

static int fetch_args(struct fcall *c, enum dep_kind kind, json_t *const *args,
                      size_t nargs, const char *sep, json_t **ret_data)
{
	char *spec = join_args(c, args, nargs, sep);
	int r;

	if (spec == NULL)
		return -EINVAL;
	r = fetch(c, kind, spec, false, ret_data);
	free(spec);
	return r;
}

/* A new reference to data when it is an array, else to []. */
static json_t *list_or_empty(json_t *data)
{
	return json_is_array(data) ? json_incref(data) : json_array();
}

static int fn_nodes(struct fcall *c, json_t *const *args, size_t nargs,
                    json_t **ret)
{
	json_t *data;
	int r = fetch_args(c, DEP_CATALOG_NODES, args, nargs, "", &data);

	if (r == 0)
		*ret = list_or_empty(data);
	return r;
}

static int fn_services(struct fcall *c, json_t *const *args, size_t nargs,
                       json_t **ret)
{
	json_t *data;
	int r = fetch_args(c, DEP_CATALOG_SERVICES, args, nargs, "", &data);

	if (r == 0)
		*ret = list_or_empty(data);
	return r;
}

/*
 * service and connect: the instances in consul-template's order (by node,
 * then ID), the same on every node. The per-node order is applied to the
 * rendered lines (order.h); weighted ordering learns each instance's
 * address and weight here (env->weigh).
 */
static int health_list(struct fcall *c, enum dep_kind kind, json_t *const *args,
                       size_t nargs, json_t **ret)
{
	json_t *data, *v;
	size_t i;
	int r = fetch_args(c, kind, args, nargs, "|", &data);

	if (r < 0)
		return r;
	if (c->env->weigh != NULL && json_is_array(data))
		json_array_foreach(data, i, v) c->env->weigh(c->env->ctx, v);
	*ret = list_or_empty(data);
	return 0;
}

static int fn_service(struct fcall *c, json_t *const *args, size_t nargs,
                      json_t **ret)
{
	return health_list(c, DEP_HEALTH_SERVICE, args, nargs, ret);
}

static int fn_connect(struct fcall *c, json_t *const *args, size_t nargs,
                      json_t **ret)
{
	return health_list(c, DEP_HEALTH_CONNECT, args, nargs, ret);
}

static int fn_node(struct fcall *c, json_t *const *args, size_t nargs,
                   json_t **ret)
{
	char *spec = join_args(c, args, nargs, "");
	json_t *data = NULL, *self;
	int r = 0;

	if (spec == NULL)
		return -EINVAL;
	if (spec[0] == '\0' || spec[0] == '@') {
		/* No name: the local agent's node, as consul-template does. */
		const char *name;
		char *full;

		if ((r = fetch(c, DEP_AGENT_SELF, "", false, &self)) < 0)
			goto out;
		name = json_string_value(json_object_get(self, "Node"));
		if (name == NULL)
			goto out;
		full = xasprintf("%s%s", name, spec);
		free(spec);
		spec = full;
	}
	r = fetch(c, DEP_CATALOG_NODE, spec, false, &data);
out:
	free(spec);
	if (r == 0)
		*ret = data != NULL ? json_incref(data) : json_null();
	return r;
}

static int fn_datacenters(struct fcall *c, json_t *const *args, size_t nargs,
                          json_t **ret)
{
	json_t *data;
	int r;

	if (nargs > 0 && !json_is_boolean(args[0]))
		return err_msg(c->err, -EINVAL,
		               "argument 1: expected a bool, got %s",
		               type_name(args[0]));
	if (nargs > 0 && json_is_true(args[0]))
		return err_msg(c->err, -ENOTSUP,
		               "skipping datacenters without a leader "
		               "(true) is not supported");
	if ((r = fetch(c, DEP_DATACENTERS, "", false, &data)) == 0)
		*ret = list_or_empty(data);
	return r;
}

/* The key's value (borrowed), NULL when it has no data or does not exist. */
static int key_value(struct fcall *c, json_t *arg, bool kv_block,
                     json_t **ret_value)
{
	char *spec = join_args(c, &arg, 1, "");
	json_t *data;
	int r;

	if (spec == NULL)
		return -EINVAL;
	r = fetch(c, DEP_KV_GET, spec, kv_block, &data);
	free(spec);
	if (r == 0)
		*ret_value = json_is_string(data) ? data : NULL;
	return r;
}

static int fn_key(struct fcall *c, json_t *const *args, size_t nargs,
                  json_t **ret)
{
	json_t *v;
	int r = key_value(c, args[0], true, &v);

	(void)nargs;
	if (r == 0)
		*ret = v != NULL ? json_incref(v) : json_string("");
	return r;
}

static int fn_key_exists(struct fcall *c, json_t *const *args, size_t nargs,
                         json_t **ret)
{
	json_t *v;
	int r = key_value(c, args[0], false, &v);

	(void)nargs;
	if (r == 0)
		*ret = json_boolean(v != NULL);
	return r;
}

static int fn_key_or_default(struct fcall *c, json_t *const *args, size_t nargs,
                             json_t **ret)
{
	json_t *v;
	int r;

	(void)nargs;
	if (!json_is_string(args[1]))
		return err_msg(c->err, -EINVAL,
		               "argument 2: expected a string, got %s",
		               type_name(args[1]));
	/* consul-template gives the default for an empty value too */
	if ((r = key_value(c, args[0], false, &v)) == 0)
		*ret = json_incref(
		        v != NULL && json_string_length(v) > 0 ? v : args[1]);
	return r;
}

/* ls keeps the top-level keys only; tree every key (folders are never
 * decoded). safe: an empty prefix is an error rather than an empty list. */
static int kv_list(struct fcall *c, json_t *const *args, bool top_level,
                   bool safe, json_t **ret)
{
	json_t *data, *out, *kv;
	size_t i;
	int r = fetch_args(c, DEP_KV_LIST, args, 1, "", &data);

	if (r < 0)
		return r;
	out = json_array();
	json_array_foreach(data, i, kv)
	{
		json_t *key = trec_member(kv, "Key");

		if (top_level && (json_string_length(key) == 0 ||
		                  memchr(json_string_value(key), '/',
		                         json_string_length(key)) != NULL))
			continue;
		json_array_append(out, kv);
	}
	if (safe && data != NULL && json_array_size(out) == 0) {
		json_decref(out);
		return err_msg(
		        c->err, -ENODATA,
		        "no keys under prefix \"%s\"; refusing to render",
		        json_string_value(args[0]));
	}
	*ret = out;
	return 0;
}

static int fn_ls(struct fcall *c, json_t *const *args, size_t nargs,
                 json_t **ret)
{
	(void)nargs;
	return kv_list(c, args, true, false, ret);
}

static int fn_tree(struct fcall *c, json_t *const *args, size_t nargs,
                   json_t **ret)
{
	(void)nargs;
	return kv_list(c, args, false, false, ret);
}

static int fn_safe_ls(struct fcall *c, json_t *const *args, size_t nargs,
                      json_t **ret)
{
	(void)nargs;
	return kv_list(c, args, true, true, ret);
}

static int fn_safe_tree(struct fcall *c, json_t *const *args, size_t nargs,
                        json_t **ret)
{
	(void)nargs;
	return kv_list(c, args, false, true, ret);
}

/* Append v to the list under key in groups, creating it. */
static void group_add(json_t *groups, const char *key, size_t klen, json_t *v)
{
	json_t *list = json_object_getn(groups, key, klen);

	if (list == NULL) {
		list = json_array();
		json_object_setn_new_nocheck(groups, key, klen, list);
	}
	json_array_append(list, v);
}

/* groups with its keys in sorted order (new reference; steals groups). */
static json_t *sorted_object(json_t *groups)
{
	size_t n = json_object_size(groups), i = 0, klen;
	const char **keys = xreallocarray(NULL, n ? n : 1, sizeof(*keys));
	json_t *out = json_object(), *v;
	const char *k;

	json_object_foreach(groups, k, v)
	{
		keys[i++] = k;
	}
	for (i = 1; i < n; i++) {
		const char *x = keys[i];
		size_t j = i;

		while (j > 0 && strcmp(keys[j - 1], x) > 0) {
			keys[j] = keys[j - 1];
			j--;
		}
		keys[j] = x;
	}
	for (i = 0; i < n; i++) {
		klen = strlen(keys[i]);
		json_object_setn_nocheck(
		        out, keys[i], klen,
		        json_object_getn(groups, keys[i], klen));
	}
	free(keys);
	json_decref(groups);
	return out;
}

static int fn_by_tag(struct fcall *c, json_t *const *args, size_t nargs,
                     json_t **ret)
{
	json_t *groups, *s, *t;
	size_t i, j;

	(void)nargs;
	if (json_is_null(args[0])) {
		*ret = json_object();
		return 0;
	}
	if (!json_is_array(args[0]))
		return err_msg(c->err, -EINVAL,
		               "expected a list of services, got %s",
		               type_name(args[0]));
	groups = json_object();
	for (i = 0; i < json_array_size(args[0]); i++) {
		json_t *tags;

		s = json_array_get(args[0], i);
		tags = trec_member(s, "Tags");
		for (j = 0; j < json_array_size(tags); j++) {
			t = json_array_get(tags, j);
			if (json_is_string(t))
				group_add(groups, json_string_value(t),
				          json_string_length(t), s);
		}
	}
	*ret = sorted_object(groups);
	return 0;
}

/* consul-template's normalize: [^a-zA-Z0-9_-] becomes '_'. */
static void put_normalized(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool keep = (ch >= 'a' && ch <= 'z') ||
		            (ch >= 'A' && ch <= 'Z') ||
		            (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';

		buf_putc(b, keep ? ch : '_');
	}
}

/*
 * The group key of service s for byMeta's comma-separated meta keys
 * ("version", "zone,weight|int"), as consul-template builds it.
 */
static int meta_group_key(struct fcall *c, json_t *s, const char *spec,
                          struct buf *key)
{
	json_t *meta = trec_member(s, "ServiceMeta");
	const char *p = spec;
	int nkeys = 0;

	buf_reset(key);
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		bool as_int = n >= 4 && memcmp(p + n - 4, "|int", 4) == 0;
		size_t kn = as_int ? n - 4 : n;
		char *k = xstrndup(p, kn);
		json_t *v = json_object_get(meta, k);
		const char *val = json_string_value(v);

		if (++nkeys > BYMETA_MAX_KEYS) {
			free(k);
			return err_msg(c->err, -EINVAL,
			               "more than %d meta keys",
			               BYMETA_MAX_KEYS);
		}
		if (nkeys > 1)
			buf_putc(key, '_');
		if (as_int) {
			char *end;
			long long i = 0;

			if (val != NULL && val[0] != '\0') {
				i = strtoll(val, &end, 10);
				if (*end != '\0' || end == val) {
					err_msg(c->err, -EINVAL,
					        "cannot parse \"%.64s\" of %s "
					        "as a number",
					        val, k);
					free(k);
					return -EINVAL;
				}
			}
			buf_printf(key, "%05lld", i);
		} else if (val != NULL && val[0] != '\0') {
			put_normalized(key, val, json_string_length(v));
		} else {
			buf_puts(key, "_no_");
			put_normalized(key, k, kn);
			buf_putc(key, '_');
		}
		free(k);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

static int fn_by_meta(struct fcall *c, json_t *const *args, size_t nargs,
                      json_t **ret)
{
	json_t *groups, *s;
	struct buf key;
	size_t i;
	int r = 0;

	(void)nargs;
	if (!json_is_string(args[0]))
		return err_msg(c->err, -EINVAL,
		               "argument 1: expected a string, got %s",
		               type_name(args[0]));
	if (!json_is_array(args[1]) && !json_is_null(args[1]))
		return err_msg(c->err, -EINVAL,
		               "argument 2: expected a list of services, "
		               "got %s",
		               type_name(args[1]));
	groups = json_object();
	buf_init(&key, 0);
	json_array_foreach(args[1], i, s)
	{
		if ((r = meta_group_key(c, s, json_string_value(args[0]),
		                        &key)) < 0)
			break;
		group_add(groups, buf_str(&key), key.len, s);
	}
	buf_free(&key);
	if (r < 0) {
		json_decref(groups);
		return r;
	}
	*ret = sorted_object(groups);
	return 0;
}

const struct func_def funcs_consul[] = {
        {"nodes", fn_nodes, 0, -1},
        {"services", fn_services, 0, -1},
        {"service", fn_service, 1, -1},
        {"connect", fn_connect, 1, -1},
        {"node", fn_node, 0, -1},
        {"datacenters", fn_datacenters, 0, 1},
        {"key", fn_key, 1, 1},
        {"keyExists", fn_key_exists, 1, 1},
        {"keyOrDefault", fn_key_or_default, 2, 2},
        {"ls", fn_ls, 1, 1},
        {"tree", fn_tree, 1, 1},
        {"safeLs", fn_safe_ls, 1, 1},
        {"safeTree", fn_safe_tree, 1, 1},
        {"byTag", fn_by_tag, 1, 1},
        {"byMeta", fn_by_meta, 2, 2},
        {NULL, NULL, 0, 0},
};
