/*
 * Unit tests for the publisher (publish.h): compare, stage, swap, guards,
 * commands, rate limit, the dry sink, and failures (read-only directory,
 * full disk, mount point). Everything happens in a fresh directory under
 * $TMPDIR; the mount tests run in a forked child inside a private mount
 * namespace and are skipped when that is not permitted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "buf.h"
#include "hosts.h"
#include "xmalloc.h"
#include "log.h"
#include "publish.h"

static char dir[256];
static char dest[300];

struct done {
	uv_loop_t *loop; /* stopped when done fires, so a wait never blocks
	                    on the publisher's own timers */
	int fired;
	enum publish_result res;
	char msg[600];
};

static void on_done(void *data, enum publish_result res, const struct err *e)
{
	struct done *d = data;

	d->fired++;
	d->res = res;
	if (d->loop != NULL)
		uv_stop(d->loop);
	if (e != NULL)
		err_format(e, d->msg, sizeof(d->msg));
	else
		d->msg[0] = '\0';
}

static struct tmpl_conf conf(void)
{
	struct tmpl_conf tc;

	memset(&tc, 0, sizeof(tc));
	tc.destination = dest;
	tc.perms = -1;
	tc.create_dest_dirs = true;
	tc.command_timeout_ms = 5000;
	return tc;
}

static void rm_rf(const char *path)
{
	char *cmd = NULL;

	if (asprintf(&cmd, "rm -rf '%s'", path) > 0 && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", path);
	free(cmd);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof(dir), "%s/chpub.XXXXXX",
	         tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(dest, sizeof(dest), "%s/hosts", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(dir);
	return 0;
}

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(s, f);
	assert_int_equal(fclose(f), 0);
}

/* The whole file, or NULL when it cannot be read. */
static char *read_file(const char *path)
{
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return NULL;
	buf_init(&b, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return buf_take(&b, NULL);
}

static void assert_file(const char *path, const char *want)
{
	char *got = read_file(path);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static int count_lines(const char *path)
{
	char *s = read_file(path);
	int n = 0;

	if (s == NULL)
		return 0;
	for (char *p = s; *p != '\0'; p++)
		n += *p == '\n';
	free(s);
	return n;
}

/* Files in dir other than the destination and its backup. */
static int stray_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "hosts") == 0 ||
		    strcmp(de->d_name, "hosts.bak") == 0 ||
		    strcmp(de->d_name, "log") == 0)
			continue;
		n++;
	}
	closedir(d);
	return n;
}

/* Run the loop until d fired (bounded: 20 s). */
static void wait_done(uv_loop_t *loop, struct done *d)
{
	uint64_t t0 = uv_hrtime();

	while (!d->fired) {
		uv_run(loop, UV_RUN_ONCE);
		if ((uv_hrtime() - t0) / 1000000 > 20000)
			fail_msg("publish did not complete");
	}
}

static enum publish_result publish(uv_loop_t *loop, struct publisher *p,
                                   const char *text, struct done *d)
{
	memset(d, 0, sizeof(*d));
	d->loop = loop;
	assert_int_equal(publisher_submit(p, text, strlen(text), on_done, d),
	                 0);
	wait_done(loop, d);
	assert_int_equal(d->fired, 1);
	return d->res;
}

static void on_closed(void *data)
{
	(*(int *)data)++;
}

static void close_and_check(uv_loop_t *loop, struct publisher *p)
{
	int closed = 0;

	publisher_close(p, on_closed, &closed);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 1);
	assert_int_equal(uv_loop_close(loop), 0);
}

static struct publisher *make(uv_loop_t *loop, const struct tmpl_conf *tc)
{
	struct publisher *p = NULL;
	struct err e;

	assert_int_equal(uv_loop_init(loop), 0);
	assert_int_equal(publisher_new(loop, tc, false, &p, &e), 0);
	return p;
}

#define HOSTS_A "10.0.0.1 web\n10.0.0.2 api\n"
#define HOSTS_B "10.0.0.1 web\n10.0.0.3 api\n"

static void test_new_then_unchanged(void **state)
{
	struct tmpl_conf tc = conf();
	char log[320], cmd[1024];
	struct publisher *p;
	struct stat st1, st2;
	uv_loop_t loop;
	struct done d;

	(void)state;
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(cmd, sizeof(cmd), "echo run >> '%s'", log);
	tc.command = cmd;
	p = make(&loop, &tc);
	/* A dropped line never reaches the file. */
	assert_int_equal(publish(&loop, p, HOSTS_A "1.2.3.4 evil;rm\n", &d),
	                 PUBLISH_WRITTEN);
	assert_file(dest, HOSTS_A);
	assert_int_equal(stat(dest, &st1), 0);
	assert_int_equal(st1.st_mode & 07777, 0644);
	assert_int_equal(count_lines(log), 1);
	usleep(20000); /* so a rewrite would show in mtime */
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_UNCHANGED);
	assert_int_equal(stat(dest, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
	assert_int_equal(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
	assert_int_equal(count_lines(log), 1); /* no command either */
	assert_int_equal(stray_files(), 0);
	close_and_check(&loop, p);
}

static void test_mode_owner_perms_backup(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	struct stat st;
	char bak[320];

	(void)state;
	write_file(dest, HOSTS_A);
	assert_int_equal(chmod(dest, 0604), 0);
	if (geteuid() == 0)
		assert_int_equal(chown(dest, 1234, 5678), 0);
	tc.backup = true;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_file(dest, HOSTS_B);
	assert_int_equal(stat(dest, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	if (geteuid() == 0) {
		assert_int_equal(st.st_uid, 1234);
		assert_int_equal(st.st_gid, 5678);
	}
	snprintf(bak, sizeof(bak), "%s.bak", dest);
	assert_file(bak, HOSTS_A);
	close_and_check(&loop, p);

	/* Configured perms/user/group win; a mode change alone rewrites. */
	tc.perms = 0640;
	if (geteuid() == 0) {
		tc.user = (char *)(uintptr_t) "4321";
		tc.group = (char *)(uintptr_t) "8765";
	}
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_int_equal(stat(dest, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	if (geteuid() == 0) {
		assert_int_equal(st.st_uid, 4321);
		assert_int_equal(st.st_gid, 8765);
	}
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_UNCHANGED);
	close_and_check(&loop, p);
}

static void test_create_dirs_and_bad_destinations(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	char file[320];

	(void)state;
	/* create_dest_dirs makes the missing directories. */
	snprintf(dest, sizeof(dest), "%s/a/b/hosts", dir);
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_WRITTEN);
	assert_file(dest, HOSTS_A);
	close_and_check(&loop, p);
	/* ... and without it the error says so. */
	snprintf(dest, sizeof(dest), "%s/c/hosts", dir);
	tc.create_dest_dirs = false;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_FAILED);
	assert_non_null(strstr(d.msg, "create_dest_dirs"));
	close_and_check(&loop, p);
	/* A destination that is a directory. */
	snprintf(dest, sizeof(dest), "%s/a", dir);
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_FAILED);
	assert_non_null(strstr(d.msg, "is a directory"));
	close_and_check(&loop, p);
	/* A directory that cannot be written even by root: one under a
	 * regular file (ENOTDIR); the read-only mount case is below. */
	snprintf(file, sizeof(file), "%s/plain", dir);
	write_file(file, "x");
	snprintf(dest, sizeof(dest), "%s/plain/hosts", dir);
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_FAILED);
	assert_non_null(strstr(d.msg, "Not a directory"));
	close_and_check(&loop, p);
	snprintf(dest, sizeof(dest), "%s/hosts", dir);
}

static void test_managed_block(void **state)
{
	const char *mine = "127.0.0.1 localhost\r\n# mine\n" HOSTS_BLOCK_BEGIN
	                   "\n10.9.9.9 stale\n" HOSTS_BLOCK_END "\n::1 ip6";
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d;

	(void)state;
	write_file(dest, mine);
	tc.managed_block = true;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_WRITTEN);
	assert_file(dest, "127.0.0.1 localhost\r\n# mine\n" HOSTS_BLOCK_BEGIN
	                  "\n" HOSTS_A HOSTS_BLOCK_END "\n::1 ip6");
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_UNCHANGED);
	/* The operator edits outside the block: re-read, kept. */
	write_file(dest, "# edited\n" HOSTS_BLOCK_BEGIN
	                 "\n" HOSTS_A HOSTS_BLOCK_END "\n");
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_file(dest, "# edited\n" HOSTS_BLOCK_BEGIN
	                  "\n" HOSTS_B HOSTS_BLOCK_END "\n");
	/* Broken markers: refuse, keep the file. */
	write_file(dest, HOSTS_BLOCK_BEGIN "\n" HOSTS_BLOCK_BEGIN "\n");
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_FAILED);
	assert_non_null(strstr(d.msg, "managed block"));
	assert_file(dest, HOSTS_BLOCK_BEGIN "\n" HOSTS_BLOCK_BEGIN "\n");
	close_and_check(&loop, p);
}

static void test_check_command(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d;

	(void)state;
	write_file(dest, HOSTS_A);
	tc.check_command = (char *)(uintptr_t) "test \"$1\" = {{path}} && "
	                                       "grep -q api {{path}} || "
	                                       "{ echo no api >&2; exit 1; }";
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, "10.0.0.1 web\n", &d),
	                 PUBLISH_FAILED);
	assert_non_null(strstr(d.msg, "check_command exited with status 1"));
	assert_non_null(strstr(d.msg, "no api"));
	assert_file(dest, HOSTS_A);
	assert_int_equal(stray_files(), 0);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_file(dest, HOSTS_B);
	close_and_check(&loop, p);
}

static void test_command_failure_rollback(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d;

	(void)state;
	write_file(dest, HOSTS_A);
	tc.command = (char *)(uintptr_t) "echo dnsmasq failed >&2; exit 2";
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_FAILED);
	assert_non_null(strstr(d.msg, "command exited with status 2"));
	assert_file(dest, HOSTS_B); /* no rollback configured */
	close_and_check(&loop, p);

	write_file(dest, HOSTS_A);
	tc.rollback_on_failure = true;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_FAILED);
	assert_file(dest, HOSTS_A);
	assert_int_equal(stray_files(), 0);
	close_and_check(&loop, p);
}

/* A failed command (no rollback) is run again by itself, backing off,
 * with no new submit: the file is in place but the reload did not take. */
static void test_command_failure_retried(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	char *cmd, counter[PATH_MAX];
	uv_loop_t loop;
	struct done d;
	uint64_t t0;

	(void)state;
	snprintf(counter, sizeof(counter), "%s/runs", dir);
	/* Fails on its first run, succeeds after. */
	cmd = xasprintf("echo x >> %s; [ $(wc -l < %s) -ge 2 ]", counter,
	                counter);
	write_file(dest, HOSTS_A);
	tc.command = cmd;
	tc.restart_min_interval_ms = 0;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_FAILED);
	assert_file(dest, HOSTS_B);
	assert_int_equal(count_lines(counter), 1);
	t0 = uv_hrtime();
	while (count_lines(counter) < 2) {
		uv_run(&loop, UV_RUN_ONCE);
		if ((uv_hrtime() - t0) / 1000000 > 10000)
			fail_msg("the failed command was not run again");
	}
	/* Not at once: after the first backoff step (1 s). */
	assert_true((uv_hrtime() - t0) / 1000000 >= 900);
	close_and_check(&loop, p);
	assert_int_equal(count_lines(counter), 2); /* it succeeded: no more */
	(void)unlink(counter);
	free(cmd);
}

/*
 * A held render must never take the place of a newer one waiting behind a
 * running command: H is held, a deferred command runs, N is submitted and
 * waits; the hold timer fires meanwhile. N is what gets published.
 */
static void test_hold_timer_keeps_newer_pending(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	char *cmd, counter[PATH_MAX];
	struct buf full, a, b, n;
	uv_loop_t loop;
	struct done d, dn;
	uint64_t t0;

	(void)state;
	buf_init(&full, 0);
	buf_init(&a, 0);
	buf_init(&b, 0);
	buf_init(&n, 0);
	for (int i = 1; i <= 10; i++) {
		buf_printf(&full, "10.0.0.%d web%d\n", i, i);
		buf_printf(&a, "10.0.1.%d web%d\n", i, i);
		buf_printf(&b, "10.0.2.%d web%d\n", i, i);
		buf_printf(&n, "10.0.3.%d web%d\n", i, i);
	}
	snprintf(counter, sizeof(counter), "%s/runs", dir);
	/* The second run (the deferred one) takes 4 s. */
	cmd = xasprintf("echo x >> %s; [ $(wc -l < %s) -eq 2 ] && sleep 4; "
	                "true",
	                counter, counter);
	write_file(dest, full.data);
	tc.command = cmd;
	tc.restart_min_interval_ms = 1000;
	tc.guard_shrink = 0.5;
	tc.guard_service_drop = true;
	tc.guard_hold_ms = 2500;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, a.data, &d), PUBLISH_WRITTEN);
	/* Inside the rate-limit window: written, command deferred ~1 s. */
	assert_int_equal(publish(&loop, p, b.data, &d), PUBLISH_WRITTEN);
	/* Drops nine names: held; the hold timer fires in 2.5 s. */
	assert_int_equal(publish(&loop, p, "10.0.0.1 web1\n", &d),
	                 PUBLISH_HELD);
	t0 = uv_hrtime();
	/* The child's write is no loop event: poll the counter every 5 ms
	 * (UV_RUN_ONCE would sleep until the hold timer itself fires). */
	while (count_lines(counter) < 2) {
		struct timespec ts = {0, 5000000};

		uv_run(&loop, UV_RUN_NOWAIT);
		nanosleep(&ts, NULL);
		if ((uv_hrtime() - t0) / 1000000 > 10000)
			fail_msg("the deferred command did not start");
	}
	/* The deferred command runs (4 s): N waits behind it and the hold
	 * timer fires meanwhile (at 2.5 s). */
	assert_true((uv_hrtime() - t0) / 1000000 < 2000);
	memset(&dn, 0, sizeof(dn));
	dn.loop = &loop;
	assert_int_equal(publisher_submit(p, n.data, n.len, on_done, &dn), 0);
	wait_done(&loop, &dn);
	assert_int_equal(dn.res, PUBLISH_WRITTEN);
	assert_file(dest, n.data);
	close_and_check(&loop, p);
	(void)unlink(counter);
	free(cmd);
	buf_free(&full);
	buf_free(&a);
	buf_free(&b);
	buf_free(&n);
}

static int ticks;

static void on_tick(uv_timer_t *t)
{
	(void)t;
	ticks++;
}

static void test_command_hang(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	uv_timer_t tick;
	struct done d;
	uint64_t t0;

	(void)state;
	tc.command = (char *)(uintptr_t) "sleep 30";
	tc.command_timeout_ms = 300;
	p = make(&loop, &tc);
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, on_tick, 20, 20);
	ticks = 0;
	t0 = uv_hrtime();
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_FAILED);
	assert_non_null(strstr(d.msg, "timeout"));
	assert_true((uv_hrtime() - t0) / 1000000 < 3000);
	/* The loop kept running while the command hung: a blocked loop gets
	 * 0 or 1 ticks; a loaded machine may delay some of the ~15. */
	assert_true(ticks >= 3);
	assert_file(dest, HOSTS_A);
	uv_close((uv_handle_t *)&tick, NULL);
	close_and_check(&loop, p);
}

static void test_rate_limit(void **state)
{
	struct tmpl_conf tc = conf();
	char log[320], cmd[1024], text[64];
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	uint64_t t0;
	char *got;

	(void)state;
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(cmd, sizeof(cmd), "cat '%s' >> '%s'; echo --- >> '%s'", dest,
	         log, log);
	tc.command = cmd;
	tc.restart_min_interval_ms = 400;
	p = make(&loop, &tc);
	for (int i = 1; i <= 5; i++) {
		snprintf(text, sizeof(text), "10.0.0.%d web\n", i);
		assert_int_equal(publish(&loop, p, text, &d), PUBLISH_WRITTEN);
		assert_file(dest, text);
	}
	/* Wait (bounded) for the deferred run at the window's end. */
	t0 = uv_hrtime();
	while ((got = read_file(log)) == NULL ||
	       strstr(got, "10.0.0.5 web") == NULL) {
		free(got);
		uv_run(&loop, UV_RUN_ONCE);
		if ((uv_hrtime() - t0) / 1000000 > 5000)
			fail_msg("deferred command never ran");
	}
	/* Exactly two runs: the first change, then once for the other four,
	 * seeing the newest content. */
	assert_string_equal(got, "10.0.0.1 web\n---\n10.0.0.5 web\n---\n");
	free(got);
	close_and_check(&loop, p);
}

static void test_coalescing(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d[4];

	(void)state;
	memset(d, 0, sizeof(d));
	tc.check_command = (char *)(uintptr_t) "sleep 0.2";
	p = make(&loop, &tc);
	for (int i = 0; i < 4; i++)
		d[i].loop = &loop;
	assert_int_equal(
	        publisher_submit(p, "10.0.0.1 a\n", 11, on_done, &d[0]), 0);
	assert_int_equal(d[0].fired, 0); /* never from inside submit */
	/* Let the first job start (its check_command runs)... */
	uv_run(&loop, UV_RUN_NOWAIT);
	/* ... then three more while it is busy: one pending job. */
	assert_int_equal(
	        publisher_submit(p, "10.0.0.2 b\n", 11, on_done, &d[1]), 0);
	assert_int_equal(
	        publisher_submit(p, "10.0.0.3 c\n", 11, on_done, &d[2]), 0);
	assert_int_equal(
	        publisher_submit(p, "10.0.0.4 d\n", 11, on_done, &d[3]), 0);
	wait_done(&loop, &d[3]);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(d[i].fired, 1);
		assert_int_equal(d[i].res, PUBLISH_WRITTEN);
	}
	assert_file(dest, "10.0.0.4 d\n");
	close_and_check(&loop, p);
}

static void test_guards(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	struct buf full;
	uint64_t t0;
	char *got;

	(void)state;
	buf_init(&full, 0);
	for (int i = 1; i <= 10; i++)
		buf_printf(&full, "10.0.0.%d web.service.consul\n", i);
	buf_puts(&full, "10.0.1.1 api.service.consul\n");
	/* A first publish is never held. */
	tc.guard_shrink = 0.5;
	tc.guard_service_drop = true;
	tc.guard_hold_ms = 0;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, "10.0.0.1 web.service.consul\n", &d),
	                 PUBLISH_WRITTEN);
	write_file(dest, full.data);
	/* Shrink from 11 to 2 entries: held; the same again confirms it
	 * (guard_hold_ms 0). */
	assert_int_equal(publish(&loop, p,
	                         "10.0.0.1 web.service.consul\n"
	                         "10.0.1.1 api.service.consul\n",
	                         &d),
	                 PUBLISH_HELD);
	assert_file(dest, full.data);
	assert_int_equal(publish(&loop, p,
	                         "10.0.0.1 web.service.consul\n"
	                         "10.0.1.1 api.service.consul\n",
	                         &d),
	                 PUBLISH_WRITTEN);
	/* A service dropping to zero, with a small shrink: held. */
	write_file(dest, full.data);
	{
		char *noapi = strndup(full.data, full.len - 28);

		assert_int_equal(publish(&loop, p, noapi, &d), PUBLISH_HELD);
		assert_file(dest, full.data);
		/* A different render in between starts the hold again;
		 * recovering data clears it. */
		assert_int_equal(publish(&loop, p, full.data, &d),
		                 PUBLISH_UNCHANGED);
		free(noapi);
	}
	close_and_check(&loop, p);

	/* Held content is published by the hold timer if nothing else comes. */
	tc.guard_hold_ms = 300;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, "10.0.0.9 web.service.consul\n", &d),
	                 PUBLISH_HELD);
	t0 = uv_hrtime();
	while ((got = read_file(dest)) != NULL &&
	       strcmp(got, "10.0.0.9 web.service.consul\n") != 0) {
		free(got);
		uv_run(&loop, UV_RUN_ONCE);
		if ((uv_hrtime() - t0) / 1000000 > 5000)
			fail_msg("held content never published");
	}
	free(got);
	assert_true((uv_hrtime() - t0) / 1000000 >= 250);
	close_and_check(&loop, p);

	/* A render with no entries at all is never confirmed, not by time
	 * (the hold has expired) and not by being submitted again. */
	write_file(dest, full.data);
	tc.guard_hold_ms = 0;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, "# nothing\n", &d), PUBLISH_HELD);
	assert_int_equal(publish(&loop, p, "# nothing\n", &d), PUBLISH_HELD);
	assert_int_equal(publish(&loop, p, "# nothing\n", &d), PUBLISH_HELD);
	assert_file(dest, full.data);
	close_and_check(&loop, p);

	/* Guards off: published at once. */
	write_file(dest, full.data);
	tc.guard_shrink = 0;
	tc.guard_service_drop = false;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, "10.0.0.9 x\n", &d),
	                 PUBLISH_WRITTEN);
	close_and_check(&loop, p);
	buf_free(&full);
}

static void test_dry_sink(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p = NULL;
	uv_loop_t loop;
	struct done d;
	char out[320];
	int saved, fd;

	(void)state;
	snprintf(out, sizeof(out), "%s/stdout", dir);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	tc.command = (char *)(uintptr_t) "exit 1"; /* never run */
	tc.managed_block = true;                   /* block only */
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(publisher_new(&loop, &tc, true, &p, NULL), 0);
	assert_int_equal(publish(&loop, p, HOSTS_A "bad line\n", &d),
	                 PUBLISH_WRITTEN);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	assert_file(out, HOSTS_A);
	assert_null(read_file(dest)); /* nothing written there */
	close_and_check(&loop, p);
}

static void test_close_runs_deferred_command(void **state)
{
	struct tmpl_conf tc = conf();
	char log[320], cmd[1024];
	struct publisher *p;
	uv_loop_t loop;
	struct done d;

	(void)state;
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(cmd, sizeof(cmd), "echo run >> '%s'", log);
	tc.command = cmd;
	tc.restart_min_interval_ms = 60000;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_WRITTEN);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_int_equal(count_lines(log), 1);
	close_and_check(&loop, p); /* returns long before 60 s */
	assert_int_equal(count_lines(log), 2);
}

/* ---- in a child process ----------------------------------------------- */

#define CHILD_SKIP 77

static int child_publish(const struct tmpl_conf *tc, const char *text,
                         char *msg, size_t msgsize)
{
	struct publisher *p = NULL;
	uv_loop_t loop;
	struct done d;
	uint64_t t0 = uv_hrtime();

	memset(&d, 0, sizeof(d));
	d.loop = &loop;
	if (uv_loop_init(&loop) != 0 ||
	    publisher_new(&loop, tc, false, &p, NULL) != 0 ||
	    publisher_submit(p, text, strlen(text), on_done, &d) != 0)
		return -1;
	while (!d.fired && (uv_hrtime() - t0) / 1000000 < 20000)
		uv_run(&loop, UV_RUN_ONCE);
	publisher_close(p, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	snprintf(msg, msgsize, "%s", d.msg);
	return d.fired ? (int)d.res : -1;
}

/* Fork; in the child enter a private mount namespace and run fn. */
static void in_namespace(int (*fn)(void), const char *what)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* "none" for the unused type: valgrind checks it. */
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(CHILD_SKIP);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == CHILD_SKIP) {
		fprintf(stderr,
		        "skipped: %s needs a private mount namespace "
		        "and mount(2)\n",
		        what);
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
}

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, \
			        #cond);                                    \
			return 1;                                          \
		}                                                          \
	} while (0)

static int child_file_is(const char *path, const char *want)
{
	char *got = read_file(path);
	int ok = got != NULL && strcmp(got, want) == 0;

	free(got);
	return ok;
}

static int child_readonly_dir(void)
{
	struct tmpl_conf tc = conf();
	char msg[600];

	if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") < 0)
		return CHILD_SKIP;
	write_file(dest, HOSTS_A);
	if (mount("none", dir, "none", MS_REMOUNT | MS_RDONLY, NULL) < 0)
		return CHILD_SKIP;
	CHECK(child_publish(&tc, HOSTS_B, msg, sizeof(msg)) == PUBLISH_FAILED);
	fprintf(stderr, "read-only: %s\n", msg);
	CHECK(strstr(msg, "Read-only file system") != NULL);
	CHECK(child_file_is(dest, HOSTS_A));
	return 0;
}

static void test_readonly_dir(void **state)
{
	(void)state;
	in_namespace(child_readonly_dir, "the read-only directory test");
}

static int child_full_disk(void)
{
	struct tmpl_conf tc = conf();
	struct buf big;
	char msg[600];
	int r;

	if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0)
		return CHILD_SKIP;
	write_file(dest, HOSTS_A);
	buf_init(&big, 0);
	for (int i = 0; i < 10000; i++)
		buf_printf(&big, "10.0.%d.%d web%d\n", i / 250, i % 250, i);
	r = child_publish(&tc, big.data, msg, sizeof(msg));
	buf_free(&big);
	CHECK(r == PUBLISH_FAILED);
	fprintf(stderr, "full disk: %s\n", msg);
	CHECK(strstr(msg, "No space left on device") != NULL);
	CHECK(child_file_is(dest, HOSTS_A));
	CHECK(stray_files() == 0);
	return 0;
}

static void test_full_disk(void **state)
{
	(void)state;
	in_namespace(child_full_disk, "the ENOSPC test");
}

static int child_mount_point(void)
{
	struct tmpl_conf tc = conf();
	char src[320], msg[600];

	snprintf(src, sizeof(src), "%s/source", dir);
	write_file(src, HOSTS_A);
	write_file(dest, "");
	if (mount(src, dest, "none", MS_BIND, NULL) < 0)
		return CHILD_SKIP;
	CHECK(child_publish(&tc, HOSTS_B, msg, sizeof(msg)) == PUBLISH_FAILED);
	fprintf(stderr, "mount point: %s\n", msg);
	CHECK(strstr(msg, "mount point") != NULL);
	CHECK(strstr(msg, "in_place") != NULL);
	CHECK(child_file_is(dest, HOSTS_A));
	tc.in_place = true;
	CHECK(child_publish(&tc, HOSTS_B, msg, sizeof(msg)) == PUBLISH_WRITTEN);
	CHECK(child_file_is(dest, HOSTS_B));
	CHECK(child_file_is(src, HOSTS_B)); /* same inode, rewritten */
	umount(dest);
	unlink(src);
	return 0;
}

static void test_mount_point(void **state)
{
	(void)state;
	in_namespace(child_mount_point, "the bind-mount (EBUSY) test");
}

/* The publisher dies while its file is staged (check_command kills it):
 * the old file stays. */
static void test_killed_between_stage_and_swap(void **state)
{
	struct tmpl_conf tc = conf();
	pid_t pid;
	int status;
	char msg[600];

	(void)state;
	write_file(dest, HOSTS_A);
	tc.check_command = (char *)(uintptr_t) "kill -9 $PPID";
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_publish(&tc, HOSTS_B, msg, sizeof(msg)));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_file(dest, HOSTS_A);
	/* What is left is a dot-file dnsmasq's --hostsdir ignores. */
	assert_int_equal(stray_files(), 1);
}

/* A writer publishing A and B alternately is killed at random moments
 * while a reader checks every read is one complete version. */
static void test_reader_sees_whole_files(void **state)
{
	struct buf a, b;
	pid_t pid;
	int status, reads = 0, seen_a = 0, seen_b = 0;
	uint64_t t0;

	(void)state;
	buf_init(&a, 0);
	buf_init(&b, 0);
	for (int i = 0; i < 6000; i++) {
		buf_printf(&a, "10.1.%d.%d a%d\n", i / 250, i % 250, i);
		buf_printf(&b, "10.2.%d.%d b%d\n", i / 250, i % 250, i);
	}
	write_file(dest, a.data);
	for (int round = 0; round < 3; round++) {
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct tmpl_conf tc = conf();
			char msg[600];

			for (int i = 0;; i++)
				if (child_publish(&tc, i % 2 ? a.data : b.data,
				                  msg, sizeof(msg)) ==
				    PUBLISH_FAILED)
					_exit(1);
		}
		t0 = uv_hrtime();
		/* At least 150+ ms, and until both versions were seen (slow
		 * under valgrind), at most 10 s. */
		for (;;) {
			uint64_t ms = (uv_hrtime() - t0) / 1000000;

			if (ms > 10000 || (ms >= 150u + 50u * (unsigned)round &&
			                   seen_a > 0 && seen_b > 0))
				break;
			char *got = read_file(dest);

			assert_non_null(got);
			if (strcmp(got, a.data) == 0)
				seen_a++;
			else if (strcmp(got, b.data) == 0)
				seen_b++;
			else
				fail_msg("a reader saw a partial file");
			reads++;
			free(got);
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		{
			char *got = read_file(dest);

			assert_true(strcmp(got, a.data) == 0 ||
			            strcmp(got, b.data) == 0);
			free(got);
		}
	}
	fprintf(stderr, "%d reads: %d old, %d new\n", reads, seen_a, seen_b);
	assert_true(seen_a > 0 && seen_b > 0);
	buf_free(&a);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_new_then_unchanged, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_mode_owner_perms_backup,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_create_dirs_and_bad_destinations, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_managed_block, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_check_command, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_command_failure_rollback,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_command_hang, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_rate_limit, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_coalescing, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_guards, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_command_failure_retried,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_hold_timer_keeps_newer_pending, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_dry_sink, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_close_runs_deferred_command, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_readonly_dir, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_full_disk, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_mount_point, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_killed_between_stage_and_swap, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reader_sees_whole_files,
	                                        setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	log_init(getenv("CH_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
