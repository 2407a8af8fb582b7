"""Multi-domain Clerk through a real httpd (docs/design.md#multi-domain, @clerk/backend
tokens/request.ts): a satellite's sync (production: a handshake through ClerkProxyURL; development:
the primary's sign-in URL, the primary's answer with __clerk_db_jwt and __clerk_synced=true, then
the dev-browser handshake), organization sync from the URL (a handshake whose organization_id the
fake Frontend API activates), and the configuration errors of inconsistent combinations.

The satellite is reached as http://localhost:<port> and the primary as http://127.0.0.1:<port>: one
httpd, two origins with their own cookies in curl's jar, as two domains have in a browser."""

import os
import secrets
import time
import urllib.parse

import pytest

import conftest
from conftest import PK, Minter, publishable_key, server_head
from helpers import FakeClerkHttpd, two_instance_clerk
from test_60_handshake import DOC, Browser, query

DEV_HOST = "md-dev.clerk.example.test"
DEV_PK = publishable_key(DEV_HOST, live=False)
SECRET = "sk_live_" + secrets.token_hex(16)
conftest.remember_secret(SECRET)

DIRS = ["sat", "devsat", "primary", "org/orgs/acme", "org/orgs/beta", "org/me"]


class MdHttpd(FakeClerkHttpd):
    DIRS = DIRS
    REALM = "clerk-md"

    def loc(self, name, pk, lines):
        return """<Location /{name}/>
    AuthType Clerk
    AuthName "{realm}"
    ClerkPublishableKey {pk}
    ClerkJWTKey "file:{pem}"
    {lines}
    Require valid-user
</Location>
""".format(name=name, realm=self.REALM, pk=pk, pem=self.minter.pub_pem,
           lines="\n    ".join(lines))

    def _write_conf(self):
        fapi = self.fake.base
        primary = "http://127.0.0.1:%d" % self.port
        satellite = "http://localhost:%d" % self.port
        text = server_head(self.work, self.port, extra_listen=(self.proxy_port,))
        text += "ClerkAPIURL %s\n" % fapi + self.docroot()
        # Production satellite: handshakes go through its proxy (here the fake Frontend API).
        text += self.loc("sat", PK, [
            "ClerkIsSatellite On", "ClerkProxyURL %s/prod" % fapi, "ClerkSecretKey " + SECRET,
            "ClerkSignInURL %s/primary/env.cgi" % primary])
        # Development satellite and its primary.
        text += self.loc("devsat", DEV_PK, [
            "ClerkIsSatellite On", "ClerkDomain localhost", "ClerkFrontendAPI %s/dev" % fapi,
            "ClerkSignInURL %s/primary/env.cgi" % primary])
        text += self.loc("primary", DEV_PK, [
            "ClerkFrontendAPI %s/dev" % fapi, "ClerkAuthorizedParties " + satellite])
        text += self.loc("org", PK, [
            "ClerkFrontendAPI %s/prod" % fapi,
            "ClerkOrganizationPatterns /org/orgs/:slug /org/orgs/:slug/(.*)",
            "ClerkPersonalAccountPatterns /org/me /org/me/(.*)"])
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o644)


@pytest.fixture(scope="module")
def fake(minter):
    f = two_instance_clerk(minter, (SECRET,), DEV_HOST)
    yield f
    f.stop()


@pytest.fixture(scope="module")
def md(work, minter, fake):
    h = MdHttpd(os.path.join(work, "md"), minter, fake)
    h.start()
    yield h
    h.stop()


@pytest.fixture
def inst(fake):
    fake.reset()
    for i in fake.instances.values():
        i.mode = "signed-in"
        i.nonce_in = "query"
        i.sub = "user_md_" + secrets.token_hex(4)
    return fake.instances


@pytest.fixture
def browser(md):
    return Browser(md.work)


def signed_in_as(r, sub):
    assert r.status == 200, r
    env = r.json()
    assert env["REMOTE_USER"] == sub, env
    return env


# ----------------------------------------------------------------------- production satellite
def test_production_satellite_syncs_through_its_proxy(md, fake, inst, browser):
    sat = "http://localhost:%d/sat/env.cgi?__clerk_synced=false" % md.port
    hops = browser.browse(sat)
    assert [h.status for h in hops] == [307, 307, 200], hops
    # The satellite's handshake, through ClerkProxyURL, with the SDK's parameters in order.
    loc = hops[0].header("location")
    assert loc.startswith("%s/prod/v1/client/handshake?" % fake.base), loc
    assert query(loc) == [
        ("redirect_url", sat), ("__clerk_api_version", "2026-05-12"),
        ("suffixed_cookies", "false"), ("__clerk_hs_reason", "satellite-needs-syncing"),
        ("format", "nonce")], loc
    assert hops[0].header("x-clerk-auth-status") == "handshake", hops[0]
    # Back with a nonce the Backend API exchanges: signed in on the satellite.
    signed_in_as(hops[-1], inst["prod"].sub)
    assert len(fake.payload_calls()) == 1


def test_production_satellite_first_visit_without_cookies_is_signed_out(md, fake, inst, browser):
    # ClerkSatelliteAutoSync Off (the default): no sync; a page goes to the sign-in URL.
    r = browser.get("http://localhost:%d/sat/env.cgi" % md.port)
    assert r.status == 307 and r.header("x-clerk-auth-status") == "signed-out", r
    assert r.header("x-clerk-auth-reason") == "session-token-and-uat-missing", r
    assert r.header("location").startswith("http://127.0.0.1:%d/primary/env.cgi?redirect_url="
                                           % md.port), r
    # An API request never syncs.
    r = browser.get("http://localhost:%d/sat/env.cgi?__clerk_synced=false" % md.port,
                    headers=("Accept: application/json",))
    assert r.status == 401, r
    assert fake.handshakes() == []


# ---------------------------------------------------------------------- development satellite
def test_development_satellite_round_trip_through_the_primary(md, fake, inst, browser, minter):
    t = int(time.time())
    c = Minter.claims(sub="user_primary", iss="https://" + DEV_HOST, azp=None, iat=t - 5)
    # The visitor is signed in on the primary (127.0.0.1), with its dev-browser token.
    browser.set_cookie("__session", minter.sign(c))
    browser.set_cookie("__client_uat", str(t - 5))
    browser.set_cookie("__clerk_db_jwt", "dvb_primary")
    sat = "http://localhost:%d/devsat/env.cgi?__clerk_synced=false" % md.port
    hops = browser.browse(sat)
    assert [h.status for h in hops] == [307, 307, 307, 307, 307, 200], hops
    # 1: the satellite sends the visitor to the primary's sign-in URL.
    loc = hops[0].header("location")
    assert loc == "http://127.0.0.1:%d/primary/env.cgi?__clerk_redirect_url=%s" % (
        md.port, urllib.parse.quote_plus(sat)), loc
    assert hops[0].header("x-clerk-auth-reason") == "satellite-needs-syncing"
    # 2: the primary answers with its dev-browser token and __clerk_synced=true (an authorized
    # origin: ClerkAuthorizedParties names the satellite).
    loc = hops[1].header("location")
    assert hops[1].header("x-clerk-auth-reason") == "primary-responds-to-syncing"
    assert dict(query(loc)) == {"__clerk_synced": "true", "__clerk_db_jwt": "dvb_primary"}, loc
    assert loc.startswith("http://localhost:%d/devsat/env.cgi?" % md.port), loc
    # 3: the satellite syncs the dev browser through the Frontend API handshake.
    loc = hops[2].header("location")
    assert hops[2].header("x-clerk-auth-reason") == "dev-browser-sync"
    assert loc.startswith("%s/dev/v1/client/handshake?" % fake.base), loc
    assert ("__clerk_db_jwt", "dvb_primary") in query(loc), loc
    # 4-5: back with the handshake, cleaned, and signed in on the satellite.
    signed_in_as(hops[-1], inst["dev"].sub)
    loc = hops[-2].header("location")
    assert "__clerk_handshake" not in loc and "__clerk_db_jwt" not in loc, loc
    assert dict(query(loc)) == {"__clerk_synced": "true"}, loc
    # The satellite got its own dev-browser cookie; the primary's is untouched.
    with open(browser.jar) as f:
        rows = [l.rstrip("\n").split("\t") for l in f if l.count("\t") == 6]
    dvb = {(r[0].replace("#HttpOnly_", ""), r[6]) for r in rows if r[5] == "__clerk_db_jwt"}
    assert ("127.0.0.1", "dvb_primary") in dvb, dvb
    assert any(h == "localhost" and v.startswith("dvb_") and v != "dvb_primary"
               for h, v in dvb), dvb


def test_primary_refuses_to_sync_an_unlisted_origin(md, fake, inst, browser):
    browser.set_cookie("__clerk_db_jwt", "dvb_primary")
    back = "https://elsewhere.example.net/page"
    r = browser.get("http://127.0.0.1:%d/primary/env.cgi?__clerk_redirect_url=%s"
                    % (md.port, urllib.parse.quote(back, safe="")))
    assert r.status == 401, r
    assert r.header("x-clerk-auth-reason") == "primary-responds-to-syncing", r
    assert "dvb_primary" not in (r.header("location") or "")


# ---------------------------------------------------------------------- organization sync
def session_cookie(browser, minter, **over):
    t = int(time.time())
    c = Minter.claims(sub="user_org", iss="https://" + conftest.FAPI_HOST, azp=None, iat=t - 5,
                      **over)
    browser.set_cookie("__session", minter.sign(c))
    browser.set_cookie("__client_uat", str(t - 5))


def test_org_switch_activates_the_organization_in_the_url(md, fake, inst, browser, minter):
    session_cookie(browser, minter, v=2, o={"id": "org_acme", "slg": "acme", "rol": "admin"})
    # The active organization's URL: signed in, no handshake.
    r = browser.get("http://127.0.0.1:%d/org/orgs/acme/env.cgi" % md.port)
    assert signed_in_as(r, "user_org")["CLERK_ORG_SLUG"] == "acme"
    assert fake.handshakes() == []
    # Another organization's URL: a handshake that names it; Clerk activates it.
    url = "http://127.0.0.1:%d/org/orgs/beta/env.cgi" % md.port
    hops = browser.browse(url)
    assert [h.status for h in hops] == [307, 307, 200], hops
    loc = hops[0].header("location")
    assert hops[0].header("x-clerk-auth-reason") == "active-organization-mismatch", hops[0]
    assert query(loc)[-1] == ("organization_id", "beta"), loc
    env = signed_in_as(hops[-1], inst["prod"].sub)
    assert env["CLERK_ORG_SLUG"] == "beta", env
    # The personal account's URL: organization_id is empty.
    hops = browser.browse("http://127.0.0.1:%d/org/me/env.cgi" % md.port)
    assert [h.status for h in hops] == [307, 307, 200], hops
    assert query(hops[0].header("location"))[-1] == ("organization_id", ""), hops[0]
    assert "CLERK_ORG_ID" not in signed_in_as(hops[-1], inst["prod"].sub)


def test_org_mismatch_on_an_api_request_is_not_redirected(md, fake, inst, browser, minter):
    session_cookie(browser, minter, v=2, o={"id": "org_acme", "slg": "acme", "rol": "admin"})
    r = browser.get("http://127.0.0.1:%d/org/orgs/beta/env.cgi" % md.port,
                    headers=("Accept: application/json",))
    assert signed_in_as(r, "user_org")["CLERK_ORG_SLUG"] == "acme"
    assert fake.handshakes() == []


# ---------------------------------------------------------------------- configuration errors
@pytest.mark.parametrize("name,lines,message", [
    ("sat-no-signin", ["ClerkIsSatellite On #BAD", "ClerkDomain sat.example.org"],
     "ClerkIsSatellite On on line {bad} of {conf} needs ClerkSignInURL"),
    ("sat-no-domain", ["ClerkIsSatellite On #BAD", "ClerkSignInURL https://primary.example.com/s"],
     "ClerkIsSatellite On on line {bad} of {conf} needs ClerkDomain or ClerkProxyURL"),
    ("proxy-and-fapi", ["ClerkProxyURL /__clerk #BAD", "ClerkFrontendAPI clerk.example.com"],
     "ClerkProxyURL on line {bad} of {conf} and ClerkFrontendAPI both say where handshakes go"),
])
def test_inconsistent_combinations_fail_configtest(work, minter, name, lines, message):
    from test_01_config import configtest, write_conf
    path, marks = write_conf(work, "md-" + name, [
        "AuthType Clerk", "ClerkPublishableKey " + PK, 'ClerkJWTKey "file:%s"' % minter.pub_pem,
        *lines, "Require valid-user"])
    rc, out = configtest(path)
    assert rc != 0, out
    assert message.format(bad=marks["bad"], conf=path) in out, out


@pytest.mark.parametrize("directive,value,ok", [
    ("ClerkProxyURL", "/__clerk", True),
    ("ClerkProxyURL", "https://app.example.com/__clerk", True),
    ("ClerkProxyURL", "HTTPS://app.example.com/__clerk", False),
    ("ClerkProxyURL", "//app.example.com/__clerk", False),
    ("ClerkProxyURL", "https://app.example.com/__clerk?x=1", False),
    ("ClerkProxyURL", "__clerk", False),
    ("ClerkDomain", "sat.example.org", True),
    ("ClerkDomain", "https://sat.example.org", True),
    ("ClerkDomain", "https://sat.example.org/path", False),
    ("ClerkDomain", "sat!example", False),
    ("ClerkOrganizationPatterns", "/orgs/:slug /orgs/:slug/(.*)", True),
    ("ClerkOrganizationPatterns", "/orgs/{:slug}", False),
    ("ClerkOrganizationPatterns", "/orgs/(\\d+)", False),
    ("ClerkPersonalAccountPatterns", "/me /me/(.*)", True),
    ("ClerkPersonalAccountPatterns", "/me*", False),
])
def test_multidomain_values_checked_at_configtest(work, minter, directive, value, ok):
    from test_01_config import configtest, write_conf
    import hashlib
    path, marks = write_conf(work, "mdv-" + hashlib.sha1((directive + value).encode()).hexdigest()[:10], [
        "AuthType Clerk", "ClerkPublishableKey " + PK, 'ClerkJWTKey "file:%s"' % minter.pub_pem,
        "%s %s #BAD" % (directive, value), "Require valid-user"])
    rc, out = configtest(path)
    if ok:
        assert rc == 0, out
    else:
        assert rc != 0, out
        assert "line %d" % marks["bad"] in out and directive + ":" in out, out


# ---------------------------------------------------------------------- a real browser
BROWSER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "browser")


def chromium(url, cookies):
    """Debian's chromium navigates to url with cookies ([(name, value, cookie URL)]) and follows
    every redirect itself (tests/browser/navigate.js); returns what it printed."""
    import json
    import subprocess
    assert os.path.exists("/usr/bin/chromium"), "apt-get install chromium (tests/run.sh does)"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")), \
        "run `npm ci` in tests/browser (tests/run.sh does)"
    arg = json.dumps([{"name": n, "value": v, "url": u} for n, v, u in cookies])
    r = subprocess.run(["node", os.path.join(BROWSER_DIR, "navigate.js"), url, arg],
                       capture_output=True, text=True, timeout=90, cwd=BROWSER_DIR)
    assert r.returncode == 0, (r.stdout, r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_real_chromium_development_satellite_sync(md, fake, inst, minter):
    t = int(time.time())
    primary = "http://127.0.0.1:%d/" % md.port
    c = Minter.claims(sub="user_primary", iss="https://" + DEV_HOST, azp=None, iat=t - 5)
    out = chromium("http://localhost:%d/devsat/env.cgi?__clerk_synced=false" % md.port, [
        ("__session", minter.sign(c), primary), ("__client_uat", str(t - 5), primary),
        ("__clerk_db_jwt", "dvb_chromium", primary)])
    # satellite -> primary's sign-in URL -> back with its dev browser -> Frontend API
    # handshake -> back with the handshake -> the clean URL, signed in.
    assert [h["status"] for h in out["hops"]] == [307, 307, 307, 307, 307, 200], out
    assert out["hops"][1]["url"].startswith(primary + "primary/env.cgi?__clerk_redirect_url="), out
    assert "__clerk_db_jwt=dvb_chromium" in out["hops"][2]["url"], out
    assert out["final_status"] == 200 and out["env"]["REMOTE_USER"] == inst["dev"].sub, out
    assert out["final_url"] == "http://localhost:%d/devsat/env.cgi?__clerk_synced=true" % md.port
    path, q, headers = fake.handshakes()[0]
    assert headers.get("sec-fetch-dest") == "document"
    assert dict(q)["__clerk_hs_reason"] == "dev-browser-sync"


def test_real_chromium_organization_switch(md, fake, inst, minter):
    t = int(time.time())
    app = "http://127.0.0.1:%d/" % md.port
    c = Minter.claims(sub="user_org", iss="https://" + conftest.FAPI_HOST, azp=None, iat=t - 5,
                      v=2, o={"id": "org_acme", "slg": "acme", "rol": "admin"})
    out = chromium(app + "org/orgs/beta/env.cgi", [
        ("__session", minter.sign(c), app), ("__client_uat", str(t - 5), app)])
    assert [h["status"] for h in out["hops"]] == [307, 307, 200], out
    assert out["env"]["CLERK_ORG_SLUG"] == "beta", out
    assert out["env"]["REMOTE_USER"] == inst["prod"].sub, out
    path, q, headers = fake.handshakes()[0]
    assert dict(q)["__clerk_hs_reason"] == "active-organization-mismatch"
    assert q[-1] == ("organization_id", "beta")
