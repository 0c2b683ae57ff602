#include "base/utf8.h"

size_t utf8_encode(char *out, uint32_t cp)
{
	if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
		cp = 0xfffd;
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

size_t utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;
	uint32_t r;

	if (n == 0) {
		*cp = 0xfffd;
		return 0;
	}
	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		need = 1;
		r = u[0] & 0x1f;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		need = 2;
		r = u[0] & 0x0f;
		if (u[0] == 0xe0)
			lo = 0xa0;
		else if (u[0] == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		need = 3;
		r = u[0] & 0x07;
		if (u[0] == 0xf0)
			lo = 0x90;
		else if (u[0] == 0xf4)
			hi = 0x8f; /* nothing above U+10FFFF */
	} else {
		goto bad;
	}
	if (n < need + 1)
		goto bad;
	for (i = 1; i <= need; i++) {
		unsigned char c = u[i];

		if (i == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xbf))
			goto bad;
		r = (r << 6) | (c & 0x3f);
	}
	*cp = r;
	return need + 1;
bad:
	*cp = 0xfffd;
	return 1;
}

bool utf8_valid(const char *s, size_t n)
{
	size_t i = 0;
	uint32_t cp;

	while (i < n) {
		size_t k;

		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_decode(s + i, n - i, &cp);
		if (k == 1)
			return false;
		i += k;
	}
	return true;
}

int utf8_hexdigit(uint32_t c)
{
	if (c >= '0' && c <= '9')
		return (int)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (int)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (int)(c - 'A' + 10);
	return -1;
}
