#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

void err_clear(struct err *e)
{
	if (e != NULL)
		memset(e, 0, sizeof(*e));
}

int err_set(struct err *e, int code, const char *file, int line, int col,
            const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	if (file != NULL)
		snprintf(e->file, sizeof(e->file), "%s", file);
	e->line = line;
	e->col = col;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

int err_msg(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->file[0] = '\0';
	e->line = e->col = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

const char *err_format(const struct err *e, char *buf, size_t size)
{
	if (e->file[0] != '\0' && e->line > 0 && e->col > 0)
		snprintf(buf, size, "%s:%d:%d: %s", e->file, e->line, e->col,
		         e->msg);
	else if (e->file[0] != '\0' && e->line > 0)
		snprintf(buf, size, "%s:%d: %s", e->file, e->line, e->msg);
	else if (e->file[0] != '\0')
		snprintf(buf, size, "%s: %s", e->file, e->msg);
	else
		snprintf(buf, size, "%s", e->msg);
	return buf;
}

void err_list_add(struct err_list *l, const struct err *e)
{
	if (l->n == ERR_LIST_MAX) {
		l->dropped++;
		return;
	}
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = *e;
}

void err_list_free(struct err_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = l->dropped = 0;
}
