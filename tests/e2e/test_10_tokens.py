"""Token sources and verification through a real httpd (docs/design.md#token-sources,
#token-verification; @clerk/backend tokens/request.ts)."""

import time

from conftest import AZP, PK, cookie_suffix, remember
from helpers import handshake, signed_in, signed_out

MAIN = "/main/env.cgi"
DOC = ["Accept: text/html,application/xhtml+xml", "Sec-Fetch-Dest: document"]


def now():
    return int(time.time())


# ------------------------------------------------------------------------------ header flow
def test_header_token_signs_in_with_sub_as_remote_user(get, minter):
    c = minter.claims()
    env = signed_in(get(MAIN, token=minter.sign(c)))
    assert env["REMOTE_USER"] == c["sub"]
    assert env["AUTH_TYPE"] == "Clerk"
    assert env["CLERK_USER_ID"] == c["sub"]
    assert env["CLERK_SESSION_ID"] == c["sid"]
    assert env["CLERK_TOKEN_SOURCE"] == "header"
    assert env["CLERK_AUTH_STATUS"] == "signed-in"


def test_raw_token_without_scheme_is_accepted(get, minter):
    c = minter.claims()
    r = get(MAIN, headers=["Authorization: " + minter.sign(c)])
    assert signed_in(r)["REMOTE_USER"] == c["sub"]


def test_lowercase_bearer_scheme_is_ignored_and_falls_back_to_cookies(get, minter):
    r = get(MAIN, headers=["Authorization: bearer " + minter.sign()])
    signed_out(r, "session-token-and-uat-missing", presented=False)


def test_basic_auth_header_falls_back_to_cookie_pair(get, minter):
    c = minter.claims()
    r = get(MAIN, headers=["Authorization: Basic dXNlcjpwYXNz"],
            cookie="__session=%s; __client_uat=%d" % (minter.sign(c), c["iat"]))
    env = signed_in(r)
    assert env["REMOTE_USER"] == c["sub"]
    assert env["CLERK_TOKEN_SOURCE"] == "cookie"


def test_bearer_with_extra_pieces_uses_the_second_piece(get, minter):
    c = minter.claims()
    r = get(MAIN, headers=["Authorization: Bearer %s trailing" % minter.sign(c)])
    assert signed_in(r)["REMOTE_USER"] == c["sub"]


def test_bearer_with_two_spaces_is_token_invalid(get, minter):
    r = get(MAIN, headers=["Authorization: Bearer  " + minter.sign()])
    signed_out(r, "token-invalid")


def test_token_in_query_string_is_not_a_credential(get, minter):
    r = get(MAIN + "?__session=" + minter.sign())
    signed_out(r, "session-token-and-uat-missing", presented=False)


def test_header_token_wins_over_a_bad_cookie(get, minter):
    c = minter.claims()
    r = get(MAIN, token=minter.sign(c), cookie="__session=garbage; __client_uat=1")
    assert signed_in(r)["CLERK_TOKEN_SOURCE"] == "header"


def test_bad_header_token_is_not_rescued_by_a_good_cookie(get, minter):
    c = minter.claims()
    r = get(MAIN, token=minter.sign(key="other"),
            cookie="__session=%s; __client_uat=%d" % (minter.sign(c), c["iat"]))
    signed_out(r, "token-invalid-signature")


def test_no_token_is_401_with_bare_bearer_challenge(get):
    signed_out(get(MAIN), "session-token-and-uat-missing", presented=False)


# ------------------------------------------------------------------------------ cookie flow
def test_cookie_pair_signs_in(get, minter):
    c = minter.claims()
    r = get(MAIN, cookie="__session=%s; __client_uat=%d" % (minter.sign(c), c["iat"]))
    env = signed_in(r)
    assert env["REMOTE_USER"] == c["sub"]
    assert env["CLERK_TOKEN_SOURCE"] == "cookie"


def test_suffixed_cookie_pair_signs_in(get, minter):
    c = minter.claims()
    sfx = cookie_suffix(PK)
    r = get(MAIN, cookie="__session_%s=%s; __client_uat_%s=%d"
            % (sfx, minter.sign(c), sfx, c["iat"]))
    assert signed_in(r)["REMOTE_USER"] == c["sub"]


def test_first_of_duplicate_session_cookies_wins(get, minter):
    c = minter.claims()
    good, bad = minter.sign(c), minter.sign(key="other")
    r = get(MAIN, cookie="__session=%s; __client_uat=%d; __session=%s" % (good, c["iat"], bad))
    assert signed_in(r)["REMOTE_USER"] == c["sub"]
    r = get(MAIN, cookie="__session=%s; __client_uat=%d; __session=%s" % (bad, c["iat"], good))
    signed_out(r, "token-invalid-signature")


def test_cookie_token_with_bad_signature_is_signed_out(get, minter):
    c = minter.claims()
    r = get(MAIN, cookie="__session=%s; __client_uat=%d" % (minter.sign(c, key="other"), c["iat"]))
    signed_out(r, "token-invalid-signature")


def test_cookie_from_another_instance_selects_suffixed_cookies(get, minter):
    # tokens/authenticateContext.ts usesSuffixedCookies: an unsuffixed __session whose iss is not
    # this instance's Frontend API makes Clerk read the suffixed pair, which is absent here.
    c = minter.claims(iss="https://clerk.other.test")
    r = get(MAIN, cookie="__session=%s; __client_uat=%d" % (minter.sign(c), c["iat"]))
    signed_out(r, "session-token-and-uat-missing", presented=None)


def test_client_uat_zero_without_session_is_signed_out(get):
    r = get(MAIN, cookie="__client_uat=0")
    signed_out(r, "session-token-and-uat-missing", presented=False)


def test_session_cookie_without_client_uat_on_api_request_is_signed_out(get, minter):
    r = get(MAIN, cookie="__session=" + minter.sign())
    signed_out(r, "session-token-but-no-client-uat")


def test_session_cookie_without_client_uat_on_document_request_is_handshake(get, minter):
    r = get(MAIN, cookie="__session=" + minter.sign(), headers=DOC)
    handshake(r, "session-token-but-no-client-uat")


def test_redirect_count_at_3_or_more_stops_the_handshake(get, minter):
    for n in (3, 7):
        r = get(MAIN, cookie="__session=%s; __clerk_redirect_count=%d" % (minter.sign(), n),
                headers=DOC)
        signed_out(r, "session-token-but-no-client-uat")


def test_client_uat_without_session_on_api_request_is_signed_out(get):
    r = get(MAIN, cookie="__client_uat=%d" % now())
    signed_out(r, "client-uat-but-no-session-token", presented=False)


def test_session_older_than_client_uat_is_refused(get, minter):
    c = minter.claims()
    r = get(MAIN, cookie="__session=%s; __client_uat=%d" % (minter.sign(c), c["iat"] + 30))
    signed_out(r, "session-token-iat-before-client-uat")


def test_expired_cookie_on_document_request_is_handshake(get, minter):
    t = now()
    c = minter.claims(iat=t - 120, nbf=t - 130, exp=t - 60)
    r = get(MAIN, cookie="__session=%s; __client_uat=%d" % (minter.sign(c), c["iat"]),
            headers=DOC)
    handshake(r, "session-token-expired-refresh-non-eligible-no-refresh-cookie")


# ------------------------------------------------------------------------------ time claims
def test_expired_within_clock_skew_is_accepted(get, minter):
    t = now()
    c = minter.claims(iat=t - 62, nbf=t - 72, exp=t - 2)
    assert signed_in(get(MAIN, token=minter.sign(c)))["REMOTE_USER"] == c["sub"]


def test_expired_past_clock_skew_is_signed_out(get, minter):
    t = now()
    c = minter.claims(iat=t - 90, nbf=t - 100, exp=t - 30)
    r = get(MAIN, token=minter.sign(c))
    signed_out(r, "session-token-expired-refresh-non-eligible-no-refresh-cookie")


def test_clock_skew_zero_refuses_a_token_just_expired(get, minter):
    t = now()
    c = minter.claims(iat=t - 62, nbf=t - 72, exp=t - 2)
    signed_out(get("/skew0/env.cgi", token=minter.sign(c)),
               "session-token-expired-refresh-non-eligible-no-refresh-cookie", realm=None)
    assert signed_in(get(MAIN, token=minter.sign(c)))["REMOTE_USER"] == c["sub"]


def test_nbf_in_the_future_is_signed_out(get, minter):
    c = minter.claims(nbf=now() + 60)
    signed_out(get(MAIN, token=minter.sign(c)), "session-token-nbf")


def test_iat_in_the_future_is_signed_out(get, minter):
    c = minter.claims(iat=now() + 60)
    signed_out(get(MAIN, token=minter.sign(c)), "session-token-iat-in-the-future")


def test_exp_beyond_year_9999_is_refused(get, minter):
    c = minter.claims(exp=253402300800 + 86400)
    signed_out(get(MAIN, token=minter.sign(c)), None)


def test_non_numeric_exp_is_refused(get, minter):
    c = minter.claims(exp=str(now() + 60))
    signed_out(get(MAIN, token=minter.sign(c)), "token-verification-failed")


# ------------------------------------------------------------------------ signature and alg
def test_forged_signature_is_signed_out(get, minter):
    signed_out(get(MAIN, token=minter.sign(key="other")), "token-invalid-signature")


def test_payload_swapped_under_a_valid_signature_is_signed_out(get, minter):
    good = minter.sign().split(".")
    evil = minter.sign(minter.claims(sub="user_admin")).split(".")
    tok = "%s.%s.%s" % (good[0], evil[1], good[2])
    remember(tok)
    signed_out(get(MAIN, token=tok), "token-invalid-signature")


def test_alg_none_is_refused_before_crypto(get, minter):
    signed_out(get(MAIN, token=minter.sign(alg="none")), "token-invalid-algorithm")


def test_hs256_keyed_with_the_public_pem_is_refused(get, minter):
    tok = minter.sign(alg="HS256", hmac_key_file=minter.pub_pem)
    signed_out(get(MAIN, token=tok), "token-invalid-algorithm")


def test_rs384_is_refused_unless_allowed(get, minter):
    signed_out(get(MAIN, token=minter.sign(alg="RS384")), "token-invalid-algorithm")


def test_pem_key_ignores_kid(get, minter):
    c = minter.claims()
    r = get(MAIN, token=minter.sign(c, header={"kid": "ins_somebody_else"}))
    assert signed_in(r)["REMOTE_USER"] == c["sub"]


def test_jwks_file_key_found_by_kid(get, minter):
    c = minter.claims()
    assert signed_in(get("/jwks/env.cgi", token=minter.sign(c)))["REMOTE_USER"] == c["sub"]


def test_jwks_file_unknown_kid_is_kid_mismatch(get, minter):
    tok = minter.sign(header={"kid": "ins_unknown"}, key="other")
    signed_out(get("/jwks/env.cgi", token=tok), "jwk-kid-mismatch", realm=None)


def test_jwks_file_token_without_kid_is_kid_mismatch(get, minter):
    tok = minter.sign(header={"kid": None})
    signed_out(get("/jwks/env.cgi", token=tok), "jwk-kid-mismatch", realm=None)


def test_es256_accepted_where_allowed(get, minter):
    c = minter.claims()
    tok = minter.sign(c, header={"kid": "ins_ec"}, key="ec", alg="ES256")
    assert signed_in(get("/jwks-es/env.cgi", token=tok))["REMOTE_USER"] == c["sub"]


def test_es256_refused_where_not_allowed(get, minter):
    # The PEM key resolves whatever the kid, so the alg rule decides.
    tok = minter.sign(header={"kid": "ins_ec"}, key="ec", alg="ES256")
    signed_out(get(MAIN, token=tok), "token-invalid-algorithm")


def test_alg_that_does_not_fit_the_key_type_is_refused(get, minter):
    # ES256 is allowed here, but kid ins_test is an RSA key.
    tok = minter.sign(key="ec", alg="ES256")
    signed_out(get("/jwks-es/env.cgi", token=tok), "token-invalid-algorithm", realm=None)


# ------------------------------------------------------------------------- malformed tokens
def test_two_segment_token_is_invalid(get, minter):
    tok = ".".join(minter.sign().split(".")[:2])
    remember(tok)
    signed_out(get(MAIN, token=tok), "token-invalid")


def test_four_segment_token_is_invalid(get, minter):
    tok = minter.sign() + ".AAAA"
    remember(tok)
    signed_out(get(MAIN, token=tok), "token-invalid")


def test_bad_base64url_token_is_invalid(get, minter):
    parts = minter.sign().split(".")
    tok = "%s.%s.%s" % (parts[0], "e30*!$%&()", parts[2])
    remember(tok)
    signed_out(get(MAIN, token=tok), "token-invalid")


def test_duplicate_json_keys_are_refused(get, minter):
    c = minter.claims()
    raw = '{"sub":"%s","sub":"user_admin","exp":%d,"iat":%d,"nbf":%d,"azp":"%s","sid":"%s"}' % (
        c["sub"], c["exp"], c["iat"], c["nbf"], AZP, c["sid"])
    signed_out(get(MAIN, token=minter.sign(raw_payload=raw)), None)


def test_empty_sub_is_refused(get, minter):
    signed_out(get(MAIN, token=minter.sign(minter.claims(sub=""))), None)


def test_crit_header_is_refused(get, minter):
    tok = minter.sign(header={"crit": ["exp"]})
    signed_out(get(MAIN, token=tok), None)


def test_machine_token_typ_is_type_mismatch(get, minter):
    signed_out(get(MAIN, token=minter.sign(header={"typ": "at+jwt"})), "token-type-mismatch")


def test_machine_sub_is_type_mismatch(get, minter):
    tok = minter.sign(minter.claims(sub="mch_" + "1" * 16))
    signed_out(get(MAIN, token=tok), "token-type-mismatch")


def test_m2m_category_is_type_mismatch(get, minter):
    tok = minter.sign(header={"cat": "cl_B7d4PD333AAA"})
    signed_out(get(MAIN, token=tok), "token-type-mismatch")


# ------------------------------------------------------------------------------------ sizes
def big_claims(minter, size):
    return minter.claims(pad="x" * size)


def test_token_over_max_token_size_is_signed_out(get, minter):
    tok = minter.sign(big_claims(minter, 5000))  # ClerkMaxTokenSize 4096 there
    assert len(tok) > 4096
    signed_out(get("/small/env.cgi", token=tok), None, realm=None)


def test_token_under_default_max_but_over_8k_is_accepted(get, minter):
    c = big_claims(minter, 9000)  # LimitRequestFieldSize is raised; default max is 16 KiB
    tok = minter.sign(c)
    assert 8190 < len(tok) < 16384
    assert signed_in(get(MAIN, token=tok))["REMOTE_USER"] == c["sub"]


def test_token_over_default_16k_is_signed_out_not_400(get, minter):
    tok = minter.sign(big_claims(minter, 20000))
    assert len(tok) > 16384
    signed_out(get(MAIN, token=tok), None)


# ------------------------------------------------------------------------------ issuer, azp
def test_issuer_checked_only_where_configured(get, minter):
    c = minter.claims(iss="https://clerk.elsewhere.test")
    assert signed_in(get(MAIN, token=minter.sign(c)))["REMOTE_USER"] == c["sub"]
    signed_out(get("/issuer/env.cgi", token=minter.sign(c)), None, realm=None)


def test_issuer_match_is_accepted(get, minter):
    c = minter.claims()
    assert signed_in(get("/issuer/env.cgi", token=minter.sign(c)))["REMOTE_USER"] == c["sub"]


def test_authorized_party_allowed_in_one_location_denied_in_another(get, minter):
    tok = minter.sign(minter.claims(azp=AZP))
    signed_in(get("/azp-a/env.cgi", token=tok))
    signed_out(get("/azp-b/env.cgi", token=tok), "token-invalid-authorized-parties", realm=None)


def test_authorized_party_of_second_location(get, minter):
    tok = minter.sign(minter.claims(azp="https://b.example.test"))
    signed_in(get("/azp-b/env.cgi", token=tok))
    signed_out(get("/azp-a/env.cgi", token=tok), "token-invalid-authorized-parties", realm=None)


def test_missing_azp_fails_where_parties_are_set(get, minter):
    tok = minter.sign(minter.claims(azp=None))
    signed_in(get(MAIN, token=tok))
    signed_out(get("/azp-a/env.cgi", token=tok), "token-invalid-authorized-parties", realm=None)


def test_azp_is_exact_match_no_trailing_slash(get, minter):
    tok = minter.sign(minter.claims(azp=AZP + "/"))
    signed_out(get("/azp-a/env.cgi", token=tok), "token-invalid-authorized-parties", realm=None)


def test_htaccess_overrides_authorized_parties(get, minter):
    signed_out(get("/hta/env.cgi", token=minter.sign(minter.claims(azp=AZP))),
               "token-invalid-authorized-parties", realm=None)
    c = minter.claims(azp="https://hta.example.test")
    assert signed_in(get("/hta/env.cgi", token=minter.sign(c)))["REMOTE_USER"] == c["sub"]
