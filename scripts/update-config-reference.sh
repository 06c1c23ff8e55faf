#!/usr/bin/env bash
# Rewrites README.md's configuration reference (between its marker comments)
# with the table `starling config reference` prints, generated from
# app/config_keys.cpp. The unit test "README.md's configuration reference is
# the generated one" fails until this is run after a key changes.
#   scripts/update-config-reference.sh [path/to/starling]   (default build/app/starling)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/app/starling}
table=$(mktemp)
trap 'rm -f "$table" README.md.tmp' EXIT
"$bin" config reference >"$table"
grep -q '^<!-- begin config-reference' README.md && grep -q '^<!-- end config-reference -->' README.md ||
  { echo "README.md has no config-reference markers" >&2; exit 1; }
awk -v table="$table" '
  /^<!-- end config-reference -->/ { skip = 0 }
  !skip { print }
  /^<!-- begin config-reference/ { while ((getline line < table) > 0) print line; skip = 1 }
' README.md >README.md.tmp
mv README.md.tmp README.md
