#!/usr/bin/env python3
"""How long dnsmasq stops answering when consul-hosts makes it re-read.

Not run by ctest. Starts Debian's /usr/sbin/dnsmasq on a free 127.0.0.1
port with a hosts file of --names names, then, for each method, changes
the hosts file --events times while one thread sends A queries for a name
in it back to back (UDP, --timeout-ms per query):

  restart   --addn-hosts + stop/start (what `systemctl restart` does:
            SIGTERM, wait for the exit, start again)
  sighup    --addn-hosts + SIGHUP (dnsmasq clears its cache, re-reads)
  hostsdir  --hostsdir + rename of a new file (inotify, no signal)

Each event waits until the querier has had a good answer from after the
event before the next one starts, so every outage is seen on its own.
A query fails when it times out (the question was lost: it sat in a dying
process's socket, or dnsmasq was too busy), is refused (nothing listens:
ICMP port unreachable comes back at once on loopback, so a client spins
through many of these), or is answered without the name's address.
"New data served after" runs from the rename (and signal) to the first
answer carrying the name's new address. Reported per method: queries sent, failed queries, events
with at least one failure, the longest gap between two good answers, and
the slowest good answer.

  python3 tests/bench/dnsmasq_reload.py [--events 50] [--names 1000]
"""

import argparse
import os
import platform
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import dnsq  # noqa: E402

NAME = "probe.service.dc1.consul"


def probe_addr(variant):
    return "192.0.2.%d" % (1 + variant)


def hosts_text(names, variant):
    """names lines; every address depends on the variant."""
    lines = ["# consul-hosts bench, variant %d" % variant,
             "%s %s" % (probe_addr(variant), NAME)]
    for i in range(names - 1):
        lines.append("10.%d.%d.%d svc%d.service.dc1.consul"
                     % (variant, (i >> 8) & 255, i & 255, i))
    return "\n".join(lines) + "\n"


def publish(path, text):
    """What consul-hosts does: dot-prefixed temp file, fsync, rename."""
    d, base = os.path.split(path)
    tmp = os.path.join(d, ".%s.bench" % base)
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


class Querier:
    """Back-to-back queries; records each outcome with its time."""

    def __init__(self, port, timeout):
        self.port = port
        self.timeout = timeout
        self.stop = False
        self.cond = threading.Condition()
        self.last_good = 0.0
        self.last_addr = None
        self.reset()

    def reset(self):
        with self.cond:
            self.sent = 0
            self.failed = 0
            self.timed_out = 0
            self.fail_times = []
            self.good_times = []
            self.slowest = 0.0

    def run(self):
        while not self.stop:
            t0 = time.monotonic()
            lost = False
            try:
                got = dnsq.query(NAME, self.port, timeout=self.timeout).addrs
            except dnsq.DnsTimeout:
                got, lost = [], True
            except dnsq.DnsError:
                got = []
            ok = got in (["192.0.2.1"], ["192.0.2.2"])
            t1 = time.monotonic()
            with self.cond:
                self.sent += 1
                if ok:
                    self.good_times.append(t1)
                    self.slowest = max(self.slowest, t1 - t0)
                    self.last_good = t1
                    self.last_addr = got[0]
                    self.cond.notify_all()
                else:
                    self.failed += 1
                    self.timed_out += lost
                    self.fail_times.append(t1)

    def wait_good_after(self, t, addr=None, timeout=10.0):
        """Block until a good answer (with addr, when given) completes
        after t; returns when it did."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.last_good <= t or (addr is not None and
                                          self.last_addr != addr):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("no good answer %.1fs after an event"
                                       % timeout)
                self.cond.wait(left)
            return self.last_good


def measure(method, args, workdir):
    hosts_file = os.path.join(workdir, method, "consul.hosts")
    os.makedirs(os.path.dirname(hosts_file))
    publish(hosts_file, hosts_text(args.names, 0))
    if method == "hostsdir":
        opts = ["--hostsdir=" + os.path.dirname(hosts_file)]
    else:
        opts = ["--addn-hosts=" + hosts_file]
    dm = dnsq.Dnsmasq(os.path.dirname(hosts_file), opts).start()
    q = Querier(dm.port, args.timeout_ms / 1000.0)
    th = threading.Thread(target=q.run, daemon=True)
    th.start()
    try:
        q.wait_good_after(0)
        q.reset()
        events = []
        served = []
        for i in range(args.events):
            mark = dm.mark()
            variant = (i + 1) % 2
            publish(hosts_file, hosts_text(args.names, variant))
            t = time.monotonic()
            if method == "restart":
                dm.restart(wait_started=False)
            elif method == "sighup":
                dm.hup()
            events.append(t)
            # dnsmasq has read the new file, and answers again.
            dm.wait_log("read %s - " % hosts_file, start=mark)
            served.append(q.wait_good_after(t, probe_addr(variant)) - t)
        q.stop = True
        th.join(5)
    finally:
        q.stop = True
        dm.stop()
    with q.cond:
        goods = q.good_times
        gaps = [b - a for a, b in zip(goods, goods[1:])]
        failed_events = 0
        bounds = events + [float("inf")]
        for a, b in zip(bounds, bounds[1:]):
            if any(a <= f < b for f in q.fail_times):
                failed_events += 1
        return {
            "method": method, "events": len(events), "queries": q.sent,
            "failed": q.failed, "failed_events": failed_events,
            "timed_out": q.timed_out,
            "gap_ms": 1000 * max(gaps) if gaps else float("nan"),
            "slowest_ms": 1000 * q.slowest,
            "served_med_ms": 1000 * sorted(served)[len(served) // 2],
            "served_max_ms": 1000 * max(served),
        }


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50)
    ap.add_argument("--names", type=int, default=1000,
                    help="lines in the hosts file (default 1000)")
    ap.add_argument("--timeout-ms", type=float, default=100.0,
                    help="per-query timeout (default 100)")
    ap.add_argument("--methods", default="restart,sighup,hostsdir")
    args = ap.parse_args()
    missing = dnsq.dnsmasq_missing()
    if missing:
        print("skipped: " + missing)
        return 0
    print("machine: %s, %s, %d CPUs; dnsmasq %s; %d names; %d events; "
          "query timeout %g ms"
          % (platform.machine(), cpu_model(), os.cpu_count() or 0,
             dnsq.dnsmasq_version(), args.names, args.events,
             args.timeout_ms))
    rows = []
    with tempfile.TemporaryDirectory(prefix="ch-bench-") as workdir:
        for method in args.methods.split(","):
            rows.append(measure(method, args, workdir))
    head = ("method", "events", "queries", "failed", "of which timed out",
            "events with failures",
            "longest gap ms", "slowest answer ms",
            "new data served after ms (median / max)")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print("| %s | %d | %d | %d | %d | %d | %.1f | %.1f | %.1f / %.1f |"
              % (r["method"], r["events"], r["queries"], r["failed"],
                 r["timed_out"], r["failed_events"], r["gap_ms"], r["slowest_ms"],
                 r["served_med_ms"], r["served_max_ms"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
