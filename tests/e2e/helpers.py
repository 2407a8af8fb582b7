"""Assertions shared by the e2e tests, each stating what docs/design.md promises for a
response, and the server pieces several modules start the same way."""

import base64
import json
import os
import re
import subprocess

from conftest import AUTH_NAME, ENV_CGI, FAPI_HOST, PK, Httpd, Minter
from fake_clerk import FakeClerk, Instance


def signed_in(r):
    """200 from the env CGI; returns what the application saw."""
    assert r.status == 200, r
    assert r.header("x-clerk-auth-status") is None, "signed-in responses carry no state header"
    return r.json()


def www_authenticate(r):
    www = r.header("www-authenticate")
    assert www is not None, "401 without WWW-Authenticate: %r" % (r,)
    assert www.startswith("Bearer "), www
    return www


def signed_out(r, reason, presented=True, realm=AUTH_NAME, status=401):
    """Clerk's signed-out answer under ClerkUnauthAction auth (docs/design.md#signed-out-actions):
    401 with a Bearer challenge, error="invalid_token" only when a token was sent, and the state
    headers. reason None: any reason (the design names none for that case); presented None: either
    challenge form."""
    assert r.status == status, r
    assert r.header("x-clerk-auth-status") == "signed-out", r
    got = r.header("x-clerk-auth-reason")
    assert got, r
    if reason is not None:
        assert got == reason, r
    www = www_authenticate(r)
    if realm is not None:
        assert 'realm="%s"' % realm in www, www
    else:
        assert re.search(r'realm="[^"]+"', www), www
    if presented:
        assert 'error="invalid_token"' in www, www
        assert 'error_description="%s"' % got in www, www
    elif presented is not None:
        assert "error=" not in www, www
    # ClerkDebugHeaders is Off by default with production keys.
    assert r.header("x-clerk-auth-message") is None, r
    return got


def handshake(r, reason):
    """A handshake decision for a GET document request (docs/design.md#handshake,
    tokens/handshake.ts buildRedirectToHandshake): a 307 to the Frontend API handshake URL with
    no-store, the first redirect-count cookie and the state headers."""
    assert r.status == 307, r
    assert r.header("x-clerk-auth-status") == "handshake", r
    assert r.header("x-clerk-auth-reason") == reason, r
    loc = r.header("location")
    assert loc.startswith("https://%s/v1/client/handshake?redirect_url=" % FAPI_HOST), loc
    assert "&__clerk_hs_reason=%s" % reason in loc, loc
    assert r.header("cache-control") == "no-store", r
    assert "__clerk_redirect_count=1; SameSite=Lax; HttpOnly; Max-Age=2" in r.all("set-cookie"), r
    assert r.header("www-authenticate") is None, r


def b64url_json(seg):
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


class FakeClerkHttpd(Httpd):
    """An httpd of a module's own whose locations send handshakes to a fake Clerk
    (two_instance_clerk); DIRS names its CGI directories, REALM its AuthName."""

    DIRS = ()
    REALM = "clerk-fake"

    def __init__(self, work, minter, fake):
        self.fake = fake
        super().__init__(work, minter, 0)

    def _layout(self):
        """run/, logs/ and htdocs/<d>/env.cgi for each of DIRS, all mode 0755 so the
        unprivileged children can read and run them."""
        for d in ("run", "logs", "htdocs"):
            os.makedirs(os.path.join(self.work, d), exist_ok=True)
        for d in self.DIRS:
            p = os.path.join(self.work, "htdocs", d)
            os.makedirs(p, exist_ok=True)
            with open(os.path.join(p, "env.cgi"), "w") as f:
                f.write(ENV_CGI)
        for root, subdirs, files in os.walk(self.work):
            for d in subdirs:
                os.chmod(os.path.join(root, d), 0o755)
            for fn in files:
                os.chmod(os.path.join(root, fn), 0o755)

    def docroot(self):
        """The DocumentRoot _layout made, every *.cgi under it run as a CGI."""
        return """DocumentRoot "{work}/htdocs"
<Directory "{work}/htdocs">
    Options +ExecCGI
    AddHandler cgi-script .cgi
    AllowOverride None
    Require all granted
</Directory>
""".format(work=self.work)

    def location(self, name, pk, inst, extra=""):
        """<Location /name/>: sessions verified with the minter's key, handshakes sent to the
        fake Clerk's instance inst ("prod" or "dev")."""
        return """<Location /{name}/>
    AuthType Clerk
    AuthName "{realm}"
    ClerkPublishableKey {pk}
    ClerkJWTKey "file:{pem}"
    ClerkFrontendAPI {fapi}/{inst}
    {extra}
    Require valid-user
</Location>
""".format(name=name, realm=self.REALM, pk=pk, pem=self.minter.pub_pem, fapi=self.fake.base,
           inst=inst, extra=extra)


def two_instance_clerk(minter, secret_keys, dev_host):
    """A fake Clerk (fake_clerk.py) with a production instance "prod" on FAPI_HOST and a
    development instance "dev" on dev_host, each minting sessions for its own issuer."""
    def claims_for(inst):
        host = dev_host if inst.dev else FAPI_HOST
        return Minter.claims(sub=inst.sub, iss="https://" + host, azp=None)

    f = FakeClerk(minter, secret_keys, claims_for)
    f.instances["prod"] = Instance(dev=False)
    f.instances["dev"] = Instance(dev=True)
    return f


def stop_process(proc):
    """Ends a helper daemon: SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def jwks_location(path, url):
    """A <Location> that admits only sessions verified with the keys of the JWKS at url."""
    return """<Location {path}>
    AuthType Clerk
    AuthName clerk-e2e
    ClerkPublishableKey {pk}
    ClerkJWKSURL {url}
    Require valid-user
</Location>""".format(path=path, pk=PK, url=url)
