/*
 * Allocation that never returns NULL.
 *
 * Out of memory is not a condition this daemon can recover from usefully, so
 * (as in tmux and redis) every allocation goes through here and a failure
 * aborts with a message. Nothing else in the tree checks for NULL after
 * allocating. xasprintf returns a new string the caller frees.
 */
#ifndef CH_XMALLOC_H
#define CH_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
