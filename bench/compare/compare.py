#!/usr/bin/python3
"""starling vs Yjs vs Automerge, side by side (Python 3 standard library only).

Builds nothing: runs an existing build/bench/bench_sync (STARLING_BENCH_JSON=1),
bench/peer/bench.mjs (Yjs + the stock y-websocket 1.5.4 server) and
bench/peer/automerge.mjs (Automerge 3.5.0, its sync protocol over ws), after
`npm ci` in bench/peer: one repetition per process, the order of the systems
rotated per repetition, R repetitions. Prints per scenario the medians over
repetitions per system and the ratios starling/yjs and starling/automerge;
writes out/results.json and, with gnuplot, PNG plots (latency CDF per
topology and peer count, bars per scenario).

Scenarios (the same logical workload on every side, see bench_sync.cpp,
bench.mjs and automerge.mjs), the first five once per N of --n:
  catchup           N writes over 1000 keys into an empty replica
  catchup_distinct  N writes, every one a new key
  restart           a replica holding the first 90 % reconnects: time, and
                    bytes sent over the encoded size of the missing 10 %
  footprint         resident memory and disk per change of the N-change doc
  wire              bytes on the wire per change, A->B and B->A, for the
                    catch-up of N and for W live writes to one peer
  latency           1 writer, 1k writes/s, write call to applied on every
                    peer; star (P peers of the writer / of the hub) and line
                    (a chain of P, each dialing the previous)
  throughput        one writer as fast as it goes; applied/s on one peer
  throughput2       writers on 2 nodes at once; applied/s on the third and
                    acknowledged (peers: made) writes/s per writer

  bench/compare/run.sh --quick         # smoke run: N=2000, R=1, short live runs
  bench/compare/run.sh                 # N=10k,100k, 3 s throughput, 10 s throughput2, R=3
  bench/compare/run.sh --full          # N=10k,100k,1M, 10 s live, 10k latency writes
  bench/compare/run.sh --peers yjs --reps 5 --only latency,throughput2 --topology line \
      --bench build-bench/bench/bench_sync
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

SYSTEMS_ALL = ("starling", "yjs", "automerge")
PEER_SCRIPTS = {"yjs": "bench.mjs", "automerge": "automerge.mjs"}

# scenario -> (metric, better) pairs shown in the table; ratios are starling/peer.
METRICS = {
    "catchup": [("seconds", "lower"), ("changes_per_s", "higher")],
    "catchup_distinct": [("seconds", "lower"), ("changes_per_s", "higher")],
    "restart": [("seconds", "lower"), ("bytes_out", "lower"), ("missing_bytes", "lower"), ("bytes_ratio", "lower")],
    "footprint": [("rss_bytes_per_change", "lower"), ("anon_bytes_per_change", "lower"), ("disk_bytes_per_change", "lower")],
    "wire": [("catchup_a_to_b_bytes_per_change", "lower"), ("catchup_b_to_a_bytes_per_change", "lower"),
             ("live_a_to_b_bytes_per_change", "lower"), ("live_b_to_a_bytes_per_change", "lower")],
    "latency": [("p50_ms", "lower"), ("p99_ms", "lower"), ("max_ms", "lower"), ("hop_p50_ms", "lower")],
    "throughput": [("peer_changes_per_s", "higher")],
    "throughput2": [("c_applied_per_s", "higher"), ("a_acked_per_s", "higher"), ("b_acked_per_s", "higher")],
}
# Scenarios whose results depend on N (run once per N of --n).
N_SCENARIOS = ("catchup", "catchup_distinct", "restart", "footprint", "wire")
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
    if p.returncode == 0 and not runs and not any(o.get("kind") == "skipped" for o in meta):
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


def plots(out, results, systems, reps):
    made = []
    # Latency: CDF of every sample (all peers, all repetitions), per system,
    # one plot per topology and peer count.
    for topo, peers in sorted({(r.get("topology", "star"), r["peers"]) for r in results["runs"]
                               if r.get("scenario") == "latency"}):
        files = []
        for system in systems:
            xs = []
            for r in range(1, reps + 1):
                xs += read_samples(os.path.join(out, "samples", f"r{r}", f"{system}_latency_{topo}_p{peers}_rep1.txt"))
            if not xs:
                continue
            xs.sort()
            n = len(xs)
            step = max(1, n // 4000)
            name = f"cdf_{system}_{topo}_p{peers}.dat"
            with open(os.path.join(out, name), "w") as f:
                for i in list(range(0, n, step)) + [n - 1]:
                    f.write(f"{max(xs[i], 1e-3):.4f} {(i + 1) / n:.6f}\n")
            files.append((system, name, n))
        if files:
            png = f"latency_cdf_{topo}_p{peers}.png"
            shape = f"1 writer -> {peers} peers (star)" if topo == "star" else f"writer + chain of {peers} (line)"
            lines = ", ".join(f"'{name}' using 1:2 with lines lw 2 title '{s} ({n} samples)'" for s, name, n in files)
            if gnuplot(f"""set terminal pngcairo noenhanced size 900,560
set output '{png}'
set title 'Live latency, {shape}, write call to applied on every peer (CDF, {reps} reps pooled)'
set xlabel 'latency (ms, log scale)'
set ylabel 'fraction of deliveries <= x'
set logscale x
set grid
set key bottom right
set yrange [0:1]
plot {lines}
""", out):
                made.append(png)
    # Bars: per-repetition points over the medians, one bar per system.
    bars = [("throughput", "peer_changes_per_s", "applied changes/s on the peer (higher is better)", "throughput.png"),
            ("throughput2", "c_applied_per_s", "applied changes/s on C, 2 writers (higher is better)", "throughput2.png"),
            ("catchup", "changes_per_s", "catch-up changes/s (higher is better)", "catchup.png"),
            ("catchup_distinct", "changes_per_s", "catch-up changes/s, distinct keys (higher is better)",
             "catchup_distinct.png"),
            ("restart", "seconds", "restart catch-up time, s (lower is better)", "restart.png"),
            ("footprint", "rss_bytes_per_change", "resident bytes per change (lower is better)", "footprint_rss.png"),
            ("wire", "live_a_to_b_bytes_per_change", "live bytes per change A->B (lower is better)", "wire_live.png"),
            ("wire", "catchup_a_to_b_bytes_per_change", "catch-up bytes per change A->B (lower is better)",
             "wire_catchup.png")]
    ns = sorted({r["n"] for r in results["runs"] if r.get("scenario") in N_SCENARIOS and "n" in r})
    for scen, metric, ylabel, png in bars:
        runs = [r for r in results["runs"] if r.get("scenario") == scen and metric in r]
        if scen in N_SCENARIOS and ns:
            runs = [r for r in runs if r.get("n") == ns[-1]]
            ylabel += f", N={ns[-1]:,}"
        if not runs:
            continue
        dat = f"{scen}_{metric}.dat"
        with open(os.path.join(out, dat), "w") as f:
            for x, system in enumerate(systems):
                vals = [r[metric] for r in runs if r["system"] == system]
                med = median(vals)
                for v in vals or [None]:
                    f.write(f"{x} {system} {med if med is not None else 0} {v if v is not None else 0}\n")
        xt = ", ".join(f"'{s}' {i}" for i, s in enumerate(systems))
        if gnuplot(f"""set terminal pngcairo noenhanced size 760,480
set output '{png}'
set title '{scen}: {metric} (bars: median, points: repetitions)'
set ylabel '{ylabel}'
set style fill solid 0.5
set boxwidth 0.5
set xrange [-0.6:{len(systems) - 0.4}]
set yrange [0:*]
set grid ytics
set xtics ({xt})
plot '{dat}' using 1:3 with boxes notitle, '' using 1:4 with points pt 7 ps 1.2 notitle
""", out):
            made.append(png)
    # Catch-up rate against document size: one line per system, medians.
    for scen in ("catchup", "catchup_distinct"):
        if len(ns) < 2:
            break
        dat = f"{scen}_by_n.dat"
        with open(os.path.join(out, dat), "w") as f:
            for i, system in enumerate(systems):
                if i:
                    f.write("\n\n")  # one gnuplot data block per system
                for n in ns:
                    med = median([r["changes_per_s"] for r in results["runs"]
                                  if r.get("scenario") == scen and r.get("n") == n and r["system"] == system
                                  and "changes_per_s" in r])
                    if med is not None:
                        f.write(f"{n} {med}\n")
        png = f"{scen}_by_n.png"
        plots = ", ".join(f"'{dat}' index {i} using 1:2 with linespoints pt 7 title '{s}'" for i, s in enumerate(systems))
        if gnuplot(f"""set terminal pngcairo noenhanced size 760,480
set output '{png}'
set title '{scen}: changes/s against N (medians)'
set xlabel 'N (changes)'
set ylabel 'changes/s (higher is better)'
set logscale x
set yrange [0:*]
set grid
set key top left
plot {plots}
""", out):
            made.append(png)
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.environ.get("STARLING_BENCH_SYNC", os.path.join(ROOT, "build/bench/bench_sync")),
                    help="an existing bench_sync binary (Release or RelWithDebInfo) [build/bench/bench_sync]")
    ap.add_argument("--peers", default="yjs,automerge", help="the other systems: yjs, automerge or both [yjs,automerge]")
    ap.add_argument("--reps", type=int, help="repetitions per system and scenario [3; --quick 1]")
    ap.add_argument("--full", action="store_true", help="N=10k,100k,1M catch-up, 10 s live (10k latency writes)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: N=2000, 1 rep, 2 s throughput, 300 latency writes, 3 latency peers")
    ap.add_argument("--n", help="catch-up writes, comma list [10000,100000; --full adds 1000000; --quick 2000]")
    ap.add_argument("--seconds", type=int, help="throughput seconds [3; --full 10; --quick 2]")
    ap.add_argument("--seconds2", type=int, help="throughput2 (writers on 2 nodes) seconds [10; --quick 2]")
    ap.add_argument("--writes", type=int, help="latency and live wire writes at 1k/s [3000; --full 10000; --quick 300]")
    ap.add_argument("--latency-peers", dest="latency_peers", help="latency peer counts, comma list [8; --quick 3]")
    ap.add_argument("--topology", default="star,line", help="latency topologies: star, line or both [star,line]")
    ap.add_argument("--durability", default="sync", help="starling: sync | nometasync | nosync [sync]")
    ap.add_argument("--only", default=",".join(METRICS), help="scenarios [all: " + ",".join(METRICS) + "]")
    ap.add_argument("--out", default=os.path.join(HERE, "out"), help="output directory [bench/compare/out]")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per process [1800]")
    a = ap.parse_args()

    q = a.quick
    ns = [int(x) for x in (a.n or ("2000" if q else "10000,100000,1000000" if a.full else "10000,100000")).split(",") if x]
    reps = a.reps or (1 if q else 3)
    seconds = a.seconds or (2 if q else 10 if a.full else 3)
    seconds2 = a.seconds2 or (2 if q else 10)
    writes = a.writes or (300 if q else 10_000 if a.full else 3000)
    peers_list = [int(x) for x in (a.latency_peers or ("3" if q else "8")).split(",") if x]
    topologies = [t for t in a.topology.split(",") if t]
    only = [s for s in a.only.split(",") if s]
    for s_ in only:
        if s_ not in METRICS:
            sys.exit(f"compare: unknown scenario {s_} (known: {', '.join(METRICS)})")
    others = [p for p in a.peers.split(",") if p]
    for p in others:
        if p not in PEER_SCRIPTS:
            sys.exit(f"compare: unknown peer {p} (known: {', '.join(PEER_SCRIPTS)})")
    systems = ["starling"] + others
    bench = os.path.abspath(a.bench)
    if not os.access(bench, os.X_OK):
        sys.exit(f"compare: no bench_sync at {bench} (build it: cmake --build build --target bench_sync)")
    if not os.path.isdir(os.path.join(PEER, "node_modules", "y-websocket")) or (
            "automerge" in others and not os.path.isdir(os.path.join(PEER, "node_modules", "@automerge", "automerge"))):
        sys.exit(f"compare: no (or old) node_modules in {PEER}: run `npm ci` there first")
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
        "systems": systems,
        "params": {"n": ns, "seconds": seconds, "seconds2": seconds2, "writes": writes, "rate": 1000,
                   "peers": peers_list, "topologies": topologies, "reps": reps, "starling_durability": a.durability,
                   "starling_writers": 16, "scenarios": only},
        "yjs_persistence": os.environ.get("YPERSISTENCE") or None,
    }
    log(f"compare: {meta['command']} load={meta['load_before']} bench_sync={meta['bench_sync']} ({build_type})")

    base = {k: v for k, v in os.environ.items() if not k.startswith(("STARLING_BENCH_", "STARLING_COMPARE_"))}
    common = {"STARLING_BENCH_JSON": "1", "STARLING_BENCH_REPS": "1",
              "STARLING_BENCH_WRITES": str(writes), "STARLING_BENCH_RATE": "1000",
              "STARLING_BENCH_PEERS": ",".join(map(str, peers_list)), "STARLING_BENCH_SECONDS": str(seconds),
              "STARLING_BENCH_SECONDS2": str(seconds2), "STARLING_BENCH_TOPOLOGY": ",".join(topologies),
              "STARLING_BENCH_DURABILITY": a.durability}
    # (scenario, N or None) units, each run once per system and repetition.
    units = []
    for scen in only:
        units += [(scen, n) for n in ns] if scen in N_SCENARIOS else [(scen, None)]
    results = {"meta": meta, "runs": [], "errors": [], "skipped": [], "extra": []}
    for rep in range(1, reps + 1):
        # Alternate the order: rotate the systems by one per repetition.
        k = (rep - 1) % len(systems)
        order = systems[k:] + systems[:k]
        for scen, n in units:
            env_scen = {"STARLING_BENCH_ONLY": "catchup" if scen.startswith("catchup") else scen,
                        "STARLING_BENCH_KEYS": "0" if scen == "catchup_distinct" else "1000",
                        "STARLING_BENCH_N": str(n or ns[0]),
                        "STARLING_BENCH_SAMPLES": os.path.join(out, "samples", f"r{rep}")}
            for system in order:
                env = dict(base, **common, **env_scen)
                log(f"rep {rep}/{reps} {scen}{f' n={n}' if n else ''} {system} load={loadavg()}")
                if system == "starling":
                    cmd, cwd = [bench], ROOT
                else:
                    cmd, cwd = [node, os.path.join(PEER, PEER_SCRIPTS[system])], PEER
                runs, extra, err = run_json(cmd, env, cwd, a.timeout)
                for r in runs:
                    r["scenario"] = scen  # catchup with keys=0 -> catchup_distinct
                    r["rep"] = rep
                    r["system"] = system
                    r.setdefault("topology", "star") if scen == "latency" else None
                    results["runs"].append(r)
                results["extra"] += [dict(e, scenario_run=scen, rep_run=rep, system=system) for e in extra
                                     if e.get("kind") in ("start",)]
                results["skipped"] += [{"rep": rep, "scenario": scen, "n": n, "system": system,
                                        "reason": e.get("reason")} for e in extra if e.get("kind") == "skipped"]
                if err:
                    results["errors"].append({"rep": rep, "scenario": scen, "n": n, "system": system, "error": err})
    meta["load_after"] = loadavg()
    meta["finished_utc"] = datetime.datetime.utcnow().isoformat(timespec="seconds") + "Z"

    # Medians and ratios.
    summary = []
    for scen in only:
        if scen in N_SCENARIOS:
            groups = [(f"{scen} n={n:,}", {"n": n}) for n in ns]
        elif scen == "latency":
            groups = [(f"latency {t} p={p}", {"topology": t, "peers": p}) for t in topologies for p in peers_list]
        else:
            groups = [(scen, {})]
        for label, sel in groups:
            for metric, better in METRICS[scen]:
                if scen == "latency" and metric.startswith("hop_") and sel.get("topology") != "line":
                    continue
                row = {"scenario": scen, "label": label, "metric": metric, "better": better, **sel}
                for system in systems:
                    vals = [r[metric] for r in results["runs"] if r["scenario"] == scen and r["system"] == system
                            and metric in r and all(r.get(k) == v for k, v in sel.items())]
                    row[system] = median(vals)
                    row[system + "_runs"] = vals
                for p in others:
                    s_, y = row["starling"], row[p]
                    row[f"ratio_starling_over_{p}"] = (s_ / y) if s_ is not None and y else None
                summary.append(row)
    results["summary"] = summary
    notes = []
    if "restart" in only:
        notes.append("restart: bytes_out = bytes the server sent the returning client (starling: A's peer bytes_out; "
                     "yjs/automerge: WebSocket message payloads received by the client); missing_bytes = the missing "
                     "10 % in each system's own encoding (starling: its signed changes; yjs: "
                     "Y.encodeStateAsUpdate(full, sv90), GC'd overwritten values; automerge: the missing changes' "
                     "bytes); bytes_ratio = bytes_out/missing_bytes")
    if "footprint" in only:
        notes.append("footprint: disk for yjs is the encoded state size per change (Y.encodeStateAsUpdate): the stock "
                     "y-websocket server has no persistence; automerge: Automerge.save() per change; starling: "
                     "allocated data.mdb blocks. yjs (gc on) keeps no overwritten values; starling keeps every signed "
                     "change")
    if "wire" in only:
        notes.append("wire: starling from status() bytes_out/bytes_in of A's session with B; yjs/automerge: WebSocket "
                     "payloads counted on client B (A->B = received by B via the server, B->A = sent by B); "
                     "per change = bytes / N (catch-up) or / W (live)")
    if "throughput2" in only and others:
        notes.append("throughput2: a_/b_acked_per_s for yjs/automerge = writes/s each writer made and handed to its "
                     "socket (they have no acknowledgement); starling: writes acknowledged durable")
    results["notes"] = notes
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    made = plots(out, results, systems, reps)

    # Table.
    print(f"\n{' vs '.join(systems)} — {meta['command']}  (R={reps}, N={','.join(f'{n:,}' for n in ns)}, throughput "
          f"{seconds} s, throughput2 {seconds2} s, latency {writes} writes at 1k/s, peers {','.join(map(str, peers_list))}"
          f" {'/'.join(topologies)}; starling {build_type} durability={a.durability}; yjs server in memory"
          f"{' + YPERSISTENCE' if meta['yjs_persistence'] else ''})")
    print(f"load before: {meta['load_before']}   after: {meta['load_after']}   cpus: {meta['cpus']}")
    w = max(len(r["label"]) for r in summary) if summary else 10
    head = f"{'scenario':<{w}}  {'metric':<32}" + "".join(f" {s_:>12}" for s_ in systems)
    head += "".join(f" {'starling/' + p:>19}" for p in others) + "  better"
    print(head)
    for r in summary:
        line = f"{r['label']:<{w}}  {r['metric']:<32}" + "".join(f" {fmt(r[s_]):>12}" for s_ in systems)
        for p in others:
            ratio = r[f"ratio_starling_over_{p}"]
            line += f" {(f'{ratio:.2f}x' if ratio is not None else '-'):>19}"
        print(line + f"  {r['better']}")
    for note in results["notes"]:
        print("note: " + note)
    for e in results["skipped"]:
        print(f"skipped rep={e['rep']} {e['scenario']} n={e['n']} {e['system']}: {e['reason']}")
    for e in results["errors"]:
        print(f"ERROR rep={e['rep']} {e['scenario']}{' n=' + str(e['n']) if e['n'] else ''} {e['system']}: {e['error']}")
    print(f"results: {os.path.join(out, 'results.json')}"
          + (f"; plots: {', '.join(made)}" if made else ""))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
