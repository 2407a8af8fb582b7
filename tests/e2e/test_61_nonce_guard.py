"""The handshake nonce cannot be used to burn the Backend API, and the development redirect is
not an open redirect (docs/design.md#nonce-guard, SECURITY.md).

A real httpd (one child process, so the per-process guard is the whole server's) in front of
the fake Clerk of fake_clerk.py, whose Backend API counts every payload call and the TCP
connection it came on. Everything is asserted with call and connection counts and log lines,
never with time."""

import os
import re
import secrets
import subprocess
import threading
import time
import urllib.parse

import pytest

import conftest
from conftest import PK, curl, publishable_key, server_head
from helpers import FakeClerkHttpd, two_instance_clerk
from test_60_handshake import Browser

DEV_HOST = "dev.clerk.example.test"
DEV_PK = publishable_key(DEV_HOST, live=False)
SECRET = "sk_live_" + secrets.token_hex(16)
DEV_SECRET = "sk_test_" + secrets.token_hex(16)
PARTY = "https://sat.example.test"
DOC = ("Sec-Fetch-Dest: document", "Accept: text/html,application/xhtml+xml")
DIRS = ["nonce", "devnonce", "devskew"]


def guard_constant(name):
    """A limit as src/nonce_guard.h defines it (the test follows the code's constant)."""
    with open(os.path.join(conftest.SRCDIR, "src", "nonce_guard.h")) as f:
        m = re.search(r"#define %s (\d+)" % name, f.read())
    assert m, name
    return int(m.group(1))


class GuardHttpd(FakeClerkHttpd):
    DIRS = DIRS
    REALM = "clerk-guard"

    def _write_conf(self):
        fapi = self.fake.base
        text = server_head(self.work, self.port, extra_listen=(self.proxy_port,))
        # One child: the guard is per process, so its bounds are then the server's.
        text += """
ServerLimit 1
StartServers 1
ThreadsPerChild 24
MaxRequestWorkers 24
MinSpareThreads 1
MaxSpareThreads 24
ClerkAPIURL {fapi}
""".format(fapi=fapi) + self.docroot()
        for name, pk, sk, inst, extra in (
                ("nonce", PK, SECRET, "prod", ""),
                ("devnonce", DEV_PK, DEV_SECRET, "dev", "ClerkAuthorizedParties " + PARTY),
                ("devskew", DEV_PK, DEV_SECRET, "dev", "")):
            text += self.location(name, pk, inst, "ClerkSecretKey %s\n    %s" % (sk, extra))
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
    h = GuardHttpd(os.path.join(work, "nonce-guard"), minter, fake)
    h.start()
    yield h
    h.stop()


@pytest.fixture
def inst(fake):
    fake.reset()
    for i in fake.instances.values():
        i.mode = "signed-in"
        i.sub = "user_ng_" + secrets.token_hex(4)
    return fake.instances


def valid_nonce(fake, inst):
    """A nonce the fake Backend API will exchange for a signed-in visitor's cookies."""
    n = "ok_" + secrets.token_urlsafe(12)
    with fake.lock:
        fake.nonces[n] = fake.directives(inst)
    return n


def error_log(hs):
    with open(hs.error_log, errors="replace") as f:
        return f.read()


# ------------------------------------------------------------------------------- item 3
def test_post_and_non_document_requests_never_exchange_a_nonce(hs, fake, inst):
    n = valid_nonce(fake, inst["prod"])
    url = hs.base + "/nonce/env.cgi"
    cookie = "Cookie: __clerk_handshake_nonce=" + n
    cases = [
        curl(url, headers=DOC + (cookie,), method="POST", data="x=1"),
        curl(url, headers=("Sec-Fetch-Dest: empty", "Accept: */*", cookie)),
        curl(url + "?__clerk_handshake_nonce=" + n, headers=("Accept: application/json",)),
        curl(url, headers=("Sec-Fetch-Dest: image", cookie)),
    ]
    for r in cases:
        assert r.status == 401, r
        # decided by the cookie rules as if no nonce were there
        assert r.header("x-clerk-auth-reason") == "session-token-and-uat-missing", r
    assert fake.payload_calls() == []
    # the same nonce on a navigation is exchanged: it was a valid one all along
    r = curl(url, headers=DOC + (cookie,))
    assert r.status == 200 and r.json()["REMOTE_USER"] == inst["prod"].sub, r
    assert len(fake.payload_calls()) == 1


@pytest.mark.parametrize("nonce", ["a%20b", "%3Cscript%3E", "a%22b", "x" * 300, "caf%C3%A9",
                                   "a%25b"])
def test_malformed_nonce_makes_no_backend_api_call(hs, fake, inst, nonce):
    r = curl(hs.base + "/nonce/env.cgi?__clerk_handshake_nonce=" + nonce, headers=DOC)
    assert r.status == 401, r
    assert r.header("x-clerk-auth-reason") == "session-token-missing", r
    assert fake.payload_calls() == []


def test_malformed_nonce_cookie_makes_no_call_and_is_deleted(hs, fake, inst):
    r = curl(hs.base + "/nonce/env.cgi", headers=DOC + ("Cookie: __clerk_handshake_nonce=a!b",))
    assert r.status == 401, r
    assert "__clerk_handshake_nonce=; Path=/; Max-Age=0" in r.all("set-cookie"), r
    assert fake.payload_calls() == []


def test_repeated_failed_nonce_costs_one_call_and_each_answer_deletes_the_cookie(hs, fake, inst):
    n = "planted_" + secrets.token_urlsafe(9)  # unknown to the Backend API
    headers = DOC + ("Cookie: __clerk_handshake_nonce=" + n, "Host: app.shop.example.test")
    for _ in range(4):
        r = curl("http://127.0.0.1:%d/nonce/env.cgi" % hs.port, headers=headers)
        assert r.status == 401 and r.header("x-clerk-auth-reason") == "session-token-missing", r
        sc = r.all("set-cookie")
        assert "__clerk_handshake_nonce=; Path=/; Max-Age=0" in sc, r
        # the Domain= forms remove a cookie planted from a sibling subdomain
        assert "__clerk_handshake_nonce=; Path=/; Max-Age=0; Domain=shop.example.test" in sc, r
        assert "__clerk_handshake_nonce=; Path=/; Max-Age=0; Domain=example.test" in sc, r
    assert len(fake.payload_calls()) == 1
    assert "handshake nonce not exchanged (failed-before)" in error_log(hs)


def test_planted_nonce_cookie_signs_the_visitor_out_once_not_forever(hs, fake, inst, minter):
    b = Browser(hs.work)
    tok = minter.sign(minter.claims(azp=None))
    b.set_cookie("__session", tok)
    b.set_cookie("__client_uat", str(int(time.time()) - 10))
    b.set_cookie("__clerk_handshake_nonce", "planted_" + secrets.token_urlsafe(9))
    first = b.get(hs.base + "/nonce/env.cgi")
    assert first.status == 401, first  # as Clerk: a failed exchange is an empty payload
    assert "__clerk_handshake_nonce" not in b.cookies()
    second = b.get(hs.base + "/nonce/env.cgi")
    assert second.status == 200, second
    assert len(fake.payload_calls()) == 1


def test_burst_above_the_in_flight_bound_is_refused_without_calls(hs, fake, inst):
    bound = guard_constant("CLERK_NONCE_MAX_IN_FLIGHT")
    burst = bound + 6
    hold = threading.Event()
    fake.hold = hold
    procs = []
    try:
        for i in range(burst):
            cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "40"]
            for h in DOC + ("Cookie: __clerk_handshake_nonce=burst%d_%s" % (
                    i, secrets.token_hex(4)),):
                cmd += ["-H", h]
            procs.append(subprocess.Popen(cmd + [hs.base + "/nonce/env.cgi"],
                                          stdout=subprocess.PIPE, text=True))
        # bounded polling: every request either reached the held Backend API or was answered
        for _ in range(600):
            done = [p for p in procs if p.poll() is not None]
            if len(fake.payload_calls()) + len(done) >= burst:
                break
            time.sleep(0.05)
        done = [p for p in procs if p.poll() is not None]
        assert len(fake.payload_calls()) == bound, (len(fake.payload_calls()), len(done))
        assert len(done) == burst - bound
        assert all(p.stdout.read().strip() == "401" for p in done)
    finally:
        hold.set()
        for p in procs:
            p.wait(timeout=60)
    assert len(fake.payload_calls()) == bound
    assert "handshake nonce not exchanged (too-many-in-flight)" in error_log(hs)


def test_two_exchanges_reuse_one_backend_api_connection(hs, fake, inst):
    for _ in range(2):
        n = valid_nonce(fake, inst["prod"])
        r = curl(hs.base + "/nonce/env.cgi?__clerk_handshake_nonce=" + n, headers=DOC)
        assert r.status == 200, r
    assert len(fake.payload_conns) == 2
    assert fake.payload_conns[0] == fake.payload_conns[1], fake.payload_conns


# ------------------------------------------------------------------------------- item 5
def dev_get(hs, back):
    return curl(hs.base + "/devnonce/env.cgi?__clerk_redirect_url=" +
                urllib.parse.quote(back, safe=""),
                headers=DOC + ("Cookie: __clerk_db_jwt=dvb_secret_1",))


@pytest.mark.parametrize("back", ["https://evil.example/", "https://sat.example.test.evil.example/",
                                  "http://sat.example.test/", "https://evil.example\\@sat.example.test/"])
def test_dev_redirect_url_to_a_foreign_origin_is_not_followed(hs, fake, inst, back):
    r = dev_get(hs, back)
    assert r.status == 401, r
    assert r.header("location") is None, r
    assert r.header("x-clerk-auth-reason") == "primary-responds-to-syncing", r
    assert "dvb_secret_1" not in repr(r.headers)


def test_dev_redirect_url_to_own_origin_or_authorized_party_is_followed(hs, fake, inst):
    r = dev_get(hs, hs.base + "/back?x=1")
    assert r.status == 307, r
    assert r.header("location") == hs.base + "/back?x=1&__clerk_db_jwt=dvb_secret_1" \
        "&__clerk_synced=true", r
    r = dev_get(hs, PARTY + "/page")
    assert r.status == 307, r
    assert r.header("location") == PARTY + "/page?__clerk_db_jwt=dvb_secret_1&__clerk_synced=true"


def test_dev_skew_retry_never_signs_in(hs, fake, inst, minter):
    """Clerk hands back a token expired a minute ago (a clock a minute off): the day-of-skew
    retry names the clock problem in the log, and the visitor is never signed in by it."""
    inst["dev"].mode = "stale"
    b = Browser(hs.work)
    hops = b.browse(hs.base + "/devskew/env.cgi")
    assert all(h.status != 200 for h in hops), hops
    assert hops[-1].status == 401, hops
    assert len(fake.payload_calls()) >= 1
    assert "would pass with a day of clock skew" in error_log(hs)
