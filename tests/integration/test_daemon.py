"""The watcher daemon against the simulator, end to end.

Each test runs the real binary with a config file written by DaemonCase
(short retry backoff, a counter-file command, -order none) and asserts what
an operator can observe: the file, the commands run, the requests Consul
saw, the log, the exit code and the sd_notify datagrams.
"""

import os
import re
import shlex
import signal
import sys
import ssl
import subprocess
import threading
import time
import unittest
import socket

from harness import (APP_SEED, SLOW, SRC, DaemonCase, FileReader, NotifySocket,
                     app_lines, assert_hosts_valid, count_lines, read_or_none,
                     run_checked, start_sim, time_bound, wait_for, hcl_string)

SEED_NODES = [("192.0.2.11", "foo-app01"), ("192.0.2.12", "foo-app02"),
              ("192.0.2.13", "foo-app03")]
HEALTH = "/v1/health/service/foo-app"


def add_app(sim, node, addr):
    sim.register_node(node, addr)
    sim.register_service(node, "foo-app", "foo-app-" + node, port=80,
                         status="passing")


class Watching(DaemonCase):
    def test_blocks_and_wakes_on_change(self):
        self.daemon()
        self.wait_file(APP_SEED)
        self.await_blocked(HEALTH, min_index=1)
        add_app(self.sim, "foo-app04", "192.0.2.14")
        self.wait_file(app_lines(*SEED_NODES, ("192.0.2.14", "foo-app04")))
        reqs = self.sim.requests(HEALTH)["requests"]
        # The first fetch has no index; every later one is blocking.
        self.assertNotIn("index", reqs[0]["query"])
        later = [r for r in reqs[1:]]
        self.assertTrue(later)
        for r in later:
            self.assertIn("index", r["query"], r)
            self.assertGreaterEqual(int(r["query"]["index"][0]), 1)
            self.assertIn("wait", r["query"])

    def test_index_reset_on_restore(self):
        snap = self.sim.snapshot()
        add_app(self.sim, "foo-app04", "192.0.2.14")
        self.daemon()
        four = app_lines(*SEED_NODES, ("192.0.2.14", "foo-app04"))
        self.wait_file(four)
        high = self.sim.index
        self.await_blocked(HEALTH, min_index=high)
        self.sim.restore(snap)  # index goes back below what we sent
        self.assertLess(self.sim.index, high)
        self.wait_file(APP_SEED)
        # After the reset no query carries the old, higher index again.
        self.await_blocked(HEALTH, min_index=1)
        self.sim.reset_log()
        add_app(self.sim, "foo-app05", "192.0.2.15")
        self.wait_file(app_lines(*SEED_NODES, ("192.0.2.15", "foo-app05")))
        for r in self.sim.requests(HEALTH)["requests"]:
            idx = int(r["query"].get("index", ["0"])[0])
            self.assertLessEqual(idx, self.sim.index, r)

    def test_identical_data_is_no_render(self):
        d = self.daemon("-log-level", "debug")
        self.wait_file(APP_SEED)
        wait_for(lambda: count_lines(self.counter) == 1, 10, "command run")
        st = os.stat(self.dest)
        # An index bump with equal data: the same check status again.
        idx = self.sim.register_node(
            "foo-app01", "192.0.2.11",
            id="8e1f1c0a-0000-4000-8000-000000000011")
        self.await_blocked(HEALTH, min_index=idx)
        # A change of data that renders the same bytes (a new tag).
        self.sim.register_service("foo-app02", "foo-app", "foo-app",
                                  tags=["new-tag"], port=80)
        idx = self.sim.index
        self.await_blocked(HEALTH, min_index=idx)
        d.wait_log("unchanged")
        self.assertEqual(count_lines(self.counter), 1)
        st2 = os.stat(self.dest)
        self.assertEqual((st.st_ino, st.st_mtime_ns),
                         (st2.st_ino, st2.st_mtime_ns))
        self.assertEqual(d.count(": written ("), 1, d.log())


class Tokens(DaemonCase):
    TOKEN = "s3cr3t-token-value"

    def setUp(self):
        super().setUp()
        self.sim.acl_require(True)
        self.sim.acl_set_token(self.TOKEN, "read")

    def check_token_used(self, d):
        self.wait_file(APP_SEED)
        reqs = self.sim.requests("/v1/")["requests"]
        self.assertTrue(reqs)
        self.assertTrue(all(r["token_present"] for r in reqs), reqs)
        for r in reqs:
            self.assertNotIn(self.TOKEN, str(r["query"]))
        d.stop()
        self.assertNotIn(self.TOKEN, d.log())

    def test_token_flag(self):
        self.check_token_used(self.daemon("-consul-token", self.TOKEN))

    def test_token_env(self):
        self.check_token_used(
            self.daemon(env={"CONSUL_HTTP_TOKEN": self.TOKEN}))

    def test_token_file(self):
        tf = self.tmp.write("token", self.TOKEN + "\n")
        cfg = self.config(consul_extra="  token_file = %s\n"
                          % hcl_string(tf))
        self.check_token_used(self.daemon(cfg=cfg))

    def test_no_token_is_403_and_nothing_written(self):
        d = self.daemon()
        d.wait_log("ACL")
        d.wait_log("403")
        self.assertIsNone(read_or_none(self.dest))
        self.assertIsNone(d.proc.poll())


class UnixSocket(DaemonCase):
    def test_unix_address(self):
        path = self.tmp.join("consul.sock")
        sim = start_sim(listen=None, unix_path=path)
        self.addCleanup(sim.stop)
        self.daemon(cfg=self.config(address="unix://" + path))
        self.wait_file(APP_SEED)
        self.assertTrue(sim.requests(HEALTH)["requests"])
        self.assertFalse(self.sim.requests("/v1/")["requests"])


class TLSProxy:
    """TLS in front of the (plain HTTP) simulator: a stdlib ssl listener
    on loopback that pipes each connection to the simulator."""

    def __init__(self, backend_port, certfile, keyfile):
        self.backend = backend_port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        try:
            tc = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            c.close()
            return
        self.handshakes += 1
        b = socket.create_connection(("127.0.0.1", self.backend))

        def pipe(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        threading.Thread(target=pipe, args=(b, tc), daemon=True).start()
        pipe(tc, b)

    def close(self):
        self.closed = True
        self.sock.close()


def make_ca(tmp):
    """A throw-away CA and a server certificate for 127.0.0.1/localhost."""
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), check=True,
                       capture_output=True, cwd=tmp.path, timeout=60)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=test CA")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key",
         "-out", "srv.csr", "-subj", "/CN=consul.test")
    tmp.write("ext.cnf", "subjectAltName=DNS:consul.test,DNS:localhost,"
              "IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey",
         "ca.key", "-CAcreateserial", "-out", "srv.pem", "-days", "2",
         "-extfile", "ext.cnf")
    return tmp.join("ca.pem"), tmp.join("srv.pem"), tmp.join("srv.key")


class HTTPS(DaemonCase):
    def setUp(self):
        super().setUp()
        try:
            self.ca, cert, key = make_ca(self.tmp)
        except (OSError, subprocess.CalledProcessError) as e:
            self.skipTest("openssl cannot make a test CA: %s" % e)
        self.proxy = TLSProxy(self.sim.port, cert, key)
        self.addCleanup(self.proxy.close)

    def test_https_with_ca(self):
        addr = "https://127.0.0.1:%d" % self.proxy.port
        self.daemon("-consul-ssl-ca-cert", self.ca,
                    cfg=self.config(address=addr))
        self.wait_file(APP_SEED)
        self.assertGreater(self.proxy.handshakes, 0)

    def test_https_env_and_server_name(self):
        addr = "https://127.0.0.1:%d" % self.proxy.port
        self.daemon(cfg=self.config(address=addr),
                    env={"CONSUL_CACERT": self.ca,
                         "CONSUL_TLS_SERVER_NAME": "consul.test"})
        self.wait_file(APP_SEED)

    def test_https_unknown_ca_is_refused(self):
        addr = "https://127.0.0.1:%d" % self.proxy.port
        d = self.daemon(cfg=self.config(address=addr))
        d.wait_log("retrying")
        self.assertIsNone(read_or_none(self.dest))
        self.assertIsNone(d.proc.poll())


class StopWhileWaiting(DaemonCase):
    def test_sigterm_while_consul_is_down(self):
        self.sim.stop()
        d = self.daemon("-log-level", "debug")
        d.wait_log("retrying", start=d.wait_log("retrying") + 1)
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.log())
        self.assertLess(time.monotonic() - t0, time_bound(2))
        self.assertIsNone(read_or_none(self.dest))

    def test_sigterm_with_a_request_hanging(self):
        self.sim.set_fault("hang", path=HEALTH, seconds=60)
        d = self.daemon()
        self.assertTrue(self.sim.wait_for(
            lambda: self.sim.counters["faults_applied"] >= 1, 10 * SLOW))
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.log())
        self.assertLess(time.monotonic() - t0, time_bound(2))


class Signals(DaemonCase):
    def test_sighup_good_config(self):
        d = self.daemon()
        self.wait_file(APP_SEED)
        with open(self.tmpl, "w") as f:
            f.write('{{ range service "foo-app" }}{{ .Address }} '
                    '{{ .Node }}.v2\n{{ end }}')
        d.signal(signal.SIGHUP)
        self.wait_file(APP_SEED.replace(".app", ".v2"))
        self.assertIsNone(d.proc.poll())

    def test_sighup_while_the_previous_reload_settles(self):
        # The old runner waits for its running command before it is
        # gone; a second SIGHUP meanwhile must not be lost.
        cmd = "sleep 1"
        d = self.daemon(cfg=self.config(command=False,
                                        tmpl_extra="command = %s"
                                        % hcl_string(cmd)))
        self.wait_file(APP_SEED)
        for v in ("v2", "v3"):
            with open(self.tmpl, "w") as f:
                f.write('{{ range service "foo-app" }}{{ .Address }} '
                        '{{ .Node }}.%s\n{{ end }}' % v)
            i = len(d.lines)
            d.signal(signal.SIGHUP)
            d.wait_log("reload", start=i)
        self.wait_file(APP_SEED.replace(".app", ".v3"), timeout=20)
        self.assertIsNone(d.proc.poll())

    def test_sighup_broken_template_keeps_old(self):
        d = self.daemon()
        self.wait_file(APP_SEED)
        st = os.stat(self.dest)
        with open(self.tmpl, "w") as f:
            f.write('{{ range service "foo-app" }}{{ .Address }')
        d.signal(signal.SIGHUP)
        i = d.wait_log("reload failed")
        self.assertIn("app.tmpl", d.lines[i])
        self.assertIsNone(d.proc.poll())
        self.assertEqual(os.stat(self.dest).st_mtime_ns, st.st_mtime_ns)
        # The old runner keeps rendering.
        add_app(self.sim, "foo-app04", "192.0.2.14")
        self.wait_file(app_lines(*SEED_NODES, ("192.0.2.14", "foo-app04")))

    def test_sighup_broken_config_keeps_old(self):
        # A trailer line ends every render, so the reader below tells a
        # complete file from a cut one.
        trailer = "# complete\n"
        with open(self.tmpl, "a") as f:
            f.write(trailer)
        seed = APP_SEED + trailer
        four = app_lines(*SEED_NODES, ("192.0.2.14", "foo-app04")) + trailer
        cfg = self.config()
        with open(cfg) as f:
            good = f.read()
        d = self.daemon(cfg=cfg)
        self.wait_file(seed)
        st = os.stat(self.dest)
        r = FileReader(self.dest)
        self.addCleanup(r.stop)
        # An unknown key and a syntax error: each reload fails naming
        # the cause, and the running configuration stays.
        for broken, named in (("no_such_option = 1\n", "no_such_option"),
                              ("template {\n", "config.hcl")):
            with open(cfg, "w") as f:
                f.write(good + "\n" + broken)
            i = len(d.lines)
            d.signal(signal.SIGHUP)
            i = d.wait_log("reload failed", start=i)
            self.assertIn(named, d.lines[i])
        self.assertEqual(read_or_none(self.dest), seed)
        self.assertEqual(os.stat(self.dest).st_mtime_ns, st.st_mtime_ns)
        # The old configuration keeps rendering.
        add_app(self.sim, "foo-app04", "192.0.2.14")
        self.wait_file(four)
        self.assertIsNone(d.proc.poll())
        seen = r.stop()
        self.assertGreater(r.reads, 10)
        self.assertLessEqual(seen, {seed, four})
        for text in seen:
            assert_hosts_valid(self, text)

    def test_sigterm_exits_0_promptly(self):
        d = self.daemon()
        self.wait_file(APP_SEED)
        self.await_blocked(HEALTH, min_index=1)
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.log())
        self.assertLess(time.monotonic() - t0, time_bound(2))

    def test_sigint_exits_0(self):
        d = self.daemon()
        self.wait_file(APP_SEED)
        self.assertEqual(d.stop(signal.SIGINT), 0, d.log())

    def test_sigterm_waits_for_running_command(self):
        marker = self.tmp.join("marker")
        cmd = "sleep 0.5; echo done > %s" % marker
        d = self.daemon(cfg=self.config(command=False,
                                        tmpl_extra="command = %s"
                                        % hcl_string(cmd)))
        # The first write starts the command; stop while it runs.
        self.wait_file(APP_SEED)
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM), 0, d.log())
        self.assertLess(time.monotonic() - t0, time_bound(5))
        self.assertEqual(read_or_none(marker), "done\n")

    def test_sigterm_with_hanging_command_is_bounded(self):
        cmd = "exec sleep 60"
        d = self.daemon(cfg=self.config(
            command=False, tmpl_extra='command = %s\ncommand_timeout = "1s"'
            % hcl_string(cmd)))
        self.wait_file(APP_SEED)
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGTERM, timeout=10), 0, d.log())
        self.assertLess(time.monotonic() - t0, time_bound(4))


class ConsulTemplateSignals(DaemonCase):
    """kill_signal and reload_signal as a migrated consul-template config
    sets them: whatever they say, SIGTERM and SIGINT stop cleanly (exit
    0, pid file removed), and a signal that is neither the kill nor the
    reload signal is ignored, as consul-template ignores it."""

    def start(self, extra):
        self.pid = self.tmp.join("ch.pid")
        d = self.daemon(cfg=self.config(extra=extra + "\npid_file = %s\n"
                                        % hcl_string(self.pid)))
        self.wait_file(APP_SEED)
        wait_for(lambda: read_or_none(self.pid), 5, "pid file")
        return d

    def assert_clean_stop(self, d, sig):
        self.assertEqual(d.stop(sig), 0, d.log())
        self.assertIsNone(read_or_none(self.pid), "pid file left behind")

    def test_reload_signal_empty_ignores_sighup(self):
        d = self.start('reload_signal = ""')
        d.signal(signal.SIGHUP)
        d.wait_log("SIGHUP received: ignored")
        self.assertIsNone(d.proc.poll())
        # Still working after it.
        add_app(self.sim, "foo-app04", "192.0.2.14")
        self.wait_file(app_lines(*SEED_NODES, ("192.0.2.14", "foo-app04")))
        self.assert_clean_stop(d, signal.SIGTERM)

    def test_kill_signal_sigint_sigterm_still_stops_cleanly(self):
        d = self.start('kill_signal = "SIGINT"')
        self.assert_clean_stop(d, signal.SIGTERM)

    def test_custom_kill_signal_stops_cleanly(self):
        d = self.start('kill_signal = "SIGUSR2"')
        d.signal(signal.SIGUSR1)
        d.wait_log("SIGUSR1 received: ignored")
        self.assertIsNone(d.proc.poll())
        self.assert_clean_stop(d, signal.SIGUSR2)

    def test_custom_reload_signal(self):
        d = self.start('reload_signal = "SIGUSR1"\nkill_signal = ""')
        with open(self.tmpl, "w") as f:
            f.write('{{ range service "foo-app" }}{{ .Address }} '
                    '{{ .Node }}.v2\n{{ end }}')
        d.signal(signal.SIGUSR1)
        self.wait_file(APP_SEED.replace(".app", ".v2"))
        self.assert_clean_stop(d, signal.SIGINT)


    def test_reload_changes_the_reload_signal(self):
        cfg = self.config(extra='kill_signal = "SIGQUIT"')
        d = self.daemon(cfg=cfg)
        self.wait_file(APP_SEED)
        with open(cfg, "a") as f:
            f.write('\nreload_signal = "SIGUSR1"\n')
        d.signal(signal.SIGHUP)
        # The new config is in force once "reloading" is logged (the swap
        # is in the same loop turn; the next signal comes in a later one).
        i = d.wait_log("reloading")
        # Its signals: SIGHUP is now ignored, SIGUSR1 reloads.
        d.signal(signal.SIGHUP)
        d.wait_log("SIGHUP received: ignored", start=i)
        d.signal(signal.SIGUSR1)
        d.wait_log("reloading", start=i + 1)
        self.assertEqual(d.stop(signal.SIGQUIT), 0, d.log())


class ConfigDirectory(DaemonCase):
    """-config DIR reads what consul-template reads: every file, however
    named, in subdirectories and through symlinks."""

    def test_conf_file_and_subdirectory_are_read(self):
        cdir = self.tmp.join("consul-template.d")
        os.makedirs(os.path.join(cdir, "templates.d"))
        # The Consul address only in a *.conf file: skipping it would
        # leave the default 127.0.0.1:8500, where nothing answers.
        with open(os.path.join(cdir, "00-consul.conf"), "w") as f:
            f.write('consul {\n  address = %s\n  retry {\n'
                    '    backoff = "50ms"\n    max_backoff = "200ms"\n'
                    '  }\n}\norder { mode = "none" }\n'
                    % hcl_string(self.sim.address))
        tmpl = os.path.join(self.tmp.path, "hosts-template.hcl")
        with open(tmpl, "w") as f:
            f.write("template {\n  source = %s\n  destination = %s\n}\n"
                    % (hcl_string(self.tmpl), hcl_string(self.dest)))
        os.symlink(tmpl, os.path.join(cdir, "templates.d", "hosts"))
        self.daemon(cfg=cdir)
        self.wait_file(APP_SEED)

    def test_every_error_in_one_run(self):
        cdir = self.tmp.join("broken.d")
        os.makedirs(cdir)
        with open(os.path.join(cdir, "a.hcl"), "w") as f:
            f.write('max_stale = 5\nlog_levle = "info"\n')
        with open(os.path.join(cdir, "b.conf"), "w") as f:
            f.write('not a config file\n')
        r = run_checked(["-config", cdir, "-parse-only", "-vault-addr",
                         "http://vault:8200"])
        self.assertEqual(r.returncode, 2, r.stderr)
        for want in ("-vault-addr: not supported by consul-hosts (Vault)",
                     "a.hcl:1:13: max_stale: expected a duration",
                     'a.hcl:2:1: unknown key "log_levle" at top level; '
                     'did you mean "log_level"?',
                     "b.conf:1:5: "):
            self.assertIn(want, r.stderr)
        self.assertEqual(self.sim.requests()["counters"]["total"], 0)


class Cli(DaemonCase):
    def test_version_is_the_project_version(self):
        with open(os.path.join(SRC, "CMakeLists.txt")) as f:
            m = re.search(r"project\([^)]*VERSION ([0-9.]+)", f.read())
        for flag in ("-v", "--version"):
            r = run_checked([flag])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "consul-hosts %s\n" % m.group(1))

    def test_plain_log_lines_have_timestamps(self):
        # JOURNAL_STREAM inherited from a service, naming another stream:
        # stderr is not the journal, so lines carry their own time.
        d = self.daemon(env={"JOURNAL_STREAM": "1:1"})
        i = d.wait_log("ready")
        self.assertRegex(d.lines[i], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"
                         r"\.\d{3}(Z|[+-]\d{4}) consul-hosts: \[info\] ")

    def test_consul_template_log_level_variable(self):
        d = self.daemon(env={"CONSUL_TEMPLATE_LOG_LEVEL": "debug"})
        d.wait_log("[debug]")


class Notify(DaemonCase):
    def setUp(self):
        super().setUp()
        self.ns = NotifySocket(self.tmp.join("notify"), self.dest)
        self.addCleanup(self.ns.close)
        self.env = {"NOTIFY_SOCKET": self.ns.path}

    def test_ready_after_first_complete_render(self):
        d = self.daemon(env=self.env)
        i = self.ns.wait("READY=1")
        # The file was complete when READY=1 arrived, and not before.
        self.assertEqual(self.ns.msgs[i][1], APP_SEED)
        for text, snap in self.ns.msgs[:i]:
            self.assertNotIn("READY=1", text)
        texts = self.ns.texts()
        self.assertTrue(any(t.startswith("STATUS=") for t in texts), texts)
        d.signal(signal.SIGHUP)
        j = self.ns.wait("RELOADING=1", start=i + 1)
        self.ns.wait("READY=1", start=j + 1)
        self.assertEqual(d.stop(signal.SIGTERM), 0)
        self.ns.wait("STOPPING=1", start=j + 1)

    def test_watchdog_pings(self):
        env = dict(self.env, WATCHDOG_USEC="200000")
        self.daemon(env=env)
        i = self.ns.wait("WATCHDOG=1")
        self.ns.wait("WATCHDOG=1", start=i + 1)

    def test_no_ready_while_consul_is_down(self):
        self.sim.stop()
        d = self.daemon("-log-level", "debug", env=self.env)
        d.wait_log("retrying", start=d.wait_log("retrying") + 1)
        self.assertFalse(any("READY=1" in t for t in self.ns.texts()))
        self.sim.start()
        i = self.ns.wait("READY=1")
        self.assertEqual(self.ns.msgs[i][1], APP_SEED)


class RunModes(DaemonCase):
    def test_pid_file(self):
        pid = self.tmp.join("ch.pid")
        d = self.daemon("-pid-file", pid)
        self.wait_file(APP_SEED)
        wait_for(lambda: read_or_none(pid), 5, "pid file")
        self.assertEqual(read_or_none(pid).strip(), str(d.proc.pid))
        self.assertEqual(d.stop(), 0)
        self.assertIsNone(read_or_none(pid))

    def test_once_writes_and_exits_0(self):
        r = run_checked(["-config", self.config(), "-once"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read_or_none(self.dest), APP_SEED)
        self.assertEqual(count_lines(self.counter), 1)
        self.assertEqual(r.stdout, "")

    def test_parse_only(self):
        r = run_checked(["-config", self.config(), "-parse-only"])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.tmpl, "w") as f:
            f.write("{{ if }}")
        r = run_checked(["-config", self.config(), "-parse-only"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("app.tmpl", r.stderr)
        self.assertEqual(self.sim.requests()["counters"]["total"], 0)
        self.assertIsNone(read_or_none(self.dest))

    def test_dry_prints_only_the_render(self):
        r = run_checked(["-config", self.config(), "-once", "-dry"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, APP_SEED)
        self.assertIsNone(read_or_none(self.dest))
        self.assertEqual(count_lines(self.counter), 0)
        self.assertNotIn("wrote " + self.dest, r.stderr)

    def test_quiescence_coalesces_a_burst(self):
        # The daemon sees the burst at its own fetch cadence (rate limit,
        # decode, scheduling): every gap it sees must stay under the
        # quiescence minimum even on a loaded machine or under valgrind,
        # and the whole burst well under the maximum.
        d = self.daemon("-wait", "%dms:%dms" % (1000 * SLOW, 10000 * SLOW))
        self.wait_file(APP_SEED)
        wait_for(lambda: count_lines(self.counter) == 1, 10, "first run")
        self.await_blocked(HEALTH, min_index=1)
        nodes = list(SEED_NODES)
        for i in range(10):
            add_app(self.sim, "burst%02d" % i, "192.0.2.%d" % (50 + i))
            nodes.append(("192.0.2.%d" % (50 + i), "burst%02d" % i))
            time.sleep(0.03)  # a burst spread over ~300 ms (< max)
        self.wait_file(app_lines(*nodes))
        wait_for(lambda: count_lines(self.counter) >= 2, 10, "second run")
        self.await_blocked(HEALTH, min_index=self.sim.index)
        self.assertEqual(count_lines(self.counter), 2)
        self.assertEqual(d.count(": written ("), 2, d.log())

    def assert_unwatched(self, path):
        """No query on path once the abandoned one has been woken."""
        self.sim.reset_log()
        # A query the daemon dropped stays parked in the simulator until
        # its data changes: change it, so only a live watch would ask again.
        self.sim.register_service("foo-db-master", "foo-db", "foo-db-2",
                                  port=5433)
        self.assertTrue(self.sim.wait_for(
            lambda: not any(p.startswith(path)
                            for p in self.sim.blocked.values()), 5 * SLOW),
            self.sim.state())
        # Two more rounds of changes the daemon does watch (each at least
        # one rate-limit gap): a live foo-db watch would have asked again.
        nodes = list(SEED_NODES)
        for i in (4, 5):
            add_app(self.sim, "foo-app0%d" % i, "192.0.2.1%d" % i)
            nodes.append(("192.0.2.1%d" % i, "foo-app0%d" % i))
            self.wait_file(app_lines(*nodes))
        self.assertEqual(self.sim.requests(path)["requests"], [])

    def test_unused_dependency_is_unwatched(self):
        # foo-db is used only while the KV flag says so.
        self.tmp.write("app.tmpl", APP_TMPL_DB)
        self.sim.kv_set("use-db", "yes")
        d = self.daemon()
        self.wait_file(lambda t: t is not None and "foo-db" in t)
        self.await_blocked("/v1/health/service/foo-db", min_index=1)
        self.sim.kv_set("use-db", "")
        self.wait_file(APP_SEED)
        self.assert_unwatched("/v1/health/service/foo-db")
        self.assertIsNone(d.proc.poll())

    def test_commands_inherit_no_consul_sockets(self):
        # libcurl opens neither its connections nor its multi wakeup
        # socketpair close-on-exec, and uv_spawn passes every descriptor
        # on: a command (or a daemon it leaves running) would hold the
        # agent connections open. The probe lists what it inherited
        # above stdin/stdout/stderr, with no shell redirection in between.
        fds = self.tmp.join("fds")
        probe = ("import os,sys; d=os.listdir('/proc/self/fd'); "
                 "l=[f+' '+os.readlink('/proc/self/fd/'+f) for f in d "
                 "if int(f)>2 and os.path.exists('/proc/self/fd/'+f)]; "
                 "open(sys.argv[1],'w').write('ok\\n'+'\\n'.join(l))")
        cmd = "exec %s -c %s %s" % (sys.executable, shlex.quote(probe), fds)
        d = self.daemon(cfg=self.config(
            command=False, tmpl_extra="command = %s" % hcl_string(cmd)))
        self.wait_file(lambda t: t is not None and "foo-app" in t)
        listing = wait_for(lambda: read_or_none(fds), 10 * SLOW,
                           "the command's fd listing")
        self.assertTrue(listing.startswith("ok"), listing)
        self.assertNotIn("socket:", listing, listing)
        self.assertIsNone(d.proc.poll())

    def test_agent_self_read_once_for_the_seed(self):
        # The default seed is the agent's node name. /v1/agent/self cannot
        # block, so a watch on it would be re-polled every minute: it is
        # read once and unwatched, leaving nothing to wake an idle daemon.
        cfg = self.config()
        with open(cfg) as f:
            text = f.read().replace('order { mode = "none" }',
                                    'order { mode = "stable" }')
        with open(cfg, "w") as f:
            f.write(text)
        d = self.daemon("-log-level", "debug", cfg=cfg)
        d.wait_log('with seed "consul-server-1"')
        d.wait_log("no longer watching agent.self")
        d.wait_log("ready")
        self.assertEqual(len(self.sim.requests("/v1/agent/self")["requests"]),
                         1)
        # A change renders with the same seed and asks the agent nothing.
        add_app(self.sim, "foo-app04", "192.0.2.14")
        self.wait_file(lambda t: t is not None and "192.0.2.14" in t)
        self.assertEqual(len(self.sim.requests("/v1/agent/self")["requests"]),
                         1)
        self.assertEqual(d.count("with seed"), 1)

    def test_sighup_drops_removed_template_deps(self):
        db_tmpl = self.tmp.write(
            "db.tmpl", '{{ range service "foo-db" }}{{ .Address }} db\n'
            '{{ end }}')
        db_dest = self.tmp.join("db-hosts")
        cfg = self.config(templates=[(self.tmpl, self.dest, ""),
                                     (db_tmpl, db_dest, "")])
        d = self.daemon(cfg=cfg)
        self.wait_file(APP_SEED)
        self.wait_file(lambda t: t is not None and " db" in t, path=db_dest)
        self.await_blocked("/v1/health/service/foo-db", min_index=1)
        self.config(templates=[(self.tmpl, self.dest, "")])
        d.signal(signal.SIGHUP)
        d.wait_log("reloading")
        d.wait_log("ready", start=d.wait_log("reloading"))
        self.assert_unwatched("/v1/health/service/foo-db")


class OnceGivesUp(DaemonCase):
    """-once gives up as consul-template does: after as long as its
    retries take (attempts 3 at 50 ms doubling to 200 ms: 0.35 s here;
    12 by default: about 5 min), at once with retries off, never with
    attempts = 0. The daemon never gives up (Outages above)."""

    def once(self, *args, consul_extra="", timeout=30):
        cfg = self.config(consul_extra=consul_extra)
        t0 = time.monotonic()
        r = run_checked(["-config", cfg, "-once"] + list(args),
                        timeout=timeout)
        return r, time.monotonic() - t0

    def test_gives_up_after_the_retry_budget(self):
        self.sim.stop()
        r, took = self.once(consul_extra="  retry { attempts = 3 }\n")
        print("-once with Consul down: exit %d after %.2fs"
              % (r.returncode, took))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("giving up on", r.stderr)
        self.assertIn("retry attempts 3", r.stderr)
        self.assertGreater(took, 0.35)
        self.assertLess(took, time_bound(5))
        self.assertIsNone(read_or_none(self.dest))

    def test_retry_disabled_gives_up_at_once(self):
        self.sim.set_fault("no-leader", path=HEALTH)
        r, took = self.once("-consul-retry=false")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("retries are disabled", r.stderr)
        self.assertIn("No cluster leader", r.stderr)
        self.assertEqual(len(self.sim.requests(HEALTH)["requests"]), 1)
        self.assertLess(took, time_bound(5))
        self.assertIsNone(read_or_none(self.dest))

    def test_attempts_0_waits_for_consul(self):
        self.sim.stop()
        cfg = self.config(consul_extra="  retry { attempts = 0 }\n")
        d = self.daemon("-once", "-log-level", "debug", cfg=cfg)
        i = d.wait_log("retrying")
        for _ in range(5):
            i = d.wait_log("retrying", start=i + 1)
        self.assertIsNone(d.proc.poll())
        self.sim.start()
        self.assertEqual(d.proc.wait(20 * SLOW), 0, d.log())
        self.assertEqual(read_or_none(self.dest), APP_SEED)


class Secrets(DaemonCase):
    TOKEN = "0d15ea5e-7043-4e0a-b000-5ec7e7c0ffee"

    def test_token_flag_scrubbed_from_ps(self):
        if os.environ.get("CH_VALGRIND") not in (None, "", "0"):
            self.skipTest("under valgrind /proc/PID/cmdline is valgrind's")
        for args in (["-consul-token", self.TOKEN],
                     ["--consul-token=" + self.TOKEN]):
            d = self.daemon(*args)
            self.wait_file(APP_SEED)
            with open("/proc/%d/cmdline" % d.proc.pid, "rb") as f:
                cmdline = f.read().decode()
            self.assertNotIn(self.TOKEN, cmdline)
            self.assertIn("consul-token", cmdline)
            self.assertIn("x" * len(self.TOKEN), cmdline)
            # It was still used.
            self.assertTrue(self.sim.requests(HEALTH)["requests"][-1]
                            ["token_present"])
            self.assertEqual(d.stop(), 0)
            os.unlink(self.dest)

    def test_commands_do_not_inherit_the_token(self):
        out = self.tmp.join("env")
        cmd = "env > %s" % shlex.quote(out)
        cfg = self.config(command=False,
                          tmpl_extra="command = %s" % hcl_string(cmd))
        token_file = self.tmp.join("token")
        with open(token_file, "w") as f:
            f.write(self.TOKEN + "\n")
        self.daemon(cfg=cfg, env={"CONSUL_HTTP_TOKEN": self.TOKEN,
                                  "CONSUL_TOKEN": self.TOKEN,
                                  "CONSUL_HTTP_TOKEN_FILE": token_file,
                                  "CONSUL_TOKEN_FILE": token_file,
                                  "CH_TEST_MARKER": "kept"})
        self.wait_file(APP_SEED)
        env = wait_for(lambda: read_or_none(out), 10, "the command's env")
        self.assertNotIn(self.TOKEN, env)
        self.assertNotIn("CONSUL_HTTP_TOKEN", env)
        self.assertNotIn("CONSUL_TOKEN", env)
        self.assertNotIn(token_file, env)
        self.assertIn("CH_TEST_MARKER=kept", env)
        # The daemon used it.
        self.assertTrue(self.sim.requests(HEALTH)["requests"][0]
                        ["token_present"])

    def test_clear_text_token_warning(self):
        # http:// to an address that is not loopback: said once at start.
        # (Nothing listens there; the warning comes before any request.)
        cfg = self.config(address="http://192.0.2.1:8500")
        d = self.daemon("-consul-token", self.TOKEN, cfg=cfg)
        d.wait_log("clear text")
        self.assertEqual(d.count("clear text"), 1)
        self.assertNotIn(self.TOKEN, d.log())


NODES_TMPL = ('{{ range nodes }}{{ .Address }} {{ .Node }}\n{{ end }}'
              '# end\n')


class JoinSettle(DaemonCase):
    def test_node_join_settle_defers_the_next_node_list(self):
        """node_join_settle with the real decoder (the node list is a blob
        of compact records): after an answer that only added a node, the
        list is asked again only once the setting has passed, so a second
        join is seen no sooner; a removal is never deferred (off by
        default, and not after a removal)."""
        self.tmp.write("app.tmpl", NODES_TMPL)
        cfg = self.config(extra='node_join_settle = "2s"')
        self.daemon(cfg=cfg)
        self.wait_file(lambda t: t is not None and "foo-app01" in t)
        self.sim.register_node("join-1", "10.0.0.1")
        self.wait_file(lambda t: t is not None and "join-1" in t)
        t1 = time.monotonic()
        self.sim.register_node("join-2", "10.0.0.2")
        self.wait_file(lambda t: t is not None and "join-2" in t)
        self.assertGreaterEqual(time.monotonic() - t1, 1.5)


class Names(DaemonCase):
    """Consul records cannot take names this machine resolves: localhost
    and its variants, configured names, this node's own hostname (unless
    at one of its own addresses). The template itself is unaffected."""

    def test_reserved_names_are_dropped_and_named_once(self):
        host = socket.gethostname().split(".")[0]
        self.tmp.write("app.tmpl", NODES_TMPL + "127.0.0.1 localhost\n")
        hostile = [("localhost", "10.6.6.1"), ("LOCALHOST.", "10.6.6.2"),
                   ("ip6-localhost", "10.6.6.3"),
                   ("www.example.com", "10.6.6.4"),
                   ("db.corp.example", "10.6.6.5"), (host, "10.6.6.6")]
        for node, addr in hostile:
            self.sim.register_node(node, addr)
        self.sim.register_node("good-1", "10.0.0.1")
        cfg = self.config(extra='reserved_names = ["www.example.com", '
                          '"*.corp.example"]')
        d = self.daemon("-log-level", "debug", cfg=cfg)
        text = self.wait_file(lambda t: t is not None and "good-1" in t
                              and t)
        for node, addr in hostile:
            self.assertNotIn(addr, text)
            d.wait_log('node "%s": reserved name' % node)
        # The template's own text is not a Consul record.
        self.assertIn("127.0.0.1 localhost\n", text)
        self.assertIn("10.0.0.1 good-1\n", text)
        # Another change of the catalog: each drop was named once.
        self.sim.register_node("good-2", "10.0.0.2")
        self.wait_file(lambda t: t is not None and "good-2" in t)
        self.sim.register_node("good-3", "10.0.0.3")
        self.wait_file(lambda t: t is not None and "good-3" in t)
        self.assertEqual(d.count('dropped node "localhost"'), 1, d.log())
        self.assertEqual(d.count('dropped node "www.example.com"'), 1)

    def test_meta_with_a_tab_keeps_the_node(self):
        self.tmp.write("app.tmpl", '{{ range nodes }}{{ .Address }} '
                       '{{ .Node }}{{ with .Meta.rack }} # {{ . }}{{ end }}'
                       '\n{{ end }}')
        self.sim.register_node("racked", "10.0.0.7",
                               meta={"rack": "r1\tr2", "note": "a\nb"})
        d = self.daemon()
        text = self.wait_file(lambda t: t is not None and "racked" in t
                              and t)
        self.assertIn("10.0.0.7 racked # r1 r2\n", text)
        self.assertNotIn("Meta", d.log())


APP_TMPL_DB = ('{{ range service "foo-app" }}{{ .Address }} {{ .Node }}.app\n'
               '{{ end }}{{ if keyOrDefault "use-db" "" }}'
               '{{ range service "foo-db" }}{{ .Address }} foo-db\n{{ end }}'
               '{{ end }}')


if __name__ == "__main__":
    unittest.main()
