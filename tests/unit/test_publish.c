/*
 * Unit tests for the publisher (publish.h): compare, stage, swap, guards,
 * commands, rate limit, the dry sink, and failures (read-only directory,
 * full disk, mount point). Everything happens in a fresh directory under
 * $TMPDIR; the mount tests run in a forked child inside a private mount
 * namespace and are skipped when that is not permitted.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
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
#include <sys/resource.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "base/buf.h"
#include "hosts/hosts.h"
#include "base/xmalloc.h"
#include "base/log.h"
#include "publish/publish.h"

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

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0)
		fprintf(stderr, "cannot remove %s: %s\n", path,
		        strerror(errno));
	return 0;
}

/* rm -rf without a child process: a test that failed half-way may leave
 * a libuv loop's SIGCHLD handler behind, on a stack that is gone. */
static void rm_rf(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
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

/* Submit a render and run the loop until its done fires. spans NULL: all
 * of the text came from data. */
static enum publish_result publish_full(uv_loop_t *loop, struct publisher *p,
                                        const char *text,
                                        const struct tmpl_spans *spans,
                                        const char *suspect, struct done *d)
{
	struct publish_input in = {.text = text,
	                           .len = strlen(text),
	                           .dynamic = spans,
	                           .suspect = suspect};

	memset(d, 0, sizeof(*d));
	d->loop = loop;
	assert_int_equal(publisher_submit(p, &in, on_done, d), 0);
	wait_done(loop, d);
	assert_int_equal(d->fired, 1);
	return d->res;
}

static enum publish_result publish(uv_loop_t *loop, struct publisher *p,
                                   const char *text, struct done *d)
{
	return publish_full(loop, p, text, NULL, NULL, d);
}

static void submit(struct publisher *p, const char *text, struct done *d)
{
	struct publish_input in = {.text = text, .len = strlen(text)};

	assert_int_equal(publisher_submit(p, &in, on_done, d), 0);
}

struct flushed {
	int fired;
	bool ok;
};

static void on_flushed(void *data, bool ok)
{
	struct flushed *f = data;

	f->fired++;
	f->ok = ok;
}

/* Run the loop until the publisher is idle, its command run; the last
 * command's outcome. */
static bool settle(uv_loop_t *loop, struct publisher *p)
{
	struct flushed f = {0};
	uint64_t t0 = uv_hrtime();

	publisher_flush(p, on_flushed, &f);
	while (!f.fired) {
		uv_run(loop, UV_RUN_ONCE);
		if ((uv_hrtime() - t0) / 1000000 > 20000)
			fail_msg("the publisher did not settle");
	}
	assert_int_equal(f.fired, 1);
	return f.ok;
}

/* Run the loop for ms, whatever happens. */
static void run_for(uv_loop_t *loop, uint64_t ms)
{
	uint64_t t0 = uv_hrtime();

	while ((uv_hrtime() - t0) / 1000000 < ms) {
		struct timespec ts = {0, 2000000};

		uv_run(loop, UV_RUN_NOWAIT);
		nanosleep(&ts, NULL);
	}
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
	struct publish_opts po = {0};

	assert_int_equal(publisher_new(loop, tc, &po, &p, &e), 0);
	return p;
}

#define HOSTS_A "10.0.0.1 web\n10.0.0.2 api\n"
#define HOSTS_B "10.0.0.1 web\n10.0.0.3 api\n"

/* How much slower than normal this run may be (CH_SLOW under valgrind):
 * only upper time bounds scale with it. */
static double slow(void)
{
	const char *v = getenv("CH_SLOW");
	double f = v != NULL ? atof(v) : 1.0;

	return f >= 1.0 ? f : 1.0;
}

static uint64_t ms_since(uint64_t t0)
{
	return (uv_hrtime() - t0) / 1000000;
}

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
	assert_true(settle(&loop, p));
	assert_int_equal(count_lines(log), 1);
	usleep(20000); /* so a rewrite would show in mtime */
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_UNCHANGED);
	assert_int_equal(stat(dest, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
	assert_int_equal(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
	assert_true(settle(&loop, p));
	assert_int_equal(count_lines(log), 1); /* no command either */
	assert_int_equal(stray_files(), 0);
	close_and_check(&loop, p);
}

/* The same render over the file as it was left is UNCHANGED at once; a
 * file touched meanwhile (same render, edited file) is written again. */
static void test_same_render_fast_path(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	FILE *f;

	(void)state;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_WRITTEN);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_UNCHANGED);
	f = fopen(dest, "a");
	assert_non_null(f);
	fputs("10.9.9.9 intruder\n", f);
	fclose(f);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_WRITTEN);
	assert_file(dest, HOSTS_A);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_UNCHANGED);
	/* A mode change is a change of the file too. */
	assert_int_equal(chmod(dest, 0600), 0);
	tc.perms = 0644;
	close_and_check(&loop, p);
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_WRITTEN);
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
	/* A FIFO: refused, and the loop is never blocked opening it. */
	snprintf(dest, sizeof(dest), "%s/fifo", dir);
	assert_int_equal(mkfifo(dest, 0644), 0);
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_FAILED);
	assert_non_null(strstr(d.msg, "not a regular file"));
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

/*
 * Someone appends to the file while a publish is staged (here the
 * check_command itself, the window in which cloud-init or an operator
 * would): the edit outside the block is kept, the job splices again.
 */
static void test_managed_block_concurrent_edit(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	char *check;
	uv_loop_t loop;
	struct done d;

	(void)state;
	write_file(dest, "127.0.0.1 localhost\n");
	tc.managed_block = true;
	/* Appends once: the marker file makes the second check a no-op. */
	check = xasprintf("[ -e '%s/edited' ] || { echo '10.7.7.7 mine' >> "
	                  "'%s'; touch '%s/edited'; }",
	                  dir, dest, dir);
	tc.check_command = check;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_WRITTEN);
	assert_file(dest,
	            "127.0.0.1 localhost\n10.7.7.7 mine\n" HOSTS_BLOCK_BEGIN
	            "\n" HOSTS_A HOSTS_BLOCK_END "\n");
	close_and_check(&loop, p);
	free(check);
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
	/* The file is in place at once; the command's failure comes later. */
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_false(settle(&loop, p));
	assert_file(dest, HOSTS_B); /* no rollback configured */
	close_and_check(&loop, p);

	write_file(dest, HOSTS_A);
	tc.rollback_on_failure = true;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_false(settle(&loop, p));
	assert_file(dest, HOSTS_A);
	assert_int_equal(stray_files(), 0);
	close_and_check(&loop, p);
}

/* A reload that could not signal dnsmasq failed, even with exit 0
 * (procps-ng 3 pkill): it is retried like any failed command. */
static void test_command_could_not_signal(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d;

	(void)state;
	tc.command = (char *)(uintptr_t) "echo 'pkill: killing pid 1 failed: "
	                                 "Operation not permitted' >&2";
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_WRITTEN);
	assert_false(settle(&loop, p));
	close_and_check(&loop, p);
}

/* Managed block: a rollback restores the block only; an edit made
 * outside it while the command ran is kept. */
static void test_rollback_block_only(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	char *cmd;
	uv_loop_t loop;
	struct done d;

	(void)state;
	write_file(dest, "# top\n" HOSTS_BLOCK_BEGIN
	                 "\n" HOSTS_A HOSTS_BLOCK_END "\n");
	cmd = xasprintf("echo '10.8.8.8 edit' >> '%s'; exit 1", dest);
	tc.command = cmd;
	tc.managed_block = true;
	tc.rollback_on_failure = true;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_false(settle(&loop, p));
	assert_file(dest, "# top\n" HOSTS_BLOCK_BEGIN
	                  "\n" HOSTS_A HOSTS_BLOCK_END "\n10.8.8.8 edit\n");
	close_and_check(&loop, p);
	free(cmd);
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
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_file(dest, HOSTS_B);
	t0 = uv_hrtime();
	while (count_lines(counter) < 1)
		run_for(&loop, 5);
	while (count_lines(counter) < 2) {
		run_for(&loop, 5);
		if (ms_since(t0) > 10000 * slow())
			fail_msg("the failed command was not run again");
	}
	/* Not at once: after the first backoff step (1 s). */
	assert_true(ms_since(t0) >= 900);
	assert_true(settle(&loop, p));
	close_and_check(&loop, p);
	assert_int_equal(count_lines(counter), 2); /* it succeeded: no more */
	(void)unlink(counter);
	free(cmd);
}

static int ticks;

static void on_tick(uv_timer_t *t)
{
	(void)t;
	ticks++;
}

/*
 * Publishing never waits for a command: while the reload hangs, a newer
 * render is in place at once; the hung command times out, and the
 * command runs once more for the newer render.
 */
static void test_command_hang_does_not_delay(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	char *cmd, log[320];
	uv_loop_t loop;
	uv_timer_t tick;
	struct done d;
	uint64_t t0;

	(void)state;
	snprintf(log, sizeof(log), "%s/log", dir);
	/* The first run hangs; later runs log the file they see. */
	cmd = xasprintf("echo run >> '%s'; [ $(wc -l < '%s') -ge 2 ] || "
	                "sleep 30",
	                log, log);
	tc.command = cmd;
	tc.command_timeout_ms = 1500;
	tc.command_max_runs = 4;
	tc.command_window_ms = 10000;
	p = make(&loop, &tc);
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, on_tick, 20, 20);
	ticks = 0;
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_WRITTEN);
	while (count_lines(log) < 1)
		run_for(&loop, 5);
	/* The command hangs now; the next render is in place at once. */
	t0 = uv_hrtime();
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_file(dest, HOSTS_B);
	fprintf(stderr, "render behind a hung command: %" PRIu64 " ms\n",
	        ms_since(t0));
	assert_true(ms_since(t0) < 1000 * slow());
	/* The hung run is killed at its timeout; one more run follows for
	 * the newer render, and it succeeds. */
	assert_true(settle(&loop, p));
	assert_int_equal(count_lines(log), 2);
	assert_true(ms_since(t0) >= 1000);
	/* The loop kept running while the command hung. */
	assert_true(ticks >= 3);
	uv_close((uv_handle_t *)&tick, NULL);
	close_and_check(&loop, p);
	free(cmd);
}

static void test_command_timeout(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	uint64_t t0;

	(void)state;
	tc.command = (char *)(uintptr_t) "sleep 30";
	tc.command_timeout_ms = 300;
	p = make(&loop, &tc);
	t0 = uv_hrtime();
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_WRITTEN);
	assert_false(settle(&loop, p)); /* killed at its timeout */
	assert_true(ms_since(t0) < 3000 * slow());
	assert_file(dest, HOSTS_A);
	close_and_check(&loop, p);
}

/*
 * The command's budget: the first run after a quiet spell starts at once;
 * a burst is coalesced; never more than command_max_runs starts in any
 * command_window_ms, and the last run sees the newest content.
 */
static void test_command_budget(void **state)
{
	struct tmpl_conf tc = conf();
	char log[320], times[320], cmd[2048], text[64];
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	uint64_t t0;
	char *got, *last;
	int runs = 0;
	double first = -1, start[16];

	(void)state;
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(times, sizeof(times), "%s/times", dir);
	snprintf(cmd, sizeof(cmd),
	         "date +%%s.%%N >> '%s'; cat '%s' >> '%s'; echo --- >> '%s'",
	         times, dest, log, log);
	tc.command = cmd;
	tc.command_max_runs = 2;
	tc.command_window_ms = 1500;
	p = make(&loop, &tc);
	t0 = uv_hrtime();
	for (int i = 1; i <= 6; i++) {
		snprintf(text, sizeof(text), "10.0.0.%d web\n", i);
		assert_int_equal(publish(&loop, p, text, &d), PUBLISH_WRITTEN);
		assert_file(dest, text);
		if (i == 1) {
			/* The first run starts at once. */
			while (count_lines(times) < 1)
				run_for(&loop, 2);
			first = (double)ms_since(t0);
		}
	}
	/* Not settle(): a flush runs a waiting command at once. */
	for (;;) {
		got = read_file(log);
		if (got != NULL && strlen(got) >= 17 &&
		    strcmp(got + strlen(got) - 17, "10.0.0.6 web\n---\n") == 0)
			break;
		free(got);
		run_for(&loop, 10);
		if (ms_since(t0) > 10000 * slow())
			fail_msg("the newest content never got its run");
	}
	/* The last run saw the newest content. */
	last = got + strlen(got) - strlen("10.0.0.6 web\n---\n");
	assert_true(last >= got);
	assert_string_equal(last, "10.0.0.6 web\n---\n");
	free(got);
	got = read_file(times);
	for (char *q = got; q != NULL && *q != '\0' && runs < 16; runs++) {
		start[runs] = atof(q);
		q = strchr(q, '\n');
		q = q != NULL ? q + 1 : NULL;
	}
	free(got);
	fprintf(stderr, "budget: first run after %.0f ms, %d runs\n", first,
	        runs);
	assert_true(first < 1000 * slow());
	/* Six changes, coalesced; at most 2 starts in any 1.5 s. */
	assert_true(runs >= 2 && runs <= 4);
	for (int i = 2; i < runs; i++) {
		fprintf(stderr, "budget: run %d starts %.3f s after run %d\n",
		        i + 1, start[i] - start[i - 2], i - 1);
		/* Without the budget ~0.01 s; exec delays vary. */
		assert_true(start[i] - start[i - 2] >= 1.0);
	}
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
	submit(p, "10.0.0.1 a\n", &d[0]);
	assert_int_equal(d[0].fired, 0); /* never from inside submit */
	/* Let the first job start (its check_command runs)... */
	uv_run(&loop, UV_RUN_NOWAIT);
	/* ... then three more while it is busy: one pending job. */
	submit(p, "10.0.0.2 b\n", &d[1]);
	submit(p, "10.0.0.3 c\n", &d[2]);
	submit(p, "10.0.0.4 d\n", &d[3]);
	wait_done(&loop, &d[3]);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(d[i].fired, 1);
		assert_int_equal(d[i].res, PUBLISH_WRITTEN);
	}
	assert_file(dest, "10.0.0.4 d\n");
	close_and_check(&loop, p);
}

/* ---- guards ----------------------------------------------------------- */

static struct tmpl_conf guard_conf(uint64_t hold_ms)
{
	struct tmpl_conf tc = conf();

	tc.guard_enabled = true;
	tc.guard_shrink = 0.5;
	tc.guard_hold_ms = hold_ms;
	return tc;
}

/* n lines "10.0.0.i webi.service.consul" from first. */
static char *entries(int first, int n)
{
	struct buf b;

	buf_init(&b, 0);
	for (int i = first; i < first + n; i++)
		buf_printf(&b, "10.0.%d.%d web%d.service.consul\n", i / 250,
		           i % 250, i);
	return buf_take(&b, NULL);
}

/* Whether the file holds line (a whole line). */
static bool file_has(const char *line)
{
	char *got = read_file(dest), *want = xasprintf("\n%s\n", line);
	bool has =
	        got != NULL && (strncmp(got, want + 1, strlen(line) + 1) == 0 ||
	                        strstr(got, want) != NULL);

	free(got);
	free(want);
	return has;
}

static int held_marks(void)
{
	char *got = read_file(dest);
	int n = 0;

	for (char *q = got; q != NULL && (q = strstr(q, "# consul-hosts: "
	                                                "held since ")) != NULL;
	     q++)
		n++;
	free(got);
	return n;
}

/* Failover first: a stopped node or a failed-over master is published at
 * once; a name dropping to zero is what a failover does. */
/*
 * The doc of what was published is kept for the next job while the file
 * keeps its identity; a file changed by someone else is read again, so
 * the guards weigh a render against what the file holds now.
 */
static void test_guard_old_file_read_again(void **state)
{
	struct tmpl_conf tc = guard_conf(60000);
	char *ten = entries(1, 10), *three = entries(1, 3), *four;
	struct publisher *p;
	uv_loop_t loop;
	struct done d;

	(void)state;
	four = xasprintf("%s10.0.9.9 new.service.consul\n", three);
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, ten, &d), PUBLISH_WRITTEN);
	/* Kept: an ordinary addition against the render just written. */
	{
		char *eleven =
		        xasprintf("%s10.0.9.9 new.service.consul\n", ten);

		assert_int_equal(publish(&loop, p, eleven, &d),
		                 PUBLISH_WRITTEN);
		assert_int_equal(held_marks(), 0);
		free(eleven);
	}
	/* Someone else leaves three of the entries (in place, the same
	 * inode): against the kept doc, the next render would remove 7 of
	 * 11 and be held; against the file, it only adds one. */
	write_file(dest, three);
	assert_int_equal(publish(&loop, p, four, &d), PUBLISH_WRITTEN);
	assert_int_equal(held_marks(), 0);
	assert_file(dest, four);
	free(ten);
	free(three);
	free(four);
	close_and_check(&loop, p);
}

static void test_guard_ordinary_changes(void **state)
{
	struct tmpl_conf tc = guard_conf(60000);
	struct publisher *p;
	uv_loop_t loop;
	struct done d;

	(void)state;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p,
	                         "10.0.0.1 app01\n10.0.0.2 app02\n"
	                         "10.0.0.3 app03\n10.0.1.1 db-master\n",
	                         &d),
	                 PUBLISH_WRITTEN);
	/* app02 stops: its name drops to zero entries, written at once. */
	assert_int_equal(publish(&loop, p,
	                         "10.0.0.1 app01\n10.0.0.3 app03\n"
	                         "10.0.1.1 db-master\n",
	                         &d),
	                 PUBLISH_WRITTEN);
	assert_file(dest, "10.0.0.1 app01\n10.0.0.3 app03\n"
	                  "10.0.1.1 db-master\n");
	/* The master is deregistered, then registered at a new address. */
	assert_int_equal(
	        publish(&loop, p, "10.0.0.1 app01\n10.0.0.3 app03\n", &d),
	        PUBLISH_WRITTEN);
	assert_int_equal(publish(&loop, p,
	                         "10.0.0.1 app01\n10.0.0.3 app03\n"
	                         "192.0.2.110 db-master\n",
	                         &d),
	                 PUBLISH_WRITTEN);
	assert_file(dest, "10.0.0.1 app01\n10.0.0.3 app03\n"
	                  "192.0.2.110 db-master\n");
	assert_int_equal(held_marks(), 0);
	close_and_check(&loop, p);
}

/*
 * More than half of the Consul entries gone: the removals stay in the
 * file, marked, while additions go out at once; the hold timer confirms
 * them after guard.hold with no new render. The template's static lines
 * never count.
 */
static void test_guard_mass_removal(void **state)
{
	struct tmpl_conf tc = guard_conf(700);
	char *all = entries(1, 10), *few = entries(1, 3), *text;
	const char *stat = "127.0.0.1 localhost\n::1 localhost6\n";
	struct tmpl_spans spans = {0};
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	uint64_t t0;
	char *got;

	(void)state;
	spans.v = xcalloc(1, sizeof(*spans.v));
	spans.n = spans.cap = 1;
	p = make(&loop, &tc);
	text = xasprintf("%s%s", stat, all);
	spans.v[0].start = strlen(stat);
	spans.v[0].end = strlen(text);
	assert_int_equal(publish_full(&loop, p, text, &spans, NULL, &d),
	                 PUBLISH_WRITTEN);
	free(text);
	/* 7 of 10 entries gone, one new (the static lines do not count:
	 * with them it would be 7 of 12). */
	text = xasprintf("%s%s10.0.9.9 new.service.consul\n", stat, few);
	spans.v[0].end = strlen(text);
	t0 = uv_hrtime();
	assert_int_equal(publish_full(&loop, p, text, &spans, NULL, &d),
	                 PUBLISH_WRITTEN);
	assert_true(file_has("10.0.9.9 new.service.consul")); /* at once */
	assert_true(file_has("10.0.0.10 web10.service.consul"));
	assert_int_equal(held_marks(), 7);
	got = read_file(dest);
	assert_non_null(strstr(got, "removes 7 of the 10 Consul entries"));
	/* The held lines come after every rendered line. */
	assert_true(strstr(got, "web10.service.consul") >
	            strstr(got, "new.service.consul"));
	free(got);
	/* Confirmed by time alone. */
	while (held_marks() > 0) {
		run_for(&loop, 10);
		if (ms_since(t0) > 5000 * slow())
			fail_msg("held removals were never confirmed");
	}
	assert_true(ms_since(t0) >= 650);
	assert_file(dest, text);
	free(text);
	free(all);
	free(few);
	free(spans.v);
	close_and_check(&loop, p);
}

/* Churn cannot starve a held removal: each held entry ages on its own,
 * whatever other renders come meanwhile (nodes joining every 100 ms). */
static void test_guard_no_starvation(void **state)
{
	struct tmpl_conf tc = guard_conf(800);
	char *all = entries(1, 40), *few = entries(1, 10), *text;
	struct publisher *p;
	struct buf joins;
	uv_loop_t loop;
	struct done d;
	uint64_t t0;
	int i = 0;

	(void)state;
	buf_init(&joins, 0);
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, all, &d), PUBLISH_WRITTEN);
	t0 = uv_hrtime();
	assert_int_equal(publish(&loop, p, few, &d), PUBLISH_WRITTEN);
	assert_int_equal(held_marks(), 30);
	while (held_marks() > 0) {
		buf_printf(&joins, "10.0.8.%d join%d\n", i % 250, i);
		i++;
		text = xasprintf("%s%s", few, buf_str(&joins));
		assert_int_equal(publish(&loop, p, text, &d), PUBLISH_WRITTEN);
		assert_true(file_has("10.0.8.0 join0")); /* joins: at once */
		free(text);
		run_for(&loop, 100);
		if (ms_since(t0) > 5000 * slow())
			fail_msg("churn starved the held removals");
	}
	fprintf(stderr,
	        "held removals confirmed after %" PRIu64 " ms, %d "
	        "renders of churn\n",
	        ms_since(t0), i);
	assert_true(ms_since(t0) >= 750);
	assert_true(i >= 5);
	buf_free(&joins);
	free(all);
	free(few);
	close_and_check(&loop, p);
}

/* A render with no Consul entry is never published while guards are on:
 * not on a first publish, not after the hold, not with static lines. */
static void test_guard_no_entries(void **state)
{
	struct tmpl_conf tc = guard_conf(0);
	const char *stat = "# generated\n127.0.0.1 localhost\n";
	struct tmpl_spans spans = {0};
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	char *all = entries(1, 5), *text;

	(void)state;
	p = make(&loop, &tc);
	/* A first render without entries: reported, not written. */
	assert_int_equal(publish_full(&loop, p, stat, &spans, NULL, &d),
	                 PUBLISH_HELD);
	assert_null(read_file(dest));
	text = xasprintf("%s%s", stat, all);
	spans.v = xcalloc(1, sizeof(*spans.v));
	spans.n = spans.cap = 1;
	spans.v[0].start = strlen(stat);
	spans.v[0].end = strlen(text);
	assert_int_equal(publish_full(&loop, p, text, &spans, NULL, &d),
	                 PUBLISH_WRITTEN);
	/* The catalog is emptied (a restore): held however often it comes,
	 * even with guard.hold 0. */
	spans.n = 0;
	for (int i = 0; i < 3; i++)
		assert_int_equal(publish_full(&loop, p, stat, &spans, NULL, &d),
		                 PUBLISH_HELD);
	assert_file(dest, text);
	close_and_check(&loop, p);
	/* Guards off: published as it comes. */
	tc.guard_enabled = false;
	p = make(&loop, &tc);
	assert_int_equal(publish_full(&loop, p, stat, &spans, NULL, &d),
	                 PUBLISH_WRITTEN);
	assert_file(dest, stat);
	close_and_check(&loop, p);
	free(text);
	free(all);
	free(spans.v);
}

/*
 * A render built from a suspect answer (here: an index that went
 * backwards) holds its removals and publishes its additions; the hold
 * survives a new publisher (SIGHUP, restart); a healthy render that
 * still lacks the entry confirms the removal.
 */
static void test_guard_suspect(void **state)
{
	struct tmpl_conf tc = guard_conf(60000);
	const char *why = "the index went backwards (catalog.nodes)";
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	char *got;

	(void)state;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p,
	                         "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n"
	                         "10.0.0.4 d\n",
	                         &d),
	                 PUBLISH_WRITTEN);
	assert_int_equal(publish_full(&loop, p,
	                              "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n"
	                              "10.0.0.5 e\n",
	                              NULL, why, &d),
	                 PUBLISH_WRITTEN);
	assert_true(file_has("10.0.0.5 e")); /* the addition: at once */
	assert_true(file_has("10.0.0.4 d")); /* the removal: held */
	got = read_file(dest);
	assert_non_null(strstr(got, "a Consul answer is suspect: the index "
	                            "went backwards (catalog.nodes)\n10.0.0.4 "
	                            "d\n"));
	free(got);
	close_and_check(&loop, p);
	/* A new publisher (SIGHUP) still holds it while answers are
	 * suspect, with the time it was first held. */
	got = read_file(dest);
	p = make(&loop, &tc);
	assert_int_equal(publish_full(&loop, p,
	                              "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n"
	                              "10.0.0.5 e\n",
	                              NULL, why, &d),
	                 PUBLISH_UNCHANGED);
	assert_file(dest, got);
	free(got);
	/* A healthy answer confirms the removal. */
	assert_int_equal(publish(&loop, p,
	                         "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n"
	                         "10.0.0.5 e\n",
	                         &d),
	                 PUBLISH_WRITTEN);
	assert_file(dest, "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n10.0.0.5 e\n");
	close_and_check(&loop, p);
}

/* service_drop (off by default) holds the removal of a name's last
 * entry, not that of one instance among others. */
static void test_guard_service_drop(void **state)
{
	struct tmpl_conf tc = guard_conf(60000);
	struct publisher *p;
	uv_loop_t loop;
	struct done d;

	(void)state;
	tc.guard_service_drop = true;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p,
	                         "10.0.0.1 web\n10.0.0.2 web\n10.0.0.3 api\n"
	                         "10.0.0.4 db\n10.0.0.5 db\n",
	                         &d),
	                 PUBLISH_WRITTEN);
	assert_int_equal(publish(&loop, p,
	                         "10.0.0.1 web\n10.0.0.4 db\n10.0.0.5 db\n",
	                         &d),
	                 PUBLISH_WRITTEN);
	assert_false(file_has("10.0.0.2 web")); /* web keeps an entry */
	assert_true(file_has("10.0.0.3 api"));  /* api would have none */
	assert_int_equal(held_marks(), 1);
	/* The mark names the setting as an operator writes it. */
	{
		char *text = read_file(dest);

		assert_non_null(strstr(text, "api would have no entry left "
		                             "(guard { service_drop })"));
		assert_null(strstr(text, "guard_service_drop"));
		free(text);
	}
	close_and_check(&loop, p);
}

static void on_observed(void *data)
{
	(*(int *)data)++;
}

/* publisher_get_stats: every result, the entries and holds of what is
 * published, command runs and failures, the times; the observer fires. */
static void test_stats(void **state)
{
	struct tmpl_conf tc = guard_conf(60000);
	struct publish_stats st;
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	int seen = 0, before;
	int64_t now = (int64_t)time(NULL) * 1000, written;

	(void)state;
	tc.command = (char *)(uintptr_t) "exit 3";
	p = make(&loop, &tc);
	publisher_set_observer(p, on_observed, &seen);
	publisher_get_stats(p, &st);
	assert_int_equal(st.results[PUBLISH_WRITTEN], 0);
	assert_int_equal(st.last_ok_ms, 0);
	assert_int_equal(publish(&loop, p,
	                         "127.0.0.1 localhost\n10.0.0.1 web\n"
	                         "10.0.0.2 web\n10.0.0.3 web\n",
	                         &d),
	                 PUBLISH_WRITTEN);
	assert_false(settle(&loop, p)); /* the command failed */
	publisher_get_stats(p, &st);
	assert_int_equal(st.results[PUBLISH_WRITTEN], 1);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.held, 0);
	/* A failed command is retried after 1 s: a slow machine may have
	 * got there already, and the retry may still run. */
	assert_true(st.command_failures >= 1);
	assert_true(st.command_runs >= st.command_failures);
	assert_true(st.command_runs <= st.command_failures + 1);
	assert_true(st.command_failing);
	assert_false(st.failing);
	assert_false(st.holding);
	assert_true(st.last_write_ms >= now - 1000);
	assert_true(st.last_write_ms <= now + 5000);
	assert_int_equal(st.last_ok_ms, st.last_write_ms);
	assert_true(seen >= 2);
	written = st.last_write_ms;

	before = seen;
	assert_int_equal(publish(&loop, p,
	                         "127.0.0.1 localhost\n10.0.0.1 web\n"
	                         "10.0.0.2 web\n10.0.0.3 web\n",
	                         &d),
	                 PUBLISH_UNCHANGED);
	publisher_get_stats(p, &st);
	assert_int_equal(st.results[PUBLISH_UNCHANGED], 1);
	assert_int_equal(st.last_write_ms, written);
	assert_true(st.last_ok_ms >= written);
	assert_true(seen > before);

	/* Three of four removed at once: held, kept in the file. */
	assert_int_equal(publish(&loop, p, "127.0.0.1 localhost\n", &d),
	                 PUBLISH_WRITTEN);
	publisher_get_stats(p, &st);
	assert_int_equal(st.held, 3);
	assert_int_equal(st.entries, 4);

	/* No entry at all: the render is held whole. */
	assert_int_equal(publish(&loop, p, "# nothing\n", &d), PUBLISH_HELD);
	publisher_get_stats(p, &st);
	assert_true(st.holding);
	assert_int_equal(st.results[PUBLISH_HELD], 1);

	/* A failure, then a success that ends it. */
	assert_int_equal(unlink(dest), 0);
	assert_int_equal(mkdir(dest, 0755), 0);
	assert_int_equal(publish(&loop, p, "10.0.0.9 db\n", &d),
	                 PUBLISH_FAILED);
	publisher_get_stats(p, &st);
	assert_true(st.failing);
	assert_false(st.holding);
	assert_true(st.failing_since_ms >= written);
	assert_int_equal(rmdir(dest), 0);
	assert_int_equal(publish(&loop, p, "10.0.0.9 db\n", &d),
	                 PUBLISH_WRITTEN);
	publisher_get_stats(p, &st);
	assert_false(st.failing);
	assert_int_equal(st.failing_since_ms, 0);
	assert_int_equal(st.results[PUBLISH_FAILED], 1);
	assert_int_equal(st.results[PUBLISH_WRITTEN], 3);
	/* No settle() here: the 60 s hold timer would keep one loop turn
	 * waiting (close_and_check runs the due command). */
	close_and_check(&loop, p);
}

/* Format "text": no hosts grammar and no marks; a hold holds the whole
 * render, and a render without data lines is never published. */
static void test_format_text(void **state)
{
	struct tmpl_conf tc = guard_conf(60000);
	const char *cfg = "global\n  daemon\nbackend web\n"
	                  "  server a 10.0.0.1:80\n  server b 10.0.0.2:80\n"
	                  "  server c 10.0.0.3:80\n";
	struct publisher *p;
	uv_loop_t loop;
	struct done d;

	(void)state;
	tc.format = TMPL_FORMAT_TEXT;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, cfg, &d), PUBLISH_WRITTEN);
	assert_file(dest, cfg);
	/* One server gone: published. */
	assert_int_equal(publish(&loop, p,
	                         "global\n  daemon\nbackend web\n"
	                         "  server a 10.0.0.1:80\n"
	                         "  server b 10.0.0.2:80\n",
	                         &d),
	                 PUBLISH_WRITTEN);
	/* Most lines gone: the whole render is held. */
	assert_int_equal(publish(&loop, p, "global\n", &d), PUBLISH_HELD);
	assert_file(dest, "global\n  daemon\nbackend web\n"
	                  "  server a 10.0.0.1:80\n  server b 10.0.0.2:80\n");
	close_and_check(&loop, p);
}

/* A render the hosts check mostly drops is not a hosts file: refused,
 * never an empty file (an haproxy template without format = "text"). */
static void test_refuse_non_hosts(void **state)
{
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d;

	(void)state;
	write_file(dest, "backend old\n");
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p,
	                         "global\n  daemon\nbackend web\n"
	                         "  server a 10.0.0.1:80\n",
	                         &d),
	                 PUBLISH_FAILED);
	assert_non_null(strstr(d.msg, "not a hosts file"));
	assert_non_null(strstr(d.msg, "format = \"text\""));
	assert_file(dest, "backend old\n");
	/* Half dropped is still published (a typo in one of two lines). */
	assert_int_equal(publish(&loop, p, "10.0.0.1 a\n10.0.0.2 b c!\n", &d),
	                 PUBLISH_WRITTEN);
	close_and_check(&loop, p);
}

/* A symlinked destination (NixOS) stays a link: its target is updated. */
static void test_symlink_destination(void **state)
{
	struct tmpl_conf tc = conf();
	char target[320], target2[320], link[320];
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	struct stat st;

	(void)state;
	snprintf(target, sizeof(target), "%s/real", dir);
	snprintf(link, sizeof(link), "%s", dest);
	write_file(target, HOSTS_A);
	assert_int_equal(symlink("real", link), 0);
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_file(target, HOSTS_B);
	/* The link re-pointed by hand: the same render again goes to the
	 * new target (the file it was settled on is not the one named). */
	snprintf(target2, sizeof(target2), "%s/real2", dir);
	write_file(target2, HOSTS_A);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("real2", link), 0);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	assert_file(target2, HOSTS_B);
	assert_int_equal(unlink(target2), 0);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("real", link), 0);
	close_and_check(&loop, p);
	/* A dangling link: an error naming it, the link left alone. */
	assert_int_equal(unlink(target), 0);
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_FAILED);
	assert_non_null(strstr(d.msg, "symbolic link"));
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	close_and_check(&loop, p);
	unlink(link);
	unlink(target);
}

/* The old file's SELinux label is copied to the new one (as an extended
 * attribute; skipped where the filesystem has none). */
static void test_selinux_label(void **state)
{
	static const char label[] = "system_u:object_r:net_conf_t:s0";
	struct tmpl_conf tc = conf();
	struct publisher *p;
	uv_loop_t loop;
	struct done d;
	char got[128];
	ssize_t n;

	(void)state;
	write_file(dest, HOSTS_A);
	if (setxattr(dest, "security.selinux", label, sizeof(label), 0) < 0) {
		fprintf(stderr, "skipped: no security.* xattrs here: %s\n",
		        strerror(errno));
		skip();
	}
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	n = getxattr(dest, "security.selinux", got, sizeof(got));
	assert_int_equal(n, sizeof(label));
	assert_memory_equal(got, label, sizeof(label));
	close_and_check(&loop, p);
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
	assert_int_equal(publisher_new(&loop, &tc,
	                               &(struct publish_opts){.dry = true}, &p,
	                               NULL),
	                 0);
	assert_int_equal(publish(&loop, p, HOSTS_A "bad line\n", &d),
	                 PUBLISH_WRITTEN);
	assert_true(settle(&loop, p));
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	assert_file(out, HOSTS_A);
	assert_null(read_file(dest)); /* nothing written there */
	close_and_check(&loop, p);
}

/* The diff sink: what the file sink would write (splice and guards
 * applied) against the destination, as a unified diff; nothing written,
 * no command, no temp file touched. */
static void test_diff_sink(void **state)
{
	struct tmpl_conf tc = guard_conf(60000);
	const char *before = "127.0.0.1 localhost\n# BEGIN consul-hosts\n"
	                     "10.0.0.1 web\n10.0.0.2 web\n10.0.0.3 web\n"
	                     "10.0.0.4 api\n# END consul-hosts\n"
	                     "192.168.1.1 router\n";
	struct publisher *p = NULL;
	struct stat st1, st2;
	uv_loop_t loop;
	struct done d;
	char out[320], stale[320], *got;
	int saved, fd;

	(void)state;
	write_file(dest, before);
	assert_int_equal(stat(dest, &st1), 0);
	snprintf(stale, sizeof(stale), "%s/.hosts.consul-hosts.AbC123", dir);
	write_file(stale, "left by a killed process");
	snprintf(out, sizeof(out), "%s/stdout", dir);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	close(fd);
	tc.command = (char *)(uintptr_t) "exit 1"; /* never run */
	tc.managed_block = true;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(publisher_new(&loop, &tc,
	                               &(struct publish_opts){.diff = true}, &p,
	                               NULL),
	                 0);
	/* One address changed: a removal and an addition. */
	assert_int_equal(publish(&loop, p,
	                         "10.0.0.1 web\n10.0.0.2 web\n10.0.0.9 web\n"
	                         "10.0.0.4 api\n",
	                         &d),
	                 PUBLISH_WRITTEN);
	/* The same block: nothing to show. */
	assert_int_equal(publish(&loop, p,
	                         "10.0.0.1 web\n10.0.0.2 web\n10.0.0.3 web\n"
	                         "10.0.0.4 api\n",
	                         &d),
	                 PUBLISH_UNCHANGED);
	/* Three of four gone: held, so the diff shows them kept, marked. */
	assert_int_equal(publish(&loop, p, "10.0.0.4 api\n", &d),
	                 PUBLISH_WRITTEN);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	got = read_file(out);
	assert_non_null(got);
	{
		char head[2200];

		snprintf(head, sizeof(head),
		         "--- %s\n+++ %s (new)\n"
		         "@@ -2,7 +2,7 @@\n"
		         " # BEGIN consul-hosts\n 10.0.0.1 web\n 10.0.0.2 web\n"
		         "-10.0.0.3 web\n+10.0.0.9 web\n 10.0.0.4 api\n"
		         " # END consul-hosts\n 192.168.1.1 router\n"
		         "--- %s\n+++ %s (new)\n",
		         dest, dest, dest, dest);
		assert_int_equal(strncmp(got, head, strlen(head)), 0);
		/* The held entries stay (context), under added marks. */
		assert_non_null(strstr(got, "+# consul-hosts: held since "));
		assert_null(strstr(got + strlen(head), "-10.0.0.3 web\n"));
		assert_null(strstr(got + strlen(head), "-10.0.0.1 web\n"));
		assert_null(strstr(got, "-192.168.1.1 router"));
	}
	free(got);
	/* Nothing written, nothing removed. */
	assert_file(dest, before);
	assert_int_equal(stat(dest, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(access(stale, F_OK), 0);
	assert_int_equal(unlink(stale), 0);
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
	tc.command_max_runs = 1;
	tc.command_window_ms = 60000;
	p = make(&loop, &tc);
	assert_int_equal(publish(&loop, p, HOSTS_A, &d), PUBLISH_WRITTEN);
	while (count_lines(log) < 1)
		run_for(&loop, 2);
	assert_int_equal(publish(&loop, p, HOSTS_B, &d), PUBLISH_WRITTEN);
	run_for(&loop, 100); /* the budget holds the second run back */
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
	struct publish_input in = {.text = text, .len = strlen(text)};

	if (uv_loop_init(&loop) != 0 ||
	    publisher_new(&loop, tc, &(struct publish_opts){0}, &p, NULL) !=
	            0 ||
	    publisher_submit(p, &in, on_done, &d) != 0)
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

/* A file size limit below the render (ulimit -f, LimitFSIZE=): SIGXFSZ
 * ignored as the daemon does, the write fails with EFBIG, and the error
 * names the limit; the old file stays, no temp file is left. */
static int child_file_size_limit(void)
{
	struct tmpl_conf tc = conf();
	struct rlimit rl = {4096, 4096};
	char *big = entries(1, 1000), msg[600];
	int r;

	write_file(dest, HOSTS_A);
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return CHILD_SKIP;
	r = child_publish(&tc, big, msg, sizeof(msg));
	free(big);
	CHECK(r == PUBLISH_FAILED);
	fprintf(stderr, "file size limit: %s\n", msg);
	CHECK(strstr(msg, "file size limit") != NULL);
	CHECK(child_file_is(dest, HOSTS_A));
	CHECK(stray_files() == 0);
	return 0;
}

static void test_file_size_limit(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_file_size_limit());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == CHILD_SKIP)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
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
	/* What is left is a dot-file dnsmasq's --hostsdir ignores... */
	assert_int_equal(stray_files(), 1);
	/* ... and the next publisher removes it. */
	tc.check_command = NULL;
	assert_int_equal(child_publish(&tc, HOSTS_B, msg, sizeof(msg)),
	                 PUBLISH_WRITTEN);
	assert_int_equal(stray_files(), 0);
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

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_new_then_unchanged),
	        T(test_same_render_fast_path),
	        T(test_mode_owner_perms_backup),
	        T(test_create_dirs_and_bad_destinations),
	        T(test_managed_block),
	        T(test_managed_block_concurrent_edit),
	        T(test_check_command),
	        T(test_command_failure_rollback),
	        T(test_command_could_not_signal),
	        T(test_rollback_block_only),
	        T(test_command_failure_retried),
	        T(test_command_hang_does_not_delay),
	        T(test_command_timeout),
	        T(test_command_budget),
	        T(test_coalescing),
	        T(test_guard_old_file_read_again),
	        T(test_guard_ordinary_changes),
	        T(test_guard_mass_removal),
	        T(test_guard_no_starvation),
	        T(test_guard_no_entries),
	        T(test_guard_suspect),
	        T(test_guard_service_drop),
	        T(test_stats),
	        T(test_format_text),
	        T(test_refuse_non_hosts),
	        T(test_symlink_destination),
	        T(test_selinux_label),
	        T(test_dry_sink),
	        T(test_diff_sink),
	        T(test_close_runs_deferred_command),
	        T(test_readonly_dir),
	        T(test_full_disk),
	        T(test_file_size_limit),
	        T(test_mount_point),
	        T(test_killed_between_stage_and_swap),
	        T(test_reader_sees_whole_files),
	};

	signal(SIGPIPE, SIG_IGN);
	log_init(getenv("CH_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
