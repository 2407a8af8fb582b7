"""Logging (docs/design.md#logging). Runs last: it reads the error log of everything the suite
sent."""

import hashlib

from conftest import KID, SENT_TOKENS
from helpers import signed_out


def read_log(httpd):
    with open(httpd.error_log, errors="replace") as f:
        return f.read()


def test_rejected_token_is_logged_with_reason_kid_and_hash_prefix(httpd, minter, get):
    tok = minter.sign(key="other")
    signed_out(get("/main/env.cgi", token=tok), "token-invalid-signature")
    prefix = hashlib.sha256(tok.encode()).hexdigest()[:8]
    lines = [l for l in read_log(httpd).splitlines() if prefix in l]
    assert lines, "no log line names the token's SHA-256 prefix %s" % prefix
    assert any("token-invalid-signature" in l and KID in l for l in lines), lines


def test_no_token_or_signature_ever_reaches_the_error_log(httpd):
    text = read_log(httpd)
    assert SENT_TOKENS
    leaked = []
    for tok in SENT_TOKENS:
        parts = tok.split(".")
        if tok in text or (len(parts) == 3 and len(parts[2]) >= 16 and parts[2] in text):
            leaked.append(tok[:20] + "...")
    assert leaked == [], "tokens in %s: %s" % (httpd.error_log, leaked)
