#!/usr/bin/env bash
# Builds the starling binary and runs the local demo. Extra arguments go to
# `starling demo` (e.g. --seed 7 --rounds 50).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target starling
exec "$build/app/starling" demo "$@"
