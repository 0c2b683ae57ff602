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
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpl_internal.h"
#include "trecord.h"
#include "tvalue.h"
#include "xmalloc.h"

enum { CTL_BREAK = 1, CTL_CONTINUE = 2 };

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
};

/* out[start..out->len) depends on data: note it in env->spans. */
static void mark_dynamic(struct state *s, size_t start)
{
	struct tmpl_spans *sp = s->env->spans;
	size_t end = s->out->len;

	if (sp == NULL || end == start)
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

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
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

			r = range_once(s, n, key, json_array_get(v, i), mark);
			json_decref(key);
			if (r < 0 || r == CTL_BREAK)
				break;
		}
	} else if (json_is_object(v) && trec_schema_of(v) == NULL) {
		const char **keys, *k;
		json_t *x;

		count = json_object_size(v);
		keys = xreallocarray(NULL, count ? count : 1, sizeof(*keys));
		i = 0;
		json_object_foreach(v, k, x)
		{
			(void)x;
			keys[i++] = k;
		}
		qsort(keys, count, sizeof(*keys), cmp_key);
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
	/* the output limit counts from what the caller already had */
	if (out->len < max && max - out->len > local.limits.max_output)
		out->max = out->len + local.limits.max_output;
	push_var(&s, "$", dot);
	r = walk(&s, dot, t->root);
	pop_vars(&s, 0);
	free(s.vars);
	out->max = max;
	return r < 0 ? r : 0;
}
