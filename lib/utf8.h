/*
 * UTF-8 encoding of one code point, for the string escapes of the template
 * and config languages and printf's %c/%q. Pure; no allocation.
 */
#ifndef CH_UTF8_H
#define CH_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Write cp as 1 to 4 bytes at out (room for 4 needed) and return how many.
 * Surrogates and values above U+10FFFF become U+FFFD, as Go does.
 */
size_t utf8_encode(char *out, uint32_t cp);

#endif
