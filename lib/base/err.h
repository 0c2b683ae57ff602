/*
 * A caller-supplied error: where (file, line, column) and what.
 *
 * Library functions return 0 or -errno and, when the caller passed a
 * struct err, fill it with a message that names the context ("hosts.tmpl",
 * 12, 18, "unexpected \"}\" in operand"). Modules under lib/ never print;
 * the code driving the loop logs err_format() once. Any pointer may be NULL.
 */
#ifndef CH_ERR_H
#define CH_ERR_H

#include <stddef.h>

struct err {
	char file[256]; /* "" when the error has no file */
	int line;       /* 1-based; 0 when unknown */
	int col;        /* 1-based; 0 when unknown */
	char msg[512];
};

/* Clear e. */
void err_clear(struct err *e);

/*
 * Set e's location and message; returns code so a caller can write
 * "return err_set(e, -EINVAL, ...)". A NULL file keeps the current one.
 */
int err_set(struct err *e, int code, const char *file, int line, int col,
            const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Set only the message; location cleared. Returns code. */
int err_msg(struct err *e, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* "file:line:col: msg", "file: msg" or "msg" into buf; returns buf. */
const char *err_format(const struct err *e, char *buf, size_t size);

/*
 * Every error of one operation, in the order found, for a caller that
 * reports them all at once (config loading). At most ERR_LIST_MAX are
 * kept; later ones are only counted in dropped. Zero-initialise; free
 * with err_list_free (the list can be reused after).
 */
#define ERR_LIST_MAX 64

struct err_list {
	struct err *v;
	size_t n;
	size_t dropped;
};

void err_list_add(struct err_list *l, const struct err *e);
void err_list_free(struct err_list *l); /* NULL-safe */

#endif
