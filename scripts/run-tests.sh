#!/usr/bin/env bash
# Builds everything and runs every test: unit tests (ctest), then the fuzz
# targets with ASan/UBSan over their seed corpora plus FUZZ_SECONDS (default
# 30) of fuzzing each. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
build=${BUILD_DIR:-build}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTARLING_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" -j "$jobs" --output-on-failure --timeout 900

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  fuzz_build=${FUZZ_BUILD_DIR:-build-fuzz}
  CXX=clang++ cmake -S . -B "$fuzz_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTARLING_WERROR=ON \
    -DSTARLING_FUZZ=ON -DSTARLING_TESTS=OFF -DSTARLING_BENCH=OFF -DSTARLING_APP=OFF >/dev/null
  cmake --build "$fuzz_build" -j "$jobs"
  bash tests/fuzz/run.sh "$fuzz_build"
fi
