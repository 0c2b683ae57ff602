"""Shared pieces for the integration tests: the simulator, the binary, temp dirs.

Every test runs the real consul-hosts binary (CH_BIN) against the Consul API
simulator (tests/sim/consul_sim.py) on loopback. Waits are bounded and wait
for events (a file appearing, a line on stderr, a request reaching the
simulator), never for fixed sleeps.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SRC = os.environ.get("CH_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CH_BIN") or os.path.join(SRC, "build", "consul-hosts")
sys.path.insert(0, os.path.join(SRC, "tests", "sim"))

import consul_sim  # noqa: E402

SEED = os.path.join(SRC, "tests", "sim", "seed-catalog.json")
HOSTS_TMPL = os.path.join(SRC, "templates", "hosts.tmpl")


def start_sim(**kw):
    kw.setdefault("seed", SEED)
    kw.setdefault("quiet", True)
    sim = consul_sim.ConsulSim(**kw)
    sim.start()
    return sim


def run(args, timeout=30, env=None, input=None):
    """Run the binary to completion; returns CompletedProcess (text)."""
    return subprocess.run(command_prefix() + [BIN] + list(args),
                          capture_output=True, text=True,
                          timeout=timeout * SLOW, env=clean_env(env),
                          input=input)


class Daemon:
    """consul-hosts running in the background, stderr collected by a thread.

    wait_log(pattern) blocks until a log line containing pattern appears (or
    the timeout passes), so tests wait for what the daemon says it did.
    """

    def __init__(self, args, env=None):
        self.proc = subprocess.Popen(command_prefix() + [BIN] + list(args),
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=clean_env(env))
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF marker
            self.cond.notify_all()

    def wait_log(self, needle, timeout=15, start=0):
        """Index of the first line from start containing needle (or, if
        needle is callable, for which needle(line) is true).

        start matters: a line the daemon printed for an earlier event
        may still be arriving, so pass the index of the line that
        announced the event you wait on (e.g. "reloading")."""
        deadline = time.monotonic() + timeout * SLOW
        match = needle if callable(needle) else (lambda l: needle in l)
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    line = self.lines[i]
                    if line is not None and match(line):
                        return i
                if self.lines and self.lines[-1] is None:
                    raise AssertionError("daemon exited before logging %r:\n%s"
                                         % (needle, self.log()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no log line %r within %ss:\n%s"
                                         % (needle, timeout, self.log()))
                self.cond.wait(left)

    def count(self, needle):
        with self.cond:
            return sum(1 for l in self.lines if l is not None and needle in l)

    def log(self):
        with self.cond:
            return "\n".join(l for l in self.lines if l is not None)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=15, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


class TempDir:
    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ch-test-")
        self.path = self.tmp.name

    def join(self, *p):
        return os.path.join(self.path, *p)

    def write(self, name, text):
        path = self.join(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def read(self, name):
        with open(self.join(name)) as f:
            return f.read()

    def cleanup(self):
        self.tmp.cleanup()


def wait_for(pred, timeout=15, what="condition"):
    """Poll a cheap predicate (file contents) with a short bounded back-off.

    Used only where no event exists to wait on (a file changing on disk).
    """
    deadline = time.monotonic() + timeout * SLOW
    delay = 0.01
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


# ---------------------------------------------------------------- additions
# Used by test_daemon.py, test_faults.py and test_explain.py.

import ipaddress  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402

VALGRIND = os.environ.get("CH_VALGRIND") not in (None, "", "0")
# Everything the daemon waits for takes longer under valgrind.
SLOW = 8 if VALGRIND else 1


def _sanitized():
    """The binary was built with ASan (it starts and exits slower: the
    leak check runs at exit)."""
    try:
        with open(BIN, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SANITIZED = _sanitized()


def load_factor():
    """How much slower than an idle machine this one runs right now (CI
    runs two test files at once on 2 cores, next to compilers)."""
    try:
        per_cpu = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        per_cpu = 1.0
    return max(1.0, per_cpu)


def time_bound(seconds):
    """An upper bound on elapsed time, scaled for valgrind, sanitizers
    and the machine's load. Only for "promptly" assertions; waits for
    events use their own (SLOW-scaled) timeouts."""
    return seconds * SLOW * (2 if SANITIZED else 1) * load_factor()


def command_prefix():
    """valgrind when CH_VALGRIND=1 (leaks or errors: exit 99)."""
    if not VALGRIND:
        return []
    return ["valgrind", "--leak-check=full", "--error-exitcode=99",
            "--errors-for-leak-kinds=definite", "--quiet",
            "--trace-children=no"]


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "== ERROR SUMMARY: ", "definitely lost")


def assert_no_sanitizer_report(tc, text):
    for mark in SANITIZER_MARKS:
        if mark == "== ERROR SUMMARY: " and "ERROR SUMMARY: 0 errors" in text:
            continue
        tc.assertNotIn(mark, text, "sanitizer/valgrind report:\n" + text)


def clean_env(env=None):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("CONSUL_") or k in ("NOTIFY_SOCKET", "WATCHDOG_USEC",
                                            "WATCHDOG_PID", "CT_LOG",
                                            "CT_LOCAL_CONFIG"):
            del e[k]
    if env:
        e.update(env)
    return e


def run_checked(args, timeout=30, env=None, input=None):
    """run() with the valgrind prefix when CH_VALGRIND is set."""
    return subprocess.run(command_prefix() + [BIN] + list(args),
                          capture_output=True, text=True,
                          timeout=timeout * SLOW, env=clean_env(env),
                          input=input)


def start_daemon(args, env=None):
    """A Daemon, under valgrind when CH_VALGRIND is set."""
    d = Daemon.__new__(Daemon)
    d.proc = subprocess.Popen(command_prefix() + [BIN] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=clean_env(env))
    d.lines = []
    d.cond = threading.Condition()
    d.reader = threading.Thread(target=d._read, daemon=True)
    d.reader.start()
    return d


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})"
                       r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$")


def hosts_line_problem(line):
    """None when line is a valid hosts line (or comment/blank), else why."""
    body = line.split("#", 1)[0]
    if not body.strip():
        return None
    if any(ord(c) < 0x20 and c != "\t" or ord(c) > 0x7e for c in body):
        return "control or non-ASCII character"
    fields = body.split()
    if len(fields) < 2:
        return "no name"
    try:
        ipaddress.ip_address(fields[0].split("%", 1)[0])
    except ValueError:
        return "bad address %r" % fields[0]
    for name in fields[1:]:
        if not _HOSTNAME.match(name):
            return "bad name %r" % name
    return None


def assert_hosts_valid(tc, text):
    for i, line in enumerate(text.split("\n"), 1):
        p = hosts_line_problem(line)
        tc.assertIsNone(p, "line %d %r: %s" % (i, line, p))


def read_or_none(path):
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return "<directory>"


class FileReader:
    """A thread reading path in a loop, as a hosts reader would.

    Every distinct content it sees is kept in seen (None: no file), so a
    test can assert each one was a complete render.
    """

    def __init__(self, path):
        self.path = path
        self.seen = set()
        self.reads = 0
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop_ev.is_set():
            self.seen.add(read_or_none(self.path))
            self.reads += 1
            time.sleep(0.0005)

    def stop(self, min_reads=11):
        """Stop once it has read at least min_reads times (bounded), so a
        fast test still had a reader: failover-first publishes can be
        over within a few reads."""
        deadline = time.monotonic() + 5 * SLOW
        while self.reads < min_reads and time.monotonic() < deadline \
                and self.thread.is_alive():
            time.sleep(0.001)
        self.stop_ev.set()
        self.thread.join(5)
        return self.seen


class NotifySocket:
    """A bound AF_UNIX datagram socket for NOTIFY_SOCKET.

    Each datagram is recorded with what the watched file held when it
    arrived, so tests can assert ordering (READY=1 after the file).
    """

    def __init__(self, path, watch_file=None):
        self.path = path
        self.watch_file = watch_file
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.msgs = []   # (text, file content at arrival)
        self.cond = threading.Condition()
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop_ev.is_set():
            try:
                data = self.sock.recv(8192)
            except socket.timeout:
                continue
            except OSError:
                return
            snap = read_or_none(self.watch_file) if self.watch_file else None
            with self.cond:
                self.msgs.append((data.decode("utf-8", "replace"), snap))
                self.cond.notify_all()

    def wait(self, needle, timeout=15, start=0):
        """Index of the first datagram from start containing needle."""
        deadline = time.monotonic() + timeout * SLOW
        with self.cond:
            while True:
                for i in range(start, len(self.msgs)):
                    if needle in self.msgs[i][0]:
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no datagram %r within %ss: %r"
                                         % (needle, timeout, self.msgs))
                self.cond.wait(left)

    def texts(self):
        with self.cond:
            return [m[0] for m in self.msgs]

    def close(self):
        self.stop_ev.set()
        self.thread.join(5)
        self.sock.close()


def counter_command(path):
    """A shell command that appends one line to path per run."""
    return "echo run >> '%s'" % path


def count_lines(path):
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def hcl_string(s):
    return json.dumps(s)


# foo-app's instances, one line each, in consul-template's order (-order none).
APP_TMPL = ('{{ range service "foo-app" }}{{ .Address }} {{ .Node }}.app\n'
            '{{ end }}')
APP_SEED = ("192.0.2.11 foo-app01.app\n192.0.2.12 foo-app02.app\n"
            "192.0.2.13 foo-app03.app\n")


def app_lines(*nodes):
    """Expected APP_TMPL output for (address, node) pairs, sorted by node."""
    return "".join("%s %s.app\n" % (a, n)
                   for a, n in sorted(nodes, key=lambda x: x[1].lower()))


class DaemonCase(unittest.TestCase):
    """A simulator, a temp dir and a config file per test.

    config() writes config.hcl: the simulator's address, short retry
    backoff, one template (source file tmpl, destination dest) whose
    command appends to a counter file, no command budget.
    """

    sim_kw = {}

    def setUp(self):
        self.sim = start_sim(**self.sim_kw)
        self.addCleanup(self.sim.stop)
        self.tmp = TempDir()
        self.addCleanup(self.tmp.cleanup)
        self.dest = self.tmp.join("hosts")
        self.counter = self.tmp.join("runs")
        self.tmpl = self.tmp.write("app.tmpl", APP_TMPL)
        self.daemons = []

    def config(self, tmpl_extra="", extra="", address=None, command=True,
               name="config.hcl", templates=None, consul_extra="",
               guards=False):
        """guards=False turns the publish guards off (most tests shrink
        the catalog on purpose); test_faults turns them on."""
        consul = 'address = %s\n' % hcl_string(address or self.sim.address)
        consul += consul_extra
        text = ('consul {\n  %s  retry {\n    backoff = "50ms"\n'
                '    max_backoff = "200ms"\n  }\n}\n' % consul)
        text += 'order { mode = "none" }\n' + extra + "\n"
        if templates is None:
            templates = [(self.tmpl, self.dest, tmpl_extra)]
        for src, dest, more in templates:
            text += "template {\n  source = %s\n  destination = %s\n" % (
                hcl_string(src), hcl_string(dest))
            if command:
                text += "  command = %s\n" % hcl_string(
                    counter_command(self.counter))
            text += '  command_window = "0s"\n'
            if not guards:
                text += "  guard {\n    enabled = false\n  }\n"
            text += more + "\n}\n"
        return self.tmp.write(name, text)

    def daemon(self, *args, env=None, cfg=True):
        a = []
        if cfg:
            a = ["-config", cfg if isinstance(cfg, str) else self.config()]
        d = start_daemon(a + list(args), env=env)
        self.daemons.append(d)
        self.addCleanup(self._reap, d)
        return d

    def _reap(self, d):
        """Stop gracefully (so sanitizers and valgrind check the exit),
        then fail the test on any sanitizer or valgrind report."""
        if d.proc.poll() is None:
            d.proc.send_signal(15)
            try:
                d.proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                d.proc.kill()
                d.proc.wait(10)
                self.fail("daemon ignored SIGTERM:\n" + d.log())
        d.reader.join(10)
        for f in (d.proc.stdout, d.proc.stderr):
            if f is not None:
                f.close()
        assert_no_sanitizer_report(self, d.log())
        if VALGRIND:
            self.assertNotEqual(d.proc.returncode, 99,
                                "valgrind found errors:\n" + d.log())

    def wait_file(self, want, timeout=15, path=None):
        path = path or self.dest
        if callable(want):
            return wait_for(lambda: want(read_or_none(path)), timeout,
                            "%s to match" % path)
        return wait_for(lambda: read_or_none(path) == want, timeout,
                        "%s == %r (have %r)" % (path, want, "?"))

    def await_blocked(self, path, min_index=None, timeout=10):
        """A blocking query on path is parked in the simulator, with an
        index >= min_index: the daemon has taken the previous answer."""
        def pred():
            # Parked right now (sim.blocked), not merely in flight: an
            # entry's status is still None while its answer is being
            # written, or before it has taken a fault.
            for e in self.sim.log:
                if (e["id"] not in self.sim.blocked
                        or not e["path"].startswith(path)):
                    continue
                idx = e["query"].get("index", ["0"])[0]
                if min_index is None or int(idx or 0) >= min_index:
                    return True
            return False
        ok = self.sim.wait_for(pred, timeout * SLOW)
        self.assertTrue(ok, "no blocked query on %s with index >= %s: %s"
                        % (path, min_index, self.sim.state()))
