#!/usr/bin/env bash
# Installs the Debian packages tablecart needs to build, run and test, but only
# those that are missing, so a second run costs a few milliseconds.
# Usage: scripts/install-deps.sh run|test|bench
#   bench: what `make bench` needs on top of run (the nchan peer, gnuplot for the plot)
set -euo pipefail

run_pkgs=(gcc make pkg-config libuv1-dev libhttp-parser-dev libwslay-dev libjansson-dev
    libsqlite3-dev libhiredis-dev libssl-dev libjwt-dev liburing-dev)
test_pkgs=(libcmocka-dev clang libclang-rt-14-dev python3 python3-pytest python3-pytest-xdist
    python3-websockets python3-requests python3-prometheus-client redis-server nginx-light openssl
    stunnel4 systemd chromium fonts-wqy-microhei nodejs npm)
bench_pkgs=(python3 nginx-light libnginx-mod-nchan gnuplot-nox)

want=("${run_pkgs[@]}")
[ "${1:-run}" = test ] && want+=("${test_pkgs[@]}")
[ "${1:-run}" = bench ] && want+=("${bench_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
    # nodejs may come from another repository than Debian's: any install counts.
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
# npm ships inside some nodejs builds; only ask apt for it when the command is absent.
if [[ " ${missing[*]} " == *" npm "* ]] && command -v npm >/dev/null; then
    missing=("${missing[@]/npm/}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
