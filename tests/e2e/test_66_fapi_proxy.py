"""The Frontend API proxy (docs/design.md#frontend-api-proxy, @clerk/backend proxy.ts
clerkFrontendApiProxy): `ClerkFrontendAPIProxy /__clerk <fake>` through httpd's own mod_proxy
and mod_proxy_http to a fake Frontend API on loopback (fake_fapi.py), which records what it got.

Three virtual hosts: A proxies to the fake under a site whose root is `AuthType Clerk` +
`Require valid-user`; B proxies to a port nothing listens on; C trusts forwarded headers."""

import hashlib
import http.client
import json
import os
import re
import socket
import time

import pytest

from conftest import (APACHE, HERE, MODDIR, PK, SRCDIR, curl, free_port, remember_secret, run,
                      server_head)
from helpers import FakeClerkHttpd
from fake_fapi import STREAM_FIRST, STREAM_REST, FakeFapi

SK = "sk_test_" + "6a" * 20
remember_secret(SK)
BIG = 20 * 1024 * 1024


class ProxyHttpd(FakeClerkHttpd):
    DIRS = ("app", "open")

    def __init__(self, work, minter, fake):
        self.trusted_port = free_port()
        self.dead_port = free_port()  # nothing listens here
        super().__init__(work, minter, fake)

    def vhost(self, port, target, extra=""):
        return """<VirtualHost 127.0.0.1:{port}>
    ClerkPublishableKey {pk}
    ClerkSecretKey {sk}
    ClerkJWTKey "file:{pem}"
    ClerkAPIURL http://127.0.0.1:{dead}
    ClerkFrontendAPIProxy /__clerk/ {target}
    # Were the key left in the request headers, this log would hold it (the session's log scan).
    CustomLog "{work}/logs/access-secret.log" "%h \\"%r\\" %>s key=%{{Clerk-Secret-Key}}i"
    <Proxy "{target}/">
        ProxySet connectiontimeout=5 timeout=30
    </Proxy>
    <Location />
        AuthType Clerk
        AuthName "fapi"
        Require valid-user
    </Location>
    <Location /open/>
        AuthType None
        Require all granted
    </Location>
    {extra}
</VirtualHost>
""".format(port=port, pk=PK, sk=SK, pem=self.minter.pub_pem, dead=self.dead_port,
           target=target, work=self.work, extra=extra)

    def _write_conf(self):
        dead = "http://127.0.0.1:%d" % self.dead_port
        text = server_head(self.work, self.port,
                           extra_listen=(self.proxy_port, self.trusted_port))
        text += self.docroot()
        text += self.vhost(self.port, self.fake.base)
        text += self.vhost(self.proxy_port, dead,
                           "<Location /__clerk/v1/errdoc>\n"
                           "        ErrorDocument 502 /open/env.cgi\n"
                           "        ErrorDocument 503 /open/env.cgi\n    </Location>")
        # C's site lets signed-out visitors through, so its page requests hand stale sessions
        # to the handshake in check_access, before any Require runs.
        text += self.vhost(self.trusted_port, self.fake.base,
                           "ClerkTrustForwardedHeaders On\n    <Location />\n"
                           "        ClerkUnauthAction pass\n        Require all granted\n"
                           "    </Location>")
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o644)


@pytest.fixture(scope="module")
def fake():
    f = FakeFapi()
    yield f
    f.stop()


@pytest.fixture(scope="module")
def px(work, minter, fake):
    h = ProxyHttpd(os.path.join(work, "t66"), minter, fake)
    h.start()
    yield h
    h.stop()


def url(port, path):
    return "http://127.0.0.1:%d%s" % (port, path)


def upstream_headers(rec):
    """{lower-case name: [values]} of what the fake Frontend API received."""
    out = {}
    for k, v in rec["headers"]:
        out.setdefault(k.lower(), []).append(v)
    return out


def no_secret(r):
    assert all(SK not in v for _, v in r.headers), r
    assert SK not in r.body, r


def test_request_headers_are_the_sdks(px, fake):
    r = curl(url(px.port, "/__clerk/v1/echo/a%20b?x=1&y=%2F&z"), [
        "Connection: keep-alive, X-Drop-Me", "X-Drop-Me: 1", "Keep-Alive: timeout=5",
        "TE: trailers", "Trailer: X-T", "Proxy-Authorization: Basic Zm9vOmJhcg==",
        "X-Forwarded-For: 198.51.100.6", "X-Real-IP: 198.51.100.7",
        "CF-Connecting-IP: 198.51.100.8", "X-Forwarded-Host: evil.example",
        "Clerk-Secret-Key: sk_test_from_the_client", "Clerk-Proxy-Url: https://evil.example",
        "Cookie: __client_uat=0", "Accept-Encoding: gzip", "X-Kept: yes"])
    assert r.status == 200, r
    got = fake.last()
    assert r.json()["path"] == got["path"] == "/v1/echo/a%20b?x=1&y=%2F&z", got
    h = upstream_headers(got)
    assert h["clerk-secret-key"] == [SK], h
    assert h["clerk-proxy-url"] == ["http://127.0.0.1:%d/__clerk" % px.port], h
    # Not trusted: the client's own forwarded headers count for nothing.
    assert h["x-forwarded-for"] == ["127.0.0.1"], h
    assert h["x-forwarded-host"] == ["127.0.0.1:%d" % px.port], h
    assert h["x-forwarded-proto"] == ["http"], h
    assert "x-real-ip" not in h and "cf-connecting-ip" not in h, h
    assert "x-forwarded-server" not in h, h  # mod_proxy's own additions are off
    for hop in ("x-drop-me", "keep-alive", "te", "trailer", "proxy-authorization", "upgrade"):
        assert hop not in h, (hop, h)
    assert h["host"] == ["127.0.0.1:%d" % fake.port], h
    assert h["accept-encoding"] == ["identity"], h
    assert h["cookie"] == ["__client_uat=0"] and h["x-kept"] == ["yes"], h
    # The response: the fake's cookie passes as it is; the key never comes back.
    assert r.all("set-cookie") == ["__client_uat=0; Path=/; SameSite=Lax"], r
    no_secret(r)


def test_trusted_forwarded_headers_follow_getClientIp(px, fake):
    port = px.trusted_port
    r = curl(url(port, "/__clerk/v1/echo"), ["X-Forwarded-For: 203.0.113.9, 10.0.0.1",
                                             "X-Forwarded-Host: app.example.test",
                                             "X-Forwarded-Proto: https"])
    h = upstream_headers(r.json())
    assert upstream_headers(fake.last())["clerk-secret-key"] == [SK], h
    assert h["x-forwarded-for"] == ["203.0.113.9"], h
    assert h["clerk-proxy-url"] == ["https://app.example.test/__clerk"], h
    assert h["x-forwarded-host"] == ["app.example.test"], h
    r = curl(url(port, "/__clerk/v1/echo"), ["X-Forwarded-For: 203.0.113.9",
                                             "X-Real-IP: 203.0.113.10"])
    assert upstream_headers(r.json())["x-forwarded-for"] == ["203.0.113.10"]
    r = curl(url(port, "/__clerk/v1/echo"), ["X-Forwarded-For: 203.0.113.9",
                                             "X-Real-IP: 203.0.113.10",
                                             "CF-Connecting-IP: 203.0.113.11"])
    h = upstream_headers(r.json())
    assert h["x-forwarded-for"] == ["203.0.113.11"], h
    assert h["x-real-ip"] == ["203.0.113.10"], h  # trusted: forwarded as the SDK does


@pytest.mark.parametrize("to,want", [
    ("{fake}/v1/client/sync?a=1#h", "{px}/__clerk/v1/client/sync?a=1#h"),
    ("/v1/verify?x=%2F", "{px}/__clerk/v1/verify?x=%2F"),
    ("https://accounts.example.test/sign-in", "https://accounts.example.test/sign-in"),
])
def test_location_rewritten_cookies_passed(px, fake, to, want):
    fill = {"fake": fake.base, "px": "http://127.0.0.1:%d" % px.port}
    from urllib.parse import quote
    r = curl(url(px.port, "/__clerk/v1/redirect?to=" + quote(to.format(**fill), safe="")))
    assert r.status == 302, r
    assert r.header("location") == want.format(**fill), r
    assert r.all("set-cookie") == ["__client=abc; Path=/; HttpOnly", "__client_uat=1; Path=/"], r
    no_secret(r)


def test_secret_echoed_upstream_never_reaches_the_client(px, fake):
    r = curl(url(px.port, "/__clerk/v1/leak"))
    assert r.status == 200, r
    assert r.header("x-echo") is None and r.header("x-fine") == "yes", r
    no_secret(r)
    with open(px.error_log, errors="replace") as f:
        assert "CLERK2302" in f.read()


def test_trace_never_echoes_the_secret(px, fake):
    # mod_proxy answers TRACE with Max-Forwards: 0 itself, echoing the request headers the
    # proxy set (the secret key among them) when TraceEnable is On (httpd's default).
    n = fake.count()
    for extra in (["Max-Forwards: 0"], []):
        for method in ("TRACE", "TRACK"):
            r = curl(url(px.port, "/__clerk/v1/echo"), extra, method=method)
            assert r.status == 405, r
            no_secret(r)
    assert fake.count() == n


@pytest.mark.parametrize("path,upstream", [
    ("/__clerk", "/"), ("/__clerk/", "/"), ("/__clerk?q=1", "/?q=1"),
    ("/__clerk//v1//x", "/v1/x"), ("/__clerk/v1/../v1/echo?", "/v1/echo"),
])
def test_path_below_the_prefix_and_query_kept(px, fake, path, upstream):
    r = curl(url(px.port, path))
    assert r.status == 200, r
    assert r.json()["path"] == upstream, r


def test_proxied_path_is_not_behind_authtype_clerk(px, fake):
    n = fake.count()
    r = curl(url(px.port, "/app/env.cgi"))
    assert r.status == 401 and r.header("www-authenticate").startswith("Bearer"), r
    r = curl(url(px.port, "/__clerkx/v1/echo"))  # not the proxy path: the site's rules
    assert r.status == 401, r
    assert fake.count() == n
    r = curl(url(px.port, "/__clerk/v1/echo"))
    assert r.status == 200 and r.json()["path"] == "/v1/echo", r
    assert fake.count() == n + 1


def test_cors_preflight_and_other_methods_go_up_too(px, fake):
    """A preflight under AuthType Clerk is the module's to answer elsewhere (ClerkCORSPreflight);
    on the proxy path it is the Frontend API's, like every method."""
    r = curl(url(px.port, "/__clerk/v1/echo"), ["Origin: https://app.example.test",
                                                "Access-Control-Request-Method: POST"],
             method="OPTIONS")
    assert r.status == 200 and fake.last()["method"] == "OPTIONS", r
    for m in ("DELETE", "PATCH", "PUT"):
        r = curl(url(px.port, "/__clerk/v1/echo"), method=m, data="x=1")
        assert r.status == 200 and fake.last()["method"] == m and fake.last()["size"] == 3, r


def test_proxied_page_requests_never_get_the_modules_handshake(px, fake):
    """The handshake itself goes through the proxy path (ClerkProxyURL): were the module to
    decide requests there, a browser with a stale session would be sent to the handshake from
    the handshake, forever."""
    stale = ["Sec-Fetch-Dest: document", "Accept: text/html",
             "Cookie: __client_uat=%d" % int(time.time())]
    r = curl(url(px.trusted_port, "/app/env.cgi"), stale)
    assert r.status == 307 and "/v1/client/handshake?" in r.header("location"), r
    n = fake.count()
    r = curl(url(px.trusted_port, "/__clerk/v1/client/handshake?redirect_url=x"), stale)
    assert r.status == 200 and fake.count() == n + 1, r
    assert r.header("x-clerk-auth-status") is None, r
    assert r.json()["path"] == "/v1/client/handshake?redirect_url=x", r


def test_large_bodies_both_ways(px, fake, tmp_path):
    src = tmp_path / "up.bin"
    data = os.urandom(BIG)
    src.write_bytes(data)
    r = curl(url(px.port, "/__clerk/v1/upload"), ["Content-Type: application/octet-stream"],
             data="@" + str(src), timeout=60)
    assert r.status == 200, r
    assert (r.json()["size"], r.json()["sha256"]) == (BIG, hashlib.sha256(data).hexdigest())
    out = tmp_path / "down.bin"
    p = run(["curl", "-s", "-o", str(out), "-w", "%{http_code}",
             url(px.port, "/__clerk/v1/big?n=%d" % BIG)], timeout=60)
    assert p.stdout.strip() == "200"
    want = (bytes(range(256)) * (BIG // 256))
    assert out.stat().st_size == BIG
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(want).digest()


def test_response_streams(px, fake):
    fake.release.clear()
    c = http.client.HTTPConnection("127.0.0.1", px.port, timeout=30)
    try:
        c.request("GET", "/__clerk/v1/stream")
        resp = c.getresponse()
        assert resp.status == 200
        # The fake holds the rest back until `release`: this read ends only if httpd passed
        # the first chunk on before the upstream response was complete.
        assert resp.read(len(STREAM_FIRST)) == STREAM_FIRST
        fake.release.set()
        assert resp.read() == STREAM_REST
    finally:
        fake.release.set()
        c.close()
    assert fake.stream_released_in_time is True


def test_request_body_streams(px, fake):
    fake.first_part.clear()
    first, rest = b"p" * fake.first_part_size, b"q" * 5000
    s = socket.create_connection(("127.0.0.1", px.port), timeout=30)
    try:
        s.sendall(b"POST /__clerk/v1/slow-upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        s.sendall(b"%x\r\n%s\r\n" % (len(first), first))
        # The rest is sent only once the fake has the first part: httpd streamed it up.
        assert fake.first_part.wait(20)
        s.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest))
        resp = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            resp += b
    finally:
        s.close()
    assert resp.startswith(b"HTTP/1.1 200"), resp[:200]
    body = json.loads(resp.split(b"\r\n\r\n", 1)[1].decode())
    assert body["size"] == len(first) + len(rest), body
    assert fake.upload_saw_first_part_alone is True


def test_upstream_connections_are_reused(px, fake):
    """mod_proxy keeps connections to the worker the README's <Proxy> block defines: five
    requests one after another use fewer connections than that (at most one per child,
    ServerLimit 4), where a proxy of its own making would open five."""
    n = fake.count()
    for _ in range(5):
        assert curl(url(px.port, "/__clerk/v1/echo")).status == 200
    conns = {r["conn"] for r in fake.requests[n:]}
    assert len(fake.requests[n:]) == 5 and len(conns) < 5, conns


def test_upstream_down_is_the_sdks_502(px):
    r = curl(url(px.proxy_port, "/__clerk/v1/client?x=1"))
    assert r.status == 502, r
    assert r.header("content-type") == "application/json", r
    assert r.header("cache-control") == "no-store", r
    err = r.json()["errors"]
    assert len(err) == 1 and err[0]["code"] == "proxy_request_failed", r
    assert err[0]["message"].startswith("Failed to proxy request to Clerk FAPI: "), r
    no_secret(r)
    with open(px.error_log, errors="replace") as f:
        assert "CLERK2303" in f.read()


def test_error_document_after_a_failed_proxy_never_sees_the_key(px):
    r = curl(url(px.proxy_port, "/__clerk/v1/errdoc"))
    env = r.json()
    assert env.get("HTTP_CLERK_PROXY_URL") == "http://127.0.0.1:%d/__clerk" % px.proxy_port, env
    assert "HTTP_CLERK_SECRET_KEY" not in env, env
    no_secret(r)


# ---- side by side with Clerk's own clerkFrontendApiProxy ---------------------------------------
# tests/e2e/fapi_proxy_sdk.mjs runs the pinned @clerk/backend proxy.ts on the same request, to the
# same fake; both are compared on what the SDK decides. Virtual host C trusts forwarded headers,
# as the SDK does.

SDK_DIR = os.path.join(SRCDIR, "tests", "conformance", "node_modules", "@clerk", "backend")
SDK_HEADERS = ("clerk-proxy-url", "clerk-secret-key", "x-forwarded-for", "x-forwarded-host",
               "x-forwarded-proto", "accept-encoding", "host", "cookie", "x-kept", "x-real-ip",
               "cf-connecting-ip", "x-drop-me", "keep-alive", "te", "trailer",
               "proxy-authorization")


def sdk(fake, path, headers):
    assert os.path.isdir(SDK_DIR), "run `npm ci --prefix tests/conformance` (tests/run.sh does)"
    spec = {"url": path, "headers": [h.split(": ", 1) for h in headers], "publishableKey": PK,
            "secretKey": SK, "fapiUrl": fake.base}
    r = run(["node", os.path.join(HERE, "fapi_proxy_sdk.mjs"), json.dumps(spec)], timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("headers", [
    [],
    ["X-Forwarded-For: 203.0.113.9, 10.0.0.1", "Cookie: __client_uat=0", "X-Kept: 1"],
    ["X-Forwarded-For: 203.0.113.9", "X-Real-IP: 203.0.113.10", "X-Forwarded-Host: a.example",
     "X-Forwarded-Proto: https"],
    ["CF-Connecting-IP: 203.0.113.11", "X-Real-IP: 203.0.113.10", "X-Forwarded-Host: a.example"],
    ["Connection: keep-alive, X-Drop-Me", "X-Drop-Me: 1", "Keep-Alive: timeout=5", "TE: trailers",
     "Trailer: X-T", "Proxy-Authorization: Basic Zm9vOmJhcg==", "Clerk-Secret-Key: sk_test_no",
     "Clerk-Proxy-Url: https://evil.example"],
])
def test_upstream_request_as_the_sdk_makes_it(px, fake, headers):
    path = "/__clerk/v1/echo/x?a=1&b=%2F"
    base = "http://127.0.0.1:%d" % px.trusted_port
    assert curl(base + path, headers).status == 200
    ours = fake.last()
    theirs_response = sdk(fake, base + path, headers)
    assert theirs_response["status"] == 200, theirs_response
    theirs = fake.last()
    assert ours is not theirs and ours["path"] == theirs["path"], (ours, theirs)
    h_ours, h_theirs = upstream_headers(ours), upstream_headers(theirs)
    for name in SDK_HEADERS:
        assert h_ours.get(name) == h_theirs.get(name), (name, h_ours, h_theirs)


# Not compared: what httpd normalizes before any module sees it (`%7E` decoded to `~`, `//`
# merged under MergeSlashes), equivalent URLs the SDK sends as written (README).
@pytest.mark.parametrize("path", ["/__clerk", "/__clerk/", "/__clerk?q=1&r=%20",
                                  "/__clerk/v1/a%20b/c?x=%2F&y=a+b", "/__clerk/v1/./x/../y"])
def test_upstream_path_as_the_sdk_sends_it(px, fake, path):
    base = "http://127.0.0.1:%d" % px.trusted_port
    assert curl(base + path).status == 200
    ours = fake.last()["path"]
    assert sdk(fake, base + path, [])["status"] == 200
    assert ours == fake.last()["path"], (ours, fake.last()["path"])


@pytest.mark.parametrize("to", ["{fake}/v1/client/sync?a=1#h", "/v1/verify?x=%2F", "v1/rel",
                                "https://accounts.example.test/sign-in", "{fake}"])
def test_location_as_the_sdk_rewrites_it(px, fake, to):
    from urllib.parse import quote
    path = "/__clerk/v1/redirect?to=" + quote(to.format(fake=fake.base), safe="")
    base = "http://127.0.0.1:%d" % px.trusted_port
    r = curl(base + path)
    theirs = sdk(fake, base + path, [])
    t = {k: v for k, v in theirs["headers"]}
    assert r.status == theirs["status"] == 302, (r, theirs)
    assert r.header("location") == t.get("location"), (r, theirs)
    assert r.all("set-cookie") == [v for k, v in theirs["headers"] if k == "set-cookie!"], theirs


def test_response_hop_by_hop_dropped_as_the_sdk_drops_them(px, fake):
    base = "http://127.0.0.1:%d" % px.trusted_port
    r = curl(base + "/__clerk/v1/hop")
    theirs = {k for k, _ in sdk(fake, base + "/__clerk/v1/hop", [])["headers"]}
    assert r.status == 200 and r.header("x-fine") == "yes", r
    for name in ("x-hop", "keep-alive", "proxy-authenticate"):
        assert r.header(name) is None and name not in theirs, (name, r, theirs)


# ---- startup refusals ------------------------------------------------------------------------

def write_conf(work, name, server_lines, drop_modules=()):
    d = os.path.join(work, "t66-" + name)
    for sub in ("run", "logs"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    lines = [l for l in server_head(d, free_port()).splitlines()
             if not any("mod_%s.so" % m in l for m in drop_modules)]
    bad = None
    for l in server_lines:
        if "#BAD" in l:
            bad = len(lines) + 1
            l = l.replace("#BAD", "").rstrip()
        lines.append(l)
    path = os.path.join(d, "httpd.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, bad


KEYS = ["ClerkPublishableKey " + PK, "ClerkSecretKey " + SK]


@pytest.mark.parametrize("case,lines,drop,needle", [
    ("no-keys", ["ClerkFrontendAPIProxy /__clerk #BAD"], (), "needs ClerkPublishableKey"),
    ("whole-site", KEYS + ["ClerkFrontendAPIProxy / #BAD"], (), "whole site"),
    ("cleartext", KEYS + ["ClerkFrontendAPIProxy /__clerk http://fapi.example.test #BAD"], (),
     "cleartext"),
    ("query", KEYS + ["ClerkFrontendAPIProxy /__clerk https://fapi.example.test/?a=1 #BAD"], (),
     "query string"),
    ("no-mod-ssl", KEYS + ["ClerkFrontendAPIProxy /__clerk #BAD"], (), "mod_ssl"),
    ("no-mod-proxy", KEYS + ["ClerkFrontendAPIProxy /__clerk http://127.0.0.1:9 #BAD"],
     ("proxy", "proxy_http"), "mod_proxy and mod_proxy_http must be loaded"),
    ("in-location", KEYS + ["<Location /x>", "ClerkFrontendAPIProxy /__clerk #BAD",
                            "</Location>"], (), "not allowed in <Location>"),
])
def test_misconfiguration_refused_at_configtest(work, case, lines, drop, needle):
    path, bad = write_conf(work, case, lines, drop)
    r = run([APACHE, "-t", "-f", path])
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "Syntax OK" not in out, out
    assert needle in out and "ClerkFrontendAPIProxy" in out and path in out, out
    assert re.search(r"\bline %d\b" % bad, out), (bad, out)
    assert SK not in out


@pytest.mark.parametrize("case,lines", [
    ("ok-loopback", KEYS + ["ClerkFrontendAPIProxy /__clerk http://127.0.0.1:9"]),
    # Clerk's Frontend API (from the key) over TLS: mod_ssl is what it needs at startup.
    ("ok-clerk", KEYS + ["LoadModule ssl_module %s/mod_ssl.so" % MODDIR, "SSLProxyEngine On",
                         "ClerkFrontendAPIProxy /__clerk"]),
])
def test_good_configuration_passes_configtest(work, case, lines):
    path, _ = write_conf(work, case, lines)
    r = run([APACHE, "-t", "-f", path])
    assert r.returncode == 0 and "Syntax OK" in r.stdout + r.stderr, r
