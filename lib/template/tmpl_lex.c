/*
 * The template lexer: Go text/template's lex.go, as consul-template uses
 * it (delimiters, trim markers, comments, actions, strings, numbers,
 * keywords), over the whole source at once.
 */
#include "template/tmpl_lex.h"

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

/* ---- lexer ---- */

static void emit(struct parser *p, enum tok_type type, size_t pos, size_t len);

/*
 * A lex error becomes a T_ERROR token (then EOF): Go lexes lazily, so a
 * parse error before that point is the one reported.
 */
static int lerr(struct parser *p, size_t pos, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int lerr(struct parser *p, size_t pos, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->lexmsg, sizeof(p->lexmsg), fmt, ap);
	va_end(ap);
	p->lexpos = pos;
	emit(p, T_ERROR, pos, 0);
	emit(p, T_EOF, pos, 0);
	return -EINVAL;
}

static void emit(struct parser *p, enum tok_type type, size_t pos, size_t len)
{
	if (p->ntoks == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->toks = xreallocarray(p->toks, p->cap, sizeof(*p->toks));
	}
	p->toks[p->ntoks].type = type;
	p->toks[p->ntoks].pos = pos;
	p->toks[p->ntoks].len = len;
	p->ntoks++;
}

static bool is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alnum(int c)
{
	return c == '_' || isalnum((unsigned char)c) ||
	       (unsigned char)c >= 0x80;
}

/* A right trim marker " -" followed by the right delimiter at pos. */
static bool at_right_trim(const struct parser *p, size_t pos)
{
	return pos + 1 < p->len && is_space(p->src[pos]) &&
	       p->src[pos + 1] == '-' && tmpl_at(p, pos + 2, p->rd, p->rdl);
}

static const char *find_delim(const struct parser *p, size_t from)
{
	const char *s = p->src + from, *end = p->src + p->len;

	while (s < end) {
		s = memchr(s, p->ld[0], (size_t)(end - s));
		if (s == NULL)
			return NULL;
		if ((size_t)(end - s) >= p->ldl &&
		    memcmp(s, p->ld, p->ldl) == 0)
			return s;
		s++;
	}
	return NULL;
}

static size_t skip_space(const struct parser *p, size_t pos)
{
	while (pos < p->len && is_space(p->src[pos]))
		pos++;
	return pos;
}

static bool at_terminator(const struct parser *p, size_t pos)
{
	char c;

	if (pos >= p->len)
		return true;
	c = p->src[pos];
	if (is_space(c) || c == '.' || c == ',' || c == '|' || c == ':' ||
	    c == ')' || c == '(')
		return true;
	return tmpl_at(p, pos, p->rd, p->rdl);
}

static size_t accept_run(const struct parser *p, size_t pos, const char *set)
{
	while (pos < p->len && p->src[pos] != '\0' &&
	       strchr(set, p->src[pos]) != NULL)
		pos++;
	return pos;
}

static bool accept1(const struct parser *p, size_t *pos, const char *set)
{
	if (*pos < p->len && p->src[*pos] != '\0' &&
	    strchr(set, p->src[*pos]) != NULL) {
		(*pos)++;
		return true;
	}
	return false;
}

/* Go's scanNumber; returns the end or 0 on bad syntax. */
static size_t scan_number(const struct parser *p, size_t pos)
{
	const char *digits = "0123456789_";
	bool dec = true, hex = false;

	accept1(p, &pos, "+-");
	if (accept1(p, &pos, "0")) {
		if (accept1(p, &pos, "xX")) {
			digits = "0123456789abcdefABCDEF_";
			dec = false;
			hex = true;
		} else if (accept1(p, &pos, "oO")) {
			digits = "01234567_";
			dec = false;
		} else if (accept1(p, &pos, "bB")) {
			digits = "01_";
			dec = false;
		}
	}
	pos = accept_run(p, pos, digits);
	if (accept1(p, &pos, "."))
		pos = accept_run(p, pos, digits);
	if (dec && accept1(p, &pos, "eE")) {
		accept1(p, &pos, "+-");
		pos = accept_run(p, pos, "0123456789_");
	}
	if (hex && accept1(p, &pos, "pP")) {
		accept1(p, &pos, "+-");
		pos = accept_run(p, pos, "0123456789_");
	}
	if (pos < p->len && is_alnum(p->src[pos]))
		return 0;
	return pos;
}

static size_t scan_quoted(const struct parser *p, size_t pos, char q)
{
	pos++;
	while (pos < p->len) {
		char c = p->src[pos];

		if (c == '\\') {
			pos += 2;
			continue;
		}
		if (c == '\n')
			return 0;
		if (c == q)
			return pos + 1;
		pos++;
	}
	return 0;
}

static const struct {
	const char *word;
	enum tok_type type;
} keywords[] = {
        {"if", T_K_IF},
        {"else", T_K_ELSE},
        {"end", T_K_END},
        {"range", T_K_RANGE},
        {"with", T_K_WITH},
        {"define", T_K_DEFINE},
        {"template", T_K_TEMPLATE},
        {"block", T_K_BLOCK},
        {"break", T_K_BREAK},
        {"continue", T_K_CONTINUE},
        {"true", T_BOOL},
        {"false", T_BOOL},
        {"nil", T_NIL},
};

static enum tok_type word_type(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strlen(keywords[i].word) == n &&
		    memcmp(keywords[i].word, s, n) == 0)
			return keywords[i].type;
	return T_IDENT;
}

/* Lex one action starting after the left delimiter; returns the position
 * after the right delimiter (and trimmed space), or 0 on error. */
static size_t lex_action(struct parser *p, size_t pos)
{
	int parens = 0;

	for (;;) {
		size_t start = pos, end;
		char c;

		if (tmpl_at(p, pos, p->rd, p->rdl) || at_right_trim(p, pos)) {
			bool trim = !tmpl_at(p, pos, p->rd, p->rdl);

			if (parens > 0) {
				lerr(p, pos, "unclosed left paren");
				return 0;
			}
			if (trim)
				pos += 2;
			emit(p, T_RIGHT, pos, p->rdl);
			pos += p->rdl;
			return trim ? skip_space(p, pos) : pos;
		}
		if (pos >= p->len) {
			lerr(p, pos, "unclosed action");
			return 0;
		}
		c = p->src[pos];
		if (is_space(c)) {
			while (pos < p->len && is_space(p->src[pos]) &&
			       !at_right_trim(p, pos))
				pos++;
			if (pos > start)
				emit(p, T_SPACE, start, pos - start);
			else if (at_right_trim(p, pos))
				continue;
			continue;
		}
		switch (c) {
		case '=':
			emit(p, T_ASSIGN, pos, 1);
			pos++;
			continue;
		case ':':
			if (pos + 1 >= p->len || p->src[pos + 1] != '=') {
				lerr(p, pos, "expected :=");
				return 0;
			}
			emit(p, T_DECLARE, pos, 2);
			pos += 2;
			continue;
		case '|':
			emit(p, T_PIPE, pos, 1);
			pos++;
			continue;
		case '"':
		case '\'':
			end = scan_quoted(p, pos, c);
			if (end == 0) {
				lerr(p, pos,
				     c == '"' ? "unterminated quoted string"
				              : "unterminated character "
				                "constant");
				return 0;
			}
			emit(p, c == '"' ? T_STRING : T_CHARCONST, pos,
			     end - pos);
			pos = end;
			continue;
		case '`': {
			const char *q = pos + 1 < p->len
			                        ? memchr(p->src + pos + 1, '`',
			                                 p->len - pos - 1)
			                        : NULL;

			if (q == NULL) {
				lerr(p, pos, "unterminated raw quoted string");
				return 0;
			}
			end = (size_t)(q - p->src) + 1;
			emit(p, T_RAWSTRING, pos, end - pos);
			pos = end;
			continue;
		}
		case '$':
			end = pos + 1;
			while (end < p->len && is_alnum(p->src[end]))
				end++;
			if (!at_terminator(p, end)) {
				lerr(p, end, "bad character U+%04X '%c'",
				     (unsigned char)p->src[end], p->src[end]);
				return 0;
			}
			emit(p, T_VAR, pos, end - pos);
			pos = end;
			continue;
		case '(':
			if (++parens > (int)TMPL_MAX_PARSE_DEPTH) {
				lerr(p, pos, "max expression depth exceeded");
				return 0;
			}
			emit(p, T_LPAREN, pos, 1);
			pos++;
			continue;
		case ')':
			if (--parens < 0) {
				lerr(p, pos, "unexpected right paren");
				return 0;
			}
			emit(p, T_RPAREN, pos, 1);
			pos++;
			continue;
		default:
			break;
		}
		if (c == '.' && !(pos + 1 < p->len &&
		                  isdigit((unsigned char)p->src[pos + 1]))) {
			end = pos + 1;
			while (end < p->len && is_alnum(p->src[end]))
				end++;
			if (end == pos + 1) {
				emit(p, T_DOT, pos, 1);
				pos = end;
				continue;
			}
			if (!at_terminator(p, end)) {
				lerr(p, end, "bad character U+%04X '%c'",
				     (unsigned char)p->src[end], p->src[end]);
				return 0;
			}
			emit(p, T_FIELD, pos, end - pos);
			pos = end;
			continue;
		}
		if (c == '.' || c == '+' || c == '-' ||
		    isdigit((unsigned char)c)) {
			end = scan_number(p, pos);
			if (end == 0 || end == pos ||
			    (end == pos + 1 && !isdigit((unsigned char)c))) {
				size_t e2 = pos + 1;

				while (e2 < p->len && is_alnum(p->src[e2]))
					e2++;
				lerr(p, pos, "bad number syntax: \"%.*s\"",
				     (int)(e2 - pos), p->src + pos);
				return 0;
			}
			emit(p, T_NUMBER, pos, end - pos);
			pos = end;
			continue;
		}
		if (is_alnum(c)) {
			end = pos;
			while (end < p->len && is_alnum(p->src[end]))
				end++;
			if (!at_terminator(p, end)) {
				lerr(p, end, "bad character U+%04X '%c'",
				     (unsigned char)p->src[end], p->src[end]);
				return 0;
			}
			emit(p, word_type(p->src + pos, end - pos), pos,
			     end - pos);
			pos = end;
			continue;
		}
		if ((unsigned char)c < 0x7f && isprint((unsigned char)c)) {
			emit(p, T_CHAR, pos, 1);
			pos++;
			continue;
		}
		lerr(p, pos, "unrecognized character in action: U+%04X",
		     (unsigned char)c);
		return 0;
	}
}

int tmpl_lex(struct parser *p)
{
	size_t pos = 0;

	for (;;) {
		const char *d = find_delim(p, pos);
		size_t dpos, tend, after;
		bool ltrim;

		if (d == NULL) {
			if (pos < p->len)
				emit(p, T_TEXT, pos, p->len - pos);
			emit(p, T_EOF, p->len, 0);
			return 0;
		}
		dpos = (size_t)(d - p->src);
		after = dpos + p->ldl;
		ltrim = after + 1 < p->len && p->src[after] == '-' &&
		        is_space(p->src[after + 1]);
		tend = dpos;
		if (ltrim)
			while (tend > pos && is_space(p->src[tend - 1]))
				tend--;
		if (tend > pos)
			emit(p, T_TEXT, pos, tend - pos);
		if (ltrim)
			after += 2;
		if (tmpl_at(p, after, "/*", 2)) {
			const char *c = NULL;
			size_t cend;

			if (after + 2 < p->len)
				c = memmem(p->src + after + 2,
				           p->len - after - 2, "*/", 2);
			if (c == NULL) {
				lerr(p, dpos, "unclosed comment");
				return 0;
			}
			cend = (size_t)(c - p->src) + 2;
			if (tmpl_at(p, cend, p->rd, p->rdl)) {
				pos = cend + p->rdl;
			} else if (at_right_trim(p, cend)) {
				pos = skip_space(p, cend + 2 + p->rdl);
			} else {
				lerr(p, cend,
				     "comment ends before closing delimiter");
				return 0;
			}
			continue;
		}
		emit(p, T_LEFT, dpos, p->ldl);
		pos = lex_action(p, after);
		if (pos == 0)
			return 0; /* the error token ends the stream */
	}
}
