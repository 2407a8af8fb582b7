#!/usr/bin/env bash
# Builds every libFuzzer target with Debian's clang, linking the core sources (src/*.c) directly
# (no httpd, no libtool), instrumented with ASan + UBSan:
#   tests/fuzz/build.sh                 # into tests/fuzz/out/
#   FUZZ_OUT=/tmp/f tests/fuzz/build.sh
# Needs clang and libclang-rt-14-dev (the libFuzzer runtime), plus the build dependencies.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${FUZZ_OUT:-$here/out}
CC=${FUZZ_CC:-clang}
mkdir -p "$out/obj"
printf '*\n' >"$out/.gitignore"

# shellcheck disable=SC2207
deps=($(apr-1-config --includes --cppflags) $(pkg-config --cflags jansson libcurl libcrypto))
# shellcheck disable=SC2207
libs=($(apr-1-config --link-ld) $(apu-1-config --link-ld) $(pkg-config --libs jansson libcurl openssl) -lm)
san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
cflags=(-std=gnu11 -g -O1 -Wall -Wextra -Wno-unused-parameter "${san[@]}"
    -I"$top/src" -I"$here" "${deps[@]}")

# The core, with coverage for the fuzzer but without its main(). -Werror is gcc's job there (a
# clang-only warning in a core unit should not stop the fuzzing); the targets use it.
objs=()
for src in "$top"/src/*.c; do
    obj=$out/obj/$(basename "${src%.c}").o
    "$CC" "${cflags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
    objs+=("$obj")
done
"$CC" "${cflags[@]}" -Werror -fsanitize=fuzzer-no-link -c "$here/fuzz_common.c" -o "$out/obj/fuzz_common.o"
objs+=("$out/obj/fuzz_common.o")

n=0
for t in "$here"/fuzz_*.c; do
    name=$(basename "${t%.c}")
    [ "$name" = fuzz_common ] && continue
    "$CC" "${cflags[@]}" -Werror -fsanitize=fuzzer "$t" "${objs[@]}" "${libs[@]}" -o "$out/$name"
    n=$((n + 1))
done
echo "fuzz: built $n targets in $out"
