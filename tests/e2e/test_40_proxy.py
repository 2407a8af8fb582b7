"""Header scrubbing and claims as headers, seen by a raw reverse-proxied back end
(docs/design.md#header-scrubbing).
CGI drops header names with '_', so only a raw back end shows what really got through."""

import json
import re

from helpers import b64url_json, signed_out

SPOOFS = [
    "X-Clerk-User-Id: user_evil",
    "X_Clerk_User_Id: user_evil",
    "Clerk-User-Id: user_evil",
    "clerk_user_id: user_evil",
    "Remote-User: user_evil",
    "X-Remote-User: user_evil",
    "X_Remote_User: user_evil",
    "Remote_User: user_evil",
    "Auth-Type: user_evil",
    "X-Auth-Type: user_evil",
    "Clerk-Org-Id: user_evil",
    "X-Clerk-Org-Role: user_evil",
    "X-CLERK-CLAIMS: user_evil",
    "X-Clerk-Auth-Status: user_evil",
    "X-Clerk-Anything-New: user_evil",
]


def norm(name):
    n = re.sub(r"[-_]", "_", name.upper())
    return n[2:] if n.startswith("X_") else n


def reserved(name):
    n = norm(name)
    return n in ("REMOTE_USER", "AUTH_TYPE") or n.startswith("CLERK_")


def backend(r):
    assert r.status == 200, r
    return r.json()["headers"]


def values(hdrs, name):
    return [v for k, v in hdrs if k.lower() == name.lower()]


def test_spoofed_headers_never_reach_the_back_end_and_claims_are_passed(get, minter, httpd):
    c = minter.claims(v=2, o={"id": "org_7", "slg": "acme", "rol": "admin"})
    r = get("/hdr/x", token=minter.sign(c), headers=SPOOFS, port=httpd.proxy_port)
    hdrs = backend(r)
    assert not [h for h in hdrs if "user_evil" in h[1]], hdrs
    assert values(hdrs, "X-Clerk-User-Id") == [c["sub"]], hdrs
    assert values(hdrs, "X-Remote-User") == [c["sub"]], hdrs
    assert values(hdrs, "X-Auth-Type") == ["Clerk"], hdrs
    assert values(hdrs, "X-Clerk-Org-Id") == ["org_7"], hdrs
    assert values(hdrs, "X-Clerk-Org-Role") == ["org:admin"], hdrs
    assert values(hdrs, "X-Clerk-Token-Source") == ["header"], hdrs
    claims = values(hdrs, "X-Clerk-Claims")
    assert len(claims) == 1 and b64url_json(claims[0]) == c, hdrs


def test_every_reserved_name_received_is_one_the_module_set(get, minter, httpd):
    c = minter.claims()
    hdrs = backend(get("/hdr/x", token=minter.sign(c), headers=SPOOFS, port=httpd.proxy_port))
    for k, v in hdrs:
        if reserved(k):
            assert k.startswith("X-") and "_" not in k, (k, v)
    # Each exported name arrives exactly once.
    names = [k.lower() for k, _ in hdrs if reserved(k)]
    assert len(names) == len(set(names)), names


def test_anonymous_pass_request_is_scrubbed_and_marked_signed_out(get, httpd):
    hdrs = backend(get("/anon/x", headers=SPOOFS, port=httpd.proxy_port))
    assert not [h for h in hdrs if "user_evil" in h[1]], hdrs
    assert values(hdrs, "X-Clerk-Auth-Status") == ["signed-out"], hdrs
    assert values(hdrs, "X-Clerk-Auth-Reason") == ["session-token-and-uat-missing"], hdrs
    assert values(hdrs, "X-Remote-User") == [], hdrs
    assert values(hdrs, "X-Clerk-User-Id") == [], hdrs


def test_scrubbing_happens_without_claims_as_headers(get, minter, httpd):
    c = minter.claims()
    hdrs = backend(get("/envonly/x", token=minter.sign(c), headers=SPOOFS,
                       port=httpd.proxy_port))
    assert not [h for h in hdrs if reserved(h[0])], hdrs


def test_proxy_location_still_refuses_bad_tokens(get, minter, httpd):
    r = get("/hdr/x", token=minter.sign(alg="none"), port=httpd.proxy_port)
    signed_out(r, "token-invalid-algorithm", realm=None)
    assert "user_evil" not in r.body


def test_backend_sees_claims_header_as_compact_json_object(get, minter, httpd):
    c = minter.claims(custom={"nested": [1, 2]})
    hdrs = backend(get("/hdr/x", token=minter.sign(c), port=httpd.proxy_port))
    claims = values(hdrs, "X-Clerk-Claims")[0]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", claims), claims
    assert b64url_json(claims)["custom"] == {"nested": [1, 2]}
    assert json.dumps(c, sort_keys=True) == json.dumps(b64url_json(claims), sort_keys=True)
