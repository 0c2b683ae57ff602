/*
 * The hosts-file grammar: what may reach /etc/hosts.
 *
 * A line is blank, a comment ("#..."), or "ADDRESS NAME [NAME...]" with
 * fields separated by spaces or tabs. ADDRESS is an IPv4 or IPv6 literal
 * that inet_pton accepts (a "%zone" suffix only when allowed); each NAME is
 * a hostname: dot-separated labels of 1-63 characters from [A-Za-z0-9_-],
 * not starting or ending with '-', 253 characters at most.
 *
 * These functions are pure: they never log and never allocate unless noted.
 */
#ifndef CH_HOSTS_H
#define CH_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

/* s[0..len) is an address literal; zone ids ("fe80::1%eth0") only if allowed.
 */
bool hosts_addr_ok(const char *s, size_t len, bool allow_zone);
/* s[0..len) is a valid hostname (see above). */
bool hosts_name_ok(const char *s, size_t len);

#endif
