"""Multi-domain Clerk in a real Chromium (tests/browser/navigate.js): the browser follows every
redirect itself and keeps its own cookies per site, so these round trips show what a visitor gets,
not what a test client chose to send (docs/design.md#multi-domain, @clerk/backend
tokens/request.ts).

Two sites on one loopback httpd with distinct host names: the primary app.localhost and the
satellite sat.localhost, so cookies set on one are never sent to the other, as between two real
domains. Chromium resolves *.localhost to loopback itself and treats it as a secure context, which
matters: a browser sends Sec-Fetch-Dest only to secure origins (https, localhost), and without it
no request is a document request for the SDK's rules, so a satellite served over plain http on
another name never syncs (the last satellite test, with sat.md.test mapped to loopback by
--host-resolver-rules, pins that).

- A development satellite with ClerkSatelliteAutoSync On: a first visit without any satellite
  cookie goes to the primary's sign-in URL, comes back with the primary's dev browser and
  __clerk_synced=true, syncs through the fake Frontend API and ends signed in on the satellite,
  with the satellite's own cookies. The same satellite with auto sync off is the control.
- A production satellite whose Frontend API is served from its own origin (a relative
  ClerkProxyURL in front of the fake Frontend API through mod_proxy): the handshake and its nonce
  cookie stay on the satellite's origin.
- An organization switch: a session whose active organization is acme visits /orgs/beta/; the
  handshake names beta, the fake Frontend API activates it, and the page sees beta's id. The same
  pages without ClerkOrganizationPatterns are the control."""

import base64
import json
import os
import secrets
import subprocess
import time
import urllib.parse

import pytest

import conftest
from conftest import PK, Minter, publishable_key, server_head
from helpers import FakeClerkHttpd, two_instance_clerk

DEV_HOST = "md-browser-dev.clerk.example.test"
DEV_PK = publishable_key(DEV_HOST, live=False)
SECRET = "sk_live_" + secrets.token_hex(16)
conftest.remember_secret(SECRET)

PRIMARY_HOST = "app.localhost"
SATELLITE_HOST = "sat.localhost"
PRIMARY_ORIGIN_URL = "http://%s/" % PRIMARY_HOST  # cookie URLs: cookies are not per port
INSECURE_SATELLITE_HOST = "sat.md.test"  # plain http, not a secure context for the browser
HOST_RULES = "MAP *.md.test 127.0.0.1"
BROWSER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "browser")
BROWSER_TIMEOUT = 120  # seconds for one browser run; navigate.js bounds each navigation itself

DIRS = ["primary", "devsat", "devsat-off", "sat", "org/orgs/acme", "org/orgs/beta",
        "plain/orgs/beta"]


class BrowserMdHttpd(FakeClerkHttpd):
    DIRS = DIRS
    REALM = "clerk-md-browser"

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
        primary = "http://%s:%d" % (PRIMARY_HOST, self.port)
        satellite = "http://%s:%d" % (SATELLITE_HOST, self.port)
        text = server_head(self.work, self.port, extra_listen=(self.proxy_port,))
        text += "ClerkAPIURL %s\n" % fapi + self.docroot()
        # The development primary: answers a satellite's sync only for a listed origin.
        text += self.loc("primary", DEV_PK, [
            "ClerkFrontendAPI %s/dev" % fapi,
            "ClerkAuthorizedParties %s %s" % (primary, satellite)])
        dev_satellite = [
            "ClerkIsSatellite On", "ClerkDomain " + SATELLITE_HOST,
            "ClerkFrontendAPI %s/dev" % fapi, "ClerkSignInURL %s/primary/env.cgi" % primary]
        text += self.loc("devsat", DEV_PK, dev_satellite + ["ClerkSatelliteAutoSync On"])
        text += self.loc("devsat-off", DEV_PK, dev_satellite)
        # A production satellite serving its Frontend API itself under /__clerk/ (here: the
        # fake's production instance behind mod_proxy), never behind AuthType Clerk.
        text += 'ProxyPass "/__clerk/" "%s/prod/"\n' % fapi
        text += self.loc("sat", PK, [
            "ClerkIsSatellite On", "ClerkProxyURL /__clerk", "ClerkSecretKey " + SECRET,
            "ClerkSignInURL %s/primary/env.cgi" % primary, "ClerkSatelliteAutoSync On"])
        text += self.loc("org", PK, [
            "ClerkFrontendAPI %s/prod" % fapi, "ClerkSecretKey " + SECRET,
            "ClerkOrganizationPatterns /org/orgs/:slug /org/orgs/:slug/(.*)"])
        text += self.loc("plain", PK, [
            "ClerkFrontendAPI %s/prod" % fapi, "ClerkSecretKey " + SECRET])
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
    h = BrowserMdHttpd(os.path.join(work, "md-browser"), minter, fake)
    h.start()
    yield h
    h.stop()


@pytest.fixture
def inst(fake):
    fake.reset()
    for i in fake.instances.values():
        i.mode = "signed-in"
        i.nonce_in = "cookie"  # production: the nonce comes back as a cookie, as Clerk sends it
        i.sub = "user_mdb_" + secrets.token_hex(4)
    return fake.instances


def chromium(url, cookies, then=(), cookies_of=()):
    """Debian's chromium, with *.md.test also resolved to loopback, visits url and then each of then
    in one profile holding cookies ([(name, value, cookie URL)]); returns what navigate.js printed
    (hops, final page's env per visit, and the cookies it holds for each of cookies_of)."""
    assert os.path.exists("/usr/bin/chromium"), "apt-get install chromium (tests/run.sh does)"
    assert os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")), \
        "run `npm ci` in tests/browser (tests/run.sh does)"
    arg = json.dumps([{"name": n, "value": v, "url": u} for n, v, u in cookies])
    opts = json.dumps({"hostRules": HOST_RULES, "then": list(then),
                       "cookiesOf": list(cookies_of)})
    r = subprocess.run(["node", os.path.join(BROWSER_DIR, "navigate.js"), url, arg, opts],
                       capture_output=True, text=True, timeout=BROWSER_TIMEOUT, cwd=BROWSER_DIR)
    assert r.returncode == 0, (r.stdout, r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def jar(out, url):
    """name -> value of the cookies the browser holds for url at the end."""
    return {c["name"]: c["value"] for c in out["cookies"][url]}


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def q(url):
    return urllib.parse.quote_plus(url)


# ---------------------------------------------------------------------- development satellite
def primary_session(md, minter):
    """A visitor signed in on the development primary: its cookies, on the primary's origin."""
    t = int(time.time())
    c = Minter.claims(sub="user_primary", iss="https://" + DEV_HOST,
                      azp="http://%s:%d" % (PRIMARY_HOST, md.port), iat=t - 5)
    return [("__session", minter.sign(c), PRIMARY_ORIGIN_URL),
            ("__client_uat", str(t - 5), PRIMARY_ORIGIN_URL),
            ("__clerk_db_jwt", "dvb_chromium", PRIMARY_ORIGIN_URL)]




def test_chromium_development_satellite_first_visit_syncs(md, fake, inst, minter):
    primary = "http://%s:%d" % (PRIMARY_HOST, md.port)
    satellite = "http://%s:%d" % (SATELLITE_HOST, md.port)
    page = satellite + "/devsat/env.cgi"
    start = primary_session(md, minter)
    out = chromium(page, start, then=[page], cookies_of=[satellite + "/", primary + "/"])
    urls = [h["url"] for h in out["hops"]]
    assert [h["status"] for h in out["hops"]] == [307, 307, 307, 307, 307, 200], out["hops"]
    # 1-2: no satellite cookie and auto sync: to the primary's sign-in URL, naming this page.
    assert urls[0] == page
    assert urls[1] == primary + "/primary/env.cgi?__clerk_redirect_url=" + q(page), urls
    # 3: the primary sends its dev browser back, with the sync completed.
    assert urls[2] == page + "?__clerk_db_jwt=dvb_chromium&__clerk_synced=true", urls
    # 4: the satellite syncs that dev browser through the Frontend API handshake.
    assert urls[3].startswith(fake.base + "/dev/v1/client/handshake?"), urls
    hs = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(urls[3]).query))
    assert hs["__clerk_hs_reason"] == "dev-browser-sync" and hs["__clerk_db_jwt"] == "dvb_chromium"
    # 5-6: back with the handshake, which is consumed; the clean URL keeps __clerk_synced=true.
    assert urls[4].startswith(page + "?") and "__clerk_handshake=" in urls[4], urls
    assert urls[5] == out["final_url"] == page + "?__clerk_synced=true", urls
    assert out["final_status"] == 200 and out["env"]["REMOTE_USER"] == inst["dev"].sub, out
    # The satellite's origin now holds its own session and dev browser; the primary's are as
    # they were.
    sat_jar, primary_jar = jar(out, satellite + "/"), jar(out, primary + "/")
    assert claims_of(sat_jar["__session"])["sub"] == inst["dev"].sub, sat_jar
    assert sat_jar["__client_uat"] not in ("", "0"), sat_jar
    assert sat_jar["__clerk_db_jwt"].startswith("dvb_") and \
        sat_jar["__clerk_db_jwt"] != "dvb_chromium", sat_jar
    assert primary_jar == {n: v for n, v, _ in start}, primary_jar
    # A later visit is answered from the satellite's cookies: no redirect, no new handshake.
    again = out["visits"][0]
    assert [h["status"] for h in again["hops"]] == [200], again
    assert again["env"]["REMOTE_USER"] == inst["dev"].sub, again
    assert len(fake.handshakes()) == 1


def test_chromium_development_satellite_without_auto_sync_stays_signed_out(md, fake, inst,
                                                                           minter):
    # The control: the same satellite without ClerkSatelliteAutoSync does not sync a cookie-less
    # first visit; the visitor lands on the primary's sign-in URL, still signed out on the
    # satellite.
    primary = "http://%s:%d" % (PRIMARY_HOST, md.port)
    satellite = "http://%s:%d" % (SATELLITE_HOST, md.port)
    page = satellite + "/devsat-off/env.cgi"
    out = chromium(page, primary_session(md, minter), cookies_of=[satellite + "/"])
    urls = [h["url"] for h in out["hops"]]
    assert [h["status"] for h in out["hops"]] == [307, 200], out["hops"]
    assert urls[1].startswith(primary + "/primary/env.cgi?redirect_url="), urls
    assert out["env"]["REMOTE_USER"] == "user_primary", out  # the primary's page, not ours
    assert "__session" not in jar(out, satellite + "/")
    assert fake.handshakes() == []


def test_chromium_satellite_over_insecure_http_is_never_synced(md, fake, inst, minter):
    # http://sat.md.test is no secure context: Chromium sends it no Sec-Fetch-Dest, so the
    # auto-syncing satellite does not take the visit for a page and never sends it to the
    # primary; it only asks the Frontend API for a dev browser, as the SDK does.
    page = "http://%s:%d/devsat/env.cgi" % (INSECURE_SATELLITE_HOST, md.port)
    out = chromium(page, primary_session(md, minter))
    assert all(urllib.parse.urlsplit(h["url"]).hostname != PRIMARY_HOST for h in out["hops"]), \
        out["hops"]
    reasons = [dict(h[1]).get("__clerk_hs_reason") for h in fake.handshakes()]
    assert reasons == ["dev-browser-missing"], reasons


# ---------------------------------------------------------------------- production satellite
def test_chromium_production_satellite_syncs_through_its_own_proxy(md, fake, inst):
    satellite = "http://%s:%d" % (SATELLITE_HOST, md.port)
    page = satellite + "/sat/env.cgi"
    out = chromium(page, [], then=[page], cookies_of=[satellite + "/"])
    urls = [h["url"] for h in out["hops"]]
    assert [h["status"] for h in out["hops"]] == [307, 307, 200], out["hops"]
    # The handshake goes to the relative ClerkProxyURL, on the satellite's own origin.
    assert urls[0] == page
    assert urls[1].startswith(satellite + "/__clerk/v1/client/handshake?"), urls
    hs = urllib.parse.parse_qsl(urllib.parse.urlsplit(urls[1]).query)
    assert ("redirect_url", page) in hs and \
        ("__clerk_hs_reason", "satellite-needs-syncing") in hs, hs
    # Back on the page itself: the nonce came as a cookie of the satellite's origin (production
    # needs no clean-up redirect).
    assert urls[2] == out["final_url"] == page, urls
    assert out["final_status"] == 200 and out["env"]["REMOTE_USER"] == inst["prod"].sub, out
    sat_jar = jar(out, satellite + "/")
    assert claims_of(sat_jar["__session"])["sub"] == inst["prod"].sub, sat_jar
    assert "__clerk_handshake_nonce" not in sat_jar, sat_jar  # consumed and cleared
    # The fake got the handshake through mod_proxy, and the nonce was exchanged once.
    [(path, _, headers)] = fake.handshakes()
    assert path == "/prod/v1/client/handshake", path
    assert headers.get("x-forwarded-host") == urllib.parse.urlsplit(page).netloc, headers
    assert len(fake.payload_calls()) == 1
    again = out["visits"][0]
    assert [h["status"] for h in again["hops"]] == [200], again
    assert again["env"]["REMOTE_USER"] == inst["prod"].sub, again
    assert len(fake.handshakes()) == 1


# ---------------------------------------------------------------------- organization switch
def org_session(minter, origin):
    t = int(time.time())
    c = Minter.claims(sub="user_org", iss="https://" + conftest.FAPI_HOST, azp=None, iat=t - 5,
                      v=2, o={"id": "org_acme", "slg": "acme", "rol": "admin"})
    return [("__session", minter.sign(c), origin), ("__client_uat", str(t - 5), origin)]


def test_chromium_organization_switch(md, fake, inst, minter):
    # The app shares its registrable domain with its Frontend API (here both are 127.0.0.1,
    # whose cookies are not per port), so the nonce cookie the Frontend API sets reaches it.
    app = "http://127.0.0.1:%d" % md.port
    beta, acme = app + "/org/orgs/beta/env.cgi", app + "/org/orgs/acme/env.cgi"
    out = chromium(beta, org_session(minter, app + "/"), then=[beta, acme],
                   cookies_of=[app + "/"])
    urls = [h["url"] for h in out["hops"]]
    assert [h["status"] for h in out["hops"]] == [307, 307, 200], out["hops"]
    assert urls[0] == beta
    assert urls[1].startswith(fake.base + "/prod/v1/client/handshake?"), urls
    hs = urllib.parse.parse_qsl(urllib.parse.urlsplit(urls[1]).query)
    assert ("__clerk_hs_reason", "active-organization-mismatch") in hs, hs
    assert hs[-1] == ("organization_id", "beta"), hs
    assert urls[2] == beta, urls
    # Signed in with beta active; the session cookie the browser now holds says so too.
    assert out["final_status"] == 200, out
    assert out["env"]["REMOTE_USER"] == inst["prod"].sub, out
    assert out["env"]["CLERK_ORG_ID"] == "org_beta" and out["env"]["CLERK_ORG_SLUG"] == "beta", out
    # beta again: no handshake, so the browser holds beta's session now. acme: switched back
    # through a second handshake, and the session cookie the browser ends with says so.
    again, back = out["visits"]
    assert [h["status"] for h in again["hops"]] == [200], again
    assert again["env"]["CLERK_ORG_ID"] == "org_beta", again
    assert [h["status"] for h in back["hops"]] == [307, 307, 200], back
    assert back["env"]["CLERK_ORG_ID"] == "org_acme", back
    assert claims_of(jar(out, app + "/")["__session"])["o"]["id"] == "org_acme"
    assert [dict(h[1])["organization_id"] for h in fake.handshakes()] == ["beta", "acme"]


def test_chromium_no_organization_switch_without_patterns(md, fake, inst, minter):
    # The control: the same URL shape in a section without ClerkOrganizationPatterns keeps the
    # token's active organization.
    app = "http://127.0.0.1:%d" % md.port
    out = chromium(app + "/plain/orgs/beta/env.cgi", org_session(minter, app + "/"))
    assert [h["status"] for h in out["hops"]] == [200], out["hops"]
    assert out["env"]["CLERK_ORG_ID"] == "org_acme", out
    assert fake.handshakes() == []
