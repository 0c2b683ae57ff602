/*
 * UTF-8 encoding and decoding of one code point, for the string escapes of
 * the template and config languages, printf's %c/%q, the case functions
 * and regular expressions. Decoding follows Go's utf8.DecodeRune: an
 * invalid sequence reads as U+FFFD of width 1. Pure; no allocation.
 */
#ifndef CH_UTF8_H
#define CH_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Write cp as 1 to 4 bytes at out (room for 4 needed) and return how many.
 * Surrogates and values above U+10FFFF become U+FFFD, as Go does.
 */
size_t utf8_encode(char *out, uint32_t cp);
/*
 * Decode the code point at s[0..n): its length (0 when n is 0), *cp set.
 * An invalid or truncated sequence gives *cp = U+FFFD and length 1 (a
 * real U+FFFD has length 3), as Go's DecodeRune.
 */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp);
/* s[0..n) is valid UTF-8. */
bool utf8_valid(const char *s, size_t n);
/* The value of hex digit c (0-9, a-f, A-F), or -1: the one hex decoder of
 * the escapes (\xNN, \uNNNN) in JSON, HCL, templates and regexps. */
int utf8_hexdigit(uint32_t c);

#endif
