#!/bin/sh
# Conformance with Clerk's SDK: installs @clerk/backend at the version pinned in
# package-lock.json (npm ci; from npm's cache when it has it), then runs conformance.mjs, which
# needs no network: keys, tokens and the Backend API (JWKS) are made on 127.0.0.1.
#
#   tests/conformance/run.sh [builddir]     # default: the current directory
#
# Prints "agreement N/M" (and the authorization and machine-token agreements); exits non-zero on
# any unexplained disagreement.
here=$(cd "$(dirname "$0")" && pwd)
builddir=$(cd "${1:-.}" && pwd)
command -v node >/dev/null && command -v npm >/dev/null || { echo "conformance: node and npm are needed"; exit 1; }
cd "$here" || exit 1
stamp=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.installed-lock 2>/dev/null)" != "$stamp" ]; then
    npm ci --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null ||
        { echo "conformance: npm ci failed"; exit 1; }
    echo "$stamp" >node_modules/.installed-lock
fi
# The module that conformance's httpd loads is a second build with a test clock (configure
# --enable-test-clock: "now" from the X-Test-Now-Ms request header), so the skew boundary
# cases are decided at one pinned millisecond by the module and by the SDK. That option exists
# for this suite only: the module it makes lets any client set its clock, is never installed,
# and the in-tree (production, CI) build never has it. It is built from a copy of the tree
# (an in-tree configure rules out automake VPATH builds) kept in build-clock/, where make
# rebuilds only what changed since the last run.
top=$(cd "$here/../.." && pwd)
clock=$here/build-clock
command -v git >/dev/null && git -C "$top" rev-parse --git-dir >/dev/null 2>&1 ||
    { echo "conformance: the test-clock build copies the tree with git ls-files: run it in a git checkout"; exit 1; }
mkdir -p "$clock/tree"
# tar keeps each file's mtime: unchanged sources are not rebuilt.
(cd "$top" && git ls-files -z -c -o --exclude-standard | tar -cf - --ignore-failed-read --null -T - 2>/dev/null) | tar -xf - -C "$clock/tree" ||
    { echo "conformance: copying the tree to $clock/tree failed"; exit 1; }
if [ ! -f "$clock/tree/Makefile" ]; then
    (cd "$clock/tree" && ./autogen.sh && ./configure --enable-test-clock --enable-werror) >"$clock/configure.log" 2>&1 ||
        { tail -n 20 "$clock/configure.log"; echo "conformance: configuring the test-clock build failed"; exit 1; }
fi
make -C "$clock/tree" -j2 mod_clerk_auth.la >"$clock/make.log" 2>&1 ||
    { tail -n 20 "$clock/make.log"; echo "conformance: building the test-clock module failed"; exit 1; }
exec node "$here/conformance.mjs" --builddir "$builddir" --module "$clock/tree/.libs/mod_clerk_auth.so" "$@"
