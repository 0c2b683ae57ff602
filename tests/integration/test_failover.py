"""Failover first: Consul changes reach the file and a real dnsmasq at once;
only anomalies are held.

The setup is the one the operators who motivated the project ran, unchanged:
the consul-template config (`consul = ...`, one template with a command
that reloads dnsmasq) and their classic hosts template
(tests/sim/seed-hosts.ctmpl), over the seed catalog (foo-app01..03,
foo-db-master/foo-db-slave). dnsmasq (Debian's dnsmasq-base) serves the
destination with --addn-hosts on a loopback port; the command is a SIGHUP
or, separately, a restart (kill; a supervisor starts a new dnsmasq, as
systemd's Restart=always would).

The scenarios: a stopped app node; a database failover as the hooks do it
(deregister the master, register it at a new address, over the HTTP API);
and the anomalies: a render that removes most entries, a restore that
empties the catalog, an answer with an index gone backwards, a removal
during continuous churn, a hung command. "At once" is asserted with
time_bound(1.0): one second, scaled only for valgrind, sanitizers and load.
"""

import json
import os
import signal
import time
import unittest
import urllib.request

import dnsq
from harness import (SRC, Daemon, TempDir, hcl_string, read_or_none,
                     start_sim, time_bound, wait_for)

SEED_TMPL = os.path.join(SRC, "tests", "sim", "seed-hosts.ctmpl")
APP = "foo-app.service.dc1.consul"
MARK = "# consul-hosts: held since "


def put(sim, path, doc):
    """What the failover hooks do: curl -X PUT -d '{...}' localhost:8500..."""
    req = urllib.request.Request(sim.url + path, method="PUT",
                                 data=json.dumps(doc).encode())
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def held(text):
    """The entry lines held back under a held mark."""
    lines = (text or "").split("\n")
    return [lines[i + 1] for i, l in enumerate(lines[:-1])
            if l.startswith(MARK)]


class Failover(unittest.TestCase):
    sim_kw = {}

    def setUp(self):
        self.tmp = TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.sim = start_sim(**self.sim_kw)
        self.addCleanup(self.sim.stop)
        self.dest = self.tmp.join("hosts")
        self.dnsmasq = None
        self.daemon = None

    def tearDown(self):
        if self.daemon is not None:
            self.assertEqual(self.daemon.stop(), 0, self.daemon.log())
            self.daemon.reader.join(10)
            self.daemon.proc.stdout.close()
            self.daemon.proc.stderr.close()
        if self.dnsmasq is not None:
            self.dnsmasq.stop()

    # -- helpers ---------------------------------------------------------
    def need_dnsmasq(self):
        missing = dnsq.dnsmasq_missing()
        if missing:
            self.skipTest(missing)

    def start_dnsmasq(self):
        self.need_dnsmasq()
        self.dnsmasq = dnsq.Dnsmasq(self.tmp.path,
                                    ["--addn-hosts=" + self.dest]).start()
        return self.dnsmasq

    def restart_command(self):
        """`service dnsmasq restart` for the supervised test dnsmasq."""
        fifo = self.tmp.join("restarted.fifo")
        os.mkfifo(fifo)
        self.dnsmasq.supervise(notify_fifo=fifo)
        script = self.tmp.write("restart-dnsmasq.sh", """#!/bin/sh
exec 3<>'%s'
kill -TERM "$(cat '%s')" || exit 1
read -r started <&3
""" % (fifo, self.dnsmasq.pid_file))
        return "sh " + script

    def start(self, command=None, extra="", top=""):
        """The seed config: consul address, one template, a command."""
        text = top + "consul = %s\ntemplate {\n  source = %s\n" \
               "  destination = %s\n" % (hcl_string(self.sim.address),
                                         hcl_string(SEED_TMPL),
                                         hcl_string(self.dest))
        if command is not None:
            text += "  command = %s\n" % hcl_string(command)
        text += extra + "}\n"
        cfg = self.tmp.write("config.hcl", text)
        self.daemon = Daemon(["-config", cfg, "-log-level", "debug"])
        wait_for(lambda: "foo-db-slave" in (read_or_none(self.dest) or ""),
                 15, "the first render")
        return self.daemon

    def answers(self, name):
        return dnsq.addrs(name, self.dnsmasq.port, timeout=0.5)

    def serves(self, name, want, timeout=10):
        """Poll dnsmasq (it emits no event) until it answers want."""
        last = []

        def ok():
            last[:] = [self.answers(name)]
            # None: the query failed (a restart drops it)
            return last[0] is not None and sorted(last[0]) == sorted(want)
        wait_for(ok, timeout, "dnsmasq to answer %s with %s (last %s)"
                 % (name, want, last))

    def file_has(self, line):
        return line in (read_or_none(self.dest) or "").split("\n")

    # -- the seed scenarios -----------------------------------------------
    def node_stop(self, command):
        self.start_dnsmasq()
        cmd = command() if callable(command) else command
        self.start(cmd)
        self.serves(APP, ["192.0.2.11", "192.0.2.12", "192.0.2.13"])
        self.serves("foo-app02", ["192.0.2.12"])
        t0 = time.monotonic()
        put(self.sim, "/v1/catalog/deregister", {"Node": "foo-app02"})
        wait_for(lambda: not self.file_has("192.0.2.12 foo-app02"), 10,
                 "foo-app02 gone from the file")
        t_file = time.monotonic() - t0
        self.serves(APP, ["192.0.2.11", "192.0.2.13"])
        self.serves("foo-app02", [])
        t_dns = time.monotonic() - t0
        print("node stop: file %.1f ms, dnsmasq %.1f ms"
              % (t_file * 1000, t_dns * 1000))
        self.assertLess(t_dns, time_bound(1.0))
        self.assertEqual(held(read_or_none(self.dest)), [])

    def test_node_stop_sighup(self):
        self.node_stop(lambda: "kill -HUP %d" % self.dnsmasq.pid)

    def test_node_stop_restart(self):
        self.node_stop(self.restart_command)

    def db_failover(self, command):
        self.start_dnsmasq()
        cmd = command() if callable(command) else command
        self.start(cmd)
        self.serves("foo-db-master", ["192.0.2.111"])
        # before_exec: nobody may write to the old master any more.
        t0 = time.monotonic()
        put(self.sim, "/v1/catalog/deregister", {"Node": "foo-db-master"})
        self.serves("foo-db-master", [])
        t_gone = time.monotonic() - t0
        # after_exec: the new master, at its new address.
        t1 = time.monotonic()
        put(self.sim, "/v1/catalog/register",
            {"Node": "foo-db-master", "Address": "192.0.2.110"})
        self.serves("foo-db-master", ["192.0.2.110"])
        t_new = time.monotonic() - t1
        print("db failover: old master gone from dnsmasq in %.1f ms, new "
              "master served %.1f ms after its registration"
              % (t_gone * 1000, t_new * 1000))
        self.assertLess(t_gone, time_bound(1.0))
        self.assertLess(t_new, time_bound(1.0))
        self.assertTrue(self.file_has("192.0.2.110 foo-db-master"))
        self.assertFalse(self.file_has("192.0.2.111 foo-db-master"))

    def test_db_failover_sighup(self):
        self.db_failover(lambda: "kill -HUP %d" % self.dnsmasq.pid)

    def test_db_failover_restart(self):
        self.db_failover(self.restart_command)

    # -- anomalies --------------------------------------------------------
    def test_mass_removal_is_held_and_marked(self):
        self.start()
        d = self.daemon
        i = len(d.lines)
        # Four of six nodes leave in one answer (an agent lost its state).
        with self.sim.cond:
            for n in ("foo-app01", "foo-app02", "foo-app03", "foo-db-slave"):
                self.sim.deregister_node(n)
        # The answers (node list, each service) may come in separate
        # renders: the window weighs them as one event.
        gone = {"192.0.2.11 foo-app01", "192.0.2.12 foo-app02",
                "192.0.2.13 foo-app03", "192.0.2.112 foo-db-slave"}
        wait_for(lambda: gone <= set(held(read_or_none(self.dest))), 10,
                 "the departed nodes held in the file")
        d.wait_log("holding back", start=i)
        text = read_or_none(self.dest)
        self.assertRegex(text, r"(the render removes|are removed within)")
        # Static template lines never count and are never held.
        self.assertNotIn("127.0.0.1 localhost localhost.localdomain "
                         "localhost4 localhost4.localdomain4", held(text))
        # An addition in the same window is published at once.
        t0 = time.monotonic()
        self.sim.register_node("foo-app04", "192.0.2.14")
        wait_for(lambda: self.file_has("192.0.2.14 foo-app04"), 10,
                 "the addition in the file")
        self.assertLess(time.monotonic() - t0, time_bound(1.0))
        self.assertIn("192.0.2.11 foo-app01", held(read_or_none(self.dest)))

    def test_restore_emptying_catalog_never_empties_file(self):
        # A sim whose first snapshot is the empty catalog, then the seed.
        self.sim.stop()
        self.sim = start_sim(seed=None)
        self.addCleanup(self.sim.stop)
        empty = self.sim.snapshot()
        self.sim.load_catalog(os.path.join(SRC, "tests", "sim",
                                           "seed-catalog.json"))
        self.start(extra='  guard { hold = "1s" }\n')
        d = self.daemon
        full = read_or_none(self.dest)
        i = len(d.lines)
        self.sim.restore(empty)
        d.wait_log("not publishing", start=i)
        t0 = time.monotonic()
        # A render without entries is never published: not by a reload
        # (SIGHUP: a new publisher reads the held state from the file),
        # not once guard.hold (1 s) has passed.
        for when in (0, 1.5):
            time.sleep(max(0, t0 + when - time.monotonic()))
            j = len(d.lines)
            d.signal(signal.SIGHUP)
            d.wait_log("not publishing", start=d.wait_log("reloading",
                                                          start=j))
        self.assertIn("192.0.2.11 foo-app01", read_or_none(self.dest))
        self.assertIn("192.0.2.112 foo-db-slave", read_or_none(self.dest))

    def test_backwards_index_holds_removal_publishes_addition(self):
        # Snapshot S holds foo-x; then foo-x goes and foo-n7 comes.
        self.sim.register_node("foo-x", "192.0.2.50")
        snap = self.sim.snapshot()
        self.sim.deregister_node("foo-x")
        self.sim.register_node("foo-n7", "192.0.2.57")
        # Every dependency is suspect after the restore, until a healthy
        # answer (a change, or its wait expiring) confirms it: short
        # waits, so this test sees the confirmation soon.
        self.start(top='block_query_wait = "1s"\n')
        d = self.daemon
        self.assertTrue(self.file_has("192.0.2.57 foo-n7"))
        i = len(d.lines)
        # The restore: the index goes backwards. Its answer adds foo-x
        # (published at once) and removes foo-n7 (held, suspect).
        t0 = time.monotonic()
        self.sim.restore(snap)
        wait_for(lambda: self.file_has("192.0.2.50 foo-x"), 10,
                 "the restored node in the file")
        self.assertLess(time.monotonic() - t0, time_bound(1.0))
        text = read_or_none(self.dest)
        self.assertIn("192.0.2.57 foo-n7", held(text))
        self.assertIn("index went backwards", text)
        d.wait_log("holding back", start=i)
        # Healthy answers confirm the removal (here: a change to the
        # node list, and every other dependency's wait expiring).
        self.sim.register_node("foo-n8", "192.0.2.58")
        wait_for(lambda: self.file_has("192.0.2.58 foo-n8")
                 and not self.file_has("192.0.2.57 foo-n7"), 10,
                 "foo-n7's removal confirmed by a healthy answer")
        self.assertEqual(held(read_or_none(self.dest)), [])

    def test_removal_during_churn_published_within_hold(self):
        self.start(extra='  guard { hold = "2s" }\n')
        with self.sim.cond:
            for n in ("foo-app01", "foo-app02", "foo-app03", "foo-db-slave"):
                self.sim.deregister_node(n)
        wait_for(lambda: held(read_or_none(self.dest)), 10, "a hold")
        t0 = time.monotonic()
        k = 0
        # A node joins every 250 ms while the removal is held.
        while held(read_or_none(self.dest)):
            self.sim.register_node("churn%02d" % k, "192.0.2.%d" % (150 + k))
            k += 1
            time.sleep(0.25)
            self.assertLess(time.monotonic() - t0, time_bound(2.0 + 2.0),
                            "the held removal was starved by churn")
        print("held removal published after %.2f s of churn (%d joins)"
              % (time.monotonic() - t0, k))
        self.assertFalse(self.file_has("192.0.2.11 foo-app01"))

    def test_hung_command_does_not_delay_next_update(self):
        marker = self.tmp.join("started")
        # A stop waits for a running command, up to its timeout.
        self.start("echo x >> %s; exec sleep 60" % marker,
                   extra='  command_timeout = "3s"\n')
        wait_for(lambda: os.path.exists(marker), 10, "the hanging command")
        t0 = time.monotonic()
        self.sim.register_node("foo-app04", "192.0.2.14")
        wait_for(lambda: self.file_has("192.0.2.14 foo-app04"), 10,
                 "the change in the file")
        elapsed = time.monotonic() - t0
        print("file updated %.1f ms after the change, behind a hung "
              "command" % (elapsed * 1000))
        self.assertLess(elapsed, time_bound(1.0))


if __name__ == "__main__":
    unittest.main()
