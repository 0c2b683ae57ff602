/* Unit tests for CONSUL_HTTP_ADDR parsing and the TLS server-name mapping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "consul/consul_addr.h"

struct addr_case {
	const char *in;
	bool tls_flag;
	const char *url;
	const char *host;
	unsigned port;
	const char *unix_path;
	bool tls;
};

static void test_addr_forms(void **state)
{
	static const struct addr_case cases[] = {
	        {NULL, false, "http://127.0.0.1:8500", "127.0.0.1", 8500, NULL,
	         false},
	        {"", false, "http://127.0.0.1:8500", "127.0.0.1", 8500, NULL,
	         false},
	        {"consul.local:8500", false, "http://consul.local:8500",
	         "consul.local", 8500, NULL, false},
	        {"consul.local", false, "http://consul.local", "consul.local",
	         80, NULL, false},
	        {"http://10.0.0.1:8500", false, "http://10.0.0.1:8500",
	         "10.0.0.1", 8500, NULL, false},
	        {"HTTPS://c.example:8501", false, "https://c.example:8501",
	         "c.example", 8501, NULL, true},
	        {"https://c.example", false, "https://c.example", "c.example",
	         443, NULL, true},
	        {"10.0.0.1:8501", true, "https://10.0.0.1:8501", "10.0.0.1",
	         8501, NULL, true},
	        /* CONSUL_HTTP_SSL wins over an explicit http://, as in Go. */
	        {"http://10.0.0.1:8501", true, "https://10.0.0.1:8501",
	         "10.0.0.1", 8501, NULL, true},
	        {"[::1]:8500", false, "http://[::1]:8500", "::1", 8500, NULL,
	         false},
	        {"http://[fe80::1]", false, "http://[fe80::1]", "fe80::1", 80,
	         NULL, false},
	        {"https://[2001:db8::5]:8501/consul/", false,
	         "https://[2001:db8::5]:8501/consul", "2001:db8::5", 8501, NULL,
	         true},
	        {"http://proxy:80/a/b", false, "http://proxy:80/a/b", "proxy",
	         80, NULL, false},
	        {"http://h:1/", false, "http://h:1", "h", 1, NULL, false},
	        {"unix:///run/consul/http.sock", false, "http://localhost",
	         "localhost", 80, "/run/consul/http.sock", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct addr_case *c = &cases[i];
		struct consul_addr a;
		struct err e;

		memset(&a, 0, sizeof(a));
		assert_int_equal(consul_addr_parse(c->in, c->tls_flag, &a, &e),
		                 0);
		assert_string_equal(a.url, c->url);
		assert_string_equal(a.host, c->host);
		assert_int_equal(a.port, c->port);
		if (c->unix_path == NULL)
			assert_null(a.unix_path);
		else
			assert_string_equal(a.unix_path, c->unix_path);
		assert_int_equal(a.tls, c->tls);
		consul_addr_clear(&a);
	}
}

static void test_addr_errors(void **state)
{
	static const struct {
		const char *in;
		const char *msg; /* a part of the message */
	} cases[] = {
	        {"ftp://h:21", "unknown protocol scheme \"ftp\""},
	        {"::1", "IPv6 address needs brackets"},
	        {"fe80::1:8500", "IPv6 address needs brackets"},
	        {"[::1", "without \"]\""},
	        {"[::1]x", "expected \":port\""},
	        {"[zz]:1", "bad IPv6 address"},
	        {"h:0", "out of range"},
	        {"h:65536", "out of range"},
	        {"h:80a", "bad port"},
	        {"h:", "bad port"},
	        {":8500", "no host"},
	        {"http://", "no host"},
	        {"user:pw@h:8500", "user info"},
	        {"h:8500?token=x", "query"},
	        {"h 8500", "whitespace"},
	        {"h\n:8500", "whitespace"},
	        {"ho$t:1", "bad character '$'"},
	        {"unix://relative.sock", "must be absolute"},
	        {"unix:///"
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	         "longer than"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct consul_addr a;
		struct err e;

		memset(&a, 0, sizeof(a));
		err_clear(&e);
		assert_true(consul_addr_parse(cases[i].in, false, &a, &e) < 0);
		if (strstr(e.msg, cases[i].msg) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].in, e.msg,
			         cases[i].msg);
		assert_null(a.url); /* untouched on error */
	}
}

static void test_addr_server_name(void **state)
{
	struct consul_addr a;
	char *url, *ct;
	struct err e;

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_int_equal(
	        consul_addr_parse("https://127.0.0.1:8501/p", false, &a, &e),
	        0);
	assert_int_equal(consul_addr_connect_to(&a, "consul.service:8501", &url,
	                                        &ct, &e),
	                 0);
	assert_string_equal(url, "https://consul.service:8501/p");
	assert_string_equal(ct, "consul.service:8501:127.0.0.1:8501");
	free(url);
	free(ct);
	/* Same name as the host, or none: nothing to map. */
	assert_int_equal(consul_addr_connect_to(&a, "127.0.0.1", &url, &ct, &e),
	                 0);
	assert_null(url);
	assert_null(ct);
	assert_int_equal(consul_addr_connect_to(&a, NULL, &url, &ct, &e), 0);
	assert_null(url);
	assert_true(consul_addr_connect_to(&a, "bad name", &url, &ct, &e) < 0);
	consul_addr_clear(&a);

	assert_int_equal(consul_addr_parse("https://[::1]:8501", false, &a, &e),
	                 0);
	assert_int_equal(
	        consul_addr_connect_to(&a, "server.dc1.consul", &url, &ct, &e),
	        0);
	assert_string_equal(url, "https://server.dc1.consul:8501");
	assert_string_equal(ct, "server.dc1.consul:8501:[::1]:8501");
	free(url);
	free(ct);
	consul_addr_clear(&a);

	/* Plain http never maps (there is no certificate to check). */
	assert_int_equal(consul_addr_parse("h:8500", false, &a, &e), 0);
	assert_int_equal(consul_addr_connect_to(&a, "x", &url, &ct, &e), 0);
	assert_null(url);
	consul_addr_clear(&a);
	consul_addr_clear(NULL);
}

/* The one loopback check (the cleartext-token warning, the EPERM hint). */
static void test_addr_is_loopback(void **state)
{
	static const char *const yes[] = {
	        "127.0.0.1",        "127.8.9.10", "::1",
	        "::ffff:127.0.0.1", "localhost",  "LOCALHOST",
	        "consul.localhost", "localhost6", NULL};
	static const char *const no[] = {"10.0.0.1",
	                                 "::2",
	                                 "::ffff:10.0.0.1",
	                                 "consul.service",
	                                 "localhostx",
	                                 "",
	                                 NULL};

	(void)state;
	for (size_t i = 0; yes[i] != NULL; i++)
		assert_true(consul_addr_is_loopback(yes[i]));
	for (size_t i = 0; no[i] != NULL; i++)
		assert_false(consul_addr_is_loopback(no[i]));
	assert_false(consul_addr_is_loopback(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_addr_forms),
	        cmocka_unit_test(test_addr_errors),
	        cmocka_unit_test(test_addr_server_name),
	        cmocka_unit_test(test_addr_is_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
