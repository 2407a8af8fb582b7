"""AuthType Clerk over HTTP/2 (mod_http2, event MPM): h2c with prior knowledge on a plain port
and h2 over TLS (ALPN, certificate from a test CA). The same decisions as HTTP/1.1: a Bearer
header and a __session cookie sign in, a bad token is 401 with the Bearer challenge, a document
request with a cookie but no __client_uat is the handshake redirect, and header names that look
like our exports never reach the application or a proxied back end. curl reports which HTTP
version it spoke, so a silent fall-back to HTTP/1.1 fails the test."""

import pytest

from conftest import FAPI_HOST
from protocols import ProtoHttpd, WsEcho, body_json, curl_h2, header

DOC = ["Accept: text/html,application/xhtml+xml", "Sec-Fetch-Dest: document"]
SPOOFS = ["X-Clerk-User-Id: user_evil", "x-remote-user: user_evil", "Remote-User: user_evil",
          "X-Clerk-Org-Role: user_evil", "clerk-user-id: user_evil"]


@pytest.fixture(scope="module")
def h2(work, minter, echo_backend):
    ws = WsEcho()
    h = ProtoHttpd(__import__("os").path.join(work, "http2"), minter, echo_backend, ws.port)
    h.start()
    yield h
    h.stop()
    ws.stop()


@pytest.fixture(params=["h2c", "h2"])
def base(request, h2):
    if request.param == "h2c":
        return "http://127.0.0.1:%d" % h2.port, None
    return "https://127.0.0.1:%d" % h2.tls_port, h2.ca


def get(base, path, headers=()):
    url, ca = base
    return curl_h2(url + path, headers, tls_ca=ca)


def test_bearer_header_signs_in_over_http2(base, minter):
    c = minter.claims()
    status, version, hdrs, body = get(base, "/env/env.cgi",
                                      ["Authorization: Bearer " + minter.sign(c)])
    assert (status, version) == (200, "2"), (status, version, hdrs, body)
    env = body_json(body)
    assert env["REMOTE_USER"] == c["sub"] and env["AUTH_TYPE"] == "Clerk", env


def test_session_cookie_signs_in_over_http2(base, minter):
    c = minter.claims()
    status, version, hdrs, body = get(
        base, "/env/env.cgi", ["Cookie: __session=%s; __client_uat=%d" % (minter.sign(c), c["iat"])])
    assert (status, version) == (200, "2"), (status, version, hdrs, body)
    assert body_json(body)["REMOTE_USER"] == c["sub"]


def test_bad_token_is_401_with_the_bearer_challenge_over_http2(base, minter):
    status, version, hdrs, body = get(base, "/env/env.cgi",
                                      ["Authorization: Bearer " + minter.sign(key="other")])
    assert (status, version) == (401, "2"), (status, version, hdrs)
    assert header(hdrs, "x-clerk-auth-status") == "signed-out", hdrs
    assert header(hdrs, "x-clerk-auth-reason") == "token-invalid-signature", hdrs
    www = header(hdrs, "www-authenticate")
    assert www.startswith("Bearer ") and 'error="invalid_token"' in www, hdrs
    status, version, hdrs, body = get(base, "/env/env.cgi")
    assert (status, version) == (401, "2") and "error=" not in header(hdrs, "www-authenticate")


def test_handshake_redirect_over_http2(base, minter):
    status, version, hdrs, body = get(base, "/env/env.cgi",
                                      DOC + ["Cookie: __session=" + minter.sign()])
    assert (status, version) == (307, "2"), (status, version, hdrs)
    assert header(hdrs, "x-clerk-auth-status") == "handshake", hdrs
    assert header(hdrs, "x-clerk-auth-reason") == "session-token-but-no-client-uat", hdrs
    loc = header(hdrs, "location")
    assert loc.startswith("https://%s/v1/client/handshake?redirect_url=" % FAPI_HOST), loc
    assert header(hdrs, "cache-control") == "no-store", hdrs


def test_spoofed_headers_are_scrubbed_over_http2(base, minter):
    c = minter.claims()
    tok = "Authorization: Bearer " + minter.sign(c)
    # The application (CGI) and a proxied back end each see only what the token says.
    status, version, hdrs, body = get(base, "/env/env.cgi", SPOOFS + [tok])
    assert (status, version) == (200, "2"), (status, version, hdrs)
    env = body_json(body)
    assert "user_evil" not in body and env["REMOTE_USER"] == c["sub"], env
    status, version, hdrs, body = get(base, "/hdr/x", SPOOFS + [tok])
    assert (status, version) == (200, "2"), (status, version, hdrs)
    seen = body_json(body)["headers"]
    assert not [h for h in seen if "user_evil" in h[1]], seen
    assert [v for k, v in seen if k.lower() == "x-clerk-user-id"] == [c["sub"]], seen
    # Signed out: the spoofs are scrubbed from the 401 path too (nothing reaches the back end,
    # and the CGI is never run).
    status, version, hdrs, body = get(base, "/hdr/x", SPOOFS)
    assert (status, version) == (401, "2") and "user_evil" not in body, (status, body)
