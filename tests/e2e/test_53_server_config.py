"""The server-wide fetch and cache directives (docs/design.md#key-sources, #configuration-errors):
checked at startup, refused with the directive, file and line; accepted in the main server and in a
virtual host, never in a directory section."""

import os
import re

import pytest

from conftest import APACHE, PK, free_port, remember_secret, run, server_head

SK = "sk_test_" + "0f" * 20
remember_secret(SK)


def write(work, name, server_lines, location_lines=()):
    d = os.path.join(work, "t53-" + name)
    for sub in ("run", "logs"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    lines = server_head(d, free_port()).splitlines()
    marks = {}
    body = list(server_lines) + ["<Location /t/>", "    AuthType Clerk",
                                 "    ClerkPublishableKey " + PK, "    ClerkSecretKey " + SK,
                                 *("    " + l for l in location_lines),
                                 "    Require valid-user", "</Location>"]
    for l in body:
        if "#BAD" in l:
            marks["bad"] = len(lines) + 1
            l = l.replace("#BAD", "").rstrip()
        lines.append(l)
    path = os.path.join(d, "httpd.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, marks.get("bad")


def configtest(path):
    r = run([APACHE, "-t", "-f", path])
    return r.returncode, r.stdout + r.stderr


def test_every_directive_accepted_in_main_server_and_virtual_host(work):
    ca = "/etc/ssl/certs/ca-certificates.crt"
    settings = ["ClerkAPIURL https://api.clerk.example.test", 'ClerkCABundle "%s"' % ca,
                "ClerkCache shmcb", "ClerkJWKSRefresh 600", "ClerkJWKSMinRefresh 5",
                "ClerkJWKSMaxStale 7200", "ClerkFetchTimeout 2 8"]
    path, _ = write(work, "ok", settings + ["<VirtualHost 127.0.0.1:%d>" % free_port()] +
                    ["    " + s for s in settings[:3] + ["ClerkFetchTimeout 5"]] +
                    ["</VirtualHost>"])
    rc, out = configtest(path)
    assert rc == 0 and "Syntax OK" in out, out


@pytest.mark.parametrize("case,server,location,needle", [
    ("provider-not-loaded", ["ClerkCache nosuch:whatever #BAD"], [], "ClerkCache"),
    ("ca-missing", ['ClerkCABundle "/nonexistent/ca.pem" #BAD'], [], "ClerkCABundle"),
    ("ca-not-pem", ['ClerkCABundle "/etc/hostname" #BAD'], [], "ClerkCABundle"),
    ("api-url-relative", ["ClerkAPIURL /v1 #BAD"], [], "ClerkAPIURL"),
    ("api-url-in-location", [], ["ClerkAPIURL https://api.clerk.com #BAD"], "ClerkAPIURL"),
    ("refresh-zero", ["ClerkJWKSRefresh 0 #BAD"], [], "ClerkJWKSRefresh"),
    ("min-refresh-words", ["ClerkJWKSMinRefresh soon #BAD"], [], "ClerkJWKSMinRefresh"),
    ("timeout-connect-over-total", ["ClerkFetchTimeout 9 3 #BAD"], [], "ClerkFetchTimeout"),
])
def test_bad_server_directive_is_refused_with_file_and_line(work, case, server, location,
                                                            needle):
    path, bad = write(work, case, server, location)
    rc, out = configtest(path)
    assert rc != 0 and "Syntax OK" not in out, out
    assert needle in out and path in out, out
    assert re.search(r"\bline %d\b" % bad, out), (bad, out)
