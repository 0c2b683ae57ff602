#!/usr/bin/env python3
"""Cost of a change by catalog size: CPU, latency against the floor, memory.

For each size (service instances over --services services, 5 per node),
the simulator (own process) is seeded with bl.catalog() and the daemon
renders templates/hosts.tmpl with no wait. Then:

- changes: instance 0 of svc-00000 has its service check flipped
  (critical <-> passing), which removes or adds a line of the file. As in
  bench_latency.py, the daemon's blocking query and a bare one
  (http.client, gzip, a fresh connection per round) are parked first, so
  each round measures one wake-up: file = inotify IN_MOVED_TO of the
  destination, floor = the bare request answered in full, both after the
  change was sent. CPU per change is the daemon's CPU time
  (/proc/PID/schedstat, nanoseconds) over the rounds, divided by them;
- output-only writes: the same check, passing, gets a new Output each
  round (what an agent's anti-entropy sync does every few minutes). A
  round ends when the daemon's query is parked again; the file must not
  change, and with -log-level debug the daemon must not log a render
  ("... changed");
- memory after the rounds: RSS, PSS and private (Private_Clean +
  Private_Dirty) from /proc/PID/smaps_rollup; what the shared libraries
  map (RSS, PSS, and how many of them) from /proc/PID/smaps.

  bench_scale.py [--sizes 1000,10000,50000] [--services 50]
                 [--changes 40] [--output-writes 20]
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import benchlib as bl


def cpu_ns(pid):
    """Time on CPU of every thread, in ns (schedstat), else utime+stime."""
    total = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        return total
    except OSError:
        return int(bl.proc_cpu_s(pid) * 1e9)


def memory(pid):
    """RSS, PSS, private and shared-library figures, in KiB."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if v.strip().endswith("kB"):
                out[k] = int(v.split()[0])
    res = {"rss_kib": out.get("Rss"), "pss_kib": out.get("Pss"),
           "private_kib": out.get("Private_Clean", 0) +
           out.get("Private_Dirty", 0),
           "anon_kib": out.get("Anonymous")}
    libs = {}
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$",
                         line)
            if m:
                path = m.group(1).strip()
                cur = path if re.search(r"\.so(\.|$)", path) else None
                if cur is not None:
                    libs.setdefault(cur, {"rss": 0, "pss": 0,
                                          "private": 0})
                continue
            if cur is None:
                continue
            k, _, v = line.partition(":")
            if k == "Rss":
                libs[cur]["rss"] += int(v.split()[0])
            elif k == "Pss":
                libs[cur]["pss"] += int(v.split()[0])
            elif k in ("Private_Clean", "Private_Dirty"):
                libs[cur]["private"] += int(v.split()[0])
    res["libs"] = len(libs)
    res["libs_rss_kib"] = sum(x["rss"] for x in libs.values())
    res["libs_pss_kib"] = sum(x["pss"] for x in libs.values())
    res["libs_private_kib"] = sum(x["private"] for x in libs.values())
    res["libs_top"] = sorted(
        ((os.path.basename(k), v["rss"], v["pss"]) for k, v in libs.items()),
        key=lambda x: -x[1])[:12]
    return res


def perf_start(pid, path):
    """perf record (software clock, call graphs) of pid, or None."""
    if not path:
        return None
    return subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock",
                             "-F", "4000", "-g", "-p", str(pid), "-o",
                             path], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def perf_stop(p):
    if p is not None:
        p.send_signal(signal.SIGINT)
        p.wait(60)


def run_size(n, services, changes, writes, tmp, perf=None):
    per_service = max(n // services, 1)
    doc, nsvc, nodes = bl.catalog(n, per_service=per_service)
    sim = bl.Sim(seed=doc, tmp=tmp, max_conns=0)
    dest_dir = os.path.join(tmp, "out-%d" % n)
    os.mkdir(dest_dir)
    dest = os.path.join(dest_dir, "hosts")
    watch = bl.DirWatch(dest_dir)
    args = bl.daemon_args(sim, dest)
    args[args.index("-log-level") + 1] = "debug"
    d = bl.Daemon(args, os.path.join(tmp, "daemon-%d.log" % n))
    node, svc = bl.instance_of(0, 0, per_service, nodes)
    path = "/v1/health/service/" + svc
    lat, floor, missed = [], [], 0
    res = {"instances": n, "services": nsvc, "nodes": nodes,
           "per_service": per_service}
    try:
        if not watch.wait_name("hosts", 600):
            raise RuntimeError("no first render:\n" + d.log()[-3000:])
        bare = bl.BareClient(sim.port, path + "?passing&stale")
        bare.fetch()
        res["body_gzip_bytes"] = bare.bytes
        res["body_bytes"] = bare.raw_bytes
        status = "passing"
        # Let the first renders' allocations settle before counting.
        if not sim.await_blocked(path, 1, timeout=60):
            raise RuntimeError("daemon did not park")
        res["memory_start"] = memory(d.pid)
        prof = perf_start(d.pid, perf and "%s.%d.changes" % (perf, n))
        cpu0 = cpu_ns(d.pid)
        for i in range(changes):
            bare.arm()
            if not sim.await_blocked(path, 2, timeout=60):
                raise RuntimeError("clients did not park")
            watch.drain()
            status = "critical" if status == "passing" else "passing"
            t0 = time.monotonic_ns()
            sim.set_check(node, "service:" + svc, status, svc)
            ev = watch.wait_name("hosts", 60)
            if not bare.done.wait(60):
                raise RuntimeError("bare request did not wake")
            if ev is None:
                missed += 1
                continue
            lat.append((ev[0] - t0) / 1e6)
            floor.append((bare.t_done - t0) / 1e6)
        if not sim.await_blocked(path, 1, timeout=60):
            raise RuntimeError("daemon did not park")
        cpu1 = cpu_ns(d.pid)
        perf_stop(prof)
        if status != "passing":
            sim.set_check(node, "service:" + svc, "passing", svc)
            watch.wait_name("hosts", 60)
        # Output-only writes: no file change, no render.
        if not sim.await_blocked(path, 1, timeout=60):
            raise RuntimeError("daemon did not park")
        log_before = len(d.log())
        watch.drain()
        prof = perf_start(d.pid, perf and "%s.%d.output" % (perf, n))
        cpu2 = cpu_ns(d.pid)
        for i in range(writes):
            sim.reset_log()
            sim.ctl("set-check", {"node": node,
                                  "check_id": "service:" + svc,
                                  "status": "passing", "service_id": svc,
                                  "output": "HTTP GET /health: 200 OK "
                                            "round %d" % i})
            # The daemon has taken the answer when it asks again (its
            # new request is in the log, which was reset before the
            # write, and blocks).
            deadline = time.monotonic() + 60
            while not [e for e in sim.requests()["requests"]
                       if e["path"] == path]:
                if time.monotonic() > deadline:
                    raise RuntimeError("daemon did not ask again")
                time.sleep(0.002)
            if not sim.await_blocked(path, 1, timeout=60):
                raise RuntimeError("daemon did not park")
        cpu3 = cpu_ns(d.pid)
        perf_stop(prof)
        out_log = d.log()[log_before:]
        res["output_writes_renders"] = len(
            re.findall(r"health\.service\(%s[^)]*\) changed" % svc, out_log))
        res["output_writes_file_events"] = watch.drain()
        res["memory"] = memory(d.pid)
        res["hwm_kib"] = bl.proc_status(d.pid).get("VmHWM")
    finally:
        rc = d.stop()
        watch.close()
        sim.stop()
    res.update({"changes": changes, "measured": len(lat), "missed": missed,
                "output_writes": writes, "daemon_exit": rc,
                "cpu_ms_per_change": (cpu1 - cpu0) / 1e6 / max(changes, 1),
                "cpu_ms_per_output_write":
                    (cpu3 - cpu2) / 1e6 / max(writes, 1)})
    diffs = [x - y for x, y in zip(lat, floor)]
    for name, v in (("file", lat), ("floor", floor), ("diff", diffs)):
        for p in (50, 90, 99):
            res["%s_p%d_ms" % (name, p)] = bl.percentile(v, p)
    res["file_ms"] = [round(x, 3) for x in lat]
    res["floor_ms"] = [round(x, 3) for x in floor]
    return res


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--changes", type=int, default=40)
    ap.add_argument("--output-writes", type=int, default=20)
    ap.add_argument("--perf", metavar="PREFIX",
                    help="perf record the daemon: PREFIX.N.changes and "
                    "PREFIX.N.output (the counted CPU then includes "
                    "perf's own overhead)")
    a = ap.parse_args()
    sizes = [200] if a.smoke else [int(x) for x in a.sizes.split(",")]
    changes = 4 if a.smoke else a.changes
    writes = 3 if a.smoke else a.output_writes
    tmp = tempfile.mkdtemp(prefix="ch-bench-scale-")
    runs = []
    try:
        for n in sizes:
            bl.log("scale %d instances" % n)
            runs.append(run_size(n, 10 if a.smoke else a.services, changes,
                                 writes, tmp, a.perf))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(bl.write_result(a.out, "scale", {"runs": runs}))
    bad = [r["instances"] for r in runs if not r["measured"]]
    if bad:
        raise SystemExit("scale: no change reached the file at %s" % bad)


if __name__ == "__main__":
    main()
