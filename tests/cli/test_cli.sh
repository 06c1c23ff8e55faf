#!/usr/bin/env bash
# The starling command line against real `starling serve` processes.
source "$(dirname "$0")/lib.sh"
S=$STARLING_BIN

# --- usage errors: exit 2 with a one-line reason
expect_exit 2 "no command" -- "$S"
expect_exit 2 "unknown command" -- "$S" frobnicate
expect_exit 2 "put without arguments" -- "$S" put
expect_exit 2 "unknown option" -- "$S" get --nope doc
expect_exit 0 "--help" -- "$S" --help
expect_exit 0 "put --help" -- "$S" put --help
expect_exit 2 "serve without a data dir" -- env -u STARLING_DATA_DIR "$S" serve
echo '{"data_dir": "'"$WORK"'/x", "lisen": "127.0.0.1:1"}' >"$WORK/bad.json"
expect_exit 2 "serve with an unknown config key" -- "$S" serve --config "$WORK/bad.json"
grep -q "unknown key 'lisen'" <<<"$LAST_OUTPUT" && pass "the key is named" || fail "key not named: $LAST_OUTPUT"
echo '{"data_dir": "'"$WORK"'/x", "limits": {"frame_bytes": "big"}}' >"$WORK/bad2.json"
expect_exit 2 "serve with a wrongly typed config value" -- "$S" serve --config "$WORK/bad2.json"
grep -q "limits.frame_bytes" <<<"$LAST_OUTPUT" && pass "the key is named" || fail "key not named: $LAST_OUTPUT"
# Exposed without tokens as well, so that a build which accepted the file
# would still stop (and fail on the message) instead of serving.
echo '{"data_dir": "'"$WORK"'/x", "data_dir": "'"$WORK"'/y", "http_listen": "0.0.0.0:0"}' >"$WORK/bad3.json"
expect_exit 2 "serve with a config that repeats a key" -- "$S" serve --config "$WORK/bad3.json"
grep -q "repeats the key 'data_dir'" <<<"$LAST_OUTPUT" && pass "the repeated key is named" || fail "not refused for the repeated key: $LAST_OUTPUT"
expect_exit 2 "serve exposed without API tokens" -- "$S" serve --data-dir "$WORK/x" --http-listen 0.0.0.0:0
[ ! -e "$WORK/x/data.mdb" ] && pass "nothing opened before validation" || fail "serve opened the store before refusing"
# One key, three sources, one message (the key named as written).
echo '{"data_dir": "'"$WORK"'/x", "limits": {"frame_bytes": 10}}' >"$WORK/range.json"
range="must be between 1024 and 1073741824"
expect_exit 2 "an out-of-range value in the file" -- "$S" serve --config "$WORK/range.json"
grep -q "config: 'limits.frame_bytes' $range" <<<"$LAST_OUTPUT" && pass "the file's key is named" || fail "file: $LAST_OUTPUT"
expect_exit 2 "an out-of-range variable" -- env STARLING_LIMITS_FRAME_BYTES=10 "$S" serve --data-dir "$WORK/x"
grep -q "config: 'STARLING_LIMITS_FRAME_BYTES' $range" <<<"$LAST_OUTPUT" && pass "the variable is named" || fail "env: $LAST_OUTPUT"
expect_exit 2 "an out-of-range flag" -- "$S" serve --data-dir "$WORK/x" --limits-frame-bytes 10
grep -q "config: '--limits-frame-bytes' $range" <<<"$LAST_OUTPUT" && pass "the flag is named" || fail "flag: $LAST_OUTPUT"
expect_exit 2 "serve with an unknown flag" -- "$S" serve --data-dir "$WORK/x" --limits-frame-byte 10023
# The reference in README.md is the one the binary prints.
expect_exit 0 "config reference" -- "$S" config reference
readme_table=$(sed -n '/^<!-- begin config-reference/,/^<!-- end config-reference -->/p' "$(dirname "$0")/../../README.md" | sed '1d;$d')
[ -n "$LAST_OUTPUT" ] && [ "$LAST_OUTPUT" = "$readme_table" ] && pass "README.md's configuration reference is current" ||
  fail "README.md's configuration reference differs from 'starling config reference' (run scripts/update-config-reference.sh)"
expect_exit 2 "config without a subcommand" -- "$S" config

# --- init
expect_exit 0 "init" -- "$S" init --data-dir "$WORK/a"
A_ID=$(sed -nE 's/^node id: +([0-9a-f]{64})$/\1/p' <<<"$LAST_OUTPUT")
[ ${#A_ID} -eq 64 ] && pass "init prints the node id" || fail "no node id in: $LAST_OUTPUT"
for f in node.key api.token starling.json; do
  [ -f "$WORK/a/$f" ] && pass "init wrote $f" || fail "init did not write $f"
done
[ "$(stat -c %a "$WORK/a/node.key")" = 600 ] && pass "node.key is 0600" || fail "node.key mode $(stat -c %a "$WORK/a/node.key")"
[ "$(stat -c %a "$WORK/a/api.token")" = 600 ] && pass "api.token is 0600" || fail "api.token mode"
grep -q "$(cat "$WORK/a/api.token")" "$WORK/a/starling.json" && fail "the config holds the API token itself" || pass "the config holds only the token's hash"
expect_exit 2 "init twice" -- "$S" init --data-dir "$WORK/a"
expect_exit 0 "id" -- "$S" id --data-dir "$WORK/a"
[ "$LAST_OUTPUT" = "$A_ID" ] && pass "id prints the node id" || fail "id printed: $LAST_OUTPUT"
expect_exit 0 "init with a tuned limit" -- env STARLING_TIMEOUTS_AUTH_MS=2500 "$S" init --data-dir "$WORK/tuned" --limits-frame-bytes 65536
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); sys.exit(0 if c["limits"]["frame_bytes"] == 65536 and c["timeouts"]["auth_ms"] == 2500 else 1)' "$WORK/tuned/starling.json" &&
  pass "init writes the keys set away from their defaults" || fail "init lost a tuned key: $(cat "$WORK/tuned/starling.json")"
expect_exit 0 "init for an exposed API (its token hash goes in the config)" -- "$S" init --data-dir "$WORK/exposed" --http-listen 0.0.0.0:7480

# --- serve, put, get, watch, status
start_node A "$WORK/a" || exit 1
N=(--node "$A_HTTP")
# One data directory, one node: a second serve on it stops at once (under
# `timeout`, so that a build without the lock fails here instead of hanging).
expect_exit 1 "a second serve on the same data directory" -- \
  timeout 20 "$S" serve --data-dir "$WORK/a" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0
grep -q "in use by another process (pid $A_PID" <<<"$LAST_OUTPUT" && pass "the refusal names the holder's pid" ||
  fail "no pid $A_PID in: $LAST_OUTPUT"
expect_exit 0 "put" -- "$S" put "${N[@]}" todos /title '"milk"'
[[ "$LAST_OUTPUT" =~ ^[0-9a-f]{64}$ ]] && pass "put prints the change hash" || fail "put printed: $LAST_OUTPUT"
expect_exit 0 "put --op inc" -- "$S" put "${N[@]}" --op inc todos /count 2
expect_exit 0 "get a pointer" -- "$S" get "${N[@]}" todos /title
[ "$LAST_OUTPUT" = '"milk"' ] && pass "get returns the value" || fail "get printed: $LAST_OUTPUT"
expect_exit 0 "get a document" -- "$S" get "${N[@]}" todos
grep -q '"count": 2' <<<"$LAST_OUTPUT" && pass "the whole document" || fail "document: $LAST_OUTPUT"
expect_exit 2 "get a missing document" -- "$S" get "${N[@]}" nothing
expect_exit 2 "put a value that is not JSON" -- "$S" put "${N[@]}" todos /x milk
expect_exit 2 "put an impossible mutation" -- "$S" put "${N[@]}" --op inc todos /title/x 1
expect_exit 1 "a node that is not there" -- "$S" get --node http://127.0.0.1:1 --timeout-ms 2000 todos
expect_exit 0 "watch replays from the start" -- timeout 20 "$S" watch "${N[@]}" --from 0 --max 2 todos
[ "$(wc -l <<<"$LAST_OUTPUT")" -eq 2 ] && grep -q '"seq":2' <<<"$LAST_OUTPUT" && pass "two events, in order" ||
  fail "watch printed: $LAST_OUTPUT"
expect_exit 0 "status" -- "$S" status "${N[@]}"
grep -q "todos  changes=2" <<<"$LAST_OUTPUT" && pass "status lists the document" || fail "status: $LAST_OUTPUT"
expect_exit 0 "status --json" -- "$S" status "${N[@]}" --json
grep -q "\"node_id\": \"$A_ID\"" <<<"$LAST_OUTPUT" && pass "status --json" || fail "status --json: $LAST_OUTPUT"

# --- trust and tokens; a second node joins with a token
expect_exit 0 "trust add" -- "$S" trust add "${N[@]}" "$(printf 'b%.0s' {1..64})" --perm read
expect_exit 0 "trust list" -- "$S" trust list "${N[@]}"
grep -q "perm=read" <<<"$LAST_OUTPUT" && pass "listed" || fail "trust list: $LAST_OUTPUT"
expect_exit 0 "trust remove" -- "$S" trust remove "${N[@]}" "$(printf 'b%.0s' {1..64})"
expect_exit 2 "trust add with a bad key" -- "$S" trust add "${N[@]}" nothex
expect_exit 0 "token create" -- "$S" token create "${N[@]}" --perm read,write --ttl 10m
TOKEN=$(head -1 <<<"$LAST_OUTPUT")
[[ "$TOKEN" =~ ^stk1_[0-9a-f]{64}$ ]] && pass "a token" || fail "token create printed: $LAST_OUTPUT"
expect_exit 2 "token create with a bad ttl" -- "$S" token create "${N[@]}" --ttl soon
expect_exit 0 "init the joiner" -- "$S" init --data-dir "$WORK/b"
start_node B "$WORK/b" --peer "$A_SYNC" --trust "$A_ID" --join-token "$TOKEN" || exit 1
wait_for 30 "the joiner gets the document" -- bash -c "'$S' get --node '$B_HTTP' todos /title | grep -q milk"
expect_exit 0 "a write on the joiner" -- "$S" put --node "$B_HTTP" todos /from_b true
wait_for 30 "it reaches the first node" -- bash -c "'$S' get --node '$A_HTTP' todos /from_b | grep -q true"
expect_exit 0 "token list" -- "$S" token list "${N[@]}"
[ -z "$LAST_OUTPUT" ] && pass "the token was used up" || fail "token still listed: $LAST_OUTPUT"

# --- SIGTERM stops a node cleanly
kill -TERM "$A_PID"
wait_for 30 "node A exits on SIGTERM" -- bash -c "! kill -0 $A_PID"
wait "$A_PID"; rc=$?
[ $rc -eq 0 ] && pass "exit code 0" || fail "node A exited with $rc"
grep -q '"msg":"stopped"' "$WORK/A.log" && pass "logged its stop" || fail "no stop line in the log"
grep -q "$(cat "$WORK/a/api.token")" "$WORK/A.log" "$WORK/B.log" && fail "a token reached the log" || pass "no token in the logs"
grep -q "$TOKEN" "$WORK/A.log" "$WORK/B.log" && fail "the join token reached the log" || pass "no join token in the logs"

echo "$FAILURES failure(s)"
[ "$FAILURES" -eq 0 ]
