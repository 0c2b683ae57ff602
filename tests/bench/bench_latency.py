#!/usr/bin/env python3
"""Change-to-file latency, with the bare blocking request as the floor.

The simulator (own process) serves tests/sim/seed-catalog.json; the daemon
renders templates/hosts.tmpl with no wait. Each round flips foo-app01's
service check (critical <-> passing), which adds or removes a line of the
file. Both clients are parked first (the daemon's blocking query on
/v1/health/service/foo-app and ours, a plain http.client GET with
index=<last>&wait=5m&passing&stale with gzip, as the daemon asks, on a
fresh connection), so every round
measures one wake-up:

  file   = t(IN_MOVED_TO of the destination) - t(change sent)
  floor  = t(bare request answered in full)  - t(change sent)

both on CLOCK_MONOTONIC in this process; the change is the same POST to
the simulator for both. Rounds run back to back, each after both clients
are parked again (so the daemon's 100 ms per-dependency rate limit is
never inside a measurement).
"""

import os
import shutil
import tempfile
import time

import benchlib as bl


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--changes", type=int, default=200)
    a = ap.parse_args()
    changes = 10 if a.smoke else a.changes
    tmp = tempfile.mkdtemp(prefix="ch-bench-lat-")
    sim = bl.Sim(tmp=tmp)
    dest_dir = os.path.join(tmp, "out")
    os.mkdir(dest_dir)
    dest = os.path.join(dest_dir, "hosts")
    watch = bl.DirWatch(dest_dir)
    d = bl.Daemon(bl.daemon_args(sim, dest), os.path.join(tmp, "daemon.log"))
    path = "/v1/health/service/foo-app"
    lat, floor, skipped = [], [], 0
    try:
        if not watch.wait_name("hosts", 30):
            raise RuntimeError("no first render:\n" + d.log())
        bare = bl.BareClient(sim.port, path + "?passing&stale")
        bare.fetch()            # index=0: returns at once, gives the index
        status = "passing"
        for i in range(changes):
            bare.arm()
            if not sim.await_blocked(path, 2, timeout=10):
                raise RuntimeError("clients did not park: %s"
                                   % sim.ctl("state", method="GET"))
            watch.drain()
            status = "critical" if status == "passing" else "passing"
            t0 = time.monotonic_ns()
            sim.set_check("foo-app01", "service:foo-app", status, "foo-app")
            ev = watch.wait_name("hosts", 10)
            if not bare.done.wait(10):
                raise RuntimeError("bare request did not wake")
            if ev is None:
                skipped += 1
                continue
            lat.append((ev[0] - t0) / 1e6)
            floor.append((bare.t_done - t0) / 1e6)
        rss = bl.proc_status(d.pid)
    finally:
        rc = d.stop()
        watch.close()
        sim.stop()
    diffs = [x - y for x, y in zip(lat, floor)]
    res = {"changes": changes, "measured": len(lat), "missed": skipped,
           "daemon_exit": rc, "daemon_rss_kib": rss.get("VmRSS"),
           "daemon_hwm_kib": rss.get("VmHWM")}
    for name, v in (("file", lat), ("floor", floor), ("diff", diffs)):
        for p in (50, 90, 99):
            res["%s_p%d_ms" % (name, p)] = bl.percentile(v, p)
        res["%s_max_ms" % name] = max(v) if v else None
        res["%s_min_ms" % name] = min(v) if v else None
    if res["floor_p50_ms"]:
        res["ratio_p50"] = res["file_p50_ms"] / res["floor_p50_ms"]
        res["ratio_p99"] = res["file_p99_ms"] / res["floor_p99_ms"]
    res["file_ms"] = [round(x, 3) for x in lat]
    res["floor_ms"] = [round(x, 3) for x in floor]
    print(bl.write_result(a.out, "latency", res))
    shutil.rmtree(tmp, ignore_errors=True)
    if not lat:
        raise SystemExit("latency: no change reached the file")


if __name__ == "__main__":
    main()
