#!/usr/bin/env bash
# make fuzz-long: runs every fuzzer long enough to reach FUZZ_TOTAL_EXECS
# executions in total (default 10^8), one job at a time.
#
# Each target first runs for FUZZ_PROBE seconds (default 20) to measure its
# exec/s; then every target runs for the same time T, the shortest with which
# the measured rates reach the total. Prints executions and exec/s per target
# and the total. A crash fails the
# run, as in run.sh (input in tests/fuzz/crashes/).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/build/fuzz"
TOTAL=${FUZZ_TOTAL_EXECS:-100000000}
PROBE=${FUZZ_PROBE:-20}
targets=$(sed -n 's/^ALL_TARGETS="\(.*\)"$/\1/p' "$here/run.sh")
log="$out/long"
mkdir -p "$log"

"$here/run.sh" --build

# One run of target $1 with extra libFuzzer flags; prints "execs exec/s".
fuzz() {
    local name=$1
    shift
    local corpus="$out/corpus/$name" dict=()
    mkdir -p "$corpus" "$here/crashes"
    cp -n "$here/corpus/$name"/* "$corpus"/ 2>/dev/null || true
    if [ -f "$here/$name.dict" ]; then dict=(-dict="$here/$name.dict"); fi
    if ! "$out/fuzz_$name" "$corpus" "$here/corpus/$name" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$here/crashes/$name-" \
        "${dict[@]}" "$@" >"$log/$name.log" 2>&1; then
        tail -40 "$log/$name.log" >&2
        echo "fuzz_$name FAILED: see tests/fuzz/crashes/ and $log/$name.log" >&2
        return 1
    fi
    local n rate
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log/$name.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log/$name.log")
    echo "${n:-0} ${rate:-0}"
}

declare -A rate done_n
sum=0
ntargets=0
for t in $targets; do
    read -r n r < <(fuzz "$t" -max_total_time="$PROBE") || exit 1
    rate[$t]=$r
    done_n[$t]=$n
    sum=$((sum + n))
    ntargets=$((ntargets + 1))
    echo "probe fuzz_$t: $n runs, $r exec/s"
done

# The same time for every target: T * (sum of the rates) covers what is left.
rates=0
for t in $targets; do rates=$((rates + ${rate[$t]})); done
[ "$rates" -gt 0 ] || rates=1
left=$((TOTAL > sum ? TOTAL - sum : 0))
secs=$(((left + rates - 1) / rates))
echo "then ${secs}s per target (~$((secs * ntargets / 60)) min) for $TOTAL executions in total"

for t in $targets; do
    [ "$secs" -gt 0 ] || break
    read -r n r2 < <(fuzz "$t" -max_total_time="$secs") || exit 1
    done_n[$t]=$((done_n[$t] + n))
    sum=$((sum + n))
    rate[$t]=$r2
    echo "fuzz_$t: $n runs at $r2 exec/s (${done_n[$t]} in all)"
done

# A rate can fall after its probe (a growing corpus): top up with the
# fastest target until the total is reached.
while [ "$sum" -lt "$TOTAL" ]; do
    fast=""
    for t in $targets; do
        if [ -z "$fast" ] || [ "${rate[$t]}" -gt "${rate[$fast]}" ]; then fast=$t; fi
    done
    r=${rate[$fast]}
    [ "$r" -gt 0 ] || r=1
    extra=$(((TOTAL - sum + r - 1) / r + 5))
    read -r n r2 < <(fuzz "$fast" -max_total_time="$extra") || exit 1
    done_n[$fast]=$((done_n[$fast] + n))
    sum=$((sum + n))
    rate[$fast]=$r2
    echo "top-up fuzz_$fast: $n runs at $r2 exec/s (${done_n[$fast]} in all)"
done

echo
echo "| target | executions | exec/s |"
echo "|---|---:|---:|"
for t in $targets; do echo "| $t | ${done_n[$t]} | ${rate[$t]} |"; done
echo "total: $sum executions, no finding"
