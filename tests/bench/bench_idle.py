#!/usr/bin/env python3
"""Steady state: idle RSS, CPU and wake-ups; RSS over many changes; Consul
requests and bytes per change.

The daemon renders templates/hosts.tmpl over a 1k-instance catalog (100
services, 200 nodes). After the first render:

1. idle for --idle seconds; strace -c (every thread) counts syscalls over
   the last --window seconds, /proc gives CPU time and RSS, the
   simulator's log gives the requests made while idle (blocking queries
   that timed out after block_query_wait, and the WATCH_POLL_MS re-poll
   of agent/self).
2. --changes changes, one at a time, each flipping the service check of
   instance 0 of the next service (round robin), each awaited as the
   file's IN_MOVED_TO: RSS before, after the first 10 %, after all; and
   per change the requests and bytes the simulator served to the daemon,
   split into the changed dependency and everything else.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

import benchlib as bl


def strace_count(pid, seconds):
    """Syscall counts of every thread of pid over seconds: {name: calls}."""
    args = ["strace", "-c", "-f", "-qq"]
    for t in bl.proc_tids(pid):
        args += ["-p", str(t)]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)  # the measurement window itself
    p.send_signal(2)
    _, err = p.communicate(timeout=30)
    calls = {}
    for line in err.splitlines():
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)$",
                     line)
        if m and m.group(3) != "total":
            calls[m.group(3)] = int(m.group(1))
    return calls, err


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--idle", type=float, default=600,
                    help="idle seconds before the changes")
    ap.add_argument("--window", type=float, default=300,
                    help="strace window at the end of the idle time")
    ap.add_argument("--changes", type=int, default=1000)
    ap.add_argument("--instances", type=int, default=1000)
    ap.add_argument("--valgrind", action="store_true",
                    help="run the daemon under valgrind --leak-check=full "
                    "and report its leak summary (slow: use few changes)")
    a = ap.parse_args()
    if a.smoke:
        a.idle, a.window, a.changes = 5, 3, 20
    a.window = min(a.window, a.idle)
    tmp = tempfile.mkdtemp(prefix="ch-bench-idle-")
    doc, services, nodes = bl.catalog(a.instances)
    sim = bl.Sim(seed=doc, tmp=tmp)
    out_dir = os.path.join(tmp, "out")
    os.mkdir(out_dir)
    dest = os.path.join(out_dir, "hosts")
    watch = bl.DirWatch(out_dir)
    prefix = ["valgrind", "--leak-check=full", "--error-exitcode=99",
              "--errors-for-leak-kinds=definite"] if a.valgrind else []
    d = bl.Daemon(bl.daemon_args(sim, dest), os.path.join(tmp, "daemon.log"),
                  prefix=prefix)
    res = {"instances": a.instances, "services": services, "nodes": nodes,
           "idle_s": a.idle, "window_s": a.window}
    try:
        if not watch.wait_name("hosts", 60):
            raise RuntimeError("no first render:\n" + d.log())
        # Settled: every dependency parked in a blocking query.
        sim.await_blocked("/v1/health/service/", services, timeout=60)
        res["rss_ready"] = bl.proc_status(d.pid)
        t_idle = time.time()
        time.sleep(max(0.0, a.idle - a.window))  # idle is the point
        cpu0 = bl.proc_cpu_s(d.pid)
        w0 = time.time()
        calls, raw = strace_count(d.pid, a.window)
        w1 = time.time()
        cpu1 = bl.proc_cpu_s(d.pid)
        res["rss_idle"] = bl.proc_status(d.pid)
        reqs = bl.api_entries(sim.requests(), ua_prefix="consul-hosts")
        win = [e for e in reqs if w0 <= e["time"] <= w1]
        res["idle"] = {
            "syscalls": calls,
            "wakeups": sum(calls.get(k, 0) for k in
                           ("epoll_wait", "epoll_pwait", "epoll_pwait2")),
            "syscalls_total": sum(calls.values()),
            "cpu_s": round(cpu1 - cpu0, 3),
            "requests": len(win),
            "requests_by_path": {},
            "requests_since_ready": len([e for e in reqs
                                         if e["time"] >= t_idle]),
            "file_writes": watch.drain(),
            "seconds": round(w1 - w0, 1),
        }
        for e in win:
            p = e["path"]
            res["idle"]["requests_by_path"][p] = \
                res["idle"]["requests_by_path"].get(p, 0) + 1
        # No table at all means strace saw no syscall in the window.
        res["idle"]["strace_stderr"] = raw[-1500:]

        # Changes, one at a time.
        rss = [bl.proc_rss_kib(d.pid)]
        status = {}
        missed = 0
        marks = []
        trajectory = [(0, rss[0])]
        c0 = bl.proc_cpu_s(d.pid)
        t0 = time.time()
        for i in range(a.changes):
            s = i % services
            node, svc = bl.instance_of(s, 0, 10, nodes)
            st = "critical" if status.get(s, "passing") == "passing" \
                else "passing"
            status[s] = st
            # The daemon's query for svc must be parked (rate limit).
            sim.await_blocked("/v1/health/service/" + svc, 1, timeout=10)
            marks.append((time.time(), svc))
            sim.set_check(node, "service:" + svc, st, svc)
            if watch.wait_name("hosts", 10) is None:
                missed += 1
            if i + 1 == max(1, a.changes // 10):
                rss.append(bl.proc_rss_kib(d.pid))
            if (i + 1) % max(1, a.changes // 10) == 0:
                trajectory.append((i + 1, bl.proc_rss_kib(d.pid)))
        t1 = time.time()
        # Let the last re-issued queries reach the simulator.
        sim.await_blocked("/v1/health/service/", services, timeout=10)
        rss.append(bl.proc_rss_kib(d.pid))
        reqs = bl.api_entries(sim.requests(), ua_prefix="consul-hosts")
        reqs_all = reqs
        reqs = [e for e in reqs_all if e["time"] >= t0]
        # Answers completed during the changes (the requests started
        # during them are parked until the next change).
        done = [e for e in reqs_all if e["status"] is not None and
                e["time"] + (e["duration"] or 0) >= t0]
        changed = sum(1 for e in reqs
                      if e["path"].startswith("/v1/health/service/svc-")
                      and e["time"] >= t0)
        paths = {}
        for e in reqs:
            paths[e["path"]] = paths.get(e["path"], 0) + 1
        other = [e for e in reqs if not
                 e["path"].startswith("/v1/health/service/svc-")]
        n = max(1, a.changes)
        res["changes"] = {
            "count": a.changes, "missed": missed,
            "seconds": round(t1 - t0, 2),
            "cpu_s": round(bl.proc_cpu_s(d.pid) - c0, 3),
            "cpu_ms_per_change": round((bl.proc_cpu_s(d.pid) - c0)
                                       * 1000 / n, 3),
            "rss_kib_before": rss[0], "rss_kib_after_10pct": rss[1]
            if len(rss) > 2 else None, "rss_kib_after": rss[-1],
            "requests": len(reqs),
            "requests_per_change": round(len(reqs) / n, 3),
            "requests_changed_dep_per_change": round(changed / n, 3),
            "requests_other": len(other),
            "other_paths": sorted(set(e["path"] for e in other)),
            "answers": len(done),
            "bytes_out_per_change": round(
                sum(e.get("bytes_out", 0) for e in done) / n, 1),
            "bytes_in_per_change": round(
                sum(e.get("bytes_in", 0) for e in done) / n, 1),
            "max_requests_one_path": max(paths.values()) if paths else 0,
            "watched_paths": len(paths),
            "rss_trajectory_kib": trajectory,
        }
        res["rss_end"] = bl.proc_status(d.pid)
    finally:
        res["daemon_exit"] = d.stop(timeout=120)
        if a.valgrind:
            log = d.log()
            res["valgrind"] = "\n".join(
                l for l in log.splitlines()
                if "lost:" in l or "ERROR SUMMARY" in l)
        watch.close()
        sim.stop()
    print(bl.write_result(a.out, "idle", res))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
