#!/usr/bin/env bash
# Installs the Debian packages cloudmux needs, only those that are missing.
#   scripts/deps.sh build   — to build the binary
#   scripts/deps.sh test    — to build and run the tests
#   scripts/deps.sh bench   — to run the benchmark (nginx, wrk)
set -euo pipefail

build_pkgs=(pkg-config libevent-dev libhttp-parser-dev libjansson-dev
            libyaml-dev libssl-dev libhiredis-dev libnghttp2-dev libsqlite3-dev libpq-dev)
# podman and runc: the container image is built and run in the end-to-end suite.
# redis-server: the fleet tests share state through a real one.
# curl (built on nghttp2): the HTTP/2 emulator is checked with it.
# postgresql: the store's tests start a real server; sqlite3: they read the
# ledger file with the command-line client.
test_pkgs=(libcmocka-dev openssl ca-certificates podman runc redis-server curl postgresql sqlite3)
bench_pkgs=(nginx-light wrk valgrind)

want=("${build_pkgs[@]}")
case "${1:-build}" in
  build) ;;
  test) want+=("${test_pkgs[@]}") ;;
  bench) want+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "cloudmux: installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "cloudmux: not root; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet.
if ! apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/cloudmux-apt.log 2>&1; then
  apt-get update >>/tmp/cloudmux-apt.log 2>&1
  apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/cloudmux-apt.log 2>&1 || {
    cat /tmp/cloudmux-apt.log >&2; exit 1; }
fi
