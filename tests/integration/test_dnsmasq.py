"""A real dnsmasq serves what consul-hosts publishes, and follows Consul.

Each test starts Debian's dnsmasq (dnsmasq-base) on a free 127.0.0.1 port
with no upstream, no /etc/hosts and no config file, runs consul-hosts
against the Consul simulator with the default hosts template, and asks
dnsmasq (dnsq.query, plain UDP) for foo-app.service.dc1.consul while the
simulator registers and deregisters instances. Three ways to get dnsmasq
to notice a new file (reference/peers.md section 2):

  (a) --addn-hosts=FILE, command kills dnsmasq, a supervisor restarts it
      (systemd's Restart=always; dnsmasq re-reads everything on start);
  (b) --addn-hosts=FILE, command = "kill -HUP <pid>" (re-reads hosts);
  (c) --hostsdir=DIR with the destination in DIR and no command: inotify
      sees the rename; the dot-prefixed temp file is never read.

dnsmasq emits no event when its answers change, so the tests poll it with
harness.wait_for (bounded back-off); everything else waits for log lines.
"""

import os
import unittest

import dnsq
from harness import HOSTS_TMPL, Daemon, TempDir, start_sim, wait_for

APP = "foo-app.service.dc1.consul"
SEED_APP = ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
WITH_04 = SEED_APP + ["192.0.2.14"]
WITHOUT_02 = ["192.0.2.11", "192.0.2.13", "192.0.2.14"]


class DnsmasqFollowsConsul(unittest.TestCase):
    def setUp(self):
        missing = dnsq.dnsmasq_missing()
        if missing:
            self.skipTest(missing)
        self.tmp = TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.sim = start_sim()
        self.addCleanup(self.sim.stop)
        self.dnsmasq = None
        self.daemon = None

    def tearDown(self):
        if self.daemon is not None:
            self.assertEqual(self.daemon.stop(), 0, self.daemon.log())
            self.daemon.reader.join(10)
            self.daemon.proc.stdout.close()
            self.daemon.proc.stderr.close()
            # No failed command, no dropped line, no held render.
            for line in self.daemon.log().splitlines():
                self.assertNotRegex(line, r"\[(warn|err)\]",
                                    self.daemon.log())
        if self.dnsmasq is not None:
            self.dnsmasq.stop()

    # -- helpers ---------------------------------------------------------
    def start_dnsmasq(self, hosts_args):
        self.dnsmasq = dnsq.Dnsmasq(self.tmp.path, hosts_args).start()
        return self.dnsmasq

    def restart_script(self, dm):
        """`systemctl restart dnsmasq` for a supervised test dnsmasq: kill
        it, return once the supervisor says its successor has started."""
        fifo = self.tmp.join("restarted.fifo")
        os.mkfifo(fifo)
        dm.supervise(notify_fifo=fifo)
        return self.tmp.write("restart-dnsmasq.sh", """#!/bin/sh
exec 3<>'%s'
kill -TERM "$(cat '%s')" || exit 1
read -r started <&3
""" % (fifo, dm.pid_file))

    def start_consul_hosts(self, dest, command=None, guards=True):
        lines = ['consul = "%s"' % self.sim.address,
                 'template {',
                 '  source = "%s"' % HOSTS_TMPL,
                 '  destination = "%s"' % dest,
                 '  command_window = "0s"']
        if not guards:
            lines.append('  guard { enabled = false }')
        if command is not None:
            lines.append('  command = "%s"' % command.replace('"', '\\"'))
            lines.append('  command_timeout = "10s"')
        lines.append('}')
        cfg = self.tmp.write("consul-hosts.hcl", "\n".join(lines) + "\n")
        self.daemon = Daemon(["-config", cfg, "-log-level", "debug"])
        return self.daemon

    def answers(self, name=APP):
        return dnsq.addrs(name, self.dnsmasq.port, timeout=0.5)

    def expect(self, addrs, name=APP, timeout=15):
        wait_for(lambda: self.answers(name) == addrs, timeout=timeout,
                 what="dnsmasq to answer %s with %s (last: %s)\n%s\n%s"
                 % (name, addrs, self.answers(name), self.daemon.log(),
                    self.dnsmasq.log()))

    def add_foo_app04(self):
        self.sim.register_node("foo-app04", "192.0.2.14")
        self.sim.register_service("foo-app04", "foo-app", id="foo-app",
                                  port=8080, status="passing")

    def follow_changes(self):
        """The catalog changes twice; dnsmasq's answers follow each time."""
        self.expect(SEED_APP)
        self.add_foo_app04()
        self.expect(WITH_04)
        # The node list is its own blocking query: its line may land in
        # the file one render after the service's.
        self.expect(["192.0.2.14"], name="foo-app04.node.dc1.consul")
        self.sim.deregister_service("foo-app02", id="foo-app")
        self.expect(WITHOUT_02)
        # The node itself is still registered: its own name stays. A
        # restart-style command may be restarting dnsmasq for a later
        # render right now: wait for the answer rather than ask once.
        self.expect(["192.0.2.12"], name="foo-app02.node.dc1.consul")

    def writes(self):
        return self.daemon.count(": wrote ")

    def runs(self):
        """Command runs: a write while the command runs is covered by one
        more run after it (coalesced), so runs <= writes."""
        return self.daemon.count("running the command (")

    # -- (a) restart -----------------------------------------------------
    def test_addn_hosts_with_restart(self):
        dest = self.tmp.join("consul.hosts")
        dm = self.start_dnsmasq(["--addn-hosts=" + dest])
        script = self.restart_script(dm)
        # The file does not exist yet: dnsmasq starts without it.
        self.assertEqual(self.answers(), [])
        self.start_consul_hosts(dest, command="sh " + script)
        self.follow_changes()
        # One restart per command run, each one a new process, each
        # command successful (it returned once the new dnsmasq had
        # started); writes that came while a restart ran share the next.
        wait_for(lambda: dm.starts == 1 + self.runs(), timeout=10,
                 what="one dnsmasq start per command run (%d starts, %d "
                 "runs)" % (dm.starts, self.runs()))
        # (tearDown also checks that no command failed)
        # The first write, the new node and its service (one to three
        # renders, as the blocking queries return), the deregistration.
        self.assertGreaterEqual(self.writes(), 3)
        self.assertGreaterEqual(self.runs(), 2)
        self.assertLessEqual(self.runs(), self.writes())
        self.assertEqual(dm.log().count("exiting on receipt of SIGTERM"),
                         self.runs())

    # -- (b) SIGHUP ------------------------------------------------------
    def test_addn_hosts_with_sighup(self):
        dest = self.tmp.join("consul.hosts")
        dm = self.start_dnsmasq(["--addn-hosts=" + dest])
        self.assertEqual(self.answers(), [])
        self.start_consul_hosts(dest, command="kill -HUP %d" % dm.pid)
        self.follow_changes()
        # The same process all along, and one re-read per write.
        self.assertTrue(dm.running())
        self.assertEqual(dm.starts, 1)
        wait_for(lambda: dm.log().count("read %s - " % dest) ==
                 self.writes(), timeout=10, what="one re-read per write")
        self.assertGreaterEqual(self.writes(), 3)

    def test_addn_hosts_without_signal_keeps_the_old_set(self):
        """Why (a) or (b) is needed: a rename over --addn-hosts is not seen."""
        dest = self.tmp.write("consul.hosts", "192.0.2.99 %s\n" % APP)
        self.start_dnsmasq(["--addn-hosts=" + dest])
        self.assertEqual(self.answers(), ["192.0.2.99"])
        # Guards off: the foreign file's one line would count as a mass
        # removal (tested in test_failover.py), beside this test's point.
        d = self.start_consul_hosts(dest, guards=False)
        d.wait_log(": wrote ")
        with open(dest) as f:
            self.assertIn("192.0.2.11 " + APP, f.read())
        self.assertEqual(self.answers(), ["192.0.2.99"])
        self.dnsmasq.hup()
        self.expect(SEED_APP)

    def test_identical_render_sends_no_signal(self):
        """A Consul change that does not change the file costs dnsmasq
        nothing: no write, no command, no re-read."""
        dest = self.tmp.join("consul.hosts")
        dm = self.start_dnsmasq(["--addn-hosts=" + dest])
        d = self.start_consul_hosts(dest, command="kill -HUP %d" % dm.pid)
        self.expect(SEED_APP)
        dm.wait_log("read %s - " % dest)
        d.wait_log(": wrote ")
        i = len(d.lines)
        # A new tag: the health index moves, the data changes, the hosts
        # do not. (New check output is not even a change: no template
        # here can show it, so it is not decoded; test_check_output.py.)
        self.sim.register_service("foo-app01", "foo-app", "foo-app",
                                  tags=["new-tag"], port=8080)
        # The render for this change (another dependency's first answer
        # may also have rendered the same bytes before it).
        j = d.wait_log(lambda l: "health.service(foo-app" in l and
                       l.endswith(" changed"), start=i)
        d.wait_log(" unchanged", start=j)
        self.assertEqual(self.writes(), 1)
        self.assertEqual(dm.log().count("read %s - " % dest), 1)
        self.assertEqual(self.answers(), SEED_APP)

    # -- (c) hostsdir ----------------------------------------------------
    def test_hostsdir_without_command(self):
        hdir = self.tmp.join("hosts.d")
        os.mkdir(hdir)
        dest = os.path.join(hdir, "consul.hosts")
        dm = self.start_dnsmasq(["--hostsdir=" + hdir])
        self.assertEqual(self.answers(), [])
        self.start_consul_hosts(dest)
        self.follow_changes()
        self.assertTrue(dm.running())
        self.assertEqual(dm.starts, 1)
        # dnsmasq read the destination once per write (inotify, no signal)
        wait_for(lambda: dm.log().count("read %s - " % dest) ==
                 self.writes(), timeout=10, what="one read per rename")
        self.assertGreaterEqual(self.writes(), 3)
        # ... and never looked at the dot-prefixed temp files: they were
        # written and closed in the same directory, yet no log line names
        # one, and the removed instance did not linger (a temp file read
        # by dnsmasq would keep its records after the rename).
        for line in dm.log_lines():
            self.assertNotIn(hdir + "/.", line)
        self.assertEqual(sorted(os.listdir(hdir)), ["consul.hosts"])
        self.assertNotIn("192.0.2.12", self.answers() or [])


if __name__ == "__main__":
    unittest.main()
