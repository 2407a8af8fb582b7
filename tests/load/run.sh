#!/bin/sh
# Load with faults under each MPM (event, worker, prefork): a private httpd per MPM on
# 127.0.0.1, a loopback JWKS server rotating keys, `apache2 -k graceful` every few seconds, and
# tests/tools/clerk-loadcheck checking the status and user of every response (see loadrun.py).
#
#   tests/load/run.sh [builddir]     # default: the current directory
#   LOAD_SECONDS=20 LOAD_USERS=200 LOAD_MPMS="event worker prefork" tests/load/run.sh
#
# Prints one line per MPM, "load <mpm>: PASS|FAIL", then "load: N passed, N failed"; exits
# non-zero when any MPM failed.
here=$(cd "$(dirname "$0")" && pwd)
builddir=$(cd "${1:-.}" && pwd)
seconds=${LOAD_SECONDS:-20}
users=${LOAD_USERS:-200}
# Keys and requests are minted once per run and shared by the MPMs.
shared="$builddir/tests/load/work-shared"
rm -rf "$shared"
passed=0
failed=0
for mpm in ${LOAD_MPMS:-event worker prefork}; do
    if /usr/bin/python3 "$here/loadrun.py" --builddir "$builddir" --mpm "$mpm" \
        --seconds "$seconds" --users "$users" --shared "$shared"; then
        echo "load $mpm: PASS"
        passed=$((passed + 1))
    else
        echo "load $mpm: FAIL"
        failed=$((failed + 1))
    fi
done
echo "load: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
