"""Cached pages never cross users (README "Caches"): a response to a request a Clerk section
signed in gets `Cache-Control: private` unless the application set its own, and `Vary` on the
header that signed it in; mod_cache (real mod_cache + mod_cache_disk, quick handler on, as
Debian ships it) then never hands a user's page to an anonymous client, and startup warns about
each AuthType Clerk line its quick handler sits in front of."""

import os

import pytest

from conftest import APACHE, ENV_CGI, MODDIR, Httpd, PK, curl, run, server_head

OWN_CC = r"""#!/usr/bin/python3 -S
import os, sys
sys.stdout.write("Content-Type: text/plain\r\nCache-Control: max-age=60, public\r\n"
                 "Vary: Accept-Language\r\n\r\n" + os.environ.get("REMOTE_USER", "-"))
"""


class CacheHttpd(Httpd):
    def _layout(self):
        for d in ("run", "logs", "cgi", "cgi/hdr", "cache", "errors"):
            os.makedirs(os.path.join(self.work, d), exist_ok=True)
        with open(os.path.join(self.work, "errors", "404.html"), "w") as f:
            f.write("<p>not here</p>\n")
        os.chmod(os.path.join(self.work, "errors", "404.html"), 0o644)
        for name, text in (("env.cgi", ENV_CGI), ("own.cgi", OWN_CC), ("hdr/env.cgi", ENV_CGI)):
            p = os.path.join(self.work, "cgi", name)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o755)
        for root, dirs, files in os.walk(self.work):
            os.chmod(root, 0o755)
        os.chmod(os.path.join(self.work, "cache"), 0o777)

    def _write_conf(self):
        keys = 'ClerkPublishableKey %s\nClerkJWTKey "file:%s"' % (PK, self.minter.pub_pem)
        w = self.work
        out = [server_head(w, self.port, extra_listen=(self.proxy_port,)),
               "LoadModule cache_module %s/mod_cache.so" % MODDIR,
               "LoadModule cache_disk_module %s/mod_cache_disk.so" % MODDIR,
               keys,
               'CacheRoot "%s/cache"' % w, "CacheEnable disk /",
               "CacheIgnoreNoLastMod On", "CacheDefaultExpire 300",
               'ScriptAlias /c/ "%s/cgi/"' % w, 'ScriptAlias /p/ "%s/cgi/"' % w,
               '<Directory "%s/cgi">' % w, "    Options +ExecCGI", "</Directory>",
               'Alias /errors/ "%s/errors/"' % w, "ErrorDocument 404 /errors/404.html",
               '<Directory "%s/errors">' % w, "    Require all granted", "</Directory>",
               "<Location /c/>", "    # main", "    AuthType Clerk", "    Require valid-user",
               "</Location>",
               "<Location /c/hdr/>", '    Header always set Cache-Control "no-store"',
               "</Location>",
               "<Location /p/>", "    AuthType Clerk", "    ClerkUnauthAction pass",
               "    Require all granted", "</Location>",
               "<VirtualHost 127.0.0.1:%d>" % self.proxy_port, "    ServerName off.example.test",
               "    CacheQuickHandler Off",
               '    ScriptAlias /v/ "%s/cgi/"' % w,
               "    <Location /v/>", "        # vhost", "        AuthType Clerk", "        Require valid-user",
               "    </Location>", "</VirtualHost>"]
        self.text = "\n".join(out) + "\n"
        with open(self.conf, "w") as f:
            f.write(self.text)
        os.chmod(self.conf, 0o644)

    def line_of(self, marker):
        """The line after a comment line."""
        return self.text.split("\n").index(marker) + 2


@pytest.fixture(scope="module")
def ch(work, minter):
    h = CacheHttpd(os.path.join(work, "private"), minter, 0)
    h.start()
    yield h
    h.stop()


def get(h, path, headers=(), port=None):
    return curl("http://127.0.0.1:%d%s" % (port or h.port, path), list(headers))


def session(minter, c):
    return "Cookie: __session=%s; __client_uat=%d" % (minter.sign(c), c["iat"])


def test_signed_in_by_cookie_is_private_and_varies_on_cookie(ch, minter):
    c = minter.claims()
    r = get(ch, "/c/env.cgi?k=1", [session(minter, c)])
    assert r.status == 200 and r.json()["REMOTE_USER"] == c["sub"], r
    assert r.header("cache-control") == "private", r
    assert "Cookie" in r.header("vary"), r
    assert "Authorization" not in r.header("vary"), r


def test_signed_in_by_bearer_varies_on_authorization(ch, minter):
    r = get(ch, "/c/env.cgi?k=2", ["Authorization: Bearer " + minter.sign()])
    assert r.status == 200, r
    assert r.header("cache-control") == "private", r
    assert r.header("vary") == "Authorization", r


def test_the_applications_own_cache_control_is_kept(ch, minter):
    c = minter.claims()
    r = get(ch, "/c/own.cgi?k=3", ["Authorization: Bearer " + minter.sign(c)])
    assert r.status == 200 and r.body == c["sub"], r
    assert r.all("cache-control") == ["max-age=60, public"], r
    vary = [v.strip() for v in ",".join(r.all("vary")).split(",")]
    assert sorted(vary) == ["Accept-Language", "Authorization"], r


def test_a_header_line_of_the_operator_counts_as_the_applications_own(ch, minter):
    r = get(ch, "/c/hdr/env.cgi?k=6", ["Authorization: Bearer " + minter.sign()])
    assert r.status == 200, r
    assert r.all("cache-control") == ["no-store"], r
    assert r.header("vary") == "Authorization", r


@pytest.mark.parametrize("by", ["Cookie", "Authorization"])
def test_a_signed_in_requests_error_document_stays_private(ch, minter, by):
    """A signed-in request for a missing page gets the local ErrorDocument (an internal
    redirect to a page outside the Clerk section): still that user's response."""
    c = minter.claims()
    cred = session(minter, c) if by == "Cookie" else "Authorization: Bearer " + minter.sign(c)
    r = get(ch, "/c/missing-%s.cgi" % by, [cred])
    assert r.status == 404 and "not here" in r.body, r
    assert r.header("cache-control") == "private", r
    assert by in [v.strip() for v in ",".join(r.all("vary")).split(",")], r


def test_an_anonymous_error_document_is_left_alone(ch):
    r = get(ch, "/p/missing.cgi")
    assert r.status == 404 and "not here" in r.body, r
    assert r.header("cache-control") is None and r.header("vary") is None, r


def test_anonymous_responses_are_left_alone(ch):
    r = get(ch, "/p/env.cgi?k=4")
    assert r.status == 200 and "REMOTE_USER" not in r.json(), r
    assert r.header("cache-control") is None and r.header("vary") is None, r


def test_mod_cache_never_serves_a_users_page_to_anyone_else(ch, minter):
    c = minter.claims()
    # a path, not a query string: mod_cache stores those only with an explicit expiry
    r = get(ch, "/c/env.cgi/k5", [session(minter, c)])
    assert r.status == 200 and r.json()["REMOTE_USER"] == c["sub"], r
    r = get(ch, "/c/env.cgi/k5")  # no credentials: the quick handler answers before any auth
    assert r.status == 401, r
    assert c["sub"] not in r.body, r


def test_startup_warns_about_clerk_locations_behind_the_quick_handler(ch):
    with open(ch.error_log, errors="replace") as f:
        log = f.read()
    main_line = ch.line_of("    # main")
    vhost_line = ch.line_of("        # vhost")
    warned = [l for l in log.splitlines() if "CLERK1502" in l]
    assert [l for l in warned if "line %d of %s" % (main_line, ch.conf) in l], log
    assert not [l for l in warned if "line %d of" % vhost_line in l], warned
    assert len(warned) == 2, warned  # /c/ and /p/, once each
    r = run([APACHE, "-t", "-f", ch.conf])
    assert r.returncode == 0, r
    assert "CLERK1502" in r.stderr and "line %d of" % main_line in r.stderr, r
