#!/usr/bin/env bash
# The unit and end-to-end suites against an AddressSanitizer + UBSan build (configure
# --enable-sanitizers), in a separate build directory; any sanitizer report fails the run.
#   tests/sanitize.sh                  # work in ./build-asan (git-ignored by itself)
#   SANITIZE_WORK=/tmp/asan tests/sanitize.sh
# The build is VPATH (build-asan/build, ../configure). Autoconf refuses a VPATH build from a
# source tree that is itself configured in place (as tests/run.sh does), so in that case the
# sources (git's tracked and unignored files) are first copied to build-asan/src.
# httpd is not instrumented: the e2e suite starts it through a wrapper that preloads the
# compiler's ASan runtime, with leak detection off (httpd's pools live until exit by design);
# the unit suite keeps leak detection on. Reports go to build-asan/reports/<suite>.<pid>.
# Prints "sanitize <suite>: ..." lines and a closing "sanitize: P passed, F failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
work=${SANITIZE_WORK:-$top/build-asan}
jobs=${SANITIZE_JOBS:-2}
passed=0
failed=0
verdict() { # suite, ok(0/1), detail
    if [ "$2" = 0 ]; then
        passed=$((passed + 1))
        echo "sanitize $1: ok ($3)"
    else
        failed=$((failed + 1))
        echo "sanitize $1: FAILED ($3)"
    fi
}
finish() {
    echo "sanitize: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}

mkdir -p "$work"
printf '*\n' >"$work/.gitignore"
log=$work/build.log
: >"$log"

# --- sources: VPATH from the tree itself when it is not configured, else from a clean copy
if [ -f "$top/config.status" ]; then
    src=$work/src
    rm -rf "$src"
    mkdir -p "$src"
    if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$top" && git ls-files -co --exclude-standard -z) | (cd "$top" && while IFS= read -r -d '' f; do
            case $f in */node_modules/* | build-asan/* | tests/fuzz/out/*) continue ;; esac
            [ -f "$f" ] && printf '%s\0' "$f"
        done) | (cd "$top" && tar --null -T - -cf -) | tar -xf - -C "$src"
    else
        (cd "$top" && tar --exclude=./build-asan --exclude='*/node_modules' -cf - .) | tar -xf - -C "$src"
        make -C "$src" distclean >>"$log" 2>&1
    fi
    # npm trees installed beside the sources (tests/browser) are linked, not copied.
    for nm in "$top"/*/node_modules "$top"/*/*/node_modules; do
        [ -d "$nm" ] && [ -d "$src/$(dirname "${nm#"$top"/}")" ] && ln -s "$nm" "$src/${nm#"$top"/}"
    done
else
    src=$top
fi
build=$work/build
rm -rf "$build"
mkdir -p "$build"
step() { # a build step; output to build.log
    if ! "$@" >>"$log" 2>&1; then
        tail -n 30 "$log"
        verdict build 1 "$* failed, see $log"
        finish
    fi
}
[ -x "$src/configure" ] || step sh -c "cd '$src' && ./autogen.sh"
step sh -c "cd '$build' && '$src/configure' --enable-sanitizers --enable-werror"
step make -C "$build" -j"$jobs"
step make -C "$build" -j"$jobs" tests/unit/check_core tests/tools/clerk-mint tests/tools/clerk-cachetool
# The module httpd loads must really be instrumented, or the e2e run below would prove nothing.
nm -D "$build/.libs/mod_clerk_auth.so" 2>/dev/null | grep -q __asan_ ||
    { verdict build 1 "$build/.libs/mod_clerk_auth.so is not instrumented"; finish; }

# Reports: a directory httpd's children (www-data) can write to.
reports=$work/reports
rm -rf "$reports"
mkdir -p "$reports"
chmod 1777 "$reports"
san_common="halt_on_error=1:print_stacktrace=1"
export UBSAN_OPTIONS="$san_common:log_path=$reports/ubsan-unit"
reports_of() { ls "$reports" 2>/dev/null | grep -E "^$1" ; }
show_reports() {
    for f in "$reports"/*; do
        [ -f "$f" ] || continue
        echo "---- $f"
        head -n 30 "$f"
    done
}

# --- unit suite (leaks detected)
ASAN_OPTIONS="detect_leaks=1:$san_common:log_path=$reports/asan-unit" \
    "$build/tests/unit/check_core" >"$work/unit.log" 2>&1
rc=$?
summary=$(grep -E '^[0-9]+%: Checks:' "$work/unit.log" | tail -n 1)
found=$(reports_of '(asan|ubsan)-unit' | wc -l)
if [ "$rc" -eq 0 ] && [ "$found" -eq 0 ] && [ -n "$summary" ]; then
    verdict unit 0 "$summary; 0 reports"
else
    tail -n 20 "$work/unit.log"
    show_reports
    verdict unit 1 "exit $rc; ${summary:-no Check summary}; $found reports"
fi

# --- e2e suite: httpd through a wrapper that preloads the runtime the module was built with
cc=$(sed -n 's/^CC = //p' "$build/Makefile" | awk '{print $1}')
case $("${cc:-gcc}" --version 2>/dev/null | head -n 1) in
*clang*) runtime=$("${cc}" -print-file-name=libclang_rt.asan-x86_64.so) ;;
*) runtime=$("${cc:-gcc}" -print-file-name=libasan.so) ;;
esac
wrapper=$work/apache2-asan
cat >"$wrapper" <<WRAP
#!/bin/sh
# httpd with the ASan runtime preloaded for the instrumented mod_clerk_auth (tests/sanitize.sh).
LD_PRELOAD=$runtime
ASAN_OPTIONS=detect_leaks=0:$san_common:log_path=$reports/asan-httpd
UBSAN_OPTIONS=$san_common:log_path=$reports/ubsan-httpd
export LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
exec /usr/sbin/apache2 "\$@"
WRAP
chmod 755 "$wrapper"
(cd "$build" && CLERK_E2E_APACHE=$wrapper srcdir=$src "$src/tests/e2e/run-e2e.sh") >"$work/e2e.log" 2>&1
rc=$?
summary=$(grep -E '[0-9]+ (passed|failed)' "$work/e2e.log" | tail -n 1)
found=$(reports_of '(asan|ubsan)-httpd' | wc -l)
if [ "$rc" -eq 0 ] && [ "$found" -eq 0 ] && [ -n "$summary" ]; then
    verdict e2e 0 "$summary; 0 reports"
else
    tail -n 30 "$work/e2e.log"
    show_reports
    verdict e2e 1 "exit $rc; ${summary:-no pytest summary}; $found reports"
fi
finish
