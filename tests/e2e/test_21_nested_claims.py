"""Nested claims for applications: with ClerkPassNestedClaims On, objects in the token are
flattened (public_metadata.plan -> CLERK_CLAIM_PUBLIC_METADATA_PLAN, X-Clerk-Claim-Public-
Metadata-Plan) and arrays of scalars joined with ','; without it nothing changes, also for a
token whose variables were made for a location that has it. Look-alike headers are scrubbed
as for every other export. ClerkUserClaim takes a dotted path into nested claims and signs a
token that lacks it out with a message naming the path."""

import os

import pytest

from conftest import APACHE, ENV_CGI, PK, curl, free_port, run, server_head
from helpers import signed_out
from jwks_server import ApacheProc, chmod_tree

LOCATION = """<Location /{name}/>
    AuthType Clerk
    AuthName clerk-e2e
    ClerkPublishableKey {pk}
    ClerkJWTKey "file:{pub}"
    {extra}
    Require valid-user
</Location>"""


class NestedHttpd(ApacheProc):
    def __init__(self, work, minter, echo_port, extra_locations=""):
        super().__init__(work)
        self.port = free_port()
        cgi = os.path.join(work, "cgi")
        os.makedirs(cgi, exist_ok=True)
        with open(os.path.join(cgi, "env.cgi"), "w") as f:
            f.write(ENV_CGI)
        os.chmod(os.path.join(cgi, "env.cgi"), 0o755)
        locs = []
        for name, extra in (
                ("nested", "ClerkPassClaimsAs both\n    ClerkPassNestedClaims On"),
                ("flat", "ClerkPassClaimsAs both"),
                ("username", "ClerkUserClaim public_metadata.username"),
                ("email", "ClerkUserClaim email"),
                ("hdr", "ClerkPassClaimsAs headers\n    ClerkPassNestedClaims On")):
            locs.append(LOCATION.format(name=name, pk=PK, pub=minter.pub_pem, extra=extra))
        self.write_conf(server_head(work, self.port) + """
ScriptAlias /nested/ "{cgi}/"
ScriptAlias /flat/ "{cgi}/"
ScriptAlias /username/ "{cgi}/"
ScriptAlias /email/ "{cgi}/"
ProxyPass /hdr/ http://127.0.0.1:{echo}/hdr/
<Directory "{cgi}">
    Require all granted
</Directory>
{locs}
{extra}
""".format(cgi=cgi, echo=echo_port, locs="\n".join(locs), extra=extra_locations))
        chmod_tree(work)

    def start(self):
        super().start(self.port)

    def get(self, path, token, headers=()):
        return curl("http://127.0.0.1:%d%s" % (self.port, path),
                    ["Authorization: Bearer " + token, *headers])


@pytest.fixture(scope="module")
def h(work, minter, echo_backend):
    srv = NestedHttpd(os.path.join(work, "nested-claims"), minter, echo_backend)
    srv.start()
    yield srv
    srv.stop()


META = {"plan": "pro", "seats": 5, "tags": ["beta", "eu"], "limits": {"api": 1000},
        "username": "jane", "note": "line\r\nX-Injected: 1"}


def test_nested_claims_flattened_for_cgi_in_both_forms(h, minter):
    c = minter.claims(public_metadata=META, roles=["admin", "dev"])
    r = h.get("/nested/env.cgi", minter.sign(c))
    assert r.status == 200, r
    env = r.json()
    assert env["CLERK_CLAIM_PUBLIC_METADATA_PLAN"] == "pro"
    assert env["CLERK_CLAIM_PUBLIC_METADATA_SEATS"] == "5"
    assert env["CLERK_CLAIM_PUBLIC_METADATA_TAGS"] == "beta,eu"
    assert env["CLERK_CLAIM_PUBLIC_METADATA_LIMITS_API"] == "1000"
    assert env["CLERK_CLAIM_ROLES"] == "admin,dev"
    assert env["HTTP_X_CLERK_CLAIM_PUBLIC_METADATA_PLAN"] == "pro"
    # A value with a control byte is not exported at all, in either form.
    assert "CLERK_CLAIM_PUBLIC_METADATA_NOTE" not in env
    assert "HTTP_X_INJECTED" not in env
    assert "HTTP_X_CLERK_CLAIM_PUBLIC_METADATA_NOTE" not in env


def test_without_the_directive_nothing_nested_is_passed(h, minter):
    c = minter.claims(public_metadata=META, roles=["admin"])
    tok = minter.sign(c)
    # The token's variables are made once (with the nested ones) at the location that wants
    # them; the location that does not must still leave them out, cached or not.
    assert h.get("/nested/env.cgi", tok).status == 200
    for _ in range(2):
        r = h.get("/flat/env.cgi", tok)
        assert r.status == 200, r
        env = r.json()
        assert env["CLERK_USER_ID"] == c["sub"]
        leaked = [k for k in env if "PUBLIC_METADATA" in k or "ROLES" in k]
        assert leaked == [], leaked


def test_spoofed_nested_headers_are_scrubbed(h, minter):
    c = minter.claims(public_metadata={"plan": "free"})
    spoofs = ["X-Clerk-Claim-Public-Metadata-Plan: enterprise",
              "X-Clerk-Claim-Public-Metadata-Admin: true", "Clerk-Claim-Roles: admin"]
    r = h.get("/hdr/x", minter.sign(c), spoofs)
    assert r.status == 200, r
    seen = r.json()["headers"]
    assert [v for k, v in seen if k.lower() == "x-clerk-claim-public-metadata-plan"] == ["free"]
    assert not [k for k, v in seen if v in ("enterprise", "true", "admin")], seen
    r = h.get("/nested/env.cgi", minter.sign(c), spoofs)
    env = r.json()
    assert env["CLERK_CLAIM_PUBLIC_METADATA_PLAN"] == "free"
    assert "CLERK_CLAIM_PUBLIC_METADATA_ADMIN" not in env, env


def test_user_claim_dotted_path(h, minter):
    c = minter.claims(public_metadata={"username": "jane"})
    r = h.get("/username/env.cgi", minter.sign(c))
    assert r.status == 200, r
    assert r.json()["REMOTE_USER"] == "jane"
    assert r.json()["CLERK_USER_ID"] == c["sub"]


def test_user_claim_missing_is_signed_out_naming_the_path(h, minter):
    c = minter.claims(public_metadata={"plan": "pro"})
    signed_out(h.get("/username/env.cgi", minter.sign(c)), "token-verification-failed")
    needle = "'public_metadata.username' claim is missing: it is REMOTE_USER (ClerkUserClaim)"
    deadline = __import__("time").time() + 5
    while needle not in h.log_text() and __import__("time").time() < deadline:
        __import__("time").sleep(0.1)
    assert needle in h.log_text(), h.tail()
    c = minter.claims(public_metadata={"username": {"first": "x"}})
    signed_out(h.get("/username/env.cgi", minter.sign(c)), "token-verification-failed")


def test_email_from_a_session_token_customization_is_remote_user(h, minter):
    # Clerk Dashboard > Sessions > Customize session token: {"email": "{{user.primary_email_address}}"}
    c = minter.claims(email="jane@example.test")
    r = h.get("/email/env.cgi", minter.sign(c))
    assert r.status == 200 and r.json()["REMOTE_USER"] == "jane@example.test", r


@pytest.mark.parametrize("value", ["public_metadata..username", ".email", "email.",
                                   '"a b"', "a.b.c.d.e.f.g.h.i"])
def test_bad_user_claim_path_refused_at_startup(work, minter, echo_backend, value):
    d = os.path.join(work, "nested-conf")
    srv = NestedHttpd(d, minter, echo_backend, extra_locations=LOCATION.format(
        name="bad", pk=PK, pub=minter.pub_pem, extra="ClerkUserClaim " + value))
    r = run([APACHE, "-t", "-f", srv.conf])
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "ClerkUserClaim" in out and "dotted path" in out, out
