#!/usr/bin/env python3
"""Fleet: N daemons on one machine against one simulator.

Each daemon has its own -order-seed (node-NNN) and destination; all render
templates/hosts.tmpl from the seed catalog. The simulator runs with
--max-conns-per-client 0: every daemon connects from 127.0.0.1, where a
real agent would see one client per node (http_max_conns_per_client=200
is per source IP, and consul-hosts cannot pick a source address).

Each round flips foo-app01's service check once, after every daemon's
foo-app query is parked, and measures the requests the simulator serves
for the change and the time until every daemon's file is renamed into
place (IN_MOVED_TO for each destination).
"""

import os
import shutil
import tempfile
import time

import benchlib as bl


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--daemons", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=20,
                    help="daemons started at a time (the simulator's "
                    "accept backlog is 128)")
    a = ap.parse_args()
    if a.smoke:
        a.daemons, a.rounds = 5, 2
    tmp = tempfile.mkdtemp(prefix="ch-bench-fleet-")
    sim = bl.Sim(tmp=tmp, max_conns=0)
    out_dir = os.path.join(tmp, "out")
    os.mkdir(out_dir)
    watch = bl.DirWatch(out_dir)
    daemons = []
    res = {"daemons": a.daemons, "rounds": []}
    path = "/v1/health/service/foo-app"
    try:
        t_start = time.monotonic()
        for i in range(a.daemons):
            dest = os.path.join(out_dir, "hosts-%03d" % i)
            daemons.append(bl.Daemon(
                bl.daemon_args(sim, dest, ["-order-seed", "node-%03d" % i]),
                os.path.join(tmp, "daemon-%03d.log" % i)))
            if (i + 1) % a.batch == 0 or i + 1 == a.daemons:
                if not sim.await_blocked(path, i + 1, timeout=120):
                    raise RuntimeError("daemons did not park: %s"
                                       % sim.ctl("state", method="GET"))
        res["startup_s"] = round(time.monotonic() - t_start, 2)
        watch.drain()
        rss = [bl.proc_rss_kib(d.pid) for d in daemons]
        res["rss_kib_mean"] = round(sum(rss) / len(rss))
        res["rss_kib_max"] = max(rss)
        firsts = {}
        for name in os.listdir(out_dir):
            if name.startswith("."):
                continue  # a temp file being renamed (hostsdir skips them)
            with open(os.path.join(out_dir, name)) as f:
                for line in f:
                    if ".service." in line and "foo-app" in line:
                        ip = line.split()[0]
                        firsts[ip] = firsts.get(ip, 0) + 1
                        break
        res["foo_app_first_choice"] = firsts
        status = "passing"
        for r in range(a.rounds):
            if not sim.await_blocked(path, a.daemons, timeout=60):
                raise RuntimeError("daemons did not re-park")
            watch.drain()
            status = "critical" if status == "passing" else "passing"
            t0w = time.time()
            t0 = time.monotonic_ns()
            sim.set_check("foo-app01", "service:foo-app", status, "foo-app")
            seen = {}
            deadline = time.monotonic() + 120
            while len(seen) < a.daemons and time.monotonic() < deadline:
                ev = watch.get(deadline - time.monotonic())
                if ev is not None and ev[2] not in seen:
                    seen[ev[2]] = (ev[0] - t0) / 1e6
            # Every daemon's re-issued query parked: the round is over.
            sim.await_blocked(path, a.daemons, timeout=60)
            reqs = bl.api_entries(sim.requests(), ua_prefix="consul-hosts")
            started = [e for e in reqs if e["time"] >= t0w]
            done = [e for e in reqs if e["status"] is not None and
                    e["time"] + (e["duration"] or 0) >= t0w]
            times = sorted(seen.values())
            res["rounds"].append({
                "updated": len(seen),
                "all_ms": round(times[-1], 1) if times else None,
                "p50_ms": round(bl.percentile(times, 50), 1) if times
                else None,
                "first_ms": round(times[0], 1) if times else None,
                "requests": len(started),
                "requests_by_path": {p: sum(1 for e in started
                                            if e["path"] == p)
                                     for p in set(e["path"]
                                                  for e in started)},
                "bytes_out": sum(e.get("bytes_out", 0) for e in done),
            })
            bl.log("fleet round %d: %s" % (r, res["rounds"][-1]))
    finally:
        for d in daemons:
            d.proc.terminate()
        res["exits"] = sorted(set(d.stop(signalled=True) for d in daemons))
        watch.close()
        sim.stop()
    rounds = res["rounds"]
    if rounds:
        n = len(rounds)
        res["requests_per_change"] = sum(r["requests"] for r in rounds) / n
        res["bytes_per_change"] = sum(r["bytes_out"] for r in rounds) / n
        res["all_updated_ms_mean"] = sum(r["all_ms"] or 0
                                         for r in rounds) / n
        res["per_daemon_requests_per_change"] = \
            res["requests_per_change"] / a.daemons
        res["projection_5000"] = {
            "requests_per_change": res["per_daemon_requests_per_change"]
            * 5000,
            "bytes_per_change": res["bytes_per_change"] / a.daemons * 5000,
        }
    print(bl.write_result(a.out, "fleet", res))
    shutil.rmtree(tmp, ignore_errors=True)
    if not rounds or any(r["updated"] < a.daemons for r in rounds):
        raise SystemExit("fleet: not every daemon updated its file")


if __name__ == "__main__":
    main()
