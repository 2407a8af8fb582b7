"""Require clerk-* through real HTTP (docs/design.md#authorization, issue 6): every provider's
allow and deny paths with v1 and v2 tokens, compositions, claim shapes, no user => 401, a denied
user => 403, malformed require lines refused by `apache2 -t` with file:line, and the ClerkStatus
page whose shared counters move as requests are driven (docs/design.md#operations).

A dedicated httpd (its own config, ports and work dir) so the status counters see only the
requests this file sends."""

import json
import os
import re
import time

import pytest

from conftest import (APACHE, ENV_CGI, Httpd, PK, curl, free_port, run, server_head)
from helpers import signed_in, signed_out

# Each location: (path, lines inside <Location /z/<path>/>). AuthType Clerk and keys are added.
LOCATIONS = [
    ("org", ["Require clerk-org acme org_other"]),
    ("role", ["Require clerk-role org:admin owner"]),
    ("perm", ["Require clerk-permission org:dashboard:manage org:billing:read"]),
    ("plan-org", ["Require clerk-plan org:pro"]),
    ("plan-any", ["Require clerk-plan pro"]),
    ("feature-user", ["Require clerk-feature user:export"]),
    ("reverified", ["Require clerk-reverified strict"]),
    ("reverified-ff", ["Require clerk-reverified 30 first_factor"]),
    ("claim-arr", ["Require clerk-claim roles=editor"]),
    ("claim-nested", ["Require clerk-claim meta.tier=gold"]),
    ("claim-objarr", ["Require clerk-claim teams.name=red"]),
    ("claim-num", ["Require clerk-claim level=3"]),
    ("claim-present", ["Require clerk-claim beta"]),
    ("claim-any-of", ["Require clerk-claim email_verified=true staff=true"]),
    ("all", ["<RequireAll>", "  Require clerk-org acme", "  Require clerk-role admin",
             "</RequireAll>"]),
    ("any", ["<RequireAny>", "  Require clerk-role admin", "  Require clerk-claim staff=true",
             "</RequireAny>"]),
    ("none", ["<RequireAll>", "  Require valid-user", "  <RequireNone>",
              "    Require clerk-claim banned=true", "    Require clerk-org evilcorp",
              "  </RequireNone>", "</RequireAll>"]),
    ("expr", ["<RequireAll>", "  Require clerk-org acme",
              "  Require expr \"%{HTTP:X-Door} == 'open'\"", "</RequireAll>"]),
    ("merge", ["Require clerk-org acme"]),
    ("merge/and", ["AuthMerging And", "Require clerk-role admin"]),
    ("merge/or", ["AuthMerging Or", "Require clerk-claim staff=true"]),
    ("optout", ["AuthzSendForbiddenOnFailure Off", "Require clerk-role admin"]),
    ("user-only", ["Require user user_nobody"]),
    ("ip-and-user", ["<RequireAll>", "  Require ip 192.0.2.1", "  Require valid-user",
                     "</RequireAll>"]),
    ("deep", ["ClerkMaxTokenSize 65536", "<RequireAll>", "  Require valid-user",
              "  <RequireNone>", "    Require clerk-claim a.b=x", "  </RequireNone>",
              "</RequireAll>"]),
]


class AuthzHttpd(Httpd):
    """The suite's Httpd with this file's configuration: one env CGI behind every location."""

    def _layout(self):
        for d in ("run", "logs", "cgi"):
            os.makedirs(os.path.join(self.work, d), exist_ok=True)
        cgi = os.path.join(self.work, "cgi", "env.cgi")
        with open(cgi, "w") as f:
            f.write(ENV_CGI)
        os.chmod(cgi, 0o755)
        for root, dirs, _ in os.walk(self.work):
            os.chmod(root, 0o755)

    def _write_conf(self):
        keys = 'ClerkPublishableKey %s\n    ClerkJWTKey "file:%s"' % (PK, self.minter.pub_pem)
        out = [server_head(self.work, self.port, extra_listen=(self.proxy_port,)),
               "LimitRequestFieldSize 65536",
               'ScriptAliasMatch "^/z/(.+)/env\\.cgi$" "%s/cgi/env.cgi"' % self.work,
               # No Require here: a Location's AuthMerging Or would OR it in (httpd merges the
               # Location sections together, then onto the Directory result).
               '<Directory "%s/cgi">' % self.work, "    Options +ExecCGI", "</Directory>",
               "<Location /z/>", "    AuthType Clerk", "    " + keys,
               "    Require valid-user", "</Location>"]
        for path, lines in LOCATIONS:
            out.append("<Location /z/%s/>" % path)
            out += ["    " + l for l in lines]
            out.append("</Location>")
        out += ["ClerkStatusShowPaths On",  # the page names key files only when asked to
                "<Location /clerk-status>", "    SetHandler clerk-status",
                "    Require ip 127.0.0.1", "</Location>",
                "<Location /clerk-status-alias>", "    SetHandler ClerkStatus",
                "    Require ip 127.0.0.1", "</Location>"]
        with open(self.conf, "w") as f:
            f.write("\n".join(out) + "\n")
        os.chmod(self.conf, 0o644)


@pytest.fixture(scope="module")
def authz(work, minter):
    h = AuthzHttpd(os.path.join(work, "authz"), minter, 0)
    h.start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def zget(authz):
    def _get(path, token=None, headers=(), method=None):
        h = list(headers)
        if token is not None:
            h.append("Authorization: Bearer " + token)
        return curl("http://127.0.0.1:%d%s" % (authz.port, path), h, method)
    return _get


def url(loc):
    return "/z/%s/env.cgi" % loc


# ---------------------------------------------------------------------------- token shapes
def org_claims(minter, version, org_id="org_1", slug="acme", role="admin", perms=(),
               **extra):
    """An active org in either encoding. perms: "feature:perm" strings; v2 encodes them as
    fea + o.per + o.fpm bitmasks exactly as Clerk mints them."""
    if version == 1:
        return minter.claims(v=None, org_id=org_id, org_slug=slug, org_role="org:" + role,
                             org_permissions=["org:" + p for p in perms], **extra)
    feats, names = [], []
    for p in perms:
        f, n = p.split(":")
        if f not in feats:
            feats.append(f)
        if n not in names:
            names.append(n)
    masks = []
    for f in feats:
        m = 0
        for i, n in enumerate(names):
            if "%s:%s" % (f, n) in perms:
                m |= 1 << i
        masks.append(str(m))
    o = {"id": org_id, "slg": slug, "rol": role}
    if perms:
        o.update(per=",".join(names), fpm=",".join(masks))
    c = minter.claims(v=2, o=o, **extra)
    if feats:
        c["fea"] = ",".join(["o:" + f for f in feats] + ([c["fea"]] if "fea" in c else []))
    return c


def user_claims(minter, version, **extra):
    return minter.claims(v=None if version == 1 else 2, **extra)


def ok(r, c):
    env = signed_in(r)
    assert env["REMOTE_USER"] == c["sub"], env
    return env


def forbidden(r):
    assert r.status == 403, r
    assert r.header("www-authenticate") is None, r
    assert r.header("x-clerk-auth-status") is None, r


VERSIONS = pytest.mark.parametrize("v", [1, 2])


# ---------------------------------------------------------------------------- providers
@VERSIONS
def test_clerk_org_by_id_or_slug_and_other_org_or_none_denied(zget, minter, v):
    for c in (org_claims(minter, v, org_id="org_x", slug="acme"),
              org_claims(minter, v, org_id="org_other", slug="zzz")):
        ok(zget(url("org"), minter.sign(c)), c)
    for c in (org_claims(minter, v, org_id="org_x", slug="initech"),  # a user in another org
              user_claims(minter, v),                                    # no active org
              org_claims(minter, v, org_id="ACME", slug="Org_other")):   # exact bytes
        forbidden(zget(url("org"), minter.sign(c)))


@VERSIONS
def test_clerk_role_normalises_org_prefix_and_any_argument_grants(zget, minter, v):
    for role in ("admin", "owner"):
        c = org_claims(minter, v, role=role)
        ok(zget(url("role"), minter.sign(c)), c)
    for c in (org_claims(minter, v, role="member"), user_claims(minter, v)):
        forbidden(zget(url("role"), minter.sign(c)))


@VERSIONS
def test_clerk_permission_from_v1_list_or_v2_bitmasks(zget, minter, v):
    for perms in (["dashboard:read", "dashboard:manage"], ["billing:read"]):
        c = org_claims(minter, v, role="member", perms=perms)
        ok(zget(url("perm"), minter.sign(c)), c)
    for perms in (["dashboard:read"], ["billing:manage", "dashboard:read"], []):
        c = org_claims(minter, v, role="member", perms=perms)
        forbidden(zget(url("perm"), minter.sign(c)))
    # The permission without an active org grants nothing.
    c = user_claims(minter, v, org_permissions=["org:dashboard:manage"])
    forbidden(zget(url("perm"), minter.sign(c)))


def test_clerk_permission_v2_feature_missing_from_fea_grants_none(zget, minter):
    c = minter.claims(v=2, fea="u:dashboard",
                      o={"id": "org_1", "slg": "acme", "rol": "member", "per": "manage",
                         "fpm": "1"})
    forbidden(zget(url("perm"), minter.sign(c)))


@VERSIONS
def test_clerk_plan_scoped_and_unscoped(zget, minter, v):
    c = user_claims(minter, v, pla="o:pro")
    ok(zget(url("plan-org"), minter.sign(c)), c)
    ok(zget(url("plan-any"), minter.sign(c)), c)
    c = user_claims(minter, v, pla="u:pro,o:free")
    forbidden(zget(url("plan-org"), minter.sign(c)))
    ok(zget(url("plan-any"), minter.sign(c)), c)
    for pla in (None, "", "o:enterprise", "pro"):  # absent, empty, other plan, no scope
        forbidden(zget(url("plan-any"), minter.sign(user_claims(minter, v, pla=pla))))


@VERSIONS
def test_clerk_feature_user_scope(zget, minter, v):
    c = user_claims(minter, v, fea="u:export,o:sso")
    ok(zget(url("feature-user"), minter.sign(c)), c)
    for fea in ("o:export", "u:import", None):
        forbidden(zget(url("feature-user"), minter.sign(user_claims(minter, v, fea=fea))))


@VERSIONS
def test_clerk_reverified_preset_and_level_with_clerk_hint(zget, minter, v):
    c = user_claims(minter, v, fva=[40, 9])
    ok(zget(url("reverified"), minter.sign(c)), c)
    for fva in ([0, 10], [0, 200], None, [-1, -1]):
        r = zget(url("reverified"), minter.sign(user_claims(minter, v, fva=fva)))
        forbidden(r)
        assert r.header("content-type").startswith("application/json"), r
        assert json.loads(r.body) == {"clerk_error": {
            "type": "forbidden", "reason": "reverification-error",
            "metadata": {"reverification": "strict"}}}, r.body
    c = user_claims(minter, v, fva=[29, -1])
    ok(zget(url("reverified-ff"), minter.sign(c)), c)
    r = zget(url("reverified-ff"), minter.sign(user_claims(minter, v, fva=[30, 0])))
    forbidden(r)
    assert json.loads(r.body)["clerk_error"]["metadata"]["reverification"] == \
        {"level": "first_factor", "afterMinutes": 30}


@VERSIONS
def test_clerk_claim_shapes(zget, minter, v):
    grants = [
        ("claim-arr", {"roles": ["viewer", "editor"]}),
        ("claim-arr", {"roles": "editor"}),
        ("claim-nested", {"meta": {"tier": "gold"}}),
        ("claim-nested", {"meta": [{"tier": "silver"}, {"tier": "gold"}]}),
        ("claim-objarr", {"teams": [{"name": "blue"}, {"name": "red"}]}),
        ("claim-num", {"level": 3}),
        ("claim-num", {"level": "3"}),
        ("claim-num", {"level": [1, 3]}),
        ("claim-present", {"beta": True}),
        ("claim-present", {"beta": "no"}),
        ("claim-present", {"beta": 0}),
        ("claim-any-of", {"staff": True}),
    ]
    denials = [
        ("claim-arr", {"roles": ["viewer"]}),
        ("claim-arr", {"roles": "viewer,editor"}),      # a comma string is one value
        ("claim-arr", {}),                              # missing
        ("claim-nested", {"meta": {"tier": {"v": "gold"}}}),  # objects never equal a value
        ("claim-nested", {"meta": "gold"}),            # wrong type on the path
        ("claim-objarr", {"teams": [["red"]]}),
        ("claim-num", {"level": 3.5}),
        ("claim-num", {"level": True}),
        ("claim-num", {"level": {"x": 3}}),
        ("claim-present", {"beta": False}),
        ("claim-present", {"beta": None}),
        ("claim-present", {}),
        ("claim-any-of", {"staff": "yes", "email_verified": False}),
    ]
    for loc, extra in grants:
        c = user_claims(minter, v, **extra)
        ok(zget(url(loc), minter.sign(c)), c)
    for loc, extra in denials:
        r = zget(url(loc), minter.sign(user_claims(minter, v, **extra)))
        assert r.status == 403, (loc, extra, r)


def test_every_provider_without_a_user_is_401_with_the_bearer_challenge(zget):
    # (The expr location's own condition holds, else httpd denies before asking for a user.)
    for path, _ in LOCATIONS:
        if path == "ip-and-user":  # the host rule denies first: 403 (see the preflight tests)
            continue
        signed_out(zget(url(path), headers=["X-Door: open"]), "session-token-and-uat-missing",
                   presented=False, realm=None)


def test_every_provider_with_a_bad_token_is_401_with_its_reason(zget, minter):
    tok = minter.sign(minter.claims(exp=int(time.time()) - 600))
    for path in ("org", "claim-arr", "reverified", "none"):
        signed_out(zget(url(path), tok), None, realm=None)


# ---------------------------------------------------------------------------- compositions
@VERSIONS
def test_require_all_needs_both(zget, minter, v):
    c = org_claims(minter, v, slug="acme", role="admin")
    ok(zget(url("all"), minter.sign(c)), c)
    forbidden(zget(url("all"), minter.sign(org_claims(minter, v, slug="acme", role="member"))))
    forbidden(zget(url("all"), minter.sign(org_claims(minter, v, slug="initech"))))


@VERSIONS
def test_require_any_needs_one(zget, minter, v):
    c = org_claims(minter, v, role="admin")
    ok(zget(url("any"), minter.sign(c)), c)
    c = user_claims(minter, v, staff=True)
    ok(zget(url("any"), minter.sign(c)), c)
    forbidden(zget(url("any"), minter.sign(org_claims(minter, v, role="member", staff=False))))


@VERSIONS
def test_require_none_denies_on_any_match(zget, minter, v):
    c = user_claims(minter, v, banned=False)
    ok(zget(url("none"), minter.sign(c)), c)
    forbidden(zget(url("none"), minter.sign(user_claims(minter, v, banned=True))))
    forbidden(zget(url("none"), minter.sign(org_claims(minter, v, slug="evilcorp"))))


def test_require_none_with_a_claim_too_large_to_evaluate_is_an_error_not_a_grant(zget, minter):
    c = minter.claims(a=[0] * 10050)
    r = zget(url("deep"), minter.sign(c))
    assert r.status == 500, r
    c = minter.claims(a=[{"b": "y"}])
    ok(zget(url("deep"), minter.sign(c)), c)


@VERSIONS
def test_require_expr_composes(zget, minter, v):
    c = org_claims(minter, v)
    ok(zget(url("expr"), minter.sign(c), ["X-Door: open"]), c)
    forbidden(zget(url("expr"), minter.sign(c), ["X-Door: shut"]))
    forbidden(zget(url("expr"), minter.sign(org_claims(minter, v, slug="initech")),
                   ["X-Door: open"]))


@VERSIONS
def test_auth_merging_and_or_across_nested_sections(zget, minter, v):
    admin_acme = org_claims(minter, v, slug="acme", role="admin")
    member_acme = org_claims(minter, v, slug="acme", role="member")
    admin_other = org_claims(minter, v, slug="initech", role="admin")
    staff_other = org_claims(minter, v, slug="initech", role="member", staff=True)
    # And: the outer clerk-org and the inner clerk-role.
    ok(zget(url("merge/and"), minter.sign(admin_acme)), admin_acme)
    forbidden(zget(url("merge/and"), minter.sign(member_acme)))
    forbidden(zget(url("merge/and"), minter.sign(admin_other)))
    # Or: the outer clerk-org or the inner clerk-claim.
    ok(zget(url("merge/or"), minter.sign(member_acme)), member_acme)
    ok(zget(url("merge/or"), minter.sign(staff_other)), staff_other)
    forbidden(zget(url("merge/or"), minter.sign(admin_other)))


def test_section_can_opt_out_of_403_with_authz_send_forbidden_off(zget, minter):
    c = org_claims(minter, 2, role="member")
    r = zget(url("optout"), minter.sign(c))
    assert r.status == 401, r
    assert r.header("www-authenticate").startswith("Bearer "), r


# ---------------------------------------------------------------------------- configtest
BAD_LINES = {
    "clerk-org": "Require clerk-org",
    "clerk-role": "Require clerk-role org:",
    "clerk-permission": "Require clerk-permission org:org:",
    "clerk-plan": "Require clerk-plan team:pro",
    "clerk-feature": "Require clerk-feature org:a:b",
    "clerk-reverified": "Require clerk-reverified 0",
    "clerk-reverified-level": "Require clerk-reverified 10 third_factor",
    "clerk-claim": "Require clerk-claim a..b",
    "clerk-claim-empty": "Require clerk-claim",
}


@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_malformed_require_line_fails_configtest_with_file_and_line(work, minter, name):
    d = os.path.join(work, "authz-bad-" + name)
    for sub in ("run", "logs"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    lines = server_head(d, free_port()).splitlines() + [
        "<Location /t/>", "    AuthType Clerk", "    ClerkPublishableKey " + PK,
        '    ClerkJWTKey "file:%s"' % minter.pub_pem, "    <RequireAll>",
        "        " + BAD_LINES[name], "    </RequireAll>", "</Location>"]
    bad_line = len(lines) - 2
    path = os.path.join(d, "httpd.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = run([APACHE, "-t", "-f", path])
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert re.search(r"line %d of %s" % (bad_line, re.escape(path)), out), out
    provider = BAD_LINES[name].split()[1]
    assert provider in out, out


def test_good_require_lines_pass_configtest(authz):
    r = authz.ctl("-t")
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------------------- status page
def status(zget):
    r = zget("/clerk-status")
    assert r.status == 200, r
    assert r.header("content-type").startswith("application/json"), r
    assert "no-store" in (r.header("cache-control") or ""), r
    return r.json()


PREFLIGHT = ["Origin: https://app.example.test", "Access-Control-Request-Method: GET"]


def test_preflight_passes_every_user_based_rule(zget):
    """No credentials ride on a preflight: a rule about the user (negated ones too) cannot deny
    it, or the browser never sends the real request. The module answers it (no handler)."""
    for loc in ("org", "none", "deep", "user-only", "all", "expr"):
        r = zget(url(loc), headers=PREFLIGHT + ["X-Door: open"], method="OPTIONS")
        assert r.status == 204 and r.body == "", (loc, r)
        assert r.header("www-authenticate") is None, (loc, r)


def test_preflight_still_meets_rules_that_need_no_user(zget):
    r = zget(url("ip-and-user"), headers=PREFLIGHT, method="OPTIONS")
    assert r.status == 403, r
    r = zget(url("expr"), headers=PREFLIGHT, method="OPTIONS")  # its X-Door rule needs no user
    assert r.status == 403, r
    r = zget(url("user-only"), method="OPTIONS", headers=["Origin: https://app.example.test"])
    assert r.status == 401, r  # not a preflight: authenticated as usual


def test_status_page_answers_under_the_specs_handler_name_too(zget):
    r = zget("/clerk-status-alias")
    assert r.status == 200, r
    assert r.json()["module"] == "mod_clerk_auth"


def test_status_page_counters_move_with_requests(zget, minter, authz):
    before = status(zget)
    assert before["module"] == "mod_clerk_auth"
    assert before["uptime_s"] >= 0
    n_in, n_out, n_bad = 5, 3, 2
    c = org_claims(minter, 2, role="admin")
    tok = minter.sign(c)
    for _ in range(n_in):
        ok(zget(url("role"), tok), c)
    denied = minter.sign(org_claims(minter, 2, role="member"))
    forbidden(zget(url("role"), denied))
    for _ in range(n_out):
        zget(url("org"))
    expired = minter.sign(minter.claims(exp=int(time.time()) - 600))
    for _ in range(n_bad):
        reason_expired = signed_out(zget(url("org"), expired), None, realm=None)
    zget(url("org"), headers=["Origin: https://app.example.test",
                              "Access-Control-Request-Method: GET"], method="OPTIONS")
    after = status(zget)

    bv, av = before["verifications"], after["verifications"]
    moved = {k: av["by_reason"][k] - bv["by_reason"][k] for k in av["by_reason"]
             if av["by_reason"][k] != bv["by_reason"][k]}
    assert moved == {"session-token-and-uat-missing": n_out,
                     reason_expired: n_bad}, (moved, bv, av)
    assert av["signed-in"] - bv["signed-in"] == n_in + 1
    assert av["signed-out"] - bv["signed-out"] == n_out + n_bad
    assert av["total"] - bv["total"] == n_in + 1 + n_out + n_bad
    assert av["cors-preflight"] - bv["cors-preflight"] == 1
    br, ar = bv["by_reason"], av["by_reason"]
    assert ar["session-token-and-uat-missing"] - br["session-token-and-uat-missing"] == n_out

    ba, aa = before["authorization"], after["authorization"]
    assert aa["granted"] - ba["granted"] == n_in
    assert aa["denied"] - ba["denied"] == 1

    tc = after["token_cache"]
    assert tc["scope"] == "this process" and tc["enabled"] is True
    assert tc["hits"] + tc["misses"] >= 0

    sources = after["key_sources"]
    pem = [s for s in sources if s["source"] == "pem"]
    assert pem and pem[0]["file"] == minter.pub_pem, sources
    assert pem[0]["age_s"] >= 0 and pem[0]["changed_on_disk_since_loaded"] is False
    assert re.search(r":\d+$", pem[0]["configured_at"]), pem


def test_status_page_counters_are_shared_across_processes(zget, minter, authz):
    """Many parallel requests land on several threads/processes; every one is counted."""
    import concurrent.futures

    before = status(zget)["verifications"]["signed-out"]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda _: zget(url("org")), range(24)))
    after = status(zget)["verifications"]["signed-out"]
    assert after - before == 24


def test_status_page_survives_graceful_restart(zget, authz):
    before = status(zget)
    r = authz.graceful()
    assert r.returncode == 0, r.stderr
    # The restart is proven by an answer from the next generation (bounded polling): the old
    # generation's children keep answering for a moment, with the old number.
    after = None
    for _ in range(150):
        try:
            after = status(zget)
            if after["generation"] > before["generation"]:
                break
        except (AssertionError, ValueError):
            pass
        time.sleep(0.2)
    assert after is not None and after["generation"] == before["generation"] + 1, (before, after)
    assert after["started_at"] == before["started_at"]
    assert after["verifications"]["total"] >= before["verifications"]["total"]
