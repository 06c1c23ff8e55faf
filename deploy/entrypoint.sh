#!/bin/sh
# Container entrypoint of the starling image (installed as
# /usr/local/bin/starling-entrypoint).
#
#   starling-entrypoint [serve] [FLAGS...]  first start: `starling init`, then
#                                           exec `starling serve FLAGS...`
#   starling-entrypoint node-id             print this node's id (its public key)
#   starling-entrypoint api-token           print the API token (a secret)
#   starling-entrypoint COMMAND ARGS...     exec `starling COMMAND ARGS...`
#
# Configuration is the data directory's starling.json overridden by STARLING_*
# variables (the image sets STARLING_LISTEN=0.0.0.0:7400 and
# STARLING_HTTP_LISTEN=0.0.0.0:7480). The HTTP API refuses to bind a
# non-loopback address without API token hashes; `starling init` writes one
# (DATA_DIR/api.token, its hash in starling.json), so the API is reachable
# from other containers with that bearer token only.
set -eu
umask 077

: "${STARLING_DATA_DIR:=/var/lib/starling}"
export STARLING_DATA_DIR
bin=${STARLING_BIN:-starling}

node_key_id() {
  sed -n 's/^public-key: //p' "$STARLING_DATA_DIR/node.key"
}

first_start_init() {
  [ -f "$STARLING_DATA_DIR/starling.json" ] && return 0
  # `init` writes what the environment says into the file. Run it on the
  # defaults (loopback, no peers, no trust): the environment overrides the
  # file at every start anyway, and a runtime override must not become
  # permanent.
  (
    dir=$STARLING_DATA_DIR
    for v in $(env | sed -n 's/^\(STARLING_[A-Za-z0-9_]*\)=.*/\1/p'); do
      unset "$v"
    done
    exec "$bin" init --data-dir "$dir"
  )
}

if [ $# -eq 0 ]; then
  set -- serve
fi
case "$1" in
  -*) set -- serve "$@" ;;  # flags only: they are serve's
esac

case "$1" in
  serve)
    first_start_init
    exec "$bin" "$@"
    ;;
  node-id)
    node_key_id
    ;;
  api-token)
    cat "$STARLING_DATA_DIR/api.token"
    ;;
  *)
    exec "$bin" "$@"
    ;;
esac
