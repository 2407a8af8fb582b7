#!/bin/bash
# Side-by-side load benchmark of mod_clerk_auth (issue 7): unprotected httpd, this module,
# mod_auth_openidc and a CGI, all on loopback, measured in the same run.
#
#   bench/run.sh            the table (BENCH_SECONDS per run, default 10; BENCH_REPS, default 3;
#                           the median of the repetitions is printed), the paired runs, then the core
#                           micro-benchmark
#   bench/run.sh memory     RSS of one httpd child across BENCH_MEM_REQUESTS requests (default
#                           1,000,000) with 1,000 rotating tokens (BENCH_MEM_ROW=fresh: every
#                           request a cache miss)
#   bench/run.sh pairs      only the paired runs (also run after the table): each of
#                           BENCH_PAIR_ROWS ("open anon one rot") alternating with the unprotected
#                           baseline, BENCH_PAIRS (7) pairs of BENCH_PAIR_SECONDS (3) s, median ratio
#   BENCH_SMOKE=1 bench/run.sh   1 s x 1 repetition, to see that every row works
#
# Placement: with BENCH_PIN=1 (the default on 2 or more CPUs) every httpd runs on CPU 0 and wrk on
# the others. On a 2-core machine wrk and httpd otherwise share both cores and where the
# scheduler puts them swings req/s by 15-40 % from run to run; pinned, the server's own cost per
# request decides req/s, which is what the ratios compare. BENCH_PIN=0 lets them mix.
# BENCH_CONF_EXTRA adds lines to every instance's configuration (e.g. "EnableMMAP Off").
#
# Profile: BENCH_PROFILE=lean (the default) gives every instance only the modules its rows need
# and no access log: the cheapest httpd request there is, so the module's cost shows largest.
# BENCH_PROFILE=debian gives every instance what a stock Debian apache2 runs: the modules
# Debian enables by default, each with Debian's own .load and .conf, the combined access log
# written per request, and apache2.conf's .ht* rule. The baseline then costs what an operator's
# unprotected httpd costs, and the ratios say what the module adds to that.
#
# Other knobs: BENCH_CONNS ("16 64"), BENCH_THREADS (wrk threads, 2), BENCH_FRESH_TOKENS
# (distinct tokens cycled for "fresh token every request", 40000), BENCH_WORK (bench/work),
# BENCH_MICRO=0 (skip the micro-benchmark), BENCH_ROWS (space-separated row ids to run),
# BENCH_MACHINE_TTL (60, the module's default: the API-key row's ClerkMachineTokenCacheTTL, the
# window its "Backend API calls per key per TTL" is counted in).
#
# The API-key row ("apikey") sends 1,000 distinct ak_ keys that a loopback Backend API
# (bench/fake_bapi.py) verifies and counts; each key is verified once before the measured runs,
# so the row measures a warm cache; after the run one line says how many verifications each key
# cost per TTL (1 when the cache shared by the instance's processes works).
#
# Every row is checked with curl before it is measured (good token 200, tampered token 401, no
# token 401), and a run with any non-2xx answer or socket error is flagged in the table, so a
# broken configuration cannot look fast. Server CPU per request is the utime+stime (and reaped
# children's, for the CGI) of the instance's processes from /proc/<pid>/stat before and after.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

MODE=${1:-table}
LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg) # before this script starts anything
SMOKE=${BENCH_SMOKE:-0}
DURATION=${BENCH_SECONDS:-10}
REPS=${BENCH_REPS:-3}
CONNS=${BENCH_CONNS:-"16 64"}
THREADS=${BENCH_THREADS:-2}
FRESH_N=${BENCH_FRESH_TOKENS:-40000}
PAIRS=${BENCH_PAIRS:-7}
PAIR_SECONDS=${BENCH_PAIR_SECONDS:-3}
PAIR_ROWS=${BENCH_PAIR_ROWS:-"open anon one rot"}
WORK=${BENCH_WORK:-$top/bench/work}
PROFILE=${BENCH_PROFILE:-lean}
case $PROFILE in lean | debian) ;; *) echo "bench: BENCH_PROFILE is lean or debian" >&2 && exit 1 ;; esac
if [ "$SMOKE" = 1 ]; then
    DURATION=1
    REPS=1
    FRESH_N=${BENCH_FRESH_TOKENS:-12000}
fi
PIN_SERVER="" PIN_CLIENT="" PLACEMENT="httpd and wrk share all CPUs"
if [ "${BENCH_PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    PIN_SERVER="taskset -c 0"
    PIN_CLIENT="taskset -c 1-$(($(nproc) - 1))"
    PLACEMENT="httpd pinned to CPU 0, wrk to CPU 1-$(($(nproc) - 1))"
fi
APACHE=/usr/sbin/apache2
MODDIR=/usr/lib/apache2/modules
OIDC_SO=$MODDIR/mod_auth_openidc.so
TCK=$(getconf CLK_TCK)
KID=ins_bench
FAPI=clerk.bench.test
PK="pk_live_$(printf '%s$' "$FAPI" | base64 | tr -d '\n=')"

say() { printf '%s\n' "$*" >&2; }
die() {
    say "bench: $*"
    exit 1
}

# --- prerequisites -----------------------------------------------------------------------
if ! command -v wrk >/dev/null || [ ! -e "$OIDC_SO" ]; then
    say "installing wrk and libapache2-mod-auth-openidc"
    sudo_=""
    [ "$(id -u)" = 0 ] || sudo_=sudo
    $sudo_ apt-get install -y --no-install-recommends wrk libapache2-mod-auth-openidc >&2 ||
        die "cannot install wrk / libapache2-mod-auth-openidc"
fi
bench/build.sh
make -s tests/tools/clerk-mint >/dev/null
MODULE=$top/.libs/mod_clerk_auth.so
MINT=$top/tests/tools/clerk-mint
[ -x "$MINT" ] && [ -e "$MODULE" ] || die "build did not produce clerk-mint / the module"

mkdir -p "$WORK"/{keys,tokens,htdocs,run,logs}
rm -f "$WORK"/logs/*.log # this run's logs only (mod_auth_openidc's grow by gigabytes)

# --- keys and tokens (kept between runs while they have more than a day to live) ---------
K=$WORK/keys
if [ ! -s "$K/priv.pem" ]; then
    "$MINT" keygen --type rsa2048 --out "$K/priv.pem"
    rm -f "$K"/pub.pem "$K"/jwks.json "$K"/cert.pem "$WORK"/tokens/*
fi
[ -s "$K/pub.pem" ] || "$MINT" pubpem --key "$K/priv.pem" >"$K/pub.pem"
[ -s "$K/jwks.json" ] || "$MINT" jwks --key "$K/priv.pem" --kid "$KID" >"$K/jwks.json"
# mod_auth_openidc reads verification keys from certificates: the same RSA key, self-signed.
[ -s "$K/cert.pem" ] || openssl req -x509 -new -key "$K/priv.pem" -subj "/CN=$FAPI" -days 30 \
    -out "$K/cert.pem" 2>/dev/null

T=$WORK/tokens
now=$(date +%s)
stamp=0
[ -s "$T/stamp" ] && stamp=$(cat "$T/stamp")
need_tokens() { # file count
    [ -s "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && [ $((now - stamp)) -lt 86400 ] && return 1
    return 0
}
if [ $((now - stamp)) -ge 86400 ]; then
    rm -f "$T"/*.txt
    stamp=$now
    echo "$stamp" >"$T/stamp"
fi
IAT=$((stamp - 60))
EXP=$((stamp + 2 * 86400))
if need_tokens "$T/one.txt" 1; then
    "$MINT" sign --key "$K/priv.pem" --alg RS256 \
        --header "{\"alg\":\"RS256\",\"kid\":\"$KID\",\"typ\":\"JWT\"}" \
        --payload "{\"azp\":\"https://app.bench.test\",\"exp\":$EXP,\"fva\":[3,-1],\"iat\":$IAT,\"iss\":\"https://$FAPI\",\"nbf\":$((IAT - 10)),\"sid\":\"sess_bench_one\",\"sts\":\"active\",\"sub\":\"user_bench_one\",\"v\":2}" \
        >"$T/one.txt"
fi
if need_tokens "$T/rot.txt" 1000; then
    bench/.build/bulkmint "$K/priv.pem" "$KID" 1000 0 "$IAT" "$EXP" >"$T/rot.txt"
fi
# API keys (row apikey): opaque ak_ tokens that only the loopback Backend API (bench/fake_bapi.py)
# knows; the module verifies each there once and keeps the answer in its cache.
if need_tokens "$T/apikeys.txt" 1000; then
    python3 -c 'import secrets
for _ in range(1000): print("ak_" + secrets.token_hex(20))' >"$T/apikeys.txt"
fi
if need_tokens "$T/fresh.txt" "$FRESH_N"; then
    say "minting $FRESH_N distinct tokens (once; kept in $T)"
    half=$((FRESH_N / 2))
    bench/.build/bulkmint "$K/priv.pem" "$KID" "$half" 1000000 "$IAT" "$EXP" >"$T/fresh.a" &
    bench/.build/bulkmint "$K/priv.pem" "$KID" $((FRESH_N - half)) $((1000000 + half)) \
        "$IAT" "$EXP" >"$T/fresh.b"
    wait
    cat "$T/fresh.a" "$T/fresh.b" >"$T/fresh.txt"
    rm -f "$T/fresh.a" "$T/fresh.b"
fi
UAT=$IAT
BASIC=$(printf %s "bench:x" | base64) # mod_authn_anon takes any user name

# --- document roots ------------------------------------------------------------------------
H=$WORK/htdocs
for d in open anon pem jwks-url oidc apikey; do
    mkdir -p "$H/$d"
    head -c 99 /dev/zero | tr '\0' 'x' >"$H/$d/f.txt"
    echo >>"$H/$d/f.txt" # 100 bytes
done
mkdir -p "$H/cgi"
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\n"\nhead -c 100 %s/open/f.txt\n' "$H" \
    >"$H/cgi/t.cgi"
chmod 755 "$H/cgi/t.cgi"
cp "$K/jwks.json" "$H/jwks.json"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- httpd instances -------------------------------------------------------------------------
# The MPM: event, a fixed number of processes and threads so no process is started or stopped
# while measuring, keep-alive without a request limit (wrk keeps its connections).
mpm_table='StartServers 2
ServerLimit 2
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 128
MinSpareThreads 1
MaxSpareThreads 128'
mpm_memory='StartServers 1
ServerLimit 1
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64'
MPM=$mpm_table
[ "$MODE" = memory ] && MPM=$mpm_memory

# What a fresh Debian 12 apache2 package enables (/etc/apache2/mods-enabled after install).
DEBIAN_MODS="access_compat alias auth_basic authn_core authn_file authz_core authz_host authz_user
autoindex deflate dir env filter mime negotiation reqtimeout setenvif status"

conf_head() { # name port extra-modules...
    local name=$1 port=$2
    shift 2
    local m loaded=" "
    for m in mpm_event authn_core authz_core authz_user mime alias dir cgid socache_shmcb "$@"; do
        echo "LoadModule ${m}_module $MODDIR/mod_${m}.so"
        loaded="$loaded$m "
    done
    if [ "$PROFILE" = debian ]; then
        for m in $DEBIAN_MODS; do
            case $loaded in *" $m "*) ;; *) echo "Include /etc/apache2/mods-available/$m.load" ;; esac
            [ ! -e "/etc/apache2/mods-available/$m.conf" ] ||
                echo "Include /etc/apache2/mods-available/$m.conf"
        done
        cat <<EOF
HostnameLookups Off
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" combined
CustomLog "$WORK/logs/$name.access.log" combined
<FilesMatch "^\.ht">
    Require all denied
</FilesMatch>
EOF
    fi
    cat <<EOF
ServerRoot "$WORK"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$WORK/run/$name.pid"
DefaultRuntimeDir "$WORK/run"
Mutex file:$WORK/run default
ScriptSock "$WORK/run/$name.cgid.sock"
ErrorLog "$WORK/logs/$name.error.log"
LogLevel warn
TypesConfig /etc/mime.types
Timeout 30
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
MaxConnectionsPerChild 0
${BENCH_CONF_EXTRA:-}
$MPM
DocumentRoot "$H"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "$H">
    Options +ExecCGI
    AddHandler cgi-script .cgi
    AllowOverride None
    Require all granted
</Directory>
EOF
    [ "$(id -u)" = 0 ] && printf 'User www-data\nGroup www-data\n'
    return 0
}

PORT_BASE=$(free_port)
PORT_CLERK=$(free_port)
PORT_OIDC=$(free_port)

# The Backend API the API-key row verifies its keys at (bench/fake_bapi.py, on loopback): it
# counts every verification per key, printed after the run as Backend API calls per key per TTL
# (one per key per ClerkMachineTokenCacheTTL is the goal: the shared cache answers the rest).
SK_BENCH=sk_live_benchbenchbenchbenchbenchbenchbenchbench
MACHINE_TTL=${BENCH_MACHINE_TTL:-60}
rm -f "$WORK/run/bapi.port"
$PIN_CLIENT python3 bench/fake_bapi.py "$WORK/run/bapi.port" "$T/apikeys.txt" "$K/jwks.json" "$SK_BENCH" \
    >"$WORK/logs/fake_bapi.log" 2>&1 &
BAPI_PID=$!
for _ in $(seq 1 100); do
    [ -s "$WORK/run/bapi.port" ] && break
    sleep 0.1
done
[ -s "$WORK/run/bapi.port" ] || die "bench/fake_bapi.py did not start: $(tail -5 "$WORK/logs/fake_bapi.log")"
PORT_BAPI=$(cat "$WORK/run/bapi.port")
bapi_stats() { # one line: Backend API verifications per key per TTL
    curl -s "http://127.0.0.1:$PORT_BAPI/stats?ttl=$MACHINE_TTL" | python3 -c 'import json, sys
s = json.load(sys.stdin)
print("Backend API (API-key row): %d verifications of %d distinct keys in %.0f s: %.2f calls per key per TTL (%d s), "
      "at most %d for one key within one TTL; %d calls for keys it does not know (the tampered-key check)"
      % (s["calls"], s["keys"], s["seconds"], s["per_key_per_ttl"], s["ttl"], s["max_in_one_ttl"], s["unknown_key_calls"]))'
}

write_confs() {
    conf_head base "$PORT_BASE" >"$WORK/base.conf"
    {
        conf_head clerk "$PORT_CLERK" auth_basic authn_anon
        cat <<EOF
LoadModule clerk_auth_module $MODULE
LogLevel ${BENCH_LOGLEVEL:-warn}
ClerkAPIURL http://127.0.0.1:$PORT_BAPI
# The API-key row's 1,000 machine-token records (about 1.5 KB each in shmcb) do not fit the
# default 512 KB shmcb, which holds about 300: sized as README's Machine tokens section says.
ClerkCache "shmcb:$WORK/run/clerk-cache(8388608)"
<Location /pem/>
    AuthType Clerk
    ClerkPublishableKey $PK
    ClerkJWTKey "file:$K/pub.pem"
    Require valid-user
</Location>
<Location /apikey/>
    AuthType Clerk
    ClerkPublishableKey $PK
    ClerkJWTKey "file:$K/pub.pem"
    ClerkSecretKey $SK_BENCH
    ClerkAcceptsToken api_key
    ClerkMachineTokenCacheTTL $MACHINE_TTL
    Require valid-user
</Location>
<Location /anon/>
    AuthType Basic
    AuthName bench
    AuthBasicProvider anon
    Anonymous *
    Anonymous_MustGiveEmail Off
    Require valid-user
</Location>
<Location /jwks-url/>
    AuthType Clerk
    ClerkPublishableKey $PK
    ClerkJWKSURL http://127.0.0.1:$PORT_BASE/jwks.json
    Require valid-user
</Location>
EOF
    } >"$WORK/clerk.conf"
    {
        conf_head oidc "$PORT_OIDC"
        cat <<EOF
LoadModule auth_openidc_module $OIDC_SO
OIDCCryptoPassphrase bench-only-passphrase
OIDCOAuthVerifyCertFiles $KID#$K/cert.pem
OIDCOAuthRemoteUserClaim sub
<Location /oidc/>
    AuthType oauth20
    Require valid-user
</Location>
EOF
    } >"$WORK/oidc.conf"
}

STARTED=""
start_httpd() { # name
    local name=$1 port
    port=$(port_of "$name")
    $PIN_SERVER "$APACHE" -f "$WORK/$name.conf" -k start || die "httpd $name did not start: $(tail -5 "$WORK/logs/$name.error.log" 2>/dev/null)"
    STARTED="$STARTED $name"
    local i
    for i in $(seq 1 100); do
        if [ -s "$WORK/run/$name.pid" ] && curl -s -o /dev/null "http://127.0.0.1:$port/"; then
            # every configured child up: the CPU accounting reads a stable set
            local want=2
            [ "$MODE" = memory ] && want=1
            [ "$(pgrep -P "$(cat "$WORK/run/$name.pid")" apache2 | wc -l)" -ge "$want" ] && return 0
        fi
        sleep 0.1
    done
    die "httpd $name did not come up: $(tail -5 "$WORK/logs/$name.error.log" 2>/dev/null)"
}
stop_all() {
    local name pid
    [ -z "${BAPI_PID:-}" ] || kill "$BAPI_PID" 2>/dev/null || true
    BAPI_PID=""
    for name in $STARTED; do
        pid=$(cat "$WORK/run/$name.pid" 2>/dev/null || true)
        "$APACHE" -f "$WORK/$name.conf" -k stop 2>/dev/null || true
        for _ in $(seq 1 100); do
            [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
    STARTED=""
}
trap stop_all EXIT
port_of() {
    case $1 in
    base) echo "$PORT_BASE" ;;
    clerk) echo "$PORT_CLERK" ;;
    oidc) echo "$PORT_OIDC" ;;
    esac
}

# All processes of an instance (the parent, its children: workers and the cgid daemon).
pids_of() {
    local parent
    parent=$(cat "$WORK/run/$1.pid")
    echo "$parent" $(pgrep -P "$parent" || true)
}
# Sum of utime+stime+cutime+cstime in clock ticks over the instance's processes.
cpu_ticks() {
    local p sum=0 v
    for p in $(pids_of "$1"); do
        v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
        sum=$((sum + v))
    done
    echo "$sum"
}

# --- rows ------------------------------------------------------------------------------------
# id|label|instance|path|mode|token file
ROWS_ALL="base|unprotected static 100 B|base|/open/f.txt|none|rot
open|unprotected, module loaded, same instance|clerk|/open/f.txt|none|rot
anon|httpd Basic auth, mod_authn_anon (floor)|clerk|/anon/f.txt|basic|rot
one|ours: PEM key, one token|clerk|/pem/f.txt|bearer|one
rot|ours: PEM key, 1,000 distinct tokens|clerk|/pem/f.txt|bearer|rot
apikey|ours: API key, 1,000 distinct keys|clerk|/apikey/f.txt|bearer|apikeys
fresh|ours: PEM key, fresh token every request|clerk|/pem/f.txt|bearer|fresh
jwks|ours: JWKS over HTTP, 1,000 tokens|clerk|/jwks-url/f.txt|bearer|rot
cookie|ours: cookie flow, 1,000 tokens|clerk|/pem/f.txt|cookie|rot
oidc-one|mod_auth_openidc: one token|oidc|/oidc/f.txt|bearer|one
oidc-rot|mod_auth_openidc: 1,000 tokens|oidc|/oidc/f.txt|bearer|rot
oidc-fresh|mod_auth_openidc: fresh token every request|oidc|/oidc/f.txt|bearer|fresh
cgi|CGI (unprotected, for scale)|base|/cgi/t.cgi|none|rot"
ROWS=$ROWS_ALL
if [ -n "${BENCH_ROWS:-}" ]; then
    ROWS=$(echo "$ROWS_ALL" | awk -F'|' -v want=" base ${BENCH_ROWS} " 'index(want, " " $1 " ")')
fi

field() { echo "$1" | cut -d'|' -f"$2"; }

# A token with one signature character changed: well-formed, wrongly signed.
tamper() {
    local t=$1 last=${1: -2:1}
    local repl=A
    [ "$last" = A ] && repl=B
    echo "${t:0:${#t}-2}$repl${t: -1}"
}

http_code() { # url mode token
    case $2 in
    bearer) curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $3" "$1" ;;
    cookie) curl -s -o /dev/null -w '%{http_code}' -H "Cookie: __session=$3; __client_uat=$UAT" "$1" ;;
    basic) curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $BASIC" "$1" ;;
    *) curl -s -o /dev/null -w '%{http_code}' "$1" ;;
    esac
}

check_row() { # row
    local id inst path mode file url good bad c1 c2 c3 c4
    id=$(field "$1" 1)
    inst=$(field "$1" 3)
    path=$(field "$1" 4)
    mode=$(field "$1" 5)
    file=$T/$(field "$1" 6).txt
    url="http://127.0.0.1:$(port_of "$inst")$path"
    good=$(head -1 "$file")
    if [ "$mode" = none ]; then
        c1=$(http_code "$url" none "")
        [ "$c1" = 200 ] || die "row $id: $url answered $c1, not 200"
        return 0
    fi
    if [ "$mode" = basic ]; then # any user name passes: no wrong credential to try
        c1=$(http_code "$url" basic "")
        c4=$(http_code "$url" none "")
        [ "$c1" = 200 ] && [ "$c4" = 401 ] || die "row $id: credentials $c1, none $c4; wanted 200 401"
        return 0
    fi
    bad=$(tamper "$good")
    # Every process must answer 200 (a remote key source is fetched by one process; the others
    # may need a moment to read it): up to 5 s of consecutive good answers, then the real check.
    local i ok=0
    for i in $(seq 1 50); do
        if [ "$(http_code "$url" "$mode" "$good")" = 200 ]; then
            ok=$((ok + 1))
            [ "$ok" -ge 8 ] && break
        else
            ok=0
            sleep 0.1
        fi
    done
    [ "$i" -le 8 ] || say "row $id: good token answered non-200 for $(((i - 8) * 100)) ms after start"
    c1=$(http_code "$url" "$mode" "$good")
    c2=$(http_code "$url" "$mode" "$(tail -1 "$file")")
    c3=$(http_code "$url" "$mode" "$bad")
    c4=$(http_code "$url" none "")
    [ "$c1" = 200 ] && [ "$c2" = 200 ] && [ "$c3" = 401 ] && [ "$c4" = 401 ] ||
        die "row $id: good token $c1 (last of the file $c2), tampered $c3, none $c4; wanted 200 200 401 401 ($url, see $WORK/logs/$inst.error.log)"
}

# The API-key row measures what issue 22 compares with the session-token rows: a warm cache. Each
# of the 1,000 keys is requested once before each measured run of the row (one curl, 8 transfers
# at a time: the default per-process bound on Backend API verifications), so the measured
# requests are cache hits even when the runs outlast ClerkMachineTokenCacheTTL; a key still cached
# costs no call, and the Backend API line after the run still counts every verification (one per
# key per TTL is the goal).
prime_apikeys() { # rows...
    case " $* " in *" apikey "*) ;; *) return 0 ;; esac
    local bad
    awk -v u="http://127.0.0.1:$PORT_CLERK/apikey/f.txt" '{
        if (NR > 1) print "next"
        printf "url = \"%s\"\nheader = \"Authorization: Bearer %s\"\noutput = \"/dev/null\"\n", u, $1
        printf "max-time = 10\nwrite-out = \"%%{http_code}\\n\"\n" }' "$T/apikeys.txt" >"$WORK/run/prime.curl"
    bad=$($PIN_CLIENT curl -s --no-progress-meter --parallel --parallel-max 8 -K "$WORK/run/prime.curl" |
        sort | uniq -c | awk '$2 != 200 { printf "%s%d answered %s", (n++ ? ", " : ""), $1, $2 }')
    [ -z "$bad" ] || die "priming the API-key row: of $(wc -l <"$T/apikeys.txt") keys $bad (see $WORK/logs/clerk.error.log)"
}

to_ms() { # wrk latency like 1.23ms / 850.00us / 1.01s
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
        else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

# One wrk run; prints "rps p99_ms cpu_us_per_req errors".
measure() { # row conns seconds
    local inst path mode file url out before after reqs rps p99 errs
    inst=$(field "$1" 3)
    path=$(field "$1" 4)
    mode=$(field "$1" 5)
    file=$T/$(field "$1" 6).txt
    url="http://127.0.0.1:$(port_of "$inst")$path"
    before=$(cpu_ticks "$inst")
    out=$($PIN_CLIENT wrk -t"$THREADS" -c"$2" -d"$3"s --latency -s bench/rotate.lua "$url" -- "$mode" "$file" "$UAT" 2>&1)
    after=$(cpu_ticks "$inst")
    # the access log is opened for appending: emptied in place, the disk does not fill over a run
    [ "$PROFILE" != debian ] || : >"$WORK/logs/$inst.access.log"
    reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
    p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
    bad=$(echo "$out" | awk '/Non-2xx or 3xx responses:/ { n += $NF } END { print n + 0 }')
    # wrk's "Socket errors: connect N, read N, write N, timeout N", kept apart from wrong answers
    sock=$(echo "$out" | awk '/Socket errors:/ {
        for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i } END { print n + 0 }')
    [ "$sock" = 0 ] || say "  $url: $(echo "$out" | grep 'Socket errors:')"
    [ -n "$reqs" ] && [ "$reqs" -gt 0 ] || {
        say "$out"
        die "wrk made no request to $url"
    }
    awk -v r="$rps" -v p="$p99" -v d=$((after - before)) -v n="$reqs" -v t="$TCK" -v e="$bad" \
        -v k="$sock" 'BEGIN { printf "%s %s %.1f %d %d\n", r, p, d * 1e6 / t / n, e, k }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- paired runs ---------------------------------------------------------------------------------
# The table's rows of one repetition are minutes apart, and on a shared host the machine's speed
# drifts by more than the differences we look for. Here each row alternates with the unprotected
# baseline in short back-to-back runs (which one goes first alternates too), each pair gives one
# ratio, and the median of the pairs is printed with their spread.
pairs() {
    local n=$1 secs=$2 ids=$3 c id r b m1 m2 i bad
    echo
    echo "paired runs ($PROFILE profile): each row against the unprotected baseline, $n pairs of ${secs} s back to back"
    printf '| %-44s | %5s | %9s | %10s | %8s | %17s | %9s |\n' "row" "conns" "row req/s" "base req/s" "ratio" "pairs min-max" "CPU ratio"
    printf '|%s|%s|%s|%s|%s|%s|%s|\n' "----------------------------------------------" "------:" "----------:" "-----------:" "---------:" "------------------:" "----------:"
    b=$(echo "$ROWS_ALL" | grep "^base|")
    for c in $CONNS; do
        for id in $ids; do
            r=$(echo "$ROWS_ALL" | grep "^$id|") || die "no row $id"
            : >"$WORK/pairs.txt"
            for i in $(seq 1 "$n"); do
                if [ $((i % 2)) = 1 ]; then
                    m1=$(measure "$b" "$c" "$secs")
                    m2=$(measure "$r" "$c" "$secs")
                else
                    m2=$(measure "$r" "$c" "$secs")
                    m1=$(measure "$b" "$c" "$secs")
                fi
                bad=$(echo "$m2" | cut -d' ' -f4)
                [ "$bad" = 0 ] || die "row $id: $bad non-2xx answers in a paired run"
                echo "$m2 $m1" | awk '{ printf "%s %s %.4f %.4f\n", $1, $6, $1 / $6, $3 / $8 }' >>"$WORK/pairs.txt"
                say "  pair $i: $id c=$c: $(tail -1 "$WORK/pairs.txt")"
            done
            printf '| %-44s | %5s | %9.0f | %10.0f | %7.2fx | %7.2fx - %5.2fx | %8.2fx |\n' "$(field "$r" 2)" "$c" \
                "$(cut -d' ' -f1 "$WORK/pairs.txt" | median)" "$(cut -d' ' -f2 "$WORK/pairs.txt" | median)" \
                "$(cut -d' ' -f3 "$WORK/pairs.txt" | median)" "$(cut -d' ' -f3 "$WORK/pairs.txt" | sort -g | head -1)" \
                "$(cut -d' ' -f3 "$WORK/pairs.txt" | sort -g | tail -1)" "$(cut -d' ' -f4 "$WORK/pairs.txt" | median)"
        done
    done
    echo "ratio: the median of the pairs' ratios (row req/s over the baseline's in the run beside it)."
    echo "CPU ratio: the median of the pairs' server CPU per request, row over baseline (1.05x: 5 % more)."
}

write_confs
start_httpd base
start_httpd clerk
start_httpd oidc

if [ "$MODE" = memory ]; then
    N=${BENCH_MEM_REQUESTS:-1000000}
    MEMROW=${BENCH_MEM_ROW:-rot} # rot: 1,000 rotating tokens (cache hits); fresh: every request a miss
    row=$(echo "$ROWS_ALL" | grep "^$MEMROW|")
    check_row "$row"
    # The worker process: the child with the most threads (the cgid daemon has one).
    child="" most=0
    for p in $(pgrep -P "$(cat "$WORK/run/clerk.pid")" apache2); do
        n=$(awk '/^Threads:/ { print $2 }' "/proc/$p/status")
        if [ "$n" -gt "$most" ]; then
            most=$n
            child=$p
        fi
    done
    rss() { awk '/^VmRSS/ { print $2 }' "/proc/$child/status"; }
    measure "$row" 16 2 >/dev/null # warm: every token cached, pools at their working size
    r0=$(rss)
    echo "memory: one child (pid $child), 64 threads, 16 connections, tokens: $(wc -l <"$T/$(field "$row" 6).txt") ($MEMROW)"
    printf 'requests     RSS KiB   delta KiB\n%9d %10d %10d\n' 0 "$r0" 0
    total=0
    while [ "$total" -lt "$N" ]; do
        out=$($PIN_CLIENT wrk -t"$THREADS" -c16 -d"$DURATION"s -s bench/rotate.lua \
            "http://127.0.0.1:$PORT_CLERK/pem/f.txt" -- bearer "$T/$(field "$row" 6).txt" "$UAT" 2>&1)
        n=$(echo "$out" | awk '/requests in/ { print $1 }')
        bad=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
        [ -z "$bad" ] || die "memory run: $bad non-2xx answers"
        total=$((total + n))
        r=$(rss)
        printf '%9d %10d %10d\n' "$total" "$r" $((r - r0))
    done
    [ "$(pgrep -P "$(cat "$WORK/run/clerk.pid")" apache2 | grep -c "^$child$")" = 1 ] ||
        die "the measured child was replaced during the run"
    exit 0
fi

if [ "$MODE" = pairs ]; then
    for id in base $PAIR_ROWS; do
        check_row "$(echo "$ROWS_ALL" | grep "^$id|")"
    done
    prime_apikeys $PAIR_ROWS
    for id in $PAIR_ROWS; do # warm
        measure "$(echo "$ROWS_ALL" | grep "^$id|")" 16 2 >/dev/null
    done
    pairs "$PAIRS" "$PAIR_SECONDS" "$PAIR_ROWS"
    bapi_stats
    stop_all
    exit 0
fi

for row in $(echo "$ROWS" | tr ' ' '~'); do
    check_row "$(echo "$row" | tr '~' ' ')"
done
say "every row checked with curl: good 200, tampered 401, none 401 (unprotected rows: 200; Basic: 200, none 401)"
prime_apikeys $(echo "$ROWS" | cut -d'|' -f1)
say "API-key row primed: each of its $(wc -l <"$T/apikeys.txt") keys requested once before each measured run"

RES=$WORK/results.txt
: >"$RES"
# Warm once per row (caches, pools, keep-alive), then repetitions interleaved across rows so a
# slow moment of the machine does not fall on one row only.
if [ "$SMOKE" != 1 ]; then
    for row in $(echo "$ROWS" | tr ' ' '~'); do
        prime_apikeys "$(field "$(echo "$row" | tr '~' ' ')" 1)"
        measure "$(echo "$row" | tr '~' ' ')" 16 2 >/dev/null
    done
fi
for rep in $(seq 1 "$REPS"); do
    for c in $CONNS; do
        for row in $(echo "$ROWS" | tr ' ' '~'); do
            r=$(echo "$row" | tr '~' ' ')
            prime_apikeys "$(field "$r" 1)"
            m=$(measure "$r" "$c" "$DURATION")
            echo "$(field "$r" 1) $c $m" >>"$RES"
            say "  rep $rep: $(field "$r" 1) c=$c: $m"
        done
    done
done

# --- the table ---------------------------------------------------------------------------------
echo
echo "mod_clerk_auth benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load at start: $LOAD_AT_START"
echo "httpd $($APACHE -v | awk -F'[ /]' '/version/ { print $4 }') event MPM (2 processes x 64 threads, keep-alive unlimited), wrk -t$THREADS, ${DURATION} s per run, median of $REPS, git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "$PLACEMENT${BENCH_CONF_EXTRA:+; extra configuration: $BENCH_CONF_EXTRA}"
if [ "$PROFILE" = debian ]; then
    echo "profile debian: Debian's default modules and their .conf files, combined access log per request"
else
    echo "profile lean: only the modules the rows need, no access log"
fi
echo
printf '| %-44s | %5s | %9s | %8s | %12s | %8s | %10s |\n' "row" "conns" "req/s" "p99 ms" "CPU us/req" "ratio" "same inst."
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "----------------------------------------------" "------:" "----------:" "---------:" "-------------:" "---------:" "-----------:"
for c in $CONNS; do
    base=$(awk -v c="$c" '$1 == "base" && $2 == c { print $3 }' "$RES" | median)
    open=$(awk -v c="$c" '$1 == "open" && $2 == c { print $3 }' "$RES" | median)
    for row in $(echo "$ROWS" | tr ' ' '~'); do
        r=$(echo "$row" | tr '~' ' ')
        id=$(field "$r" 1)
        sel() { awk -v id="$id" -v c="$c" -v k="$1" '$1 == id && $2 == c { print $k }' "$RES"; }
        rps=$(sel 3 | median)
        p99=$(sel 4 | median)
        cpu=$(sel 5 | median)
        errs=$(sel 6 | awk '{ n += $1 } END { print n + 0 }')
        sockerrs=$(sel 7 | awk '{ n += $1 } END { print n + 0 }')
        ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')
        same=-
        [ "$(field "$r" 3)" = clerk ] && [ "$open" != - ] &&
            same=$(awk -v a="$rps" -v b="$open" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')
        label=$(field "$r" 2)
        [ "$errs" = 0 ] || label="$label (!! $errs non-2xx)"
        [ "$sockerrs" = 0 ] || label="$label ($sockerrs socket errors)"
        printf '| %-44s | %5s | %9.0f | %8.2f | %12.1f | %8s | %10s |\n' "$label" "$c" "$rps" "$p99" "$cpu" "$ratio" "$same"
    done
done
echo
echo "ratio: req/s over the unprotected row at the same connection count, same run."
echo "\"module loaded, same instance\": the module's instance serving an unprotected path (the"
echo "module loaded but not applied): the noise floor of the ratios. \"same inst.\": req/s over"
echo "that row, for rows served by the module's instance (no instance-to-instance difference)."
echo "mod_authn_anon: httpd's own Basic auth accepting any user, the least an AuthType costs."
echo "fresh token: $(wc -l <"$T/fresh.txt") distinct tokens cycled, far more than the module's"
echo "per-process cache of 4,096 verified tokens, so every request misses it."
echo "API key: 1,000 distinct ak_ keys, each verified at a loopback Backend API (bench/fake_bapi.py)"
echo "and then answered from the module's machine-token cache: every key is requested once before"
echo "each measured run, so the row measures cache hits (a warm cache)."

if [ "$MODE" = table ] && [ "$PAIRS" != 0 ] && [ "$SMOKE" != 1 ]; then
    pairs "$PAIRS" "$PAIR_SECONDS" "$PAIR_ROWS"
fi

echo
bapi_stats
stop_all

if [ "${BENCH_MICRO:-1}" = 1 ]; then
    secs=3
    [ "$SMOKE" = 1 ] && secs=1
    verify_s=$(openssl speed -seconds "$secs" rsa2048 2>/dev/null | awk '/^rsa 2048/ { print $NF }')
    echo
    echo "core micro-benchmark (bench/micro), openssl speed -seconds $secs rsa2048: $verify_s verify/s"
    iters=200000
    [ "$SMOKE" = 1 ] && iters=20000
    bench/.build/micro "$iters" "$verify_s"
fi
