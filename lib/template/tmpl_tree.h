/*
 * The parse tree: what the parser (template.c) makes and the evaluator
 * (tmpl_eval.c) walks. Not a public contract.
 *
 * A parsed template is a tree of struct tnode. Text nodes point into the
 * template's own copy of the source; constants hold a jansson value (new
 * reference owned by the node); identifiers hold the resolved function.
 * Every node keeps its byte offset so errors can name line and column.
 */
#ifndef CH_TMPL_TREE_H
#define CH_TMPL_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct func_def;
struct trec_schema;
struct trec_field;

/*
 * The field an identifier of a field chain resolved to in the record type
 * it last met: a render reads the same fields of thousands of records of
 * one type, so the evaluator looks each name up once per type.
 */
struct tfield_memo {
	const struct trec_schema *schema;
	const struct trec_field *field;
};

/* Parser nesting bound (parentheses and blocks): no stack overflow. */
#define TMPL_MAX_PARSE_DEPTH 500

enum tnode_type {
	N_LIST,     /* kids: nodes */
	N_TEXT,     /* text, len (borrowed from tmpl->src) */
	N_ACTION,   /* pipe */
	N_IF,       /* pipe, list, elselist (a list, or the next N_IF
	               of an else-if chain) */
	N_RANGE,    /* pipe, list, elselist */
	N_WITH,     /* pipe, list, elselist (a list, or the next N_WITH
	               of an else-with chain) */
	N_BREAK,    /* */
	N_CONTINUE, /* */
	N_TEMPLATE, /* name, pipe (may be NULL) */
	N_PIPE,     /* kids: commands; decl, ndecl, is_assign */
	N_COMMAND,  /* kids: operands */
	N_FIELD,    /* idents: ".A.B" as {"A", "B"} */
	N_VAR,      /* idents[0] "$x", then fields */
	N_DOT,
	N_NIL,
	N_CONST, /* value: bool, number or string */
	N_IDENT, /* name, fn */
	N_CHAIN, /* pipe: the operand (a parenthesised pipeline); idents */
};

struct tnode {
	enum tnode_type type;
	size_t pos; /* byte offset in the source */
	const char *text;
	size_t len;
	struct tnode **kids;
	size_t nkids;
	struct tnode *pipe, *list, *elselist;
	char **idents;
	struct tfield_memo *memo; /* one per ident (the evaluator's) */
	size_t nidents;
	char **decl; /* variable names, "$x" */
	size_t ndecl;
	bool is_assign;
	json_t *value;
	char *name;
	const struct func_def *fn;
	bool denied; /* N_IDENT: in the template's function_denylist */
	/* N_RANGE: an iteration's output depends only on its element, the
	 * data its Consul functions ask for, and $ (tmpl_frag_ok): it may be
	 * replayed from env->cache. */
	bool frag_ok;
};

struct tmpl_define {
	char *name;
	struct tnode *list;
};

struct tmpl {
	char *name;
	char *src;
	size_t srclen;
	bool error_on_missing_key;
	struct tnode *root;
	struct tmpl_define *defs;
	size_t ndefs;
};

/* Line and column (1-based, columns in bytes) of offset pos in t. */
void tmpl_position(const char *src, size_t srclen, size_t pos, int *line,
                   int *col);
/* The named sub-template from define/block; NULL when unknown. */
const struct tnode *tmpl_find_define(const struct tmpl *t, const char *name);

#endif
