#!/usr/bin/env bash
# mod_clerk_auth demo: installs what it needs (Debian 12), builds the module, and starts a
# private httpd on http://127.0.0.1:8080 with a protected CGI page that shows REMOTE_USER and
# the Clerk claims.
#
#   demo/run.sh            install, build, start; prints ready-to-paste curl lines
#   demo/run.sh tokens     print fresh curl lines again (server already running)
#   demo/run.sh stop       stop the demo server
#
# Without Clerk credentials it makes its own RSA key and mints Clerk-shaped tokens with
# tests/tools/clerk-mint. With a real instance:
#   CLERK_PUBLISHABLE_KEY=pk_test_... CLERK_SECRET_KEY=sk_test_... demo/run.sh
#   CLERK_PUBLISHABLE_KEY=pk_test_... CLERK_JWT_KEY="$(cat jwt-public-key.pem)" demo/run.sh
# it uses that instance and serves http://localhost:8080/, a page that signs in with Clerk's
# browser SDK and calls the protected page same-origin (cookie) and with a Bearer token.
#
# Environment: CLERK_NO_APT=1 skips apt-get; DEMO_FOREGROUND=1 keeps httpd in the foreground
# (Ctrl-C stops it); DEMO_DIR (default /tmp/mod_clerk_auth-demo) holds config, keys and logs;
# DEMO_TOKEN_TTL (default 3600 s) is the lifetime of minted tokens (Clerk's own live 60 s).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

PORT=8080
DEMO_DIR=${DEMO_DIR:-/tmp/mod_clerk_auth-demo}
TTL=${DEMO_TOKEN_TTL:-3600}
APACHE=/usr/sbin/apache2
MODDIR=/usr/lib/apache2/modules
MINT=$top/tests/tools/clerk-mint
CONF=$DEMO_DIR/httpd.conf
URL=http://127.0.0.1:$PORT
LOCAL_HOST=clerk.demo.test # the made-up instance of the local mode
PACKAGES="apache2 apache2-dev libapr1-dev libaprutil1-dev libssl-dev libjansson-dev
  libcurl4-openssl-dev check autoconf automake libtool pkg-config curl make gcc"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

say() { printf '%s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

real_mode() { [ -n "${CLERK_PUBLISHABLE_KEY:-}" ]; }

stop_server() {
    [ -f "$CONF" ] || return 0
    local pid=""
    [ -f "$DEMO_DIR/run/httpd.pid" ] && pid=$(cat "$DEMO_DIR/run/httpd.pid" 2>/dev/null || true)
    # -k stop parses the config; if that fails (module moved...), signal the pid file's parent.
    $SUDO "$APACHE" -f "$CONF" -k stop >/dev/null 2>&1 ||
        { [ -n "$pid" ] && $SUDO kill -TERM "$pid" 2>/dev/null; } || true
    for _ in $(seq 50); do
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
}

install_packages() {
    [ "${CLERK_NO_APT:-0}" = 1 ] && return 0
    say "== installing packages (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq $PACKAGES >/dev/null
}

build() {
    say "== building"
    # An already configured tree is left as configured (DEMO_RECONFIGURE=1 redoes it).
    if [ ! -f Makefile ] || [ "${DEMO_RECONFIGURE:-0}" = 1 ]; then
        ./autogen.sh
        ./configure
    fi
    make -j"$(nproc)"
    make tests/tools/clerk-mint
    [ -f .libs/mod_clerk_auth.so ] || die "build did not produce .libs/mod_clerk_auth.so"
}

# base64 of "<host>$" as Clerk's publishable keys carry it (no padding).
pk_for_host() { printf 'pk_live_%s' "$(printf '%s$' "$1" | base64 -w0 | tr -d '=')"; }

# The Frontend API host a publishable key names.
fapi_host() {
    local b=${1#pk_*_}
    case $((${#b} % 4)) in 2) b="$b==" ;; 3) b="$b=" ;; esac
    printf '%s' "$b" | base64 -d 2>/dev/null | tr -d '$'
}

keys_block() { # the key directives of the protected location
    if real_mode; then
        say "    ClerkPublishableKey $CLERK_PUBLISHABLE_KEY"
        if [ -n "${CLERK_JWT_KEY:-}" ]; then
            say "    ClerkJWTKey \"file:$DEMO_DIR/keys/clerk-jwt.pem\""
        else
            say "    ClerkSecretKeyFile \"$DEMO_DIR/keys/secret-key\""
        fi
    else
        say "    ClerkPublishableKey $(pk_for_host "$LOCAL_HOST")"
        say "    ClerkJWTKey \"file:$DEMO_DIR/keys/pub.pem\""
    fi
}

make_keys() {
    mkdir -p "$DEMO_DIR/keys"
    chmod 755 "$DEMO_DIR" "$DEMO_DIR/keys"
    if real_mode; then
        if [ -n "${CLERK_JWT_KEY:-}" ]; then
            printf '%b\n' "$CLERK_JWT_KEY" >"$DEMO_DIR/keys/clerk-jwt.pem"
            chmod 644 "$DEMO_DIR/keys/clerk-jwt.pem"
        elif [ -n "${CLERK_SECRET_KEY:-}" ]; then
            (umask 077 && printf '%s' "$CLERK_SECRET_KEY" >"$DEMO_DIR/keys/secret-key")
        else
            die "CLERK_PUBLISHABLE_KEY needs CLERK_SECRET_KEY or CLERK_JWT_KEY"
        fi
    else
        [ -f "$DEMO_DIR/keys/priv.pem" ] ||
            "$MINT" keygen --type rsa2048 --out "$DEMO_DIR/keys/priv.pem"
        "$MINT" pubpem --key "$DEMO_DIR/keys/priv.pem" >"$DEMO_DIR/keys/pub.pem"
        chmod 644 "$DEMO_DIR/keys/pub.pem"
    fi
}

write_site() {
    mkdir -p "$DEMO_DIR/htdocs/protected" "$DEMO_DIR/run" "$DEMO_DIR/logs"
    cat >"$DEMO_DIR/htdocs/protected/whoami.cgi" <<'CGI'
#!/bin/sh
# What the application sees after mod_clerk_auth: REMOTE_USER, AUTH_TYPE and every CLERK_*.
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
printf 'REMOTE_USER=%s\nAUTH_TYPE=%s\n' "$REMOTE_USER" "$AUTH_TYPE"
env | grep '^CLERK_' | sort
CGI
    chmod 755 "$DEMO_DIR" "$DEMO_DIR/htdocs" "$DEMO_DIR/htdocs/protected" \
        "$DEMO_DIR/htdocs/protected/whoami.cgi"
    if real_mode; then
        local fapi
        fapi=$(fapi_host "$CLERK_PUBLISHABLE_KEY")
        [ -n "$fapi" ] || die "cannot read the Frontend API host from CLERK_PUBLISHABLE_KEY"
        sed -e "s|@PK@|$CLERK_PUBLISHABLE_KEY|g" -e "s|@FAPI@|$fapi|g" \
            "$top/demo/index.html.in" >"$DEMO_DIR/htdocs/index.html"
    else
        cat >"$DEMO_DIR/htdocs/index.html" <<'HTML'
<!doctype html><meta charset="utf-8"><title>mod_clerk_auth demo</title>
<p>Local demo: use the curl lines <code>demo/run.sh</code> printed.
Set CLERK_PUBLISHABLE_KEY (and CLERK_SECRET_KEY or CLERK_JWT_KEY) for the browser demo.</p>
HTML
    fi
    chmod 644 "$DEMO_DIR/htdocs/index.html"

    local cgid=""
    for m in mpm_event authn_core authz_core authz_user mime dir alias cgid socache_shmcb; do
        cgid="${cgid}LoadModule ${m}_module $MODDIR/mod_${m}.so"$'\n'
    done
    cat >"$CONF" <<CONF
# mod_clerk_auth demo server (written by demo/run.sh)
ServerRoot "$DEMO_DIR"
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile "$DEMO_DIR/run/httpd.pid"
DefaultRuntimeDir "$DEMO_DIR/run"
Mutex file:$DEMO_DIR/run default
${cgid}LoadModule clerk_auth_module $top/.libs/mod_clerk_auth.so
ScriptSock "$DEMO_DIR/run/cgid.sock"
User www-data
Group www-data
ErrorLog "$DEMO_DIR/logs/error.log"
LogLevel warn clerk_auth:info
LogFormat "%h %u \"%r\" %>s" demo
CustomLog "$DEMO_DIR/logs/access.log" demo
TypesConfig /etc/mime.types
DocumentRoot "$DEMO_DIR/htdocs"
DirectoryIndex index.html
<Directory "$DEMO_DIR/htdocs">
    Options +ExecCGI
    AddHandler cgi-script .cgi
    Require all granted
</Directory>

<Location /protected/>
    AuthType Clerk
    AuthName "mod_clerk_auth demo"
$(keys_block)
    Require valid-user
</Location>
CONF
}

start_server() {
    stop_server
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        die "port $PORT is in use by something else"
    fi
    $SUDO "$APACHE" -t -f "$CONF" || die "configuration refused (see above)"
    if [ "${DEMO_FOREGROUND:-0}" = 1 ]; then
        print_usage
        say "== httpd in the foreground; Ctrl-C stops it"
        exec $SUDO "$APACHE" -f "$CONF" -DFOREGROUND
    fi
    $SUDO "$APACHE" -f "$CONF" -k start
    for _ in $(seq 50); do
        curl -s -o /dev/null "$URL/" && return 0
        sleep 0.2
    done
    tail -n 20 "$DEMO_DIR/logs/error.log" >&2 || true
    die "httpd did not answer on $URL"
}

mint() { # a Clerk-shaped session token for user_demo, valid TTL seconds
    local now=$1 sid=sess_demo$RANDOM
    "$MINT" sign --key "$DEMO_DIR/keys/priv.pem" --alg RS256 \
        --header '{"alg":"RS256","kid":"ins_demo","typ":"JWT"}' \
        --payload "$(printf '{"azp":"http://localhost:%d","exp":%d,"iat":%d,"iss":"https://%s","nbf":%d,"sid":"%s","sub":"user_demo","v":2,"o":{"id":"org_demo","slg":"demo","rol":"admin","per":"read,manage","fpm":"3"},"fea":"o:reports"}' \
            "$PORT" $((now + TTL)) "$now" "$LOCAL_HOST" $((now - 10)) "$sid")"
}

print_usage() {
    say ""
    if real_mode; then
        say "Demo server: http://localhost:$PORT/ (real instance $(fapi_host "$CLERK_PUBLISHABLE_KEY"))"
        say "  Sign in there, then use the two buttons: same-origin fetch (session cookie) and"
        say "  fetch with 'Authorization: Bearer <getToken()>'."
        say "  Signed out:   curl -si $URL/protected/whoami.cgi"
    else
        local now tok
        now=$(date +%s)
        tok=$(mint "$now")
        say "Demo server: $URL/protected/whoami.cgi (tokens below live ${TTL} s; 'demo/run.sh tokens' mints new ones)"
        say ""
        say "# header flow (Authorization: Bearer)"
        say "curl -si -H 'Authorization: Bearer $tok' $URL/protected/whoami.cgi"
        say ""
        say "# cookie flow (__session + __client_uat, as a browser on the same origin sends them)"
        say "curl -si --cookie '__session=$tok; __client_uat=$now' $URL/protected/whoami.cgi"
        say ""
        say "# signed out: 401 with WWW-Authenticate and x-clerk-auth-reason"
        say "curl -si $URL/protected/whoami.cgi"
    fi
    say ""
    say "Logs: $DEMO_DIR/logs/error.log   Stop: demo/run.sh stop"
    say "      (or: $APACHE -f $CONF -k stop)"
}

case "${1:-start}" in
stop)
    stop_server
    say "demo server stopped"
    ;;
tokens)
    [ -f "$DEMO_DIR/keys/priv.pem" ] || real_mode || die "run demo/run.sh first"
    print_usage
    ;;
start)
    install_packages
    build
    make_keys
    write_site
    start_server
    print_usage
    ;;
*)
    die "usage: demo/run.sh [start|tokens|stop]"
    ;;
esac
