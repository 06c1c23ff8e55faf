#!/usr/bin/env python3
"""Scripted multi-node tests: real `starling serve` processes on loopback,
faults made from outside (proxies, signals), and a checker at the end.

    python3 tests/cluster/runner.py [--scenario NAME|all] [--seed N]
                                    [--soak SECONDS] [--bin PATH] [--keep]

Exit 0 when every scenario passed; 1 when one failed (the message says
what, and the run directory with every node's log is kept); 2 on a usage
error. Standard library only. See tests/cluster/README.md.
"""

import argparse
import atexit
import importlib
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cluster as cl  # noqa: E402
from workload import Workload  # noqa: E402

# The scenarios, in the order `all` runs them: name -> module in tests/cluster/scenarios/.
SCENARIOS = {
    "checker": "checker",
    "partition": "partition",
    "kill9": "kill9",
    "pause": "pause",
    "slow": "slow",
    "join": "join",
    "backlog": "backlog",
    "random": "random_schedule",
}


class Options:
    def __init__(self, seed, soak):
        self.seed = seed
        self.soak = soak


def load_scenario(name):
    mod = importlib.import_module("scenarios." + SCENARIOS[name])
    for attr in ("NAME", "DESCRIPTION", "run"):
        if not hasattr(mod, attr):
            raise SystemExit("scenario %s has no %s" % (name, attr))
    return mod


def run_scenario(mod, args, base_dir, opts):
    run_dir = os.path.join(base_dir, mod.NAME)
    os.makedirs(run_dir)
    prefix = "%-9s " % mod.NAME

    def out(line):
        print(prefix + line, flush=True)

    print("=" * 78, flush=True)
    print("%s: %s" % (mod.NAME, mod.DESCRIPTION), flush=True)
    c = cl.Cluster(args.bin, run_dir, out, node_config=getattr(mod, "NODE_CONFIG", None))
    w = Workload(c)
    started = time.monotonic()
    row = {"name": mod.NAME, "ok": False, "acked": "-", "converge": "-", "dir": run_dir, "error": None}
    try:
        result = mod.run(c, w, opts)
        row.update(ok=True, acked=str(result["acked"]), converge="%.2f s" % result["converge_s"],
                   unknown=result["unknown"], failed=result["failed"], notes=result.get("notes", []))
    except cl.ClusterError as e:
        row["error"] = str(e)
    except Exception:  # noqa: BLE001 - a bug in a scenario is a failure too, with its traceback
        row["error"] = traceback.format_exc()
    finally:
        c.shutdown()
        counts = w.ledger.counts()
        if row["acked"] == "-":
            row["acked"] = str(counts["acked"])
    row["duration"] = time.monotonic() - started
    row["warnings"] = c.warnings
    for warning in c.warnings:
        out("warning: " + warning)
    if row["ok"]:
        out("PASS in %.1f s" % row["duration"])
    else:
        out("FAIL in %.1f s: %s" % (row["duration"], row["error"]))
        for n in c.nodes.values():
            errors = [l for l in _read_lines(n.log_path) if '"level":"ERROR"' in l]
            if errors:
                out("%s: %d ERROR log lines, the last ones:" % (n.name, len(errors)))
                for l in errors[-5:]:
                    out("    " + l)
        out("logs and data: %s" % run_dir)
    return row


def _read_lines(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def print_summary(rows, total, seed):
    print("=" * 78)
    print("%-10s %-6s %9s %7s %8s %8s %12s" % ("scenario", "result", "duration", "acked", "unknown", "failed",
                                               "converge"))
    for r in rows:
        print("%-10s %-6s %8.1fs %7s %8s %8s %12s" % (
            r["name"], "PASS" if r["ok"] else "FAIL", r["duration"], r["acked"], r.get("unknown", "-"),
            r.get("failed", "-"), r["converge"]))
    for r in rows:
        for note in r.get("notes", []):
            print("  %s: %s" % (r["name"], note))
    passed = sum(1 for r in rows if r["ok"])
    print("total %.1f s; %d/%d passed; seed %d (replay: --seed %d)" % (total, passed, len(rows), seed, seed))


def main(argv=None):
    ap = argparse.ArgumentParser(description="starling multi-node cluster tests")
    ap.add_argument("--scenario", default="all", help="one of %s, or all (default)" % ", ".join(SCENARIOS))
    ap.add_argument("--seed", type=int, default=None, help="seed of the random schedule (default: random, printed)")
    ap.add_argument("--soak", type=float, default=None,
                    help="run the random scenario this many seconds (default 20)")
    ap.add_argument("--bin", default=None,
                    help="the starling binary (default $STARLING_BIN, else build/app/starling)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory (it is kept on failure anyway)")
    ap.add_argument("--workdir", default=None, help="parent of the run directory (default $TMPDIR or /tmp)")
    args = ap.parse_args(argv)

    if args.scenario == "all":
        names = list(SCENARIOS)
    else:
        names = [s.strip() for s in args.scenario.split(",") if s.strip()]
        unknown = [n for n in names if n not in SCENARIOS]
        if unknown:
            print("runner: unknown scenario %s (have: %s, all)" % (", ".join(unknown), ", ".join(SCENARIOS)),
                  file=sys.stderr)
            return 2
    if args.bin is None:
        args.bin = os.environ.get("STARLING_BIN") or os.path.join(HERE, "..", "..", "build", "app", "starling")
    args.bin = os.path.abspath(args.bin)
    if not os.access(args.bin, os.X_OK):
        print("runner: no starling binary at %s (build it, or pass --bin PATH)" % args.bin, file=sys.stderr)
        return 2
    if args.soak is not None and args.soak <= 0:
        print("runner: --soak must be positive", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2 ** 31)
    opts = Options(seed, args.soak)

    # Every node process dies with us: at exit, on SIGTERM/SIGINT (turned
    # into exceptions so that finally blocks run) and, via PDEATHSIG, even
    # if this process is killed.
    atexit.register(cl.kill_all_processes)

    def on_signal(sig, _frame):
        raise KeyboardInterrupt("signal %d" % sig)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    base_dir = tempfile.mkdtemp(prefix="starling-cluster-", dir=args.workdir)
    print("starling cluster tests: %s; seed %d (replay: --seed %d)" % (", ".join(names), seed, seed))
    print("binary %s; run directory %s" % (args.bin, base_dir), flush=True)
    rows = []
    started = time.monotonic()
    interrupted = False
    try:
        for name in names:
            rows.append(run_scenario(load_scenario(name), args, base_dir, opts))
    except KeyboardInterrupt:
        interrupted = True
        print("runner: interrupted", file=sys.stderr)
    finally:
        cl.kill_all_processes()
    total = time.monotonic() - started
    print_summary(rows, total, seed)
    ok = rows and all(r["ok"] for r in rows) and not interrupted
    if ok and not args.keep:
        shutil.rmtree(base_dir, ignore_errors=True)
    else:
        print("run directory kept: %s" % base_dir)
    if not ok:
        failed = [r["name"] for r in rows if not r["ok"]]
        print("FAILED: %s" % (", ".join(failed) if failed else "interrupted"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
