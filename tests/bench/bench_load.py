#!/usr/bin/env python3
"""Consul load under a flapping check, with and without quiescence.

foo-app01's service check flips critical <-> passing --rate times a second
for --seconds (the seed catalog, templates/hosts.tmpl). Measured for a
daemon without `wait` and one with -wait MIN:MAX: HTTP requests and bytes
the simulator served it, file writes (IN_MOVED_TO), and whether the file
ends in the final state. The daemon's per-dependency rate limit (100 ms +
0-20 ms jitter, WATCH_RATE_MS) caps the requests at about 8 a second
whatever Consul does; `wait` only cuts the renders and writes.
"""

import os
import shutil
import tempfile
import time

import benchlib as bl


def flap(rate, seconds, wait, settle, tmp):
    sim = bl.Sim(tmp=tmp)
    out_dir = os.path.join(tmp, "out-" + (wait or "nowait").replace(":", "-"))
    os.mkdir(out_dir)
    dest = os.path.join(out_dir, "hosts")
    watch = bl.DirWatch(out_dir)
    extra = ["-wait", wait] if wait else []
    d = bl.Daemon(bl.daemon_args(sim, dest, extra),
                  os.path.join(out_dir + ".log"))
    res = {"wait": wait or "off", "rate_hz": rate, "seconds": seconds}
    try:
        if not watch.wait_name("hosts", 30):
            raise RuntimeError("no first render:\n" + d.log())
        sim.await_blocked("/v1/health/service/foo-app", 1, timeout=10)
        watch.drain()
        cpu0 = bl.proc_cpu_s(d.pid)
        t0 = time.time()
        status = "passing"
        n = 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            status = "critical" if status == "passing" else "passing"
            sim.set_check("foo-app01", "service:foo-app", status, "foo-app")
            n += 1
            nxt = start + n / rate
            time.sleep(max(0.0, nxt - time.monotonic()))  # the flap rate
        t_end = time.time()
        time.sleep(settle)  # let quiescence expire and the last render land
        writes = watch.drain()
        reqs = bl.api_entries(sim.requests(), ua_prefix="consul-hosts")
        started = [e for e in reqs if e["time"] >= t0]
        done = [e for e in reqs if e["status"] is not None and
                e["time"] + (e["duration"] or 0) >= t0]
        with open(dest) as f:
            final = f.read()
        want_line = "foo-app01" if status == "passing" else None
        res.update({
            "changes": n, "file_writes": writes,
            "requests": len(started),
            "requests_per_s": round(len(started) / (t_end - t0), 2),
            "bytes_out": sum(e.get("bytes_out", 0) for e in done),
            "bytes_in": sum(e.get("bytes_in", 0) for e in done),
            "paths": sorted(set(e["path"] for e in started)),
            "cpu_s": round(bl.proc_cpu_s(d.pid) - cpu0, 3),
            "final_state": status,
            "final_ok": ("192.0.2.11 " in final) == (want_line is not None),
        })
    finally:
        res["daemon_exit"] = d.stop()
        watch.close()
        sim.stop()
    return res


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--wait", default="2s:10s")
    a = ap.parse_args()
    if a.smoke:
        a.seconds = 2.0
    tmp = tempfile.mkdtemp(prefix="ch-bench-load-")
    res = {"runs": []}
    for wait in (None, a.wait):
        bl.log("flapping, wait %s" % (wait or "off"))
        res["runs"].append(flap(a.rate, a.seconds, wait, 3.0, tmp))
    print(bl.write_result(a.out, "load", res))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
