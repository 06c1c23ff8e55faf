#!/bin/sh
# One-shot bootstrap of a fixed set of starling nodes that trust each other
# (installed in the image as /usr/local/bin/starling-cluster-bootstrap; the
# compose file runs it as its `bootstrap` service).
#
#   starling-cluster-bootstrap NAME=SYNC_URL [NAME=SYNC_URL ...]
#
# Each NAME has its data directory at $BOOTSTRAP_ROOT/NAME (a volume that
# the node later mounts at $NODE_DATA_DIR, default /var/lib/starling; set it
# empty when the nodes use these directories where they are). For every node:
#   1. a key (node.key) is created if there is none;
#   2. every node id is read from the keys;
#   3. a node that has no starling.json yet gets one from `starling init`:
#      `trusted` = every other node (read,write), `peers` = the sync URLs of
#      the nodes listed BEFORE it. So each pair of nodes has exactly one
#      connection (the later node dials the earlier one and redials after a
#      restart of either side) and the nodes form a full mesh.
# A node that already has starling.json is left exactly as it is, so running
# this again (every `docker compose up`) changes nothing. Keys never leave
# their own volume; only the public ids are shared.
#
# Run as root, it makes the volume roots owned by $RUN_AS (uid:gid, default
# 10001:10001, the image's `starling` user) and re-executes itself as that
# user; run as any other user it just does the work.
set -eu
umask 077

root=${BOOTSTRAP_ROOT:-/data}
node_data_dir=${NODE_DATA_DIR-/var/lib/starling}  # set but empty: keep the real path
run_as=${RUN_AS:-10001:10001}
bin=${STARLING_BIN:-starling}

die() { echo "starling-cluster-bootstrap: $*" >&2; exit 2; }

[ $# -ge 2 ] || die "usage: starling-cluster-bootstrap NAME=ws://HOST:PORT/v1/sync NAME=... (at least two nodes)"
for arg in "$@"; do
  name=${arg%%=*}
  url=${arg#*=}
  case "$name" in '' | *[!A-Za-z0-9._-]*) die "bad node name in '$arg'" ;; esac
  case "$url" in ws://* | wss://*) ;; *) die "'$arg': the sync URL must start with ws:// or wss://" ;; esac
done

if [ "$(id -u)" = 0 ] && [ "$run_as" != 0:0 ]; then
  for arg in "$@"; do
    dir=$root/${arg%%=*}
    mkdir -p "$dir"
    if [ "$(stat -c %u:%g "$dir")" != "$run_as" ]; then
      chmod 700 "$dir"  # before chown: afterwards root would need CAP_FOWNER
      chown "$run_as" "$dir"
    fi
  done
  exec setpriv --reuid "${run_as%%:*}" --regid "${run_as#*:}" --clear-groups -- "$0" "$@"
fi

# `init` writes what the environment says into the file; use no STARLING_*
# variables here (the flags below say everything).
for v in $(env | sed -n 's/^\(STARLING_[A-Za-z0-9_]*\)=.*/\1/p'); do
  unset "$v"
done

# 1. keys
for arg in "$@"; do
  dir=$root/${arg%%=*}
  mkdir -p "$dir"
  rm -rf "$dir"/.keygen.*
  if [ ! -f "$dir/node.key" ]; then
    # `init` into a scratch directory, keep only its key: the rename makes
    # the key appear whole or not at all.
    tmp=$dir/.keygen.$$
    "$bin" init --data-dir "$tmp" >/dev/null
    mv "$tmp/node.key" "$dir/node.key"
    rm -rf "$tmp"
  fi
done

# 2. ids
id_of() {
  id=$(sed -n 's/^public-key: //p' "$root/$1/node.key")
  [ ${#id} -eq 64 ] || die "$root/$1/node.key holds no public key"
  echo "$id"
}

# 3. configs
i=0
for arg in "$@"; do
  i=$((i + 1))
  name=${arg%%=*}
  dir=$root/$name
  if [ -f "$dir/starling.json" ]; then
    echo "$name $(id_of "$name") already initialised, left as it is"
    continue
  fi
  set_args=""
  j=0
  for other in "$@"; do
    j=$((j + 1))
    oname=${other%%=*}
    [ "$oname" = "$name" ] && continue
    set_args="$set_args --trust $(id_of "$oname")"
    [ $j -lt $i ] && set_args="$set_args --peer ${other#*=}"
  done
  # shellcheck disable=SC2086 # set_args holds flags and values without blanks
  "$bin" init --data-dir "$dir" $set_args >/dev/null
  # init records the directory it was given; the node mounts it elsewhere.
  if [ -n "$node_data_dir" ]; then
    sed -i "s|^  \"data_dir\": \".*\",\$|  \"data_dir\": \"$node_data_dir\",|" "$dir/starling.json"
  fi
  echo "$name $(id_of "$name") initialised:$set_args"
done
