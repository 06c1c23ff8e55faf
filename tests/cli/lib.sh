# Helpers of the command-line tests: a temp dir removed at exit, nodes
# started in the background and stopped at exit, waits with deadlines.
set -u
STARLING_BIN=${1:?usage: $0 path/to/starling}
WORK=$(mktemp -d /tmp/starling-cli-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT
FAILURES=0
fail() { echo "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }
pass() { echo "ok: $*"; }

# expect_exit CODE DESCRIPTION -- command...
expect_exit() {
  local want=$1 what=$2; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -eq "$want" ]; then pass "$what (exit $rc)"; else fail "$what: exit $rc, wanted $want: $out"; fi
  LAST_OUTPUT=$out
}

# wait_for DEADLINE_SECONDS DESCRIPTION -- command... (until it succeeds)
wait_for() {
  local secs=$1 what=$2; shift 3
  local end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do
    if "$@" >/dev/null 2>&1; then pass "$what"; return 0; fi
    sleep 0.05
  done
  fail "$what: not within ${secs}s"
  return 1
}

# start_node NAME DATA_DIR [serve flags...]: runs `starling serve` with
# ephemeral ports and JSON logs; sets <NAME>_HTTP, <NAME>_SYNC, <NAME>_PID.
start_node() {
  local name=$1 dir=$2; shift 2
  "$STARLING_BIN" serve --data-dir "$dir" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --log-format json \
    --durability nosync "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  local pid=$!
  PIDS+=("$pid")
  local end=$((SECONDS + 30)) line=""
  while [ $SECONDS -lt $end ]; do
    line=$(grep -m1 '"msg":"node running"' "$WORK/$name.log" 2>/dev/null || true)
    [ -n "$line" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.05
  done
  if [ -z "$line" ]; then
    fail "node $name did not start: $(cat "$WORK/$name.log")"
    return 1
  fi
  printf -v "${name}_HTTP" '%s' "$(sed -E 's/.*"http":"([^"]*)".*/\1/' <<<"$line")"
  printf -v "${name}_SYNC" '%s' "$(sed -E 's/.*"sync":"([^"]*)".*/\1/' <<<"$line")"
  printf -v "${name}_PID" '%s' "$pid"
}
