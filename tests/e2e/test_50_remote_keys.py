"""Keys from Clerk (docs/design.md#key-sources): a location with only ClerkPublishableKey +
ClerkSecretKey fetches the JWKS from the Backend API (a real TLS server on loopback with a test
CA), follows rotation, spends one fetch per ClerkJWKSMinRefresh on a flood of unknown kids, keeps
the last good keys through faults up to ClerkJWKSMaxStale, then fails closed; never hangs past the
fetch timeout. Fetch counts come from the JWKS server's own access log.

The tests in this file run in order against one module instance and one JWKS server (marked
in_order, so a shuffled run keeps it)."""

import datetime
import os
import re
import secrets
import threading
import time

import pytest

from conftest import curl
from helpers import jwks_location, signed_out
from jwks_server import (ROTATED_KID, SECRETS, SLOW_S, ModuleHttpd, jwks_server,  # noqa: F401
                         protected)

pytestmark = pytest.mark.in_order

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
    {wk}
</VirtualHost>
<VirtualHost 127.0.0.1:{uport}>
    # No ClerkCABundle: the test CA is not trusted here. Its own cache, to show the scope.
    ClerkCache "shmcb:{w}/run/untrusted-cache(256000)"
    {u}
</VirtualHost>
""".format(uport=h.untrusted_port, port=h.port, api=jwks_server.base, refresh=REFRESH,
           minr=MIN_REFRESH, stale=MAX_STALE, c=CONNECT_S, t=TOTAL_S, ca=jwks_server.ca,
           p=protected("/p/", "A"), u=protected("/u/", "U"), w=h.work,
           wk=jwks_location("/wk/", jwks_server.base + "/.well-known/jwks.json"))
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


def log_seconds(line):
    """The JWKS server's %t of an access-log line, as epoch seconds."""
    m = re.search(r"\[(\d+/\w+/\d+:\d+:\d+:\d+ [+-]\d{4})\]", line)
    return datetime.datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z").timestamp()


def test_flood_of_unknown_kids_costs_one_fetch_per_min_refresh(mod, jwks_server, minter):
    """A bounded flood (4 x 25 requests, each with a new unknown kid). However slow the host,
    the fetches it caused arrive at the JWKS server at least ClerkJWKSMinRefresh apart, by
    the server's own log: the events are checked, not the test's clock."""
    wait_min_refresh()
    before = len(jwks_server.fetches("A"))
    toks = [unknown_kid(minter) for _ in range(100)]
    codes = []

    def flood(i):
        for n in range(25):
            codes.append(req(mod, "/p/hello.txt", toks[i * 25 + n]).status)

    threads = [threading.Thread(target=flood, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    fetched = jwks_server.fetches("A")[before:]
    assert len(codes) == 100 and set(codes) == {401}, (len(codes), set(codes))
    assert 1 <= len(fetched) < len(codes), fetched
    # The server logs whole seconds: two fetches MIN_REFRESH apart are at least MIN_REFRESH - 1
    # apart in its log.
    gaps = [log_seconds(b) - log_seconds(a) for a, b in zip(fetched, fetched[1:])]
    assert all(g >= MIN_REFRESH - 1 for g in gaps), (gaps, fetched)
    print("flood: %d requests with unknown kids cost %d fetches, gaps %s s" % (
        len(codes), len(fetched), gaps))
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


def poll(cond, tries=200, pause=0.1):
    """Bounded polling for an event: True as soon as cond() is."""
    for _ in range(tries):
        if cond():
            return True
        time.sleep(pause)
    return bool(cond())


def test_slow_server_never_holds_a_request_past_the_timeout(mod, jwks_server, minter):
    """Events, not the test's clock: the JWKS server records when the slow fetch arrived and
    when it answered (8 s later, four times ClerkFetchTimeout's 2 s). A valid token is answered while that fetch is in flight,
    and the request that needs the refresh gets its 401 before the server has answered."""
    wait_min_refresh()
    jwks_server.reset_slow_events(8)
    jwks_server.set_state("slow")
    out = {}

    def slow():
        out["r"] = req(mod, "/p/hello.txt", unknown_kid(minter))
        out["events"] = jwks_server.slow_events()

    t = threading.Thread(target=slow)
    try:
        t.start()
        assert poll(lambda: "start" in jwks_server.slow_events()), jwks_server.slow_events()
        # Meanwhile a valid token is answered: nobody waits for the refresh lock.
        assert req(mod, "/p/hello.txt", minter.sign()).status == 200
        assert t.is_alive() or "done" not in out.get("events", []), out
        t.join(40)
        assert not t.is_alive()
        assert out["events"] == ["start"], out
        signed_out(out["r"], "jwk-remote-failed-to-load", realm=None)
        # The slow answer ends before the next test, which stops this server and reads its log.
        assert poll(lambda: "done" in jwks_server.slow_events(), tries=300), jwks_server.slow_events()
    finally:
        jwks_server.reset_slow_events(SLOW_S)
        jwks_server.set_state("rotated")
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
    # The newest fetch by its start time (a slow fetch of an earlier test may be logged later).
    good_at = max(log_seconds(l) for l in jwks_server.fetches("A"))
    failed_lines = mod.log_text().count("JWKS refresh failed")
    jwks_server.down()
    try:
        # Served from the last good keys while they are young (by the JWKS server's record of
        # the fetch; the loop stops early on a slow host rather than assert on a late answer).
        sent = 0
        for _ in range(10):
            if time.time() - good_at >= MAX_STALE - 3:
                break
            r = req(mod, "/p/hello.txt", unknown_kid(minter))
            assert r.status == 401, r
            assert req(mod, "/p/hello.txt", minter.sign()).status == 200
            signed_out(req(mod, "/p/hello.txt", minter.sign(key="other")),
                       "token-invalid-signature", realm=None)
            sent += 3
            time.sleep(0.3)
        assert sent >= 3
        # Then, by bounded polling, the keys are too old and every token fails closed.
        assert poll(lambda: req(mod, "/p/hello.txt", minter.sign()).status == 401,
                    tries=MAX_STALE * 4, pause=0.5), mod.tail()
        for tok in (minter.sign(), minter.sign(key="other"), unknown_kid(minter)):
            signed_out(req(mod, "/p/hello.txt", tok), "jwk-remote-failed-to-load", realm=None)
        # Failures are logged per fetch attempt, not per request: fewer lines than requests
        # that asked for keys, and attempts at least ClerkJWKSMinRefresh apart by the log's
        # own timestamps.
        lines = [l for l in mod.log_text().splitlines() if "JWKS refresh failed" in l]
        lines = lines[failed_lines:]
        assert 1 <= len(lines) < sent + 3, (len(lines), sent)
        stamps = [datetime.datetime.strptime(re.match(r"\[\w+ (\w+ \d+ [\d:.]+ \d+)\]", l).group(1),
                                             "%b %d %H:%M:%S.%f %Y").timestamp() for l in lines]
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        # The module keeps its refresh times in whole seconds: two attempts MIN_REFRESH apart
        # by its clock are more than MIN_REFRESH - 1 s apart in real time.
        assert all(g > MIN_REFRESH - 1 for g in gaps), gaps
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
