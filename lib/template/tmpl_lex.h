/*
 * What the template lexer (tmpl_lex.c) and parser (template.c) share: the
 * tokens and the parser's state; not an interface for anyone else
 * (template.h is). The lexer makes the whole token array first (a
 * template is small and parsed rarely); a lex error becomes a T_ERROR
 * token, reported when the parser reaches it.
 */
#ifndef CH_TMPL_LEX_H
#define CH_TMPL_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "base/err.h"
#include "template/template.h"

enum tok_type {
	T_EOF,
	T_ERROR, /* a lex error, reported when the parser reaches it */
	T_TEXT,
	T_LEFT,
	T_RIGHT,
	T_SPACE,
	T_IDENT,
	T_FIELD,
	T_DOT,
	T_VAR,
	T_STRING,
	T_RAWSTRING,
	T_CHARCONST,
	T_NUMBER,
	T_BOOL,
	T_NIL,
	T_PIPE,
	T_LPAREN,
	T_RPAREN,
	T_DECLARE,
	T_ASSIGN,
	T_CHAR,
	T_K_IF,
	T_K_ELSE,
	T_K_END,
	T_K_RANGE,
	T_K_WITH,
	T_K_DEFINE,
	T_K_TEMPLATE,
	T_K_BLOCK,
	T_K_BREAK,
	T_K_CONTINUE,
};

struct tok {
	enum tok_type type;
	size_t pos;
	size_t len;
};

struct parser {
	struct tmpl *t;
	const char *src;
	size_t len;
	const char *ld, *rd;
	size_t ldl, rdl;
	struct tok *toks;
	size_t ntoks, cap, i;
	struct err *e;
	int rc;
	char lexmsg[200];
	size_t lexpos;
	unsigned depth;
	unsigned range_depth;
	char **vars; /* borrowed names, a stack */
	size_t nvars, capvars;
	const char *const *denylist; /* function_denylist, or NULL */
};

static inline bool tmpl_at(const struct parser *p, size_t pos, const char *s,
                           size_t n)
{
	return pos <= p->len && p->len - pos >= n &&
	       memcmp(p->src + pos, s, n) == 0;
}

/* Tokenize p->src into p->toks, ending with T_EOF or a T_ERROR token
 * (p->lexmsg says why); returns 0. */
int tmpl_lex(struct parser *p);

#endif
