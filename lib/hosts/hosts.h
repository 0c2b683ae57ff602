/*
 * The hosts-file grammar: what may reach /etc/hosts, and the managed block.
 *
 * A line is blank, a comment ("#..."), or "ADDRESS NAME [NAME...]" with
 * fields separated by spaces or tabs, optionally followed by a "#" comment.
 * ADDRESS is an IPv4 or IPv6 literal that inet_pton accepts (a "%zone"
 * suffix only when allowed); each NAME is a hostname: dot-separated labels
 * of 1-63 characters from [A-Za-z0-9_-], not starting or ending with '-',
 * 253 characters at most. No line may hold a NUL, CR or other control
 * character (tab excepted).
 *
 * Managed block: the text between the lines "# BEGIN consul-hosts" and
 * "# END consul-hosts" (markers included) belongs to consul-hosts; every
 * other byte of the file belongs to the operator and is kept exactly.
 *
 * These functions are pure: they never log and never touch files.
 */
#ifndef CH_HOSTS_H
#define CH_HOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/strmap.h"

#define HOSTS_BLOCK_BEGIN "# BEGIN consul-hosts"
#define HOSTS_BLOCK_END   "# END consul-hosts"
/* At most this many problems are described; all are counted. */
#define HOSTS_MAX_PROBLEMS 100
/* A problem's "text" is cut to this many input bytes (then escaped). */
#define HOSTS_PROBLEM_TEXT 120

/* s[0..len) is an address literal; zone ids ("fe80::1%eth0") only if allowed.
 */
bool hosts_addr_ok(const char *s, size_t len, bool allow_zone);
/* s[0..len) is a valid hostname (see above). */
bool hosts_name_ok(const char *s, size_t len);

struct hosts_stats {
	size_t lines;      /* input lines (a last line without '\n' counts) */
	size_t entries;    /* address lines kept */
	size_t dropped;    /* invalid lines dropped */
	size_t duplicates; /* repeated address lines dropped */
};

/*
 * A checked hosts text, line by line: what the guard, the ordering and
 * the publisher work on, so a render is parsed and validated once.
 *
 * hosts_doc_check() keeps the valid lines of the input in text, exactly as
 * they were (terminators included), and describes each kept line in
 * lines[]: where it is, where it came from, and for an entry its key, the
 * normalised form "ADDRESS name name..." (names lower-cased, one space
 * apart) that identifies it. Repeats of an earlier entry (same key) and
 * invalid lines are left out, as hosts_check() says below.
 */
struct hosts_line {
	size_t off;        /* in doc->text */
	size_t len;        /* without the '\n' */
	size_t src;        /* offset of the line in the checked input */
	size_t lineno;     /* 1-based line number in the input */
	size_t key;        /* entries: offset of the key in doc->keys */
	uint32_t key_len;  /* 0 for blank and comment lines */
	uint32_t addr_len; /* keys[key..key+addr_len) is the address */
	bool entry;        /* an address line */
	bool dynamic;      /* for the caller: came from Consul data */
};

struct hosts_doc {
	struct buf text; /* the kept lines */
	char *keys;      /* entry keys, back to back (not NUL-separated) */
	size_t keys_len;
	struct hosts_line *lines;
	size_t nlines, cap;
	struct hosts_stats st;
	struct strmap index; /* key -> index in lines */
};

/* max bounds doc->text (0: no bound). */
void hosts_doc_init(struct hosts_doc *d, size_t max);
void hosts_doc_free(struct hosts_doc *d);
/*
 * Check text[0..len) into d (its previous content is dropped). problems as
 * for hosts_check(). Returns 0, or -E2BIG when text's bound is hit (d then
 * holds no lines).
 */
int hosts_doc_check(struct hosts_doc *d, const char *text, size_t len,
                    bool allow_zone, json_t *problems);
/*
 * Read text[0..len) into d as a text that is not a hosts file: every line
 * is kept, and every line that is not blank and does not start with '#'
 * counts as an entry keyed by its whole text (repeats included; the index
 * finds the first). For the guards of format "text" outputs.
 */
int hosts_doc_lines(struct hosts_doc *d, const char *text, size_t len);
/* The index in d->lines of the entry with key[0..len), or -1. */
long hosts_doc_find(const struct hosts_doc *d, const char *key, size_t len);
/*
 * For every line i of a, at[i] = the index in b->lines of b's entry with
 * the same key, or -1 (also for a line of a that is no entry): as
 * hosts_doc_find() for each, but entries at the same place in both docs
 * (a render and the one before it differ by a few lines) are matched by
 * comparing them where they are, and only the others are looked up.
 */
void hosts_doc_match(const struct hosts_doc *a, const struct hosts_doc *b,
                     long *at);

/*
 * Check text[0..len) line by line. Valid lines (blank, comment, entry) are
 * appended to out exactly as they were, terminator included; invalid lines
 * and repeats of an earlier entry (same address and names, compared after
 * splitting on blanks) are left out.
 *
 * Every arg but text may be NULL:
 *  - problems: a JSON array (borrowed) that gets one object per dropped
 *    line, {"line": N, "text": "escaped", "reason": "..."}, at most
 *    HOSTS_MAX_PROBLEMS of them;
 *  - names: a JSON object (borrowed) that gets, for every name of a kept
 *    entry (lower-cased), the number of entries carrying it; an existing
 *    count is added to, so old and new can be compared by a guard;
 *  - ret_stats: counts, set on success.
 * Returns 0, or -E2BIG when out's limit is hit (out then holds a prefix).
 */
int hosts_check(const char *text, size_t len, bool allow_zone, struct buf *out,
                json_t *problems, json_t *names, struct hosts_stats *ret_stats);

/*
 * Escape s[0..len) for a log line or a problem: printable ASCII kept,
 * backslash, quote and anything else as \\, \", \n, \r, \t or \xNN; cut to
 * max input bytes with "..." appended. Returns 0 or -E2BIG.
 */
int hosts_escape(const char *s, size_t len, size_t max, struct buf *out);

/*
 * Find the managed block in text[0..len): *ret_start is the offset just
 * after the BEGIN line's terminator, *ret_end the offset of the END line,
 * so text[start..end) is the block's content. A marker line is the marker
 * text alone, optionally followed by blanks or a CR.
 * Returns 0; -ENOENT when neither marker is present; -EINVAL (with a
 * message in why, which may be NULL) when a marker is repeated, one is
 * missing, or END comes before BEGIN.
 */
int hosts_block_find(const char *text, size_t len, size_t *ret_start,
                     size_t *ret_end, const char **why);

/*
 * Append to out the file old[0..oldlen) with its managed block replaced by
 * block[0..blen) (a '\n' is added when block does not end with one); every
 * byte outside the block is kept. With no markers in old, old is copied
 * and the block appended once with its markers, after a '\n' when old is
 * not empty and does not end with one. Errors: -EINVAL for unbalanced or
 * repeated markers in old, or a marker line inside block (never guessed);
 * -E2BIG from out. why (may be NULL) says which.
 */
int hosts_splice(const char *old, size_t oldlen, const char *block, size_t blen,
                 struct buf *out, const char **why);

#endif
