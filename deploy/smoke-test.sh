#!/usr/bin/env bash
# Smoke test of the deploy scripts with a built binary, on loopback, without
# root or a container runtime:
#   1. deploy/cluster-bootstrap.sh initialises node1..node3 (keys, mutual
#      trust, peers) the way the compose `bootstrap` service does;
#   2. deploy/entrypoint.sh starts them (distinct loopback ports);
#   3. concurrent writes on every node converge (same document, same digest);
#   4. node4 starts on an empty data directory (the entrypoint's first-start
#      init) and joins node1 with a join token from `starling token create`;
#   5. node2 is restarted and catches up with what was written meanwhile;
#   6. running the bootstrap again changes nothing.
#
#   bash deploy/smoke-test.sh            # uses build/app/starling
#   STARLING_BIN=/path/to/starling SMOKE_PORT_BASE=27400 bash deploy/smoke-test.sh
# Uses ports SMOKE_PORT_BASE+1..4 (sync) and +81..84 (HTTP). KEEP=1 keeps
# the temp directory. Ends with "N passed, N failed"; exit 1 on a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${STARLING_BIN:-${BUILD_DIR:-build}/app/starling}")
base=${SMOKE_PORT_BASE:-17400}
[ -x "$bin" ] || { echo "smoke-test: no binary at $bin (build it, or set STARLING_BIN)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/starling-smoke.XXXXXX")
declare -A pid
passed=0 failed=0
cleanup() {
  for p in "${pid[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

mkdir -p "$work/bin" "$work/log"
ln -s "$bin" "$work/bin/starling"
cp deploy/entrypoint.sh "$work/bin/starling-entrypoint"
cp deploy/cluster-bootstrap.sh "$work/bin/starling-cluster-bootstrap"
chmod 755 "$work/bin/starling-entrypoint" "$work/bin/starling-cluster-bootstrap"
export PATH="$work/bin:$PATH"
# The test's own environment must not leak into the nodes.
for v in $(env | sed -n 's/^\(STARLING_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done

check() {  # check NAME COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}
sync_url() { echo "ws://127.0.0.1:$((base + $1))/v1/sync"; }
cli() {  # cli N ARGS...: the starling CLI against node N
  local n=$1; shift
  starling "$@" --node "http://127.0.0.1:$((base + 80 + n))" --data-dir "$work/vol/node$n" --timeout-ms 5000
}
start() {  # start N [VAR=VALUE...]
  local n=$1; shift
  env STARLING_DATA_DIR="$work/vol/node$n" STARLING_LISTEN="127.0.0.1:$((base + n))" \
    STARLING_HTTP_LISTEN="127.0.0.1:$((base + 80 + n))" STARLING_LOG_LEVEL=info "$@" \
    starling-entrypoint >>"$work/log/node$n.log" 2>&1 &
  pid[$n]=$!
}
stop() {
  kill -TERM "${pid[$1]}"
  wait "${pid[$1]}" || true
  unset "pid[$1]"
}
wait_ready() {  # wait_ready N: until its API answers (10 s)
  for _ in $(seq 100); do
    cli "$1" status >/dev/null 2>&1 && return 0
    kill -0 "${pid[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "node$1 did not come up:" >&2
  tail -5 "$work/log/node$1.log" >&2
  return 1
}
digest() { cli "$1" status --json | sed -n 's/.*"digest": *"\([0-9a-f]*\)".*/\1/p' | head -1; }
same_everywhere() {  # same_everywhere NODES...: same doc on every node (15 s)
  local first n ok
  for _ in $(seq 150); do
    ok=1
    first=$(cli "$1" get smoke 2>/dev/null) || ok=0
    for n in "${@:2}"; do
      [ "$(cli "$n" get smoke 2>/dev/null)" = "$first" ] || ok=0
    done
    [ $ok = 1 ] && [ "$first" != "" ] && return 0
    sleep 0.1
  done
  for n in "$@"; do echo "node$n: $(cli "$n" get smoke 2>&1 | tr -d ' \n')" >&2; done
  return 1
}

nodes=(node1="$(sync_url 1)" node2="$(sync_url 2)" node3="$(sync_url 3)")
check "bootstrap initialises 3 nodes" \
  env BOOTSTRAP_ROOT="$work/vol" NODE_DATA_DIR= RUN_AS="$(id -u):$(id -g)" starling-cluster-bootstrap "${nodes[@]}"
check "configs and keys are mode 0600" \
  test "$(stat -c %a "$work"/vol/node*/starling.json "$work"/vol/node*/node.key "$work"/vol/node*/api.token | sort -u)" = 600
sha256sum "$work"/vol/node*/starling.json >"$work/configs.sum"

for n in 1 2 3; do start $n; done
for n in 1 2 3; do check "node$n starts" wait_ready $n; done

cli 1 put smoke /items '[]' >/dev/null || true
check "a write on node1 reaches node2 and node3" same_everywhere 1 2 3
for n in 1 2 3; do
  cli $n put smoke /items/- "\"from node$n\"" --op ins >/dev/null &
  cli $n put smoke /count 1 --op inc >/dev/null &
done
wait_writes() { local p; for p in $(jobs -p); do [[ " ${pid[*]} " == *" $p "* ]] || wait "$p"; done; }
wait_writes
check "concurrent writes on all three converge" same_everywhere 1 2 3
check "one digest on all three" test "$(digest 1)" = "$(digest 2)" -a "$(digest 2)" = "$(digest 3)"
check "the counter adds up" test "$(cli 3 get smoke /count)" = 3

node1_id=$(STARLING_DATA_DIR="$work/vol/node1" starling-entrypoint node-id)
token=$(cli 1 token create --ttl 10m --note node4 2>/dev/null)
check "token create prints a token" test "${token#stk1_}" != "$token"
mkdir -m 700 "$work/vol/node4"
start 4 STARLING_TRUST="$node1_id" STARLING_JOIN_TOKEN="$token" STARLING_PEERS="$(sync_url 1)"
check "node4 initialises on first start and runs" wait_ready 4
check "node4 joins with the token and gets the document" same_everywhere 1 4
check "the token is used up" test -z "$(cli 1 token list)"
cli 4 put smoke /joined true >/dev/null || true
check "a write on node4 reaches node3 (through node1)" same_everywhere 1 2 3 4

stop 2
cli 3 put smoke /while_node2_was_down true >/dev/null || true
start 2
check "node2 restarts" wait_ready 2
check "node2 catches up after the restart" same_everywhere 1 2 3 4

rebootstrap() {
  env BOOTSTRAP_ROOT="$work/vol" NODE_DATA_DIR= RUN_AS="$(id -u):$(id -g)" starling-cluster-bootstrap "${nodes[@]}" >/dev/null
}
check "running the bootstrap again succeeds" rebootstrap
check "it changed no config" sha256sum --quiet -c "$work/configs.sum"

echo "smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
