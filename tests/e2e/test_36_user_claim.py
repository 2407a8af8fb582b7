"""REMOTE_USER from an integer ClerkUserClaim (README: Directives, ClerkUserClaim: a non-empty
string or an integer), as the core's clerk_user_from_claims now writes it."""

from helpers import signed_in


def test_integer_user_claim_is_its_decimal_text(get, minter):
    for n in (42, -7, 9007199254740991):
        c = minter.claims(email=n)
        env = signed_in(get("/userclaim/env.cgi", token=minter.sign(c)))
        assert env["REMOTE_USER"] == str(n), env
        assert env["CLERK_USER_ID"] == c["sub"]
