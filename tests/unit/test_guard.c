/*
 * The guards (guard.h) as a pure function: what a render publishes now,
 * what it holds, how held entries age and are confirmed, the held marks in
 * the file, the removal window, and the whole-text guard.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hosts/guard.h"
#include "hosts/hosts.h"
#include "base/xmalloc.h"

#define T0 1765000000000ll /* a wall-clock time, ms */

struct docs {
	struct hosts_doc old, new;
	struct guard_result res;
	struct guard_conf gc;
	struct guard_window win;
};

static int setup(void **state)
{
	struct docs *d = xcalloc(1, sizeof(*d));

	hosts_doc_init(&d->old, 0);
	hosts_doc_init(&d->new, 0);
	guard_result_init(&d->res);
	guard_window_init(&d->win);
	d->gc.enabled = true;
	d->gc.shrink = 0.5;
	d->gc.hold_ms = 60000;
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct docs *d = *state;

	hosts_doc_free(&d->old);
	hosts_doc_free(&d->new);
	guard_result_free(&d->res);
	guard_window_free(&d->win);
	free(d);
	return 0;
}

/* Lines up to the first "@" line are static, the rest came from data. */
static void load_new(struct docs *d, const char *text)
{
	const char *at = strstr(text, "@\n");
	size_t split = at != NULL ? (size_t)(at - text) : 0;

	assert_int_equal(
	        hosts_doc_check(&d->new, text, strlen(text), false, NULL), 0);
	for (size_t i = 0; i < d->new.nlines; i++)
		d->new.lines[i].dynamic = d->new.lines[i].src >= split;
}

static void load_old(struct docs *d, const char *text)
{
	assert_int_equal(
	        hosts_doc_check(&d->old, text, strlen(text), true, NULL), 0);
}

static void decide(struct docs *d, const char *old, const char *new,
                   const char *suspect, int64_t now)
{
	load_old(d, old);
	load_new(d, new);
	guard_decide(&d->gc, &d->win, &d->old, &d->new, suspect, now, &d->res);
}

/* The published block: new's text and the held section. */
static char *published(struct docs *d)
{
	struct buf b;

	buf_init(&b, 0);
	buf_append(&b, d->new.text.data != NULL ? d->new.text.data : "",
	           d->new.text.len);
	assert_int_equal(guard_append_held(&d->res, &b), 0);
	return buf_take(&b, NULL);
}

#define A4 "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n10.0.0.4 d\n"

static void test_ordinary_changes(void **state)
{
	struct docs *d = *state;
	char *out;

	/* One of four removed, one added: published as is. */
	decide(d, A4, "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n10.0.0.5 e\n", NULL,
	       T0);
	assert_false(d->res.hold_all);
	assert_int_equal(d->res.nheld, 0);
	assert_int_equal(d->res.old_entries, 4);
	assert_int_equal(d->res.new_entries, 4);
	assert_int_equal(d->res.removed, 1);
	assert_int_equal(d->res.added, 1);
	out = published(d);
	assert_string_equal(out,
	                    "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n10.0.0.5 e\n");
	free(out);
	/* An address change is a removal and an addition. */
	decide(d, "10.0.0.1 a\n10.0.0.9 db\n", "10.0.0.1 a\n192.0.2.9 db\n",
	       NULL, T0 + 6000);
	assert_int_equal(d->res.nheld, 0);
	assert_int_equal(d->res.removed, 1);
	assert_int_equal(d->res.added, 1);
}

/* A render without a single Consul entry: hold_all, static lines or not,
 * first publish or not, whatever the time. */
static void test_no_entries(void **state)
{
	struct docs *d = *state;

	decide(d, "", "127.0.0.1 localhost\n@\n", NULL, T0);
	assert_true(d->res.hold_all);
	assert_non_null(strstr(buf_str(&d->res.why), "no entry"));
	decide(d, A4, "127.0.0.1 localhost\n@\n", NULL, T0 + 3600000);
	assert_true(d->res.hold_all);
	d->gc.enabled = false;
	decide(d, A4, "127.0.0.1 localhost\n@\n", NULL, T0);
	assert_false(d->res.hold_all);
}

/* More than half removed: held and marked; static lines never count. */
static void test_mass_removal(void **state)
{
	struct docs *d = *state;
	const char *stat = "127.0.0.1 localhost\n::1 ip6-localhost\n@\n";
	char *old, *new, *out;

	old = xasprintf("%s%s", stat, A4);
	new = xasprintf("%s10.0.0.1 a\n", stat);
	decide(d, old, new, NULL, T0);
	assert_int_equal(d->res.old_entries, 4);
	assert_int_equal(d->res.removed, 3);
	assert_int_equal(d->res.nheld, 3);
	assert_int_equal(d->res.newly_held, 3);
	assert_int_equal(d->res.next_expiry_ms, T0 + 60000);
	out = published(d);
	assert_string_equal(
	        out, "127.0.0.1 localhost\n::1 ip6-localhost\n10.0.0.1 a\n"
	             "# consul-hosts: held since 2025-12-06T05:46:40.000Z: the "
	             "render removes 3 of the 4 Consul entries (more than 50%: "
	             "guard { shrink })\n10.0.0.2 b\n"
	             "# consul-hosts: held since 2025-12-06T05:46:40.000Z: the "
	             "render removes 3 of the 4 Consul entries (more than 50%: "
	             "guard { shrink })\n10.0.0.3 c\n"
	             "# consul-hosts: held since 2025-12-06T05:46:40.000Z: the "
	             "render removes 3 of the 4 Consul entries (more than 50%: "
	             "guard { shrink })\n10.0.0.4 d\n");
	/* The next render reads the marks back: still held, since T0, and
	 * confirmed once hold_ms has passed since then, not since now. */
	decide(d, out, new, NULL, T0 + 30000);
	assert_int_equal(d->res.nheld, 3);
	assert_int_equal(d->res.newly_held, 0);
	assert_int_equal(d->res.held[0].since_ms, T0);
	free(out);
	out = published(d);
	decide(d, out, new, NULL, T0 + 60000);
	assert_int_equal(d->res.nheld, 0);
	assert_int_equal(d->res.confirmed, 3);
	free(out);
	out = published(d);
	assert_string_equal(out, "127.0.0.1 localhost\n::1 ip6-localhost\n"
	                         "10.0.0.1 a\n");
	free(out);
	/* Exactly half is not more than half. */
	d->win.start_ms = 0;
	decide(d, A4, "10.0.0.1 a\n10.0.0.2 b\n", NULL, T0);
	assert_int_equal(d->res.nheld, 0);
	free(old);
	free(new);
}

/* One event answered in parts: the window weighs them together, and the
 * largest entry count seen in it is the base. */
static void test_window(void **state)
{
	struct docs *d = *state;

	decide(d, "", A4, NULL, T0); /* first publish: nothing there */
	decide(d, A4, "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n", NULL, T0 + 10);
	assert_int_equal(d->res.nheld, 0);
	decide(d, "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n",
	       "10.0.0.1 a\n10.0.0.2 b\n", NULL, T0 + 20);
	assert_int_equal(d->res.nheld, 0); /* 2 of 4 */
	decide(d, "10.0.0.1 a\n10.0.0.2 b\n", "10.0.0.1 a\n", NULL, T0 + 30);
	/* 3 of 4 within the window: b now, and d and c, which the first
	 * parts let out, back in the file, held. */
	assert_int_equal(d->res.nheld, 3);
	assert_non_null(strstr(buf_str(&d->res.why), "within 5 s"));
	/* After the window, the same removal alone is half: published. */
	d->win.start_ms = 0;
	decide(d, "10.0.0.1 a\n10.0.0.2 b\n", "10.0.0.1 a\n", NULL,
	       T0 + GUARD_WINDOW_MS + 100);
	assert_int_equal(d->res.nheld, 0);
}

/* One event in parts: the part published before the window saw the
 * mass disappearance is put back, held, with the rest. */
static void test_window_restores(void **state)
{
	struct docs *d = *state;
	const char *all = "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n10.0.0.4 d\n"
	                  "10.0.0.5 e\n10.0.0.6 f\n";
	const char *part = "10.0.0.1 a\n10.0.0.3 c\n10.0.0.4 d\n10.0.0.5 e\n"
	                   "10.0.0.6 f\n";
	char *out;

	decide(d, "", all, NULL, T0);
	decide(d, all, part, NULL, T0 + 5); /* 1 of 6: published */
	assert_int_equal(d->res.nheld, 0);
	decide(d, part, "10.0.0.1 a\n10.0.0.6 f\n", NULL, T0 + 10);
	/* 4 of 6 removed within the window: the 3 now, and b again. */
	assert_int_equal(d->res.nheld, 4);
	assert_int_equal(d->res.newly_held, 4);
	out = published(d);
	assert_string_equal(
	        out,
	        "10.0.0.1 a\n10.0.0.6 f\n"
	        "# consul-hosts: held since 2025-12-06T05:46:40.010Z: 4 of "
	        "the 6 Consul entries are removed within 5 s (more than "
	        "50%: guard { shrink })\n10.0.0.3 c\n"
	        "# consul-hosts: held since 2025-12-06T05:46:40.010Z: 4 of "
	        "the 6 Consul entries are removed within 5 s (more than "
	        "50%: guard { shrink })\n10.0.0.4 d\n"
	        "# consul-hosts: held since 2025-12-06T05:46:40.010Z: 4 of "
	        "the 6 Consul entries are removed within 5 s (more than "
	        "50%: guard { shrink })\n10.0.0.5 e\n"
	        "# consul-hosts: held since 2025-12-06T05:46:40.010Z: 4 of "
	        "the 6 Consul entries are removed within 5 s (more than "
	        "50%: guard { shrink })\n10.0.0.2 b\n");
	/* Read back: all four held from their marks. */
	decide(d, out, "10.0.0.1 a\n10.0.0.6 f\n", NULL, T0 + 20);
	assert_int_equal(d->res.nheld, 4);
	assert_int_equal(d->res.newly_held, 0);
	free(out);
}

/* A suspect answer holds its removals and lets additions through; a
 * healthy render that still lacks the entry confirms the removal. */
static void test_suspect(void **state)
{
	struct docs *d = *state;
	char *out;

	decide(d, A4, "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n10.0.0.5 e\n",
	       "no known leader (catalog.nodes)", T0);
	assert_int_equal(d->res.nheld, 1);
	assert_int_equal(d->res.added, 1);
	out = published(d);
	assert_non_null(strstr(out, "\n10.0.0.5 e\n"));
	assert_non_null(strstr(out, "a Consul answer is suspect: no known "
	                            "leader (catalog.nodes)\n10.0.0.4 d\n"));
	/* Still suspect: still held, with its first reason and time. */
	decide(d, out, "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n10.0.0.5 e\n",
	       "the index went backwards", T0 + 1000);
	assert_int_equal(d->res.nheld, 1);
	assert_int_equal(d->res.held[0].since_ms, T0);
	assert_non_null(strstr(d->res.reasons.data, "no known leader"));
	/* Healthy: confirmed. */
	decide(d, out, "10.0.0.1 a\n10.0.0.2 b\n10.0.0.3 c\n10.0.0.5 e\n", NULL,
	       T0 + 2000);
	assert_int_equal(d->res.nheld, 0);
	assert_int_equal(d->res.confirmed, 1);
	/* The entry comes back while held: simply there again. */
	decide(d, out, A4 "10.0.0.5 e\n", "x", T0 + 3000);
	assert_int_equal(d->res.nheld, 0);
	assert_int_equal(d->res.removed, 0);
	free(out);
}

static void test_service_drop(void **state)
{
	struct docs *d = *state;

	d->gc.service_drop = true;
	decide(d, "10.0.0.1 web\n10.0.0.2 web\n10.0.0.3 api\n10.0.0.4 db\n",
	       "10.0.0.1 web\n10.0.0.4 db\n", NULL, T0);
	assert_int_equal(d->res.removed, 2);
	assert_int_equal(d->res.nheld, 1);
	assert_int_equal(d->res.held[0].len, strlen("10.0.0.3 api"));
	assert_memory_equal(d->res.lines.data + d->res.held[0].text,
	                    "10.0.0.3 api", d->res.held[0].len);
	assert_non_null(strstr(d->res.reasons.data, "api would have no entry"));
	/* why says it too (the publisher logs why): it once was empty when
	 * service_drop alone held. */
	assert_string_equal(buf_str(&d->res.why),
	                    "api would have no entry left (guard { "
	                    "service_drop })");
}

/* Marks that do not parse are plain comments; a time in the future (the
 * clock went back) counts from now. hold 0 confirms at once. */
static void test_marks_and_clock(void **state)
{
	struct docs *d = *state;
	const char *old =
	        "10.0.0.1 a\n"
	        "# consul-hosts: held since 2025-13-06T05:46:40.000Z: x\n"
	        "10.0.0.2 b\n"
	        "# consul-hosts: held since 2099-01-01T00:00:00.000Z: y\n"
	        "10.0.0.3 c\n";

	decide(d, old, "10.0.0.1 a\n", "suspect", T0);
	assert_int_equal(d->res.nheld, 2);
	assert_int_equal(d->res.newly_held, 1); /* b: its mark was bad */
	assert_int_equal(d->res.held[1].since_ms, T0);
	d->gc.hold_ms = 0;
	decide(d, old, "10.0.0.1 a\n", "suspect", T0);
	assert_int_equal(d->res.nheld, 0);
}

/* format "text": by line, a hold holds everything. */
static void test_text(void **state)
{
	struct docs *d = *state;
	const char *old = "global\n  server a 1\n  server b 2\n  server c 3\n";
	int64_t since;

	assert_int_equal(hosts_doc_lines(&d->old, old, strlen(old)), 0);
	assert_int_equal(hosts_doc_lines(&d->new, "global\n", 7), 0);
	for (size_t i = 0; i < d->new.nlines; i++)
		d->new.lines[i].dynamic = true;
	assert_true(guard_text(&d->gc, &d->old, &d->new, NULL, T0, 0, &since,
	                       &d->res));
	assert_int_equal(since, T0);
	/* The same hold, later: confirmed after hold_ms from its start. */
	assert_true(guard_text(&d->gc, &d->old, &d->new, NULL, T0 + 59000, T0,
	                       &since, &d->res));
	assert_false(guard_text(&d->gc, &d->old, &d->new, NULL, T0 + 60000, T0,
	                        &since, &d->res));
	/* No data line at all: held for good. */
	d->new.lines[0].dynamic = false;
	assert_true(guard_text(&d->gc, &d->old, &d->new, NULL, T0 + 99999999,
	                       T0, &since, &d->res));
	assert_true(d->res.hold_all);
	/* Suspect with removals: held; suspect without: published. */
	assert_int_equal(hosts_doc_lines(&d->new, old, strlen(old)), 0);
	for (size_t i = 0; i < d->new.nlines; i++)
		d->new.lines[i].dynamic = true;
	assert_false(guard_text(&d->gc, &d->old, &d->new, "s", T0, 0, &since,
	                        &d->res));
}

int main(void)
{
#define G(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	        G(test_ordinary_changes),
	        G(test_no_entries),
	        G(test_mass_removal),
	        G(test_window),
	        G(test_window_restores),
	        G(test_suspect),
	        G(test_service_drop),
	        G(test_marks_and_clock),
	        G(test_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
