/*
 * Regular expressions as consul-template runs them: Go's regexp (RE2)
 * syntax and semantics, matched by PCRE2.
 *
 * regex_compile() parses a pattern the way Go's regexp/syntax does with
 * its Perl flags (what regexp.Compile, and so regexMatch and
 * regexReplaceAll, accept), refuses what RE2 refuses with Go's own text
 * ("error parsing regexp: invalid escape sequence: `\1`": backreferences,
 * lookaround, possessive and nested quantifiers, atomic groups, \C,
 * recursion, comments), and translates the rest into a PCRE2 pattern with
 * the same meaning: \s is [\t\n\f\r ] (PCRE2's includes \v), \v is the
 * vertical tab (PCRE2's is a class), octal escapes, a '{' that starts no
 * repeat is a literal, $ matches only at the end of the text unless (?m),
 * (?m)^ also matches after a final newline, named groups ((?P<n>...),
 * (?<n>...)) are numbered groups whose names are kept here. Classes \d \w
 * \b and [[:alpha:]] are ASCII, as in Go.
 *
 * Matching follows Go: leftmost-first, regexp.MatchString and
 * ReplaceAllString (an empty match right after a match is not replaced;
 * the search advances one UTF-8 sequence after an empty match), and
 * Regexp.Expand for the replacement ($1, ${1}, $name, ${name}, $$).
 *
 * Bounded: PCRE2 backtracks where RE2 runs in linear time, so every match
 * runs under match, depth and heap limits; a pattern that would backtrack
 * without end fails with an error naming the bound instead of stalling
 * the loop. That is the one case where this fails and consul-template
 * does not.
 *
 * regex_get() keeps recently compiled patterns in a small process-wide
 * cache (templates apply the same literal to every instance of a loop).
 * Not thread-safe: the daemon runs one loop.
 */
#ifndef CH_REGEXP_H
#define CH_REGEXP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

/* Longest pattern accepted (Go's limit is on the compiled size). */
#define REGEX_MAX_PATTERN (64u << 10)
/* PCRE2 limits of one match call. */
#define REGEX_MATCH_LIMIT 1000000u
#define REGEX_DEPTH_LIMIT 10000u
#define REGEX_HEAP_LIMIT  (64u << 10) /* KiB */

struct regex;

/*
 * Compile pat[0..len). On error, -EINVAL and e says what, in Go's words:
 * "error parsing regexp: missing closing ): `(`".
 */
int regex_compile(const char *pat, size_t len, struct regex **ret,
                  struct err *e);
struct regex *regex_free(struct regex *re); /* NULL-safe; returns NULL */

/*
 * The compiled pat from the cache, compiling it on a miss. *ret is
 * borrowed: valid until the next regex_get() or regex_cache_clear().
 */
int regex_get(const char *pat, size_t len, struct regex **ret, struct err *e);
/* Free every cached pattern (tests, leak checkers). */
void regex_cache_clear(void);

/* Go's MatchString. -ERANGE when a bound is hit, e says which. */
int regex_match(struct regex *re, const char *s, size_t n, bool *ret,
                struct err *e);

/*
 * Go's ReplaceAllString: s with every match replaced by repl expanded
 * (when it holds a '$'), appended to out. -E2BIG from out, -ERANGE for a
 * bound.
 */
int regex_replace_all(struct regex *re, const char *s, size_t n,
                      const char *repl, size_t rlen, struct buf *out,
                      struct err *e);

#endif
