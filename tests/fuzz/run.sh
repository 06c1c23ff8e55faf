#!/usr/bin/env bash
# Runs every fuzz target over its seed corpus (each seed once: a regression
# check), then fuzzes each target for FUZZ_SECONDS (default 30). Fails if any
# target crashes, leaks, trips a sanitizer or a round-trip check.
#
#   usage: tests/fuzz/run.sh BUILD_DIR
#   where BUILD_DIR was configured with -DSTARLING_FUZZ=ON (clang) and the
#   targets fuzz_change_decode fuzz_control_decode fuzz_batch_decode
#   fuzz_snapshot_decode are built.
#
# Seeds are regenerated with: BUILD_DIR/tests/fuzz/fuzz_make_corpus tests/fuzz/corpus
# New corpus entries and crash artifacts go under BUILD_DIR/fuzz-work/<target>/,
# never into the committed seed corpus. To reproduce a crash:
#   BUILD_DIR/tests/fuzz/<target> BUILD_DIR/fuzz-work/<target>/artifacts/crash-...
set -u -o pipefail

build=${1:?usage: run.sh BUILD_DIR}
seconds=${FUZZ_SECONDS:-30}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
targets=(fuzz_change_decode fuzz_control_decode fuzz_batch_decode fuzz_snapshot_decode)
work="$build/fuzz-work"
failed=()

for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/$t"
  seeds="$here/corpus/$t"
  if [[ ! -x "$bin" ]]; then
    echo "run.sh: $bin is missing; build it first" >&2
    failed+=("$t(missing)")
    continue
  fi
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  opts=(-artifact_prefix="$work/$t/artifacts/" -timeout=10 -rss_limit_mb=2048 -max_len=16384)
  [[ -f "$here/$t.dict" ]] && opts+=(-dict="$here/$t.dict")

  echo "== $t: seed corpus ($(ls "$seeds" | wc -l) inputs)"
  if ! "$bin" "${opts[@]}" "$seeds"/* >"$work/$t/seeds.log" 2>&1; then
    echo "FAIL: $t crashed on a seed input; see $work/$t/seeds.log" >&2
    tail -n 30 "$work/$t/seeds.log" >&2
    failed+=("$t(seeds)")
    continue
  fi

  echo "== $t: fuzzing for ${seconds}s"
  if "$bin" "${opts[@]}" -max_total_time="$seconds" -print_final_stats=1 \
      "$work/$t/corpus" "$seeds" >"$work/$t/fuzz.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/fuzz.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t/fuzz.log")
    cov=$(grep -o 'cov: [0-9]*' "$work/$t/fuzz.log" | tail -n 1)
    echo "   ok: ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-cov: ?}, corpus $(ls "$work/$t/corpus" | wc -l) files"
  else
    echo "FAIL: $t; log $work/$t/fuzz.log, artifacts in $work/$t/artifacts/" >&2
    grep -E 'ERROR|SUMMARY|fuzz_[a-z_]+: ' "$work/$t/fuzz.log" | head -n 20 >&2
    failed+=("$t")
  fi
done

if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all targets clean"
