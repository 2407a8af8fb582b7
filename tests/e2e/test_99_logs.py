"""Logging (docs/design.md#logging): a rejected token is logged by reason, kid and hash prefix.
That no token, secret key or nonce reaches any log is checked once for the whole session by
conftest's no_secret_in_any_log fixture (every httpd's error and access logs, after all of them
stopped), so this module no longer depends on running last; the test below proves that scan can
fail."""

import hashlib

from conftest import KID, leaks, log_files, scan_logs, token_id
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
    # Only the prefix: the token itself and its signature are in no line of this log.
    assert leaks(read_log(httpd), [tok], []) == []


def test_log_scan_finds_a_planted_token_secret_and_nonce(tmp_path, minter):
    """The session scan walks every logs/ directory under the work dir and reports a token,
    its signature alone, a secret key and a nonce; clean text reports nothing. In an access
    log, a token the client put in the request URL's query is listed apart (URL_BORNE)."""
    import conftest
    tok, in_url = minter.sign(), minter.sign()
    sig = tok.split(".")[2]
    secret, nonce = "sk_test_" + "ab" * 20, "n0nce-Planted_xyz"
    logs = tmp_path / "inst" / "logs"
    logs.mkdir(parents=True)
    (logs / "error.log").write_text("clean line\n")
    assert scan_logs(str(tmp_path)) == {}
    (logs / "access.log").write_text('127.0.0.1 user=%s "GET /x?__clerk_handshake=%s HTTP/1.1" '
                                     '200\n' % (sig, in_url))
    (logs / "error.log").write_text("k=%s n=%s t=%s\n" % (secret, nonce, tok))
    assert log_files(str(tmp_path)) == [str(logs / "access.log"), str(logs / "error.log")]
    conftest.SECRET_TEXTS.update((secret, nonce))
    mark = len(conftest.URL_BORNE)
    try:
        bad = scan_logs(str(tmp_path))
    finally:
        conftest.SECRET_TEXTS.difference_update((secret, nonce))
        url_borne = conftest.URL_BORNE[mark:]
        del conftest.URL_BORNE[mark:]
    assert bad[str(logs / "access.log")] == [token_id(tok)], bad
    assert len(bad[str(logs / "error.log")]) == 3, bad
    assert url_borne == [(str(logs / "access.log"), token_id(in_url))], url_borne
