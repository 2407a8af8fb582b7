"""Clerk's handshake through a real httpd (docs/design.md#handshake, @clerk/backend
tokens/handshake.ts): full round trips with curl and a cookie jar between the module and a fake
Clerk Frontend/Backend API on loopback (fake_clerk.py). This file starts its own httpd, because
ClerkAPIURL is server-wide and points at the fake Backend API here."""

import hashlib
import json
import os
import re
import secrets
import subprocess
import time
import urllib.parse

import pytest

import conftest
from conftest import (AZP, PK, Response, publishable_key, run, server_head)
from helpers import FakeClerkHttpd, two_instance_clerk

DEV_HOST = "dev.clerk.example.test"
DEV_PK = publishable_key(DEV_HOST, live=False)
SECRET = "sk_live_" + secrets.token_hex(16)
DEV_SECRET = "sk_test_" + secrets.token_hex(16)
conftest.remember_secret(SECRET)
conftest.remember_secret(DEV_SECRET)
DOC = ("Sec-Fetch-Dest: document", "Accept: text/html,application/xhtml+xml")
MAX_HOPS = 12  # far beyond any legitimate chain; a loop would hit it and fail the test

DIRS = ["prod", "nonce", "signin", "dev", "devnonce", "off", "pass"]


class HsHttpd(FakeClerkHttpd):
    """An httpd of its own: its locations send handshakes to the fake Clerk."""

    DIRS = DIRS
    REALM = "clerk-hs"

    def _write_conf(self):
        fapi = self.fake.base

        def loc(name, pk, extra=""):
            return self.location(name, pk, "dev" if pk == DEV_PK else "prod", extra)

        text = server_head(self.work, self.port, extra_listen=(self.proxy_port,))
        text += """
ClerkAPIURL {fapi}
""".format(fapi=fapi) + self.docroot()
        text += loc("prod", PK)
        text += loc("nonce", PK, "ClerkSecretKey " + SECRET)
        text += loc("signin", PK, "ClerkSignInURL %s/sign-in" % fapi)
        text += loc("dev", DEV_PK)
        text += loc("devnonce", DEV_PK, "ClerkSecretKey " + DEV_SECRET)
        text += loc("off", PK, "ClerkHandshake Off")
        text += loc("pass", PK, "ClerkUnauthAction pass").replace(
            "Require valid-user", "Require all granted")
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o644)


@pytest.fixture(scope="module")
def fake(minter):
    f = two_instance_clerk(minter, (SECRET, DEV_SECRET), DEV_HOST)
    yield f
    f.stop()


@pytest.fixture(scope="module")
def hs(work, minter, fake):
    h = HsHttpd(os.path.join(work, "hs"), minter, fake)
    h.start()
    yield h
    h.stop()


@pytest.fixture
def inst(fake):
    """Both instances back to a signed-in visitor, nothing recorded."""
    fake.reset()
    for i in fake.instances.values():
        i.mode = "signed-in"
        i.nonce_in = "cookie"
        i.sub = "user_hs_" + secrets.token_hex(4)
    return fake.instances


class Browser:
    """curl with a cookie jar, following redirects by hand so every hop can be inspected."""

    def __init__(self, work):
        self.dir = os.path.join(work, "jars")
        os.makedirs(self.dir, exist_ok=True)
        self.jar = os.path.join(self.dir, "jar-%s" % secrets.token_hex(6))
        with open(self.jar, "w") as f:
            f.write("# Netscape HTTP Cookie File\n")
        self.seq = 0

    def set_cookie(self, name, value, path="/"):
        with open(self.jar, "a") as f:
            f.write("127.0.0.1\tFALSE\t%s\tFALSE\t0\t%s\t%s\n" % (path, name, value))

    def cookies(self):
        out = {}
        with open(self.jar) as f:
            for line in f:
                if line.startswith("#HttpOnly_"):
                    line = line[len("#HttpOnly_"):]
                elif line.startswith("#") or not line.strip():
                    continue
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 7:
                    out[parts[5]] = parts[6]
        return out

    def get(self, url, headers=DOC):
        self.seq += 1
        hfile = "%s.h%d" % (self.jar, self.seq)
        bfile = "%s.b%d" % (self.jar, self.seq)
        cmd = ["curl", "-s", "-g", "--max-time", "10", "-b", self.jar, "-c", self.jar,
               "-o", bfile, "-D", hfile, "-w", "%{http_code}"]
        for h in headers:
            cmd += ["-H", h]
        cmd.append(url)
        r = run(cmd, timeout=20)
        hdrs = []
        with open(hfile, errors="replace", newline="") as f:
            for line in f.read().split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    hdrs.append((k.strip().lower(), v.strip()))
        with open(bfile, errors="replace") as f:
            body = f.read()
        os.unlink(hfile)
        os.unlink(bfile)
        self._expire([v for k, v in hdrs if k == "set-cookie"])
        return Response(int(r.stdout.strip() or 0), hdrs, body)

    def _expire(self, set_cookies):
        """curl 7.88 keeps a cookie that a `name=; Max-Age=0` directive deletes in browsers;
        the jar is corrected the way a browser would store it."""
        gone = set()
        for sc in set_cookies:
            attrs = [a.strip().lower() for a in sc.split(";")[1:]]
            if "max-age=0" in attrs:
                gone.add(sc.split(";")[0].split("=")[0].strip())
        if not gone:
            return
        with open(self.jar) as f:
            lines = f.readlines()
        with open(self.jar, "w") as f:
            for line in lines:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 7 and parts[5] in gone:
                    continue
                f.write(line)

    def browse(self, url, headers=DOC):
        """Follows 3xx answers (bounded); returns every response in order."""
        hops = []
        for _ in range(MAX_HOPS):
            r = self.get(url, headers)
            hops.append(r)
            if r.status not in (301, 302, 303, 307, 308):
                return hops
            url = urllib.parse.urljoin(url, r.header("location"))
        raise AssertionError("redirect loop: %d hops, last %r" % (len(hops), hops[-1]))


def expired_session(minter, host=None):
    t = int(time.time())
    c = minter.claims(iat=t - 120, nbf=t - 130, exp=t - 60, azp=None,
                      iss="https://" + (host or conftest.FAPI_HOST))
    return minter.sign(c), c["iat"]


def query(url):
    return urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True)


def assert_handshake_redirect(r, fake, inst, params):
    """A 307 to the fake Frontend API's handshake with exactly params, in order
    (tokens/handshake.ts buildRedirectToHandshake)."""
    assert r.status == 307, r
    loc = r.header("location")
    assert loc.startswith("%s/%s/v1/client/handshake?" % (fake.base, inst)), loc
    assert query(loc) == params, loc
    assert r.header("cache-control") == "no-store", r
    assert r.header("x-clerk-auth-status") == "handshake", r
    assert any(c.startswith("__clerk_redirect_count=") and "SameSite=Lax" in c
               and "HttpOnly" in c and "Max-Age=2" in c for c in r.all("set-cookie")), r


@pytest.fixture
def browser(hs):
    return Browser(hs.work)


# ---------------------------------------------------------------------------- production
def test_expired_cookie_round_trip_via_handshake_jwt_cookie(hs, fake, inst, browser, minter):
    tok, iat = expired_session(minter)
    browser.set_cookie("__session", tok)
    browser.set_cookie("__client_uat", str(iat))
    url = hs.base + "/prod/env.cgi?x=1"
    hops = browser.browse(url)
    assert len(hops) == 3, hops
    assert_handshake_redirect(hops[0], fake, "prod", [
        ("redirect_url", url),
        ("__clerk_api_version", "2026-05-12"),
        ("suffixed_cookies", "false"),
        ("__clerk_hs_reason", "session-token-expired-refresh-non-eligible-no-refresh-cookie"),
        ("__session", tok),
    ])
    assert hops[0].header("x-clerk-auth-reason") == \
        "session-token-expired-refresh-non-eligible-no-refresh-cookie"
    assert "__clerk_redirect_count=1; SameSite=Lax; HttpOnly; Max-Age=2" in hops[0].all(
        "set-cookie")
    assert hops[1].status == 307  # the fake Clerk, back to redirect_url with the JWT cookie
    last = hops[2]
    assert last.status == 200, last
    env = last.json()
    assert env["REMOTE_USER"] == inst["prod"].sub
    assert last.header("access-control-allow-origin") == "null"
    assert last.header("access-control-allow-credentials") == "true"
    assert any(c.startswith("__session=ey") for c in last.all("set-cookie")), last
    assert browser.cookies()["__session"] != tok
    # the next page view is signed in from the fresh cookie alone: no more handshakes
    again = browser.browse(url)
    assert len(again) == 1 and again[0].status == 200
    assert again[0].json()["CLERK_TOKEN_SOURCE"] == "cookie"
    assert len(fake.handshakes()) == 1


def test_nonce_round_trip_through_the_backend_api(hs, fake, inst, browser, minter):
    tok, iat = expired_session(minter)
    browser.set_cookie("__session", tok)
    browser.set_cookie("__client_uat", str(iat))
    url = hs.base + "/nonce/env.cgi"
    hops = browser.browse(url)
    assert_handshake_redirect(hops[0], fake, "prod", [
        ("redirect_url", url),
        ("__clerk_api_version", "2026-05-12"),
        ("suffixed_cookies", "false"),
        ("__clerk_hs_reason", "session-token-expired-refresh-non-eligible-no-refresh-cookie"),
        ("format", "nonce"),
        ("__session", tok),
    ])
    assert hops[-1].status == 200, hops
    assert hops[-1].json()["REMOTE_USER"] == inst["prod"].sub
    calls = fake.payload_calls()
    assert len(calls) == 1
    path, q, headers = calls[0]
    assert headers["authorization"] == "Bearer " + SECRET
    assert headers["clerk-api-version"] == "2026-05-12"
    assert headers["user-agent"].startswith("mod_clerk_auth/")
    assert "__clerk_handshake_nonce" not in browser.cookies()


def test_nonce_in_query_continues_the_same_request(hs, fake, inst, browser, minter):
    inst["prod"].nonce_in = "query"
    browser.set_cookie("__client_uat", str(int(time.time())))
    hops = browser.browse(hs.base + "/nonce/env.cgi")
    assert len(hops) == 3, hops
    assert hops[0].header("x-clerk-auth-reason") == "client-uat-but-no-session-token"
    assert "__clerk_handshake_nonce=" in hops[1].header("location")
    assert hops[2].status == 200 and hops[2].json()["REMOTE_USER"] == inst["prod"].sub


def test_signed_out_at_clerk_clears_cookies_then_401(hs, fake, inst, browser, minter):
    inst["prod"].mode = "signed-out"
    tok, iat = expired_session(minter)
    browser.set_cookie("__session", tok)
    browser.set_cookie("__client_uat", str(iat))
    hops = browser.browse(hs.base + "/prod/env.cgi")
    last = hops[-1]
    assert len(hops) == 3 and last.status == 401, hops
    assert last.header("x-clerk-auth-status") == "signed-out"
    assert last.header("x-clerk-auth-reason") == "session-token-missing"
    assert last.header("www-authenticate").startswith("Bearer ")
    jar = browser.cookies()
    assert "__session" not in jar and jar.get("__client_uat") == "0", (last.headers, jar)
    nxt = browser.browse(hs.base + "/prod/env.cgi")
    assert len(nxt) == 1 and nxt[0].status == 401
    assert nxt[0].header("x-clerk-auth-reason") == "session-token-and-uat-missing"


def test_signed_out_at_clerk_ends_on_the_sign_in_page(hs, fake, inst, browser, minter):
    inst["prod"].mode = "signed-out"
    tok, iat = expired_session(minter)
    browser.set_cookie("__session", tok)
    browser.set_cookie("__client_uat", str(iat))
    url = hs.base + "/signin/env.cgi?page=2"
    hops = browser.browse(url)
    assert [h.status for h in hops[:3]] == [307, 307, 307], hops
    assert hops[2].header("location") == "%s/sign-in?redirect_url=%s" % (
        fake.base, urllib.parse.quote(url, safe=""))
    assert hops[-1].status == 404  # the fake has no sign-in page; the chain ended there


def test_api_requests_never_get_a_handshake_or_sign_in_redirect(hs, fake, inst, browser,
                                                                   minter):
    tok, iat = expired_session(minter)
    browser.set_cookie("__session", tok)
    browser.set_cookie("__client_uat", str(iat))
    for path in ("/prod/env.cgi", "/signin/env.cgi"):
        hops = browser.browse(hs.base + path, headers=("Sec-Fetch-Dest: empty",
                                                       "Accept: application/json"))
        assert len(hops) == 1 and hops[0].status == 401, hops
        assert hops[0].header("x-clerk-auth-status") == "signed-out"
    assert fake.handshakes() == []


def test_redirect_loop_stops_after_three_handshakes(hs, fake, inst, browser, minter):
    """Worst case: Clerk keeps handing back a token the module refuses (as with mismatched
    keys). Every return falls through to another handshake until the counter reaches 3."""
    inst["prod"].mode = "stale"
    tok, iat = expired_session(minter)
    browser.set_cookie("__session", tok)
    browser.set_cookie("__client_uat", str(iat))
    hops = browser.browse(hs.base + "/prod/env.cgi")
    to_fapi = [h for h in hops if h.status == 307 and
               h.header("location").startswith(fake.base + "/prod/v1/client/handshake")]
    assert len(to_fapi) == 3, [h.header("location") for h in hops]
    assert len(fake.handshakes()) == 3
    assert len(hops) == 7, hops  # 3 x (module -> fake, fake -> module) + the final answer
    counts = [c for h in to_fapi for c in h.all("set-cookie")
              if c.startswith("__clerk_redirect_count=")]
    assert [c.split(";")[0] for c in counts] == ["__clerk_redirect_count=%d" % n
                                                 for n in (1, 2, 3)]
    last = hops[-1]
    assert last.status == 401
    assert last.header("x-clerk-auth-status") == "signed-out"
    assert last.header("x-clerk-auth-reason") == \
        "session-token-expired-refresh-non-eligible-no-refresh-cookie"


def test_forged_handshake_jwt_is_ignored(hs, fake, inst, browser, minter):
    forged = minter.sign({"handshake": ["__session=%s; Path=/" % minter.sign(
        minter.claims(azp=None)), "__client_uat=%d; Path=/" % int(time.time())]}, key="other")
    r = browser.get(hs.base + "/prod/env.cgi?__clerk_handshake=" + forged)
    assert r.status == 401, r
    assert r.header("x-clerk-auth-reason") == "session-token-and-uat-missing"
    assert r.all("set-cookie") == []
    assert r.header("access-control-allow-origin") is None
    # in a cookie too, with a Clerk that forges every answer: bounded by the counter
    inst["prod"].mode = "forged"
    tok, iat = expired_session(minter)
    browser.set_cookie("__session", tok)
    browser.set_cookie("__client_uat", str(iat))
    hops = browser.browse(hs.base + "/prod/env.cgi")
    assert hops[-1].status == 401 and len(fake.handshakes()) == 3, hops


def test_handshake_off_answers_signed_out(hs, fake, inst, browser, minter):
    tok, iat = expired_session(minter)
    browser.set_cookie("__session", tok)
    browser.set_cookie("__client_uat", str(iat))
    hops = browser.browse(hs.base + "/off/env.cgi")
    assert len(hops) == 1 and hops[0].status == 401, hops
    assert hops[0].header("x-clerk-auth-status") == "signed-out"
    assert hops[0].header("x-clerk-auth-reason") == \
        "session-token-expired-refresh-non-eligible-no-refresh-cookie"
    forged_free = minter.sign({"handshake": ["__session=x; Path=/"]})
    r = browser.get(hs.base + "/off/env.cgi?__clerk_handshake=" + forged_free)
    assert r.all("set-cookie") == []  # payloads are not applied either
    assert fake.handshakes() == []


def test_pass_location_goes_through_the_handshake_too(hs, fake, inst, browser, minter):
    tok, iat = expired_session(minter)
    browser.set_cookie("__session", tok)
    browser.set_cookie("__client_uat", str(iat))
    hops = browser.browse(hs.base + "/pass/env.cgi")
    assert hops[0].status == 307 and len(hops) == 3, hops
    env = hops[-1].json()
    assert env["REMOTE_USER"] == inst["prod"].sub
    assert env["CLERK_AUTH_STATUS"] == "signed-in"


# --------------------------------------------------------------------------- development
def test_dev_instance_without_dev_browser_round_trip(hs, fake, inst, browser):
    url = hs.base + "/dev/env.cgi?a=1"
    hops = browser.browse(url)
    assert_handshake_redirect(hops[0], fake, "dev", [
        ("redirect_url", url),
        ("__clerk_api_version", "2026-05-12"),
        ("suffixed_cookies", "false"),
        ("__clerk_hs_reason", "dev-browser-missing"),
    ])
    # the fake Clerk sends the browser back with ?__clerk_handshake=<JWT>
    assert "__clerk_handshake=" in hops[1].header("location")
    resolved = hops[2]
    assert resolved.status == 307, resolved
    assert resolved.header("location") == url  # cleaned: no __clerk_handshake
    assert resolved.header("cache-control") == "no-store"
    assert any(c.startswith("__clerk_db_jwt=dvb_") for c in resolved.all("set-cookie"))
    assert resolved.header("access-control-allow-origin") == "null"
    assert len(hops) == 4 and hops[3].status == 200, hops
    assert hops[3].json()["REMOTE_USER"] == inst["dev"].sub
    assert "__clerk_db_jwt" in browser.cookies()


def test_dev_browser_in_query_is_dev_browser_sync(hs, fake, inst, browser):
    r = browser.get(hs.base + "/dev/env.cgi?__clerk_db_jwt=dvb_abc&b=2")
    assert_handshake_redirect(r, fake, "dev", [
        ("redirect_url", hs.base + "/dev/env.cgi?b=2"),
        ("__clerk_api_version", "2026-05-12"),
        ("suffixed_cookies", "false"),
        ("__clerk_hs_reason", "dev-browser-sync"),
        ("__clerk_db_jwt", "dvb_abc"),
    ])
    assert r.header("x-clerk-auth-message") is None  # Clerk's dev-browser reasons carry none


def test_dev_nonce_round_trip(hs, fake, inst, browser):
    url = hs.base + "/devnonce/env.cgi"
    hops = browser.browse(url)
    assert ("format", "nonce") in query(hops[0].header("location"))
    assert [h.status for h in hops] == [307, 307, 307, 200], hops
    assert hops[2].header("location") == url
    assert hops[3].json()["REMOTE_USER"] == inst["dev"].sub
    assert len(fake.payload_calls()) == 1


def test_dev_forged_handshake_jwt_is_a_hard_failure(hs, fake, inst, browser, minter):
    forged = minter.sign({"handshake": ["__session=x; Path=/"]}, key="other")
    r = browser.get(hs.base + "/dev/env.cgi?__clerk_handshake=" + forged)
    assert r.status == 401, r
    assert r.header("x-clerk-auth-reason") == "token-invalid-signature"
    assert "If you have switched Clerk keys locally" in r.header("x-clerk-auth-message")
    assert r.all("set-cookie") == []


def test_dev_failed_nonce_exchange_still_cleans_the_url(hs, fake, inst, browser):
    """A nonce the Backend API does not know: Clerk logs it and the directive list is empty, so
    the request is signed-out (session-token-missing) and, in development, still sent back to
    the cleaned URL; from there the loop is bounded by the counter as usual."""
    r = browser.get(hs.base + "/devnonce/env.cgi?__clerk_handshake_nonce=unknown&z=1")
    assert r.status == 307, r
    assert r.header("location") == hs.base + "/devnonce/env.cgi?z=1"
    assert r.header("x-clerk-auth-status") == "signed-out"
    assert r.header("x-clerk-auth-reason") == "session-token-missing"
    assert r.header("cache-control") == "no-store"
    assert len(fake.payload_calls()) == 1


# --------------------------------------------------------------------------- real browser
BROWSER_DIR = os.path.join(conftest.SRCDIR, "tests", "browser")


def test_real_chromium_expired_session_ends_on_the_page_showing_the_user(hs, fake, inst, minter):
    """Debian's chromium (headless, playwright-core from tests/browser, `npm ci` there by
    tests/run.sh) follows the 307s and stores the cookies itself: nothing here emulates a
    browser."""
    assert os.path.exists("/usr/bin/chromium"), "apt-get install chromium (tests/run.sh does)"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")), \
        "run `npm ci` in tests/browser (tests/run.sh does)"
    tok, iat = expired_session(minter)
    url = hs.base + "/prod/env.cgi"
    r = subprocess.run(["node", os.path.join(BROWSER_DIR, "handshake.js"), url, tok, str(iat),
                        inst["prod"].sub], capture_output=True, text=True, timeout=90,
                       cwd=BROWSER_DIR)
    assert r.returncode == 0, (r.stdout, r.stderr[-2000:])
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["remote_user"] == inst["prod"].sub
    assert [h["status"] for h in out["hops"]] == [307, 307, 200], out
    assert len(fake.handshakes()) == 1
    # the browser itself sent what a browser sends on a navigation
    path, q, headers = fake.handshakes()[0]
    assert headers.get("sec-fetch-dest") == "document"
    assert dict(q)["__clerk_hs_reason"] == \
        "session-token-expired-refresh-non-eligible-no-refresh-cookie"


# ------------------------------------------------------------------------- directive parsing
@pytest.mark.parametrize("value,ok", [
    ("clerk.example.com", True),
    ("127.0.0.1:9000", True),
    ("http://127.0.0.1:9000/prod", True),
    ("https://example.com/__clerk/", True),
    ("ftp://clerk.example.com", False),
    ("https://clerk.example.com/?x=1", False),
    ("https://user@clerk.example.com", False),
    ("clerk.example.com/path", False),
    ("https://", False),
])
def test_clerk_frontend_api_values_checked_at_configtest(work, minter, value, ok):
    from test_01_config import configtest, write_conf
    path, marks = write_conf(work, "fapi-" + hashlib.sha1(value.encode()).hexdigest()[:10], [
        "AuthType Clerk", "ClerkPublishableKey " + PK,
        'ClerkJWTKey "file:%s"' % minter.pub_pem,
        "ClerkFrontendAPI %s #BAD" % value, "ClerkHandshake Off", "Require valid-user"])
    rc, out = configtest(path)
    if ok:
        assert rc == 0, out
    else:
        assert rc != 0, out
        # Quoted as shown in logs: user information and query redacted.
        shown = re.sub(r"\?.*", "?***", re.sub(r"//[^/@]*@", "//***@", value))
        assert "line %d" % marks["bad"] in out and "ClerkFrontendAPI: '%s'" % shown in out, out


def test_clerk_handshake_takes_on_or_off_only(work, minter):
    from test_01_config import configtest, write_conf
    path, marks = write_conf(work, "hs-flag", [
        "AuthType Clerk", "ClerkPublishableKey " + PK, 'ClerkJWTKey "file:%s"' % minter.pub_pem,
        "ClerkHandshake maybe #BAD", "Require valid-user"])
    rc, out = configtest(path)
    assert rc != 0 and "line %d" % marks["bad"] in out and "ClerkHandshake" in out, out
