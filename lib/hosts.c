#include "hosts.h"

#include <arpa/inet.h>
#include <string.h>

bool hosts_addr_ok(const char *s, size_t len, bool allow_zone)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char out[sizeof(struct in6_addr)];
	const char *zone = memchr(s, '%', len);
	size_t alen = zone != NULL ? (size_t)(zone - s) : len;

	if (alen == 0 || alen >= sizeof(tmp) || memchr(s, '\0', len) != NULL)
		return false;
	memcpy(tmp, s, alen);
	tmp[alen] = '\0';
	if (zone == NULL)
		return inet_pton(AF_INET, tmp, out) == 1 ||
		       inet_pton(AF_INET6, tmp, out) == 1;
	if (!allow_zone || inet_pton(AF_INET6, tmp, out) != 1)
		return false;
	/* A zone is an interface name: 1-15 characters, no separators. */
	size_t zlen = len - alen - 1;
	if (zlen == 0 || zlen > 15)
		return false;
	for (size_t i = alen + 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || c == '#' || c == '/')
			return false;
	}
	return true;
}

static bool label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool hosts_name_ok(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!label_char(c))
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > 63)
			return false;
	}
	/* A trailing dot (FQDN form) is fine; an empty last label is not. */
	if (label == 0)
		return s[len - 1] == '.' && len > 1 && s[len - 2] != '.';
	return s[len - 1] != '-';
}
