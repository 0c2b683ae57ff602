/*
 * A growable byte buffer with a hard size limit (curl's dynbuf).
 *
 * Everything a user or Consul controls (response bodies, rendered output)
 * goes into a struct buf whose limit is set at init; an append that would
 * pass it fails with -E2BIG and leaves the buffer as it was. The data is
 * always NUL-terminated, so buf.data can be used as a C string when the
 * content has no NUL of its own.
 */
#ifndef CH_BUF_H
#define CH_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data; /* NULL until the first append */
	size_t len; /* bytes used, not counting the terminating NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* most bytes len may reach; 0 means SIZE_MAX */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);  /* frees data; b may be reused */
void buf_reset(struct buf *b); /* len = 0, keeps the memory */
int buf_append(struct buf *b, const void *p, size_t n); /* 0 or -E2BIG */
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));
/* Hand over the data (never NULL) and reinitialise b; caller frees. */
char *buf_take(struct buf *b, size_t *ret_len);
/* The content as a C string, "" when empty (borrowed). */
const char *buf_str(const struct buf *b);
/*
 * Append word quoted for sh: 'it'\''s'. With bare_if_safe a non-empty
 * word of only [A-Za-z0-9_-./=:,+@%] goes in as it is. The one shell
 * quoting: config's command lists, publish's {{path}}.
 */
void buf_shell_quote(struct buf *b, const char *word, bool bare_if_safe);

#endif
