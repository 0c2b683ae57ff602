/*
 * Template evaluator: walks a parsed tree over jansson values, following
 * Go's text/template exec.go (field chains, variables and their scopes,
 * range over arrays, maps in key order and integers, break/continue,
 * and/or short-circuit, define/template/block).
 *
 * Every evaluation returns a new reference (or NULL for Go's "no
 * value"); borrowed data is only ever increfed, never copied, so a
 * render over a large catalog allocates little besides the output.
 * Nesting depth, steps (actions + iterations) and output size are bounded
 * by env->limits.
 *
 * Map:
 *   spans and errors   which output bytes came from data; step and depth
 *                      limits
 *   variables          push/pop/find/set
 *   evaluation         fields and chains, variables, calls, functions,
 *                      commands, pipelines
 *   walk               if/with, range (plain and replayed from the
 *                      iteration cache: frag_*, rec_*), template/block
 *   tmpl_render        the entry points
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/funcs.h"
#include "template/template.h"
#include "template/tmpl_tree.h"
#include "consul/crec.h"
#include "consul/deps.h"
#include "consul/trec_read.h"
#include "template/tvalue.h"
#include "base/xmalloc.h"

enum { CTL_BREAK = 1, CTL_CONTINUE = 2 };

/* An iteration kept for a replay (tmpl_env.cache): a dependency it read. */
struct frag_dep {
	struct dep *dep;
	uint64_t version;
};

/* An iteration of range node over elem (a record, with its view's
 * serial), as the render that made it left it. */
struct frag {
	struct frag *next; /* its hash chain */
	const struct tnode *node;
	const json_t *elem;
	uint64_t serial;
	uint64_t gen; /* the last render that made or replayed it */
	char *out;
	size_t len;
	size_t *spans; /* data spans, [start, end) pairs from 0 */
	size_t nspans;
	unsigned long steps;
	unsigned depth; /* how deep it went below its start */
	int rc;         /* range_once's: 0, CTL_BREAK or CTL_CONTINUE */
	struct frag_dep *deps;
	size_t ndeps;
};

struct tmpl_cache {
	struct frag **slots;
	size_t cap, count;
	uint64_t gen;
	size_t replayed; /* by the last render */
};

/* Iterations worth keeping: those that asked for data of their own, or
 * made this much output. */
#define FRAG_MIN_BYTES 4096

/* The iteration being recorded for the cache (one at a time). */
struct rec {
	bool on;
	bool spoiled; /* it did what a replay could not repeat */
	size_t start; /* out->len when it began */
	unsigned depth0, maxdepth;
	unsigned long steps0;
	struct frag_dep *deps;
	size_t ndeps, capdeps;
	size_t *spans;
	size_t nspans, capspans;
};

struct var {
	const char *name;
	json_t *val; /* owned; NULL is "no value" */
};

struct state {
	const struct tmpl *t;
	const struct tmpl_env *env;
	struct buf *out;
	struct err *e;
	struct var *vars;
	size_t nvars, cap, base;
	unsigned depth;
	unsigned ctl; /* inside this many range, if and with bodies */
	unsigned long steps;
	/* the last field chain ended on a nil record pointer (Go's typed
	 * nil, printed "<nil>"), not an interface nil ("<no value>") */
	bool typed_nil;
	/* With a cache: the caller's env (its callbacks' ctx), and the
	 * iteration being recorded. */
	const struct tmpl_env *user;
	bool cache_on;
	struct rec rec;
};

static void rec_span(struct rec *rec, size_t start, size_t end)
{
	start -= rec->start;
	end -= rec->start;
	if (rec->nspans > 0 && rec->spans[2 * rec->nspans - 1] == start) {
		rec->spans[2 * rec->nspans - 1] = end;
		return;
	}
	if (rec->nspans == rec->capspans) {
		rec->capspans = rec->capspans ? rec->capspans * 2 : 8;
		rec->spans = xreallocarray(rec->spans, rec->capspans,
		                           2 * sizeof(*rec->spans));
	}
	rec->spans[2 * rec->nspans] = start;
	rec->spans[2 * rec->nspans + 1] = end;
	rec->nspans++;
}

/* out[start..end) depends on data: note it in env->spans. */
static void add_span(struct state *s, size_t start, size_t end)
{
	struct tmpl_spans *sp = s->env->spans;

	if (end == start)
		return;
	if (s->rec.on)
		rec_span(&s->rec, start, end);
	if (sp == NULL)
		return;
	if (sp->n > 0 && sp->v[sp->n - 1].end == start) {
		sp->v[sp->n - 1].end = end;
		return;
	}
	if (sp->n == sp->cap) {
		sp->cap = sp->cap != 0 ? sp->cap * 2 : 16;
		sp->v = xreallocarray(sp->v, sp->cap, sizeof(*sp->v));
	}
	sp->v[sp->n].start = start;
	sp->v[sp->n].end = end;
	sp->n++;
}

/* out[start..out->len) depends on data. */
static void mark_dynamic(struct state *s, size_t start)
{
	add_span(s, start, s->out->len);
}

static int serr(struct state *s, const struct tnode *n, int code,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int serr(struct state *s, const struct tnode *n, int code,
                const char *fmt, ...)
{
	char msg[450];
	va_list ap;
	int line, col;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tmpl_position(s->t->src, s->t->srclen, n->pos, &line, &col);
	return err_set(s->e, code, s->t->name, line, col, "%s", msg);
}

static int output_error(struct state *s, const struct tnode *n)
{
	return serr(s, n, -E2BIG, "output exceeds the limit of %zu bytes",
	            s->env->limits.max_output);
}

static int step(struct state *s, const struct tnode *n)
{
	if (++s->steps > s->env->limits.max_steps)
		return serr(s, n, -ELOOP,
		            "template exceeded the limit of %lu steps",
		            s->env->limits.max_steps);
	return 0;
}

static int enter(struct state *s, const struct tnode *n)
{
	if (++s->depth > s->env->limits.max_depth)
		return serr(s, n, -ELOOP,
		            "exceeded maximum template depth (%u)",
		            s->env->limits.max_depth);
	if (s->rec.on && s->depth > s->rec.maxdepth)
		s->rec.maxdepth = s->depth;
	return 0;
}

static void push_var(struct state *s, const char *name, json_t *val)
{
	if (s->nvars == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->vars = xreallocarray(s->vars, s->cap, sizeof(*s->vars));
	}
	s->vars[s->nvars].name = name;
	s->vars[s->nvars].val = json_incref(val);
	s->nvars++;
}

static void pop_vars(struct state *s, size_t mark)
{
	while (s->nvars > mark) {
		s->nvars--;
		json_decref(s->vars[s->nvars].val);
	}
}

static struct var *find_var(struct state *s, const char *name)
{
	size_t i;

	for (i = s->nvars; i-- > s->base;)
		if (strcmp(s->vars[i].name, name) == 0)
			return &s->vars[i];
	return NULL;
}

static void set_var(struct var *v, json_t *val)
{
	json_t *old = v->val;

	v->val = json_incref(val);
	json_decref(old);
}

static int eval_pipeline(struct state *s, json_t *dot, const struct tnode *pipe,
                         json_t **ret);
static int eval_arg(struct state *s, json_t *dot, const struct tnode *n,
                    json_t **ret);

/*
 * The value a missing map key gives under missingkey=zero: "" in a
 * map[string]string, a zero struct in a map of structs, else no value.
 * ft is the map's field in a record when known.
 */
static json_t *missing_key_zero(json_t *map, const struct trec_field *ft)
{
	const struct trec_schema *es;
	const char *k;
	json_t *x;

	if (ft != NULL && ft->type == TF_VALUEMAP)
		return trec_zero(ft->kind);
	if ((ft != NULL && ft->type == TF_STRMAP) || tv_is_string_map(map))
		return json_string("");
	json_object_foreach(map, k, x)
	{
		(void)k;
		es = trec_schema_of(x);
		if (es != NULL && !es->pointer)
			return trec_zero(es->kind);
		break;
	}
	return NULL;
}

/*
 * Field name of receiver; args: whether the field was given arguments. ft
 * is the receiver's field in the record it came from (NULL when unknown);
 * *ret_ft gets the result's.
 */
static int eval_field(struct state *s, const struct tnode *n, const char *name,
                      struct tfield_memo *memo, bool has_args, json_t *receiver,
                      const struct trec_field *ft, json_t **ret,
                      const struct trec_field **ret_ft)
{
	const struct trec_schema *rs;
	const struct trec_field *f;
	json_t *v;

	*ret = NULL;
	*ret_ft = NULL;
	if (receiver == NULL) {
		if (s->t->error_on_missing_key)
			return serr(s, n, -EINVAL,
			            "nil data; no entry for key \"%s\"", name);
		return 0;
	}
	if (json_is_null(receiver))
		return serr(s, n, -EINVAL, "nil pointer evaluating %s.%s",
		            ft != NULL && ft->type == TF_PTR ? ft->go_type
		                                             : "interface {}",
		            name);
	if ((rs = trec_schema_of(receiver)) != NULL) {
		/* a Go struct: only its fields exist */
		if (memo->schema == rs) {
			f = memo->field;
		} else {
			f = trec_field(rs, name);
			memo->schema = rs;
			memo->field = f;
		}
		if (f == NULL)
			return serr(s, n, -EINVAL,
			            "can't evaluate field %s in type %s", name,
			            rs->go_type);
		if (f->type == TF_ABSENT)
			return serr(
			        s, n, -ENOTSUP,
			        "field %s of %s is not kept by consul-hosts "
			        "(not supported)",
			        name, rs->go_type);
		if (has_args)
			return serr(s, n, -EINVAL,
			            "%s has arguments but cannot be invoked as "
			            "function",
			            name);
		v = trec_get(receiver, f);
		*ret = v != NULL ? json_incref(v) : json_null();
		*ret_ft = f;
		return 0;
	}
	if (!json_is_object(receiver))
		return serr(s, n, -EINVAL, "can't evaluate field %s in type %s",
		            name,
		            ft != NULL ? ft->go_type : tv_type_name(receiver));
	if (has_args)
		return serr(s, n, -EINVAL,
		            "%s is not a method but has arguments", name);
	v = json_object_get(receiver, name);
	if (v != NULL) {
		*ret = json_incref(v);
		return 0;
	}
	if (s->t->error_on_missing_key)
		return serr(s, n, -EINVAL, "map has no entry for key \"%s\"",
		            name);
	*ret = missing_key_zero(receiver, ft);
	return 0;
}

/* receiver.idents[0].idents[1]...; the last one gets the arguments. */
static int eval_field_chain(struct state *s, const struct tnode *n,
                            json_t *receiver, char *const *idents,
                            struct tfield_memo *memo, size_t nidents,
                            bool has_args, json_t **ret)
{
	json_t *cur = json_incref(receiver), *next;
	const struct trec_field *ft = NULL;
	size_t i;
	int r;

	for (i = 0; i < nidents; i++) {
		r = eval_field(s, n, idents[i], &memo[i],
		               i + 1 == nidents && has_args, cur, ft, &next,
		               &ft);
		json_decref(cur);
		if (r < 0)
			return r;
		cur = next;
	}
	s->typed_nil = ft != NULL && ft->type == TF_PTR && json_is_null(cur);
	*ret = cur;
	return 0;
}

static int eval_variable(struct state *s, const struct tnode *n, bool has_args,
                         json_t **ret)
{
	struct var *v = find_var(s, n->idents[0]);

	if (v == NULL)
		return serr(s, n, -EINVAL, "undefined variable: %s",
		            n->idents[0]);
	if (n->nidents == 1) {
		if (has_args)
			return serr(s, n, -EINVAL,
			            "can't give argument to non-function %s",
			            n->idents[0]);
		*ret = json_incref(v->val);
		return 0;
	}
	return eval_field_chain(s, n, v->val, n->idents + 1, n->memo + 1,
	                        n->nidents - 1, has_args, ret);
}

static int eval_chain(struct state *s, json_t *dot, const struct tnode *n,
                      bool has_args, json_t **ret)
{
	json_t *v;
	int r;

	if (n->pipe->type == N_NIL)
		return serr(s, n, -EINVAL, "indirection through explicit nil");
	r = eval_arg(s, dot, n->pipe, &v);
	if (r < 0)
		return r;
	r = eval_field_chain(s, n, v, n->idents, n->memo, n->nidents, has_args,
	                     ret);
	json_decref(v);
	return r;
}

static bool is_name(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* The source text of operand n, for messages: ".Name", "$x.Port". */
static int operand_text(const struct state *s, const struct tnode *n)
{
	int len = 0;

	while (n->pos + (size_t)len < s->t->srclen && len < 60 &&
	       strchr(" \t\r\n)}|", s->t->src[n->pos + (size_t)len]) == NULL)
		len++;
	return len;
}

/*
 * Go's call builtin: templates are handed no function values, so a call
 * always fails, as text/template words it.
 */
static int eval_call(struct state *s, json_t *dot, const struct tnode *id,
                     struct tnode *const *args, size_t nargs, json_t *final,
                     bool has_final)
{
	json_t *v = NULL;
	int r;

	if (nargs == 0 && !has_final)
		return serr(s, id, -EINVAL,
		            "wrong number of args for call: want at least 1 "
		            "got 0");
	if (nargs > 0) {
		if ((r = eval_arg(s, dot, args[0], &v)) < 0)
			return r;
	} else {
		v = json_incref(final);
	}
	if (v == NULL || json_is_null(v))
		r = serr(s, id, -EINVAL, "error calling call: call of nil");
	else if (nargs > 0)
		r = serr(s, id, -EINVAL,
		         "error calling call: non-function %.*s of type %s",
		         operand_text(s, args[0]), s->t->src + args[0]->pos,
		         tv_type_name(v));
	else
		r = serr(s, id, -EINVAL,
		         "error calling call: non-function of type %s",
		         tv_type_name(v));
	json_decref(v);
	return r;
}

/*
 * Call function ident with the operands args[0..nargs) and, when
 * has_final, the previous pipeline stage's value as the last argument.
 */
static int eval_function(struct state *s, json_t *dot, const struct tnode *id,
                         struct tnode *const *args, size_t nargs, json_t *final,
                         bool has_final, json_t **ret)
{
	const struct func_def *fn = id->fn;
	size_t n = nargs + (has_final ? 1 : 0), i, got = 0;
	json_t *small[8], **argv;
	struct err ferr;
	struct fcall call;
	int r = 0;

	*ret = NULL;
	if (id->denied)
		return serr(s, id, -EPERM,
		            "error calling %s: function is disabled", id->name);
	if (is_name(fn->name, "call"))
		return eval_call(s, dot, id, args, nargs, final, has_final);
	if (is_name(fn->name, "and") || is_name(fn->name, "or")) {
		bool want = is_name(fn->name, "or");
		json_t *v = NULL;

		if (n < 1)
			return serr(
			        s, id, -EINVAL,
			        "wrong number of args for %s: want at least "
			        "1 got 0",
			        fn->name);
		for (i = 0; i < nargs; i++) {
			json_decref(v);
			r = eval_arg(s, dot, args[i], &v);
			if (r < 0)
				return r;
			if (tv_truth(v) == want) {
				*ret = v;
				return 0;
			}
		}
		if (has_final) {
			json_decref(v);
			v = json_incref(final);
		}
		*ret = v;
		return 0;
	}
	if ((int)n < fn->min_args ||
	    (fn->max_args >= 0 && (int)n > fn->max_args)) {
		if (fn->max_args < 0)
			return serr(
			        s, id, -EINVAL,
			        "wrong number of args for %s: want at least "
			        "%d got %zu",
			        fn->name, fn->min_args, n);
		return serr(s, id, -EINVAL,
		            "wrong number of args for %s: want %d got %zu",
		            fn->name, fn->max_args, n);
	}
	argv = n <= 8 ? small : xreallocarray(NULL, n, sizeof(*argv));
	for (i = 0; i < nargs; i++) {
		r = eval_arg(s, dot, args[i], &argv[i]);
		if (r < 0)
			goto out;
		if (argv[i] == NULL)
			argv[i] = json_null();
		got++;
	}
	if (has_final) {
		argv[got++] = final != NULL ? json_incref(final) : json_null();
	}
	ferr.msg[0] = '\0'; /* err_clear would memset 770 bytes per call */
	call.env = s->env;
	call.err = &ferr;
	r = fn->fn(&call, argv, n, ret);
	if (r < 0) {
		json_decref(*ret);
		*ret = NULL;
		r = serr(s, id, r, "error calling %s: %s", fn->name,
		         ferr.msg[0] != '\0' ? ferr.msg : strerror(-r));
	}
out:
	for (i = 0; i < got; i++)
		json_decref(argv[i]);
	if (argv != small)
		free(argv);
	return r;
}

static int eval_arg(struct state *s, json_t *dot, const struct tnode *n,
                    json_t **ret)
{
	*ret = NULL;
	switch (n->type) {
	case N_DOT:
		*ret = json_incref(dot);
		return 0;
	case N_NIL:
		*ret = json_null();
		return 0;
	case N_CONST:
		*ret = json_incref(n->value);
		return 0;
	case N_FIELD:
		return eval_field_chain(s, n, dot, n->idents, n->memo,
		                        n->nidents, false, ret);
	case N_VAR:
		return eval_variable(s, n, false, ret);
	case N_PIPE:
		return eval_pipeline(s, dot, n, ret);
	case N_IDENT:
		return eval_function(s, dot, n, NULL, 0, NULL, false, ret);
	case N_CHAIN:
		return eval_chain(s, dot, n, false, ret);
	default:
		return serr(s, n, -EINVAL, "can't handle node as argument");
	}
}

static int eval_command(struct state *s, json_t *dot, const struct tnode *cmd,
                        json_t *final, bool has_final, json_t **ret)
{
	const struct tnode *first = cmd->kids[0];
	bool has_args = cmd->nkids > 1 || has_final;

	*ret = NULL;
	switch (first->type) {
	case N_FIELD:
		return eval_field_chain(s, first, dot, first->idents,
		                        first->memo, first->nidents, has_args,
		                        ret);
	case N_CHAIN:
		return eval_chain(s, dot, first, has_args, ret);
	case N_IDENT:
		return eval_function(s, dot, first, cmd->kids + 1,
		                     cmd->nkids - 1, final, has_final, ret);
	case N_VAR:
		return eval_variable(s, first, has_args, ret);
	default:
		break;
	}
	if (has_args) {
		const struct tnode *f = first;
		int len = 0;

		while (f->pos + (size_t)len < s->t->srclen && len < 40 &&
		       s->t->src[f->pos + (size_t)len] != ' ' &&
		       s->t->src[f->pos + (size_t)len] != '}')
			len++;
		return serr(s, first, -EINVAL,
		            "can't give argument to non-function %.*s", len,
		            s->t->src + first->pos);
	}
	switch (first->type) {
	case N_PIPE:
		return eval_pipeline(s, dot, first, ret);
	case N_DOT:
		*ret = json_incref(dot);
		return 0;
	case N_CONST:
		*ret = json_incref(first->value);
		return 0;
	case N_NIL:
		return serr(s, first, -EINVAL, "nil is not a command");
	default:
		return serr(s, first, -EINVAL, "can't evaluate command");
	}
}

static int eval_pipeline(struct state *s, json_t *dot, const struct tnode *pipe,
                         json_t **ret)
{
	json_t *v = NULL, *nv;
	size_t i;
	int r;

	*ret = NULL;
	r = enter(s, pipe);
	if (r < 0)
		return r;
	for (i = 0; i < pipe->nkids; i++) {
		s->typed_nil = false;
		r = eval_command(s, dot, pipe->kids[i], v, i > 0, &nv);
		json_decref(v);
		/* Go digs into an interface{}: a nil one is no value */
		if (r >= 0 && nv != NULL && json_is_null(nv) && !s->typed_nil) {
			json_decref(nv);
			nv = NULL;
		}
		v = nv;
		if (r < 0) {
			json_decref(v);
			return r;
		}
	}
	for (i = 0; i < pipe->ndecl; i++) {
		if (pipe->is_assign) {
			struct var *var = find_var(s, pipe->decl[i]);

			if (var == NULL) {
				json_decref(v);
				return serr(s, pipe, -EINVAL,
				            "undefined variable: %s",
				            pipe->decl[i]);
			}
			set_var(var, v);
		} else {
			push_var(s, pipe->decl[i], v);
		}
	}
	s->depth--;
	*ret = v;
	return 0;
}

static int walk(struct state *s, json_t *dot, const struct tnode *n);

/*
 * if/with and their else-if (else-with) chains: an arm whose elselist is
 * a node of its own type (not an N_LIST) continues the chain, which is
 * walked in a loop at one level of depth, as Go accepts any length.
 * Declarations of earlier arms stay visible to later ones.
 */
static int walk_if_with(struct state *s, json_t *dot, const struct tnode *n)
{
	size_t mark = s->nvars;
	json_t *v;
	int r;

	for (;;) {
		r = eval_pipeline(s, dot, n->pipe, &v);
		if (r < 0)
			break;
		if (tv_truth(v)) {
			r = walk(s, n->type == N_WITH ? v : dot, n->list);
			json_decref(v);
			break;
		}
		json_decref(v);
		if (n->elselist == NULL)
			break;
		if (n->elselist->type != n->type) {
			r = walk(s, dot, n->elselist);
			break;
		}
		n = n->elselist;
		r = step(s, n);
		if (r < 0)
			break;
	}
	pop_vars(s, mark);
	return r;
}

/* One iteration: set $key/$value (the top declared variables). */
static int range_once(struct state *s, const struct tnode *n, json_t *key,
                      json_t *elem, size_t mark)
{
	size_t inner;
	int r = step(s, n);

	if (r < 0)
		return r;
	if (n->pipe->ndecl >= 1)
		set_var(&s->vars[s->nvars - 1], elem);
	if (n->pipe->ndecl >= 2)
		set_var(&s->vars[s->nvars - 2], key);
	(void)mark;
	inner = s->nvars;
	r = walk(s, elem, n->list);
	pop_vars(s, inner);
	return r;
}

/* ---- iterations replayed from env->cache ---- */

struct tmpl_cache *tmpl_cache_new(void)
{
	return xcalloc(1, sizeof(struct tmpl_cache));
}

void tmpl_cache_stats(const struct tmpl_cache *c, size_t *ret_kept,
                      size_t *ret_replayed)
{
	*ret_kept = c->count;
	*ret_replayed = c->replayed;
}

static void frag_free(struct frag *f)
{
	for (size_t i = 0; i < f->ndeps; i++)
		dep_free(f->deps[i].dep);
	free(f->deps);
	free(f->spans);
	free(f->out);
	free(f);
}

struct tmpl_cache *tmpl_cache_free(struct tmpl_cache *c)
{
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < c->cap; i++)
		while (c->slots[i] != NULL) {
			struct frag *f = c->slots[i];

			c->slots[i] = f->next;
			frag_free(f);
		}
	free(c->slots);
	free(c);
	return NULL;
}

static size_t frag_hash(const struct tmpl_cache *c, const struct tnode *n,
                        const json_t *elem, uint64_t serial)
{
	uint64_t h = (uint64_t)(uintptr_t)n * 0x9e3779b97f4a7c15ull;

	h ^= (uint64_t)(uintptr_t)elem + serial * 0xc2b2ae3d27d4eb4full;
	h *= 0xd6e8feb86659fd93ull;
	return (size_t)(h ^ (h >> 32)) & (c->cap - 1);
}

/* Where n's iteration over elem is, or would go, in its chain. */
static struct frag **frag_at(struct tmpl_cache *c, const struct tnode *n,
                             const json_t *elem, uint64_t serial)
{
	struct frag **pf;

	if (c->cap == 0 || c->count >= c->cap) {
		struct frag **old = c->slots;
		size_t oldcap = c->cap;

		c->cap = oldcap ? oldcap * 2 : 64;
		c->slots = xcalloc(c->cap, sizeof(*c->slots));
		for (size_t i = 0; i < oldcap; i++)
			while (old[i] != NULL) {
				struct frag *f = old[i];
				size_t k = frag_hash(c, f->node, f->elem,
				                     f->serial);

				old[i] = f->next;
				f->next = c->slots[k];
				c->slots[k] = f;
			}
		free(old);
	}
	for (pf = &c->slots[frag_hash(c, n, elem, serial)]; *pf != NULL;
	     pf = &(*pf)->next)
		if ((*pf)->node == n && (*pf)->elem == elem &&
		    (*pf)->serial == serial)
			break;
	return pf;
}

/* Drop what the last render neither made nor replayed. */
static void frag_sweep(struct tmpl_cache *c)
{
	for (size_t i = 0; i < c->cap; i++) {
		struct frag **pf = &c->slots[i];

		while (*pf != NULL) {
			struct frag *f = *pf;

			if (f->gen == c->gen) {
				pf = &f->next;
				continue;
			}
			*pf = f->next;
			frag_free(f);
			c->count--;
		}
	}
}

/* Whether f can stand for the iteration now: every dependency it read has
 * the data it had (each is asked again: the caller learns what this
 * render used), and replaying it stays within the limits (else the
 * iteration is rendered, to fail where it fails). */
static bool frag_valid(struct state *s, const struct frag *f)
{
	const struct tmpl_env *u = s->user;
	const struct tmpl_limits *lim = &s->env->limits;
	bool ok = true;

	for (size_t i = 0; i < f->ndeps; i++) {
		if (u->lookup(u->ctx, f->deps[i].dep) == NULL ||
		    u->version(u->ctx, f->deps[i].dep) != f->deps[i].version)
			ok = false;
	}
	return ok && s->steps + f->steps <= lim->max_steps &&
	       s->depth + f->depth <= lim->max_depth &&
	       (s->out->max == 0 || s->out->len + f->len <= s->out->max);
}

static int frag_replay(struct state *s, const struct tnode *n,
                       const struct frag *f, json_t *elem)
{
	size_t base = s->out->len;

	if (n->pipe->ndecl >= 1)
		set_var(&s->vars[s->nvars - 1], elem);
	if (buf_append(s->out, f->out, f->len) < 0)
		return output_error(s, n);
	for (size_t i = 0; i < f->nspans; i++)
		add_span(s, base + f->spans[2 * i], base + f->spans[2 * i + 1]);
	s->steps += f->steps;
	return f->rc;
}

static void rec_begin(struct state *s)
{
	struct rec *rec = &s->rec;

	rec->on = true;
	rec->spoiled = false;
	rec->start = s->out->len;
	rec->depth0 = rec->maxdepth = s->depth;
	rec->steps0 = s->steps;
	rec->ndeps = 0;
	rec->nspans = 0;
}

/* The recording is over: keep it as n's iteration over elem when it can
 * be replayed and is worth it. */
static void rec_end(struct state *s, const struct tnode *n, json_t *elem,
                    uint64_t serial, int r)
{
	struct rec *rec = &s->rec;
	struct tmpl_cache *c = s->env->cache;
	size_t len = s->out->len - rec->start;
	struct frag *f, **pf;

	rec->on = false;
	if (r < 0 || rec->spoiled ||
	    (rec->ndeps == 0 && len < FRAG_MIN_BYTES)) {
		for (size_t i = 0; i < rec->ndeps; i++)
			dep_free(rec->deps[i].dep);
		rec->ndeps = 0;
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->node = n;
	f->elem = elem;
	f->serial = serial;
	f->gen = c->gen;
	f->out = xmalloc(len ? len : 1);
	memcpy(f->out, s->out->data + rec->start, len);
	f->len = len;
	f->nspans = rec->nspans;
	if (rec->nspans > 0) {
		f->spans =
		        xreallocarray(NULL, rec->nspans, 2 * sizeof(*f->spans));
		memcpy(f->spans, rec->spans,
		       rec->nspans * 2 * sizeof(*f->spans));
	}
	f->steps = s->steps - rec->steps0;
	f->depth = rec->maxdepth - rec->depth0;
	f->rc = r;
	f->ndeps = rec->ndeps;
	f->deps = xreallocarray(NULL, rec->ndeps ? rec->ndeps : 1,
	                        sizeof(*f->deps));
	memcpy(f->deps, rec->deps, rec->ndeps * sizeof(*f->deps));
	rec->ndeps = 0;
	pf = frag_at(c, n, elem, serial);
	f->next = *pf;
	*pf = f;
	c->count++;
}

/* One iteration of range n over a record: replayed, or rendered (and
 * recorded). */
static int range_cached(struct state *s, const struct tnode *n, json_t *key,
                        json_t *elem, size_t mark)
{
	struct tmpl_cache *c = s->env->cache;
	uint64_t serial = crec_handle_serial(elem);
	struct frag **pf = frag_at(c, n, elem, serial);
	int r;

	if (*pf != NULL) {
		struct frag *f = *pf;

		if (frag_valid(s, f)) {
			f->gen = c->gen;
			c->replayed++;
			return frag_replay(s, n, f, elem);
		}
		*pf = f->next;
		frag_free(f);
		c->count--;
	}
	rec_begin(s);
	r = range_once(s, n, key, elem, mark);
	rec_end(s, n, elem, serial, r);
	return r;
}

/* The caller's callbacks, seen through the state while recording. */
static json_t *rec_lookup(void *ctx, const struct dep *d)
{
	struct state *s = ctx;
	const struct tmpl_env *u = s->user;
	json_t *v = u->lookup(u->ctx, d);
	struct rec *rec = &s->rec;

	if (!rec->on)
		return v;
	if (v == NULL) {
		rec->spoiled = true; /* the render is incomplete anyway */
		return v;
	}
	for (size_t i = 0; i < rec->ndeps; i++)
		if (strcmp(dep_id(rec->deps[i].dep), dep_id(d)) == 0)
			return v;
	if (rec->ndeps == rec->capdeps) {
		rec->capdeps = rec->capdeps ? rec->capdeps * 2 : 4;
		rec->deps = xreallocarray(rec->deps, rec->capdeps,
		                          sizeof(*rec->deps));
	}
	rec->deps[rec->ndeps].dep = dep_dup(d);
	rec->deps[rec->ndeps].version = u->version(u->ctx, d);
	rec->ndeps++;
	return v;
}

static void rec_order(void *ctx, const char *key, json_t *list)
{
	struct state *s = ctx;

	s->user->order(s->user->ctx, key, list);
}

static void rec_warn(void *ctx, const char *msg)
{
	struct state *s = ctx;

	s->rec.spoiled = true; /* a replay would not warn again */
	s->user->warn(s->user->ctx, msg);
}

static int walk_range(struct state *s, json_t *dot, const struct tnode *n)
{
	size_t mark = s->nvars, i, count = 0;
	json_t *v;
	int r;

	r = eval_pipeline(s, dot, n->pipe, &v);
	if (r < 0)
		goto out;
	if (v == NULL || json_is_null(v)) {
		count = 0;
	} else if (json_is_array(v)) {
		count = json_array_size(v);
		for (i = 0; i < count; i++) {
			json_t *key = n->pipe->ndecl >= 2
			                      ? json_integer((json_int_t)i)
			                      : NULL;

			json_t *elem = json_array_get(v, i);

			if (s->cache_on && n->frag_ok && !s->rec.on &&
			    crec_is_handle(elem))
				r = range_cached(s, n, key, elem, mark);
			else
				r = range_once(s, n, key, elem, mark);
			json_decref(key);
			if (r < 0 || r == CTL_BREAK)
				break;
		}
	} else if (json_is_object(v) && trec_schema_of(v) == NULL) {
		const char **keys = tv_sorted_keys(v, &count);

		for (i = 0; i < count; i++) {
			json_t *key = n->pipe->ndecl >= 2 ? json_string(keys[i])
			                                  : NULL;

			r = range_once(s, n, key, json_object_get(v, keys[i]),
			               mark);
			json_decref(key);
			if (r < 0 || r == CTL_BREAK)
				break;
		}
		free(keys);
	} else if (json_is_integer(v)) {
		json_int_t lim = json_integer_value(v), k;

		if (n->pipe->ndecl >= 2) {
			r = serr(s, n, -EINVAL,
			         "can't use %lld to iterate over more than one "
			         "variable",
			         (long long)lim);
		}
		for (k = 0; r == 0 && k < lim; k++) {
			json_t *elem = json_integer(k);

			count++;
			r = range_once(s, n, NULL, elem, mark);
			json_decref(elem);
			if (r == CTL_BREAK)
				break;
		}
	} else {
		struct buf b;

		buf_init(&b, 200);
		if (tv_print(&b, v, NULL) < 0) {
			buf_reset(&b);
			buf_puts(&b, tv_type_name(v));
		}
		r = serr(s, n, -EINVAL, "range can't iterate over %s",
		         buf_str(&b));
		buf_free(&b);
	}
	if (r >= 0) {
		r = 0;
		if (count == 0 && n->elselist != NULL)
			r = walk(s, dot, n->elselist);
	}
	json_decref(v);
out:
	pop_vars(s, mark);
	return r;
}

static int walk_template(struct state *s, json_t *dot, const struct tnode *n)
{
	const struct tnode *def = tmpl_find_define(s->t, n->name);
	size_t mark = s->nvars, base = s->base;
	json_t *v = NULL;
	int r;

	if (def == NULL)
		return serr(s, n, -EINVAL, "no such template \"%s\"", n->name);
	if (n->pipe != NULL) {
		r = eval_pipeline(s, dot, n->pipe, &v);
		if (r < 0) {
			pop_vars(s, mark);
			return r;
		}
	}
	pop_vars(s, mark);
	push_var(s, "$", v);
	s->base = mark;
	r = walk(s, v, def);
	s->base = base;
	pop_vars(s, mark);
	json_decref(v);
	return r < 0 ? r : 0;
}

static int walk(struct state *s, json_t *dot, const struct tnode *n)
{
	size_t i, start;
	json_t *v;
	int r;

	switch (n->type) {
	case N_LIST:
		for (i = 0; i < n->nkids; i++) {
			r = walk(s, dot, n->kids[i]);
			if (r != 0)
				return r;
		}
		return 0;
	case N_TEXT:
		start = s->out->len;
		if (buf_append(s->out, n->text, n->len) < 0)
			return output_error(s, n);
		if (s->ctl > 0)
			mark_dynamic(s, start);
		return 0;
	case N_ACTION:
		r = step(s, n);
		if (r < 0)
			return r;
		r = eval_pipeline(s, dot, n->pipe, &v);
		if (r < 0)
			return r;
		start = s->out->len;
		if (n->pipe->ndecl == 0) {
			struct err pe;

			pe.msg[0] = '\0';
			r = tv_print(s->out, v, &pe);
			if (r == -E2BIG)
				r = output_error(s, n);
			else if (r < 0)
				r = serr(s, n, r, "%s", pe.msg);
		}
		mark_dynamic(s, start);
		json_decref(v);
		return r;
	case N_BREAK:
		return CTL_BREAK;
	case N_CONTINUE:
		return CTL_CONTINUE;
	default:
		break;
	}
	r = step(s, n);
	if (r == 0)
		r = enter(s, n);
	if (r < 0)
		return r;
	switch (n->type) {
	case N_IF:
	case N_WITH:
		s->ctl++;
		r = walk_if_with(s, dot, n);
		s->ctl--;
		break;
	case N_RANGE:
		s->ctl++;
		r = walk_range(s, dot, n);
		s->ctl--;
		break;
	case N_TEMPLATE:
		r = walk_template(s, dot, n);
		break;
	default:
		r = serr(s, n, -EINVAL, "unknown node");
		break;
	}
	s->depth--;
	return r;
}

int tmpl_render(const struct tmpl *t, const struct tmpl_env *env,
                struct buf *out, struct err *e)
{
	return tmpl_render_dot(t, env, NULL, out, e);
}

int tmpl_render_dot(const struct tmpl *t, const struct tmpl_env *env,
                    json_t *dot, struct buf *out, struct err *e)
{
	struct tmpl_env local = *env;
	struct state s;
	size_t max = out->max;
	int r;

	if (local.limits.max_output == 0)
		local.limits.max_output = tmpl_default_limits.max_output;
	if (local.limits.max_depth == 0)
		local.limits.max_depth = tmpl_default_limits.max_depth;
	if (local.limits.max_steps == 0)
		local.limits.max_steps = tmpl_default_limits.max_steps;
	memset(&s, 0, sizeof(s));
	s.t = t;
	s.env = &local;
	s.out = out;
	s.e = e;
	/*
	 * Replays need the data's versions, the same $ every time (the
	 * runner's nil), and nothing to learn from each instance (weighted
	 * ordering weighs every instance a render gives): the callbacks then
	 * go through the state, which records what an iteration reads.
	 */
	s.cache_on = env->cache != NULL && env->version != NULL &&
	             env->lookup != NULL && dot == NULL && env->weigh == NULL;
	if (s.cache_on) {
		s.user = env;
		local.ctx = &s;
		local.lookup = rec_lookup;
		local.order = env->order != NULL ? rec_order : NULL;
		local.weigh = NULL; /* the cache is off when there is one */
		local.warn = env->warn != NULL ? rec_warn : NULL;
		local.version = NULL;
		env->cache->gen++;
		env->cache->replayed = 0;
	}
	/* the output limit counts from what the caller already had */
	if (out->len < max && max - out->len > local.limits.max_output)
		out->max = out->len + local.limits.max_output;
	push_var(&s, "$", dot);
	r = walk(&s, dot, t->root);
	pop_vars(&s, 0);
	free(s.vars);
	out->max = max;
	if (s.cache_on) {
		for (size_t i = 0; i < s.rec.ndeps; i++)
			dep_free(s.rec.deps[i].dep);
		free(s.rec.deps);
		free(s.rec.spans);
		/* A failed render may have stopped before iterations that
		 * are still good: keep them for the next one. */
		if (r >= 0)
			frag_sweep(env->cache);
	}
	return r < 0 ? r : 0;
}
