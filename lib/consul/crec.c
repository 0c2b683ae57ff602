/*
 * Compact records: the builder, the blob layout and the view.
 *
 * A reference is 32 bits: a 3-bit tag and a 29-bit payload.
 *
 *   CT_STR   index in the string table      CT_INT/CT_REAL index in numbers
 *   CT_NODE  word offset of a node          CT_IMM 0 null, 1 false, 2 true
 *
 * A node is a run of 32-bit words: word 0 is its type (NT_*) with, for a
 * record, its kind in bits 8-15; word 1 its number (its slot in a view's
 * cache comes after the strings' and the numbers'); then a record's field
 * references (one per schema field), or a list's count and items, or a
 * map's count and (key string index, value reference) pairs.
 *
 * The blob (all 32-bit words little or big endian as the host, read with
 * memcpy): a header of CREC_HDR_WORDS words, the string table (offset,
 * length pairs), the numbers (64 bits each), the nodes, the string bytes
 * (each NUL-terminated). Only crec_finish() writes one and only a view
 * reads one, in the same process.
 */
#include "consul/crec.h"

#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

enum { CT_STR, CT_INT, CT_REAL, CT_NODE, CT_IMM };
enum { NT_REC = 1, NT_LIST, NT_MAP };

#define CREC_MAGIC       0x31455243u /* "CRE1" */
#define CREC_HDR_WORDS   10
#define CREC_MAX_PAYLOAD ((1u << 29) - 1)

#define REF(tag, payload) ((crec_ref)((uint32_t)(payload) << 3 | (tag)))
#define TAG(r)            ((r)&7u)
#define PAYLOAD(r)        ((r) >> 3)

/* ---- hashing ---------------------------------------------------------- */

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull);

	while (n >= 8) {
		uint64_t x;

		memcpy(&x, s, 8);
		h = (h ^ x) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	if (n > 0) {
		uint64_t x = 0;

		memcpy(&x, s, n);
		h = (h ^ x) * 0x9e3779b97f4a7c15ull;
	}
	return mix(h);
}

/* An open-addressing set of indexes, keyed by what they index. */
struct tab {
	struct tab_slot {
		uint64_t hash;
		uint32_t idx; /* UINT32_MAX: empty */
	} * slots;
	size_t cap, count;
};

static void tab_free(struct tab *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static void tab_grow(struct tab *t)
{
	struct tab_slot *old = t->slots;
	size_t oldcap = t->cap;

	t->cap = oldcap ? oldcap * 2 : 64;
	t->slots = xreallocarray(NULL, t->cap, sizeof(*t->slots));
	for (size_t i = 0; i < t->cap; i++)
		t->slots[i].idx = UINT32_MAX;
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (old[i].idx == UINT32_MAX)
			continue;
		for (j = old[i].hash & (t->cap - 1);
		     t->slots[j].idx != UINT32_MAX; j = (j + 1) & (t->cap - 1))
			;
		t->slots[j] = old[i];
	}
	free(old);
}

/* ---- the builder ------------------------------------------------------ */

struct crec_builder {
	uint32_t *w; /* nodes */
	size_t nw, capw;
	uint32_t nnodes;
	char *bytes; /* string bytes, NUL after each */
	size_t nb, capb;
	struct strent {
		uint32_t off, len;
	} * strs;
	size_t ns, caps;
	struct num {
		uint64_t bits;
		uint32_t real;
	} * nums;
	size_t nn, capn;
	struct tab strtab, numtab, nodetab;
	bool overflow; /* a payload would not fit: the answer is too large */
};

struct crec_builder *crec_builder_new(void)
{
	return xcalloc(1, sizeof(struct crec_builder));
}

struct crec_builder *crec_builder_free(struct crec_builder *b)
{
	if (b == NULL)
		return NULL;
	free(b->w);
	free(b->bytes);
	free(b->strs);
	free(b->nums);
	tab_free(&b->strtab);
	tab_free(&b->numtab);
	tab_free(&b->nodetab);
	free(b);
	return NULL;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap;

	if (need <= c)
		return p;
	while (c < need)
		c = c < 64 ? 64 : c * 2;
	*cap = c;
	return xreallocarray(p, c, size);
}

static crec_ref make_ref(struct crec_builder *b, unsigned tag, size_t payload)
{
	if (payload > CREC_MAX_PAYLOAD) {
		b->overflow = true;
		return crec_null();
	}
	return REF(tag, payload);
}

crec_ref crec_null(void)
{
	return REF(CT_IMM, 0);
}

crec_ref crec_bool(bool v)
{
	return REF(CT_IMM, v ? 2 : 1);
}

crec_ref crec_str(struct crec_builder *b, const char *s, size_t n)
{
	uint64_t h = hash_bytes(s, n, 1);
	size_t j;

	if ((b->strtab.count + 1) * 2 > b->strtab.cap)
		tab_grow(&b->strtab);
	for (j = h & (b->strtab.cap - 1); b->strtab.slots[j].idx != UINT32_MAX;
	     j = (j + 1) & (b->strtab.cap - 1)) {
		const struct strent *x = &b->strs[b->strtab.slots[j].idx];

		if (b->strtab.slots[j].hash == h && x->len == n &&
		    memcmp(b->bytes + x->off, s, n) == 0)
			return REF(CT_STR, b->strtab.slots[j].idx);
	}
	if (b->ns > CREC_MAX_PAYLOAD || b->nb + n + 1 > UINT32_MAX) {
		b->overflow = true;
		return crec_null();
	}
	b->bytes = grow(b->bytes, &b->capb, b->nb + n + 1, 1);
	memcpy(b->bytes + b->nb, s, n);
	b->bytes[b->nb + n] = '\0';
	b->strs = grow(b->strs, &b->caps, b->ns + 1, sizeof(*b->strs));
	b->strs[b->ns].off = (uint32_t)b->nb;
	b->strs[b->ns].len = (uint32_t)n;
	b->nb += n + 1;
	b->strtab.slots[j].hash = h;
	b->strtab.slots[j].idx = (uint32_t)b->ns;
	b->strtab.count++;
	return make_ref(b, CT_STR, b->ns++);
}

static crec_ref num(struct crec_builder *b, uint64_t bits, bool real)
{
	uint64_t h = mix(bits ^ (real ? 0x5555u : 0));
	size_t j;

	if ((b->numtab.count + 1) * 2 > b->numtab.cap)
		tab_grow(&b->numtab);
	for (j = h & (b->numtab.cap - 1); b->numtab.slots[j].idx != UINT32_MAX;
	     j = (j + 1) & (b->numtab.cap - 1)) {
		const struct num *x = &b->nums[b->numtab.slots[j].idx];

		if (x->bits == bits && x->real == real)
			return REF(real ? CT_REAL : CT_INT,
			           b->numtab.slots[j].idx);
	}
	b->nums = grow(b->nums, &b->capn, b->nn + 1, sizeof(*b->nums));
	b->nums[b->nn].bits = bits;
	b->nums[b->nn].real = real;
	b->numtab.slots[j].hash = h;
	b->numtab.slots[j].idx = (uint32_t)b->nn;
	b->numtab.count++;
	return make_ref(b, real ? CT_REAL : CT_INT, b->nn++);
}

crec_ref crec_int(struct crec_builder *b, int64_t v)
{
	return num(b, (uint64_t)v, false);
}

crec_ref crec_real(struct crec_builder *b, double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	return num(b, bits, true);
}

/*
 * Append the node head[0..nh) + body[0..nb) (head[1] is left for its
 * number); with share, an equal node built before is returned instead.
 */
static crec_ref node(struct crec_builder *b, const uint32_t *head, size_t nh,
                     const uint32_t *body, size_t nbody, bool share)
{
	size_t len = nh + nbody, j = 0, off = b->nw;
	uint64_t h = 0;

	if (share) {
		h = hash_bytes(head, nh * 4, hash_bytes(body, nbody * 4, 2));
		if ((b->nodetab.count + 1) * 2 > b->nodetab.cap)
			tab_grow(&b->nodetab);
		for (j = h & (b->nodetab.cap - 1);
		     b->nodetab.slots[j].idx != UINT32_MAX;
		     j = (j + 1) & (b->nodetab.cap - 1)) {
			const uint32_t *x = b->w + b->nodetab.slots[j].idx;

			if (b->nodetab.slots[j].hash == h && x[0] == head[0] &&
			    memcmp(x + 2, head + 2, (nh - 2) * 4) == 0 &&
			    (nbody == 0 ||
			     memcmp(x + nh, body, nbody * 4) == 0))
				return REF(CT_NODE, b->nodetab.slots[j].idx);
		}
	}
	if (off + len > CREC_MAX_PAYLOAD || b->nnodes == UINT32_MAX) {
		b->overflow = true;
		return crec_null();
	}
	b->w = grow(b->w, &b->capw, off + len, sizeof(*b->w));
	memcpy(b->w + off, head, nh * 4);
	b->w[off + 1] = b->nnodes++;
	if (nbody > 0)
		memcpy(b->w + off + nh, body, nbody * 4);
	b->nw += len;
	if (share) {
		b->nodetab.slots[j].hash = h;
		b->nodetab.slots[j].idx = (uint32_t)off;
		b->nodetab.count++;
	}
	return REF(CT_NODE, off);
}

crec_ref crec_list(struct crec_builder *b, const crec_ref *items, size_t n)
{
	uint32_t head[3] = {NT_LIST, 0, (uint32_t)n};

	return node(b, head, 3, items, n, true);
}

crec_ref crec_map(struct crec_builder *b, const crec_ref *keys,
                  const crec_ref *vals, size_t n)
{
	uint32_t head[3] = {NT_MAP, 0, (uint32_t)n}, small[32], *body;
	crec_ref r;

	if (n == 0)
		return node(b, head, 3, NULL, 0, true);
	body = 2 * n <= 32 ? small : xreallocarray(NULL, n, 2 * sizeof(*body));
	for (size_t i = 0; i < n; i++) {
		body[2 * i] = PAYLOAD(keys[i]);
		body[2 * i + 1] = vals[i];
	}
	r = node(b, head, 3, body, 2 * n, true);
	if (body != small)
		free(body);
	return r;
}

crec_ref crec_record(struct crec_builder *b, enum trec_kind kind,
                     const crec_ref *fields)
{
	const struct trec_schema *s = trec_schema(kind);
	uint32_t head[2] = {NT_REC | (uint32_t)kind << 8, 0};

	return node(b, head, 2, fields, s->nfields, !s->pointer);
}

const char *crec_builder_str(const struct crec_builder *b, crec_ref r,
                             size_t *len)
{
	const struct strent *x;

	if (TAG(r) != CT_STR || PAYLOAD(r) >= b->ns) {
		*len = 0;
		return "";
	}
	x = &b->strs[PAYLOAD(r)];
	*len = x->len;
	return b->bytes + x->off;
}

/* ---- the blob --------------------------------------------------------- */

enum {
	H_MAGIC,
	H_LEN,
	H_ROOT,
	H_NSTR,
	H_NNUM,
	H_NNODE,
	H_STRTAB, /* byte offsets from here on */
	H_NUMS,
	H_NODES,
	H_BYTES,
};

json_t *crec_finish(struct crec_builder *b, crec_ref root)
{
	size_t strtab = CREC_HDR_WORDS * 4, nums = strtab + b->ns * 8;
	size_t nodes = nums + b->nn * 8, bytes = nodes + b->nw * 4;
	size_t len = bytes + b->nb;
	uint32_t hdr[CREC_HDR_WORDS];
	json_t *blob = NULL;
	char *out;

	if (b->overflow || len > UINT32_MAX) {
		crec_builder_free(b);
		return NULL;
	}
	out = xmalloc(len ? len : 1); /* every byte is written below */
	hdr[H_MAGIC] = CREC_MAGIC;
	hdr[H_LEN] = (uint32_t)len;
	hdr[H_ROOT] = root;
	hdr[H_NSTR] = (uint32_t)b->ns;
	hdr[H_NNUM] = (uint32_t)b->nn;
	hdr[H_NNODE] = b->nnodes;
	hdr[H_STRTAB] = (uint32_t)strtab;
	hdr[H_NUMS] = (uint32_t)nums;
	hdr[H_NODES] = (uint32_t)nodes;
	hdr[H_BYTES] = (uint32_t)bytes;
	memcpy(out, hdr, sizeof(hdr));
	if (b->ns > 0)
		memcpy(out + strtab, b->strs, b->ns * 8);
	for (size_t i = 0; i < b->nn; i++)
		memcpy(out + nums + i * 8, &b->nums[i].bits, 8);
	if (b->nw > 0)
		memcpy(out + nodes, b->w, b->nw * 4);
	if (b->nb > 0)
		memcpy(out + bytes, b->bytes, b->nb);
	blob = json_stringn_nocheck(out, len);
	free(out);
	crec_builder_free(b);
	return blob;
}

static uint32_t rd32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

bool crec_is_blob(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	return s != NULL && n >= CREC_HDR_WORDS * 4 && rd32(s) == CREC_MAGIC &&
	       rd32(s + H_LEN * 4) == n;
}

/* ---- the view --------------------------------------------------------- */

struct crec_handle {
	json_t json;
	struct crec_view *view;
	uint32_t node; /* word offset */
	uint32_t kind;
};

#define CHUNK_HANDLES 128

struct chunk {
	struct chunk *next;
	size_t used;
	struct crec_handle h[CHUNK_HANDLES];
};

struct crec_view {
	uint64_t serial;
	json_t *blob;
	const char *base;
	uint32_t ns, nn, nnodes;
	const char *strtab, *nums, *nodes, *bytes;
	crec_ref root_ref;
	json_t **cache; /* per slot: strings, numbers, nodes */
	struct chunk *chunks;
};

struct crec_view *crec_view_new(json_t *blob)
{
	struct crec_view *v;
	const char *s;

	if (!crec_is_blob(blob))
		return NULL;
	static uint64_t serials;

	s = json_string_value(blob);
	v = xcalloc(1, sizeof(*v));
	v->serial = ++serials;
	v->blob = json_incref(blob);
	v->base = s;
	v->ns = rd32(s + H_NSTR * 4);
	v->nn = rd32(s + H_NNUM * 4);
	v->nnodes = rd32(s + H_NNODE * 4);
	v->strtab = s + rd32(s + H_STRTAB * 4);
	v->nums = s + rd32(s + H_NUMS * 4);
	v->nodes = s + rd32(s + H_NODES * 4);
	v->bytes = s + rd32(s + H_BYTES * 4);
	v->root_ref = rd32(s + H_ROOT * 4);
	v->cache = xcalloc((size_t)v->ns + v->nn + v->nnodes + 1,
	                   sizeof(*v->cache));
	return v;
}

struct crec_view *crec_view_free(struct crec_view *v)
{
	size_t n;

	if (v == NULL)
		return NULL;
	n = (size_t)v->ns + v->nn + v->nnodes;
	for (size_t i = 0; i < n; i++)
		json_decref(v->cache[i]);
	free(v->cache);
	while (v->chunks != NULL) {
		struct chunk *c = v->chunks;

		v->chunks = c->next;
		free(c);
	}
	json_decref(v->blob);
	free(v);
	return NULL;
}

static json_t *view_value(struct crec_view *v, crec_ref r);

static json_t *view_handle(struct crec_view *v, uint32_t off, uint32_t kind)
{
	struct crec_handle *h;

	if (v->chunks == NULL || v->chunks->used == CHUNK_HANDLES) {
		struct chunk *c = xmalloc(sizeof(*c));

		c->next = v->chunks;
		c->used = 0;
		v->chunks = c;
	}
	h = &v->chunks->h[v->chunks->used++];
	h->json.type = CREC_JSON_TYPE;
	h->json.refcount = (size_t)-1;
	h->view = v;
	h->node = off;
	h->kind = kind;
	return &h->json;
}

static json_t *view_node(struct crec_view *v, uint32_t off)
{
	const char *p = v->nodes + (size_t)off * 4;
	uint32_t type = rd32(p), n;
	json_t *out;

	switch (type & 0xff) {
	case NT_REC:
		return view_handle(v, off, type >> 8);
	case NT_LIST:
		n = rd32(p + 8);
		out = json_array();
		for (uint32_t i = 0; i < n; i++)
			json_array_append(out,
			                  view_value(v, rd32(p + 12 + i * 4)));
		return out;
	default:
		n = rd32(p + 8);
		out = json_object();
		for (uint32_t i = 0; i < n; i++) {
			uint32_t k = rd32(p + 12 + i * 8);
			const char *ke = v->strtab + (size_t)k * 8;

			json_object_setn_nocheck(
			        out, v->bytes + rd32(ke), rd32(ke + 4),
			        view_value(v, rd32(p + 16 + i * 8)));
		}
		return out;
	}
}

static json_t *view_value(struct crec_view *v, crec_ref r)
{
	uint32_t i = PAYLOAD(r);
	size_t slot;
	json_t **c;

	switch (TAG(r)) {
	case CT_STR:
		slot = i;
		break;
	case CT_INT:
	case CT_REAL:
		slot = (size_t)v->ns + i;
		break;
	case CT_NODE:
		slot = (size_t)v->ns + v->nn +
		       rd32(v->nodes + (size_t)i * 4 + 4);
		break;
	default:
		return i == 2   ? json_true()
		       : i == 1 ? json_false()
		                : json_null();
	}
	c = &v->cache[slot];
	if (*c != NULL)
		return *c;
	switch (TAG(r)) {
	case CT_STR: {
		const char *e = v->strtab + (size_t)i * 8;

		*c = json_stringn_nocheck(v->bytes + rd32(e), rd32(e + 4));
		break;
	}
	case CT_INT:
	case CT_REAL: {
		uint64_t bits;
		double d;

		memcpy(&bits, v->nums + (size_t)i * 8, 8);
		if (TAG(r) == CT_INT) {
			*c = json_integer((json_int_t)bits);
		} else {
			memcpy(&d, &bits, 8);
			*c = json_real(d);
		}
		break;
	}
	default:
		*c = view_node(v, i);
		break;
	}
	return *c;
}

json_t *crec_view_root(struct crec_view *v)
{
	return view_value(v, v->root_ref);
}

enum trec_kind crec_handle_kind(const json_t *h)
{
	return (enum trec_kind)((const struct crec_handle *)h)->kind;
}

uint64_t crec_handle_serial(const json_t *h)
{
	return ((const struct crec_handle *)h)->view->serial;
}

json_t *crec_handle_field(const json_t *j, size_t i)
{
	const struct crec_handle *h = (const struct crec_handle *)j;
	struct crec_view *v = h->view;

	return view_value(v, rd32(v->nodes + ((size_t)h->node + 2 + i) * 4));
}

/* ---- expanding -------------------------------------------------------- */

json_t *crec_expand(const json_t *v)
{
	json_t *out, *x;
	const char *k;
	size_t i, klen;

	if (v == NULL)
		return NULL;
	if (crec_is_blob(v)) {
		struct crec_view *view = crec_view_new((json_t *)(uintptr_t)v);

		out = crec_expand(crec_view_root(view));
		crec_view_free(view);
		return out;
	}
	if (crec_is_handle(v)) {
		enum trec_kind kind = crec_handle_kind(v);
		const struct trec_schema *s = trec_schema(kind);

		out = trec_new(kind);
		for (i = 0; i < s->nfields; i++)
			if (s->fields[i].type != TF_ABSENT)
				json_object_set_new(
				        out, s->fields[i].name,
				        crec_expand(crec_handle_field(v, i)));
		return out;
	}
	if (json_is_array(v)) {
		out = json_array();
		json_array_foreach((json_t *)(uintptr_t)v, i, x)
		        json_array_append_new(out, crec_expand(x));
		return out;
	}
	if (json_is_object(v)) {
		out = json_object();
		json_object_keylen_foreach((json_t *)(uintptr_t)v, k, klen, x)
		        json_object_setn_new_nocheck(out, k, klen,
		                                     crec_expand(x));
		return out;
	}
	return json_incref((json_t *)(uintptr_t)v);
}
