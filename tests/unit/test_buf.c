/* Unit tests for the bounded buffer, the bounded file read and the error
 * struct. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/readfile.h"
#include "hosts/hosts.h"
#include "base/utf8.h"

static void test_buf_limit(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_puts(&b, "12345"), 0);
	assert_int_equal(buf_puts(&b, "6789"), -E2BIG);
	assert_string_equal(buf_str(&b), "12345"); /* unchanged on failure */
	assert_int_equal(buf_printf(&b, "%d", 678), 0);
	assert_int_equal(b.len, 8);
	assert_int_equal(buf_putc(&b, 'x'), -E2BIG);
	buf_free(&b);
}

static void test_buf_take(void **state)
{
	struct buf b;
	size_t len;
	char *p;

	(void)state;
	buf_init(&b, 0);
	p = buf_take(&b, &len);
	assert_string_equal(p, "");
	assert_int_equal(len, 0);
	free(p);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(buf_printf(&b, "%04d", i), 0);
	assert_int_equal(b.len, 4000);
	assert_memory_equal(b.data + 3996, "0999", 4);
	p = buf_take(&b, &len);
	assert_int_equal(len, 4000);
	assert_null(b.data);
	free(p);
}

static void test_err_format(void **state)
{
	struct err e;
	char out[600];

	(void)state;
	err_clear(&e);
	assert_int_equal(err_set(&e, -EINVAL, "hosts.tmpl", 12, 18,
	                         "unexpected \"%s\" in operand", "}"),
	                 -EINVAL);
	assert_string_equal(err_format(&e, out, sizeof(out)),
	                    "hosts.tmpl:12:18: unexpected \"}\" in operand");
	err_msg(&e, -EIO, "plain");
	assert_string_equal(err_format(&e, out, sizeof(out)), "plain");
	assert_int_equal(err_set(NULL, -EIO, NULL, 0, 0, "x"), -EIO);
}

static void test_hosts_addr(void **state)
{
	(void)state;
#define A(s, z) hosts_addr_ok(s, strlen(s), z)
	assert_true(A("192.0.2.11", false));
	assert_true(A("::1", false));
	assert_true(A("2001:db8::1", false));
	assert_false(A("10.0.0.66 attacker.example", false));
	assert_false(A("10.0.0.66\nevil", false));
	assert_false(A("10.0.0.1:8080", false));
	assert_false(A("billing.partner.example", false));
	assert_false(A("", false));
	assert_false(A("fe80::1%eth0", false));
	assert_true(A("fe80::1%eth0", true));
	assert_false(A("fe80::1%eth0 x", true));
	assert_false(A("10.0.0.1%eth0", true));
	assert_false(hosts_addr_ok("10.0.0.1\0x", 10, false));
#undef A
}

static void test_hosts_name(void **state)
{
	(void)state;
#define N(s) hosts_name_ok(s, strlen(s))
	assert_true(N("web-1"));
	assert_true(N("web.service.dc1.consul"));
	assert_true(N("Web_2.EXAMPLE"));
	assert_false(N("-leading"));
	assert_false(N("trailing-"));
	assert_false(N("two words"));
	assert_false(N("new\nline"));
	assert_false(N("a..b"));
	assert_false(N(""));
	assert_false(N("caf\xc3\xa9"));
	assert_false(N("back\\slash"));
	assert_false(N("x#y"));
	assert_true(N("a2345678901234567890123456789012345678901234567890123456"
	              "7890123"));
	assert_false(N("a234567890123456789012345678901234567890123456789012345"
	               "678901234"));
#undef N
}

static void test_utf8_encode(void **state)
{
	char out[4];

	(void)state;
	assert_int_equal(utf8_encode(out, 'a'), 1);
	assert_memory_equal(out, "a", 1);
	assert_int_equal(utf8_encode(out, 0xe9), 2);
	assert_memory_equal(out, "\xc3\xa9", 2);
	assert_int_equal(utf8_encode(out, 0x20ac), 3);
	assert_memory_equal(out, "\xe2\x82\xac", 3);
	assert_int_equal(utf8_encode(out, 0x1f600), 4);
	assert_memory_equal(out, "\xf0\x9f\x98\x80", 4);
	/* Surrogates and out-of-range values: U+FFFD, as Go writes them. */
	assert_int_equal(utf8_encode(out, 0xd800), 3);
	assert_memory_equal(out, "\xef\xbf\xbd", 3);
	assert_int_equal(utf8_encode(out, 0x110000), 3);
	assert_memory_equal(out, "\xef\xbf\xbd", 3);
}

/* The one shell quoting: bare when safe (config), always (publish). */
static void test_buf_shell_quote(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	buf_shell_quote(&b, "/etc/hosts", true);
	buf_putc(&b, ' ');
	buf_shell_quote(&b, "/etc/hosts", false);
	buf_putc(&b, ' ');
	buf_shell_quote(&b, "it's", true);
	buf_putc(&b, ' ');
	buf_shell_quote(&b, "", true);
	assert_string_equal(buf_str(&b),
	                    "/etc/hosts '/etc/hosts' 'it'\\''s' ''");
	buf_free(&b);
}

/* read_file: the limit, regular files only (a FIFO fails at once instead
 * of blocking), the step that failed, the fd kept on request. */
static void test_read_file(void **state)
{
	char dir[] = "/tmp/ch-readfile-XXXXXX", path[64], fifo[64];
	struct read_file rf;
	struct buf b;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	snprintf(fifo, sizeof(fifo), "%s/p", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("hello", f);
	fclose(f);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	buf_init(&b, 0);
	assert_int_equal(read_file(path, 5, READ_FILE_REGULAR, &b, &rf), 0);
	assert_string_equal(buf_str(&b), "hello");
	assert_int_equal(rf.fd, -1);
	assert_int_equal(read_file(path, 4, 0, &b, &rf), -E2BIG);
	assert_int_equal(rf.step, READ_FILE_LIMIT);
	assert_int_equal(b.len, 0);
	assert_int_equal(read_file(fifo, 4, READ_FILE_REGULAR, &b, &rf),
	                 -EINVAL);
	assert_int_equal(rf.step, READ_FILE_TYPE);
	assert_int_equal(read_file(dir, 4, READ_FILE_REGULAR, &b, &rf),
	                 -EISDIR);
	assert_int_equal(read_file("/nonexistent/x", 4, 0, &b, &rf), -ENOENT);
	assert_int_equal(rf.step, READ_FILE_OPEN);
	assert_int_equal(read_file(path, 64,
	                           READ_FILE_KEEP_FD | READ_FILE_SECRET, &b,
	                           &rf),
	                 0);
	assert_true(rf.fd >= 0);
	assert_string_equal(buf_str(&b), "hello");
	assert_true(S_ISREG(rf.st.st_mode));
	close(rf.fd);
	buf_free(&b);
	unlink(fifo);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_buf_limit),
	        cmocka_unit_test(test_buf_take),
	        cmocka_unit_test(test_buf_shell_quote),
	        cmocka_unit_test(test_read_file),
	        cmocka_unit_test(test_err_format),
	        cmocka_unit_test(test_hosts_addr),
	        cmocka_unit_test(test_hosts_name),
	        cmocka_unit_test(test_utf8_encode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
