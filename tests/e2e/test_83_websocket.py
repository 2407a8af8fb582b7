"""A WebSocket through httpd (mod_proxy_wstunnel, `ProxyPass /ws/ ws://...`) under AuthType
Clerk: the opening handshake is an ordinary GET, decided like any other request. A Bearer header
or a __session cookie lets the upgrade through (101, frames echoed by the back end, which sees
the user's X-Clerk-User-Id from ClerkPassClaimsAs headers and never a client's look-alike);
without a token, or with a bad one, it is 401 and the back end never hears of the connection."""

import os

import pytest

from protocols import ProtoHttpd, WsEcho, ws_client


@pytest.fixture(scope="module")
def ws():
    srv = WsEcho()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def h(work, minter, echo_backend, ws):
    srv = ProtoHttpd(os.path.join(work, "websocket"), minter, echo_backend, ws.port)
    srv.start()
    yield srv
    srv.stop()


def status_of(line):
    return int(line.split()[1])


def test_upgrade_with_bearer_header(h, ws, minter):
    c = minter.claims()
    line, hdrs, echoed = ws_client(h.port, "/ws/echo", ["Authorization: Bearer " + minter.sign(c)])
    assert status_of(line) == 101, (line, hdrs)
    assert echoed == "%s|hello" % c["sub"], echoed


def test_upgrade_with_session_cookie(h, ws, minter):
    c = minter.claims()
    line, hdrs, echoed = ws_client(
        h.port, "/ws/echo", ["Cookie: __session=%s; __client_uat=%d" % (minter.sign(c), c["iat"])])
    assert status_of(line) == 101, (line, hdrs)
    assert echoed == "%s|hello" % c["sub"], echoed


@pytest.mark.parametrize("headers,presented", [
    ([], False),
    (["X-Clerk-User-Id: user_evil"], False),
    (["Cookie: __client_uat=0"], False),
    (["Authorization: Bearer not-a-token"], True),
])
def test_upgrade_refused_without_a_valid_token(h, ws, minter, headers, presented):
    before = ws.count()
    line, hdrs, echoed = ws_client(h.port, "/ws/echo", headers)
    assert status_of(line) == 401 and echoed is None, (line, hdrs)
    d = {k.lower(): v for k, v in hdrs}
    assert d["x-clerk-auth-status"] == "signed-out", hdrs
    assert d["www-authenticate"].startswith("Bearer "), hdrs
    assert ('error="invalid_token"' in d["www-authenticate"]) == presented, hdrs
    assert ws.count() == before


def test_upgrade_refused_with_a_forged_token(h, ws, minter):
    before = ws.count()
    line, hdrs, echoed = ws_client(h.port, "/ws/echo",
                                   ["Authorization: Bearer " + minter.sign(key="other")])
    assert status_of(line) == 401 and echoed is None, (line, hdrs)
    assert ws.count() == before


def test_spoofed_identity_never_reaches_the_websocket_back_end(h, ws, minter):
    c = minter.claims()
    line, hdrs, echoed = ws_client(h.port, "/ws/echo", [
        "X-Clerk-User-Id: user_evil", "X_Clerk_User_Id: user_evil", "Remote-User: user_evil",
        "Authorization: Bearer " + minter.sign(c)])
    assert status_of(line) == 101, (line, hdrs)
    assert echoed == "%s|hello" % c["sub"], echoed
    _, seen = ws.handshakes[-1]
    assert not [v for k, v in seen if "user_evil" in v], seen
