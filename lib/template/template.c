/*
 * Template parser: Go text/template syntax, as consul-template uses it,
 * turned into a tree of struct tnode once per (re)load.
 *
 * The lexer (tmpl_lex.c) produces the whole token array first (a template
 * is small and parsed rarely); the parser is recursive descent over it,
 * following Go's parse.go closely so that trimming, declarations, else-if
 * chains, and the error texts behave the same. Nesting is bounded by
 * TMPL_MAX_PARSE_DEPTH, so hostile input cannot overflow the stack.
 *
 * Map:
 *   literals           strings (Go's escapes), numbers
 *   tree, parser       tnode, recursive descent (pipelines, control,
 *                      define/template/block)
 *   replayable ranges  which range iterations the cache may replay
 *   checks             what a template can see of a health check
 */
#include "template/template.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/funcs.h"
#include "template/tmpl_lex.h"
#include "template/tmpl_tree.h"
#include "base/utf8.h"
#include "base/xmalloc.h"

const struct tmpl_limits tmpl_default_limits = {
        .max_output = TMPL_DEFAULT_MAX_OUTPUT,
        .max_depth = TMPL_DEFAULT_MAX_DEPTH,
        .max_steps = TMPL_DEFAULT_MAX_STEPS,
};

void tmpl_position(const char *src, size_t srclen, size_t pos, int *line,
                   int *col)
{
	size_t i, ln = 1, start = 0;

	if (pos > srclen)
		pos = srclen;
	for (i = 0; i < pos; i++) {
		if (src[i] == '\n') {
			ln++;
			start = i + 1;
		}
	}
	*line = ln > INT_MAX ? INT_MAX : (int)ln;
	*col = pos - start + 1 > INT_MAX ? INT_MAX : (int)(pos - start + 1);
}

static int perr(struct parser *p, size_t pos, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, size_t pos, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	int line, col;

	if (p->rc < 0)
		return p->rc; /* keep the first error */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tmpl_position(p->src, p->len, pos, &line, &col);
	p->rc = -EINVAL;
	err_set(p->e, -EINVAL, p->t->name, line, col, "%s", msg);
	return p->rc;
}

/* ---- string and number literals ---- */

/*
 * Go's strconv.Unquote for "..." and '...': the decoded bytes in out
 * (at most len bytes), their count in *n, and for a char constant the
 * rune in *rune. Returns false on bad syntax.
 */
static bool unquote(const char *s, size_t len, char q, char *out, size_t *n,
                    unsigned long *rune, size_t *nrunes)
{
	size_t i = 1;

	*n = 0;
	*nrunes = 0;
	*rune = 0;
	while (i < len - 1) {
		unsigned long r;
		unsigned char c = (unsigned char)s[i];

		if (c != '\\') {
			if (c == (unsigned char)q)
				return false;
			if (c >= 0xc0) {
				/* a UTF-8 sequence: copy it, decode the rune */
				size_t k = 1;
				unsigned long v = c >= 0xf0   ? c & 0x07u
				                  : c >= 0xe0 ? c & 0x0fu
				                              : c & 0x1fu;

				out[(*n)++] = (char)c;
				while (i + k < len - 1 &&
				       ((unsigned char)s[i + k] & 0xc0) ==
				               0x80) {
					v = (v << 6) | (s[i + k] & 0x3fu);
					out[(*n)++] = s[i + k];
					k++;
				}
				*rune = v;
				(*nrunes)++;
				i += k;
				continue;
			}
			*rune = c;
			out[(*n)++] = (char)c;
			(*nrunes)++;
			i++;
			continue;
		}
		if (i + 1 >= len - 1)
			return false;
		c = (unsigned char)s[++i];
		i++;
		switch (c) {
		case 'a':
			r = '\a';
			break;
		case 'b':
			r = '\b';
			break;
		case 'f':
			r = '\f';
			break;
		case 'n':
			r = '\n';
			break;
		case 'r':
			r = '\r';
			break;
		case 't':
			r = '\t';
			break;
		case 'v':
			r = '\v';
			break;
		case '\\':
			r = '\\';
			break;
		case '\'':
		case '"':
			if (c != (unsigned char)q)
				return false;
			r = c;
			break;
		case 'x':
		case 'u':
		case 'U': {
			int nd = c == 'x' ? 2 : c == 'u' ? 4 : 8, k;

			if (i + (size_t)nd > len - 1)
				return false;
			r = 0;
			for (k = 0; k < nd; k++) {
				int h = utf8_hexdigit((unsigned char)s[i + k]);

				if (h < 0)
					return false;
				r = r * 16 + (unsigned long)h;
			}
			i += (size_t)nd;
			if (c == 'x') {
				out[(*n)++] = (char)r;
				*rune = r;
				(*nrunes)++;
				continue;
			}
			if (r > 0x10ffff || (r >= 0xd800 && r < 0xe000))
				return false;
			*n += utf8_encode(out + *n, (uint32_t)r);
			*rune = r;
			(*nrunes)++;
			continue;
		}
		default:
			if (c >= '0' && c <= '7') {
				int k;

				if (i + 2 > len - 1)
					return false;
				r = c - '0';
				for (k = 0; k < 2; k++) {
					if (s[i + k] < '0' || s[i + k] > '7')
						return false;
					r = r * 8 +
					    (unsigned long)(s[i + k] - '0');
				}
				i += 2;
				if (r > 255)
					return false;
				out[(*n)++] = (char)r;
				*rune = r;
				(*nrunes)++;
				continue;
			}
			return false;
		}
		out[(*n)++] = (char)r;
		*rune = r;
		(*nrunes)++;
	}
	return true;
}

static json_t *parse_number(const char *s, size_t n)
{
	char buf[128], *end;
	size_t i, k = 0;
	bool neg = false, is_float = false;
	const char *d;
	int base = 10;

	if (n >= sizeof(buf))
		return NULL;
	for (i = 0; i < n; i++)
		if (s[i] != '_')
			buf[k++] = s[i];
	buf[k] = '\0';
	d = buf;
	if (*d == '+' || *d == '-') {
		neg = *d == '-';
		d++;
	}
	if (d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) {
		base = 16;
		d += 2;
		if (strpbrk(d, ".pP") != NULL)
			is_float = true;
	} else if (d[0] == '0' && (d[1] == 'o' || d[1] == 'O')) {
		base = 8;
		d += 2;
	} else if (d[0] == '0' && (d[1] == 'b' || d[1] == 'B')) {
		base = 2;
		d += 2;
	} else if (strpbrk(d, ".eE") != NULL) {
		is_float = true;
	} else if (d[0] == '0' && d[1] != '\0') {
		base = 8;
	}
	if (is_float) {
		double v;

		errno = 0;
		v = strtod(buf, &end);
		if (*end != '\0' || errno == ERANGE)
			return NULL;
		return json_real(v);
	} else {
		unsigned long long v;

		if (*d == '\0' || *d == '-' || *d == '+')
			return NULL;
		errno = 0;
		v = strtoull(d, &end, base);
		if (*end != '\0' || errno == ERANGE)
			return NULL;
		if (neg ? v > (unsigned long long)INT64_MAX + 1
		        : v > (unsigned long long)INT64_MAX)
			return NULL;
		if (neg)
			return json_integer(v == (unsigned long long)INT64_MAX +
			                                            1
			                            ? INT64_MIN
			                            : -(json_int_t)v);
		return json_integer((json_int_t)v);
	}
}

/* ---- tree ---- */

static struct tnode *node_new(enum tnode_type type, size_t pos)
{
	struct tnode *n = xcalloc(1, sizeof(*n));

	n->type = type;
	n->pos = pos;
	return n;
}

/* Iterative along elselist: an else-if chain may be long. */
static void node_free(struct tnode *n)
{
	struct tnode *next;
	size_t i;

	for (; n != NULL; n = next) {
		for (i = 0; i < n->nkids; i++)
			node_free(n->kids[i]);
		free(n->kids);
		node_free(n->pipe);
		node_free(n->list);
		next = n->elselist;
		for (i = 0; i < n->nidents; i++)
			free(n->idents[i]);
		free(n->idents);
		free(n->memo);
		for (i = 0; i < n->ndecl; i++)
			free(n->decl[i]);
		free(n->decl);
		json_decref(n->value);
		free(n->name);
		free(n);
	}
}

static void node_add(struct tnode *n, struct tnode *kid)
{
	if ((n->nkids & (n->nkids - 1)) == 0) /* 0, 1, 2, 4, ...: grow */
		n->kids = xreallocarray(n->kids, n->nkids ? n->nkids * 2 : 1,
		                        sizeof(*n->kids));
	n->kids[n->nkids++] = kid;
}

static void node_add_ident(struct tnode *n, const char *s, size_t len)
{
	n->idents =
	        xreallocarray(n->idents, n->nidents + 1, sizeof(*n->idents));
	n->memo = xreallocarray(n->memo, n->nidents + 1, sizeof(*n->memo));
	memset(&n->memo[n->nidents], 0, sizeof(*n->memo));
	n->idents[n->nidents++] = xstrndup(s, len);
}

/* ---- parser ---- */

static void check_error_tok(struct parser *p, const struct tok *t)
{
	if (t->type == T_ERROR)
		perr(p, p->lexpos, "%s", p->lexmsg);
}

static const struct tok *peek(struct parser *p)
{
	check_error_tok(p, &p->toks[p->i]);
	return &p->toks[p->i];
}

static const struct tok *next(struct parser *p)
{
	const struct tok *t = &p->toks[p->i];

	check_error_tok(p, t);
	if (t->type != T_EOF && t->type != T_ERROR)
		p->i++;
	return t;
}

static const struct tok *peek_nonspace(struct parser *p)
{
	if (p->toks[p->i].type == T_SPACE)
		p->i++;
	return peek(p);
}

static const struct tok *next_nonspace(struct parser *p)
{
	peek_nonspace(p);
	return next(p);
}

static const char *tok_desc(struct parser *p, const struct tok *t, char *buf,
                            size_t size)
{
	if (t->type == T_EOF)
		return "EOF";
	if (t->type >= T_K_IF)
		snprintf(buf, size, "<%.*s>", (int)t->len, p->src + t->pos);
	else
		snprintf(buf, size, "\"%.*s\"", t->len > 40 ? 40 : (int)t->len,
		         p->src + t->pos);
	return buf;
}

static int unexpected(struct parser *p, const struct tok *t,
                      const char *context)
{
	char buf[64];

	return perr(p, t->pos, "unexpected %s in %s",
	            tok_desc(p, t, buf, sizeof(buf)), context);
}

static void push_var(struct parser *p, char *name)
{
	if (p->nvars == p->capvars) {
		p->capvars = p->capvars ? p->capvars * 2 : 16;
		p->vars = xreallocarray(p->vars, p->capvars, sizeof(*p->vars));
	}
	p->vars[p->nvars++] = name;
}

static bool var_known(struct parser *p, const char *name, size_t len)
{
	size_t i;

	for (i = p->nvars; i-- > 0;)
		if (strlen(p->vars[i]) == len &&
		    memcmp(p->vars[i], name, len) == 0)
			return true;
	return false;
}

static struct tnode *parse_pipeline(struct parser *p, const char *context,
                                    enum tok_type end);
static struct tnode *parse_list(struct parser *p, enum tok_type *ended,
                                size_t *endpos);

static struct tnode *new_var_node(struct parser *p, const struct tok *t)
{
	struct tnode *n = node_new(N_VAR, t->pos);
	const char *s = p->src + t->pos;
	const char *dot = memchr(s, '.', t->len);
	size_t first = dot != NULL ? (size_t)(dot - s) : t->len;

	node_add_ident(n, s, first);
	return n;
}

static struct tnode *term(struct parser *p)
{
	const struct tok *t = next_nonspace(p);
	const char *s = p->src + t->pos;
	struct tnode *n;

	switch (t->type) {
	case T_IDENT: {
		char *name = xstrndup(s, t->len);
		const struct func_def *fn = func_lookup(name);
		const char *why;
		bool denied = func_denied(name, p->denylist);

		if (fn == NULL && !denied &&
		    (why = func_unsupported(name)) != NULL) {
			perr(p, t->pos, "consul-hosts does not support %s (%s)",
			     name, why);
			free(name);
			return NULL;
		}
		if (fn == NULL && !(denied && func_unsupported(name) != NULL)) {
			perr(p, t->pos, "function \"%s\" not defined", name);
			free(name);
			return NULL;
		}
		n = node_new(N_IDENT, t->pos);
		n->name = name;
		n->fn = fn;
		n->denied = denied;
		return n;
	}
	case T_DOT:
		return node_new(N_DOT, t->pos);
	case T_NIL:
		return node_new(N_NIL, t->pos);
	case T_VAR:
		if (!var_known(p, s, t->len)) {
			perr(p, t->pos, "undefined variable \"%.*s\"",
			     (int)t->len, s);
			return NULL;
		}
		return new_var_node(p, t);
	case T_FIELD:
		n = node_new(N_FIELD, t->pos);
		node_add_ident(n, s + 1, t->len - 1);
		return n;
	case T_BOOL:
		n = node_new(N_CONST, t->pos);
		n->value = json_boolean(s[0] == 't');
		return n;
	case T_NUMBER:
		n = node_new(N_CONST, t->pos);
		n->value = parse_number(s, t->len);
		if (n->value == NULL) {
			node_free(n);
			perr(p, t->pos, "illegal number syntax: \"%.*s\"",
			     (int)t->len, s);
			return NULL;
		}
		return n;
	case T_CHARCONST:
	case T_STRING: {
		char *buf = xmalloc(t->len + 1);
		size_t len, nr;
		unsigned long rune;
		bool ok = unquote(s, t->len, *s, buf, &len, &rune, &nr);

		if (!ok || (t->type == T_CHARCONST && nr != 1)) {
			free(buf);
			perr(p, t->pos,
			     t->type == T_STRING
			             ? "invalid syntax in quoted string %.*s"
			             : "malformed character constant: %.*s",
			     (int)(t->len > 40 ? 40 : t->len), s);
			return NULL;
		}
		n = node_new(N_CONST, t->pos);
		n->value = t->type == T_STRING ? json_stringn_nocheck(buf, len)
		                               : json_integer((json_int_t)rune);
		free(buf);
		return n;
	}
	case T_RAWSTRING:
		n = node_new(N_CONST, t->pos);
		n->value = json_stringn_nocheck(s + 1, t->len - 2);
		return n;
	case T_LPAREN:
		if (++p->depth > TMPL_MAX_PARSE_DEPTH) {
			perr(p, t->pos, "max expression depth exceeded");
			return NULL;
		}
		n = parse_pipeline(p, "parenthesized pipeline", T_RPAREN);
		p->depth--;
		return n;
	default:
		p->i--; /* back up */
		if (p->toks[p->i].type != t->type)
			p->i++;
		return NULL;
	}
}

static struct tnode *operand(struct parser *p)
{
	struct tnode *n = term(p), *chain;

	if (n != NULL && p->rc < 0) {
		node_free(n);
		return NULL;
	}
	if (n == NULL)
		return n;
	if (peek(p)->type != T_FIELD)
		return n;
	switch (n->type) {
	case N_FIELD:
	case N_VAR:
		chain = n;
		break;
	case N_CONST:
	case N_NIL:
	case N_DOT: {
		char q[100];
		size_t k, j = 0, len = peek(p)->pos - n->pos;

		for (k = 0; k < len && j + 3 < sizeof(q); k++) {
			char ch = p->src[n->pos + k];

			if (ch == '"' || ch == '\\')
				q[j++] = '\\';
			q[j++] = ch;
		}
		q[j] = '\0';
		perr(p, peek(p)->pos, "unexpected . after term \"%s\"", q);
	}
		node_free(n);
		return NULL;
	default:
		chain = node_new(N_CHAIN, n->pos);
		chain->pipe = n;
		break;
	}
	while (peek(p)->type == T_FIELD) {
		const struct tok *t = next(p);
		const char *s = p->src + t->pos + 1;
		size_t len = t->len - 1;

		node_add_ident(chain, s, len);
	}
	return chain;
}

static struct tnode *command(struct parser *p)
{
	struct tnode *cmd = node_new(N_COMMAND, peek_nonspace(p)->pos);

	for (;;) {
		struct tnode *op;
		const struct tok *t;

		peek_nonspace(p);
		op = operand(p);
		if (p->rc < 0) {
			node_free(op);
			goto fail;
		}
		if (op != NULL)
			node_add(cmd, op);
		t = next(p);
		switch (t->type) {
		case T_SPACE:
			continue;
		case T_RIGHT:
		case T_RPAREN:
			p->i--;
			break;
		case T_PIPE: {
			enum tok_type nt = peek_nonspace(p)->type;

			if (nt == T_RIGHT || nt == T_RPAREN) {
				perr(p, t->pos, "missing command after |");
				goto fail;
			}
			break;
		}
		default:
			unexpected(p, t, "operand");
			goto fail;
		}
		break;
	}
	if (cmd->nkids == 0) {
		perr(p, cmd->pos, "empty command");
		goto fail;
	}
	return cmd;
fail:
	node_free(cmd);
	return NULL;
}

static struct tnode *parse_pipeline(struct parser *p, const char *context,
                                    enum tok_type end)
{
	struct tnode *pipe = node_new(N_PIPE, peek_nonspace(p)->pos);
	const struct tok *v;
	size_t i;

decls:
	v = peek_nonspace(p);
	if (v->type == T_VAR) {
		size_t save = p->i;
		const struct tok *nx;

		next(p);
		nx = peek_nonspace(p);
		if (nx->type == T_ASSIGN || nx->type == T_DECLARE ||
		    (nx->type == T_CHAR && p->src[nx->pos] == ',')) {
			char *name = xstrndup(p->src + v->pos, v->len);

			if (memchr(name, '.', v->len) != NULL) {
				free(name);
				perr(p, v->pos, "unexpected \".\" in %s",
				     context);
				goto fail;
			}
			if (nx->type == T_ASSIGN) {
				pipe->is_assign = true;
				if (!var_known(p, name, v->len)) {
					perr(p, v->pos,
					     "undefined variable \"%s\"", name);
					free(name);
					goto fail;
				}
			}
			pipe->decl = xreallocarray(pipe->decl, pipe->ndecl + 1,
			                           sizeof(*pipe->decl));
			pipe->decl[pipe->ndecl++] = name;
			next(p);
			if (nx->type == T_CHAR) {
				if (strcmp(context, "range") == 0 &&
				    pipe->ndecl < 2) {
					switch (peek_nonspace(p)->type) {
					case T_VAR:
						goto decls;
					default:
						perr(p, peek(p)->pos,
						     "range can only "
						     "initialize "
						     "variables");
						goto fail;
					}
				}
				perr(p, nx->pos, "too many declarations in %s",
				     context);
				goto fail;
			}
		} else {
			p->i = save;
		}
	}
	for (;;) {
		const struct tok *t = next_nonspace(p);
		struct tnode *cmd;

		if (t->type == end)
			break;
		switch (t->type) {
		case T_BOOL:
		case T_CHARCONST:
		case T_DOT:
		case T_FIELD:
		case T_IDENT:
		case T_NUMBER:
		case T_NIL:
		case T_RAWSTRING:
		case T_STRING:
		case T_VAR:
		case T_LPAREN:
			p->i--;
			cmd = command(p);
			if (cmd == NULL)
				goto fail;
			node_add(pipe, cmd);
			continue;
		default:
			unexpected(p, t, context);
			goto fail;
		}
	}
	if (pipe->nkids == 0) {
		perr(p, pipe->pos, "missing value for %s", context);
		goto fail;
	}
	for (i = 1; i < pipe->nkids; i++) {
		switch (pipe->kids[i]->kids[0]->type) {
		case N_CONST:
		case N_DOT:
		case N_NIL:
			perr(p, pipe->kids[i]->pos,
			     "non executable command in pipeline stage %zu",
			     i + 1);
			goto fail;
		default:
			break;
		}
	}
	/* declarations become visible after the pipeline */
	for (i = 0; i < pipe->ndecl; i++)
		if (!pipe->is_assign)
			push_var(p, pipe->decl[i]);
	return pipe;
fail:
	node_free(pipe);
	return NULL;
}

/* ---- ranges whose iterations may be replayed (tmpl_env.cache) ---- */

/* Variable names, with how often each is declared. */
struct names {
	struct {
		const char *name;
		unsigned decls;
		bool used;
	} * v;
	size_t n;
};

static size_t names_at(struct names *ns, const char *name)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i].name, name) == 0)
			return i;
	ns->v = xreallocarray(ns->v, ns->n + 1, sizeof(*ns->v));
	ns->v[ns->n].name = name;
	ns->v[ns->n].decls = 0;
	ns->v[ns->n].used = false;
	return ns->n++;
}

/*
 * Collect n's variable declarations and uses (every node, defines not
 * followed) into ns; *bad when n does what a replayed iteration could
 * not: call a template, or a function whose answer is not the same for
 * the same data (file, shuffle).
 */
static void frag_scan(const struct tnode *n, struct names *ns, bool *bad)
{
	for (; n != NULL; n = n->elselist) {
		if (n->type == N_TEMPLATE ||
		    (n->type == N_IDENT && n->name != NULL &&
		     (strcmp(n->name, "file") == 0 ||
		      strcmp(n->name, "shuffle") == 0)))
			*bad = true;
		if (n->type == N_VAR && n->nidents > 0) {
			size_t k = names_at(ns, n->idents[0]);

			ns->v[k].used = true;
		}
		for (size_t i = 0; i < n->ndecl; i++) {
			size_t k = names_at(ns, n->decl[i]);

			if (n->is_assign)
				ns->v[k].used = true;
			else
				ns->v[k].decls++;
		}
		for (size_t i = 0; i < n->nkids; i++)
			frag_scan(n->kids[i], ns, bad);
		frag_scan(n->pipe, ns, bad);
		frag_scan(n->list, ns, bad);
	}
}

/*
 * Whether range n's body (and its else) depends on nothing but its
 * element, its functions' data and $: every variable it uses is declared
 * in it and nowhere else in the template (no outer value, no shadowing),
 * and at most the element is declared by the range.
 */
static bool frag_ok(const struct tnode *n, const struct names *all)
{
	struct names in = {0};
	bool bad = n->pipe == NULL || n->pipe->ndecl > 1;

	if (!bad) {
		for (size_t i = 0; i < n->pipe->ndecl; i++) {
			size_t k = names_at(&in, n->pipe->decl[i]);

			in.v[k].decls++;
		}
		frag_scan(n->list, &in, &bad);
		frag_scan(n->elselist, &in, &bad);
	}
	for (size_t i = 0; !bad && i < in.n; i++) {
		size_t k;

		if (!in.v[i].used || strcmp(in.v[i].name, "$") == 0)
			continue;
		for (k = 0; k < all->n; k++)
			if (strcmp(all->v[k].name, in.v[i].name) == 0)
				break;
		bad = in.v[i].decls == 0 || k == all->n ||
		      all->v[k].decls != in.v[i].decls;
	}
	free(in.v);
	return !bad;
}

static void frag_mark_node(struct tnode *n, const struct names *all)
{
	for (; n != NULL; n = n->elselist) {
		if (n->type == N_RANGE)
			n->frag_ok = frag_ok(n, all);
		for (size_t i = 0; i < n->nkids; i++)
			frag_mark_node(n->kids[i], all);
		frag_mark_node(n->pipe, all);
		frag_mark_node(n->list, all);
	}
}

/* Mark every range of t whose iterations may be replayed. */
static void frag_mark(struct tmpl *t)
{
	struct names all = {0};
	bool bad = false;

	frag_scan(t->root, &all, &bad);
	for (size_t i = 0; i < t->ndefs; i++)
		frag_scan(t->defs[i].list, &all, &bad);
	frag_mark_node(t->root, &all);
	for (size_t i = 0; i < t->ndefs; i++)
		frag_mark_node(t->defs[i].list, &all);
	free(all.v);
}

static int expect_right(struct parser *p, const char *context)
{
	const struct tok *t = next_nonspace(p);

	if (t->type != T_RIGHT)
		return unexpected(p, t, context);
	return 0;
}

enum { END_END = 1, END_ELSE, END_EOF };

/*
 * if/range/with: pipeline, list, optional else (or else-if / else-with
 * chain), end. Variables declared inside go out of scope at the end.
 *
 * An else-if (else-with) chain is parsed in a loop, not by recursion, and
 * counts as one level of nesting however long it is: each further arm
 * becomes the previous arm's elselist directly (an N_IF or N_WITH node,
 * where a plain {{else}} gives an N_LIST), which is how the evaluator
 * tells a chain from real nesting.
 */
static struct tnode *parse_control(struct parser *p, enum tnode_type type,
                                   const char *context, size_t pos)
{
	size_t nvars = p->nvars;
	struct tnode *head = NULL, **slot = &head, *n;
	enum tok_type ended;
	size_t endpos;

	if (++p->depth > TMPL_MAX_PARSE_DEPTH) {
		perr(p, pos, "max expression depth exceeded");
		goto fail;
	}
	for (;;) {
		const struct tok *t;

		n = node_new(type, pos);
		*slot = n;
		n->pipe = parse_pipeline(p, context, T_RIGHT);
		if (n->pipe == NULL)
			goto fail;
		if (type == N_RANGE)
			p->range_depth++;
		n->list = parse_list(p, &ended, &endpos);
		if (type == N_RANGE)
			p->range_depth--;
		if (n->list == NULL)
			goto fail;
		if (ended != T_K_ELSE)
			break;
		t = peek_nonspace(p);
		if ((type == N_IF && t->type == T_K_IF) ||
		    (type == N_WITH && t->type == T_K_WITH)) {
			/* one more arm; declarations stay in scope */
			next(p);
			pos = t->pos;
			slot = &n->elselist;
			continue;
		}
		if (expect_right(p, "else") < 0)
			goto fail;
		n->elselist = parse_list(p, &ended, &endpos);
		if (n->elselist == NULL)
			goto fail;
		if (ended != T_K_END) {
			perr(p, endpos, "expected end; found {{else}}");
			goto fail;
		}
		break;
	}
	p->depth--;
	p->nvars = nvars;
	return head;
fail:
	p->nvars = nvars;
	node_free(head);
	return NULL;
}

static struct tnode *parse_template_call(struct parser *p, size_t pos,
                                         const char *context)
{
	const struct tok *t = next_nonspace(p);
	struct tnode *n, *name;

	if (t->type != T_STRING && t->type != T_RAWSTRING) {
		unexpected(p, t, context);
		return NULL;
	}
	p->i--;
	name = term(p);
	if (name == NULL)
		return NULL;
	n = node_new(N_TEMPLATE, pos);
	n->name = xstrndup(json_string_value(name->value),
	                   json_string_length(name->value));
	node_free(name);
	if (peek_nonspace(p)->type != T_RIGHT) {
		size_t nvars = p->nvars;

		n->pipe = parse_pipeline(p, context, T_RIGHT);
		p->nvars = nvars;
		if (n->pipe == NULL) {
			node_free(n);
			return NULL;
		}
	} else {
		next(p);
	}
	return n;
}

static int add_define(struct parser *p, const char *name, struct tnode *list,
                      size_t pos)
{
	size_t i;

	for (i = 0; i < p->t->ndefs; i++) {
		if (strcmp(p->t->defs[i].name, name) == 0) {
			node_free(list);
			return perr(p, pos,
			            "template: multiple definition of "
			            "template \"%s\"",
			            name);
		}
	}
	p->t->defs =
	        xreallocarray(p->t->defs, p->t->ndefs + 1, sizeof(*p->t->defs));
	p->t->defs[p->t->ndefs].name = xstrdup(name);
	p->t->defs[p->t->ndefs].list = list;
	p->t->ndefs++;
	return 0;
}

/* {{define "name"}} ... {{end}} and {{block "name" pipe}} ... {{end}} */
static struct tnode *parse_define(struct parser *p, size_t pos, bool block)
{
	struct tnode *call = NULL, *list;
	size_t nvars = p->nvars, ranges = p->range_depth;
	enum tok_type ended;
	size_t endpos;
	const char *context = block ? "block clause" : "define clause";
	char *name;

	call = parse_template_call(p, pos, context);
	if (call == NULL)
		return NULL;
	if (!block && call->pipe != NULL) {
		perr(p, call->pipe->pos, "unexpected pipeline in %s", context);
		node_free(call);
		return NULL;
	}
	/* a definition sees only $ */
	p->nvars = 1;
	p->range_depth = 0;
	if (++p->depth > TMPL_MAX_PARSE_DEPTH) {
		perr(p, pos, "max expression depth exceeded");
		list = NULL;
	} else {
		list = parse_list(p, &ended, &endpos);
	}
	p->depth--;
	p->nvars = nvars;
	p->range_depth = ranges;
	if (list != NULL && ended != T_K_END) {
		perr(p, endpos, "unexpected {{else}} in %s", context);
		node_free(list);
		list = NULL;
	}
	if (list == NULL) {
		node_free(call);
		return NULL;
	}
	name = call->name;
	if (add_define(p, name, list, pos) < 0) {
		node_free(call);
		return NULL;
	}
	if (!block) {
		node_free(call);
		return node_new(N_LIST, pos); /* nothing to execute */
	}
	return call;
}

/* One text or action; *ended set for {{end}} and {{else}}. */
static struct tnode *text_or_action(struct parser *p, enum tok_type *ended,
                                    size_t *endpos)
{
	const struct tok *t = next_nonspace(p);
	struct tnode *n;

	*ended = T_EOF;
	if (t->type == T_TEXT) {
		n = node_new(N_TEXT, t->pos);
		n->text = p->t->src + t->pos;
		n->len = t->len;
		return n;
	}
	if (t->type != T_LEFT) {
		unexpected(p, t, "input");
		return NULL;
	}
	t = next_nonspace(p);
	switch (t->type) {
	case T_K_END:
		*ended = T_K_END;
		*endpos = t->pos;
		if (expect_right(p, "end") < 0)
			return NULL;
		return node_new(N_LIST, t->pos);
	case T_K_ELSE:
		*ended = T_K_ELSE;
		*endpos = t->pos;
		return node_new(N_LIST, t->pos);
	case T_K_IF:
		return parse_control(p, N_IF, "if", t->pos);
	case T_K_RANGE:
		return parse_control(p, N_RANGE, "range", t->pos);
	case T_K_WITH:
		return parse_control(p, N_WITH, "with", t->pos);
	case T_K_BREAK:
	case T_K_CONTINUE: {
		bool brk = t->type == T_K_BREAK;

		if (p->range_depth == 0) {
			perr(p, t->pos, "{{%s}} outside {{range}}",
			     brk ? "break" : "continue");
			return NULL;
		}
		if (expect_right(p, brk ? "{{break}}" : "{{continue}}") < 0)
			return NULL;
		return node_new(brk ? N_BREAK : N_CONTINUE, t->pos);
	}
	case T_K_TEMPLATE:
		return parse_template_call(p, t->pos, "template clause");
	case T_K_DEFINE:
		return parse_define(p, t->pos, false);
	case T_K_BLOCK:
		return parse_define(p, t->pos, true);
	default:
		p->i--;
		n = node_new(N_ACTION, t->pos);
		n->pipe = parse_pipeline(p, "command", T_RIGHT);
		if (n->pipe == NULL) {
			node_free(n);
			return NULL;
		}
		return n;
	}
}

/* Nodes until {{end}}, {{else}} or EOF (reported in *ended). */
static struct tnode *parse_list(struct parser *p, enum tok_type *ended,
                                size_t *endpos)
{
	struct tnode *list = node_new(N_LIST, peek(p)->pos);

	for (;;) {
		struct tnode *n;

		if (peek_nonspace(p)->type == T_EOF) {
			*ended = T_EOF;
			*endpos = peek(p)->pos;
			if (p->depth > 0) {
				perr(p, peek(p)->pos, "unexpected EOF");
				goto fail;
			}
			return list;
		}
		n = text_or_action(p, ended, endpos);
		if (n != NULL && p->rc < 0) {
			node_free(n);
			n = NULL;
		}
		if (n == NULL)
			goto fail;
		if (*ended != T_EOF) {
			node_free(n);
			if (p->depth == 0) {
				perr(p, *endpos, "unexpected {{%s}}",
				     *ended == T_K_END ? "end" : "else");
				goto fail;
			}
			return list;
		}
		if (n->type == N_LIST && n->nkids == 0) {
			node_free(n); /* a define */
			continue;
		}
		node_add(list, n);
	}
fail:
	node_free(list);
	return NULL;
}

const struct tnode *tmpl_find_define(const struct tmpl *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->ndefs; i++)
		if (strcmp(t->defs[i].name, name) == 0)
			return t->defs[i].list;
	return NULL;
}

int tmpl_parse(const char *text, size_t len, const struct tmpl_opts *opts,
               struct tmpl **ret, struct err *e)
{
	struct parser p;
	struct tmpl *t = xcalloc(1, sizeof(*t));
	enum tok_type ended;
	size_t endpos;
	char dollar[] = "$";

	memset(&p, 0, sizeof(p));
	t->name = xstrdup(opts != NULL && opts->name != NULL ? opts->name
	                                                     : "inline");
	t->src = xmalloc(len + 1);
	if (len > 0)
		memcpy(t->src, text, len);
	t->src[len] = '\0';
	t->srclen = len;
	t->error_on_missing_key = opts != NULL && opts->error_on_missing_key;
	p.t = t;
	p.src = t->src;
	p.len = len;
	p.e = e;
	p.ld = opts != NULL && opts->left_delim != NULL &&
	                       opts->left_delim[0] != '\0'
	               ? opts->left_delim
	               : "{{";
	p.rd = opts != NULL && opts->right_delim != NULL &&
	                       opts->right_delim[0] != '\0'
	               ? opts->right_delim
	               : "}}";
	p.ldl = strlen(p.ld);
	p.rdl = strlen(p.rd);
	p.denylist = opts != NULL ? opts->function_denylist : NULL;
	if (tmpl_lex(&p) == 0) {
		push_var(&p, dollar);
		t->root = parse_list(&p, &ended, &endpos);
	}
	free(p.toks);
	free(p.vars);
	if (p.rc < 0 || t->root == NULL) {
		tmpl_free(t);
		return p.rc < 0 ? p.rc : -EINVAL;
	}
	frag_mark(t);
	*ret = t;
	return 0;
}

struct tmpl *tmpl_free(struct tmpl *t)
{
	size_t i;

	if (t == NULL)
		return NULL;
	node_free(t->root);
	for (i = 0; i < t->ndefs; i++) {
		free(t->defs[i].name);
		node_free(t->defs[i].list);
	}
	free(t->defs);
	free(t->src);
	free(t->name);
	free(t);
	return NULL;
}

/* ---- what a template can see of a health check ---- */

struct sees {
	bool names_text;   /* .Output, .Notes, .CreateIndex, .ModifyIndex */
	bool names_checks; /* .Checks */
	bool encodes;      /* toJSON and its kin: every field of a value */
	bool formats;      /* printf, print, ...: fmt's %v of a value */
	bool prints_value; /* an action printing ., a variable, index's ... */
};

static bool name_in(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/* Whether the last command of pipe can give a whole record (not a field
 * of one: no field of any record holds a single check). */
static bool gives_value(const struct tnode *pipe)
{
	static const char *const picks[] = {"index", "and", "or", "call", NULL};
	const struct tnode *first;

	if (pipe == NULL || pipe->nkids == 0)
		return false;
	first = pipe->kids[pipe->nkids - 1]->kids[0];
	switch (first->type) {
	case N_DOT:
		return true;
	case N_VAR:
		return first->nidents == 1;
	case N_PIPE:
		return gives_value(first);
	case N_IDENT:
		return name_in(first->name, picks);
	default:
		return false;
	}
}

static void sees_scan(const struct tnode *n, struct sees *s)
{
	static const char *const text[] = {"Output", "Notes", "CreateIndex",
	                                   "ModifyIndex", NULL};
	static const char *const encoders[] = {"toJSON", "toJSONPretty",
	                                       "toUnescapedJSON",
	                                       "toUnescapedJSONPretty", NULL};
	static const char *const formatters[] = {"printf", "print", "println",
	                                         "html",   "js",    "urlquery",
	                                         "join",   NULL};

	for (; n != NULL; n = n->elselist) {
		for (size_t i = n->type == N_VAR ? 1 : 0; i < n->nidents; i++) {
			s->names_text |= name_in(n->idents[i], text);
			s->names_checks |= strcmp(n->idents[i], "Checks") == 0;
		}
		if (n->type == N_IDENT && n->name != NULL) {
			s->encodes |= name_in(n->name, encoders);
			s->formats |= name_in(n->name, formatters);
		}
		if (n->type == N_ACTION && n->pipe != NULL &&
		    n->pipe->ndecl == 0)
			s->prints_value |= gives_value(n->pipe);
		for (size_t i = 0; i < n->nkids; i++)
			sees_scan(n->kids[i], s);
		sees_scan(n->pipe, s);
		sees_scan(n->list, s);
	}
}

enum dep_checks tmpl_checks_seen(const struct tmpl *t)
{
	struct sees s = {0};

	sees_scan(t->root, &s);
	for (size_t i = 0; i < t->ndefs; i++)
		sees_scan(t->defs[i].list, &s);
	if (s.names_text || s.encodes ||
	    (s.names_checks && (s.formats || s.prints_value)))
		return DEP_CHECKS_ALL;
	if (s.names_checks || s.formats || s.prints_value)
		return DEP_CHECKS_NO_TEXT;
	return DEP_CHECKS_NONE;
}
