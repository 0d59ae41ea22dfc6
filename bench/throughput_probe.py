#!/usr/bin/env python3
"""throughput_probe.py - measuring and summing up for bench/throughput.

bench/throughput sets up the namespaces and the tunnels; this program takes
the measurements and keeps them, one JSON object a line, in a results file:

  iperf  runs an iperf3 client (the command after "--", with -J) and records
         what it moved, the CPU time the tunnel daemons used meanwhile
         (utime+stime of /proc/PID/stat, all threads, both ends summed), the
         CPU time of the two iperf3 ends (the client from its rusage, the
         server from its /proc/PID/stat) and the daemons' peak VmRSS,
         sampled every 50 ms while the client runs;
  ping   runs ping (the command after "--") and records every RTT it shows;
  rss    records the daemons' VmRSS now (the idle figure);
  report prints the summary: a markdown table and the ratio lines.

Daemons are given as "ROLE=PID,ROLE=PID" (ROLE a or b, the two namespaces).
Every child is bounded by --timeout; a client that fails or overruns is an
error naming the path, since the benchmark only fails on a broken setup.
"""
import argparse
import json
import math
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TCK = os.sysconf("SC_CLK_TCK")
# Display names and column order of the paths bench/throughput knows.
LABELS = {"raw": "raw veth", "tund": "tund", "wg": "wireguard-go", "fastd": "fastd"}
OTHERS = ("wg", "fastd")


def die(msg):
    print("ERROR: " + msg, file=sys.stderr)
    sys.exit(1)


def parse_pids(s):
    out = {}
    for item in filter(None, (s or "").split(",")):
        role, _, pid = item.partition("=")
        out[role] = int(pid)
    return out


def cpu_seconds(pid):
    """utime+stime of the whole thread group, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        # The command name may hold spaces and parentheses: fields are
        # counted from the last ')'; utime and stime are fields 14 and 15.
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TCK


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def record(path, obj):
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def cmd_iperf(a):
    pids = parse_pids(a.pids)
    server = a.server_pid
    cpu0 = {r: cpu_seconds(p) for r, p in pids.items()}
    srv0 = cpu_seconds(server)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = {r: rss_kib(p) for r, p in pids.items()}
    # iperf3 -J writes its whole report at the end: a file, not a pipe, so a
    # long report can never block the client while we poll it.
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(a.cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + a.timeout
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                die("%s: iperf3 ran past %.0f s" % (LABELS[a.path], a.timeout))
            for r, p in pids.items():
                peak[r] = max(peak[r], rss_kib(p))
            time.sleep(0.05)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu1 = {r: cpu_seconds(p) for r, p in pids.items()}
        srv1 = cpu_seconds(server)
        out.seek(0)
        text = out.read().decode(errors="replace")
    try:
        doc = json.loads(text)
        recv = doc["end"]["sum_received"]
    except (ValueError, KeyError):
        die("%s: iperf3 failed (exit %s): %s" % (LABELS[a.path], proc.returncode, text.strip()[-400:]))
    rec = {
        "kind": "iperf", "path": a.path, "streams": a.streams, "run": a.run,
        "mbps": recv["bits_per_second"] / 1e6, "bytes": recv["bytes"],
        "daemon_cpu": sum(cpu1[r] - cpu0[r] for r in pids),
        "iperf_cpu": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime) + (srv1 - srv0),
        "rss_peak": peak,
    }
    record(a.out, rec)
    gb = rec["bytes"] / 1e9
    line = "%-12s %d stream%s run %d: %9.1f Mbit/s" % (
        LABELS[a.path], a.streams, " " if a.streams == 1 else "s", a.run, rec["mbps"])
    if pids:
        line += "   daemons %5.2f s CPU (%.2f s/GB)" % (rec["daemon_cpu"], rec["daemon_cpu"] / gb)
    line += "   iperf3 %5.2f s CPU" % rec["iperf_cpu"]
    print(line, flush=True)


def cmd_ping(a):
    try:
        p = subprocess.run(a.cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=a.timeout, text=True)
    except subprocess.TimeoutExpired:
        die("%s: ping ran past %.0f s" % (LABELS[a.path], a.timeout))
    rtts = [float(m) for m in re.findall(r"time=([0-9.]+) ms", p.stdout)]
    if not rtts:
        die("%s: no ping reply through the tunnel: %s" % (LABELS[a.path], (p.stdout + p.stderr).strip()[-300:]))
    record(a.out, {"kind": "ping", "path": a.path, "run": a.run, "rtts": rtts})


def cmd_rss(a):
    pids = parse_pids(a.pids)
    rec = {"kind": "rss", "path": a.path, "rss": {r: rss_kib(p) for r, p in pids.items()}}
    record(a.out, rec)
    print("%-12s idle RSS: %s" % (LABELS[a.path],
          ", ".join("%s %d KiB" % (r, k) for r, k in sorted(rec["rss"].items()))), flush=True)


# ---------------------------------------------------------------- report

def fmt(x, nd=1):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else "%.*f" % (nd, x)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def summarise(recs, paths):
    s = {}
    for p in paths:
        runs = [r for r in recs if r["kind"] == "iperf" and r["path"] == p]
        one = [r for r in runs if r["streams"] == 1]
        four = [r for r in runs if r["streams"] != 1]
        pings = [t for r in recs if r["kind"] == "ping" and r["path"] == p for t in r["rtts"]]
        idle = next((r["rss"] for r in recs if r["kind"] == "rss" and r["path"] == p), {})
        peak = {}
        for r in one:
            for role, k in r["rss_peak"].items():
                peak[role] = max(peak.get(role, 0), k)

        def med(rs):
            return statistics.median(r["mbps"] for r in rs) if rs else None

        def per_gb(rs, key):
            gb = sum(r["bytes"] for r in rs) / 1e9
            return sum(r[key] for r in rs) / gb if rs and gb > 0 else None

        has_daemon = any(r["rss_peak"] for r in runs)
        s[p] = {
            "one": med(one), "four": med(four),
            "rtt": statistics.median(pings) if pings else None, "npings": len(pings),
            "cpu1": per_gb(one, "daemon_cpu") if has_daemon else None,
            "cpu4": per_gb(four, "daemon_cpu") if has_daemon else None,
            "icpu": per_gb(runs, "iperf_cpu"),
            "idle": idle, "peak": peak,
        }
    return s


def rss_cell(d):
    return " / ".join(str(d[r]) for r in ("a", "b") if r in d) if d else "-"


def cmd_report(a):
    recs = [json.loads(line) for line in open(a.out) if line.strip()]
    paths = [p for p in LABELS if p in a.paths.split(",")]
    s = summarise(recs, paths)
    others = [p for p in OTHERS if p in s]
    has_tund = "tund" in s

    rows = [
        ("1 stream (Mbit/s)", "one", 1, "hi"),
        ("4 streams (Mbit/s)", "four", 1, "hi"),
        ("ping RTT (ms)", "rtt", 3, "lo"),
        ("daemons CPU, 1 stream (s/GB)", "cpu1", 2, "lo"),
        ("daemons CPU, 4 streams (s/GB)", "cpu4", 2, "lo"),
        ("iperf3 ends CPU (s/GB)", "icpu", 2, "lo"),
    ]
    head = ["metric"] + [LABELS[p] for p in paths]
    if has_tund:
        head += ["tund/" + LABELS[p] for p in paths if p != "tund"]
    print()
    print("### Throughput: %s" % " vs ".join(LABELS[p] for p in paths))
    print()
    for m in a.meta:
        print(m + "  ")
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" + "---:|" * (len(head) - 1))
    for name, key, nd, _ in rows:
        cells = [fmt(s[p][key], nd) for p in paths]
        if has_tund:
            cells += [fmt(ratio(s["tund"][key], s[p][key]), 2) for p in paths if p != "tund"]
        print("| " + " | ".join([name] + cells) + " |")
    for name, key in (("RSS idle, a / b (KiB)", "idle"), ("RSS peak, 1 stream, a / b (KiB)", "peak")):
        cells = [rss_cell(s[p][key]) for p in paths]
        if has_tund:
            cells += [""] * (len(paths) - 1)
        print("| " + " | ".join([name] + cells) + " |")
    print()
    if not has_tund:
        return
    print("Ratios are tund divided by the other: above 1 favours tund for throughput, "
          "below 1 for RTT and CPU.")
    print()
    t = s["tund"]
    for p in others:
        print("tund/%s single-stream: %s" % (LABELS[p], fmt(ratio(t["one"], s[p]["one"]), 2)))
    for p in others:
        print("tund/%s 4 streams: %s" % (LABELS[p], fmt(ratio(t["four"], s[p]["four"]), 2)))
    best = [s[p]["one"] for p in OTHERS if p in s and s[p]["one"] is not None]
    if len(best) == len(OTHERS):
        print("tund/max(wg-go, fastd) single-stream: %s (target >= 3)" % fmt(ratio(t["one"], max(best)), 2))
    else:
        print("tund/max(wg-go, fastd) single-stream: n/a (needs both measured)")
    rtts = [(s[p]["rtt"], p) for p in others if s[p]["rtt"] is not None]
    if rtts and t["rtt"] is not None:
        rtt, p = min(rtts)
        print("RTT tund vs best other: tund %s ms, %s %s ms, tund/best %s" % (
            fmt(t["rtt"], 3), LABELS[p], fmt(rtt, 3), fmt(ratio(t["rtt"], rtt), 2)))
    if "raw" in s:
        print("tund/raw veth single-stream: %s" % fmt(ratio(t["one"], s["raw"]["one"]), 3))


def main():
    # Die of Ctrl-C rather than raise: bash then sees a child killed by
    # SIGINT and runs its own INT trap (the cleanup), not the error path.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="what", required=True)
    for name in ("iperf", "ping", "rss", "report"):
        p = sub.add_parser(name)
        p.add_argument("--out", required=True)
        if name != "report":
            p.add_argument("--path", required=True, choices=list(LABELS))
        if name in ("iperf", "rss"):
            p.add_argument("--pids", default="")
        if name in ("iperf", "ping"):
            p.add_argument("--run", type=int, default=1)
            p.add_argument("--timeout", type=float, default=60)
            p.add_argument("cmd", nargs=argparse.REMAINDER)
        if name == "iperf":
            p.add_argument("--streams", type=int, default=1)
            p.add_argument("--server-pid", type=int, required=True)
        if name == "report":
            p.add_argument("--paths", required=True)
            p.add_argument("--meta", action="append", default=[])
    a = ap.parse_args()
    if hasattr(a, "cmd") and a.cmd and a.cmd[0] == "--":
        a.cmd = a.cmd[1:]
    {"iperf": cmd_iperf, "ping": cmd_ping, "rss": cmd_rss, "report": cmd_report}[a.what](a)


if __name__ == "__main__":
    main()
