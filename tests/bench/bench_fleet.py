#!/usr/bin/env python3
"""Fleet: N daemons on one machine against one simulator, and what the
Consul servers serve for them.

Each daemon has its own -order-seed (node-NNN), destination and ACL token
(fleet-NNN). The simulator keys its agent cache and streaming views by
token, as Consul's agent does, so every daemon is served as if by its own
agent, and the simulator's server counters (/_sim/server-load) count what
a fleet of agents costs the servers: replies (and their bytes) to the
queries the agents forward, to the cache's own queries, and streaming
events. All daemons render templates/hosts.tmpl from the seed catalog (6
nodes, 3 services: 5 blocking queries each). The simulator runs with
--max-conns-per-client 0: every daemon connects from 127.0.0.1, where a
real agent would see one client per node.

Measured per change, with the requests the daemons send their agent, the
servers' replies, events and bytes, and the time until every daemon's
file is renamed into place (IN_MOVED_TO), p50 / max:
  check      foo-app01's service check flips (--rounds, each once every
             daemon's foo-app query is parked again);
  join       a node registers;           leave   it deregisters;
  burst      --burst nodes register --burst-gap-ms apart (node-list
             replies per daemon: one per join unless coalesced);
  join+leave a node joins and another leaves 200 ms later: the leave's
             latency (node_join_settle makes it wait);
and idle: --idle seconds without a change.

--matrix BEFORE_BIN runs BEFORE_BIN (today's binary) and this one, the
agent streaming and not, and this one with node_join_settle = "1s"; it
writes fleet-load.json and prints the fleet-load table, projected to
5,000 nodes x 200 services (see project()).
"""

import json
import os
import shutil
import sys
import tempfile
import time

import benchlib as bl

sys.path.insert(0, os.path.join(bl.SRC, "tests", "sim"))
import consul_sim  # noqa: E402

CHECK_PATH = "/v1/health/service/foo-app"
BURST_NODE = "burst-%02d"
TARGET_NODES = 5000
TARGET_SERVICES = 200
TARGET_PER_SERVICE = 25
SEED_SERVICES = 3          # health watches per daemon on the seed catalog
DEPS = 2 + SEED_SERVICES   # its long polls: nodes, services, health x 3
LONG_WAIT_S = 600 * (1 + 1 / 32.0)   # a 10 min long poll, mean jitter
FULL = ("direct", "fill", "refresh", "snapshot")


def served_delta(a, b):
    """Server load b minus a: {"requests","events","bytes","by_kind"}."""
    out = {"requests": b["requests"] - a["requests"],
           "events": b["events"] - a["events"],
           "bytes": b["bytes"] - a["bytes"], "by_kind": {}}
    for kind, hows in b["by_kind"].items():
        for how, v in hows.items():
            w = a["by_kind"].get(kind, {}).get(how, {"n": 0, "bytes": 0})
            if v["n"] - w["n"] or v["bytes"] - w["bytes"]:
                out["by_kind"].setdefault(kind, {})[how] = {
                    "n": v["n"] - w["n"], "bytes": v["bytes"] - w["bytes"]}
    return out


class Fleet:
    def __init__(self, a, tmp, streaming, settle_ms):
        self.a = a
        self.n = a.daemons
        self.sim = bl.Sim(tmp=tmp, max_conns=0)
        self.sim.ctl("configure", {"streaming": streaming})
        self.out_dir = os.path.join(tmp, "out")
        os.mkdir(self.out_dir)
        self.watch = bl.DirWatch(self.out_dir)
        self.daemons = []
        extra = []
        if settle_ms:
            conf = os.path.join(tmp, "settle.hcl")
            with open(conf, "w") as f:
                f.write('node_join_settle = "%dms"\n' % settle_ms)
            extra = ["-config", conf]
        for i in range(self.n):
            dest = os.path.join(self.out_dir, "hosts-%03d" % i)
            self.daemons.append(bl.Daemon(
                bl.daemon_args(self.sim, dest, [
                    "-order-seed", "node-%03d" % i,
                    "-consul-token", "fleet-%03d" % i] + extra),
                os.path.join(tmp, "daemon-%03d.log" % i)))
            if (i + 1) % a.batch == 0 or i + 1 == self.n:
                if not self.sim.await_blocked(CHECK_PATH, i + 1,
                                              timeout=120):
                    raise RuntimeError("daemons did not park: %s" %
                                       self.sim.ctl("state", method="GET"))

    def served(self):
        return self.sim.ctl("server-load", method="GET")["result"]

    def parked(self, timeout=60):
        """Every daemon's every long poll is parked."""
        if not self.sim.await_blocked("/v1/", self.n * DEPS,
                                      timeout=timeout):
            raise RuntimeError("daemons did not re-park")

    def file_has(self, name, text):
        try:
            with open(os.path.join(self.out_dir, name)) as f:
                return text in f.read()
        except OSError:
            return False

    def change(self, name, do, settled=None, timeout=120):
        """Run do(), which may return the monotonic_ns the change counts
        from (default: when do() starts); wait until every file is
        renamed into place after it (and, with settled(file name) ->
        bool, until that holds). Returns the update times (ms), the
        requests the daemons sent their agent and the servers' load."""
        self.parked()
        self.watch.drain()
        reqs0 = self.sim.requests()["counters"]["total"]
        load0 = self.served()
        t0w = time.time()
        t0 = time.monotonic_ns()
        ref = do()
        t0 = ref if isinstance(ref, int) else t0
        seen = {}
        deadline = time.monotonic() + timeout
        while len(seen) < self.n and time.monotonic() < deadline:
            ev = self.watch.get(deadline - time.monotonic())
            if ev is None or ev[0] < t0 or ev[2].startswith(".") or \
                    ev[2] in seen:
                continue
            if settled is None or settled(ev[2]):
                seen[ev[2]] = (ev[0] - t0) / 1e6
        self.parked()
        reqs = self.sim.requests()
        times = sorted(seen.values())
        res = {
            "change": name, "updated": len(seen),
            "p50_ms": round(bl.percentile(times, 50), 1) if times else None,
            "max_ms": round(times[-1], 1) if times else None,
            "agent_requests": reqs["counters"]["total"] - reqs0,
            # wire bytes of the agent's answers that ended meanwhile
            "agent_bytes": sum(
                e.get("bytes_out", 0) for e in bl.api_entries(
                    reqs, ua_prefix="consul-hosts")
                if e["status"] is not None and
                e["time"] + (e["duration"] or 0) >= t0w),
            "server": served_delta(load0, self.served()),
        }
        bl.log("%s: %d updated, p50 %s ms, max %s ms; servers: %d replies, "
               "%d events, %d bytes" % (
                   name, res["updated"], res["p50_ms"], res["max_ms"],
                   res["server"]["requests"], res["server"]["events"],
                   res["server"]["bytes"]))
        if res["updated"] < self.n:
            raise RuntimeError("%s: only %d of %d files updated" % (
                name, res["updated"], self.n))
        return res

    def run(self):
        ctl = self.sim.ctl
        out = {"checks": []}
        status = "passing"
        for _ in range(self.a.rounds):
            status = "critical" if status == "passing" else "passing"
            out["checks"].append(self.change("check", lambda s=status: (
                self.sim.set_check("foo-app01", "service:foo-app", s,
                                   "foo-app"))))
        # Each node change after a quiet spell longer than any settle.
        join = {"node": "join-1", "address": "192.0.2.201"}
        time.sleep(self.a.quiet)
        out["join"] = self.change("join", lambda: ctl("register-node", join),
                                  lambda f: self.file_has(f, " join-1\n"))
        time.sleep(self.a.quiet)
        out["leave"] = self.change(
            "leave", lambda: ctl("deregister-node", {"node": "join-1"}),
            lambda f: not self.file_has(f, " join-1\n"))
        last = BURST_NODE % (self.a.burst - 1)

        def burst():
            for k in range(self.a.burst):
                if k:
                    time.sleep(self.a.burst_gap_ms / 1000.0)
                t = time.monotonic_ns()     # counted from the last join
                ctl("register-node", {"node": BURST_NODE % k,
                                      "address": "198.51.100.%d" % (k + 1)})
            return t
        time.sleep(self.a.quiet)
        out["burst"] = self.change("burst", burst,
                                   lambda f: self.file_has(f, " %s\n" % last))

        def join_leave():
            ctl("register-node", {"node": "join-2",
                                  "address": "192.0.2.202"})
            time.sleep(0.2)
            t = time.monotonic_ns()         # counted from the leave
            ctl("deregister-node", {"node": BURST_NODE % 0})
            return t
        gone = " %s\n" % (BURST_NODE % 0)
        time.sleep(self.a.quiet)
        out["join_leave"] = self.change(
            "join+leave", join_leave, lambda f: not self.file_has(f, gone))
        # idle
        self.parked()
        reqs0 = self.sim.requests()["counters"]["total"]
        load0 = self.served()
        t0 = time.monotonic()
        time.sleep(self.a.idle)
        dt = time.monotonic() - t0
        out["idle"] = {"seconds": round(dt, 1),
                       "agent_requests": self.sim.requests()["counters"][
                           "total"] - reqs0,
                       "server": served_delta(load0, self.served())}
        bl.log("idle %.0f s: %d agent requests; servers: %d replies, %d "
               "bytes" % (dt, out["idle"]["agent_requests"],
                          out["idle"]["server"]["requests"],
                          out["idle"]["server"]["bytes"]))
        out["rss_kib"] = [bl.proc_rss_kib(d.pid) for d in self.daemons]
        return out

    def stop(self):
        for d in self.daemons:
            d.proc.terminate()
        exits = sorted(set(d.stop(signalled=True) for d in self.daemons))
        self.watch.close()
        self.sim.stop()
        return exits


def fleet_run(a, label, bin_path, streaming, settle_ms=0):
    bl.log("== fleet run: %s (%s), streaming %s, node_join_settle %d ms" % (
        label, bin_path, "on" if streaming else "off", settle_ms))
    bl.BIN = bin_path
    tmp = tempfile.mkdtemp(prefix="ch-bench-fleet-")
    fleet = None
    t0 = time.monotonic()
    try:
        fleet = Fleet(a, tmp, streaming, settle_ms)
        startup = time.monotonic() - t0
        res = fleet.run()
    finally:
        exits = fleet.stop() if fleet is not None else []
    res.update(label=label, bin=bin_path, streaming=streaming,
               node_join_settle_ms=settle_ms, daemons=a.daemons,
               startup_s=round(startup, 2), exits=exits)
    shutil.rmtree(tmp, ignore_errors=True)
    return res


# ------------------------------------------------------------ projection
def target_sizes():
    """Reply bodies in a catalog of 5,000 nodes and 200 services of 25
    instances (one per node), as the simulator encodes them; nodes carry
    the tagged addresses agents register (lan, lan_ipv4, wan, wan_ipv4)."""
    doc, services, nodes = bl.catalog(TARGET_NODES, TARGET_PER_SERVICE, 1)
    assert (services, nodes) == (TARGET_SERVICES, TARGET_NODES)
    for n in doc["Nodes"]:
        n["TaggedAddresses"] = {k: n["Address"] for k in (
            "lan", "lan_ipv4", "wan", "wan_ipv4")}
    sim = consul_sim.ConsulSim(seed=doc)
    q = consul_sim._EntryQuery("dc1", [], [])
    size = {k: len(consul_sim.go_json(sim.read(k, arg, q)[1]))
            for k, arg in (("nodes", None), ("services", None),
                           ("health", "svc-00000"))}
    size["instance"] = size["health"] // TARGET_PER_SERVICE
    return size


def project(served, n, sizes, idle_scale=False):
    """The servers' replies, events and bytes for 5,000 daemons in the
    5,000 x 200 catalog: each reply the n measured daemons got, per
    daemon, x 5,000, at its size in that catalog (a whole body, an
    instance's event, or a not-modified reply); for idle, the health
    replies x 200 / 3 (each daemon watches 200 services, not 3)."""
    replies = events = nbytes = 0.0
    for kind, hows in served["by_kind"].items():
        scale = TARGET_SERVICES / SEED_SERVICES \
            if idle_scale and kind == "health" else 1.0
        for how, v in hows.items():
            per = v["n"] / n * TARGET_NODES * scale
            if how == "event":
                events += per
                nbytes += per * (sizes["instance"] +
                                 consul_sim.RPC_EVENT_OVERHEAD)
                continue
            replies += per
            if how in FULL and kind in sizes:
                nbytes += per * (sizes[kind] + consul_sim.RPC_REPLY_OVERHEAD)
            elif how in FULL:      # leader, datacenters: as measured
                nbytes += v["bytes"] / n * TARGET_NODES * scale
            else:                  # not-modified
                nbytes += per * consul_sim.RPC_REPLY_OVERHEAD
    return {"replies": replies, "events": events, "bytes": nbytes}


def idle_per_minute(res, sizes, after):
    """Idle replies and bytes per minute, at the rates Consul's rules
    give: a long poll expires once per wait plus the servers' mean
    jitter (wait x 33/32). The idle window shows which expiries reach
    the servers and what each costs (the kinds with replies in it: the
    60 s long polls that no cache or view answers); the 10 min ones (the
    node list after this change, the agent cache's own queries: a
    not-modified reply each) are too rare for it and are added at their
    rate, at the node list's measured (join) or projected size."""
    n, idle = res["daemons"], res["idle"]
    deps = {"nodes": 1, "services": 1, "health": SEED_SERVICES}
    tdeps = {"nodes": 1, "services": 1, "health": TARGET_SERVICES}
    rate = {60: 60.0 / (60 * 33 / 32.0), 600: 60.0 / LONG_WAIT_S}
    meas = {"replies": 0.0, "events": 0.0, "bytes": 0.0}
    proj = dict(meas)

    def add(kind, per_min_daemon, mbytes, pbytes, k=1, tk=1):
        meas["replies"] += n * k * per_min_daemon
        meas["bytes"] += n * k * per_min_daemon * mbytes
        proj["replies"] += TARGET_NODES * tk * per_min_daemon
        proj["bytes"] += TARGET_NODES * tk * per_min_daemon * pbytes

    for kind, hows in idle["server"]["by_kind"].items():
        for how, v in hows.items():
            if not v["n"] or kind not in deps:
                continue
            full = sizes[kind] if how in FULL else 0
            add(kind, rate[60], v["bytes"] / v["n"],
                full + consul_sim.RPC_REPLY_OVERHEAD, deps[kind],
                tdeps[kind])
    if after:   # the node list waits 10 min
        add("nodes", rate[600], res["join"]["server"]["bytes"] / n,
            sizes["nodes"] + consul_sim.RPC_REPLY_OVERHEAD)
        # the cache's refreshing entries: the service list, and health
        # without streaming; each expiry a not-modified reply
        ent = 1 + (0 if res["streaming"] else SEED_SERVICES)
        tent = 1 + (0 if res["streaming"] else TARGET_SERVICES)
        add("cache", rate[600], consul_sim.RPC_REPLY_OVERHEAD,
            consul_sim.RPC_REPLY_OVERHEAD, ent, tent)
    return meas, proj


def human(nbytes):
    for unit, d in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if nbytes >= d:
            return "%.1f %s" % (nbytes / d, unit)
    return "%.0f B" % nbytes


def matrix(a):
    sizes = target_sizes()
    bl.log("target sizes: %s" % sizes)
    current = bl.BIN
    runs = []
    for label, path in (("today", a.matrix), ("after", current)):
        for streaming in (True, False):
            runs.append(fleet_run(a, label, path, streaming))
    runs.append(fleet_run(a, "after, node_join_settle 1s", current, True,
                          1000))
    res = {"daemons": a.daemons, "runs": runs, "burst": a.burst,
           "burst_gap_ms": a.burst_gap_ms, "idle_s": a.idle}
    report(res, sizes, a.out)


def report(res, sizes, out):
    """The fleet-load rows and table from the runs."""
    rows = []
    for r in res["runs"]:
        n = r["daemons"]
        after = r["label"] != "today"
        checks = r["checks"]
        chk = {"replies": sum(c["server"]["requests"] for c in checks) /
               len(checks),
               "events": sum(c["server"]["events"] for c in checks) /
               len(checks),
               "bytes": sum(c["server"]["bytes"] for c in checks) /
               len(checks)}
        pchk = [project(c["server"], n, sizes) for c in checks]
        pchk = {k: sum(p[k] for p in pchk) / len(pchk) for k in pchk[0]}
        meas_idle, proj_idle = idle_per_minute(r, sizes, after)
        row = {
            "label": r["label"], "streaming": r["streaming"],
            "settle_ms": r["node_join_settle_ms"],
            "check": {"measured": chk, "projected": pchk,
                      "p50_ms": bl.percentile(
                          [c["p50_ms"] for c in checks], 50),
                      "max_ms": max(c["max_ms"] for c in checks)},
            "join": {"measured": r["join"]["server"],
                     "projected": project(r["join"]["server"], n, sizes),
                     "p50_ms": r["join"]["p50_ms"],
                     "max_ms": r["join"]["max_ms"]},
            "leave": {"p50_ms": r["leave"]["p50_ms"],
                      "max_ms": r["leave"]["max_ms"]},
            "burst": {"measured": r["burst"]["server"],
                      "projected": project(r["burst"]["server"], n, sizes),
                      "node_list_replies_per_daemon": sum(
                          v["n"] for v in r["burst"]["server"]["by_kind"]
                          .get("nodes", {}).values()) / n,
                      "p50_ms": r["burst"]["p50_ms"],
                      "max_ms": r["burst"]["max_ms"]},
            "join_leave": {"p50_ms": r["join_leave"]["p50_ms"],
                           "max_ms": r["join_leave"]["max_ms"]},
            "idle_window": {"seconds": r["idle"]["seconds"],
                            "replies": r["idle"]["server"]["requests"],
                            "bytes": r["idle"]["server"]["bytes"]},
            "idle_per_min": {"measured": meas_idle, "projected": proj_idle},
        }
        rows.append(row)
    res = dict(res, target_sizes=sizes, rows=rows)
    print(bl.write_result(out, "fleet-load", res))
    print(table(res))


def table(res):
    n = res["daemons"]
    lines = [
        "| run | streaming | per check change: replies + events, bytes "
        "(measured %d; projected 5,000) | per node join | burst of %d "
        "joins: node-list replies per daemon; bytes projected | idle per "
        "minute: replies, bytes (measured %d; projected 5,000) | idle, "
        "projected: bytes/s | p50 / max ms: check, leave, leave 200 ms "
        "after a join |" % (n, res["burst"], n),
        "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        c, j, b, i = r["check"], r["join"], r["burst"], r["idle_per_min"]
        lines.append(
            "| %s | %s | %.0f + %.0f, %s; %.0f + %.0f, %s "
            "| %.0f, %s; %.0f, %s | %.1f; %s | %.0f, %s; %.0f, %s | %s/s "
            "| %.0f / %.0f, %.0f / %.0f, %.0f / %.0f |" % (
                r["label"], "on" if r["streaming"] else "off",
                c["measured"]["replies"], c["measured"]["events"],
                human(c["measured"]["bytes"]),
                c["projected"]["replies"], c["projected"]["events"],
                human(c["projected"]["bytes"]),
                j["measured"]["requests"], human(j["measured"]["bytes"]),
                j["projected"]["replies"], human(j["projected"]["bytes"]),
                b["node_list_replies_per_daemon"],
                human(b["projected"]["bytes"]),
                i["measured"]["replies"], human(i["measured"]["bytes"]),
                i["projected"]["replies"], human(i["projected"]["bytes"]),
                human(i["projected"]["bytes"] / 60.0),
                c["p50_ms"], c["max_ms"], r["leave"]["p50_ms"],
                r["leave"]["max_ms"], r["join_leave"]["p50_ms"],
                r["join_leave"]["max_ms"]))
    return "\n".join(lines)


def main():
    ap = bl.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--daemons", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=20,
                    help="daemons started at a time (the simulator's "
                    "accept backlog is 128)")
    ap.add_argument("--burst", type=int, default=10,
                    help="nodes that join in the burst")
    ap.add_argument("--burst-gap-ms", type=int, default=100)
    ap.add_argument("--idle", type=float, default=150,
                    help="idle seconds measured")
    ap.add_argument("--quiet", type=float, default=2.0,
                    help="seconds without a change before each node "
                    "change (longer than any node_join_settle)")
    ap.add_argument("--no-streaming", action="store_true",
                    help="the agent does not stream health")
    ap.add_argument("--matrix", metavar="BEFORE_BIN",
                    help="the fleet-load table: BEFORE_BIN against this "
                    "binary, streaming on and off")
    ap.add_argument("--report", metavar="FLEET_LOAD_JSON",
                    help="the fleet-load table again from a --matrix "
                    "result")
    a = ap.parse_args()
    if a.smoke:
        a.daemons, a.rounds, a.burst, a.idle, a.quiet = 5, 2, 3, 3, 0.2
    if a.report:
        with open(a.report) as f:
            old = json.load(f)
        return report(old, old["target_sizes"], a.out)
    if a.matrix:
        return matrix(a)
    r = fleet_run(a, "current", bl.BIN, not a.no_streaming)
    checks = r["checks"]
    n = len(checks)
    res = dict(r)
    # The keys report.py reads: per check change, what the daemons ask
    # their agent (and, projected, for 5,000 daemons).
    res["rounds"] = [{"updated": c["updated"], "p50_ms": c["p50_ms"],
                      "all_ms": c["max_ms"],
                      "requests": c["agent_requests"],
                      "bytes_out": c["agent_bytes"],
                      "server_replies": c["server"]["requests"],
                      "server_bytes": c["server"]["bytes"]}
                     for c in checks]
    res["requests_per_change"] = sum(c["agent_requests"]
                                     for c in checks) / n
    res["bytes_per_change"] = sum(c["agent_bytes"] for c in checks) / n
    res["server_bytes_per_change"] = sum(c["server"]["bytes"]
                                         for c in checks) / n
    res["all_updated_ms_mean"] = sum(c["max_ms"] for c in checks) / n
    res["projection_5000"] = {
        "requests_per_change": res["requests_per_change"] / a.daemons *
        5000,
        "bytes_per_change": res["bytes_per_change"] / a.daemons * 5000}
    res["rss_kib_mean"] = round(sum(r["rss_kib"]) / len(r["rss_kib"]))
    res["rss_kib_max"] = max(r["rss_kib"])
    print(bl.write_result(a.out, "fleet", res))


if __name__ == "__main__":
    main()
