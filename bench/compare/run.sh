#!/bin/sh
# starling vs Yjs vs Automerge side by side: see compare.py (--help). Builds
# nothing. Needs: build/bench/bench_sync (or --bench PATH), `npm ci` in bench/peer,
# Node.js 20, gnuplot (gnuplot-nox) for the plots.
STARLING_COMPARE_ARGV0="$0" exec /usr/bin/python3 "$(dirname "$0")/compare.py" "$@"
