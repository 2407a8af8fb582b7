"""ClerkOutgoingProxy / ClerkOutgoingProxyAuthFile: every fetch to Clerk (the Backend API JWKS
with the secret key, a ClerkJWKSURL) goes through a real proxy on loopback (Debian's tinyproxy),
TLS still verified end to end (CONNECT tunnel, test CA through ClerkCABundle).

The direct route is closed: the JWKS server's host name, jwks.proxytest.invalid, resolves only
inside tinyproxy's own mount namespace (a private /etc/hosts bound over the real one with
`unshare -m`); httpd, told to use the proxy, never resolves it itself, and without the proxy the
name does not resolve at all (.invalid is reserved). The proxy's own log proves it carried the
CONNECTs; the JWKS server's access log counts what arrived."""

import json
import os
import secrets
import shutil
import subprocess

import pytest

import conftest
from conftest import APACHE, PK, curl, free_port, run
from fake_clerk import FakeClerk, Instance
from helpers import jwks_location, signed_out, stop_process
from jwks_server import (SECRETS, JwksServer, ModuleHttpd, openssl, wait_port)

HOST = "jwks.proxytest.invalid"
USER, PASSWORD = "clerk-svc", "Pr0xy-pa55-word"
TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"


class NamedJwksServer(JwksServer):
    """The e2e JWKS server with a certificate for HOST (signed by the same test CA)."""

    def __init__(self, work, minter):
        super().__init__(work, minter)
        pki = os.path.join(work, "pki")
        with open(os.path.join(pki, "named.cnf"), "w") as f:
            f.write("subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n" % HOST)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "named.key", "-out",
                "named.csr", "-subj", "/CN=" + HOST, cwd=pki)
        openssl("x509", "-req", "-in", "named.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "named.pem", "-days", "2", "-extfile", "named.cnf",
                cwd=pki)
        for f in ("named.pem", "named.key"):
            os.chmod(os.path.join(pki, f), 0o644)
        with open(self.conf) as f:
            text = f.read()
        text = text.replace(os.path.join(pki, "server.pem"), os.path.join(pki, "named.pem"))
        text = text.replace(os.path.join(pki, "server.key"), os.path.join(pki, "named.key"))
        self.write_conf(text)

    @property
    def base(self):
        return "https://%s:%d" % (HOST, self.port)


class Tinyproxy:
    """tinyproxy on 127.0.0.1 with Basic credentials, in a mount namespace whose /etc/hosts
    alone maps HOST to 127.0.0.1."""

    def __init__(self, work):
        os.makedirs(work, exist_ok=True)
        self.port = free_port()
        self.log = os.path.join(work, "tinyproxy.log")
        hosts = os.path.join(work, "hosts")
        with open(hosts, "w") as f:
            f.write("127.0.0.1 localhost\n127.0.0.1 %s\n" % HOST)
        conf = os.path.join(work, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write('Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile "{log}"\n'
                    'LogLevel Info\nMaxClients 20\nBasicAuth {u} {p}\n'.format(
                        port=self.port, log=self.log, u=USER, p=PASSWORD))
        self.out = open(os.path.join(work, "stdout.log"), "w")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "sh", "-c",
             'mount --bind "$0" /etc/hosts && exec "$1" -d -c "$2"', hosts, TINYPROXY, conf],
            stdout=self.out, stderr=subprocess.STDOUT)
        if not wait_port(self.port, timeout=10):
            self.stop()
            raise RuntimeError("tinyproxy did not start: %s" % self.log_text())

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def connects(self):
        return [l for l in self.log_text().splitlines() if "CONNECT %s:" % HOST in l]

    def stop(self):
        stop_process(self.proc)
        self.out.close()


@pytest.fixture(scope="module")
def jwks(work, minter):
    srv = NamedJwksServer(os.path.join(work, "proxy-jwks"), minter)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def proxy(work):
    p = Tinyproxy(os.path.join(work, "tinyproxy"))
    yield p
    p.stop()


def creds_file(work, name, content):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(content)
    os.chmod(path, 0o600)  # read by the root parent at startup, never by a child
    return path


def instance(work, name, jwks, server_lines):
    h = ModuleHttpd(os.path.join(work, name))
    body = """ClerkAPIURL {api}
ClerkCABundle "{ca}"
{server}
<Location /p/>
    AuthType Clerk
    AuthName clerk-e2e
    ClerkPublishableKey {pk}
    ClerkSecretKey {sk}
    Require valid-user
</Location>
{wk}
<Location /clerk-status>
    SetHandler clerk-status
</Location>
""".format(api=jwks.base, ca=jwks.ca, server="\n".join(server_lines), pk=PK, sk=SECRETS["P"],
           wk=jwks_location("/wk/", jwks.base + "/.well-known/jwks.json"))
    h.configure(body)
    return h


def req(h, path, token):
    return curl(h.url(path), ["Authorization: Bearer " + token])


def test_fetches_go_through_the_proxy_with_its_credentials(work, jwks, proxy, minter):
    auth = creds_file(work, "proxy-auth-good", "%s:%s\n" % (USER, PASSWORD))
    h = instance(work, "proxy-good", jwks, [
        "ClerkOutgoingProxy 127.0.0.1:%d" % proxy.port,
        'ClerkOutgoingProxyAuthFile "%s"' % auth])
    h.start()
    try:
        r = req(h, "/p/hello.txt", minter.sign())
        assert r.status == 200 and r.body == "hello\n", (r, h.tail())
        r = req(h, "/wk/hello.txt", minter.sign())
        assert r.status == 200 and r.body == "hello\n", (r, h.tail())
        # Both fetches reached the JWKS server (the Backend API one with the secret key)...
        assert any(" 200 auth=P " in l for l in jwks.fetches("P")), jwks.lines()
        assert jwks.fetches(path="/.well-known/jwks.json"), jwks.lines()
        # ...through tinyproxy, the only resolver of that name, as CONNECT tunnels.
        assert len(proxy.connects()) >= 2, proxy.log_text()
        status = json.loads(curl(h.url("/clerk-status")).body)
        proxies = {s.get("outgoing_proxy") for s in status["key_sources"]
                   if s["source"] == "remote"}
        assert proxies == {"http://127.0.0.1:%d" % proxy.port}, status
    finally:
        h.stop()
    # The credentials reach no log and no page.
    page = json.dumps(status)
    for text in (h.log_text(), page, open(h.access_log).read()):
        assert PASSWORD not in text and "Pr0xy" not in text


def test_wrong_credentials_fail_closed(work, jwks, proxy, minter):
    auth = creds_file(work, "proxy-auth-bad", "%s:not-the-password\n" % USER)
    before = len(jwks.lines())
    h = instance(work, "proxy-bad", jwks, [
        "ClerkOutgoingProxy http://127.0.0.1:%d/" % proxy.port,
        'ClerkOutgoingProxyAuthFile "%s"' % auth])
    h.start()
    try:
        signed_out(req(h, "/p/hello.txt", minter.sign()), "jwk-remote-failed-to-load",
                   realm=None)
        # tinyproxy refuses the tunnel (it answers 401 where RFC 9110 says 407).
        assert h.wait_log("CONNECT tunnel failed, response 40"), h.tail()
    finally:
        h.stop()
    assert len(jwks.lines()) == before, jwks.lines()
    assert "not-the-password" not in h.log_text()


def test_without_the_proxy_the_direct_route_is_closed(work, jwks, proxy, minter):
    before = len(jwks.lines())
    h = instance(work, "proxy-none", jwks, [])
    h.start()
    try:
        signed_out(req(h, "/p/hello.txt", minter.sign()), "jwk-remote-failed-to-load",
                   realm=None)
        signed_out(req(h, "/wk/hello.txt", minter.sign()), "jwk-remote-failed-to-load",
                   realm=None)
        assert h.wait_log("resolve"), h.tail()
    finally:
        h.stop()
    assert len(jwks.lines()) == before, jwks.lines()


def test_handshake_nonce_exchange_to_http_loopback_bypasses_the_proxy(work, proxy, minter):
    """The handshake's nonce exchange to a plain http:// ClerkAPIURL (allowed to loopback only)
    never takes the proxy: through it, the secret key would cross the proxy in the clear and the
    proxy could answer for Clerk. The fake Backend API saw no Via header and tinyproxy's log
    names neither the fake's port nor the Backend API path. (https exchanges take the proxy's
    CONNECT tunnel like the JWKS fetch; the unit suite pins that.)"""
    secret = "sk_live_" + secrets.token_hex(16)
    fake = FakeClerk(minter, (secret,), lambda inst: conftest.Minter.claims(
        sub=inst.sub, iss="https://" + conftest.FAPI_HOST, azp=None))
    inst = fake.instances["prod"] = Instance(dev=False)
    nonce = "nonce-" + secrets.token_hex(6)
    fake.nonces[nonce] = fake.directives(inst)
    auth = creds_file(work, "proxy-auth-hs", "%s:%s\n" % (USER, PASSWORD))
    h = ModuleHttpd(os.path.join(work, "proxy-hs"))
    h.configure("""ClerkAPIURL {api}
ClerkOutgoingProxy 127.0.0.1:{port}
ClerkOutgoingProxyAuthFile "{auth}"
<Location /p/>
    AuthType Clerk
    AuthName clerk-e2e
    ClerkPublishableKey {pk}
    ClerkJWTKey "file:{pub}"
    ClerkSecretKey {sk}
    Require valid-user
</Location>
""".format(api=fake.base, port=proxy.port, auth=auth, pk=PK, pub=minter.pub_pem, sk=secret))
    h.start()
    try:
        r = curl(h.url("/p/hello.txt?__clerk_handshake_nonce=" + nonce),
                 ["Sec-Fetch-Dest: document", "Accept: text/html"])
    finally:
        h.stop()
        fake.stop()
    calls = fake.payload_calls()
    assert len(calls) == 1, (fake.requests, h.tail())
    _, q, headers = calls[0]
    assert ("nonce", nonce) in q
    assert "via" not in headers, headers
    assert ":%d" % fake.port not in proxy.log_text(), proxy.log_text()
    assert "handshake_payload" not in proxy.log_text(), proxy.log_text()
    # The exchange worked: the directives (a fresh __session) reached the client.
    assert any(c.startswith("__session=") and "Max-Age=0" not in c
               for c in r.all("set-cookie")), r
    assert PASSWORD not in h.log_text()


def configtest(h):
    r = run([APACHE, "-t", "-f", h.conf])
    return r.returncode, r.stdout + r.stderr


@pytest.mark.parametrize("lines,needle", [
    (["ClerkOutgoingProxy http://u:pw@127.0.0.1:3128"], "ClerkOutgoingProxyAuthFile"),
    (["ClerkOutgoingProxy https://127.0.0.1:3128"], "only http:// proxies"),
    (["ClerkOutgoingProxy 127.0.0.1"], "needs a port"),
    (['ClerkOutgoingProxyAuthFile "/nonexistent/proxy-auth"'], "cannot open"),
    (["ClerkOutgoingProxyAuthFile {empty}"], "is empty"),
    (["ClerkOutgoingProxyAuthFile {good}"], "no ClerkOutgoingProxy to send the credentials"),
])
def test_bad_settings_refused_at_startup(work, jwks, lines, needle):
    empty = creds_file(work, "proxy-auth-empty", "")
    good = creds_file(work, "proxy-auth-x", "u:secret-in-file\n")
    h = instance(work, "proxy-conf", jwks,
                 [l.format(empty=empty, good=good) for l in lines])
    rc, out = configtest(h)
    assert rc != 0 and needle in out, out
    directive = lines[0].split()[0]
    assert directive in out, out
    assert "secret-in-file" not in out
