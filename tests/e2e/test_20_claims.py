"""What the application sees (docs/design.md#exported-variables) and authorization providers
(#authorization)."""

import json
import os

from helpers import signed_in, signed_out

MAIN = "/main/env.cgi"


def perms(s):
    return sorted(p for p in s.split(",") if p)


def test_org_claims_v1_are_exported(get, minter):
    c = minter.claims(v=None, org_id="org_1abc", org_slug="acme", org_role="org:admin",
                      org_permissions=["org:sys_memberships:manage", "org:billing:read"])
    env = signed_in(get(MAIN, token=minter.sign(c)))
    assert env["CLERK_ORG_ID"] == "org_1abc"
    assert env["CLERK_ORG_SLUG"] == "acme"
    assert env["CLERK_ORG_ROLE"] == "org:admin"
    assert perms(env["CLERK_ORG_PERMISSIONS"]) == sorted(c["org_permissions"])


def test_org_claims_v2_with_fpm_bitmask_are_decoded(get, minter):
    # fea keeps only o-scoped features; fpm has one decimal mask per org feature, LSB = first
    # permission of o.per: 3 -> read+manage, 2 -> manage.
    c = minter.claims(v=2, fea="o:dashboard,u:profile,o:billing",
                      o={"id": "org_2xyz", "slg": "globex", "rol": "admin",
                         "per": "read,manage", "fpm": "3,2"})
    env = signed_in(get(MAIN, token=minter.sign(c)))
    assert env["CLERK_ORG_ID"] == "org_2xyz"
    assert env["CLERK_ORG_SLUG"] == "globex"
    assert env["CLERK_ORG_ROLE"] == "org:admin"
    assert perms(env["CLERK_ORG_PERMISSIONS"]) == sorted(
        ["org:dashboard:read", "org:dashboard:manage", "org:billing:manage"])


def test_no_org_means_no_org_variables(get, minter):
    env = signed_in(get(MAIN, token=minter.sign()))
    for k in ("CLERK_ORG_ID", "CLERK_ORG_SLUG", "CLERK_ORG_ROLE"):
        assert k not in env or env[k] == "", (k, env)


def test_actor_fva_status_claims_and_scalar_claims_are_exported(get, minter):
    c = minter.claims(act={"sub": "user_support", "sid": "sess_x", "iss": "https://x"},
                      fva=[3, -1], sts="active", **{"my-flag": "on", "email": "a@example.test"})
    env = signed_in(get(MAIN, token=minter.sign(c)))
    assert env["CLERK_ACTOR"] == "user_support"
    assert env["CLERK_FVA"] == "3,-1"
    assert env["CLERK_SESSION_STATUS"] == "active"
    assert env["CLERK_CLAIM_MY_FLAG"] == "on"
    assert env["CLERK_CLAIM_EMAIL"] == "a@example.test"
    assert env["CLERK_CLAIM_SUB"] == c["sub"]
    assert json.loads(env["CLERK_CLAIMS"]) == c


def test_absent_fva_and_sts_leave_variables_unset(get, minter):
    env = signed_in(get(MAIN, token=minter.sign()))
    assert "CLERK_FVA" not in env
    assert "CLERK_SESSION_STATUS" not in env


def test_user_claim_picks_remote_user(get, minter):
    c = minter.claims(email="jane@example.test")
    env = signed_in(get("/userclaim/env.cgi", token=minter.sign(c)))
    assert env["REMOTE_USER"] == "jane@example.test"
    assert env["CLERK_USER_ID"] == c["sub"]


def test_token_without_the_user_claim_exports_nothing_of_itself(get, minter):
    """A verified token lacking ClerkUserClaim's claim is signed out: on a pass page the
    application sees the state only, first sighting and cached alike, in both forms."""
    c = minter.claims()
    tok = minter.sign(c)
    for _ in range(2):
        r = get("/userclaim-pass/env.cgi", token=tok)
        assert r.status == 200, r
        env = r.json()
        assert env.get("CLERK_AUTH_STATUS") == "signed-out"
        assert "REMOTE_USER" not in env
        leaked = [k for k in env if k.startswith(("CLERK_USER", "CLERK_SESSION", "CLERK_CLAIM",
                                                  "HTTP_X_CLERK_USER", "HTTP_X_CLERK_CLAIM",
                                                  "HTTP_X_REMOTE_USER"))]
        assert leaked == [], leaked
    c = minter.claims(email="jane@example.test")
    tok = minter.sign(c)
    for _ in range(2):
        env = signed_in(get("/userclaim-pass/env.cgi", token=tok))
        assert env["REMOTE_USER"] == "jane@example.test"
        assert env["CLERK_USER_ID"] == c["sub"]
        assert env["HTTP_X_REMOTE_USER"] == "jane@example.test"
        assert env["HTTP_X_CLERK_USER_ID"] == c["sub"]


def test_pending_session_is_refused_by_default(get, minter):
    tok = minter.sign(minter.claims(sts="pending"))
    signed_out(get(MAIN, token=tok), None)


def test_pending_session_accepted_with_accept_pending(get, minter):
    c = minter.claims(sts="pending")
    env = signed_in(get("/pending/env.cgi", token=minter.sign(c)))
    assert env["REMOTE_USER"] == c["sub"]
    assert env["CLERK_SESSION_STATUS"] == "pending"


def test_cgi_never_sees_spoofed_clerk_variables(get, minter):
    c = minter.claims()
    r = get(MAIN, token=minter.sign(c),
            headers=["X-Clerk-User-Id: user_evil", "Clerk-User-Id: user_evil",
                     "X-Remote-User: user_evil", "Remote-User: user_evil"])
    env = signed_in(r)
    assert env["CLERK_USER_ID"] == c["sub"]
    assert "user_evil" not in json.dumps(env), env


def test_spoofed_headers_are_gone_before_per_directory_setenvif(get, minter):
    c = minter.claims()
    r = get("/setenvif/env.cgi", token=minter.sign(c),
            headers=["X-Clerk-User-Id: user_evil", "Remote-User: user_evil"])
    env = signed_in(r)
    assert "HTTP_SEEN_CLERK_USER_ID" not in env and "HTTP_SEEN_REMOTE_USER" not in env, env
    assert "user_evil" not in json.dumps(env), env


def test_front_controller_after_internal_redirect_sees_the_variables(get, minter):
    """A per-directory rewrite (WordPress, Laravel) redirects internally after authentication:
    the script still reads CLERK_* and REMOTE_USER, not REDIRECT_CLERK_*."""
    c = minter.claims()
    env = signed_in(get("/front/app/orders?id=7", token=minter.sign(c)))
    assert env["REMOTE_USER"] == c["sub"]
    assert env["CLERK_USER_ID"] == c["sub"]
    assert env["CLERK_AUTH_STATUS"] == "signed-in"
    assert env["HTTP_X_CLERK_USER_ID"] == c["sub"]
    r = get("/front/app/orders")
    assert r.status == 401, r


def test_preflight_through_a_front_controller_is_not_signed_in(get):
    r = get("/front/app/orders", method="OPTIONS",
            headers=["Origin: https://app.example.test", "Access-Control-Request-Method: GET"])
    assert r.status == 204 and r.body == "", r  # answered by the module, no script ran


def test_directory_index_to_a_protected_script_is_authenticated_and_scrubbed(get, minter):
    """mod_dir hands the sub-request's configuration to the main request, but neither its user
    nor its scrubbed headers: the module decides again there."""
    c = minter.claims()
    spoof = ["X-Clerk-User-Id: user_evil", "Remote-User: user_evil", "X-Clerk-Claims: e30"]
    env = signed_in(get("/dirindex/", token=minter.sign(c), headers=spoof))
    assert env["REMOTE_USER"] == c["sub"]
    assert env["CLERK_USER_ID"] == c["sub"]
    assert env["HTTP_X_CLERK_USER_ID"] == c["sub"]
    assert "user_evil" not in json.dumps(env) and env.get("HTTP_X_CLERK_CLAIMS") != "e30", env
    signed_out(get("/dirindex/", headers=spoof), "session-token-and-uat-missing",
               presented=False, realm=None)


def test_directory_index_from_a_clerk_directory_takes_the_scripts_settings(get, minter, httpd):
    email = "dirindex-%s@example.test" % os.urandom(4).hex()
    c = minter.claims(email=email)
    spoof = ["X-Clerk-User-Id: user_evil", "X-Remote-User: user_evil"]
    env = signed_in(get("/dirindex2/", token=minter.sign(c), headers=spoof))
    assert env["REMOTE_USER"] == email
    assert env["HTTP_X_REMOTE_USER"] == email
    assert env["HTTP_X_CLERK_USER_ID"] == c["sub"]
    assert "user_evil" not in json.dumps(env), env
    # the look-up's decision is adopted, not made again (a handshake nonce is exchanged once)
    assert httpd.tail_error_log(400).count("signed-in: user=%s " % email) == 1


# --------------------------------------------------------------------- Require providers
def admin_claims(minter, rol):
    return minter.claims(v=2, o={"id": "org_9", "slg": "initech", "rol": rol})


def test_require_clerk_role_allows_matching_role(get, minter):
    c = admin_claims(minter, "admin")
    assert signed_in(get("/role/env.cgi", token=minter.sign(c)))["REMOTE_USER"] == c["sub"]


def test_require_clerk_role_denies_other_role_with_403(get, minter):
    r = get("/role/env.cgi", token=minter.sign(admin_claims(minter, "member")))
    assert r.status == 403, r


def test_require_clerk_role_without_user_is_401(get):
    r = get("/role/env.cgi")
    signed_out(r, "session-token-and-uat-missing", presented=False, realm=None)


def test_require_clerk_claim_value(get, minter):
    ok = minter.claims(email_verified=True)
    assert signed_in(get("/claim/env.cgi", token=minter.sign(ok)))["REMOTE_USER"] == ok["sub"]
    r = get("/claim/env.cgi", token=minter.sign(minter.claims(email_verified=False)))
    assert r.status == 403, r



def test_require_clerk_org_matches_id_or_slug(get, minter):
    by_slug = minter.claims(v=None, org_id="org_1", org_slug="acme", org_role="org:member")
    assert signed_in(get("/org/env.cgi", token=minter.sign(by_slug)))["CLERK_ORG_SLUG"] == "acme"
    by_id = minter.claims(v=2, o={"id": "org_other", "slg": "zzz", "rol": "member"})
    assert signed_in(get("/org/env.cgi", token=minter.sign(by_id)))["CLERK_ORG_ID"] == "org_other"


def test_require_clerk_org_denies_other_org_and_no_org_with_403(get, minter):
    for c in (minter.claims(v=2, o={"id": "org_x", "slg": "initech", "rol": "admin"}),
              minter.claims()):
        r = get("/org/env.cgi", token=minter.sign(c))
        assert r.status == 403, r


def test_require_clerk_permission_from_v2_bitmask(get, minter):
    o = {"id": "org_2", "slg": "globex", "rol": "member", "per": "read,manage"}
    ok = minter.claims(fea="o:dashboard", o=dict(o, fpm="2"))
    assert signed_in(get("/perm/env.cgi", token=minter.sign(ok)))["REMOTE_USER"] == ok["sub"]
    r = get("/perm/env.cgi", token=minter.sign(minter.claims(fea="o:dashboard", o=dict(o, fpm="1"))))
    assert r.status == 403, r


def test_require_clerk_reverified_second_factor(get, minter):
    ok = minter.claims(fva=[30, 9])
    assert signed_in(get("/reverified/env.cgi", token=minter.sign(ok)))["CLERK_FVA"] == "30,9"
    # No second factor enrolled (-1): Clerk's second_factor level falls back to the first.
    ok = minter.claims(fva=[0, -1])
    assert signed_in(get("/reverified/env.cgi", token=minter.sign(ok)))["CLERK_FVA"] == "0,-1"
    for fva in ([0, 10], [10, -1], [0, 60], [-1, -1]):
        r = get("/reverified/env.cgi", token=minter.sign(minter.claims(fva=fva)))
        assert r.status == 403, (fva, r)


def test_require_clerk_reverified_multi_factor_uses_first_factor_without_second(get, minter):
    ok = minter.claims(fva=[5, -1])
    assert signed_in(get("/reverified-mf/env.cgi", token=minter.sign(ok)))["REMOTE_USER"] == \
        ok["sub"]
    r = get("/reverified-mf/env.cgi", token=minter.sign(minter.claims(fva=[5, 20])))
    assert r.status == 403, r
