"""Signed hand-off (ClerkSignedHeadersKeyFile): the headers a proxied back end receives carry
X-Clerk-Signature, and the verification code README.md gives for Python and for Node.js -
extracted from README.md and run as written - accepts them, and refuses them after any change
or without the signature. A client's own X-Clerk-Signature never gets through."""

import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import APACHE, PK, SRCDIR, curl, free_port, run, server_head
from jwks_server import ApacheProc, chmod_tree

KEY = "k3y-" + "0123456789abcdef" * 3


def readme_block(marker, lang):
    with open(os.path.join(SRCDIR, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- %s -->\n```%s\n(.*?)```" % (marker, lang), text, re.S)
    assert m, marker
    return m.group(1)


PY = {}
exec(readme_block("handoff-verify-python", "python"), PY)
NODE_SRC = readme_block("handoff-verify-node", "js")
NODE_MAIN = """
const input = JSON.parse(require("fs").readFileSync(0, "latin1"));
try {
  console.log(JSON.stringify({ok: clerkVerify(input.method, input.headers, input.key)}));
} catch (e) {
  console.log(JSON.stringify({error: e.message}));
}
"""


def node_verify(method, headers, key):
    node = shutil.which("node") or shutil.which("nodejs")
    r = subprocess.run([node, "-e", NODE_SRC + NODE_MAIN], capture_output=True, timeout=30,
                       input=json.dumps({"method": method, "headers": headers, "key": key},
                                        ensure_ascii=False).encode("latin-1"))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.decode("utf-8"))  # console.log writes UTF-8


def both_verify(method, headers, key=KEY):
    """What each README verifier says: (python result or error text, node result or error)."""
    try:
        py = PY["clerk_verify"](method, headers, key.encode())
    except ValueError as e:
        py = "error: " + str(e)
    nd = node_verify(method, headers, key)
    return py, ("error: " + nd["error"]) if "error" in nd else nd["ok"]


class HandoffHttpd(ApacheProc):
    def __init__(self, work, minter, echo_port, key_text=KEY):
        super().__init__(work)
        self.port = free_port()
        keyfile = os.path.join(work, "handoff.key")
        with open(keyfile, "w") as f:
            f.write(key_text + "\n")
        os.chmod(keyfile, 0o600)
        loc = """<Location /{name}/>
    AuthType Clerk
    AuthName clerk-e2e
    ClerkPublishableKey {pk}
    ClerkJWTKey "file:{pub}"
    ClerkPassClaimsAs headers
    {extra}
</Location>"""
        locs = "\n".join(loc.format(name=n, pk=PK, pub=minter.pub_pem, extra=e) for n, e in (
            ("signed", 'ClerkSignedHeadersKeyFile "%s"\n    Require valid-user' % keyfile),
            ("signed-pass", 'ClerkSignedHeadersKeyFile "%s"\n    ClerkUnauthAction pass\n'
                            '    Require all granted' % keyfile),
            ("plain", "Require valid-user")))
        self.write_conf(server_head(work, self.port) + """
ProxyPass /signed/ http://127.0.0.1:{echo}/signed/
ProxyPass /signed-pass/ http://127.0.0.1:{echo}/signed-pass/
ProxyPass /plain/ http://127.0.0.1:{echo}/plain/
{locs}
""".format(echo=echo_port, locs=locs))
        chmod_tree(work)

    def start(self):
        super().start(self.port)

    def get(self, path, headers=()):
        r = curl("http://127.0.0.1:%d%s" % (self.port, path), list(headers))
        assert r.status == 200, r
        return [tuple(h) for h in r.json()["headers"]]


@pytest.fixture(scope="module")
def h(work, minter, echo_backend):
    srv = HandoffHttpd(os.path.join(work, "handoff"), minter, echo_backend)
    srv.start()
    yield srv
    srv.stop()


def value(hdrs, name):
    vals = [v for k, v in hdrs if k.lower() == name.lower()]
    assert len(vals) <= 1, hdrs
    return vals[0] if vals else None


def test_back_end_verifies_what_httpd_decided(h, minter):
    c = minter.claims(name="caf\u00e9 \u2603", public_metadata={"plan": "pro"})
    hdrs = h.get("/signed/x", ["Authorization: Bearer " + minter.sign(c),
                               "X-Clerk-Signature: v1;t=1;h=;s=forged"])
    sig = value(hdrs, "X-Clerk-Signature")
    assert sig and sig.startswith("v1;t=") and "forged" not in sig, hdrs
    py, nd = both_verify("GET", hdrs)
    for got in (py, nd):
        assert isinstance(got, dict), got
        assert got["x-remote-user"] == c["sub"] and got["x-clerk-user-id"] == c["sub"]
        assert got["x-clerk-auth-status"] == "signed-in" and got["x-auth-type"] == "Clerk"
        # The non-ASCII claim reached the back end as bytes (latin-1 text here) and verified.
        assert got["x-clerk-claim-name"] == value(hdrs, "X-Clerk-Claim-Name")
        assert max(map(ord, got["x-clerk-claim-name"])) > 0x7f
    assert "authorization" not in py and "host" not in py


@pytest.mark.parametrize("change", ["value", "drop", "method", "name-list", "old"])
def test_any_change_is_refused(h, minter, change):
    c = minter.claims()
    hdrs = h.get("/signed/x", ["Authorization: Bearer " + minter.sign(c)])
    method = "GET"
    if change == "value":
        hdrs = [(k, "user_evil" if k.lower() == "x-remote-user" else v) for k, v in hdrs]
    elif change == "drop":
        hdrs = [(k, v) for k, v in hdrs if k.lower() != "x-clerk-user-id"]
    elif change == "method":
        method = "POST"
    elif change == "name-list":
        hdrs = [(k, re.sub(r"h=[^;]*", "h=x-auth-type", v) if k.lower() == "x-clerk-signature"
                 else v) for k, v in hdrs]
    else:
        hdrs = [(k, re.sub(r"t=\d+", "t=1000000000", v) if k.lower() == "x-clerk-signature"
                 else v) for k, v in hdrs]
    py, nd = both_verify(method, hdrs)
    assert isinstance(py, str) and py.startswith("error"), py
    assert isinstance(nd, str) and nd.startswith("error"), nd


def test_forged_request_straight_to_the_back_end_is_refused():
    forged = [("Host", "backend"), ("X-Remote-User", "user_evil"),
              ("X-Clerk-Auth-Status", "signed-in")]
    py, nd = both_verify("GET", forged)
    assert py == "error: no v1 signature" and nd == "error: no v1 signature", (py, nd)
    py, nd = both_verify("GET", forged, key="another-key-" + "x" * 32)
    assert py.startswith("error") and nd.startswith("error")


def test_signed_out_state_is_signed_too(h):
    hdrs = h.get("/signed-pass/x", ["X-Remote-User: user_evil"])
    py, nd = both_verify("GET", hdrs)
    for got in (py, nd):
        assert got["x-clerk-auth-status"] == "signed-out", got
        assert "x-remote-user" not in got
    assert value(hdrs, "X-Remote-User") is None


def test_without_the_directive_no_signature(h, minter):
    hdrs = h.get("/plain/x", ["Authorization: Bearer " + minter.sign(),
                              "X-Clerk-Signature: v1;t=1;h=;s=forged"])
    assert value(hdrs, "X-Clerk-Signature") is None, hdrs
    assert value(hdrs, "X-Remote-User") is not None


def test_short_key_refused_at_startup(work, minter, echo_backend):
    srv = HandoffHttpd(os.path.join(work, "handoff-short"), minter, echo_backend,
                       key_text="too-short")
    r = run([APACHE, "-t", "-f", srv.conf])
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "ClerkSignedHeadersKeyFile" in out and "at least 32" in out, out
    assert "too-short" not in out
