"""What an operator sees of the daemon, end to end.

- the metrics textfile (metrics { textfile }, -metrics-textfile): written
  atomically after changes, accepted by a strict reader of the text format
  (promtext.py) and by `promtool check metrics` where promtool is installed
  (in CI it must be: packaging/install-deps.sh installs it), with the values
  an operator alerts on: Consul's reachability, requests and errors per
  endpoint, publishes by result, entries, held removals, commands,
  durations;
- STATUS= under systemd's notify socket: Consul's state, the last write and
  its age, failing publishes;
- -once -dry -diff: a unified diff of the destination against what a
  publish would write, exit codes as diff(1)'s, nothing written or run.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

from harness import (APP_SEED, DaemonCase, FileReader, NotifySocket, SLOW,
                     app_lines, count_lines, hcl_string, read_or_none,
                     run_checked, wait_for)
import promtext

SEED_NODES = [("192.0.2.11", "foo-app01"), ("192.0.2.12", "foo-app02"),
              ("192.0.2.13", "foo-app03")]
HEALTH = "/v1/health/service/foo-app"


def add_app(sim, node, addr):
    sim.register_node(node, addr)
    sim.register_service(node, "foo-app", "foo-app-" + node, port=80,
                         status="passing")


def promtool():
    """promtool's path; in CI (CI=true) it must exist, so the check cannot
    silently pass without it."""
    path = shutil.which("promtool")
    if path is None and os.environ.get("CI") == "true":
        raise AssertionError("promtool not found in CI: "
                             "packaging/install-deps.sh installs it")
    return path


class PromText(unittest.TestCase):
    """The reader itself rejects what promtool rejects."""

    def test_rejects(self):
        bad = [
            "x 1",                                          # no newline
            "# TYPE x_total counter\nx_total -1\n",        # negative counter
            "# TYPE x counter\nx 1\n",                     # no _total
            "a 1\nb 1\na{l=\"2\"} 1\n",                    # interleaved
            "a{l=\"1\"} 1\na{l=\"1\"} 2\n",                # repeated series
            "a{l=\"\\t\"} 1\n",                            # bad escape
            "a{l=1} 1\n",                                  # unquoted
            "a one\n",                                     # bad value
            "# TYPE a gauge\n# TYPE a gauge\na 1\n",       # TYPE twice
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
            "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",  # not cumulative
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        ]
        for text in bad:
            with self.assertRaises(ValueError, msg=text):
                promtext.parse(text)
        ok = ("# HELP a_total A.\n# TYPE a_total counter\n"
              "a_total{e=\"x\\\"y\\\\z\\n\"} 3\n"
              "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\n"
              "h_bucket{le=\"+Inf\"} 2\nh_sum 1.5\nh_count 2\n")
        fams = promtext.parse(ok)
        self.assertEqual(promtext.value(fams, "a_total", e="x\"y\\z\n"), 3)
        self.assertEqual(promtext.value(fams, "h_count"), 2)


class Metrics(DaemonCase):
    def setUp(self):
        super().setUp()
        self.prom = self.tmp.join("consul_hosts.prom")

    def metrics_config(self, **kw):
        return self.config(extra="metrics {\n  textfile = %s\n}\n"
                           % hcl_string(self.prom), **kw)

    def read_metrics(self):
        text = read_or_none(self.prom)
        return text, (promtext.parse(text) if text is not None else None)

    def wait_metric(self, pred, what, timeout=15):
        """Wait until the file parses and pred(families) holds."""
        def check():
            text, fams = self.read_metrics()
            return fams is not None and pred(fams) and (text, fams)
        return wait_for(check, timeout, what)

    def check_promtool(self, text):
        tool = promtool()
        if tool is None:
            return
        r = subprocess.run([tool, "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + text)

    def test_textfile_follows_the_daemon(self):
        t0 = time.time()
        reader = FileReader(self.prom)
        self.addCleanup(reader.stop)
        d = self.daemon(cfg=self.metrics_config())
        self.wait_file(APP_SEED)
        dest = self.dest
        text, fams = self.wait_metric(
            lambda f: promtext.value(f, "consul_hosts_publishes_total",
                                     destination=dest,
                                     result="written") == 1,
            "the first write in the metrics")
        self.check_promtool(text)
        v = lambda name, **l: promtext.value(fams, name, **l)  # noqa: E731
        self.assertEqual(v("consul_hosts_consul_up"), 1)
        self.assertEqual(
            v("consul_hosts_consul_unreachable_since_timestamp_seconds"), 0)
        self.assertGreaterEqual(v("consul_hosts_consul_requests_total",
                                  endpoint="/v1/health/service"), 1)
        self.assertEqual(v("consul_hosts_consul_errors_total",
                           endpoint="/v1/health/service"), 0)
        self.assertEqual(v("consul_hosts_entries", destination=dest), 3)
        self.assertEqual(v("consul_hosts_held_entries", destination=dest), 0)
        self.assertEqual(v("consul_hosts_publish_failing",
                           destination=dest), 0)
        last = v("consul_hosts_last_write_timestamp_seconds",
                 destination=dest)
        self.assertGreaterEqual(last, t0 - 1)
        self.assertLessEqual(last, time.time() + 1)
        self.assertGreaterEqual(v("consul_hosts_start_time_seconds"), t0 - 1)
        self.assertGreaterEqual(
            v("consul_hosts_render_duration_seconds_count",
              destination=dest), 1)
        self.assertEqual(fams["consul_hosts_render_duration_seconds"]["type"],
                         "histogram")
        self.assertEqual(v("consul_hosts_build_info",
                           version=self.version()), 1)
        # The file sits in its directory alone: no temp file left.
        self.assertEqual(sorted(f for f in os.listdir(self.tmp.path)
                                if "prom" in f), ["consul_hosts.prom"])

        # A change: the file follows, with the change-to-file latency.
        wait_for(lambda: count_lines(self.counter) == 1, 10, "command run")
        self.await_blocked(HEALTH, min_index=1)
        add_app(self.sim, "foo-app04", "192.0.2.14")
        self.wait_file(app_lines(*SEED_NODES, ("192.0.2.14", "foo-app04")))
        text, fams = self.wait_metric(
            lambda f: promtext.value(
                f, "consul_hosts_change_to_file_seconds_count",
                destination=dest) == 1 and promtext.value(
                f, "consul_hosts_command_runs_total", destination=dest) == 2,
            "the second write and its command in the metrics")
        self.check_promtool(text)
        self.assertEqual(v and promtext.value(
            fams, "consul_hosts_entries", destination=dest), 4)
        self.assertEqual(promtext.value(
            fams, "consul_hosts_publishes_total", destination=dest,
            result="written"), 2)
        self.assertEqual(promtext.value(
            fams, "consul_hosts_command_failures_total", destination=dest), 0)
        self.assertLess(promtext.value(
            fams, "consul_hosts_change_to_file_seconds_sum",
            destination=dest), 5)
        # Every version a reader saw was whole.
        for seen in reader.stop():
            if seen is not None:
                promtext.parse(seen)
        self.assertEqual(d.count("metrics:"), 0, d.log())

    def version(self):
        r = run_checked(["-v"])
        return r.stdout.split()[1]

    def test_outage_and_recovery(self):
        self.daemon(cfg=self.metrics_config())
        self.wait_file(APP_SEED)
        self.wait_metric(lambda f: promtext.value(
            f, "consul_hosts_consul_up") == 1, "Consul up")
        t0 = time.time()
        self.sim.stop()
        text, fams = self.wait_metric(
            lambda f: promtext.value(f, "consul_hosts_consul_up") == 0,
            "Consul down in the metrics")
        self.check_promtool(text)
        since = promtext.value(
            fams, "consul_hosts_consul_unreachable_since_timestamp_seconds")
        self.assertGreaterEqual(since, t0 - 1)
        errors = sum(v for n, l, v in
                     fams["consul_hosts_consul_errors_total"]["samples"])
        self.assertGreaterEqual(errors, 1)
        # The file keeps its entries meanwhile.
        self.assertEqual(promtext.value(fams, "consul_hosts_entries",
                                        destination=self.dest), 3)
        self.sim.start()
        # A parked blocking query says Consul is back when it answers:
        # a change makes it answer now.
        add_app(self.sim, "foo-app04", "192.0.2.14")
        self.wait_metric(lambda f: promtext.value(
            f, "consul_hosts_consul_up") == 1, "Consul up again")

    def test_once_writes_the_textfile_at_exit(self):
        r = run_checked(["-config", self.metrics_config(), "-once"])
        self.assertEqual(r.returncode, 0, r.stderr)
        text, fams = self.read_metrics()
        self.assertIsNotNone(text, r.stderr)
        self.check_promtool(text)
        self.assertEqual(promtext.value(
            fams, "consul_hosts_publishes_total", destination=self.dest,
            result="written"), 1)
        self.assertEqual(promtext.value(
            fams, "consul_hosts_command_runs_total", destination=self.dest),
            1)

    def test_flag_and_bad_paths(self):
        r = run_checked(["-config", self.config(), "-once",
                         "-metrics-textfile", self.prom])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIsNotNone(read_or_none(self.prom))
        for bad, why in (("relative.prom", "absolute path"),
                         (self.tmp.join("metrics.txt"), "does not end in")):
            r = run_checked(["-config", self.config(), "-once",
                             "-metrics-textfile", bad])
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(why, r.stderr)

    def test_unwritable_directory_is_logged_once(self):
        prom = self.tmp.join("no-such-dir", "x.prom")
        d = self.daemon("-metrics-textfile", prom)
        self.wait_file(APP_SEED)
        d.wait_log("metrics: ")
        self.await_blocked(HEALTH, min_index=1)
        add_app(self.sim, "foo-app04", "192.0.2.14")
        self.wait_file(app_lines(*SEED_NODES, ("192.0.2.14", "foo-app04")))
        wait_for(lambda: count_lines(self.counter) == 2, 10, "second run")
        self.assertEqual(d.count("metrics: "), 1, d.log())
        self.assertIsNone(d.proc.poll())


class Status(DaemonCase):
    def setUp(self):
        super().setUp()
        self.ns = NotifySocket(self.tmp.join("notify"), self.dest)
        self.addCleanup(self.ns.close)
        self.env = {"NOTIFY_SOCKET": self.ns.path}

    def status(self, needle, start=0):
        i = self.ns.wait("STATUS=" + needle if needle.startswith("Consul")
                         else needle, start=start)
        text = self.ns.msgs[i][0]
        self.assertLessEqual(len(text), 220)
        return i, text

    def test_status_says_what_an_operator_needs(self):
        self.daemon(env=self.env)
        i = self.ns.wait("READY=1")
        ready = self.ns.msgs[i][0]
        self.assertIn("STATUS=Consul reachable; last write ", ready)
        self.assertRegex(ready, r"last write \d\d:\d\d:\d\d \(\d+s ago\)")

        # An outage: when it began, and for how long.
        self.sim.stop()
        j, text = self.status("Consul unreachable since ", start=i + 1)
        self.assertRegex(text, r"Consul unreachable since \d\d:\d\d:\d\d "
                               r"\(\d+s\); last write ")
        self.sim.start()
        # A parked blocking query says Consul is back when it answers.
        add_app(self.sim, "foo-app04", "192.0.2.14")
        k, text = self.status("Consul reachable", start=j + 1)
        self.wait_file(app_lines(*SEED_NODES, ("192.0.2.14", "foo-app04")))

        # A failing publish: the destination replaced by a directory.
        os.unlink(self.dest)
        os.mkdir(self.dest)
        self.await_blocked(HEALTH, min_index=1)
        add_app(self.sim, "foo-app05", "192.0.2.15")
        m, text = self.status("failing since", start=k + 1)
        self.assertIn("publishing %s failing since " % self.dest, text)
        os.rmdir(self.dest)
        self.wait_file(app_lines(*SEED_NODES, ("192.0.2.14", "foo-app04"),
                                 ("192.0.2.15", "foo-app05")))
        # The failure is over: a later STATUS= says so (one sent between
        # the failure and the write may still name it).
        wait_for(lambda: any("STATUS=Consul reachable; last write" in t
                             and "failing" not in t
                             for t in self.ns.texts()[m + 1:]),
                 15, "a STATUS= without the failure")

    def test_status_counts_held_removals(self):
        cfg = self.config(guards=True)
        self.daemon(cfg=cfg, env=self.env)
        i = self.ns.wait("READY=1")
        self.await_blocked(HEALTH, min_index=1)
        # Two of three instances gone at once: a mass removal, held.
        for node in ("foo-app02", "foo-app03"):
            self.sim.deregister_node(node)
        _, text = self.status("2 removals held", start=i + 1)
        self.assertIn("Consul reachable", text)


class Diff(DaemonCase):
    def diff(self, *extra, cfg=None):
        return run_checked(["-config", cfg or self.config(), "-once", "-dry",
                            "-diff"] + list(extra))

    def test_no_destination_yet(self):
        r = self.diff()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout,
                         "--- /dev/null\n+++ %s (new)\n@@ -0,0 +1,3 @@\n%s"
                         % (self.dest, "".join(
                             "+" + l + "\n"
                             for l in APP_SEED.splitlines())))
        self.assertIsNone(read_or_none(self.dest))
        self.assertEqual(count_lines(self.counter), 0)

    def test_identical_is_exit_0_and_silent(self):
        with open(self.dest, "w") as f:
            f.write(APP_SEED)
        st = os.stat(self.dest)
        r = self.diff()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")
        st2 = os.stat(self.dest)
        self.assertEqual((st.st_ino, st.st_mtime_ns),
                         (st2.st_ino, st2.st_mtime_ns))
        self.assertEqual(count_lines(self.counter), 0)

    def test_diff_is_what_the_publish_then_writes(self):
        # A managed block among an operator's lines, one backend changed.
        old = ("127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
               "# BEGIN consul-hosts\n192.0.2.11 foo-app01.app\n"
               "192.0.2.99 foo-app02.app\n192.0.2.13 foo-app03.app\n"
               "# END consul-hosts\n10.1.1.1 printer\n10.1.1.2 nas\n"
               "10.1.1.3 tv\n10.1.1.4 fridge\n")
        with open(self.dest, "w") as f:
            f.write(old)
        cfg = self.config(tmpl_extra="  managed_block = true\n")
        r = self.diff(cfg=cfg)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(
            r.stdout,
            "--- %s\n+++ %s (new)\n@@ -2,7 +2,7 @@\n"
            " ::1 localhost ip6-localhost\n # BEGIN consul-hosts\n"
            " 192.0.2.11 foo-app01.app\n-192.0.2.99 foo-app02.app\n"
            "+192.0.2.12 foo-app02.app\n 192.0.2.13 foo-app03.app\n"
            " # END consul-hosts\n 10.1.1.1 printer\n"
            % (self.dest, self.dest))
        self.assertEqual(read_or_none(self.dest), old)
        # GNU patch or not, the hunk applied to the old file is the new.
        patched = apply_unified(old, r.stdout)
        r2 = run_checked(["-config", cfg, "-once"])
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertEqual(read_or_none(self.dest), patched)
        self.assertEqual(count_lines(self.counter), 1)

    def test_trouble_is_exit_2(self):
        # A template that fails when it runs: -once exits 1, -diff 2.
        with open(self.tmpl, "w") as f:
            f.write('{{ with index (service "foo-app") 7 }}{{ end }}')
        r = run_checked(["-config", self.config(), "-once"])
        self.assertEqual(r.returncode, 1, r.stderr)
        r = run_checked(["-config", self.config(), "-once", "-diff"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stdout, "")

    def test_needs_a_destination(self):
        r = run_checked(["-template", self.tmpl, "-consul-addr",
                         self.sim.address, "-once", "-diff"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("-diff: ", r.stderr)
        self.assertIn("no destination to compare", r.stderr)


def apply_unified(old, diff):
    """Apply a one-file unified diff to old (the hunks in order)."""
    lines = old.splitlines(True)
    out, pos = [], 0
    body = diff.splitlines(True)[2:]
    i = 0
    while i < len(body):
        head = body[i]
        assert head.startswith("@@ -"), head
        start = int(head[4:].split(",")[0].split(" ")[0])
        count0 = head[4:].split(" ")[0]
        if count0.endswith(",0"):
            start += 1
        out.extend(lines[pos:start - 1])
        pos = start - 1
        i += 1
        while i < len(body) and not body[i].startswith("@@"):
            tag, text = body[i][0], body[i][1:]
            if tag in " +":
                out.append(text)
            if tag in " -":
                pos += 1
            i += 1
    out.extend(lines[pos:])
    return "".join(out)


if __name__ == "__main__":
    unittest.main()
