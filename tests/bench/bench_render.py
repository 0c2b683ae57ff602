#!/usr/bin/env python3
"""Render cost by catalog size: render_bench (in process) and the daemon
end to end.

For each size (service instances, 10 per service on distinct nodes, 5 per
node): render_bench runs decode + render of templates/hosts.tmpl with the
default (stable) ordering and reports times and RSS; then the simulator is
seeded with the same catalog and `consul-hosts -once -dry` renders it
under /usr/bin/time -v (peak RSS, wall and CPU time, requests it made).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import benchlib as bl


def render_bench(n, checks=2, reps=5):
    out = subprocess.run([bl.RENDER_BENCH, "-n", str(n), "-c", str(checks),
                          "-r", str(reps), "-t", bl.HOSTS_TMPL],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("render_bench -n %d: %s" % (n, out.stderr))
    return json.loads(out.stdout)


def time_v(text):
    res = {}
    for key, name in (("Maximum resident set size (kbytes)", "maxrss_kib"),
                      ("User time (seconds)", "user_s"),
                      ("System time (seconds)", "sys_s"),
                      ("Elapsed (wall clock) time (h:mm:ss or m:ss)",
                       "wall")):
        m = re.search(re.escape(key) + r": (\S+)", text)
        if m:
            res[name] = m.group(1)
    if "wall" in res:
        parts = [float(x) for x in res["wall"].split(":")]
        s = 0.0
        for p in parts:
            s = s * 60 + p
        res["wall_s"] = s
        del res["wall"]
    for k in ("maxrss_kib",):
        if k in res:
            res[k] = int(res[k])
    for k in ("user_s", "sys_s"):
        if k in res:
            res[k] = float(res[k])
    return res


def end_to_end(n, tmp, wait):
    doc, services, nodes = bl.catalog(n)
    t0 = time.monotonic()
    sim = bl.Sim(seed=doc, tmp=tmp, max_conns=0)
    load_s = time.monotonic() - t0
    try:
        sim.reset_log()
        # Above 150 dependencies (HTTP_MAX_CONNECTIONS) the first fetches
        # queue behind blocking queries holding every connection for
        # block_query_wait; 1s (the minimum) keeps the run short.
        cfg = os.path.join(tmp, "e2e.hcl")
        with open(cfg, "w") as f:
            f.write('block_query_wait = "%s"\n' % wait)
        args = ["/usr/bin/time", "-v", bl.BIN, "-once", "-dry",
                "-config", cfg,
                "-consul-addr", sim.address, "-template", bl.HOSTS_TMPL,
                "-log-level", "warn"]
        p = subprocess.run(args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=300)
        reqs = bl.api_entries(sim.requests(), ua_prefix="consul-hosts")
    finally:
        sim.stop()
    res = time_v(p.stderr.decode(errors="replace"))
    res.update({"instances": n, "exit": p.returncode,
                "output_bytes": len(p.stdout),
                "output_lines": p.stdout.count(b"\n"),
                "requests": len(reqs),
                "bytes_in": sum(e.get("bytes_out", 0) for e in reqs),
                "sim_load_s": round(load_s, 2), "block_query_wait": wait})
    if p.returncode != 0:
        res["stderr"] = p.stderr.decode(errors="replace")[-2000:]
    return res


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--e2e-sizes", default="1000",
                    help="daemon runs; above ~2k instances the Python "
                    "simulator drops connections (accept backlog 128)")
    a = ap.parse_args()
    sizes = [1000] if a.smoke else [int(x) for x in a.sizes.split(",")]
    tmp = tempfile.mkdtemp(prefix="ch-bench-render-")
    res = {"render": [], "render_nochecks": [], "daemon": []}
    for n in sizes:
        bl.log("render_bench %d" % n)
        res["render"].append(render_bench(n, reps=3 if a.smoke else 7))
        res["render_nochecks"].append(render_bench(n, checks=0, reps=3))
    for n in ([1000] if a.smoke else
              [int(x) for x in a.e2e_sizes.split(",") if x]):
        bl.log("daemon -once -dry %d" % n)
        res["daemon"].append(end_to_end(n, tmp, "60s" if n <= 1000
                                        else "1s"))
    print(bl.write_result(a.out, "render", res))
    shutil.rmtree(tmp, ignore_errors=True)
    bad = [d for d in res["daemon"] if d["exit"] != 0]
    if bad:
        raise SystemExit("render: daemon -once -dry failed: %s" % bad)


if __name__ == "__main__":
    main()
