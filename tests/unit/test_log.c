/*
 * Unit tests for log: a timestamp on plain stderr, none (and a priority
 * prefix) when stderr is the journal, which JOURNAL_STREAM must name.
 */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"

static void set_journal_stream_to(int fd);

/*
 * What log_info(msg) writes to stderr after log_init(journal); with
 * name_it, JOURNAL_STREAM first names the file stderr then is, as systemd
 * sets it for a service whose stderr is the journal.
 */
static void capture(int journal, bool name_it, const char *msg, char *out,
                    size_t size)
{
	char path[] = "/tmp/test_log.XXXXXX";
	int fd = mkstemp(path), saved;
	ssize_t n;

	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	if (name_it)
		set_journal_stream_to(STDERR_FILENO);
	log_init(LOG_LVL_INFO, journal);
	log_info("%s", msg);
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	n = read(fd, out, size - 1);
	assert_true(n >= 0);
	out[n] = '\0';
	close(fd);
	unlink(path);
}

static void set_journal_stream_to(int fd)
{
	struct stat st;
	char v[64];

	assert_int_equal(fstat(fd, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
}

static void assert_matches(const char *text, const char *re)
{
	regex_t rx;

	assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	if (regexec(&rx, text, 0, NULL, 0) != 0) {
		regfree(&rx);
		fail_msg("\"%s\" does not match /%s/", text, re);
	}
	regfree(&rx);
}

#define STAMP \
	"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}"

static void test_plain_has_timestamp(void **state)
{
	char out[512];

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	capture(0, false, "hello", out, sizeof(out));
	assert_matches(out, STAMP "Z consul-hosts: \\[info\\] hello\n$");
	/* consul-template's layout: the offset as +hhmm, not "Z". */
	setenv("TZ", "XYZ-5:30", 1);
	tzset();
	capture(0, false, "hello", out, sizeof(out));
	assert_matches(out, STAMP "\\+0530 consul-hosts: \\[info\\] hello\n$");
	setenv("TZ", "XYZ+3", 1);
	tzset();
	capture(0, false, "hello", out, sizeof(out));
	assert_matches(out, STAMP "-0300 consul-hosts: \\[info\\] hello\n$");
	unsetenv("TZ");
	tzset();
}

static void test_journal_has_no_timestamp(void **state)
{
	char out[512];

	(void)state;
	capture(1, false, "hello", out, sizeof(out));
	assert_string_equal(out, "<6>hello\n");
}

static void test_journal_detection(void **state)
{
	char out[512];

	(void)state;
	/* Unset, garbage, or naming another file: not the journal. */
	unsetenv("JOURNAL_STREAM");
	assert_false(log_stderr_is_journal());
	setenv("JOURNAL_STREAM", "garbage", 1);
	assert_false(log_stderr_is_journal());
	setenv("JOURNAL_STREAM", "1:2", 1);
	assert_false(log_stderr_is_journal());
	/* A command started by a service inherits the variable, but its
	 * stderr is elsewhere: plain lines with a timestamp. */
	capture(-1, false, "inherited", out, sizeof(out));
	assert_matches(out, STAMP ".* consul-hosts: \\[info\\] inherited\n$");
	/* Naming stderr itself: the journal, which stamps lines itself. */
	capture(-1, true, "journal", out, sizeof(out));
	assert_string_equal(out, "<6>journal\n");
	unsetenv("JOURNAL_STREAM");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plain_has_timestamp),
	        cmocka_unit_test(test_journal_has_no_timestamp),
	        cmocka_unit_test(test_journal_detection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
