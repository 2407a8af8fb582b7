"""What a signed-out request gets (docs/design.md#signed-out-actions, #preflight, #public-url)."""

from urllib.parse import parse_qs, urlsplit

from conftest import SIGN_IN_URL
from helpers import signed_in, signed_out


# ------------------------------------------------------------------------ ClerkUnauthAction
def test_pass_lets_anonymous_visitors_through_marked_signed_out(get):
    r = get("/pass/env.cgi")
    assert r.status == 200, r
    env = r.json()
    assert env["CLERK_AUTH_STATUS"] == "signed-out"
    assert env["CLERK_AUTH_REASON"] == "session-token-and-uat-missing"
    assert "REMOTE_USER" not in env
    assert "CLERK_USER_ID" not in env


def test_pass_signs_in_a_token_holder_on_the_same_page(get, minter):
    c = minter.claims()
    r = get("/pass/env.cgi", token=minter.sign(c))
    assert r.status == 200, r
    env = r.json()
    assert env["REMOTE_USER"] == c["sub"]
    assert env["AUTH_TYPE"] == "Clerk"
    assert env["CLERK_AUTH_STATUS"] == "signed-in"
    assert env["CLERK_USER_ID"] == c["sub"]


def test_pass_with_a_bad_token_goes_on_anonymously_with_the_reason(get, minter):
    r = get("/pass/env.cgi", token=minter.sign(key="other"))
    assert r.status == 200, r
    env = r.json()
    assert env["CLERK_AUTH_STATUS"] == "signed-out"
    assert env["CLERK_AUTH_REASON"] == "token-invalid-signature"
    assert "REMOTE_USER" not in env


def test_pass_with_require_valid_user_behaves_like_auth(get, minter):
    signed_out(get("/pass-vu/env.cgi"), "session-token-and-uat-missing", presented=False,
               realm=None)
    c = minter.claims()
    assert signed_in(get("/pass-vu/env.cgi", token=minter.sign(c)))["REMOTE_USER"] == c["sub"]


def status_only(r, status, reason):
    assert r.status == status, r
    assert r.header("www-authenticate") is None, r
    assert r.header("x-clerk-auth-status") == "signed-out", r
    assert r.header("x-clerk-auth-reason") == reason, r


def test_unauth_action_401_is_that_status_only(get):
    status_only(get("/u401/env.cgi"), 401, "session-token-and-uat-missing")


def test_unauth_action_403(get, minter):
    status_only(get("/u403/env.cgi", token=minter.sign(alg="none")), 403,
                "token-invalid-algorithm")


def test_unauth_action_404(get):
    status_only(get("/u404/env.cgi"), 404, "session-token-and-uat-missing")


def test_unauth_actions_still_sign_in_valid_tokens(get, minter):
    for loc in ("u401", "u403", "u404"):
        c = minter.claims()
        assert signed_in(get("/%s/env.cgi" % loc, token=minter.sign(c)))["REMOTE_USER"] == c["sub"]


# ------------------------------------------------------------------------ sign-in redirect
def redirect_url(r):
    assert r.status == 307, r
    loc = r.header("location")
    assert loc.startswith(SIGN_IN_URL + "?"), loc
    return parse_qs(urlsplit(loc).query)["redirect_url"][0]


def test_document_request_is_redirected_to_sign_in(get, httpd):
    r = get("/signin/env.cgi?x=1&y=two", headers=["Accept: text/html,*/*;q=0.8"])
    assert redirect_url(r) == "%s/signin/env.cgi?x=1&y=two" % httpd.base
    assert r.header("x-clerk-auth-status") == "signed-out"
    assert r.header("x-clerk-auth-reason") == "session-token-and-uat-missing"


def test_sec_fetch_dest_document_is_redirected_whatever_accept(get, httpd):
    r = get("/signin/env.cgi", headers=["Accept: */*", "Sec-Fetch-Dest: document"])
    assert redirect_url(r) == "%s/signin/env.cgi" % httpd.base


def test_token_without_user_claim_is_sent_to_sign_in_with_its_url(get, httpd, minter):
    tok = minter.sign(minter.claims())
    r = get("/signin-userclaim/env.cgi?a=1", token=tok, headers=["Accept: text/html"])
    assert redirect_url(r) == "%s/signin-userclaim/env.cgi?a=1" % httpd.base
    assert r.header("x-clerk-auth-reason") == "token-verification-failed"


def test_api_request_in_sign_in_location_still_gets_401(get):
    r = get("/signin/env.cgi", headers=["Accept: application/json"])
    signed_out(r, "session-token-and-uat-missing", presented=False, realm=None)
    r = get("/signin/env.cgi", headers=["Accept: text/html", "Sec-Fetch-Dest: empty"])
    signed_out(r, "session-token-and-uat-missing", presented=False, realm=None)


def test_post_with_html_accept_is_not_a_document_request(get):
    r = get("/signin/env.cgi", method="POST", data="a=1", headers=["Accept: text/html"])
    signed_out(r, "session-token-and-uat-missing", presented=False, realm=None)


def test_forwarded_headers_ignored_unless_trusted(get, httpd):
    fwd = ["Accept: text/html", "X-Forwarded-Proto: https", "X-Forwarded-Host: app.example.test"]
    assert redirect_url(get("/signin/env.cgi", headers=fwd)) == "%s/signin/env.cgi" % httpd.base
    assert redirect_url(get("/signin-fwd/env.cgi?q=1", headers=fwd)) == \
        "https://app.example.test/signin-fwd/env.cgi?q=1"


# ---------------------------------------------------------------------------------- CORS
def test_cors_preflight_is_not_challenged(get):
    r = get("/api/env.cgi", method="OPTIONS",
            headers=["Origin: https://app.example.test",
                     "Access-Control-Request-Method: GET",
                     "Access-Control-Request-Headers: authorization"])
    assert r.status in (200, 204), r
    assert r.header("www-authenticate") is None, r
    assert r.header("access-control-allow-origin") == "https://app.example.test", r
    assert "Authorization" in (r.header("access-control-allow-headers") or ""), r


def test_cross_origin_get_with_bearer_is_accepted(get, minter):
    c = minter.claims()
    r = get("/api/env.cgi", token=minter.sign(c), headers=["Origin: https://app.example.test"])
    assert signed_in(r)["REMOTE_USER"] == c["sub"]
    assert r.header("access-control-allow-origin") == "https://app.example.test"


def test_options_without_preflight_headers_is_still_authenticated(get):
    r = get("/api/env.cgi", method="OPTIONS", headers=["Origin: https://app.example.test"])
    signed_out(r, "session-token-and-uat-missing", presented=False, realm=None)


# ------------------------------------------------------------- state headers everywhere
def test_every_signed_out_response_carries_state_headers(get, minter):
    cases = [
        ("/main/env.cgi", [], None),
        ("/main/env.cgi", ["Cookie: __client_uat=0"], None),
        ("/main/env.cgi", [], minter.sign(key="other")),
        ("/jwks/env.cgi", [], minter.sign(header={"kid": "nope"})),
        ("/pass/env.cgi", [], None),
        ("/u401/env.cgi", [], None),
        ("/u403/env.cgi", [], None),
        ("/u404/env.cgi", [], None),
        ("/signin/env.cgi", ["Accept: text/html"], None),
        ("/small/env.cgi", [], "a.b"),
        ("/hta/env.cgi", [], None),
    ]
    for path, hdrs, tok in cases:
        r = get(path, token=tok, headers=hdrs)
        assert r.header("x-clerk-auth-status") == "signed-out", (path, r)
        assert r.header("x-clerk-auth-reason"), (path, r)


def test_forwarded_headers_take_first_value_and_cloudfront_proto(get):
    fwd = ["Accept: text/html", "CloudFront-Forwarded-Proto: https", "X-Forwarded-Proto: http",
           "X-Forwarded-Host: app.example.test, proxy.internal"]
    assert redirect_url(get("/signin-fwd/env.cgi", headers=fwd)) == \
        "https://app.example.test/signin-fwd/env.cgi"


def test_realm_is_a_valid_quoted_string(get):
    """AuthName's quotes are escaped (as httpd's own Basic challenge does) and a trailing
    backslash is doubled, so it cannot swallow the closing quote of the challenge."""
    r = get("/realm-escape/env.cgi")
    assert r.status == 401, r
    assert r.header("www-authenticate") == r'Bearer realm="say \"hi\" back\slash\\"', \
        r.header("www-authenticate")
