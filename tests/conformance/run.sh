#!/bin/sh
# Conformance with Clerk's SDK: installs @clerk/backend at the version pinned in
# package-lock.json (npm ci; from npm's cache when it has it), then runs conformance.mjs, which
# needs no network: keys, tokens and the Backend API (JWKS) are made on 127.0.0.1.
#
#   tests/conformance/run.sh [builddir]     # default: the current directory
#
# Prints "agreement N/M"; exits non-zero on any unexplained disagreement.
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
exec node "$here/conformance.mjs" --builddir "$builddir" "$@"
