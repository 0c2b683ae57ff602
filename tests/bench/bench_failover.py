#!/usr/bin/env python3
"""Failover end to end: a Consul write, the file, a real dnsmasq answering.

The operators' setup, unchanged: the seed config (`consul = ...`, one
template {source = tests/sim/seed-hosts.ctmpl, destination, command}), the
Release binary, the simulator with the seed catalog, and Debian's dnsmasq
serving the destination with --addn-hosts on a loopback port. The command
is, per style:

  sighup   `kill -HUP <pid>` (the recommended one)
  restart  a script that kills dnsmasq and returns once a supervisor
           (this driver, as systemd's Restart= would) has started a new
           one: what `service dnsmasq restart` does

Changes, written over the HTTP API as a hook would (a fresh connection,
PUT /v1/catalog/(de)register), each measured from a quiet state:

  removal      a node stop: foo-app0N deregistered (N = 1, 2, 3 in turn);
               queried name foo-app.service.dc1.consul (3 -> 2 addresses)
  addition     the node registered again with its foo-app instance: the
               same name (2 -> 3 addresses)
  master gone  the failover's first write: foo-db-master deregistered
               (foo-db-master: an address -> no such name)
  address      the failover's second write, on its own: foo-db-master
               registered at its other address (192.0.2.111 <-> .110)
               with its foo-db instance (no such name -> the new address)
  failover     both writes back to back, the register sent as soon as the
               deregister is acknowledged (the real hook sequence); timed
               from the register (an address -> the other address)

Quiet state, before every measured write: at least 0.5 s without a rename
or a dnsmasq reload, every blocking query of the daemon parked in the
simulator, and the command budget (the seed's default: 4 runs in 10 s,
publish.h) able to run the change's commands at once: 2 runs for a single
write (a write can reach the daemon as two answers, two renders), 4 for the
back-to-back pair. Runs are seen as dnsmasq's "read FILE" lines (logged a
moment after the run starts, so the wait errs long). Kinds are interleaved
(removal, addition, master gone, address, failover, then again) so load
from elsewhere on the machine hits them alike.

Measured per change, all on CLOCK_MONOTONIC (shared by the processes):

  file   Consul write acknowledged (the PUT's answer read) -> the
         destination renamed into place with the new data for the name.
         inotify IN_MOVED_TO on the directory (benchlib.RenameWatch):
         the time is taken when the watching thread wakes, tens of
         microseconds after the rename; the file is read at once to see
         which render it is.
  dns    write acknowledged -> the first answer carrying the new data, from
         a separate process sending A queries for the name back to back
         (one UDP socket; the next query as soon as the last is answered,
         or after --query-retry-ms (2) if it is not, the unanswered one
         staying out until --query-timeout-ms (100) has passed: a query
         lost in a dying dnsmasq costs a real client its resolver timeout,
         5 s in glibc, but does not blind this one): resolution one query
         round trip (~0.1 ms).
  failed queries during the change (from the write until 0.3 s after the
         last rename or dnsmasq reload): timeouts, refusals (ICMP: nothing
         listening), SERVFAIL, and "no such name" where the name should
         have had addresses all along (foo-app.service). dnsmasq runs
         without upstream servers, so a name it does not have is REFUSED
         (a real one forwards and gets NXDOMAIN); where the name has no
         address by design (between the failover's two writes), that
         answer is data, not a failure.
  stale  answers sent after the rename (by send time) that are not the new
         data: old data, or no such name after the register's file is in
         place.
  outage the longest time between two good answers with failed ones in
         between.

Floors, in the same run: the bare blocking request (a plain HTTP client
parked on the endpoint that carries the change: health/service/foo-app,
catalog/nodes) woken by the same write, timed from the same ack; and
dnsmasq's own reload (a second dnsmasq with the same hosts file plus a
probe name: the driver renames the file and sends SIGHUP itself, or for
restart SIGTERM to the supervised process, and times the first answer
with the probe's new address), in the idle time between changes.
CPU: user+sys of consul-hosts over each style's run from /proc (and of
the commands it ran, its waited-for children), with the wall time.

  bench_failover.py [--changes 100] [--styles sighup,restart] [--smoke]
"""

import http.client
import json
import os
import queue
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import benchlib as bl

sys.path.insert(0, os.path.join(bl.SRC, "tests", "integration"))
import dnsq  # noqa: E402

SEED_TMPL = os.path.join(bl.SRC, "tests", "sim", "seed-hosts.ctmpl")
APP = "foo-app.service.dc1.consul"
APPS = (("foo-app01", "192.0.2.11"), ("foo-app02", "192.0.2.12"),
        ("foo-app03", "192.0.2.13"))
MASTER = "foo-db-master"
MASTER_ADDRS = ("192.0.2.111", "192.0.2.110")
PROBE = "floor-probe"
PROBE_ADDRS = ("192.0.2.201", "192.0.2.202")
SERF = {"CheckID": "serfHealth", "Name": "Serf Health Status",
        "Status": "passing", "Output": "Agent alive and reachable"}
# The daemon's blocking queries for the seed template (nodes, services,
# and `service .Name` for each service).
DEPS = ("/v1/catalog/nodes", "/v1/catalog/services",
        "/v1/health/service/consul", "/v1/health/service/foo-app",
        "/v1/health/service/foo-db")
# publish.h's defaults, which the seed config does not change.
BUDGET_RUNS = 4
BUDGET_WINDOW_NS = 10 * 10**9
BUDGET_MARGIN_NS = 300 * 10**6
QUIET_NS = 500 * 10**6
TAIL_NS = 300 * 10**6
NEW_TIMEOUT = 15.0
KINDS = ("removal", "addition", "master_gone", "address", "failover")
FAILED = ("timeout", "refused", "servfail", "bad", "rcode")
ABSENT = ("nxdomain", "norecord")

ms = 1e-6  # ns -> ms


# ------------------------------------------------------------ the querier
def querier_main():
    """The querier process: JSON commands on stdin, JSON lines on stdout.

    start {port, name, new, timeout_ms, retry_ms}: query name back to
      back (QueryLoop); says
      {"started": state} after the first answer and {"new": t} at the first
      answer whose state is new.
    stop: {"records": [[t_send, t_recv, code, addrs], ...]}.
    A state is the sorted addresses joined by ",", "" for no such name, or
    null for a failed query.
    """
    out_lock = threading.Lock()

    def emit(obj):
        with out_lock:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

    run = None
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "start":
            run = QueryLoop(cmd, emit)
            run.thread.start()
        elif cmd["op"] == "stop":
            run.stopping = True
            run.thread.join()
            emit({"records": run.records})
            run = None
        else:
            break
    return 0


def state_of(code, addrs):
    if code == "ok":
        return addrs
    if code in ABSENT:
        return ""
    return None


class QueryLoop:
    """Queries back to back: the next one goes as soon as the last is
    answered, or --query-retry-ms after it was sent when it is not (it stays
    outstanding until --query-timeout-ms, and any answer to it counts), so a
    query lost in a dying dnsmasq does not blind the client."""

    def __init__(self, cmd, emit):
        self.port = cmd["port"]
        self.question = dnsq.encode_name(cmd["name"]) + struct.pack(
            "!HH", dnsq.TYPE_A, dnsq.CLASS_IN)
        self.new = cmd["new"]
        self.timeout_ns = int(cmd["timeout_ms"] * 1e6)
        self.retry_ns = int(cmd["retry_ms"] * 1e6)
        self.interval_ns = int(cmd.get("interval_ms", 0) * 1e6)
        self.emit = emit
        self.records = []
        self.outstanding = {}  # qid -> send time
        self.stopping = False
        self.started = self.seen = False
        self.thread = threading.Thread(target=self.run, daemon=True)

    def record(self, qid, t1, code, addrs=""):
        t0 = self.outstanding.pop(qid)
        self.records.append((t0, t1, code, addrs))
        st = state_of(code, addrs)
        if not self.started:
            self.started = True
            self.emit({"started": st})
        if not self.seen and st == self.new:
            self.seen = True
            self.emit({"new": t1})

    def refused(self, t):
        """ICMP port unreachable: nothing listened for the newest query
        (on loopback the error is back before the next one is sent)."""
        if self.outstanding:
            self.record(max(self.outstanding, key=self.outstanding.get), t,
                        "refused")

    def answer(self, data, t):
        if len(data) < 2:
            return
        qid = struct.unpack("!H", data[:2])[0]
        if qid not in self.outstanding:
            return  # an answer to a query already timed out
        try:
            ans = dnsq.parse_response(data, qid, dnsq.TYPE_A)
        except dnsq.DnsError:
            return self.record(qid, t, "bad")
        if ans.rcode == 0:
            if ans.addrs:
                return self.record(qid, t, "ok", ",".join(ans.addrs))
            return self.record(qid, t, "norecord")
        if ans.rcode == 3:
            return self.record(qid, t, "nxdomain")
        if ans.rcode == 5:
            # REFUSED: dnsmasq has no such name and no upstream to ask.
            return self.record(qid, t, "norecord")
        if ans.rcode == 2:
            return self.record(qid, t, "servfail")
        return self.record(qid, t, "rcode", str(ans.rcode))

    def expire(self, now):
        for qid, t0 in list(self.outstanding.items()):
            if now - t0 >= self.timeout_ns:
                self.record(qid, t0 + self.timeout_ns, "timeout")

    def wait(self, sock, qid, until):
        """Read answers until qid is done or until (ns)."""
        while qid in self.outstanding:
            now = time.monotonic_ns()
            self.expire(now)
            if qid not in self.outstanding or now >= until:
                return
            left = until
            if self.outstanding:
                left = min(left, min(self.outstanding.values())
                           + self.timeout_ns)
            sock.settimeout(max(left - now, 1000) / 1e9)
            try:
                data = sock.recv(dnsq.MAX_DATAGRAM)
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                self.refused(time.monotonic_ns())
                continue
            self.answer(data, time.monotonic_ns())

    def run(self):
        qid = random.randrange(1 << 16)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("127.0.0.1", self.port))
            while not self.stopping:
                qid = (qid + 1) & 0xFFFF
                pkt = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + \
                    self.question
                t0 = time.monotonic_ns()
                try:
                    sock.send(pkt)
                except ConnectionRefusedError:
                    # An earlier query's error; this one was not sent.
                    self.refused(time.monotonic_ns())
                    continue
                self.outstanding[qid] = t0
                self.wait(sock, qid, t0 + self.retry_ns)
                if self.interval_ns:
                    # Paced (diagnosis): not back to back.
                    left = t0 + self.interval_ns - time.monotonic_ns()
                    if left > 0:
                        time.sleep(left / 1e9)
            # What is still out gets its answer or its timeout.
            while self.outstanding:
                self.wait(sock, min(self.outstanding,
                                    key=self.outstanding.get), 1 << 62)
        self.records.sort()


class Querier:
    """The querier process (its own GIL), driven from here."""

    def __init__(self, timeout_ms, retry_ms, interval_ms=0):
        self.timeout_ms = timeout_ms
        self.retry_ms = retry_ms
        self.interval_ms = interval_ms
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--querier"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            bufsize=1, env=env)
        self.msgs = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.msgs.put(json.loads(line))
        self.msgs.put(None)

    def _send(self, obj):
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def _next(self, key, timeout):
        try:
            m = self.msgs.get(timeout=timeout)
        except queue.Empty:
            return None
        if m is None:
            raise RuntimeError("querier exited")
        if key not in m:
            raise RuntimeError("querier: expected %s, got %r" % (key, m))
        return m[key]

    def start(self, port, name, new):
        """Start querying; the first answer's state."""
        self._send({"op": "start", "port": port, "name": name, "new": new,
                    "timeout_ms": self.timeout_ms,
                    "retry_ms": self.retry_ms,
                    "interval_ms": self.interval_ms})
        return self._next("started", 10)

    def wait_new(self, timeout):
        """When the first answer with the new state came, or None."""
        return self._next("new", timeout)

    def stop(self):
        self._send({"op": "stop"})
        # A "new" may be queued before the records.
        while True:
            m = self.msgs.get(timeout=30)
            if m is None:
                raise RuntimeError("querier exited")
            if "records" in m:
                return m["records"]

    def close(self):
        try:
            self._send({"op": "exit"})
        except (BrokenPipeError, ValueError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------ dnsmasq
class TimedDnsmasq(dnsq.Dnsmasq):
    """dnsq.Dnsmasq whose log lines carry the time they were read."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.times = []

    def _read(self, proc):
        for line in proc.stderr:
            t = time.monotonic_ns()
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.times.append(t)
                self.cond.notify_all()
        proc.stderr.close()
        with self.cond:
            self.eof = proc
            self.cond.notify_all()

    def reads(self, path):
        """Times of "read PATH - N names": one per reload or start."""
        needle = "read %s - " % path
        with self.cond:
            return [t for t, l in zip(self.times, self.lines)
                    if needle in l]

    def last_ns(self):
        with self.cond:
            return self.times[-1] if self.times else 0


def restart_script(tmp, dm, tag):
    """`service dnsmasq restart` for a supervised dnsmasq (as
    tests/integration/test_failover.py): kill it, return once the
    supervisor has started the new one."""
    fifo = os.path.join(tmp, "restarted-%s.fifo" % tag)
    os.mkfifo(fifo)
    dm.supervise(notify_fifo=fifo)
    script = os.path.join(tmp, "restart-dnsmasq-%s.sh" % tag)
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexec 3<>'%s'\nkill -TERM \"$(cat '%s')\" || "
                "exit 1\nread -r started <&3\n" % (fifo, dm.pid_file))
    return "sh " + script


# ------------------------------------------------------------ Consul side
def put(port, path, doc):
    """A hook's write on a fresh connection; (t_sent, t_acked) in ns."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = json.dumps(doc).encode()
    t0 = time.monotonic_ns()
    conn.request("PUT", path, body=body,
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    t1 = time.monotonic_ns()
    conn.close()
    if r.status != 200:
        raise RuntimeError("PUT %s: %d" % (path, r.status))
    return t0, t1


def register_doc(node, addr, service, port):
    return {"Node": node, "Address": addr, "Checks": [SERF],
            "Service": {"Service": service, "ID": service, "Port": port}}


# ------------------------------------------------------------ one style
def addrs_in(text, name):
    """name's addresses in a hosts text, as a state (sorted, joined)."""
    out = []
    for line in text.split("\n"):
        f = line.split("#", 1)[0].split()
        if len(f) >= 2 and name in f[1:]:
            out.append(f[0])
    return ",".join(sorted(out))


def join(*addrs):
    return ",".join(sorted(addrs))


class Style:
    def __init__(self, style, args, tmp):
        self.style = style
        self.args = args
        self.tmp = os.path.join(tmp, style)
        os.mkdir(self.tmp)
        self.out = os.path.join(self.tmp, "out")
        os.mkdir(self.out)
        self.dest = os.path.join(self.out, "hosts")
        self.rows = {k: [] for k in KINDS}
        self.floors = []
        self.notes = []
        self.procs = []

    # -- setup -------------------------------------------------------------
    def start(self):
        a = self.args
        self.sim = bl.Sim(tmp=self.tmp)
        self.procs.append(self.sim.stop)
        self.dm = TimedDnsmasq(self.tmp, ["--addn-hosts=" + self.dest])
        self.dm.start()
        self.procs.append(self.dm.stop)
        # The floor's dnsmasq: same options, its own file.
        fdir = os.path.join(self.tmp, "floor")
        os.mkdir(fdir)
        self.floor_file = os.path.join(fdir, "hosts")
        self.fdm = TimedDnsmasq(fdir, ["--addn-hosts=" + self.floor_file])
        if self.style == "sighup":
            command = "kill -HUP %d" % self.dm.pid
        else:
            command = restart_script(self.tmp, self.dm, "dest")
        self.watch = bl.RenameWatch(self.dest)
        self.procs.append(self.watch.close)
        cfg = os.path.join(self.tmp, "config.hcl")
        with open(cfg, "w") as f:
            f.write("consul = %s\ntemplate {\n  source = %s\n"
                    "  destination = %s\n  command = %s\n}\n"
                    % tuple(json.dumps(s) for s in (
                        self.sim.address, SEED_TMPL, self.dest, command)))
        prefix = []
        if a.strace:
            # Diagnosis: the calls that can hold the loop, and the
            # command's; others run untraced (--seccomp-bpf).
            prefix = ["strace", "-f", "--seccomp-bpf", "-ttt", "-T", "-e",
                      "trace=fsync,fdatasync,rename,clone,clone3,vfork,"
                      "execve,kill", "-o",
                      os.path.join(self.tmp, "daemon.strace")]
        self.daemon = bl.Daemon(["-config", cfg] + (
            ["-log-level", a.log_level] if a.log_level else []),
            os.path.join(self.tmp, "daemon.log"), prefix=prefix)
        self.procs.append(self.daemon.stop)
        got = self.watch.first(lambda t: MASTER in t, 0, 30)
        if got is None:
            raise RuntimeError("no first render:\n" + self.daemon.log())
        with open(self.floor_file, "w") as f:
            f.write(got[1] + "%s %s\n" % (PROBE_ADDRS[0], PROBE))
        self.probe = 0
        self.fdm.start()
        self.procs.append(self.fdm.stop)
        if self.style == "restart":
            self.fdm.supervise()  # the floor restarts it with SIGTERM
        self.q = Querier(a.query_timeout_ms, a.query_retry_ms,
                         a.query_interval_ms)
        self.procs.append(self.q.close)
        # Served: the first command has run.
        deadline = time.monotonic() + 20
        while dnsq.addrs(MASTER, self.dm.port, timeout=0.5) != \
                [MASTER_ADDRS[0]]:
            if time.monotonic() > deadline:
                raise RuntimeError("dnsmasq does not serve the first render:"
                                   "\n" + self.dm.log())
            time.sleep(0.05)  # dnsmasq emits no event for "serving"
        self.master = 0
        self.cpu0 = bl.proc_times(self.daemon.pid)
        self.wall0 = time.monotonic()
        self.log_mark = len(self.daemon.log())

    def stop(self):
        self.cpu1 = bl.proc_times(self.daemon.pid)
        self.wall1 = time.monotonic()
        self.daemon_log = self.daemon.log()[self.log_mark:]
        self.alive = self.daemon.alive()
        if self.args.strace:
            # strace detaches on SIGTERM and leaves its tracee running:
            # stop the daemon itself, then strace exits with it.
            for pid in children(self.daemon.pid):
                os.kill(pid, signal.SIGTERM)
            self.rc = self.daemon.stop(signalled=True)
        else:
            self.rc = self.daemon.stop()
        self.procs.remove(self.daemon.stop)
        self.close()

    def close(self):
        for fn in reversed(self.procs):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - clean up the rest
                bl.log("%s: cleanup: %s" % (self.style, e))
        self.procs = []

    # -- quiet -------------------------------------------------------------
    def quiet(self, runs, bare_path):
        """Wait for a quiet state in which `runs` command runs can start at
        once; floor rounds fill the wait."""
        while True:
            now = time.monotonic_ns()
            recent = [t for t in self.dm.reads(self.dest)
                      if t > now - BUDGET_WINDOW_NS - BUDGET_MARGIN_NS]
            over = len(recent) - (BUDGET_RUNS - runs)
            due = now
            if over > 0:
                due = recent[over - 1] + BUDGET_WINDOW_NS + BUDGET_MARGIN_NS
            last = max(self.watch.last_ns(), self.dm.last_ns())
            due = max(due, last + QUIET_NS)
            if due <= now:
                break
            if due - now > 1.5e9 and len(self.floors) < self.args.floors:
                self.floor_round()
                continue
            time.sleep((due - now) / 1e9)  # the budget is time, not an event
        for path in DEPS:
            if not self.sim.await_blocked(path, 1, timeout=10):
                raise RuntimeError("%s not parked: %s" % (
                    path, self.sim.ctl("state", method="GET")))
        bare = None
        if bare_path:
            bare = bl.BareClient(self.sim.port, bare_path)
            bare.fetch()  # index=0: returns at once, gives the index
            bare.arm()
            path = bare_path.split("?")[0]
            if not self.sim.await_blocked(path, 2, timeout=10):
                raise RuntimeError("bare query not parked")
        return bare

    # -- a measured change -------------------------------------------------
    def change(self, kind, writes, name, old, new, bare_path=None,
               absent_ok=False):
        """Make the writes (the last one is timed) and measure."""
        bare = self.quiet(2 if len(writes) == 1 else 4, bare_path)
        first = None
        for attempt in range(50):
            first = self.q.start(self.dm.port, name, new)
            if first == old:
                break
            self.q.stop()
            time.sleep(0.1)  # a restart in progress: poll dnsmasq again
        else:
            raise RuntimeError("%s: dnsmasq answers %r for %s, want %r"
                               % (kind, first, name, old))
        times = [put(self.sim.port, p, doc) for p, doc in writes]
        t_begin = times[0][0]
        t_send, t_ack = times[-1]
        t_new = self.q.wait_new(NEW_TIMEOUT)
        # The tail: until renames and reloads have stopped.
        deadline = time.monotonic_ns() + 5 * 10**9
        while True:
            now = time.monotonic_ns()
            last = max(self.watch.last_ns(), self.dm.last_ns(), t_ack)
            if now - last >= TAIL_NS or now > deadline:
                break
            time.sleep((last + TAIL_NS - now) / 1e9)
        t_end = time.monotonic_ns()
        recs = self.q.stop()
        got = self.watch.first(lambda text: addrs_in(text, name) == new,
                               t_send, 0)
        row = {"kind": kind, "ack_ms": (t_ack - t_send) * ms,
               "at": round(time.time() - (time.monotonic_ns() - t_ack) / 1e9,
                           4)}
        if len(times) > 1:
            row["pair_ms"] = (t_send - t_begin) * ms
        t_file = got[0] if got else None
        row["file_ms"] = (t_file - t_ack) * ms if got else None
        row["dns_ms"] = (t_new - t_ack) * ms if t_new else None
        row["file_to_dns_ms"] = (t_new - t_file) * ms \
            if t_new and got else None
        if bare is not None:
            td = bare.t_done if bare.done.wait(10) else None
            row["floor_ms"] = (td - t_ack) * ms if td else None
        renames = self.watch.since(t_begin, t_end)
        row["renames"] = len(renames)
        row["held"] = sum(1 for _, text in renames
                          if text and "# consul-hosts: held since" in text)
        row["reloads"] = sum(1 for t in self.dm.reads(self.dest)
                             if t_begin <= t <= t_end)
        self.classify(row, recs, t_begin, t_file, new, absent_ok)
        if t_new is None or not got:
            self.notes.append("%s #%d: %s" % (
                kind, len(self.rows[kind]),
                "no new data in the file" if not got else
                "dnsmasq never answered the new data"))
        self.rows[kind].append(row)
        return row

    @staticmethod
    def classify(row, recs, t_begin, t_file, new, absent_ok):
        failed = {}
        stale = 0
        queries = 0
        last_good = None
        outage = 0
        bad_since = None
        for t0, t1, code, addrs in recs:
            if t0 < t_begin:
                st = state_of(code, addrs)
                if st is not None:
                    last_good = t1
                continue
            queries += 1
            st = state_of(code, addrs)
            if st is None or (st == "" and not absent_ok):
                failed[code] = failed.get(code, 0) + 1
                if bad_since is None:
                    bad_since = last_good if last_good else t0
                continue
            if bad_since is not None:
                outage = max(outage, t1 - bad_since)
                bad_since = None
            last_good = t1
            if t_file is not None and t0 >= t_file and st != new:
                stale += 1
        if bad_since is not None and recs:
            outage = max(outage, recs[-1][1] - bad_since)
        row["queries"] = queries
        row["failed"] = sum(failed.values())
        row["failed_by"] = failed
        row["stale"] = stale
        row["outage_ms"] = outage * ms

    # -- the floor: dnsmasq's own reload -----------------------------------
    def floor_round(self):
        old = PROBE_ADDRS[self.probe]
        self.probe ^= 1
        new = PROBE_ADDRS[self.probe]
        with open(self.floor_file) as f:
            text = f.read()
        first = self.q.start(self.fdm.port, PROBE, new)
        if first != old:
            self.q.stop()
            self.probe ^= 1
            time.sleep(0.1)  # the floor dnsmasq is restarting
            return
        tmp = self.floor_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(text.replace("%s %s" % (old, PROBE),
                                 "%s %s" % (new, PROBE)))
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.floor_file)
        t_sig = time.monotonic_ns()
        if self.style == "sighup":
            self.fdm.hup()
        else:
            os.kill(self.fdm.pid, signal.SIGTERM)
        t_new = self.q.wait_new(NEW_TIMEOUT)
        deadline = time.monotonic_ns() + 5 * 10**9
        while True:
            now = time.monotonic_ns()
            last = max(self.fdm.last_ns(), t_sig)
            if now - last >= TAIL_NS or now > deadline:
                break
            time.sleep((last + TAIL_NS - now) / 1e9)
        recs = self.q.stop()
        row = {"reload_ms": (t_new - t_sig) * ms if t_new else None}
        self.classify(row, recs, t_sig, t_sig, new, False)
        self.floors.append(row)

    # -- the run -----------------------------------------------------------
    def run(self, n):
        for i in range(n):
            node, addr = APPS[i % len(APPS)]
            rest = [a for _, a in APPS if a != addr]
            health = "/v1/health/service/foo-app?passing&stale"
            nodes = "/v1/catalog/nodes?stale"
            self.change("removal", [("/v1/catalog/deregister",
                                     {"Node": node})],
                        APP, join(addr, *rest), join(*rest), health)
            self.change("addition", [("/v1/catalog/register",
                                      register_doc(node, addr, "foo-app",
                                                   8080))],
                        APP, join(*rest), join(addr, *rest), health)
            cur = MASTER_ADDRS[self.master]
            nxt = MASTER_ADDRS[self.master ^ 1]
            dereg = ("/v1/catalog/deregister", {"Node": MASTER})
            self.change("master_gone", [dereg], MASTER, cur, "", nodes,
                        absent_ok=True)
            reg = ("/v1/catalog/register",
                   register_doc(MASTER, nxt, "foo-db", 5432))
            self.change("address", [reg], MASTER, "", nxt, nodes,
                        absent_ok=True)
            self.master ^= 1
            cur, nxt = nxt, cur
            reg = ("/v1/catalog/register",
                   register_doc(MASTER, nxt, "foo-db", 5432))
            self.change("failover", [dereg, reg], MASTER, cur, nxt,
                        absent_ok=True)
            self.master ^= 1
            if not self.daemon.alive():
                raise RuntimeError("consul-hosts exited:\n"
                                   + self.daemon.log())
            bl.log("%s: %d of %d rounds" % (self.style, i + 1, n))


# ------------------------------------------------------------ diagnosis
def children(pid):
    """The direct children of pid (from /proc/PID/stat's ppid field)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(d))
    return out


def parse_strace(path):
    """--strace's log: the daemon's fsyncs as (start, ms, "file" or "dir":
    the staged file before the rename, the directory after it, before the
    command starts) and its spawns as (clone, ms the loop waited, ms to the
    child's kill). uv_spawn reads a CLOEXEC pipe until the forked child has
    exec'd, so the loop is stopped from the clone until that execve
    returns. Times are the wall clock (strace -ttt)."""
    pending = {}
    calls = []
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split(None, 2)
            if len(parts) < 3:
                continue
            pid, ts, rest = int(parts[0]), float(parts[1]), parts[2]
            if rest.startswith("<... "):
                name = rest[5:].split(" ", 1)[0]
                start = pending.pop((pid, name), None)
                if start is None:
                    continue
                ts, args = start
                rest = name + "(" + args + rest.split("resumed>", 1)[1]
            elif "<unfinished ...>" in rest:
                name, _, args = rest.partition("(")
                pending[(pid, name)] = (ts, args.split(" <unfinished")[0])
                continue
            name, _, tail = rest.partition("(")
            dur = 0.0
            if tail.rstrip().endswith(">") and "<" in tail:
                try:
                    dur = float(tail.rstrip()[:-1].rsplit("<", 1)[1])
                except ValueError:
                    dur = 0.0
            ret = tail.rsplit(") = ", 1)[1].split()[0] if ") = " in tail \
                else ""
            calls.append((ts, pid, name, ret, dur))
    calls.sort()
    main = calls[0][1] if calls else None
    fsyncs, spawns, clones = [], {}, {}
    prev = None
    for ts, pid, name, ret, dur in calls:
        if pid == main:
            if name == "fsync":
                fsyncs.append((ts, dur * 1e3,
                               "dir" if prev == "rename" else "file"))
            if name in ("clone", "clone3", "vfork") and ret.isdigit():
                clones[int(ret)] = ts
                spawns[int(ret)] = [ts, None, None]
            prev = name
        elif name == "execve" and pid in clones:
            spawns[pid][1] = (ts + dur - clones[pid]) * 1e3
        elif name == "kill" and pid in clones:
            spawns[pid][2] = (ts - clones.pop(pid)) * 1e3
    return fsyncs, sorted(spawns.values())


def strace_summary(path, rows):
    """Distributions from parse_strace, and what each change slower than
    20 ms to reach dnsmasq met between its write and the new answer."""
    fsyncs, spawns = parse_strace(path)
    out = {"fsync_file_ms": dist(d for _, d, k in fsyncs if k == "file"),
           "fsync_dir_ms": dist(d for _, d, k in fsyncs if k == "dir"),
           "spawn_block_ms": dist(b for _, b, _ in spawns),
           "clone_to_kill_ms": dist(k for _, _, k in spawns)}
    slow = {"changes": 0, "fsync_10ms": 0, "spawn_10ms": 0, "neither": 0}
    for r in rows:
        if r["dns_ms"] is None or r["dns_ms"] <= 20:
            continue
        a, b = r["at"] - 0.005, r["at"] + r["dns_ms"] / 1e3
        fs = max((d for t, d, _ in fsyncs if a <= t <= b), default=0)
        sp = max((bl or 0 for t, bl, _ in spawns if a <= t <= b),
                 default=0)
        r["strace_fsync_max_ms"] = fs
        r["strace_spawn_block_max_ms"] = sp
        slow["changes"] += 1
        slow["fsync_10ms"] += fs >= 10
        slow["spawn_10ms"] += sp >= 10
        slow["neither"] += fs < 10 and sp < 10
    out["slow_changes"] = slow
    return out


# ------------------------------------------------------------ summary
def dist(values):
    v = [x for x in values if x is not None]
    if not v:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    return {"n": len(v), "p50": bl.percentile(v, 50),
            "p99": bl.percentile(v, 99), "max": max(v), "min": min(v)}


def summarize(s):
    kinds = {}
    for kind, rows in s.rows.items():
        failed_by = {}
        for r in rows:
            for k, v in r["failed_by"].items():
                failed_by[k] = failed_by.get(k, 0) + v
        kinds[kind] = {
            "changes": len(rows),
            "missed": sum(1 for r in rows
                          if r["dns_ms"] is None or r["file_ms"] is None),
            "file_ms": dist(r["file_ms"] for r in rows),
            "dns_ms": dist(r["dns_ms"] for r in rows),
            "file_to_dns_ms": dist(r["file_to_dns_ms"] for r in rows),
            "floor_ms": dist(r.get("floor_ms") for r in rows),
            "ack_ms": dist(r["ack_ms"] for r in rows),
            "pair_ms": dist(r.get("pair_ms") for r in rows),
            "queries": sum(r["queries"] for r in rows),
            "failed": sum(r["failed"] for r in rows),
            "failed_by": failed_by,
            "changes_failed": sum(1 for r in rows if r["failed"]),
            "stale": sum(r["stale"] for r in rows),
            "changes_stale": sum(1 for r in rows if r["stale"]),
            "stale_max": max((r["stale"] for r in rows), default=0),
            "outage_ms": dist(r["outage_ms"] for r in rows
                              if r["failed"]),
            "renames_mean": (sum(r["renames"] for r in rows) / len(rows)
                             if rows else None),
            "reloads_mean": (sum(r["reloads"] for r in rows) / len(rows)
                             if rows else None),
            "held": sum(r["held"] for r in rows),
            "rows": rows,
        }
    fl = s.floors
    cpu = {k: s.cpu1[k] - s.cpu0[k] for k in s.cpu0}
    writes = sum(len(r) for r in s.rows.values()) + len(s.rows["failover"])
    log = s.daemon_log
    return {
        "style": s.style, "kinds": kinds,
        "dnsmasq_floor": {
            "rounds": len(fl),
            "reload_ms": dist(r["reload_ms"] for r in fl),
            "failed": sum(r["failed"] for r in fl),
            "rounds_failed": sum(1 for r in fl if r["failed"]),
            "stale": sum(r["stale"] for r in fl),
            "outage_ms": dist(r["outage_ms"] for r in fl if r["failed"]),
        },
        "wall_s": s.wall1 - s.wall0,
        "cpu_s": cpu["user"] + cpu["sys"], "cpu_user_s": cpu["user"],
        "cpu_sys_s": cpu["sys"],
        "commands_cpu_s": cpu["cuser"] + cpu["csys"],
        "writes": writes,
        "budget_waits": log.count("the command runs in"),
        "holds_logged": log.count("holding back"),
        "warnings": sum(1 for l in log.splitlines() if "[warn" in l),
        "rename_rereads": s.watch.rereads,
        "daemon_alive": s.alive, "daemon_exit": s.rc,
        "notes": s.notes,
        "strace": strace_summary(
            os.path.join(s.tmp, "daemon.strace"),
            [r for rows in s.rows.values() for r in rows])
        if s.args.strace else None,
    }


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--querier":
        return querier_main()
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--changes", type=int, default=100,
                    help="changes of each kind per style (default 100)")
    ap.add_argument("--styles", default="sighup,restart")
    ap.add_argument("--query-timeout-ms", type=float, default=100.0,
                    help="a query unanswered this long failed (timeout)")
    ap.add_argument("--query-retry-ms", type=float, default=2.0,
                    help="send the next query when the last is not "
                         "answered within this")
    ap.add_argument("--query-interval-ms", type=float, default=0.0,
                    help="diagnosis: pace the queries (default 0: back to "
                         "back)")
    ap.add_argument("--floors", type=int, default=None,
                    help="dnsmasq floor rounds per style (default: as "
                         "many as changes)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (logs)")
    ap.add_argument("--strace", action="store_true",
                    help="diagnosis: run consul-hosts under strace (fsync, "
                         "rename, clone, execve, kill; implies --keep)")
    ap.add_argument("--log-level", default=None,
                    help="diagnosis: consul-hosts -log-level (default: "
                         "the config's)")
    a = ap.parse_args()
    if a.smoke:
        a.changes = 1
    if a.floors is None:
        a.floors = a.changes
    a.keep = a.keep or a.strace
    missing = dnsq.dnsmasq_missing()
    if missing:
        bl.log("failover: skipped: " + missing)
        print("skipped: " + missing)
        return 0
    sys.setswitchinterval(0.0005)
    tmp = tempfile.mkdtemp(prefix="ch-bench-failover-")
    res = {"changes": a.changes, "query_timeout_ms": a.query_timeout_ms,
           "query_retry_ms": a.query_retry_ms,
           "query_interval_ms": a.query_interval_ms,
           "dnsmasq": dnsq.dnsmasq_version(), "styles": [],
           "budget": {"runs": BUDGET_RUNS,
                      "window_s": BUDGET_WINDOW_NS / 1e9}}
    load0 = os.getloadavg()
    try:
        for style in a.styles.split(","):
            s = Style(style, a, tmp)
            try:
                s.start()
                s.run(a.changes)
                s.stop()
            finally:
                s.close()
            res["styles"].append(summarize(s))
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            bl.log("work directory kept: " + tmp)
    res["loadavg_before"] = load0
    res["loadavg_after"] = os.getloadavg()
    print(bl.write_result(a.out, "failover", res))
    broken = []
    for st in res["styles"]:
        if not a.strace and (not st["daemon_alive"] or
                             st["daemon_exit"] != 0):
            broken.append("%s: consul-hosts exit %s" % (st["style"],
                                                        st["daemon_exit"]))
        for kind, k in st["kinds"].items():
            if k["missed"]:
                broken.append("%s %s: %d changes never served"
                              % (st["style"], kind, k["missed"]))
    if broken:
        raise SystemExit("failover: " + "; ".join(broken))
    return 0


if __name__ == "__main__":
    sys.exit(main())
