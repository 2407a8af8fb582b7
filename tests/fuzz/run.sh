#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time and fails on any crash, leak, timeout (one input
# running longer than FUZZ_TIMEOUT, 1 s by default) or out-of-memory. Prints "<target>: N execs" per target and a closing "fuzz: P passed, F failed".
#   tests/fuzz/run.sh                          # 30 s per target, 2 at a time (CI)
#   FUZZ_SECONDS=3600 tests/fuzz/run.sh        # the long run
#   FUZZ_TARGETS="token jwks" tests/fuzz/run.sh
#   FUZZ_JOBS=4 FUZZ_NO_BUILD=1 tests/fuzz/run.sh
# New inputs the fuzzer finds go to $FUZZ_OUT/work/<target>/corpus (the committed seeds in
# tests/fuzz/corpus/<target> are read, never written); a failing input is saved beside it as
# crash-*/leak-*/timeout-*/oom-* and its log tail is printed. Reproduce one with
#   tests/fuzz/out/fuzz_<target> <file>
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${FUZZ_OUT:-$here/out}
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-2}
# Per-input time limit (seconds): every input is at most a few KiB and every path linear in it,
# so one taking a second is a quadratic (or worse) path, reported as a timeout-* artifact.
timeout=${FUZZ_TIMEOUT:-1}
# Inputs up to 16 KiB (twice httpd's request line): at that size a per-parameter copy of a URL
# takes over a second under the sanitizers, at the 4 KiB libFuzzer would pick it takes 0.1 s.
max_len=${FUZZ_MAX_LEN:-16384}

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
    FUZZ_OUT=$out "$here/build.sh" || { echo "fuzz: build failed"; echo "fuzz: 0 passed, 1 failed"; exit 1; }
fi
if [ -n "${FUZZ_TARGETS:-}" ]; then
    targets=$FUZZ_TARGETS
else
    targets=$(cd "$here" && ls fuzz_*.c | sed -e 's/^fuzz_//' -e 's/\.c$//' | grep -vx common)
fi

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0

fuzz_one() { # target: runs it, leaves its verdict in work/<target>/verdict
    local t=$1 w=$out/work/$1
    rm -rf "$w"
    mkdir -p "$w/corpus"
    local seeds=$here/corpus/$t
    [ -d "$seeds" ] || seeds=
    "$out/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout="$timeout" -max_len="$max_len" \
        -print_final_stats=1 -dict="$here/clerk.dict" -artifact_prefix="$w/" \
        "$w/corpus" ${seeds:+"$seeds"} >"$w/log" 2>&1
    local rc=$?
    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$w/log" | tail -n 1)
    local found
    found=$(cd "$w" && ls -d crash-* leak-* timeout-* oom-* slow-unit-* 2>/dev/null | grep -v '^slow-unit' | head -n 1)
    if [ "$rc" -eq 0 ] && [ -z "$found" ] && [ -n "$execs" ]; then
        echo "$t: ${execs} execs" >"$w/verdict"
    else
        {
            echo "$t: ${execs:-0} execs, FAILED (exit $rc${found:+, $found})"
            grep -E 'ERROR|SUMMARY|runtime error|#[0-9]+ 0x' "$w/log" | head -n 40
        } >"$w/verdict"
        echo FAILED >"$w/failed"
    fi
}

running=0
for t in $targets; do
    if [ ! -x "$out/fuzz_$t" ]; then
        mkdir -p "$out/work/$t"
        echo "$t: 0 execs, FAILED (no binary $out/fuzz_$t)" >"$out/work/$t/verdict"
        echo FAILED >"$out/work/$t/failed"
        continue
    fi
    fuzz_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

passed=0
failed=0
for t in $targets; do
    cat "$out/work/$t/verdict"
    if [ -f "$out/work/$t/failed" ]; then
        failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
