#!/usr/bin/env python3
"""Outage: the agent goes away for N seconds while one daemon watches 200
dependencies, then comes back with changed data.

The daemon renders a template of 200 KV keys (200 blocking queries) with
the default retry settings (250 ms doubling to 1 min). For each round the
agent (the simulator, in this process so that it keeps its state and its
port) stops, as a dying agent does: every connection dropped, the port
closed. One key changes meanwhile. After N seconds the agent listens
again, and the round measures:

- requests the daemon made during the outage: its connect() calls to the
  agent's port, counted by strace attached for the outage only (without
  strace: the daemon's "retrying in" log lines, one per failed request);
- the time from the agent listening again to the file renamed into place
  (inotify IN_MOVED_TO), p50 and max over the rounds.

Targets: during an outage at most one request per backoff
period per daemon whatever the number of dependencies; the file updated
within 15 s of Consul's return, p50 within 5 s.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import benchlib as bl

sys.path.insert(0, os.path.join(bl.SRC, "tests", "sim"))
import consul_sim  # noqa: E402

KEYS = "outage/k%03d"
LONG_POLLS = 135  # the daemon's long-poll slots (watch.h): more rotate
STEADY_AFTER = 5  # seconds into an outage after which its rate counts


def template(deps):
    return ("{{ range $i := loop %d }}{{ keyOrDefault (printf \"%s\" $i) "
            "\"10.0.0.1\" }} host{{ $i }}\n{{ end }}" % (deps, KEYS))


class Connects:
    """connect() calls of pid to port while attached (strace -p)."""

    def __init__(self, pid, port, path):
        self.port = port
        self.path = path
        self.proc = None
        if shutil.which("strace") is None:
            return
        self.proc = subprocess.Popen(
            ["strace", "-f", "-qq", "-ttt", "-e", "trace=connect", "-p",
             str(pid), "-o", path], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        # strace attaches before it writes anything; give it its moment.
        deadline = time.monotonic() + 5
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self):
        """The times (time.time()) of the connect() calls, or None."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(10)
        if self.proc.returncode not in (0, -signal.SIGINT) or \
                not os.path.exists(self.path):
            return None  # no ptrace here: the log lines count instead
        needle = "htons(%d)" % self.port
        times = []
        with open(self.path, errors="replace") as f:
            for line in f:
                m = re.match(r"\s*(?:\d+\s+)?(\d+\.\d+) ", line)
                if needle in line and m:
                    times.append(float(m.group(1)))
        return times


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--deps", type=int, default=200)
    ap.add_argument("--outage", type=float, default=30.0,
                    help="seconds the agent is away")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    if a.smoke:
        a.deps, a.outage, a.rounds = 20, STEADY_AFTER + 1.0, 1
    tmp = tempfile.mkdtemp(prefix="ch-bench-outage-")
    sim = consul_sim.ConsulSim(listen="127.0.0.1:0", seed=bl.SEED,
                               quiet=True)
    sim.start()
    for i in range(a.deps):
        sim.kv_set(KEYS % i, "10.0.%d.%d" % (i // 256, i % 256))
    out_dir = os.path.join(tmp, "out")
    os.mkdir(out_dir)
    dest = os.path.join(out_dir, "hosts")
    tmpl = os.path.join(tmp, "outage.tmpl")
    with open(tmpl, "w") as f:
        f.write(template(a.deps))
    watch = bl.DirWatch(out_dir)
    d = bl.Daemon(["-consul-addr", sim.address, "-template",
                   "%s:%s" % (tmpl, dest), "-log-level", "debug",
                   "-order", "none"], os.path.join(tmp, "daemon.log"))
    res = {"deps": a.deps, "outage_s": a.outage, "rounds": [],
           "binary": bl.BIN}
    try:
        if watch.wait_name("hosts", 60) is None:
            raise RuntimeError("no first render:\n" + d.log())
        parked = min(a.deps, LONG_POLLS)
        if not sim.await_requests("/v1/kv/outage/", parked, 60,
                                  blocked=True):
            raise RuntimeError("the queries did not park")
        for r in range(a.rounds):
            if not sim.await_requests("/v1/kv/outage/", parked, 120,
                                      blocked=True):
                raise RuntimeError("the queries did not park again")
            watch.drain()
            log_before = d.log().count("retrying in")
            conn = Connects(d.pid, sim.port,
                            os.path.join(tmp, "strace-%d" % r))
            t_down = time.monotonic()
            t_down_wall = time.time()
            sim.stop()
            key = KEYS % (r % a.deps)
            sim.kv_set(key, "10.9.%d.%d" % (r // 256, r % 256))
            time.sleep(a.outage)  # the outage itself: nothing to await
            t_back = time.monotonic_ns()
            t_back_wall = time.time()
            away = time.monotonic() - t_down
            sim.start()
            ev = watch.wait_name("hosts", 120)
            connects = conn.stop()
            failed = d.log().count("retrying in") - log_before
            took = None if ev is None else (ev[0] - t_back) / 1e9
            # The first seconds see every request that was in flight
            # fail (and curl's one reconnect each); after them, what the
            # daemon sends on its own while the agent stays away.
            steady = None
            if connects is not None:
                late = [c for c in connects
                        if t_down_wall + STEADY_AFTER <= c < t_back_wall]
                steady = len(late)
                connects = sum(1 for c in connects if c < t_back_wall)
            round_res = {
                "outage_s": round(away, 2),
                "connects_during_outage": connects,
                "connects_after_first_%ds" % STEADY_AFTER: steady,
                "steady_per_s": None if steady is None else round(
                    steady / max(away - STEADY_AFTER, 1e-9), 3),
                "failed_requests_logged": failed,
                "file_updated_after_s": None if took is None
                else round(took, 3),
            }
            res["rounds"].append(round_res)
            bl.log("outage round %d: %s" % (r, round_res))
    finally:
        res["exit"] = d.stop()
        watch.close()
        sim.stop()
    times = [x["file_updated_after_s"] for x in res["rounds"]
             if x["file_updated_after_s"] is not None]
    reqs = [x["connects_during_outage"] if x["connects_during_outage"]
            is not None else x["failed_requests_logged"]
            for x in res["rounds"]]
    res["updated_p50_s"] = bl.percentile(times, 50)
    res["updated_max_s"] = max(times) if times else None
    res["requests_mean"] = sum(reqs) / len(reqs) if reqs else None
    res["requests_per_s"] = (res["requests_mean"] / a.outage
                             if reqs else None)
    steady = [x["steady_per_s"] for x in res["rounds"]
              if x["steady_per_s"] is not None]
    res["steady_per_s_mean"] = sum(steady) / len(steady) if steady else None
    res["missed"] = a.rounds - len(times)
    bl.write_result(a.out, "outage", res)
    print(res)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if not res["missed"] else 1


if __name__ == "__main__":
    sys.exit(main())
