#!/usr/bin/python3
"""starling vs Yjs, side by side in one run (Python 3 standard library only).

Builds nothing: runs an existing build/bench/bench_sync (STARLING_BENCH_JSON=1)
and bench/peer/bench.mjs (Yjs + the stock y-websocket 1.5.4 server, after
`npm ci` in bench/peer), one repetition per process, alternating the systems
(ABBA: odd repetitions starling first, even ones Yjs first), R repetitions.
Prints per scenario the medians over repetitions and the ratio
starling/yjs; writes out/results.json and, with gnuplot, PNG plots.

Scenarios (the same logical workload on both sides, see bench_sync.cpp and
bench.mjs): catchup (N writes over 1000 keys, as bench_sync), catchup_distinct
(N writes, every one a new key), latency (1 writer, P peers, 1k writes/s),
throughput (writers as fast as they go, applied/s on one peer), restart (a
client/node holding the first 90 % of the catchup workload reconnects: time,
bytes the server sent over the encoded size of the missing 10 % in that
system's own format), footprint (resident memory per change of the loaded
N-change document; disk per change: starling's allocated data.mdb, Yjs's
encoded state, since the stock y-websocket server persists nothing).

  bench/compare/run.sh                 # default: N=100k, 3 s live, R=3
  bench/compare/run.sh --full          # N=1M, 10 s live
  bench/compare/run.sh --reps 5 --only latency,throughput --bench build-bench/bench/bench_sync
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PEER = os.path.join(ROOT, "bench", "peer")

# scenario -> (metric, better) pairs shown in the table; ratios are starling/yjs.
METRICS = {
    "catchup": [("seconds", "lower"), ("changes_per_s", "higher")],
    "catchup_distinct": [("seconds", "lower"), ("changes_per_s", "higher")],
    "latency": [("p50_ms", "lower"), ("p99_ms", "lower"), ("max_ms", "lower")],
    "throughput": [("peer_changes_per_s", "higher")],
    "restart": [("seconds", "lower"), ("bytes_out", "lower"), ("missing_bytes", "lower"), ("bytes_ratio", "lower")],
    "footprint": [("rss_bytes_per_change", "lower"), ("disk_bytes_per_change", "lower")],
}
# Scenarios whose benches print only a summary line (no per-run lines): the
# summary is taken as the run of that repetition.
SUMMARY_ONLY = {"footprint"}


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().strip()
    except OSError:
        return "?"


def log(msg):
    print(f"[{datetime.datetime.utcnow():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def run_json(cmd, env, cwd, timeout):
    """Runs cmd; returns (run objects, summary objects, error or None)."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], [], f"timed out after {timeout} s"
    runs, summaries, meta = [], [], []
    for line in p.stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            o = json.loads(line)
        except json.JSONDecodeError:
            continue
        (runs if o.get("kind") == "run" else summaries if o.get("kind") == "summary" else meta).append(o)
    # Summary-only scenarios (footprint): the summary is the run.
    for o in list(summaries):
        if o.get("scenario") in SUMMARY_ONLY:
            summaries.remove(o)
            runs.append(dict(o, kind="run"))
    err = None
    if p.returncode == 0 and not runs:
        err = "no JSON run lines (a bench_sync older than STARLING_BENCH_JSON? rebuild it)"
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["?"])[-3:]
        err = f"exit {p.returncode}: " + " | ".join(tail)
    log(f"  {os.path.basename(cmd[-1])}: {len(runs)} run(s) in {time.monotonic() - t0:.1f} s"
        + (f" FAILED {err}" if err else ""))
    return runs, summaries + meta, err


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x):
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3f}"


def gnuplot(script, cwd):
    if not shutil.which("gnuplot"):
        log("gnuplot not found (apt-get install gnuplot-nox): no plots")
        return False
    p = subprocess.run(["gnuplot"], input=script, text=True, cwd=cwd, capture_output=True)
    if p.returncode != 0:
        log("gnuplot failed: " + p.stderr.strip()[-500:])
        return False
    return True


def read_samples(path):
    try:
        with open(path) as f:
            return [float(x) for x in f if x.strip()]
    except OSError:
        return []


def plots(out, results, peers_list, reps):
    made = []
    # Latency: CDF of every sample (all peers, all repetitions), per system.
    for peers in peers_list:
        files = []
        for system in ("starling", "yjs"):
            xs = []
            for r in range(1, reps + 1):
                xs += read_samples(os.path.join(out, "samples", f"r{r}", f"{system}_latency_p{peers}_rep1.txt"))
            if not xs:
                continue
            xs.sort()
            n = len(xs)
            step = max(1, n // 4000)
            name = f"cdf_{system}_p{peers}.dat"
            with open(os.path.join(out, name), "w") as f:
                for i in list(range(0, n, step)) + [n - 1]:
                    f.write(f"{max(xs[i], 1e-3):.4f} {(i + 1) / n:.6f}\n")
            files.append((system, name, n))
        if files:
            png = f"latency_cdf_p{peers}.png"
            lines = ", ".join(f"'{name}' using 1:2 with lines lw 2 title '{s} ({n} samples)'" for s, name, n in files)
            if gnuplot(f"""set terminal pngcairo noenhanced size 900,560
set output '{png}'
set title 'Live fan-out latency, 1 writer -> {peers} peers, write call to applied (CDF, {reps} reps pooled)'
set xlabel 'latency (ms, log scale)'
set ylabel 'fraction of deliveries <= x'
set logscale x
set grid
set key bottom right
set yrange [0:1]
plot {lines}
""", out):
                made.append(png)
    # Bars: throughput and catch-up, per-repetition points over the medians.
    bars = [("throughput", "peer_changes_per_s", "applied updates/s on the peer (higher is better)", "throughput.png"),
            ("catchup", "seconds", "catch-up time, s (lower is better)", "catchup.png"),
            ("catchup_distinct", "seconds", "catch-up time, s (lower is better)", "catchup_distinct.png"),
            ("restart", "seconds", "restart catch-up time, s (lower is better)", "restart.png"),
            ("footprint", "rss_bytes_per_change", "resident bytes per change (lower is better)", "footprint_rss.png"),
            ("latency", "p99_ms", "p99 latency, ms (lower is better)", "latency_p99.png")]
    for scen, metric, ylabel, png in bars:
        runs = [r for r in results["runs"] if r.get("scenario") == scen and metric in r]
        if scen == "latency":
            runs = [r for r in runs if r.get("peers") == peers_list[-1]]
        if not runs:
            continue
        dat = f"{scen}_{metric}.dat"
        with open(os.path.join(out, dat), "w") as f:
            for x, system in enumerate(("starling", "yjs")):
                vals = [r[metric] for r in runs if r["system"] == system]
                med = median(vals)
                for v in vals:
                    f.write(f"{x} {system} {med if med is not None else 0} {v}\n")
        if gnuplot(f"""set terminal pngcairo noenhanced size 700,480
set output '{png}'
set title '{scen}: {metric} (bars: median, points: repetitions)'
set ylabel '{ylabel}'
set style fill solid 0.5
set boxwidth 0.5
set xrange [-0.6:1.6]
set yrange [0:*]
set grid ytics
set xtics ('starling' 0, 'yjs' 1)
plot '{dat}' using 1:3 with boxes notitle, '' using 1:4 with points pt 7 ps 1.2 notitle
""", out):
            made.append(png)
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.environ.get("STARLING_BENCH_SYNC", os.path.join(ROOT, "build/bench/bench_sync")),
                    help="an existing bench_sync binary (Release or RelWithDebInfo) [build/bench/bench_sync]")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per system and scenario [3]")
    ap.add_argument("--full", action="store_true", help="N=1M catch-up, 10 s live (10k latency writes)")
    ap.add_argument("--n", type=int, help="catch-up writes [100000; --full 1000000]")
    ap.add_argument("--seconds", type=int, help="throughput seconds [3; --full 10]")
    ap.add_argument("--writes", type=int, help="latency writes at 1k/s [3000; --full 10000]")
    ap.add_argument("--peers", default="8", help="latency peer counts, comma list [8]")
    ap.add_argument("--durability", default="sync", help="starling: sync | nometasync | nosync [sync]")
    ap.add_argument("--only", default="catchup,catchup_distinct,restart,footprint,latency,throughput",
                    help="scenarios [all]")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="output directory [bench/compare/out]")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per process [900]")
    a = ap.parse_args()

    n = a.n or (1_000_000 if a.full else 100_000)
    seconds = a.seconds or (10 if a.full else 3)
    writes = a.writes or (10_000 if a.full else 3000)
    peers_list = [int(x) for x in a.peers.split(",") if x]
    only = [s for s in a.only.split(",") if s]
    bench = os.path.abspath(a.bench)
    if not os.access(bench, os.X_OK):
        sys.exit(f"compare: no bench_sync at {bench} (build it: cmake --build build --target bench_sync)")
    if not os.path.isdir(os.path.join(PEER, "node_modules", "y-websocket")):
        sys.exit(f"compare: no node_modules in {PEER}: run `npm ci` there first")
    node = shutil.which("node") or sys.exit("compare: node not found")
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    shutil.rmtree(os.path.join(out, "samples"), ignore_errors=True)

    build_type = "?"
    cache = os.path.join(os.path.dirname(os.path.dirname(bench)), "CMakeCache.txt")
    if os.path.exists(cache):
        for line in open(cache):
            if line.startswith("CMAKE_BUILD_TYPE:"):
                build_type = line.split("=", 1)[1].strip()
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    meta = {
        "command": " ".join([os.environ.get("STARLING_COMPARE_ARGV0") or os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        "started_utc": datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z",
        "load_before": loadavg(), "cpus": os.cpu_count(), "git": git,
        "bench_sync": os.path.relpath(bench, ROOT), "build_type": build_type,
        "node": subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip(),
        "params": {"n": n, "seconds": seconds, "writes": writes, "rate": 1000, "peers": peers_list, "reps": a.reps,
                   "starling_durability": a.durability, "starling_writers": 16, "scenarios": only},
        "yjs_persistence": os.environ.get("YPERSISTENCE") or None,
    }
    log(f"compare: {meta['command']} load={meta['load_before']} bench_sync={meta['bench_sync']} ({build_type})")

    base = {k: v for k, v in os.environ.items() if not k.startswith(("STARLING_BENCH_", "STARLING_COMPARE_"))}
    common = {"STARLING_BENCH_JSON": "1", "STARLING_BENCH_REPS": "1", "STARLING_BENCH_N": str(n),
              "STARLING_BENCH_WRITES": str(writes), "STARLING_BENCH_RATE": "1000",
              "STARLING_BENCH_PEERS": ",".join(map(str, peers_list)), "STARLING_BENCH_SECONDS": str(seconds),
              "STARLING_BENCH_DURABILITY": a.durability}
    results = {"meta": meta, "runs": [], "errors": [], "extra": []}
    for rep in range(1, a.reps + 1):
        order = ("starling", "yjs") if rep % 2 else ("yjs", "starling")
        for scen in only:
            env_scen = {"STARLING_BENCH_ONLY": "catchup" if scen.startswith("catchup") else scen,
                        "STARLING_BENCH_KEYS": "0" if scen == "catchup_distinct" else "1000",
                        "STARLING_BENCH_SAMPLES": os.path.join(out, "samples", f"r{rep}")}
            for system in order:
                env = dict(base, **common, **env_scen)
                log(f"rep {rep}/{a.reps} {scen} {system} load={loadavg()}")
                if system == "starling":
                    cmd, cwd = [bench], ROOT
                else:
                    cmd, cwd = [node, os.path.join(PEER, "bench.mjs")], PEER
                runs, extra, err = run_json(cmd, env, cwd, a.timeout)
                for r in runs:
                    r["scenario"] = scen  # catchup with keys=0 -> catchup_distinct
                    r["rep"] = rep
                    r["system"] = system
                    results["runs"].append(r)
                results["extra"] += [dict(e, scenario_run=scen, rep_run=rep, system=system) for e in extra
                                     if e.get("kind") in ("start",)]
                if err:
                    results["errors"].append({"rep": rep, "scenario": scen, "system": system, "error": err})
    meta["load_after"] = loadavg()
    meta["finished_utc"] = datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z"

    # Medians and ratios.
    summary = []
    for scen in only:
        groups = [None] if scen != "latency" else peers_list
        for g in groups:
            label = scen if g is None else f"latency p={g}"
            for metric, better in METRICS[scen]:
                row = {"scenario": scen, "label": label, "metric": metric, "better": better}
                if g is not None:
                    row["peers"] = g
                for system in ("starling", "yjs"):
                    vals = [r[metric] for r in results["runs"] if r["scenario"] == scen and r["system"] == system
                            and metric in r and (g is None or r.get("peers") == g)]
                    row[system] = median(vals)
                    row[system + "_runs"] = vals
                s, y = row["starling"], row["yjs"]
                row["ratio_starling_over_yjs"] = (s / y) if s is not None and y else None
                summary.append(row)
    results["summary"] = summary
    notes = []
    if "restart" in only:
        notes.append("restart: bytes_out = bytes the server sent the returning client (starling: A's peer bytes_out; "
                     "yjs: WebSocket message payloads received by the client); missing_bytes = the missing 10 % in "
                     "each system's own encoding (starling: its signed changes; yjs: "
                     "Y.encodeStateAsUpdate(full, sv90), GC'd overwritten values); bytes_ratio = bytes_out/missing_bytes")
    if "footprint" in only:
        notes.append("footprint: disk for yjs is the encoded state size per change (Y.encodeStateAsUpdate): the stock "
                     "y-websocket server has no persistence, so this is the size a persisted state would take; "
                     "starling: allocated data.mdb blocks. yjs (gc on) keeps no overwritten values; starling keeps "
                     "every signed change")
    results["notes"] = notes
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    made = plots(out, results, peers_list, a.reps)

    # Table.
    print(f"\nstarling vs yjs — {meta['command']}  (R={a.reps}, N={n:,}, live {seconds} s / {writes} writes at 1k/s,"
          f" peers {a.peers}; starling {build_type} durability={a.durability}; yjs server in memory"
          f"{' + YPERSISTENCE' if meta['yjs_persistence'] else ''})")
    print(f"load before: {meta['load_before']}   after: {meta['load_after']}   cpus: {meta['cpus']}")
    w = max(len(r["label"]) for r in summary) if summary else 10
    print(f"{'scenario':<{w}}  {'metric':<20} {'starling':>12} {'yjs':>12} {'starling/yjs':>13}  better")
    for r in summary:
        ratio = r["ratio_starling_over_yjs"]
        print(f"{r['label']:<{w}}  {r['metric']:<20} {fmt(r['starling']):>12} {fmt(r['yjs']):>12} "
              f"{(f'{ratio:.2f}x' if ratio is not None else '-'):>13}  {r['better']}")
    for note in results["notes"]:
        print("note: " + note)
    for e in results["errors"]:
        print(f"ERROR rep={e['rep']} {e['scenario']} {e['system']}: {e['error']}")
    print(f"results: {os.path.join(out, 'results.json')}"
          + (f"; plots: {', '.join(made)}" if made else ""))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
