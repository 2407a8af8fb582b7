#!/bin/sh
# End-to-end suite: a real httpd (event MPM) on 127.0.0.1 loading the freshly built module,
# driven by curl from pytest. Run by `make check` (cwd = build dir, $srcdir = source dir).
# Prints pytest's summary line; exits non-zero on any failure. Nothing is skipped.
srcdir=${srcdir:-$(dirname "$0")/../..}
srcdir=$(cd "$srcdir" && pwd)
builddir=$(pwd)
export CLERK_E2E_BUILDDIR="$builddir" CLERK_E2E_SRCDIR="$srcdir"
export PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfE \
    --rootdir="$srcdir/tests/e2e" "$srcdir/tests/e2e" "$@"
