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
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("CONSUL_"):
            del e[k]
    if env:
        e.update(env)
    return subprocess.run([BIN] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e, input=input)


class Daemon:
    """consul-hosts running in the background, stderr collected by a thread.

    wait_log(pattern) blocks until a log line containing pattern appears (or
    the timeout passes), so tests wait for what the daemon says it did.
    """

    def __init__(self, args, env=None):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("CONSUL_"):
                del e[k]
        if env:
            e.update(env)
        self.proc = subprocess.Popen([BIN] + list(args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=e)
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
        """Index of the first line from start containing needle."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    line = self.lines[i]
                    if line is not None and needle in line:
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
            return self.proc.wait(timeout)
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
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
