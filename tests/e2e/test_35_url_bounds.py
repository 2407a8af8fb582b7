"""URLs past the module's bounds (8192 bytes, 1024 query parameters) get no redirect: the
request is answered as signed out with the reason the redirect would have carried
(README: Responses)."""

from helpers import handshake, signed_out

DOC = ["Accept: text/html,application/xhtml+xml", "Sec-Fetch-Dest: document"]
TOO_LONG = ("Clerk: the request URL is longer than 8192 bytes or has more than 1024 query "
            "parameters; answered as signed-out without a redirect")


def params(n):
    return "&".join("a" for _ in range(n))


def log_count(httpd):
    with open(httpd.error_log, errors="replace") as f:
        return f.read().count(TOO_LONG)


def test_handshake_up_to_the_parameter_bound_then_signed_out(get, httpd):
    r = get("/main/env.cgi?" + params(1024), cookie="__client_uat=1", headers=DOC)
    handshake(r, "client-uat-but-no-session-token")
    before = log_count(httpd)
    r = get("/main/env.cgi?" + params(1025), cookie="__client_uat=1", headers=DOC)
    signed_out(r, "client-uat-but-no-session-token", presented=False)
    assert r.header("location") is None, r
    assert r.all("set-cookie") == [], r
    assert log_count(httpd) == before + 1


def test_handshake_up_to_the_length_bound_then_signed_out(get, httpd):
    # "http://127.0.0.1:<port>" + "/main/env.cgi?" + "x" * n: the public URL is the Host the
    # client sent, so the query length that reaches 8192 bytes is known exactly.
    head = len("http://127.0.0.1:%d/main/env.cgi?" % httpd.port)
    r = get("/main/env.cgi?" + "x" * (8192 - head), cookie="__client_uat=1", headers=DOC)
    handshake(r, "client-uat-but-no-session-token")
    r = get("/main/env.cgi?" + "x" * (8193 - head), cookie="__client_uat=1", headers=DOC)
    signed_out(r, "client-uat-but-no-session-token", presented=False)


def test_sign_in_redirect_up_to_the_bound_then_401(get):
    r = get("/signin/env.cgi?" + params(1024), headers=["Accept: text/html"])
    assert r.status == 307, r
    assert r.header("location").endswith("%26a%26a"), r
    r = get("/signin/env.cgi?" + params(1025), headers=["Accept: text/html"])
    signed_out(r, "session-token-and-uat-missing", presented=False, realm=None)
    assert r.header("location") is None, r
