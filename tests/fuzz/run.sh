#!/usr/bin/env bash
# Builds the libFuzzer drivers in tests/fuzz/ with clang (ASan + UBSan) and
# runs each for FUZZ_SECONDS (default 20).
#
#   tests/fuzz/run.sh                 build, then fuzz every target
#   tests/fuzz/run.sh http ws         only these targets
#   tests/fuzz/run.sh --build         only build
#   tests/fuzz/run.sh --replay        run every saved crash under tests/fuzz/crashes/
#                                     (regression check; fails if one still crashes)
#
# Environment: FUZZ_SECONDS, FUZZ_JOBS (parallel workers per target, default
# 1), FUZZ_BUILD_JOBS (drivers built at once, default nproc), FUZZ_PREBUILT=1
# (fuzz the drivers as built, after run.sh --build), CC (default clang),
# FUZZ_FLAGS (extra libFuzzer flags).
# Seeds live in tests/fuzz/corpus/<target>/ and are never written to: the
# working corpus is build/fuzz/corpus/<target>/. A crash's input is written to
# tests/fuzz/crashes/<target>-crash-<sha1> (and leak-, timeout-, oom-).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/build/fuzz"
CC=${CC:-clang}
SECONDS_EACH=${FUZZ_SECONDS:-20}
JOBS=${FUZZ_JOBS:-1}
BUILD_JOBS=${FUZZ_BUILD_JOBS:-$(nproc)}

ALL_TARGETS="http menu cart_json ws redis_msg auth addr input json_str lang server"

# The src files each driver needs (main.c and everything with I/O stay out).
srcs_for() {
    local core="src/core/buf.c src/core/mem.c src/core/err.c src/core/log.c src/core/text.c"
    case "$1" in
    http) echo "$core src/http/http.c" ;;
    menu) echo "$core src/cart/menu.c src/core/json.c src/cart/money.c" ;;
    cart_json) echo "$core src/cart/cart.c src/cart/menu.c src/core/json.c src/cart/money.c" ;;
    ws) echo "$core src/push/ws.c src/core/json.c" ;;
    redis_msg) echo "$core src/store/redis_wire.c src/cart/cart.c src/cart/menu.c src/core/json.c src/cart/money.c" ;;
    auth) echo "$core src/auth/auth.c src/core/parse.c src/core/json.c src/core/clock.c src/http/http.c src/cart/menu.c src/cart/money.c" ;;
    addr) echo "$core src/core/addr.c src/core/json.c" ;;
    input) echo "$core src/api/input.c src/core/parse.c src/core/json.c" ;;
    json_str) echo "$core src/core/json.c" ;;
    lang) echo "$core" ;;
    # The whole server but main.c and the commands (cli/): fuzz_server.c wires it.
    server) (cd "$root" && find src -name '*.c' ! -path 'src/cli/*' ! -name main.c | sort | tr '\n' ' ') ;;
    *) echo "unknown target $1" >&2; return 1 ;;
    esac
}

libs_for() {
    case "$1" in
    http) echo "-lhttp_parser" ;;
    menu | cart_json | redis_msg) echo "-ljansson -lm" ;;
    ws) echo "-lwslay -lcrypto" ;;
    auth) echo "-ljwt -ljansson -lcrypto -lhttp_parser -lm" ;;
    input | json_str) echo "-ljansson" ;;
    server) echo "$(pkg-config --libs libuv jansson sqlite3 hiredis libjwt openssl liburing) -lwslay -lhttp_parser -lm" ;;
    esac
}

check_toolchain() {
    if ! command -v "$CC" >/dev/null; then
        echo "fuzz: $CC not found (apt-get install clang)" >&2
        exit 2
    fi
    local t
    t=$(mktemp -d)
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n){(void)d;(void)n;return 0;}\n' >"$t/t.c"
    if ! "$CC" -fsanitize=fuzzer,address,undefined "$t/t.c" -o "$t/t" 2>"$t/err"; then
        cat "$t/err" >&2
        echo "fuzz: $CC cannot link -fsanitize=fuzzer; install libclang-rt-14-dev" \
            "(Debian 12: apt-get install libclang-rt-14-dev)" >&2
        rm -rf "$t"
        exit 2
    fi
    rm -rf "$t"
}

build() {
    local name=$1
    mkdir -p "$out"
    local flags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Wall -Wextra
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I"$root/src")
    if [ "$name" = server ]; then
        # shellcheck disable=SC2207
        flags+=($(pkg-config --cflags libuv jansson sqlite3 hiredis libjwt openssl liburing)
            -DTC_FUZZ_ROOT="\"$root\"")
    fi
    local srcs
    srcs=$(srcs_for "$name")
    (cd "$root" && "$CC" "${flags[@]}" -o "$out/fuzz_$name" "tests/fuzz/fuzz_$name.c" $srcs \
        $(libs_for "$name"))
    echo "built build/fuzz/fuzz_$name"
}

# Builds the targets given, BUILD_JOBS at a time; fails if any build fails.
build_all() {
    local pids=() t failed=0
    for t in "$@"; do
        build "$t" &
        pids+=($!)
        if [ ${#pids[@]} -ge "$BUILD_JOBS" ]; then
            wait "${pids[0]}" || failed=1
            pids=("${pids[@]:1}")
        fi
    done
    for t in "${pids[@]}"; do wait "$t" || failed=1; done
    return $failed
}

run() {
    local name=$1
    local corpus="$out/corpus/$name"
    mkdir -p "$corpus" "$here/crashes"
    cp -n "$here/corpus/$name"/* "$corpus"/ 2>/dev/null || true
    echo "== fuzz_$name for ${SECONDS_EACH}s"
    local jobs=() dict=()
    if [ "$JOBS" -gt 1 ]; then jobs=(-jobs="$JOBS" -workers="$JOBS"); fi
    if [ -f "$here/$name.dict" ]; then dict=(-dict="$here/$name.dict"); fi
    # shellcheck disable=SC2086
    "$out/fuzz_$name" "$corpus" "$here/corpus/$name" -max_total_time="$SECONDS_EACH" \
        -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$here/crashes/$name-" "${jobs[@]}" "${dict[@]}" ${FUZZ_FLAGS:-}
}

replay() {
    local failed=0 f name
    shopt -s nullglob
    for f in "$here"/crashes/*-*; do
        case "$(basename "$f")" in README*) continue ;; esac
        name=$(basename "$f")
        name=${name%%-*}
        [ -x "$out/fuzz_$name" ] || build "$name"
        if "$out/fuzz_$name" "$f" >/dev/null 2>&1; then
            echo "fixed:   $(basename "$f")"
        else
            echo "CRASHES: $(basename "$f")"
            failed=1
        fi
    done
    return $failed
}

check_toolchain
case "${1:-}" in
--build)
    build_all $ALL_TARGETS
    exit $?
    ;;
--replay)
    replay
    exit $?
    ;;
esac

targets=${*:-$ALL_TARGETS}
status=0
# FUZZ_PREBUILT=1: the drivers were just built (run.sh --build): fuzz them as they are.
if [ "${FUZZ_PREBUILT:-0}" != 1 ]; then build_all $targets; fi
for t in $targets; do
    if ! run "$t"; then
        echo "fuzz_$t FAILED: see tests/fuzz/crashes/" >&2
        status=1
    fi
done
exit $status
