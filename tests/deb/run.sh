#!/usr/bin/env bash
# The Debian package, end to end: builds libapache2-mod-clerk-auth from a copy of the tree
# (dpkg-buildpackage writes into the parent directory), runs lintian (errors fail), installs the
# .deb into the system's apache2, enables it with a2enmod, serves a signed-in and a signed-out
# request through the *installed* module on a loopback port, then purges the package and checks
# that nothing of it is left. Closing line: "deb: N passed, N failed".
#
#   tests/deb/run.sh [SRCDIR]   # as root (or with sudo), after the tree is built (clerk-mint)
#
# The system apache2 service is never started or restarted: a policy-rc.d that refuses every
# action is in place while the package's maintainer scripts run (restored on exit), and the smoke
# test uses a private httpd (own ServerRoot, PidFile, Listen 127.0.0.1:<free port>).
set -u
top=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
MINT="$top/tests/tools/clerk-mint"
PKG=libapache2-mod-clerk-auth
MODSO=/usr/lib/apache2/modules/mod_clerk_auth.so
MODS_AVAILABLE=/etc/apache2/mods-available
POLICY=/usr/sbin/policy-rc.d

passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
summary() { echo "deb: $passed passed, $failed failed"; }
pkg_present() { # dpkg knows the package in any state but not-installed
    local st
    st=$(dpkg-query -W -f '${Status}' "$PKG" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st##* }" != not-installed ]
}
die() { # a precondition or step everything after depends on
    bad "$*"
    summary
    exit 1
}

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
[ -x "$MINT" ] || die "$MINT is not built (run tests/run.sh, or make tests/tools/clerk-mint)"
for tool in dpkg-buildpackage lintian dh_apache2 apt-get curl; do
    command -v "$tool" >/dev/null || die "$tool is missing (tests/run.sh installs it)"
done
# An install of the same files by `make install` would be overwritten and then purged.
if [ -e "$MODSO" ] && ! dpkg -S "$MODSO" >/dev/null 2>&1; then
    die "$MODSO exists and belongs to no package (make install?): remove it first"
fi

# An operator's install of the package is not the test's to replace and purge.
if pkg_present; then
    die "$PKG is already installed: purge it first (the test installs and purges its own build)"
fi

version=$(awk -F'[][]' '/^AC_INIT/ { print $4 }' "$top/configure.ac")
arch=$(dpkg --print-architecture)
deb="${PKG}_${version}_${arch}.deb"

tmp=$(mktemp -d /tmp/clerk-deb.XXXXXX)
httpd_pid=""
policy_saved=""
cleanup() {
    if [ -n "$httpd_pid" ] && kill -0 "$httpd_pid" 2>/dev/null; then
        kill "$httpd_pid" 2>/dev/null
    fi
    if [ -n "$policy_saved" ]; then
        if [ "$policy_saved" = none ]; then $SUDO rm -f "$POLICY"; else $SUDO mv -f "$tmp/policy-rc.d.saved" "$POLICY"; fi
    fi
    # A failed run leaves no package behind either.
    if pkg_present; then
        $SUDO apt-get purge -y -qq "$PKG" >/dev/null 2>&1
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# ---- build, in a copy of the tree ------------------------------------------------------------
echo "== build $deb"
mkdir -p "$tmp/build/src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    # Tracked and new (not ignored) files: no build products of the tree itself.
    (cd "$top" && git ls-files -z -c -o --exclude-standard) |
        (cd "$top" && tar -cf - --null -T -) | tar -xf - -C "$tmp/build/src"
else
    cp -a "$top/." "$tmp/build/src/"
    [ -f "$tmp/build/src/Makefile" ] && make -C "$tmp/build/src" distclean >/dev/null 2>&1
fi
if (cd "$tmp/build/src" && dpkg-buildpackage -us -uc -b -j2) >"$tmp/build.log" 2>&1 &&
    [ -f "$tmp/build/$deb" ]; then
    ok "dpkg-buildpackage built $deb"
else
    tail -n 40 "$tmp/build.log"
    die "dpkg-buildpackage did not build $deb"
fi

echo "== lintian"
lintian --pedantic -I "$tmp/build/$deb" >"$tmp/lintian.log" 2>&1
grep -v '^running with root privileges' "$tmp/lintian.log"
if grep -q '^E: ' "$tmp/lintian.log"; then
    bad "lintian reports errors"
elif grep -q '^W: ' "$tmp/lintian.log"; then
    # Each warning must be one debian/README.source explains.
    unexplained=0
    for tag in $(sed -n 's/^W: [^:]*: \([^ ]*\).*/\1/p' "$tmp/lintian.log" | sort -u); do
        grep -q -- "$tag" "$top/debian/README.source" || { echo "unexplained: $tag"; unexplained=1; }
    done
    [ "$unexplained" = 0 ] && ok "lintian: no errors, warnings explained" || bad "lintian warnings not explained in debian/README.source"
else
    ok "lintian: no errors, no warnings"
fi

# The package ships the files of debian-apache/ (one source of truth) and the documentation.
echo "== contents"
dpkg-deb -x "$tmp/build/$deb" "$tmp/x"
sed 's|@APXS_LIBEXECDIR@|/usr/lib/apache2/modules|' "$top/debian-apache/clerk_auth.load.in" >"$tmp/expected.load"
doc="$tmp/x/usr/share/doc/$PKG"
if [ -f "$tmp/x$MODSO" ] && cmp -s "$tmp/expected.load" "$tmp/x$MODS_AVAILABLE/clerk_auth.load" &&
    cmp -s "$top/debian-apache/clerk_auth.conf" "$tmp/x$MODS_AVAILABLE/clerk_auth.conf" &&
    [ -f "$doc/README.md.gz" ] && [ -f "$doc/SECURITY.md.gz" ] && [ -f "$doc/changelog.gz" ] &&
    [ -f "$doc/copyright" ]; then
    ok "the .deb holds the module, debian-apache/'s .load and .conf, README, SECURITY.md, changelog"
else
    dpkg-deb -c "$tmp/build/$deb"
    bad "the .deb's contents differ from debian-apache/ or lack documentation"
fi
if dpkg-deb -e "$tmp/build/$deb" "$tmp/ctl" && grep -q 'apache2_invoke enmod clerk_auth\|for conf in clerk_auth' "$tmp/ctl/postinst" &&
    grep -q apache2-maintscript-helper "$tmp/ctl/postrm"; then
    ok "maintainer scripts register through apache2-maintscript-helper"
else
    bad "maintainer scripts do not use apache2-maintscript-helper"
fi

# ---- install, enable ----------------------------------------------------------------------
echo "== install"
if [ -e "$POLICY" ]; then $SUDO cp -p "$POLICY" "$tmp/policy-rc.d.saved"; policy_saved=saved; else policy_saved=none; fi
printf '#!/bin/sh\n# tests/deb/run.sh: no service is started or restarted during the test\nexit 101\n' >"$tmp/policy-rc.d"
$SUDO install -m 755 "$tmp/policy-rc.d" "$POLICY"
cp "$tmp/build/$deb" "$tmp/$deb"
chmod 644 "$tmp/$deb"
chmod 755 "$tmp"
if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -o DPkg::Lock::Timeout=300 "$tmp/$deb" \
    >"$tmp/install.log" 2>&1 &&
    [ "$(dpkg-query -W -f '${Status} ${Version}' "$PKG")" = "install ok installed $version" ]; then
    ok "apt-get install ./$deb"
else
    tail -n 30 "$tmp/install.log"
    die "apt-get install ./$deb failed"
fi
if $SUDO a2enmod clerk_auth >"$tmp/a2enmod.log" 2>&1 &&
    [ "$(readlink -f /etc/apache2/mods-enabled/clerk_auth.load)" = "$MODS_AVAILABLE/clerk_auth.load" ]; then
    ok "a2enmod clerk_auth"
else
    cat "$tmp/a2enmod.log"
    bad "a2enmod clerk_auth"
fi
# The system's own configuration, with the module enabled, still passes httpd's check.
if $SUDO apache2ctl -t >"$tmp/configtest.log" 2>&1; then
    ok "apache2ctl -t with clerk_auth enabled"
else
    cat "$tmp/configtest.log"
    bad "apache2ctl -t with clerk_auth enabled"
fi

# ---- smoke test: a private httpd that loads the installed module --------------------------
echo "== smoke"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
w="$tmp/httpd"
mkdir -p "$w/run" "$w/logs" "$w/htdocs/app"
"$MINT" keygen --type rsa2048 --out "$w/key.pem" >/dev/null
"$MINT" pubpem --key "$w/key.pem" >"$w/pub.pem"
chmod 644 "$w/pub.pem"
host=clerk.example.test
pk="pk_live_$(printf '%s$' "$host" | base64 | tr -d '=')"
cat >"$w/htdocs/app/env.cgi" <<'CGI'
#!/bin/sh
printf 'Content-Type: text/plain\n\nREMOTE_USER=%s\nAUTH_TYPE=%s\n' "$REMOTE_USER" "$AUTH_TYPE"
CGI
chmod 755 "$w/htdocs/app/env.cgi"
chmod -R a+rX "$w"
m=/usr/lib/apache2/modules
cat >"$w/httpd.conf" <<CONF
ServerRoot "$w"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$w/run/httpd.pid"
DefaultRuntimeDir "$w/run"
Mutex file:$w/run default
LoadModule mpm_event_module $m/mod_mpm_event.so
LoadModule authn_core_module $m/mod_authn_core.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule authz_user_module $m/mod_authz_user.so
LoadModule mime_module $m/mod_mime.so
LoadModule cgid_module $m/mod_cgid.so
TypesConfig /etc/mime.types
# The installed module, through the installed .load (the a2enmod path).
Include $MODS_AVAILABLE/clerk_auth.load
ScriptSock "$w/run/cgid.sock"
User www-data
Group www-data
ErrorLog "$w/logs/error.log"
LogLevel warn clerk_auth:info
DocumentRoot "$w/htdocs"
<Directory "$w/htdocs">
    Options +ExecCGI
    AddHandler cgi-script .cgi
    Require all granted
</Directory>
<Location /app/>
    AuthType Clerk
    ClerkPublishableKey $pk
    ClerkJWTKey "file:$w/pub.pem"
    Require valid-user
</Location>
CONF
if /usr/sbin/apache2 -f "$w/httpd.conf" -k start >"$tmp/start.log" 2>&1; then
    for _ in $(seq 1 100); do # bounded: until the listener answers
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.1
    done
    httpd_pid=$(cat "$w/run/httpd.pid" 2>/dev/null)
    loaded=$(/usr/sbin/apache2 -f "$w/httpd.conf" -M 2>/dev/null | grep -c clerk_auth_module)
    [ "$loaded" = 1 ] && ok "private httpd runs the installed module" || bad "clerk_auth_module not loaded"
    now=$(date +%s)
    sub="user_deb_smoke"
    payload=$(printf '{"azp":"https://app.example.test","exp":%d,"iat":%d,"nbf":%d,"iss":"https://%s","sid":"sess_deb","sub":"%s","v":2}' \
        $((now + 60)) "$now" $((now - 10)) "$host" "$sub")
    token=$("$MINT" sign --key "$w/key.pem" --alg RS256 --header '{"alg":"RS256","kid":"ins_deb","typ":"JWT"}' --payload "$payload")
    body=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$port/app/env.cgi")
    if [ "$(echo "$body" | tail -n 1)" = 200 ] && echo "$body" | grep -qx "REMOTE_USER=$sub" &&
        echo "$body" | grep -qx "AUTH_TYPE=Clerk"; then
        ok "signed in: 200, the CGI sees REMOTE_USER=$sub"
    else
        echo "$body"
        tail -n 20 "$w/logs/error.log"
        bad "signed in: expected 200 with REMOTE_USER=$sub"
    fi
    hdrs=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/app/env.cgi")
    if echo "$hdrs" | head -n 1 | grep -q ' 401' && echo "$hdrs" | grep -qi '^WWW-Authenticate: Bearer'; then
        ok "signed out: 401 with WWW-Authenticate"
    else
        echo "$hdrs"
        bad "signed out: expected 401 with WWW-Authenticate"
    fi
    /usr/sbin/apache2 -f "$w/httpd.conf" -k stop >/dev/null 2>&1
    for _ in $(seq 1 100); do # bounded: until the parent is gone
        [ -n "$httpd_pid" ] && kill -0 "$httpd_pid" 2>/dev/null || break
        sleep 0.1
    done
else
    cat "$tmp/start.log"
    tail -n 20 "$w/logs/error.log" 2>/dev/null
    bad "the private httpd with the installed module did not start"
fi

# ---- purge: nothing left behind --------------------------------------------------------------
echo "== purge"
if DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -o DPkg::Lock::Timeout=300 "$PKG" >"$tmp/purge.log" 2>&1; then
    ok "apt-get purge $PKG"
else
    tail -n 30 "$tmp/purge.log"
    bad "apt-get purge $PKG"
fi
left=""
dpkg -L "$PKG" >/dev/null 2>&1 && left="$left dpkg-L"
pkg_present && left="$left dpkg-status"
for f in /etc/apache2/mods-available/clerk_auth.* /etc/apache2/mods-enabled/clerk_auth.* \
    /var/lib/apache2/module/*/clerk_auth "$MODSO" "/usr/share/doc/$PKG"; do
    [ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done
[ -z "$left" ] && ok "nothing left after purge" || bad "left after purge:$left"

summary
[ "$failed" -eq 0 ]
