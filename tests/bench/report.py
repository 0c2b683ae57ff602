#!/usr/bin/env python3
"""Print the benchmark table (markdown) from a results directory.

  report.py DIR [--no-targets]

Reads the JSON the bench_*.py drivers wrote; a missing file is a missing
row. With targets (the default) each row says whether its target (the
"target" column of tests/bench/RESULTS.md) was met; --no-targets (smoke
runs) prints the figures only.
"""

import json
import os
import sys


def load(d, name):
    try:
        with open(os.path.join(d, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def f(v, fmt="%.1f"):
    return "n/a" if v is None else fmt % v


def mib(kib):
    return "n/a" if kib is None else "%.1f MiB" % (kib / 1024.0)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: report.py DIR [--no-targets]")
    d = sys.argv[1]
    targets = "--no-targets" not in sys.argv
    rows = []

    def row(what, value, target="", ok=None):
        verdict = "" if ok is None or not targets else (
            "met" if ok else "**missed**")
        rows.append((what, value, target if targets else "", verdict))

    machine = None
    lat = load(d, "latency")
    if lat:
        machine = lat["machine"]
        row("change-to-file p50 / p99 / max (ms), %d changes, wait off"
            % lat["measured"],
            "%s / %s / %s" % (f(lat["file_p50_ms"], "%.2f"),
                              f(lat["file_p99_ms"], "%.2f"),
                              f(lat["file_max_ms"], "%.2f")))
        row("bare blocking request (floor) p50 / p99 / max (ms)",
            "%s / %s / %s" % (f(lat["floor_p50_ms"], "%.2f"),
                              f(lat["floor_p99_ms"], "%.2f"),
                              f(lat["floor_max_ms"], "%.2f")))
        gap = None
        if lat["file_p99_ms"] is not None and lat["floor_p99_ms"]:
            gap = lat["file_p99_ms"] - lat["floor_p99_ms"]
        row("file / floor: ratio p50, ratio p99, p99 gap (ms)",
            "%s, %s, %s" % (f(lat.get("ratio_p50"), "%.2f"),
                            f(lat.get("ratio_p99"), "%.2f"),
                            f(gap, "%+.2f")),
            "p99 within 5 ms of the floor", gap is not None and gap <= 5)
    ren = load(d, "render")
    if ren:
        machine = machine or ren["machine"]
        for r in ren["render"]:
            n = r["instances"]
            total = r["decode_ms"] + r["render_cold_ms"]
            row("%dk instances (%d svc, %d nodes, %.1f MB JSON): decode"
                " / json_loadb floor / cold render / warm render (ms)"
                % (n // 1000, r["services"], r["nodes"],
                   r["body_bytes"] / 1e6),
                "%.1f / %.1f / %.1f / %.1f" % (
                    r["decode_ms"], r["parse_ms"], r["render_cold_ms"],
                    r["render_warm_ms"]),
                "decode + render < 20 ms" if n == 10000 else "",
                total < 20 if n == 10000 else None)
            row("%dk instances: RSS with the store / peak (render_bench)"
                % (n // 1000),
                "%s / %s" % (mib(r["rss_store_kib"]), mib(r["maxrss_kib"])),
                "< 64 MiB" if n == 50000 else "",
                r["maxrss_kib"] < 65536 if n == 50000 else None)
        for r in ren.get("render_nochecks", []):
            row("%dk instances without Checks in the answers: decode / "
                "store RSS" % (r["instances"] // 1000),
                "%.1f ms / %s" % (r["decode_ms"], mib(r["rss_store_kib"])))
        for r in ren["daemon"]:
            row("daemon -once -dry, %dk instances: peak RSS, wall, "
                "CPU, requests" % (r["instances"] // 1000),
                "%s, %s s, %s s, %d" % (
                    mib(r.get("maxrss_kib")), f(r.get("wall_s"), "%.2f"),
                    f((r.get("user_s") or 0) + (r.get("sys_s") or 0),
                      "%.2f"), r["requests"]))
    idle = load(d, "idle")
    if idle:
        machine = machine or idle["machine"]
        i = idle["idle"]
        rss = idle["rss_idle"]
        row("idle RSS after %.0f s, %dk catalog (anon + file)"
            % (idle["idle_s"], idle["instances"] // 1000),
            "%s (%s + %s)" % (mib(rss["VmRSS"]), mib(rss["RssAnon"]),
                              mib(rss["RssFile"])),
            "< 4 MiB", rss["VmRSS"] < 4096)
        row("idle window %.0f s: wake-ups (epoll_wait), syscalls, CPU s, "
            "Consul requests" % i["seconds"],
            "%d, %d, %.2f, %d on %d paths" % (
                i["wakeups"], i["syscalls_total"], i["cpu_s"],
                i["requests"], len(i["requests_by_path"])),
            "zero wake-ups", i["wakeups"] == 0)
        c = idle["changes"]
        grow = None
        if c["rss_kib_after_10pct"] is not None:
            grow = c["rss_kib_after"] - c["rss_kib_after_10pct"]
        row("%d changes: RSS before / after 10 %% / after"
            % c["count"],
            "%s / %s / %s" % (mib(c["rss_kib_before"]),
                              mib(c["rss_kib_after_10pct"]),
                              mib(c["rss_kib_after"])),
            "no growth", grow is not None and grow <= 64)
        if c.get("rss_trajectory_kib"):
            row("  RSS every %d changes (KiB)"
                % c["rss_trajectory_kib"][1][0]
                if len(c["rss_trajectory_kib"]) > 1 else "  RSS (KiB)",
                " ".join(str(r) for _, r in c["rss_trajectory_kib"]))
        row("per change: requests (changed dep / other), bytes out / in, "
            "daemon CPU ms",
            "%.2f (%.2f / %d), %.0f / %.0f, %.2f" % (
                c["requests_per_change"],
                c["requests_changed_dep_per_change"], c["requests_other"],
                c["bytes_out_per_change"], c["bytes_in_per_change"],
                c["cpu_ms_per_change"]),
            "one request per changed dependency",
            abs(c["requests_changed_dep_per_change"] - 1) < 1e-9)
        if c["requests_other"]:
            row("  of which block_query_wait expiries of unchanged deps "
                "during the %.0f s of changes" % c["seconds"],
                "%d (%s)" % (c["requests_other"],
                             ", ".join(c["other_paths"])))
    sc = load(d, "scale")
    if sc:
        machine = machine or sc["machine"]
        # The targets, by catalog size (benchmarks, not tests).
        cpu_target = {10000: 15.0, 50000: 75.0}
        for r in sc["runs"]:
            n = r["instances"]
            m = r["memory"]
            k = "%dk" % (n // 1000) if n >= 1000 else str(n)
            row("%s instances (%d services, answers of %.0f KB, %.0f KB "
                "gzip): CPU per change (ms)"
                % (k, r["services"], r.get("body_bytes", 0) / 1e3,
                   r["body_gzip_bytes"] / 1e3),
                f(r["cpu_ms_per_change"], "%.1f"),
                "<= %.0f ms" % cpu_target[n] if n in cpu_target else "",
                r["cpu_ms_per_change"] <= cpu_target[n]
                if n in cpu_target else None)
            row("%s instances: change-to-file p50 / floor p50 / "
                "difference (ms)" % k,
                "%s / %s / %s" % (f(r["file_p50_ms"]), f(r["floor_p50_ms"]),
                                  f(r["diff_p50_ms"])),
                "floor + 10 ms" if n == 10000 else "",
                r["diff_p50_ms"] is not None and r["diff_p50_ms"] <= 10
                if n == 10000 else None)
            row("%s instances: output-only check write: CPU (ms), "
                "renders" % k,
                "%s, %d of %d" % (f(r["cpu_ms_per_output_write"], "%.2f"),
                                  r["output_writes_renders"],
                                  r["output_writes"]),
                "<= 1 ms, no render" if n == 10000 else "",
                r["cpu_ms_per_output_write"] <= 1.0 and
                r["output_writes_renders"] == 0 if n == 10000 else None)
            row("%s instances: RSS / PSS / private (peak RSS)" % k,
                "%s / %s / %s (%s)" % (mib(m["rss_kib"]), mib(m["pss_kib"]),
                                       mib(m["private_kib"]),
                                       mib(r.get("hwm_kib"))),
                "RSS <= 96 MiB" if n == 50000 else "",
                m["rss_kib"] <= 96 * 1024 if n == 50000 else None)
            row("%s instances: private memory per instance" % k,
                "%.2f KiB" % (m["private_kib"] / float(n)),
                "<= 1.5 KiB" if n == 50000 else "",
                m["private_kib"] / float(n) <= 1.5 if n == 50000 else None)
        if sc["runs"]:
            m = sc["runs"][0]["memory"]
            row("shared libraries mapped: count, RSS / PSS / private",
                "%d, %s / %s / %s" % (m["libs"], mib(m["libs_rss_kib"]),
                                      mib(m["libs_pss_kib"]),
                                      mib(m["libs_private_kib"])))
    ld = load(d, "load")
    if ld:
        machine = machine or ld["machine"]
        for r in ld["runs"]:
            row("flapping %.0f Hz for %.0f s, wait %s: requests (per s), "
                "bytes out, file writes" % (r["rate_hz"], r["seconds"],
                                           r["wait"]),
                "%d (%.1f), %d, %d of %d changes%s" % (
                    r["requests"], r["requests_per_s"], r["bytes_out"],
                    r["file_writes"], r["changes"],
                    "" if r["final_ok"] else ", FINAL FILE WRONG"))
    fl = load(d, "fleet")
    if fl:
        machine = machine or fl["machine"]
        if fl.get("rounds"):
            row("fleet of %d daemons: requests / bytes per change, "
                "all files updated (mean ms)" % fl["daemons"],
                "%.0f / %.0f, %.1f" % (fl["requests_per_change"],
                                       fl["bytes_per_change"],
                                       fl["all_updated_ms_mean"]))
            p = fl["projection_5000"]
            row("projected to 5,000 nodes: requests / bytes per change",
                "%.0f / %.1f MB" % (p["requests_per_change"],
                                    p["bytes_per_change"] / 1e6))
            row("fleet RSS per daemon (mean / max)",
                "%s / %s" % (mib(fl["rss_kib_mean"]),
                             mib(fl["rss_kib_max"])))

    ou = load(d, "outage")
    if ou and ou.get("rounds"):
        machine = machine or ou["machine"]
        row("agent down %.0f s, %d dependencies, %d rounds: requests during "
            "the outage (mean), after its first 5 s (per s)"
            % (ou["outage_s"], ou["deps"], len(ou["rounds"])),
            "%s, %s" % (f(ou["requests_mean"], "%.0f"),
                        f(ou.get("steady_per_s_mean"), "%.2f")),
            "one per backoff period (capped at 10 s), whatever the "
            "number of dependencies",
            ou.get("steady_per_s_mean") is not None and
            ou["steady_per_s_mean"] <= 1.0)
        row("agent back: file updated after p50 / max (s)",
            "%s / %s" % (f(ou["updated_p50_s"], "%.2f"),
                         f(ou["updated_max_s"], "%.2f")),
            "p50 <= 5 s, max <= 15 s",
            ou["updated_p50_s"] is not None and not ou["missed"] and
            ou["updated_p50_s"] <= 5 and ou["updated_max_s"] <= 15)
    fo = load(d, "failover")
    if fo:
        machine = machine or fo["machine"]

    if machine:
        print("Machine: %s, %s cores, kernel %s, %s MiB RAM"
              % (machine["cpu"], machine["cores"], machine["kernel"],
                 machine["mem_mib"]))
        print()
    if rows:
        print("| measure | value | target | |")
        print("|---|---|---|---|")
        for r in rows:
            print("| %s | %s | %s | %s |" % r)
    if fo:
        if rows:
            print()
        failover_table(fo, targets)


KIND_NAMES = (
    ("removal", "node stop (removal)"),
    ("addition", "node back (addition)"),
    ("master_gone", "failover 1st write: master deregistered"),
    ("address", "failover 2nd write alone: master at a new address"),
    ("failover", "failover, both writes back to back (from the 2nd)"),
)


def three(dist):
    return "%s / %s / %s" % (f(dist["p50"], "%.1f"), f(dist["p99"], "%.1f"),
                             f(dist["max"], "%.1f"))


def failover_table(fo, targets):
    """The failover benchmark (bench_failover.py): one row per command
    style and change."""
    print("Failover (bench_failover.py): dnsmasq %s, seed config and "
          "template, %d changes of each kind per command; query timeout "
          "%g ms; times in ms from the Consul write's acknowledgement."
          % (fo["dnsmasq"], fo["changes"], fo["query_timeout_ms"]))
    print()
    print("| command | change | n | file renamed p50 / p99 / max | "
          "dnsmasq answers the new data p50 / p99 / max | failed queries "
          "(changes with any) | stale answers (changes with any) | "
          "longest outage |%s" % (" target (p99 < 1 s) |" if targets
                                  else ""))
    print("|---|---|---|---|---|---|---|---|%s" % ("---|" if targets
                                                   else ""))
    for st in fo["styles"]:
        for kind, name in KIND_NAMES:
            k = st["kinds"].get(kind)
            if not k:
                continue
            verdict = ""
            if targets and kind in ("removal", "failover"):
                p99 = k["dns_ms"]["p99"]
                verdict = "met" if p99 is not None and p99 < 1000 and \
                    not k["missed"] else "**missed**"
            failed = "%d (%d)" % (k["failed"], k["changes_failed"])
            if k["failed"]:
                failed += ": " + ", ".join(
                    "%d %s" % (v, c) for c, v in sorted(
                        k["failed_by"].items(), key=lambda x: -x[1]))
            print("| %s | %s | %d%s | %s | %s | %s | %d (%d) | %s |%s"
                  % (st["style"], name, k["changes"],
                     " (%d missed)" % k["missed"] if k["missed"] else "",
                     three(k["file_ms"]), three(k["dns_ms"]), failed,
                     k["stale"], k["changes_stale"],
                     f(k["outage_ms"]["max"], "%.1f"),
                     " %s |" % verdict if targets else ""))
    print()
    print("| command | change | bare blocking query woken by the write "
          "(floor) p50 / p99 / max | file renamed -> dnsmasq answers (the "
          "command and the reload) p50 / p99 / max | renames / reloads per "
          "change |")
    print("|---|---|---|---|---|")
    for st in fo["styles"]:
        for kind, name in KIND_NAMES:
            k = st["kinds"].get(kind)
            if not k:
                continue
            print("| %s | %s | %s | %s | %.1f / %.1f |"
                  % (st["style"], name,
                     three(k["floor_ms"]) if k["floor_ms"]["n"] else "n/a",
                     three(k["file_to_dns_ms"]), k["renames_mean"] or 0,
                     k["reloads_mean"] or 0))
    print()
    print("| command | dnsmasq alone: rename, signal -> new data answered "
          "p50 / p99 / max (rounds; failed queries) | consul-hosts CPU "
          "user+sys (per write) over the wall time | its commands' CPU | "
          "writes | budget waits | held renders |")
    print("|---|---|---|---|---|---|---|")
    for st in fo["styles"]:
        fl = st["dnsmasq_floor"]
        sig = "SIGHUP" if st["style"] == "sighup" else "SIGTERM + start"
        print("| %s | %s: %s (%d; %d) | %.2f s (%.1f ms) over %.0f s | "
              "%.2f s | %d | %d | %d |"
              % (st["style"], sig, three(fl["reload_ms"]), fl["rounds"],
                 fl["failed"], st["cpu_s"],
                 1000 * st["cpu_s"] / max(st["writes"], 1), st["wall_s"],
                 st["commands_cpu_s"], st["writes"], st["budget_waits"],
                 sum(k["held"] for k in st["kinds"].values())))


if __name__ == "__main__":
    main()
