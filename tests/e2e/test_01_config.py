"""Configuration errors are refused by `apache2 -t`, naming the file and line
(docs/design.md#configuration-errors)."""

import base64
import os
import re

import pytest

from conftest import APACHE, PK, free_port, run, server_head


def write_conf(work, name, body_lines):
    """A minimal config whose <Location> holds body_lines; returns (path, {marker: line})."""
    head = server_head(os.path.join(work, "t-" + name), free_port())
    lines = head.splitlines() + ["<Location /t/>"] + ["    " + l for l in body_lines] + \
        ["</Location>"]
    marks = {}
    for i, l in enumerate(lines, 1):
        if "#BAD" in l:
            marks["bad"] = i
            lines[i - 1] = l.replace("#BAD", "").rstrip()
    d = os.path.join(work, "t-" + name)
    os.makedirs(os.path.join(d, "run"), exist_ok=True)
    os.makedirs(os.path.join(d, "logs"), exist_ok=True)
    path = os.path.join(d, "httpd.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, marks


def configtest(path):
    r = run([APACHE, "-t", "-f", path])
    return r.returncode, r.stdout + r.stderr


def test_suite_configuration_passes_configtest(httpd):
    rc, out = configtest(httpd.conf)
    assert rc == 0, out
    assert "Syntax OK" in out


def bad_cases(minter_pub, bad_pem, bad_jwks):
    key = 'ClerkJWTKey "file:%s"' % minter_pub
    no_dollar = "pk_live_" + base64.b64encode(b"clerk.example.test").decode()
    return {
        "pk-garbage": ["AuthType Clerk", "ClerkPublishableKey pk_live_@@@notbase64 #BAD", key],
        "pk-no-dollar": ["AuthType Clerk", "ClerkPublishableKey %s #BAD" % no_dollar, key],
        "pk-wrong-prefix": ["AuthType Clerk", "ClerkPublishableKey sk_live_abcdef #BAD", key],
        "secret-key-malformed": ["AuthType Clerk", "ClerkPublishableKey " + PK,
                                 "ClerkSecretKey not-a-secret-key #BAD"],
        "pem-garbage": ["AuthType Clerk", "ClerkPublishableKey " + PK,
                        'ClerkJWTKey "file:%s" #BAD' % bad_pem],
        "pem-missing-file": ["AuthType Clerk", "ClerkPublishableKey " + PK,
                             'ClerkJWTKey "file:/nonexistent/clerk.pem" #BAD'],
        "jwks-garbage": ["AuthType Clerk", "ClerkPublishableKey " + PK,
                         'ClerkJWKSFile "%s" #BAD' % bad_jwks],
        "alg-hs256": ["AuthType Clerk", "ClerkPublishableKey " + PK, key,
                      "ClerkAllowedAlgorithms RS256 HS256 #BAD"],
        "alg-none": ["AuthType Clerk", "ClerkPublishableKey " + PK, key,
                     "ClerkAllowedAlgorithms none #BAD"],
        "alg-bogus": ["AuthType Clerk", "ClerkPublishableKey " + PK, key,
                      "ClerkAllowedAlgorithms RS256 bogus #BAD"],
        "signin-relative": ["AuthType Clerk", "ClerkPublishableKey " + PK, key,
                            "ClerkSignInURL /sign-in #BAD"],
        "unauth-action-bad": ["AuthType Clerk", "ClerkPublishableKey " + PK, key,
                              "ClerkUnauthAction maybe #BAD"],
        "authtype-without-key-source": ["AuthType Clerk #BAD", "Require valid-user"],
    }


CASES = sorted(bad_cases("x", "x", "x").keys())


@pytest.mark.parametrize("case", CASES)
def test_bad_directive_is_refused_with_file_and_line(case, work, minter):
    bad_pem = os.path.join(work, "keys", "bad.pem")
    with open(bad_pem, "w") as f:
        f.write("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n")
    bad_jwks = os.path.join(work, "keys", "bad-jwks.json")
    with open(bad_jwks, "w") as f:
        f.write('{"keys": [{"kty": "RSA", "kid": "x"')
    for p in (bad_pem, bad_jwks):
        os.chmod(p, 0o644)
    body = bad_cases(minter.pub_pem, bad_pem, bad_jwks)[case]
    path, marks = write_conf(work, case, body)
    rc, out = configtest(path)
    assert rc != 0, "configtest accepted %s:\n%s" % (case, out)
    assert "Syntax OK" not in out, out
    assert path in out, out
    line = marks["bad"]
    loc_line = line - body.index(next(l for l in body if "#BAD" in l)) - 1
    lines = {line, loc_line} if case == "authtype-without-key-source" else {line}
    assert any(re.search(r"\bline %d\b|:%d\b" % (n, n), out) for n in lines), (lines, out)


def test_cache_provider_not_loaded_is_refused(work, minter):
    path, _ = write_conf(work, "cache", ["AuthType Clerk", "ClerkPublishableKey " + PK,
                                         'ClerkJWTKey "file:%s"' % minter.pub_pem,
                                         "Require valid-user"])
    with open(path) as f:
        lines = f.read().splitlines()
    at = lines.index("<Location /t/>")
    lines.insert(at, "ClerkCache memcache:127.0.0.1:11211")
    n = at + 1
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    rc, out = configtest(path)
    assert rc != 0, out
    assert path in out and re.search(r"\bline %d\b|:%d\b" % (n, n), out), (n, out)
