"""A CORS preflight under AuthType Clerk never carries a user and never reaches a handler
unasked (README "Cross-origin API calls"): by default the module answers it with an empty 204
after the rules that need no user, with mod_headers' `Header always set` lines applied;
`ClerkCORSPreflight handler` passes it on with no REMOTE_USER at all; `authenticate` treats it
like any other request. Checked with a real CGI and a reverse-proxied raw echo back end."""

import json
import os

import pytest

from conftest import ENV_CGI, Httpd, PK, curl, server_head

ORIGIN = "https://app.example.test"
PREFLIGHT = ["Origin: " + ORIGIN, "Access-Control-Request-Method: GET"]
CORS = ['Header always set Access-Control-Allow-Origin "%s"' % ORIGIN,
        'Header always set Access-Control-Allow-Methods "GET, OPTIONS"',
        'Header always set Access-Control-Allow-Headers "Authorization"']

# (location, lines inside <Location /c/<name>/>); AuthType Clerk and keys come from /c/.
LOCATIONS = [
    ("respond", ["Require valid-user"] + CORS),
    ("user", ["Require user user_nobody"] + CORS),
    ("negated", ["<RequireAll>", "  Require valid-user", "  Require not clerk-org evilcorp",
                 "</RequireAll>"]),
    ("granted", ["Require all granted"]),
    ("ip", ["<RequireAll>", "  Require ip 192.0.2.1", "  Require valid-user", "</RequireAll>"]),
    ("denied", ["Require all denied"]),
    ("handler", ["ClerkCORSPreflight handler", "Require valid-user"] + CORS),
    ("handler-negated", ["ClerkCORSPreflight handler", "<RequireAll>", "  Require valid-user",
                         "  Require not clerk-org evilcorp", "</RequireAll>"]),
    ("authenticate", ["ClerkCORSPreflight authenticate", "Require valid-user"] + CORS),
]


class PreflightHttpd(Httpd):
    def _layout(self):
        for d in ("run", "logs", "cgi", "front", "dirindex"):
            os.makedirs(os.path.join(self.work, d), exist_ok=True)
        for d in ("cgi", "front", "dirindex"):
            p = os.path.join(self.work, d, "env.cgi")
            with open(p, "w") as f:
                f.write(ENV_CGI)
            os.chmod(p, 0o755)
        with open(os.path.join(self.work, "front", ".htaccess"), "w") as f:
            f.write("RewriteEngine On\nRewriteRule ^app/ env.cgi [L]\n")
        for root, dirs, files in os.walk(self.work):
            os.chmod(root, 0o755)
            for fn in files:
                p = os.path.join(root, fn)
                os.chmod(p, os.stat(p).st_mode | 0o444)

    def _write_conf(self):
        keys = 'ClerkPublishableKey %s\n    ClerkJWTKey "file:%s"' % (PK, self.minter.pub_pem)
        w = self.work
        out = [server_head(w, self.port, extra_listen=(self.proxy_port,)),
               'DocumentRoot "%s"' % w,
               'ScriptAliasMatch "^/c/([^/]+)/env\\.cgi$" "%s/cgi/env.cgi"' % w,
               '<Directory "%s/cgi">' % w, "    Options +ExecCGI", "</Directory>",
               "<Location /c/>", "    AuthType Clerk", "    " + keys, "</Location>"]
        for name, lines in LOCATIONS:
            out += ["<Location /c/%s/>" % name] + ["    " + l for l in lines] + ["</Location>"]
        out += [
            # a front controller (an internal redirect after the access phase), both modes
            '<Directory "%s/front">' % w, "    Options +ExecCGI", "    AddHandler cgi-script .cgi",
            "    AllowOverride FileInfo", "    AuthType Clerk", "    " + keys,
            "    ClerkPassClaimsAs both", "    Require valid-user",
            "    <If \"%{HTTP:X-Mode} == 'handler'\">", "        ClerkCORSPreflight handler",
            "    </If>", "</Directory>",
            # DirectoryIndex to a script protected alone (ap_internal_fast_redirect)
            '<Directory "%s/dirindex">' % w, "    Options +ExecCGI",
            "    AddHandler cgi-script .cgi", "    DirectoryIndex env.cgi",
            "    Require all granted", '    <Files "env.cgi">', "        AuthType Clerk",
            "        " + keys, "        ClerkCORSPreflight handler",
            "        ClerkPassClaimsAs both", "        Require valid-user", "    </Files>",
            "</Directory>",
            # the raw echo back end behind a reverse proxy
            "ProxyPass /px/ http://127.0.0.1:%d/px/" % self.echo_port,
            "ProxyPass /pxh/ http://127.0.0.1:%d/pxh/" % self.echo_port,
            "<Location /px/>", "    AuthType Clerk", "    " + keys,
            "    ClerkPassClaimsAs headers", "    Require valid-user"] + ["    " + l for l in CORS] + [
            "</Location>",
            "<Location /pxh/>", "    AuthType Clerk", "    " + keys,
            "    ClerkPassClaimsAs headers", "    ClerkCORSPreflight handler",
            "    Require valid-user", "</Location>"]
        with open(self.conf, "w") as f:
            f.write("\n".join(out) + "\n")
        os.chmod(self.conf, 0o644)


@pytest.fixture(scope="module")
def pf(work, minter, echo_backend):
    h = PreflightHttpd(os.path.join(work, "preflight"), minter, echo_backend)
    h.start()
    yield h
    h.stop()


def req(h, path, headers=(), method="OPTIONS", token=None):
    hdrs = list(headers)
    if token:
        hdrs.append("Authorization: Bearer " + token)
    return curl("http://127.0.0.1:%d%s" % (h.port, path), hdrs, method)


def answered_by_module(r):
    assert r.status == 204, r
    assert r.body == "", r
    assert r.header("www-authenticate") is None, r
    assert r.header("content-type") is None, r


def test_preflight_is_answered_204_with_the_cors_headers_and_no_handler(pf):
    for loc in ("respond", "user"):
        r = req(pf, "/c/%s/env.cgi" % loc, PREFLIGHT)
        answered_by_module(r)
        assert r.header("access-control-allow-origin") == ORIGIN, (loc, r)
        assert r.header("access-control-allow-headers") == "Authorization", (loc, r)
    for loc in ("negated", "granted"):
        answered_by_module(req(pf, "/c/%s/env.cgi" % loc, PREFLIGHT))
    # the access log shows no user for it
    with open(pf.access_log) as f:
        lines = [l for l in f if '"OPTIONS /c/respond/env.cgi' in l]
    assert lines and all("user=- " in l for l in lines), lines


def test_preflight_still_meets_the_rules_that_need_no_user(pf):
    assert req(pf, "/c/ip/env.cgi", PREFLIGHT).status == 403
    assert req(pf, "/c/denied/env.cgi", PREFLIGHT).status == 403


def test_an_options_request_that_is_no_preflight_is_authenticated(pf):
    r = req(pf, "/c/respond/env.cgi", ["Origin: " + ORIGIN])
    assert r.status == 401 and r.header("www-authenticate"), r


def test_preflight_never_reaches_a_proxied_back_end(pf):
    r = req(pf, "/px/x", PREFLIGHT + ["X-Remote-User: user_evil"])
    answered_by_module(r)
    assert r.header("access-control-allow-origin") == ORIGIN, r


def test_handler_mode_passes_it_on_with_no_user_at_all(pf, minter):
    for loc in ("handler", "handler-negated"):
        r = req(pf, "/c/%s/env.cgi" % loc, PREFLIGHT)
        assert r.status == 200, (loc, r)
        env = r.json()
        assert env["REQUEST_METHOD"] == "OPTIONS"
        assert "REMOTE_USER" not in env and "AUTH_TYPE" not in env, (loc, env)
        assert not [k for k in env if k.startswith("CLERK_")], (loc, env)
    # a token the client adds anyway signs nothing in
    r = req(pf, "/c/handler/env.cgi", PREFLIGHT, token=minter.sign())
    assert r.status == 200 and "REMOTE_USER" not in r.json(), r
    assert r.header("access-control-allow-origin") == ORIGIN, r


def test_handler_mode_through_a_proxy_sends_no_user_header(pf, minter):
    r = req(pf, "/pxh/x", PREFLIGHT + ["X-Remote-User: user_evil", "X-Clerk-User-Id: user_evil"],
            token=minter.sign())
    assert r.status == 200, r
    body = r.json()
    assert body["method"] == "OPTIONS"
    names = [k.lower() for k, _ in body["headers"]]
    assert "x-remote-user" not in names and not [n for n in names if "clerk" in n], body


def test_authenticate_mode_treats_it_like_any_request(pf, minter):
    r = req(pf, "/c/authenticate/env.cgi", PREFLIGHT)
    assert r.status == 401 and r.header("www-authenticate"), r
    assert r.header("access-control-allow-origin") == ORIGIN, r
    c = minter.claims()
    r = req(pf, "/c/authenticate/env.cgi", PREFLIGHT, token=minter.sign(c))
    assert r.status == 200 and r.json()["REMOTE_USER"] == c["sub"], r


def test_front_controller_redirect_never_exports_a_preflight(pf, minter):
    tok = minter.sign()
    answered_by_module(req(pf, "/front/app/orders", PREFLIGHT, token=tok))
    r = req(pf, "/front/app/orders", PREFLIGHT + ["X-Mode: handler"], token=tok)
    assert r.status == 200, r
    env = r.json()
    assert env["REQUEST_METHOD"] == "OPTIONS"
    assert "REMOTE_USER" not in env and not [k for k in env if "CLERK" in k], env


def test_directory_index_to_a_protected_script_adopts_no_user(pf, minter):
    """mod_dir's look-up is a GET, which the client's token signs in; the preflight the
    look-up turns into is still one."""
    c = minter.claims()
    r = req(pf, "/dirindex/", PREFLIGHT, token=minter.sign(c))
    assert r.status == 200, r
    env = r.json()
    assert env["REQUEST_METHOD"] == "OPTIONS"
    assert "REMOTE_USER" not in env and c["sub"] not in json.dumps(env), env
    # the same look-up for a GET still signs in
    r = req(pf, "/dirindex/", method="GET", token=minter.sign(c))
    assert r.status == 200 and r.json()["REMOTE_USER"] == c["sub"], r


def test_signed_in_pages_reached_through_a_redirect_are_private(pf, minter):
    """The Cache-Control/Vary of signed-in responses (test_47) follows the decision through
    a front controller's internal redirect and mod_dir's hand-over."""
    c = minter.claims()
    for path in ("/front/app/orders", "/dirindex/"):
        r = req(pf, path, method="GET", token=minter.sign(c))
        assert r.status == 200 and r.json()["REMOTE_USER"] == c["sub"], (path, r)
        assert r.header("cache-control") == "private", (path, r)
        assert "Authorization" in r.header("vary").split(","), (path, r)  # <If> adds X-Mode
