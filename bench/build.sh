#!/bin/sh
# Builds the benchmark's helpers (bench/micro, bench/bulkmint) against the configured tree.
# Not part of Makefile.am on purpose: nothing here runs in `make check`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ ! -f Makefile ]; then
    [ -x configure ] || autoreconf -fi >/dev/null
    ./configure >/dev/null
fi
make -j2 >/dev/null
cc=${CC:-cc}
flags="-std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Isrc -Itests/tools"
flags="$flags $(pkg-config --cflags apr-1 openssl jansson libcurl 2>/dev/null || true)"
libs="$(pkg-config --libs apr-1 openssl jansson libcurl) -lm -lpthread"
out=bench/.build
mkdir -p "$out"
need() { [ ! -e "$1" ] || [ -n "$(find "$2" $3 -newer "$1" 2>/dev/null)" ]; }
if need "$out/micro" bench/micro.c ".libs/libclerkcore.a tests/tools/mint.c"; then
    $cc $flags -o "$out/micro" bench/micro.c tests/tools/mint.c .libs/libclerkcore.a $libs
fi
if need "$out/bulkmint" bench/bulkmint.c "tests/tools/mint.c"; then
    $cc $flags -o "$out/bulkmint" bench/bulkmint.c tests/tools/mint.c $(pkg-config --libs openssl)
fi
