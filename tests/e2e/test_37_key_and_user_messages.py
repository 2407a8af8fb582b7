"""What the core's key chain, key loader and user choice answer through httpd, word for word
(docs/design.md#key-sources, #exported-variables): an inline ClerkJWTKey in the one-line forms a
variable gives it, a ClerkJWKSFile naming its kids when a token's kid is not among them, and a
token whose ClerkUserClaim is unusable signed out with a message naming the claim."""

import os

import pytest

from conftest import AUTH_NAME, PK, curl
from jwks_server import ModuleHttpd

MISMATCH = ("Unable to find a signing key in JWKS that matches the kid='%s' of the provided "
            "session token. Please make sure that the __session cookie or the HTTP authorization "
            "header contain a Clerk-generated session JWT. The following kid is available: %s Go to "
            "your Dashboard and validate your secret and public keys are correct. Contact "
            "support@clerk.com if the issue persists. (reason=jwk-kid-mismatch, "
            "token-carrier=header)")
USER = ("The session token's '%s' claim %s: it is REMOTE_USER (ClerkUserClaim); add it to the "
        "session token in Clerk.")


def section(path, keys, extra=""):
    return """<Location {path}>
    AuthType Clerk
    AuthName {name}
    ClerkPublishableKey {pk}
    ClerkDebugHeaders On
    {keys}
    {extra}
    Require valid-user
</Location>""".format(path=path, name=AUTH_NAME, pk=PK, keys=keys, extra=extra)


@pytest.fixture(scope="module")
def mod(work, minter):
    h = ModuleHttpd(os.path.join(work, "mod-key-messages"))
    with open(minter.pub_pem) as f:
        pem = f.read().strip()
    lines = pem.split("\n")
    jwks = os.path.join(h.work, "two-kids.json")
    with open(jwks, "w") as f:  # listed out of order: the message sorts them
        f.write(minter._mint("jwks", "--key", minter.keys["main"], "--kid", "ins_b",
                             "--key", minter.keys["other"], "--kid", "ins_a"))
    forms = {
        "escaped": "ClerkJWTKey " + "\\n".join(lines),
        "quoted": 'ClerkJWTKey "%s"' % "\\r\\n".join(lines),
        "spaces": "ClerkJWTKey " + " ".join(lines),
    }
    body = [section("/%s/" % name, keys) for name, keys in forms.items()]
    body.append(section("/jwks/", 'ClerkJWKSFile "%s"' % jwks))
    body.append(section("/user/", 'ClerkJWTKey "file:%s"' % minter.pub_pem,
                        "ClerkUserClaim email"))
    for d in list(forms) + ["jwks", "user"]:
        os.makedirs(os.path.join(h.work, "htdocs", d), exist_ok=True)
        with open(os.path.join(h.work, "htdocs", d, "hello.txt"), "w") as f:
            f.write("hello\n")
    h.configure("\n".join(body))
    h.start()
    yield h
    h.stop()


def get(mod, path, token):
    return curl(mod.url(path), ["Authorization: Bearer " + token])


@pytest.mark.parametrize("form", ["escaped", "quoted", "spaces"])
def test_inline_pem_in_one_line_forms_is_the_key(mod, minter, form):
    assert get(mod, "/%s/hello.txt" % form, minter.sign()).status == 200
    # The PEM key answers any kid, and only its own signature.
    assert get(mod, "/%s/hello.txt" % form, minter.sign(header={"kid": "ins_x"})).status == 200
    r = get(mod, "/%s/hello.txt" % form, minter.sign(key="other"))
    assert r.status == 401 and r.header("x-clerk-auth-reason") == "token-invalid-signature", r


def test_jwks_file_names_its_kids_for_an_unknown_kid(mod, minter):
    assert get(mod, "/jwks/hello.txt", minter.sign(header={"kid": "ins_b"})).status == 200
    assert get(mod, "/jwks/hello.txt",
               minter.sign(header={"kid": "ins_a"}, key="other")).status == 200
    r = get(mod, "/jwks/hello.txt", minter.sign(header={"kid": "ins_c"}))
    assert r.status == 401 and r.header("x-clerk-auth-reason") == "jwk-kid-mismatch", r
    assert r.header("x-clerk-auth-message") == MISMATCH % ("ins_c", "ins_a, ins_b"), r
    r = get(mod, "/jwks/hello.txt", minter.sign(header={"kid": None}))
    assert r.header("x-clerk-auth-message") == MISMATCH % ("undefined", "ins_a, ins_b"), r


@pytest.mark.parametrize("email,problem", [
    (None, "is missing"),
    ({"a": 1}, "is neither a string nor an integer"),
    ("", "is empty"),
])
def test_unusable_user_claim_is_signed_out_naming_it(mod, minter, email, problem):
    r = get(mod, "/user/hello.txt", minter.sign(minter.claims(email=email)))
    assert r.status == 401, r
    assert r.header("x-clerk-auth-reason") == "token-verification-failed", r
    assert r.header("x-clerk-auth-message") == USER % ("email", problem), r
    assert 'error_description="token-verification-failed"' in r.header("www-authenticate"), r


def test_usable_user_claim_signs_in(mod, minter):
    r = get(mod, "/user/hello.txt", minter.sign(minter.claims(email="ann@example.test")))
    assert r.status == 200, r
    with open(os.path.join(mod.work, "logs", "access.log")) as f:
        assert "user=ann@example.test " in f.read()
