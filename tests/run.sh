#!/usr/bin/env bash
# The whole test suite, the one command the README gives and CI calls: installs the Debian
# packages it needs, builds from scratch, runs the unit suite, the same under valgrind, and the
# end-to-end suite against a real httpd, then prints one line "N passed, N failed".
#
#   tests/run.sh               # as root on Debian 12 (or with sudo available)
#   CLERK_NO_APT=1 tests/run.sh  # skip the package step (packages already there)
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

PACKAGES="apache2 apache2-dev libapr1-dev libaprutil1-dev libssl-dev libjansson-dev
  libcurl4-openssl-dev check autoconf automake libtool pkg-config curl make gcc
  python3 python3-pytest valgrind clang-format openssl memcached redis-server
  chromium nodejs clang libclang-rt-14-dev tinyproxy debhelper lintian fakeroot build-essential
  python3-prometheus-client"

if [ "${CLERK_NO_APT:-0}" != 1 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || { echo "apt-get update failed"; exit 1; }
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq $PACKAGES >/dev/null || { echo "apt-get install failed"; exit 1; }
fi

passed=0
failed=0
step() { # name, command...: a build step; a failure stops the run
    local name=$1
    shift
    echo "== $name"
    if ! "$@"; then
        echo "FAILED: $name"
        echo "0 passed, 1 failed"
        exit 1
    fi
}

# The real-browser handshake test: playwright-core pinned by tests/browser/package-lock.json
# drives Debian's chromium (no browser download). npm comes with the machine's Node.js.
step "npm ci (tests/browser)" npm ci --prefix tests/browser --no-audit --no-fund
step autogen ./autogen.sh
step configure ./configure --enable-werror
step build make -j2
step "build tests" make -j2 tests/unit/check_core tests/tools/clerk-mint tests/tools/clerk-cachetool

# make check runs the unit suite and the e2e suite (automake TESTS); logs land beside them.
echo "== make check"
make -j1 check >/dev/null 2>&1
for log in tests/unit/check_core.log tests/e2e/run-e2e.sh.log; do
    [ -f "$log" ] && { echo "---- $log"; tail -n 40 "$log"; }
done

# Check prints "NN%: Checks: T, Failures: F, Errors: E".
if line=$(grep -E '^[0-9]+%: Checks: [0-9]+' tests/unit/check_core.log 2>/dev/null | tail -n 1); then
    t=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
    f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
    e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
    passed=$((passed + t - f - e))
    failed=$((failed + f + e))
else
    echo "unit suite produced no Check summary"
    failed=$((failed + 1))
fi

# pytest's closing line: "N passed[, N failed][, N error(s)] in Ts".
if line=$(grep -E '[0-9]+ (passed|failed)' tests/e2e/run-e2e.sh.log 2>/dev/null | tail -n 1); then
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
    f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
    e=$(echo "$line" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+' || echo 0)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${e:-0}))
else
    echo "e2e suite produced no pytest summary"
    failed=$((failed + 1))
fi

# The unit suite once more under valgrind: any invalid access or definite leak fails the run.
echo "== valgrind (unit suite)"
if CK_FORK=no valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=99 ./tests/unit/check_core >tests/unit/valgrind.log 2>&1; then
    passed=$((passed + 1))
else
    echo "valgrind reported errors:"
    tail -n 40 tests/unit/valgrind.log
    failed=$((failed + 1))
fi

# Load with faults (tests/load/run.sh: per MPM a private httpd restarted gracefully under a
# checked request stream while its JWKS rotates; each MPM counts once) and conformance with
# Clerk's SDK (tests/conformance/run.sh: each agreeing or deliberately different case counts
# once, each unexplained disagreement fails once).
echo "== load"
tests/load/run.sh . >tests/load.log 2>&1
grep -E '^(load [a-z]+:|requests checked|  wrong verdicts)' tests/load.log
if line=$(grep -E '^load: [0-9]+ passed, [0-9]+ failed' tests/load.log | tail -n 1); then
    passed=$((passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
    failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
else
    tail -n 40 tests/load.log
    failed=$((failed + 1))
fi
echo "== conformance"
# npm comes with the image's nodejs (NodeSource v20); Debian's npm package conflicts with it.
tests/conformance/run.sh . >tests/conformance.log 2>&1
conf_rc=$?
grep -E '^(agreement|DISAGREEMENT)' tests/conformance.log | cut -c1-400
if line=$(grep -E '^agreement [0-9]+/[0-9]+ \([0-9]+ deliberate differences, [0-9]+ unexplained\)' \
    tests/conformance.log | tail -n 1); then
    n=$(echo "$line" | sed -E 's/^agreement ([0-9]+).*/\1/')
    d=$(echo "$line" | sed -E 's/.*\(([0-9]+) deliberate.*/\1/')
    u=$(echo "$line" | sed -E 's/.* ([0-9]+) unexplained.*/\1/')
    passed=$((passed + n + d))
    failed=$((failed + u))
    [ "$conf_rc" -eq 0 ] || [ "$u" -gt 0 ] || failed=$((failed + 1))
else
    tail -n 40 tests/conformance.log
    failed=$((failed + 1))
fi

# Fuzzing (tests/fuzz/run.sh, ${FUZZ_SECONDS:-30} s per target) and the ASan+UBSan build's unit
# and e2e suites (tests/sanitize.sh): each fuzz target and each sanitizer suite counts once.
# Both print a closing "<name>: P passed, F failed".
for check in fuzz/run.sh sanitize.sh deb/run.sh; do
    name=${check%%[/.]*}
    echo "== $name"
    tests/$check >"tests/$name.log" 2>&1
    grep -E '^[a-z_]+: [0-9]+ execs|^sanitize [a-z0-9]+:' "tests/$name.log"
    if line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "tests/$name.log" | tail -n 1); then
        p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        passed=$((passed + p))
        failed=$((failed + f))
        [ "$f" -eq 0 ] || tail -n 60 "tests/$name.log"
    else
        echo "$name produced no summary:"
        tail -n 40 "tests/$name.log"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
