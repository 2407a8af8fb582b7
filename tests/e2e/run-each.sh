#!/bin/sh
# Every end-to-end module on its own (a fresh pytest, work dir and httpd per module), so none
# depends on another having run first. Run from the build directory after `make`.
#   tests/e2e/run-each.sh [module.py...]     # default: every tests/e2e/test_*.py
# Prints "<module>: <pytest summary>" per module and "each module alone: P passed, F failed"
# (modules, not tests).
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$(pwd)
passed=0
failed=0
[ $# -gt 0 ] || set -- "$srcdir"/tests/e2e/test_*.py
for m in "$@"; do
    name=$(basename "$m" .py)
    work=${TMPDIR:-/tmp}/clerk-e2e-each-$$-$name
    out=$(CLERK_E2E_BUILDDIR="$builddir" CLERK_E2E_SRCDIR="$srcdir" CLERK_E2E_WORK="$work" \
        PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest -p no:cacheprovider -q \
        --rootdir="$srcdir/tests/e2e" "$m" 2>&1)
    rc=$?
    echo "$name: $(echo "$out" | tail -n 1)"
    if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "$out" | tail -n 30; fi
    rm -rf "$work"
done
echo "each module alone: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
