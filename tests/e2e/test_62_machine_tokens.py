"""Machine tokens (docs/design.md#machine-tokens, README "Machine tokens"): ClerkAcceptsToken as
the SDK's acceptsToken, opaque API keys / M2M tokens / OAuth access tokens verified by the fake
Backend API (fake_clerk.py), what a CGI sees, Require clerk-token-type / clerk-scope and the
session providers' 403, and every bad input or Backend API failure failing closed with nothing of
the token or key in a log."""

import json
import os
import re
import secrets
import threading

import pytest

from conftest import ENV_CGI, PK, curl, publishable_key, remember, remember_secret
from fake_clerk import FakeClerk
from jwks_server import ModuleHttpd

SK = "sk_test_" + "f6" * 20
MSK = "ak_machinesecret" + "7" * 24
remember_secret(SK)
remember_secret(MSK)

# path -> extra directives of its <Location>
LOCATIONS = {
    "s": "",
    "ak": "ClerkAcceptsToken api_key",
    "m2m": "ClerkAcceptsToken m2m_token",
    "m2mmsk": "ClerkAcceptsToken m2m_token\n    ClerkMachineSecretKey " + MSK,
    "oat": "ClerkAcceptsToken oauth_token",
    "list": "ClerkAcceptsToken api_key m2m_token",
    "mix": "ClerkAcceptsToken session_token api_key",
    "any": "ClerkAcceptsToken any",
    "cached": "ClerkAcceptsToken api_key\n    ClerkMachineTokenCacheTTL 60",
    "nokey": "ClerkAcceptsToken api_key",
    "jwt": "ClerkAcceptsToken m2m_token oauth_token",
    "oataud": "ClerkAcceptsToken oauth_token\n    ClerkAudience api.example",
}
REQUIRES = {
    "scope": ("ClerkAcceptsToken any", "Require clerk-scope write:docs read:docs"),
    "ttype": ("ClerkAcceptsToken any", "Require clerk-token-type m2m_token oauth_token"),
    "role": ("ClerkAcceptsToken any", "Require clerk-role admin"),
    "claim": ("ClerkAcceptsToken any", "Require clerk-claim sub user_1"),
}


def location(name, extra, require="Require valid-user", secret=True, jwt_key=None):
    return """<Location /{name}/>
    AuthType Clerk
    AuthName clerk-e2e
    ClerkPublishableKey {pk}
    {sk}
    {jwt}
    ClerkMachineTokenCacheTTL 0
    ClerkMachineTokenNegativeCacheTTL 0
    ClerkPassClaimsAs both
    {extra}
    {require}
</Location>""".format(name=name, pk=PK, sk=("ClerkSecretKey " + SK) if secret else "",
                      jwt=('ClerkJWTKey "file:%s"' % jwt_key) if jwt_key else "",
                      extra=extra, require=require)


@pytest.fixture(scope="module")
def fake(minter):
    f = FakeClerk(minter, [SK], lambda inst: {})
    f.machine_secret_keys.append(MSK)
    yield f
    f.machine_release.set()
    f.stop()


@pytest.fixture(scope="module")
def server(work, fake, minter):
    h = ModuleHttpd(os.path.join(work, "machine-tokens"))
    names = list(LOCATIONS) + list(REQUIRES) + ["m2mfile", "m2mmsk/other"]
    for n in names:
        d = os.path.join(h.work, "htdocs", n)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "env.cgi"), "w") as f:
            f.write(ENV_CGI)
        os.chmod(os.path.join(d, "env.cgi"), 0o755)
    blocks = [location(n, e, secret=(n not in ("nokey", "jwt")),
                       jwt_key=minter.pub_pem if n == "jwt" else None)
              for n, e in LOCATIONS.items()]
    blocks += [location(n, e, r) for n, (e, r) in REQUIRES.items()]
    # The machine secret key from a file, written as an editor leaves it (final newline).
    msk_file = os.path.join(h.work, "machine-secret-key")
    with open(msk_file, "w") as f:
        f.write(MSK + "\n")
    blocks.append(location("m2mfile", "ClerkAcceptsToken m2m_token\n    "
                           'ClerkMachineSecretKeyFile "%s"' % msk_file, secret=False))
    # Another instance's section inside /m2mmsk/: its own (local) key source, no machine key.
    blocks.append("""<Location /m2mmsk/other/>
    ClerkPublishableKey {pk}
    ClerkJWTKey "file:{pem}"
</Location>""".format(pk=publishable_key("clerk.other.example.test"), pem=minter.pub_pem))
    h.configure("""ClerkAPIURL {api}
ClerkFetchTimeout 1 2
ClerkMachineTokenVerifyLimit 4 100
LimitRequestFieldSize 16384
LogLevel warn clerk_auth:debug
<Location /clerk-status>
    SetHandler clerk-status
</Location>
<Directory "{w}/htdocs">
    Options +ExecCGI
    AddHandler cgi-script .cgi
</Directory>
{blocks}
""".format(api=fake.base, w=h.work, blocks="\n".join(blocks)), extra_modules=("cgid",))
    h.start()
    yield h
    h.stop()


def call(server, path, token=None, headers=()):
    h = list(headers)
    if token is not None:
        remember(token)
        h.append("Authorization: Bearer " + token)
    return curl(server.url(path), h)


def env_of(r):
    assert r.status == 200, (r.status, r.headers, r.body)
    return json.loads(r.body)


def reason(r):
    return r.header("x-clerk-auth-reason")


def assert_once_per_process(server, logno):
    """logno was logged, and by no process twice (the error log names each line's pid)."""
    assert server.wait_log(logno)
    lines = [ln for ln in server.log_text().splitlines() if logno in ln]
    pids = [re.search(r"\[pid (\d+)", ln).group(1) for ln in lines]
    assert len(pids) == len(set(pids)), lines


def test_api_key_signs_in_with_the_sdks_machine_auth_object(server, fake):
    tok = fake.issue_api_key("user_1", scopes=["read:docs", "write:docs"], claims={"tier": "gold"},
                             name="ci key", expires_in=3600)
    # Look-alikes of the exports sent by the client are scrubbed, as for sessions.
    e = env_of(call(server, "/ak/env.cgi", tok, ["X-Clerk-Scopes: admin:all",
                                                 "X-Clerk-Machine-Id: mch_evil",
                                                 "X-Remote-User: someone"]))
    assert e["HTTP_X_CLERK_SCOPES"] == "read:docs write:docs"
    assert "HTTP_X_CLERK_MACHINE_ID" not in e
    assert e["REMOTE_USER"] == "user_1"
    assert e["AUTH_TYPE"] == "Clerk"
    assert e["CLERK_TOKEN_TYPE"] == "api_key"
    assert e["CLERK_USER_ID"] == "user_1"
    assert "CLERK_ORG_ID" not in e and "CLERK_MACHINE_ID" not in e
    assert e["CLERK_SCOPES"] == "read:docs write:docs"
    assert e["CLERK_API_KEY_NAME"] == "ci key"
    assert json.loads(e["CLERK_CLAIMS"]) == {"tier": "gold"}
    assert e["CLERK_AUTH_STATUS"] == "signed-in"
    # The same variables as headers; no session variable in either form.
    assert e["HTTP_X_CLERK_TOKEN_TYPE"] == "api_key"
    assert e["HTTP_X_REMOTE_USER"] == "user_1"
    for k in ("CLERK_SESSION_ID", "CLERK_ORG_ROLE", "CLERK_ORG_PERMISSIONS", "CLERK_SID"):
        assert k not in e and "HTTP_X_" + k not in e
    # The Backend API got the token in the body, the secret key as the bearer, no /v1.
    calls = [c for c in fake.requests if c[0] == "/api_keys/verify"]
    assert calls and calls[-1][2]["authorization"] == "Bearer " + SK
    assert fake.verify_calls(tok) == 1


def test_client_look_alikes_never_reach_a_signed_out_request(server, fake):
    r = call(server, "/ak/env.cgi", "ak_" + secrets.token_hex(8), ["X-Clerk-Token-Type: api_key"])
    assert r.status == 401 and "api_key" not in r.body


def test_org_subject_api_key(server, fake):
    tok = fake.issue_api_key("org_9", scopes=[])
    e = env_of(call(server, "/ak/env.cgi", tok))
    assert e["REMOTE_USER"] == "org_9"
    assert e["CLERK_ORG_ID"] == "org_9"
    assert "CLERK_USER_ID" not in e
    assert e["CLERK_SCOPES"] == ""


def test_m2m_and_oauth(server, fake):
    m = fake.issue_m2m("mch_42", scopes=["mch_7"])
    e = env_of(call(server, "/m2m/env.cgi", m))
    assert (e["REMOTE_USER"], e["CLERK_TOKEN_TYPE"], e["CLERK_MACHINE_ID"]) == (
        "mch_42", "m2m_token", "mch_42")
    o = fake.issue_oauth("user_5", client_id="client_77", scopes=["profile", "email"])
    e = env_of(call(server, "/oat/env.cgi", o))
    assert (e["REMOTE_USER"], e["CLERK_TOKEN_TYPE"], e["CLERK_CLIENT_ID"], e["CLERK_USER_ID"]) == (
        "user_5", "oauth_token", "client_77", "user_5")
    assert "CLERK_CLAIMS" not in e  # the SDK's OAuth auth object has no claims


def test_opaque_oauth_audience(server, fake):
    """ClerkAudience applies to an opaque OAuth token's answer, as IdPOAuthAccessTokenApi.verify
    asserts it (checked per section, after the shared cache)."""
    good = fake.issue_oauth("user_5", aud=["api.example", "other"])
    assert call(server, "/oataud/env.cgi", good).status == 200
    for aud in (["web.example"], None):
        tok = fake.issue_oauth("user_5", aud=aud)
        r = call(server, "/oataud/env.cgi", tok)
        assert r.status == 401 and reason(r) == "token-verification-failed", (aud, r.headers)
    # Where no audience is configured, any answer passes.
    assert call(server, "/oat/env.cgi", fake.issue_oauth("user_5", aud=["web.example"])).status == 200


def test_machine_secret_key_verifies_m2m(server, fake):
    m = fake.issue_m2m("mch_43")
    assert env_of(call(server, "/m2mmsk/env.cgi", m))["REMOTE_USER"] == "mch_43"
    calls = [c for c in fake.requests if c[0] == "/m2m_tokens/verify"]
    assert calls[-1][2]["authorization"] == "Bearer " + MSK


def test_machine_secret_key_file_verifies_m2m(server, fake):
    """ClerkMachineSecretKeyFile: the key read from the file at startup (trimmed) is the one the
    Backend API sees, with no ClerkSecretKey in the section."""
    m = fake.issue_m2m("mch_44")
    assert env_of(call(server, "/m2mfile/env.cgi", m))["REMOTE_USER"] == "mch_44"
    calls = [c for c in fake.requests if c[0] == "/m2m_tokens/verify"]
    assert calls[-1][2]["authorization"] == "Bearer " + MSK


def test_accepts_token_matrix(server, fake, minter):
    ak = fake.issue_api_key("user_1")
    mt = fake.issue_m2m("mch_1")
    oat = fake.issue_oauth("user_2")
    session = minter.sign()
    cases = [
        # (location, token, status, reason)
        ("s", ak, 401, None),  # the default refuses every machine token
        ("ak", mt, 401, "token-type-mismatch"),
        ("ak", session, 401, "token-type-mismatch"),
        ("ak", None, 401, "No token in header"),
        ("m2m", ak, 401, "token-type-mismatch"),
        ("oat", oat, 200, None),
        ("list", ak, 200, None),
        ("list", mt, 200, None),
        ("list", oat, 401, "token-type-mismatch"),
        ("list", session, 401, "token-type-mismatch"),
        ("list", None, 401, "token-type-mismatch"),
        ("mix", ak, 200, None),
        ("mix", mt, 401, "token-type-mismatch"),
        ("any", ak, 200, None),
        ("any", mt, 200, None),
        ("any", oat, 200, None),
    ]
    for loc, tok, status, why in cases:
        r = call(server, "/%s/env.cgi" % loc, tok)
        assert r.status == status, (loc, tok and tok[:4], r.status, r.headers)
        if why:
            assert reason(r) == why, (loc, tok and tok[:4], r.headers)
    # A machine token in a cookie is not read as one.
    r = curl(server.url("/ak/env.cgi"), ["Cookie: __session=" + ak])
    assert r.status == 401 and reason(r) == "No token in header"


def test_revocation_is_seen_within_the_readers_ttl(server, fake):
    """/cached/ (TTL 60) and /ak/ (TTL 0, "ask the Backend API every request") share one
    secret key, so one cache: the record /cached/ wrote must not let /ak/ skip its call."""
    tok = fake.issue_api_key("user_1")
    assert call(server, "/cached/env.cgi", tok).status == 200
    fake.revoke(tok)
    before = fake.verify_calls(tok)
    r = call(server, "/ak/env.cgi", tok)
    assert r.status == 401 and reason(r) == "token-invalid", (r.status, r.headers)
    assert fake.verify_calls(tok) == before + 1
    # /cached/ itself keeps its own, longer, revocation window.
    assert call(server, "/cached/env.cgi", tok).status == 200


def test_unknown_revoked_and_expired_are_refused(server, fake):
    r = call(server, "/ak/env.cgi", "ak_" + secrets.token_hex(16))
    assert r.status == 401 and reason(r) == "token-invalid"
    assert 'error_description="token-invalid"' in r.header("www-authenticate")
    tok = fake.issue_api_key("user_1")
    assert call(server, "/ak/env.cgi", tok).status == 200
    fake.revoke(tok)
    r = call(server, "/ak/env.cgi", tok)  # TTL 0 here: the revocation is seen at once
    assert r.status == 401 and reason(r) == "token-invalid"
    # Stricter than the SDK: a 200 that says revoked or expired is refused too.
    tok = fake.issue_api_key("user_1", answer_200=True)
    fake.revoke(tok)
    r = call(server, "/ak/env.cgi", tok)
    assert r.status == 401 and reason(r) == "token-invalid"
    tok = fake.issue_api_key("user_1", expires_in=-5, answer_200=True)
    r = call(server, "/ak/env.cgi", tok)
    assert r.status == 401 and reason(r) == "token-invalid"


def test_require_providers(server, fake, minter):
    reader = fake.issue_api_key("user_1", scopes=["read:docs"])
    nobody = fake.issue_api_key("user_1", scopes=["other"])
    mt = fake.issue_m2m("mch_2")
    assert call(server, "/scope/env.cgi", reader).status == 200
    assert call(server, "/scope/env.cgi", nobody).status == 403
    assert call(server, "/ttype/env.cgi", mt).status == 200
    assert call(server, "/ttype/env.cgi", reader).status == 403
    # The session providers deny a machine token (the SDK's machine has() is always false): 403.
    assert call(server, "/role/env.cgi", reader).status == 403
    assert call(server, "/claim/env.cgi", reader).status == 403
    # Without a token the providers ask for one: 401.
    assert call(server, "/scope/env.cgi").status == 401


def test_cache_verifies_once_per_ttl(server, fake):
    tok = fake.issue_api_key("user_3")
    for _ in range(5):
        assert call(server, "/cached/env.cgi", tok).status == 200
    assert fake.verify_calls(tok) == 1


def while_held(fake, requests, ready):
    """Runs requests (callables) in threads while the fake holds every verify call; releases it
    once ready(number answered) holds (polled, bounded) and returns the answers."""
    fake.machine_hold = threading.Event()
    results = []
    try:
        threads = [threading.Thread(target=lambda q=q: results.append(q())) for q in requests]
        for t in threads:
            t.start()
        for _ in range(200):
            if ready(len(results)):
                break
            threading.Event().wait(0.05)
        fake.machine_hold.set()
        for t in threads:
            t.join(20)
    finally:
        fake.machine_hold.set()
        fake.machine_hold = None
    return results


def test_single_flight_in_one_process(server, fake):
    """Concurrent requests for one unseen token wait for one Backend API call. The fake holds
    every verify call until released, so the requests are all in flight together."""
    tok = fake.issue_api_key("user_4")
    # Bounded wait for the first call to arrive; then let it answer.
    statuses = [r.status for r in while_held(
        fake, [lambda: call(server, "/cached/env.cgi", tok)] * 6,
        lambda done: fake.verify_calls(tok) >= 1)]
    assert statuses == [200] * 6
    # One per httpd process at most (this server runs one or two children).
    assert 1 <= fake.verify_calls(tok) <= 2, fake.verify_calls(tok)


def test_a_burst_of_new_keys_waits_for_a_slot(server, fake):
    """More new keys at once than a process verifies in flight (ClerkMachineTokenVerifyLimit 4
    here): the requests beyond the bound wait for a slot instead of being refused. The fake holds
    every call until 4 are held, or releases at once if an answer came back first (a refusal);
    then every request signs in."""
    per_process, k = 4, 12
    toks = [fake.issue_api_key("user_burst") for _ in range(k)]
    before = len(fake.machine_calls())
    fake.machine_max_held = 0
    results = while_held(fake, [lambda t=t: call(server, "/ak/env.cgi", t) for t in toks],
                         lambda done: done > 0 or len(fake.machine_calls()) - before >= per_process)
    assert [(r.status, reason(r)) for r in results] == [(200, None)] * k
    assert len(fake.machine_calls()) - before == k


def test_backend_api_calls_are_bounded_per_process(server, fake):
    """A flood of fresh tokens (each in no cache) cannot open unbounded outbound calls: at most
    ClerkMachineTokenVerifyLimit's 4 verifications run at once per process (this server has at
    most four: ServerLimit 4); the others wait for a slot at most the fetch timeout (3 s here) and are then signed
    out with unexpected-error without a call, and CLERK2010 says so. The fake holds every call
    until every request is answered or held, so the waits end without a slot; counted by the
    fake, never timed."""
    from collections import Counter
    per_process, processes, k = 4, 4, 40
    toks = [fake.issue_api_key("user_flood") for _ in range(k)]
    for t in toks:
        remember(t)
    before = len(fake.machine_calls())
    fake.machine_max_held = 0
    # Until every request is either answered or waiting at the fake.
    results = while_held(fake, [lambda t=t: call(server, "/ak/env.cgi", t) for t in toks],
                         lambda done: done + len(fake.machine_calls()) - before >= k)
    held = fake.machine_max_held
    assert len(results) == k
    assert 1 <= held <= per_process * processes, held
    outcomes = Counter((r.status, reason(r)) for r in results)
    refused = outcomes[(401, "unexpected-error")]
    assert refused >= 1 and refused + outcomes[(200, None)] == k, outcomes
    assert server.wait_log("CLERK2010")


@pytest.mark.parametrize("mode", ["500", "garbage", "huge", "wrong-type", "slow"])
def test_backend_api_failures_fail_closed(server, fake, mode):
    tok = fake.issue_api_key("user_1")
    fake.machine_mode = mode
    fake.machine_release.clear()
    try:
        r = call(server, "/ak/env.cgi", tok)
    finally:
        fake.machine_mode = None
        fake.machine_release.set()
    assert r.status == 401, (mode, r)
    assert reason(r) == "unexpected-error", (mode, r.headers)
    assert "REMOTE_USER" not in r.body
    # Not cached: the next request, with the Backend API back, signs in.
    assert call(server, "/ak/env.cgi", tok).status == 200


def test_wrong_secret_key_is_secret_key_invalid(server, fake):
    tok = fake.issue_api_key("user_1")
    keys = fake.secret_keys
    fake.secret_keys = ["sk_test_other"]
    try:
        r = call(server, "/ak/env.cgi", tok)
    finally:
        fake.secret_keys = keys
    assert r.status == 401 and reason(r) == "secret-key-invalid"
    assert server.wait_log("CLERK2002")


def test_refused_secret_key_is_logged_once_per_process(server, fake):
    """Any client can make the Backend API refuse the key again (a random ak_ token is enough),
    so the error is logged once per process and key, not once per request; every request still
    answers secret-key-invalid."""
    keys = fake.secret_keys
    fake.secret_keys = ["sk_test_other"]
    try:
        for i in range(12):
            r = call(server, ("/ak/env.cgi", "/list/env.cgi")[i % 2], fake.issue_api_key("user_1"))
            assert r.status == 401 and reason(r) == "secret-key-invalid"
    finally:
        fake.secret_keys = keys
    assert_once_per_process(server, "CLERK2002")


def test_bad_tokens_are_refused_unsent(server, fake):
    before = len(fake.machine_calls())
    big = "ak_" + "a" * 10240
    r = call(server, "/ak/env.cgi", big)
    assert r.status == 401 and reason(r) == "token-invalid"
    r = call(server, "/ak/env.cgi", "ak_\x7fgarbage")
    assert r.status in (400, 401)
    assert len(fake.machine_calls()) == before
    # Garbage after the prefix is asked about (it is printable) and refused.
    r = call(server, "/ak/env.cgi", "ak_" + "~!@#$%^&*()" * 3)
    assert r.status == 401 and reason(r) == "token-invalid"


def test_no_secret_key_fails_closed_with_a_reason(server, fake):
    tok = fake.issue_api_key("user_1")
    r = call(server, "/nokey/env.cgi", tok)
    assert r.status == 401 and reason(r) == "unexpected-error"
    assert server.wait_log("CLERK2007")
    assert fake.verify_calls(tok) == 0
    # Any client can repeat it: the error is logged once per process, not once per request.
    for _ in range(10):
        assert call(server, "/nokey/env.cgi", tok).status == 401
    assert_once_per_process(server, "CLERK2007")


def test_status_page_counts(server, fake):
    """Machine decisions by type and outcome, Backend API calls and shared-cache hits, counted
    by every process: each request below moves its counter by exactly one."""
    def page():
        return json.loads(curl(server.url("/clerk-status")).body)["machine_tokens"]

    before = page()
    ok = fake.issue_api_key("user_status")
    assert call(server, "/cached/env.cgi", ok).status == 200  # a call, a miss
    assert call(server, "/cached/env.cgi", ok).status == 200  # a hit
    assert call(server, "/ak/env.cgi", "ak_" + secrets.token_hex(8)).status == 401
    assert call(server, "/ak/env.cgi").status == 401  # routed, nothing verified
    after = page()
    d = lambda *path: (after[path[0]][path[1]] - before[path[0]][path[1]]) if len(path) == 2 \
        else after[path[0]][path[1]][path[2]] - before[path[0]][path[1]][path[2]]
    assert d("by_type", "api_key", "signed-in") == 2
    assert d("by_type", "api_key", "signed-out") == 1
    assert d("by_type", "not-verified", "signed-out") == 1
    assert d("backend_api_calls", "ok") == 1
    assert d("backend_api_calls", "failed") == 1  # the 404
    assert d("shared_cache", "hits") == 1
    prom = curl(server.url("/clerk-status?format=prometheus")).body
    assert 'clerk_auth_machine_verifications_total{type="api_key",outcome="signed-in"}' in prom
    assert "clerk_auth_machine_backend_api_calls_total" in prom
    text = server.log_text()
    for tok in fake.machine_tokens:
        assert tok not in text


def test_bad_directives_stop_configtest(work, server):
    """A typo in ClerkAcceptsToken or the TTLs fails `apache2 -t` naming the directive and line."""
    from conftest import APACHE, run
    empty, two, big = (os.path.join(server.work, n) for n in ("msk-empty", "msk-two", "msk-big"))
    for path, text in ((empty, "\n"), (two, MSK + "\n" + MSK + "\n"), (big, "ak_" + "x" * 5000)):
        with open(path, "w") as f:
            f.write(text)
    for line, needle in (("ClerkAcceptsToken api_keys", "'api_keys' is not a token type"),
                         ("ClerkAcceptsToken any api_key", "'any' stands alone"),
                         ("ClerkMachineTokenCacheTTL 1h", "not a number of seconds"),
                         ("ClerkMachineTokenNegativeCacheTTL -1", "not a number of seconds"),
                         ("ClerkMachineSecretKeyFile /nonexistent/msk", "cannot open"),
                         ('ClerkMachineSecretKeyFile "%s"' % empty, "does not hold one machine"),
                         ('ClerkMachineSecretKeyFile "%s"' % two, "does not hold one machine"),
                         ('ClerkMachineSecretKeyFile "%s"' % big, "larger than 4096 bytes")):
        conf = os.path.join(server.work, "bad.conf")
        with open(server.conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("ClerkAcceptsToken oauth_token", line, 1))
        r = run([APACHE, "-t", "-f", conf])
        assert r.returncode != 0, line
        out = r.stdout + r.stderr
        assert needle in out and "bad.conf" in out and line.split()[0] in out, out
    # The per-process bound: server-wide, main server only.
    for line, needle in (("ClerkMachineTokenVerifyLimit 0 100", "not a number of verifications in flight"),
                         ("ClerkMachineTokenVerifyLimit 8 lots", "not a number of verifications per second"),
                         ("ClerkMachineTokenVerifyLimit 8", "takes two arguments"),
                         ("<VirtualHost 127.0.0.1:1>\nClerkMachineTokenVerifyLimit 8 100\n"
                          "</VirtualHost>", "cannot occur within")):
        conf = os.path.join(server.work, "bad.conf")
        with open(server.conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("ClerkMachineTokenVerifyLimit 4 100", line, 1))
        r = run([APACHE, "-t", "-f", conf])
        assert r.returncode != 0, line
        out = r.stdout + r.stderr
        assert needle in out and "bad.conf" in out and "ClerkMachineTokenVerifyLimit" in out, out


def test_jwt_format_machine_tokens_verify_locally(server, fake, minter):
    """M2M JWTs (sub mch_) and OAuth JWTs (typ at+jwt) are verified with the instance's keys,
    with no Backend API call."""
    import time
    now = int(time.time())
    before = len(fake.machine_calls())
    m2m = minter.sign({"sub": "mch_jwt", "iat": now, "exp": now + 60, "jti": "mt_jwt1",
                       "scopes": "mch_a mch_b"}, header={"cat": "cl_B7d4PD333AAA"})
    e = env_of(call(server, "/jwt/env.cgi", m2m))
    assert (e["REMOTE_USER"], e["CLERK_TOKEN_TYPE"], e["CLERK_SCOPES"], e["CLERK_TOKEN_ID"]) == (
        "mch_jwt", "m2m_token", "mch_a mch_b", "mt_jwt1")
    oat = minter.sign({"sub": "user_jwt", "iat": now, "exp": now + 60, "client_id": "client_j",
                       "scope": "profile"}, header={"typ": "at+jwt"})
    e = env_of(call(server, "/jwt/env.cgi", oat))
    assert (e["REMOTE_USER"], e["CLERK_TOKEN_TYPE"], e["CLERK_CLIENT_ID"]) == (
        "user_jwt", "oauth_token", "client_j")
    # Forged, expired, or of a session's category: refused.
    forged = minter.sign({"sub": "mch_jwt", "iat": now, "exp": now + 60}, key="other")
    r = call(server, "/jwt/env.cgi", forged)
    assert r.status == 401 and reason(r) == "token-verification-failed"
    old = minter.sign({"sub": "mch_jwt", "iat": now - 600, "exp": now - 300})
    assert reason(call(server, "/jwt/env.cgi", old)) == "token-verification-failed"
    cat = minter.sign({"sub": "mch_jwt", "iat": now, "exp": now + 60},
                      header={"cat": "cl_B7d4PD111AAA"})
    assert reason(call(server, "/jwt/env.cgi", cat)) == "token-invalid"
    # A session token there is a type mismatch; an M2M JWT at a session location too.
    assert reason(call(server, "/jwt/env.cgi", minter.sign())) == "token-type-mismatch"
    assert len(fake.machine_calls()) == before


def test_machine_secret_key_stays_with_its_instance(server, fake):
    """ClerkMachineSecretKey is part of its section's key source: a nested section of another
    instance (its own ClerkPublishableKey and key source) does not inherit it: the outer
    instance's M2M token is refused there, and nothing is sent to the Backend API. (Last in the
    module: the refusal logs CLERK2007, which the log-once tests above count.)"""
    m = fake.issue_m2m("mch_outer")
    assert env_of(call(server, "/m2mmsk/env.cgi", m))["REMOTE_USER"] == "mch_outer"
    before = len(fake.machine_calls())
    r = call(server, "/m2mmsk/other/env.cgi", m)
    assert r.status == 401, (r.status, r.headers)
    assert len(fake.machine_calls()) == before
