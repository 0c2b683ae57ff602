#include "consul/consul_addr.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "base/xmalloc.h"
#include "consul/deps.h"

#define ADDR_MAX 1024

static bool addr_hostname_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static bool addr_ipv6_char(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       (c >= '0' && c <= '9') || c == ':' || c == '.';
}

static int addr_port(const char *s, size_t n, unsigned *ret, struct err *e)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return err_msg(e, -EINVAL, "bad port \"%.*s\" in address",
		               (int)(n > 16 ? 16 : n), s);
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return err_msg(e, -EINVAL,
			               "bad port \"%.*s\" in address", (int)n,
			               s);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return err_msg(e, -EINVAL, "port %lu out of range 1-65535", v);
	*ret = (unsigned)v;
	return 0;
}

/* Split "host", "host:port", "[v6]", "[v6]:port". */
static int addr_authority(const char *s, size_t n, char **ret_host,
                          bool *ret_v6, unsigned *ret_port, bool *ret_has_port,
                          struct err *e)
{
	const char *host, *port = NULL;
	size_t hlen, plen = 0;
	bool v6 = false;
	int r;

	if (n == 0)
		return err_msg(e, -EINVAL, "address has no host");
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (close == NULL)
			return err_msg(e, -EINVAL,
			               "address has \"[\" without \"]\"");
		host = s + 1;
		hlen = (size_t)(close - host);
		v6 = true;
		if (close + 1 < s + n) {
			if (close[1] != ':')
				return err_msg(e, -EINVAL,
				               "expected \":port\" after \"]\" "
				               "in address");
			port = close + 2;
			plen = (size_t)(s + n - port);
		}
		for (size_t i = 0; i < hlen; i++)
			if (!addr_ipv6_char(host[i]))
				return err_msg(e, -EINVAL,
				               "bad IPv6 address \"%.*s\"",
				               (int)hlen, host);
		if (hlen == 0 || memchr(host, ':', hlen) == NULL)
			return err_msg(e, -EINVAL, "bad IPv6 address \"%.*s\"",
			               (int)hlen, host);
	} else {
		const char *colon = memchr(s, ':', n);

		host = s;
		hlen = n;
		if (colon != NULL) {
			if (memchr(colon + 1, ':', (size_t)(s + n - colon - 1)))
				return err_msg(e, -EINVAL,
				               "IPv6 address needs brackets: "
				               "\"[%.*s]\"",
				               (int)n, s);
			hlen = (size_t)(colon - s);
			port = colon + 1;
			plen = (size_t)(s + n - port);
		}
		for (size_t i = 0; i < hlen; i++)
			if (!addr_hostname_char(host[i]))
				return err_msg(e, -EINVAL,
				               "bad character '%c' in host "
				               "\"%.*s\"",
				               host[i], (int)hlen, host);
		if (hlen == 0)
			return err_msg(e, -EINVAL, "address has no host");
	}
	if (port != NULL) {
		r = addr_port(port, plen, ret_port, e);
		if (r < 0)
			return r;
	}
	*ret_has_port = port != NULL;
	*ret_v6 = v6;
	*ret_host = xstrndup(host, hlen);
	return 0;
}

int consul_addr_parse(const char *s, bool tls, struct consul_addr *ret,
                      struct err *e)
{
	const char *rest, *sep, *slash;
	size_t n, alen, plen;
	char *host = NULL;
	bool v6 = false, has_port = false;
	unsigned port = 0;
	int r;

	if (s == NULL || *s == '\0')
		s = CONSUL_ADDR_DEFAULT;
	n = strlen(s);
	if (n > ADDR_MAX)
		return err_msg(e, -EINVAL, "address longer than %d bytes",
		               ADDR_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f)
			return err_msg(e, -EINVAL,
			               "address has whitespace or a control "
			               "character");
		if (c == '?' || c == '#')
			return err_msg(e, -EINVAL,
			               "address may not have a query or "
			               "fragment (\"%c\")",
			               c);
	}

	rest = s;
	sep = strstr(s, "://");
	if (sep != NULL) {
		size_t slen = (size_t)(sep - s);

		rest = sep + 3;
		if (slen == 4 && strncasecmp(s, "unix", 4) == 0) {
			size_t ulen = strlen(rest);

			if (rest[0] != '/')
				return err_msg(e, -EINVAL,
				               "unix socket path must be "
				               "absolute: \"%s\"",
				               s);
			if (ulen >= sizeof(((struct sockaddr_un *)0)->sun_path))
				return err_msg(e, -ENAMETOOLONG,
				               "unix socket path longer than "
				               "%zu bytes",
				               sizeof(((struct sockaddr_un *)0)
				                              ->sun_path) -
				                       1);
			ret->tls = tls;
			ret->url = xstrdup(tls ? "https://localhost"
			                       : "http://localhost");
			ret->host = xstrdup("localhost");
			ret->port = tls ? 443 : 80;
			ret->unix_path = xstrdup(rest);
			return 0;
		} else if (slen == 5 && strncasecmp(s, "https", 5) == 0) {
			tls = true;
		} else if (slen == 4 && strncasecmp(s, "http", 4) == 0) {
			/* Never revert to http if TLS was asked for. */
		} else {
			return err_msg(e, -EINVAL,
			               "unknown protocol scheme \"%.*s\" "
			               "(use http, https or unix)",
			               (int)(slen > 16 ? 16 : slen), s);
		}
	}
	slash = strchr(rest, '/');
	alen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	if (memchr(rest, '@', alen) != NULL)
		return err_msg(e, -EINVAL,
		               "user info in the address is not supported");
	r = addr_authority(rest, alen, &host, &v6, &port, &has_port, e);
	if (r < 0)
		return r;
	if (!has_port)
		port = tls ? 443 : 80;
	/* Path prefix without trailing slashes; "/" alone is none. */
	plen = slash != NULL ? strlen(slash) : 0;
	while (plen > 0 && slash[plen - 1] == '/')
		plen--;

	ret->tls = tls;
	ret->host = host;
	ret->port = port;
	ret->unix_path = NULL;
	if (has_port)
		ret->url =
		        xasprintf("%s://%s%s%s:%u%.*s", tls ? "https" : "http",
		                  v6 ? "[" : "", host, v6 ? "]" : "", port,
		                  (int)plen, plen ? slash : "");
	else
		ret->url = xasprintf("%s://%s%s%s%.*s", tls ? "https" : "http",
		                     v6 ? "[" : "", host, v6 ? "]" : "",
		                     (int)plen, plen ? slash : "");
	return 0;
}

int consul_addr_connect_to(const struct consul_addr *a, const char *server_name,
                           char **ret_url, char **ret_connect_to, struct err *e)
{
	const char *prefix;
	size_t n;
	bool v6;

	*ret_url = NULL;
	*ret_connect_to = NULL;
	if (server_name == NULL || *server_name == '\0' ||
	    a->unix_path != NULL || !a->tls)
		return 0;
	/* CONSUL_TLS_SERVER_NAME may carry a ":port"; Go strips it. */
	n = strcspn(server_name, ":");
	if (n > 253)
		return err_msg(e, -EINVAL, "TLS server name too long");
	for (size_t i = 0; i < n; i++)
		if (!addr_hostname_char(server_name[i]))
			return err_msg(e, -EINVAL,
			               "bad character in TLS server name");
	if (n == 0)
		return err_msg(e, -EINVAL, "empty TLS server name");
	if (strlen(a->host) == n && strncasecmp(a->host, server_name, n) == 0)
		return 0;
	/* The URL's path prefix follows "scheme://authority". */
	prefix = strchr(strstr(a->url, "://") + 3, '/');
	v6 = strchr(a->host, ':') != NULL;
	*ret_url = xasprintf("https://%.*s:%u%s", (int)n, server_name, a->port,
	                     prefix != NULL ? prefix : "");
	*ret_connect_to =
	        xasprintf("%.*s:%u:%s%s%s:%u", (int)n, server_name, a->port,
	                  v6 ? "[" : "", a->host, v6 ? "]" : "", a->port);
	return 0;
}

void consul_addr_clear(struct consul_addr *a)
{
	if (a == NULL)
		return;
	free(a->url);
	free(a->host);
	free(a->unix_path);
	a->url = a->host = a->unix_path = NULL;
}

bool consul_addr_is_loopback(const char *host)
{
	const struct dep_names loop = {dep_loopback_names, NULL, NULL};
	struct in_addr a4;
	struct in6_addr a6;

	if (host == NULL)
		return false;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return dep_name_reserved(&loop, host, strlen(host), NULL) != NULL;
}
