#!/usr/bin/env bash
# The status page at / renders the node's peers and documents, live, in
# headless Chromium (Debian's chromium package; deploy/setup.sh installs it).
source "$(dirname "$0")/lib.sh"
S=$STARLING_BIN
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  echo "FAIL: chromium is not installed (deploy/setup.sh installs it)" >&2
  exit 1
fi
"$S" init --data-dir "$WORK/a" >/dev/null && "$S" init --data-dir "$WORK/b" >"$WORK/b.init" || exit 1
start_node A "$WORK/a" || exit 1
A_NODE=$(sed -nE 's/.*"node_id":"([0-9a-f]{64})".*/\1/p' "$WORK/A.log" | head -1)
B_KEY=$(sed -nE 's/^node id: +([0-9a-f]{64})$/\1/p' "$WORK/b.init")
"$S" trust add --node "$A_HTTP" "$B_KEY" >/dev/null || fail "trust add"
start_node B "$WORK/b" --peer "$A_SYNC" --trust "$A_NODE" || exit 1
"$S" put --node "$A_HTTP" groceries /milk 2 >/dev/null || fail "put"
wait_for 30 "B is connected" -- bash -c "'$S' status --node '$A_HTTP' --json | grep -q '\"state\": \"live\"'"

render() {
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
    --user-data-dir="$WORK/chromium" --virtual-time-budget=4000 --dump-dom "$A_HTTP/" 2>"$WORK/chromium.log"
}
DOM=$(render)
grep -q 'data-loaded="yes"' <<<"$DOM" && pass "the page loaded its data" || fail "page did not load: $(head -c 2000 <<<"$DOM")"
grep -q "$A_NODE" <<<"$DOM" && pass "it shows the node id" || fail "no node id"
grep -q "<td>groceries</td>" <<<"$DOM" && pass "it lists the document" || fail "no document row"
grep -q "${B_KEY:0:16}" <<<"$DOM" && pass "it lists the peer" || fail "no peer row"
grep -q '<td class="live">live</td>' <<<"$DOM" && pass "the peer is live" || fail "peer state missing"
# Live: a new document appears on the next render without restarting anything.
"$S" put --node "$A_HTTP" later /x 1 >/dev/null || fail "put"
DOM=$(render)
grep -q "<td>later</td>" <<<"$DOM" && pass "new data shows up" || fail "no row for the new document"
echo "$FAILURES failure(s)"
[ "$FAILURES" -eq 0 ]
