"""The status page and the logs leak nothing (SECURITY.md, "The status page and the logs"): a
ClerkJWKSURL carrying user:password and a query string is shown as https://***@host/path?***
in every log line and on the status page, a failed fetch included; a key file's path is on the
status page only under ClerkStatusShowPaths On."""

import json
import os
import time

from conftest import PK, curl
from helpers import jwks_location
from jwks_server import ModuleHttpd, jwks_server  # noqa: F401

SECRET_USER, SECRET_PASS, SECRET_QUERY = "opsuser", "pw-s3cret", "qs-s3cret"


def site(work, jwks_server, minter, name, extra=""):
    h = ModuleHttpd(os.path.join(work, name))
    host = jwks_server.base[len("https://"):]
    url = "https://%s:%s@%s/.well-known/jwks.json?token=%s" % (SECRET_USER, SECRET_PASS, host,
                                                              SECRET_QUERY)
    shown = "https://***@%s/.well-known/jwks.json?***" % host
    h.configure("""ClerkCABundle "{ca}"
ClerkJWKSMinRefresh 1
{extra}
{loc}
<Location /p/>
    AuthType Clerk
    AuthName clerk-e2e
    ClerkPublishableKey {pk}
    ClerkJWTKey "file:{pem}"
    Require valid-user
</Location>
<Location /clerk-status>
    SetHandler clerk-status
    Require all granted
</Location>
""".format(ca=jwks_server.ca, extra=extra, pk=PK, loc=jwks_location("/u/", url),
           pem=minter.pub_pem))
    return h, shown


def status(h):
    r = curl(h.url("/clerk-status"))
    assert r.status == 200, r
    return r.body, json.loads(r.body)


def no_secret(text):
    return all(s not in text for s in (SECRET_USER, SECRET_PASS, SECRET_QUERY))


def test_url_credentials_and_query_never_shown(work, jwks_server, minter):
    jwks_server.set_state("good")
    h, shown = site(work, jwks_server, minter, "mod-redact")
    h.start()
    try:
        assert h.wait_log("JWKS fetched from %s: 1 keys" % shown), h.tail()
        assert curl(h.url("/u/hello.txt"), ["Authorization: Bearer " + minter.sign()]).status == 200
        assert curl(h.url("/p/hello.txt"), ["Authorization: Bearer " + minter.sign()]).status == 200

        jwks_server.set_state("500")  # a failed fetch and its messages
        unknown = minter.sign(header={"kid": "ins_unknown"})
        for _ in range(50):
            curl(h.url("/u/hello.txt"), ["Authorization: Bearer " + unknown])
            if "JWKS refresh failed" in h.log_text():
                break
            time.sleep(0.1)
        assert "JWKS refresh failed" in h.log_text(), h.tail()
        assert "Error loading Clerk JWKS from %s with code=500" % shown in h.log_text(), h.tail()

        text, page = status(h)
        remote = [s for s in page["key_sources"] if s["source"] == "remote"]
        assert remote and remote[0]["url"] == shown, remote
        assert remote[0]["last_error"] == "Error loading Clerk JWKS from %s with code=500" % shown
        pem = [s for s in page["key_sources"] if s["source"] == "pem"]
        assert pem and "file" not in pem[0], pem
        assert minter.pub_pem not in text
        assert no_secret(text), text
        assert no_secret(h.log_text()), h.log_text()
    finally:
        h.stop()
        jwks_server.set_state("good")


def test_key_file_path_shown_when_the_operator_opts_in(work, jwks_server, minter):
    h, _ = site(work, jwks_server, minter, "mod-redact-paths", extra="ClerkStatusShowPaths On")
    h.start()
    try:
        _, page = status(h)
        pem = [s for s in page["key_sources"] if s["source"] == "pem"]
        assert pem and pem[0]["file"] == minter.pub_pem, pem
    finally:
        h.stop()
