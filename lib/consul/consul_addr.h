/*
 * The Consul agent's address, parsed into what curl needs.
 *
 * consul_addr_parse() accepts the forms of CONSUL_HTTP_ADDR (Consul's Go
 * client, api.go NewClient):
 *
 *	host:port, host            http unless tls is set; the port defaults
 *	                           to the scheme's (80/443), as in Go
 *	http://host[:port][/pre]   /pre is a path prefix for a reverse proxy
 *	https://host[:port][/pre]  implies TLS
 *	[::1]:8500, http://[::1]   IPv6 literals need brackets
 *	unix:///path/to.sock       dial the socket; requests go to
 *	                           http://localhost (the Go client's Host)
 *
 * NULL or "" means 127.0.0.1:8500. tls (the config's ssl.enabled, i.e.
 * CONSUL_HTTP_SSL) turns http into https and is never undone by an explicit
 * "http://", as in Go. User info ("user@host") and query strings are
 * rejected, as is anything with whitespace or control characters.
 *
 * consul_addr_connect_to() builds the CURLOPT_CONNECT_TO entry that makes a
 * TLS server name work: the URL names the server name (so curl sends it as
 * SNI and verifies the certificate against it) and the connection goes to
 * the configured host and port.
 *
 * Pure module: no I/O, no logging.
 */
#ifndef CH_CONSUL_ADDR_H
#define CH_CONSUL_ADDR_H

#include <stdbool.h>

#include "base/err.h"

#define CONSUL_ADDR_DEFAULT "127.0.0.1:8500"

struct consul_addr {
	char *url;       /* "http://127.0.0.1:8500[/prefix]", no trailing / */
	char *host;      /* as dialled; IPv6 without brackets */
	unsigned port;   /* explicit or the scheme's default */
	char *unix_path; /* NULL unless unix:// */
	bool tls;
};

/*
 * Whether host (as dialled) is this machine's loopback: 127/8, ::1 (also
 * v4-mapped), or a loopback name (deps.h's dep_loopback_names:
 * localhost, *.localhost, ...).
 */
bool consul_addr_is_loopback(const char *host);

/* Parse s into *ret (all strings new); on error *ret is untouched. */
int consul_addr_parse(const char *s, bool tls, struct consul_addr *ret,
                      struct err *e);
/*
 * With a TLS server name that differs from a's host: set *ret_url to the
 * base URL naming server_name (new string) and *ret_connect_to to
 * "server_name:port:host:port" (new string). Otherwise both NULL. A
 * ":port" suffix on server_name is ignored (CONSUL_TLS_SERVER_NAME).
 */
int consul_addr_connect_to(const struct consul_addr *a, const char *server_name,
                           char **ret_url, char **ret_connect_to,
                           struct err *e);
void consul_addr_clear(struct consul_addr *a); /* frees the strings */

#endif
