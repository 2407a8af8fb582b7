"""Keys from Clerk (docs/design.md#key-sources): a location with only ClerkPublishableKey +
ClerkSecretKey fetches the JWKS from the Backend API (a real TLS server on loopback with a test
CA), follows rotation, spends one fetch per ClerkJWKSMinRefresh on a flood of unknown kids, keeps
the last good keys through faults up to ClerkJWKSMaxStale, then fails closed; never hangs past the
fetch timeout. Fetch counts come from the JWKS server's own access log.

The tests in this file run in order against one module instance and one JWKS server."""

import math
import os
import secrets
import threading
import time

import pytest

from conftest import curl
from helpers import signed_out
from jwks_server import (ROTATED_KID, SECRETS, ModuleHttpd, jwks_server,  # noqa: F401
                         protected)

MIN_REFRESH = 2
REFRESH = 4
MAX_STALE = 15
CONNECT_S, TOTAL_S = 1, 2
API_VERSION = "2026-05-12"  # CLERK_JWKS_API_VERSION


@pytest.fixture(scope="module")
def mod(work, jwks_server):
    h = ModuleHttpd(os.path.join(work, "mod-remote"))
    h.untrusted_port = __import__("conftest").free_port()
    body = """Listen 127.0.0.1:{uport}
ClerkAPIURL {api}
ClerkJWKSRefresh {refresh}
ClerkJWKSMinRefresh {minr}
ClerkJWKSMaxStale {stale}
ClerkFetchTimeout {c} {t}
<VirtualHost 127.0.0.1:{port}>
    ClerkCABundle "{ca}"
    {p}
    <Location /wk/>
        AuthType Clerk
        AuthName clerk-e2e
        ClerkPublishableKey {pk}
        ClerkJWKSURL {api}/.well-known/jwks.json
        Require valid-user
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:{uport}>
    # No ClerkCABundle: the test CA is not trusted here. Its own cache, to show the scope.
    ClerkCache "shmcb:{w}/run/untrusted-cache(256000)"
    {u}
</VirtualHost>
""".format(uport=h.untrusted_port, port=h.port, api=jwks_server.base, refresh=REFRESH,
           minr=MIN_REFRESH, stale=MAX_STALE, c=CONNECT_S, t=TOTAL_S, ca=jwks_server.ca,
           p=protected("/p/", "A"), u=protected("/u/", "U"), w=h.work,
           pk=__import__("conftest").PK)
    h.configure(body)
    h.start()
    yield h
    h.stop()


def req(mod, path, token, port=None):
    port = port or mod.port
    return curl("http://127.0.0.1:%d%s" % (port, path), ["Authorization: Bearer " + token])


def wait_min_refresh():
    time.sleep(MIN_REFRESH + 0.3)


def unknown_kid(minter):
    return minter.sign(header={"kid": "ins_unknown_" + secrets.token_hex(4)})


def wait_fetches(srv, label, n, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline and len(srv.fetches(label)) < n:
        time.sleep(0.1)
    return len(srv.fetches(label))


def test_valid_token_with_only_publishable_and_secret_key(mod, jwks_server, minter):
    # Preloaded at startup: the first request needs no fetch of its own.
    assert wait_fetches(jwks_server, "A", 1) == 1, jwks_server.lines()
    r = req(mod, "/p/hello.txt", minter.sign())
    assert r.status == 200 and r.body == "hello\n", r
    assert len(jwks_server.fetches("A")) == 1
    line = jwks_server.fetches("A")[0]
    # The Backend API got the secret key as Bearer and the API version (the log names which key
    # by label only) and our User-Agent.
    assert " 200 auth=A ver=%s " % API_VERSION in line, line
    assert 'ua="mod_clerk_auth/' in line, line
    # A token signed by another key with the same kid is still refused.
    forged = minter.sign(key="other")
    signed_out(req(mod, "/p/hello.txt", forged), "token-invalid-signature", realm=None)


def test_frontend_jwks_url_is_fetched_without_the_secret(mod, jwks_server, minter):
    r = req(mod, "/wk/hello.txt", minter.sign())
    assert r.status == 200, r
    wk = jwks_server.fetches(path="/.well-known/jwks.json")
    assert len(wk) == 1, wk
    assert " auth=- " in wk[0] and " ver=- " in wk[0], wk


def test_untrusted_certificate_fails_closed(mod, jwks_server, minter):
    r = req(mod, "/u/hello.txt", minter.sign(), port=mod.untrusted_port)
    signed_out(r, "jwk-remote-failed-to-load", realm=None)
    # The TLS handshake failed: the JWKS server never answered that key.
    assert jwks_server.fetches("U") == []
    assert mod.wait_log("JWKS refresh failed"), mod.tail()


def test_rotation_needs_exactly_one_fetch(mod, jwks_server, minter):
    wait_min_refresh()
    jwks_server.set_state("rotated")
    before = len(jwks_server.fetches("A"))
    new = minter.sign(key="other", header={"kid": ROTATED_KID})
    r = req(mod, "/p/hello.txt", new)
    assert r.status == 200, r
    assert len(jwks_server.fetches("A")) == before + 1
    # The old key is still in the set; neither token costs another fetch.
    for tok in (minter.sign(), new, minter.sign(key="other", header={"kid": ROTATED_KID})):
        assert req(mod, "/p/hello.txt", tok).status == 200
    assert len(jwks_server.fetches("A")) == before + 1


def test_flood_of_unknown_kids_costs_one_fetch_per_min_refresh(mod, jwks_server, minter):
    wait_min_refresh()
    before = len(jwks_server.fetches("A"))
    toks = [unknown_kid(minter) for _ in range(40)]
    codes = []
    start = time.time()
    duration = 5.0

    def flood(i):
        n = 0
        while time.time() - start < duration:
            codes.append(req(mod, "/p/hello.txt", toks[(i * 7 + n) % len(toks)]).status)
            n += 1

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.time() - start
    spent = len(jwks_server.fetches("A")) - before
    assert len(codes) >= 20 and set(codes) == {401}, (len(codes), set(codes))
    assert 1 <= spent <= math.ceil(elapsed / MIN_REFRESH) + 1, (spent, elapsed, len(codes))
    print("flood: %d requests with unknown kids in %.1fs cost %d fetches" % (
        len(codes), elapsed, spent))
    r = req(mod, "/p/hello.txt", unknown_kid(minter))
    assert r.header("x-clerk-auth-reason") in ("jwk-kid-mismatch",), r


@pytest.mark.parametrize("state,log_needle", [
    ("500", "code=500"),
    ("garbage", "JWKS does not parse"),
    ("huge", "Error loading Clerk JWKS"),
])
def test_fault_keeps_last_good_keys(mod, jwks_server, minter, state, log_needle):
    wait_min_refresh()
    jwks_server.set_state(state)
    before = len(jwks_server.fetches("A"))
    r = req(mod, "/p/hello.txt", unknown_kid(minter))
    signed_out(r, "jwk-remote-failed-to-load", realm=None)
    assert wait_fetches(jwks_server, "A", before + 1) == before + 1
    assert mod.wait_log(log_needle), mod.tail()
    # The last good set still serves; a forgery is still refused.
    assert req(mod, "/p/hello.txt", minter.sign()).status == 200
    signed_out(req(mod, "/p/hello.txt", minter.sign(key="other")), "token-invalid-signature",
               realm=None)
    jwks_server.set_state("rotated")


def test_slow_server_never_holds_a_request_past_the_timeout(mod, jwks_server, minter):
    wait_min_refresh()
    jwks_server.set_state("slow")
    out = {}

    def slow():
        t0 = time.time()
        out["r"] = req(mod, "/p/hello.txt", unknown_kid(minter))
        out["t"] = time.time() - t0

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)
    # Meanwhile a valid token is answered at once: nobody waits for the refresh lock.
    t0 = time.time()
    assert req(mod, "/p/hello.txt", minter.sign()).status == 200
    assert time.time() - t0 < 1.5
    t.join(30)
    assert out["t"] < TOTAL_S + 3, out
    signed_out(out["r"], "jwk-remote-failed-to-load", realm=None)
    assert mod.wait_log("Timeout was reached") or mod.wait_log("timed out"), mod.tail()
    jwks_server.set_state("rotated")


def test_rejected_secret_key_is_logged_naming_the_directive(mod, jwks_server, minter):
    wait_min_refresh()
    jwks_server.set_state("keyinvalid")
    r = req(mod, "/p/hello.txt", unknown_kid(minter))
    assert r.status == 401, r
    assert r.header("x-clerk-auth-reason") in ("secret-key-invalid", "jwk-remote-failed-to-load")
    assert mod.wait_log("ClerkSecretKey was rejected"), mod.tail()
    log = mod.log_text()
    assert SECRETS["A"] not in log and SECRETS["A"][8:] not in log
    jwks_server.set_state("rotated")


def test_outage_serves_last_good_keys_until_max_stale(mod, jwks_server, minter):
    # A fresh good set, then the server goes away.
    wait_min_refresh()
    before = len(jwks_server.fetches("A"))
    assert req(mod, "/p/hello.txt", unknown_kid(minter)).status == 401
    assert len(jwks_server.fetches("A")) == before + 1
    t_good = time.time()
    failed_lines = mod.log_text().count("JWKS refresh failed")
    jwks_server.down()
    try:
        n = 0
        while time.time() - t_good < MAX_STALE - 2:
            r = req(mod, "/p/hello.txt", minter.sign())
            assert r.status == 200, (time.time() - t_good, r)
            signed_out(req(mod, "/p/hello.txt", minter.sign(key="other")),
                       "token-invalid-signature", realm=None)
            n += 1
            time.sleep(0.3)
        assert n > 10
        time.sleep(max(0.0, t_good + MAX_STALE + 1.5 - time.time()))
        for tok in (minter.sign(), minter.sign(key="other"), unknown_kid(minter)):
            signed_out(req(mod, "/p/hello.txt", tok), "jwk-remote-failed-to-load", realm=None)
        # Failures are logged per fetch attempt, not per request.
        spent = time.time() - t_good
        logged = mod.log_text().count("JWKS refresh failed") - failed_lines
        assert 1 <= logged <= math.ceil(spent / MIN_REFRESH) + 1, (logged, spent)
    finally:
        jwks_server.set_state("good")
        jwks_server.start()
    # Back: the next attempt (at most MIN_REFRESH later) brings the keys back.
    deadline = time.time() + MIN_REFRESH + 5
    while time.time() < deadline:
        if req(mod, "/p/hello.txt", minter.sign()).status == 200:
            break
        time.sleep(0.3)
    else:
        pytest.fail("keys did not come back after the outage")
