"""Shared pieces of the benchmark drivers (python3, standard library only).

- Sim: the Consul simulator in its own process (sim_counting.py, so the
  request log has wire bytes), driven through its /_sim/ control API.
- Daemon: consul-hosts in the background, log to a file.
- DirWatch: inotify (ctypes) on a directory; IN_MOVED_TO is the event
  "a new file was renamed into place", timestamped with CLOCK_MONOTONIC.
- catalog(): a synthetic seed catalog with the same names as
  render_bench.c (svc-NNNNN on node-NNNNN, P per service, K per node).
- proc_*: RSS, peak RSS and CPU time of a pid from /proc.
- BareClient: the floor, a plain blocking query re-armed with its index.
- RenameWatch: each rename of one file into place, timestamped, with the
  text it brought (read at once).
"""

import ctypes
import ctypes.util
import gzip
import http.client
import json
import os
import platform
import queue
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.environ.get("CH_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CH_BUILD_DIR") or os.path.join(SRC, "build-bench")
BIN = os.environ.get("CH_BIN") or os.path.join(BUILD, "consul-hosts")
RENDER_BENCH = os.environ.get("CH_RENDER_BENCH") or os.path.join(
    BUILD, "tests", "bench", "render_bench")
HOSTS_TMPL = os.path.join(SRC, "templates", "hosts.tmpl")
SEED = os.path.join(SRC, "tests", "sim", "seed-catalog.json")
SIM = os.path.join(SRC, "tests", "bench", "sim_counting.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "mem_mib": mem, "python": platform.python_version()}


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def write_result(out_dir, name, data):
    os.makedirs(out_dir, exist_ok=True)
    data = dict(data, machine=machine(), when=time.strftime(
        "%Y-%m-%dT%H:%M:%S%z"))
    path = os.path.join(out_dir, name + ".json")
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.rename(path + ".tmp", path)
    return path


# ------------------------------------------------------------ catalog
def catalog(instances, per_service=10, per_node=5, checks=True):
    """A seed document for the simulator: instances spread over
    instances/per_service services on instances/per_node nodes, each
    service's instances on distinct nodes (as render_bench.c)."""
    services = (instances + per_service - 1) // per_service
    nodes = max((instances + per_node - 1) // per_node, per_service)
    doc = {"Datacenter": "dc1", "Datacenters": ["dc1"],
           "Leader": "127.0.0.1:8300",
           "Agent": {"NodeName": "node-00000", "Address": "10.0.0.0",
                     "Version": "1.21.3"},
           "Nodes": []}
    by_node = [[] for _ in range(nodes)]
    for s in range(services):
        for k in range(per_service):
            if s * per_service + k >= instances:
                break
            by_node[(s * per_service + k) % nodes].append(s)
    for i in range(nodes):
        name = "node-%05d" % i
        addr = "10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)
        n = {"Node": name, "Address": addr,
             "ID": "8e1f1c0a-0000-4000-8000-%012d" % i,
             "Meta": {"consul-network-segment": "",
                      "consul-version": "1.21.3"},
             "Checks": [], "Services": []}
        if checks:
            n["Checks"].append({"CheckID": "serfHealth",
                                "Name": "Serf Health Status",
                                "Status": "passing",
                                "Output": "Agent alive and reachable"})
        for s in by_node[i]:
            svc = "svc-%05d" % s
            e = {"ID": svc, "Name": svc, "Tags": ["prod", "v2"],
                 "Port": 8000 + s % 1000, "Meta": {"version": "2.4.1"}}
            if checks:
                e["Checks"] = [{"CheckID": "service:" + svc,
                                "Name": "Service check",
                                "Status": "passing",
                                "Output": "HTTP GET /health: 200 OK"}]
            n["Services"].append(e)
        doc["Nodes"].append(n)
    return doc, services, nodes


def instance_of(s, k=0, per_service=10, nodes=None):
    """(node name, service name) of instance k of service s."""
    return ("node-%05d" % ((s * per_service + k) % nodes), "svc-%05d" % s)


# ------------------------------------------------------------ simulator
class Sim:
    """consul_sim in a child process (so its GIL is not ours)."""

    def __init__(self, seed=SEED, max_conns=None, tmp=None, jitter=True):
        self.tmp = tmp or tempfile.mkdtemp(prefix="ch-bench-sim-")
        port_file = os.path.join(self.tmp, "sim.port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        args = [sys.executable, SIM, "--listen", "127.0.0.1:0",
                "--port-file", port_file, "--quiet"]
        if seed is not None:
            if not isinstance(seed, str):
                path = os.path.join(self.tmp, "seed.json")
                with open(path, "w") as f:
                    json.dump(seed, f)
                seed = path
            args += ["--seed", seed]
        if max_conns is not None:
            args += ["--max-conns-per-client", str(max_conns)]
        if not jitter:
            args.append("--no-jitter")
        # Its tracebacks (clients hanging up mid-answer) go to a file.
        self.errf = open(os.path.join(self.tmp, "sim.err"), "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stderr=self.errf)
        deadline = time.monotonic() + 300
        while not os.path.exists(port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("simulator exited: %s" % self.proc.returncode)
            if time.monotonic() > deadline:
                raise RuntimeError("simulator did not start")
            time.sleep(0.05)  # the port file appears once; nothing to await
        with open(port_file) as f:
            self.port = int(f.read())
        self.address = "127.0.0.1:%d" % self.port
        self.local = threading.local()

    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", self.port,
                                           timeout=600)
            self.local.conn = c
        return c

    def ctl(self, action, body=None, method="POST"):
        data = json.dumps(body or {}).encode()
        for attempt in (0, 1):
            c = self._conn()
            try:
                c.request(method, "/_sim/" + action,
                          body=data if method == "POST" else None,
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                text = r.read()
                if r.status != 200:
                    raise RuntimeError("sim %s: %s %s" % (action, r.status,
                                                          text[:200]))
                return json.loads(text) if text else None
            except (ConnectionError, http.client.HTTPException):
                c.close()
                self.local.conn = None
                if attempt:
                    raise

    def requests(self):
        return self.ctl("requests", method="GET")

    def reset_log(self):
        return self.ctl("reset-log")

    def await_blocked(self, path, count, timeout=10):
        return self.ctl("await-requests", {"path": path, "count": count,
                                           "blocked": True,
                                           "timeout": timeout})

    def set_check(self, node, check_id, status, service_id=""):
        return self.ctl("set-check", {"node": node, "check_id": check_id,
                                      "status": status,
                                      "service_id": service_id})

    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errf.close()


def api_entries(reqs, since=None, until=None, ua_prefix=None):
    """Daemon API requests from a /_sim/requests answer, optionally within
    [since, until] (time.time() values) and by User-Agent prefix."""
    out = []
    for e in reqs["requests"]:
        if since is not None and e["time"] < since:
            continue
        if until is not None and e["time"] > until:
            continue
        ua = e["headers"].get("User-Agent", "")
        if ua_prefix is not None and not ua.startswith(ua_prefix):
            continue
        out.append(e)
    return out


# ------------------------------------------------------------ daemon
class Daemon:
    def __init__(self, args, log_path, prefix=()):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CONSUL_") and k not in (
                   "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        self.log_path = log_path
        self.logf = open(log_path, "wb")
        self.proc = subprocess.Popen(list(prefix) + [BIN] + list(args),
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=self.logf, env=env)
        self.pid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=20, signalled=False):
        """SIGTERM (unless signalled: sent already) and wait. A second
        SIGTERM during the graceful stop kills the daemon by the signal
        (exit -15), so it is sent once."""
        if self.proc.poll() is None:
            if not signalled:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode


def daemon_args(sim, dest, extra=(), tmpl=HOSTS_TMPL):
    return ["-consul-addr", sim.address, "-template",
            "%s:%s" % (tmpl, dest), "-log-level", "warn"] + list(extra)


# ------------------------------------------------------------ /proc
def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])
    return out


def proc_rss_kib(pid):
    return proc_status(pid).get("VmRSS")


def proc_cpu_s(pid):
    """utime + stime of every thread, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_times(pid):
    """user, sys of the process (all threads) and of its waited-for
    children (cuser, csys: the commands it ran), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return {k: int(fields[i]) / CLK_TCK
            for k, i in (("user", 11), ("sys", 12), ("cuser", 13),
                         ("csys", 14))}


def proc_tids(pid):
    return sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))


# ------------------------------------------------------------ inotify
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6",
                    use_errno=True)


class BareClient:
    """The floor: a plain blocking query on one endpoint (path has a
    query string already), one at a time, re-armed with the answer's
    index; gzip asked for as the daemon asks. fetch() records when the
    whole answer was read (t_done, monotonic ns) and its size (bytes on
    the wire, raw_bytes unzipped); arm() runs the next fetch in a thread,
    done is set when it returns.

    A new connection per round (opened before the change, so not
    measured): on a kept-alive connection http.client stalls 40 ms on the
    simulator's separate header and chunk writes (Nagle and delayed ACK),
    which would flatter the daemon.
    """

    def __init__(self, port, path):
        self.port = port
        self.path = path
        self.index = 0
        self.done = threading.Event()
        self.t_done = None
        self.thread = None
        self.bytes = self.raw_bytes = 0

    def fetch(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=600)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.request("GET", "%s&index=%d&wait=5m" % (self.path, self.index),
                     headers={"Accept-Encoding": "gzip"})
        r = conn.getresponse()
        data = r.read()
        self.t_done = time.monotonic_ns()
        conn.close()
        self.bytes = len(data)
        self.raw_bytes = len(gzip.decompress(data)) if (
            r.getheader("Content-Encoding") == "gzip") else len(data)
        self.index = int(r.getheader("X-Consul-Index") or 0)
        self.done.set()

    def arm(self):
        self.done.clear()
        self.thread = threading.Thread(target=self.fetch, daemon=True)
        self.thread.start()


class DirWatch:
    """inotify on a directory: events (monotonic_ns, mask, name) in a
    queue, read by a thread blocked in poll() (no GIL while waiting)."""

    def __init__(self, path, mask=IN_MOVED_TO):
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")
        self.events = queue.Queue()
        self.counts = {}
        self.rpipe, self.wpipe = os.pipe()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        p = select.poll()
        p.register(self.fd, select.POLLIN)
        p.register(self.rpipe, select.POLLIN)
        while True:
            ready = p.poll()
            now = time.monotonic_ns()
            if any(fd == self.rpipe for fd, _ in ready):
                return
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            off = 0
            while off + 16 <= len(data):
                _, mask, _, nlen = struct.unpack_from("iIII", data, off)
                name = data[off + 16:off + 16 + nlen].rstrip(b"\0").decode(
                    errors="replace")
                off += 16 + nlen
                self.counts[name] = self.counts.get(name, 0) + 1
                self.events.put((now, mask, name))

    def get(self, timeout):
        """The next event, or None after timeout seconds."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def wait_name(self, name, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ev = self.get(left)
            if ev is not None and ev[2] == name:
                return ev

    def drain(self):
        n = 0
        while self.get(0) is not None:
            n += 1
        return n

    def close(self):
        os.write(self.wpipe, b"x")
        self.thread.join(5)
        os.close(self.fd)
        os.close(self.rpipe)
        os.close(self.wpipe)


class RenameWatch:
    """Each rename of path into place: (monotonic_ns, text) in records.

    inotify IN_MOVED_TO on the directory, read by a thread blocked in
    poll() (no GIL while it waits). The time is taken when the thread
    wakes (tens of microseconds after the rename), then the file is read
    at once. When another rename event is already queued after that read,
    the text may be the later file's: it is read again and recorded under
    the later event's time (a rename is never attributed an earlier time
    than its own; rereads counts how often that happened).
    """

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.records = []
        self.rereads = 0
        self.cond = threading.Condition()
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(
            os.path.dirname(path) or "."), IN_MOVED_TO)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")
        self.rpipe, self.wpipe = os.pipe()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _ours(self):
        """Read the queued events; whether one is our file's rename."""
        ours = False
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return ours
            off = 0
            while off + 16 <= len(data):
                nlen = struct.unpack_from("iIII", data, off)[3]
                name = data[off + 16:off + 16 + nlen].rstrip(b"\0")
                off += 16 + nlen
                ours = ours or name.decode(errors="replace") == self.name
        return ours

    def _loop(self):
        p = select.poll()
        p.register(self.fd, select.POLLIN)
        p.register(self.rpipe, select.POLLIN)
        pending = select.poll()
        pending.register(self.fd, select.POLLIN)
        while True:
            ready = p.poll()
            t = time.monotonic_ns()
            if any(fd == self.rpipe for fd, _ in ready):
                return
            if not self._ours():
                continue
            while True:
                try:
                    with open(self.path, errors="replace") as f:
                        text = f.read()
                except OSError:
                    text = None
                if not pending.poll(0):
                    break
                t2 = time.monotonic_ns()
                if not self._ours():
                    break
                t = t2
                self.rereads += 1
            with self.cond:
                self.records.append((t, text))
                self.cond.notify_all()

    def first(self, pred, since_ns, timeout):
        """The first record at or after since_ns whose text satisfies
        pred, waiting up to timeout seconds for it; None when none."""
        deadline = time.monotonic() + timeout
        i = 0
        with self.cond:
            while True:
                while i < len(self.records):
                    t, text = self.records[i]
                    i += 1
                    if t >= since_ns and text is not None and pred(text):
                        return t, text
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def since(self, since_ns, until_ns=None):
        with self.cond:
            return [r for r in self.records if r[0] >= since_ns and (
                until_ns is None or r[0] <= until_ns)]

    def last_ns(self):
        with self.cond:
            return self.records[-1][0] if self.records else 0

    def close(self):
        os.write(self.wpipe, b"x")
        self.thread.join(5)
        os.close(self.fd)
        os.close(self.rpipe)
        os.close(self.wpipe)


def wait_file(path, timeout, proc=None):
    """Wait for path to exist (first render), with a bounded back-off."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    return True


def arg_parser(desc):
    import argparse
    ap = argparse.ArgumentParser(description=desc)
    ap.add_argument("--out", default=os.path.join(BUILD, "bench-results"),
                    help="directory for the JSON result")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny parameters: check the benchmark works")
    return ap
