#!/usr/bin/env bash
# The whole test suite, the one command the README gives and CI calls: installs the Debian
# packages it needs, builds from scratch, runs the unit suite, the same under valgrind, and the
# end-to-end suite against a real httpd, then prints each suite's count in its own unit (unit
# checks, e2e tests, conformance cases, fuzz targets, ...) and one last line "N passed, N failed".
#
#   tests/run.sh               # as root on Debian 12 (or with sudo available)
#   CLERK_NO_APT=1 tests/run.sh  # skip the package step (packages already there)
#   CLERK_FORCE_PINNED_NODE=1 tests/run.sh  # the suites on tests/node's pinned Node even where
#                                           # the system's is new enough (CI does this)
#   CLERK_E2E_SHUFFLE_SEED=N tests/run.sh   # e2e modules and tests in an order drawn from N
set -u
cd "$(dirname "$0")/.."
top=$(pwd)

PACKAGES="apache2 apache2-dev libapr1-dev libaprutil1-dev libssl-dev libjansson-dev
  libcurl4-openssl-dev check autoconf automake libtool pkg-config curl make gcc
  python3 python3-pytest valgrind clang-format openssl memcached redis-server
  chromium nodejs clang libclang-rt-14-dev tinyproxy debhelper lintian fakeroot build-essential
  python3-prometheus-client"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if [ "${CLERK_NO_APT:-0}" != 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq || { echo "apt-get update failed"; exit 1; }
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq $PACKAGES >/dev/null || { echo "apt-get install failed"; exit 1; }
fi

passed=0
failed=0
totals=() # one line per suite, in its own unit
tally() { # unit, passed, failed: a suite's result, counted once into the closing line
    totals+=("$1: $2 passed, $3 failed")
    passed=$((passed + $2))
    failed=$((failed + $3))
}
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

# Node.js and npm for the conformance and browser suites (tests/node/use-node.sh): Debian's npm
# when missing, and the Node pinned in tests/node/package-lock.json when the system's is older
# than the lockfiles need (stock Debian 12: nodejs 18) or CLERK_FORCE_PINNED_NODE=1.
. tests/node/use-node.sh
step node use_node "$top"
echo "node for the suites: $NODE_SOURCE"

# The real-browser handshake test: playwright-core pinned by tests/browser/package-lock.json
# drives Debian's chromium (no browser download).
step "npm ci (tests/browser)" npm ci --prefix tests/browser --no-audit --no-fund
# The e2e Frontend API proxy test runs the pinned @clerk/backend proxy.ts side by side.
step "npm ci (tests/conformance)" npm ci --prefix tests/conformance --no-audit --no-fund
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
    tally "unit checks" $((t - f - e)) $((f + e))
else
    echo "unit suite produced no Check summary"
    tally "unit checks (no summary)" 0 1
fi

# pytest's closing line: "N passed[, N failed][, N error(s)] in Ts".
if line=$(grep -E '[0-9]+ (passed|failed)' tests/e2e/run-e2e.sh.log 2>/dev/null | tail -n 1); then
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
    f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
    e=$(echo "$line" | grep -oE '[0-9]+ errors?' | grep -oE '[0-9]+' || echo 0)
    tally "e2e tests" "${p:-0}" $((${f:-0} + ${e:-0}))
else
    echo "e2e suite produced no pytest summary"
    tally "e2e tests (no summary)" 0 1
fi

# The unit suite once more under valgrind: any invalid access or definite leak fails the run.
echo "== valgrind (unit suite)"
if CK_FORK=no valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=99 ./tests/unit/check_core >tests/unit/valgrind.log 2>&1; then
    tally "valgrind runs of the unit suite" 1 0
else
    echo "valgrind reported errors:"
    tail -n 40 tests/unit/valgrind.log
    tally "valgrind runs of the unit suite" 0 1
fi

# Style: every tracked C file as .clang-format wants it (one check for the tree).
echo "== clang-format"
cfiles=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build-asan/*')
# shellcheck disable=SC2086
if unformatted=$(for f in $cfiles; do clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"; done) &&
    [ -z "$unformatted" ]; then
    tally "clang-format checks ($(echo "$cfiles" | wc -w) files)" 1 0
else
    echo "not formatted as .clang-format says: $unformatted"
    tally "clang-format checks" 0 1
fi

# Load with faults (tests/load/run.sh: per MPM a private httpd restarted gracefully under a
# checked request stream while its JWKS rotates; each MPM counts once) and conformance with
# Clerk's SDK (tests/conformance/run.sh: each agreeing or deliberately different case counts
# once, each unexplained disagreement fails once).
echo "== load"
tests/load/run.sh . >tests/load.log 2>&1
grep -E '^(load [a-z]+:|requests checked|  wrong verdicts)' tests/load.log
if line=$(grep -E '^load: [0-9]+ passed, [0-9]+ failed' tests/load.log | tail -n 1); then
    tally "load runs (one per MPM)" "$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')" \
        "$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')"
else
    tail -n 40 tests/load.log
    tally "load runs (no summary)" 0 1
fi
echo "== conformance"
# Node as chosen above (tests/node/use-node.sh). Three lines: authenticateRequest verdicts,
# has() against Require clerk-* ("authorization agreement") and machine tokens under
# ClerkAcceptsToken ("machine agreement"); each case counts once, as agreeing or as a listed
# deliberate difference; each unexplained disagreement fails once.
tests/conformance/run.sh . >tests/conformance.log 2>&1
conf_rc=$?
grep -E '^(agreement|authorization|machine (agreement|difference|messages)|side by side|messages|message difference|MESSAGE DIFFERS|DISAGREEMENT|AUTHZ DISAGREEMENT|MACHINE DISAGREEMENT)' tests/conformance.log | cut -c1-400
conf_seen=0
for kind in "" "authorization " "machine "; do
    if line=$(grep -E "^${kind}agreement [0-9]+/[0-9]+ \([0-9]+ deliberate differences, [0-9]+ unexplained" \
        tests/conformance.log | tail -n 1); then
        conf_seen=$((conf_seen + 1))
        n=$(echo "$line" | sed -E 's/^[a-z ]*agreement ([0-9]+).*/\1/')
        d=$(echo "$line" | sed -E 's/.*\(([0-9]+) deliberate.*/\1/')
        u=$(echo "$line" | sed -E 's/.* ([0-9]+) unexplained.*/\1/')
        tally "${kind}conformance cases agreeing with the SDK" "$n" "$u"
        tally "${kind}conformance deliberate differences (listed)" "$d" 0
    fi
done
if [ "$conf_seen" -ne 3 ]; then
    tail -n 40 tests/conformance.log
    tally "conformance (summary missing)" 0 1
elif [ "$conf_rc" -ne 0 ] && ! grep -qE 'DISAGREEMENT' tests/conformance.log; then
    tally "conformance (exit status $conf_rc)" 0 1
fi

# Fuzzing (tests/fuzz/run.sh, ${FUZZ_SECONDS:-30} s per target) and the ASan+UBSan build's unit
# and e2e suites (tests/sanitize.sh): each fuzz target and each sanitizer suite counts once.
# Both print a closing "<name>: P passed, F failed".
for check in fuzz/run.sh sanitize.sh deb/run.sh; do
    name=${check%%[/.]*}
    echo "== $name"
    tests/$check >"tests/$name.log" 2>&1
    grep -E '^[a-z_]+: [0-9]+ execs|^sanitize [a-z0-9]+:' "tests/$name.log"
    case $name in
    fuzz) unit="fuzz targets" ;;
    sanitize) unit="sanitizer suites" ;;
    *) unit="$name checks" ;;
    esac
    if line=$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed" "tests/$name.log" | tail -n 1); then
        p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        tally "$unit" "$p" "$f"
        [ "$f" -eq 0 ] || tail -n 60 "tests/$name.log"
    else
        echo "$name produced no summary:"
        tail -n 40 "tests/$name.log"
        tally "$unit (no summary)" 0 1
    fi
done

echo "== totals (each suite in its own unit; the last line adds them up)"
printf '%s\n' "${totals[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
