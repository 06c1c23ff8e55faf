#!/usr/bin/env bash
# Installs everything starling needs to build and test on Debian (idempotent).
set -euo pipefail
pkgs=(build-essential cmake ninja-build ccache pkg-config git
      libcaf-dev libboost-dev nlohmann-json3-dev libsodium-dev liblmdb-dev libcli11-dev
      catch2 libbenchmark-dev clang libclang-rt-14-dev
      python3 chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
