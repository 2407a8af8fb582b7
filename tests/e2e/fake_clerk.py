"""A fake Clerk Frontend API and Backend API on loopback, for the handshake round trips.

Frontend API, per instance prefix (/<inst>/v1/client/handshake): answers the module's redirect the
way docs/design.md#handshake describes Clerk's: it decides the visitor's state (set by the test),
and redirects back to redirect_url with the Set-Cookie directives as a handshake JWT (development:
__clerk_handshake query parameter; production: a __clerk_handshake cookie) or, when the module asked
for format=nonce, as a nonce (__clerk_handshake_nonce cookie, or query parameter) that the Backend
API's /v1/clients/handshake_payload exchanges for {"directives": [...]}.

Every request is recorded, so tests can compare the handshake URL parameter for parameter and
count hops. The server is a real ThreadingHTTPServer; stop() ends it."""

import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import remember_secret


class Instance:
    """What the fake Clerk knows about one instance (one ClerkFrontendAPI prefix)."""

    def __init__(self, dev=False):
        self.dev = dev
        self.mode = "signed-in"  # signed-in | signed-out | stale | forged | empty
        self.sub = "user_hs_" + secrets.token_hex(4)
        self.nonce_in = "cookie"  # production nonce transport: cookie | query


class FakeClerk:
    def __init__(self, minter, secret_keys, claims_for):
        """minter: conftest.Minter; secret_keys: the Backend API keys accepted;
        claims_for(instance) -> claims dict of a fresh token."""
        self.minter = minter
        self.secret_keys = list(secret_keys)
        self.claims_for = claims_for
        self.instances = {}
        self.nonces = {}
        self.requests = []  # (path, query list, headers dict)
        self.payload_conns = []  # connection number of each Backend API payload call
        self.connections = 0  # TCP connections accepted so far
        self.hold = None  # a threading.Event: payload calls wait for it (bounded) when set
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with fake.lock:
                    fake.connections += 1
                    self.conn_no = fake.connections

            def do_GET(self):
                fake._handle(self)

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.nonces.clear()
            self.payload_conns.clear()
            self.hold = None

    def handshakes(self):
        return [r for r in self.requests if r[0].endswith("/v1/client/handshake")]

    def payload_calls(self):
        return [r for r in self.requests if r[0] == "/v1/clients/handshake_payload"]

    # --------------------------------------------------------------------------- answers
    def directives(self, inst, org=None):
        now = int(time.time())
        clear = ["__clerk_handshake=; Path=/; Max-Age=0",
                 "__clerk_handshake_nonce=; Path=/; Max-Age=0"]
        if inst.mode == "empty":
            return []
        if inst.mode == "signed-out":
            return ["__session=; Path=/; Max-Age=0; SameSite=Lax",
                    "__client_uat=0; Path=/; Max-Age=31536000; SameSite=Lax"] + clear
        c = self.claims_for(inst)
        # Organization sync (test_64_multidomain.py): the organization_id the module's handshake
        # names becomes the session's active organization ("" is the personal account), as
        # Clerk's Frontend API activates it.
        if org is not None:
            c.pop("o", None)
            if org:
                c.update(v=2, o={"id": "org_" + org, "slg": org, "rol": "admin"})
        if inst.mode == "stale":  # Clerk hands back a token that is already expired
            c.update(iat=now - 120, nbf=now - 130, exp=now - 60)
        tok = self.minter.sign(c)
        d = ["__session=%s; Path=/; SameSite=Lax" % tok,
             "__client_uat=%d; Path=/; Max-Age=31536000; SameSite=Lax" % c["iat"]] + clear
        if inst.dev:
            d.append("__clerk_db_jwt=dvb_%s; Path=/; Max-Age=31536000; SameSite=Lax"
                     % secrets.token_hex(6))
        return d

    def _handle(self, h):
        u = urllib.parse.urlsplit(h.path)
        q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
        with self.lock:
            self.requests.append((u.path, q, {k.lower(): v for k, v in h.headers.items()}))
        if u.path == "/v1/clients/handshake_payload":
            return self._payload(h, dict(q))
        parts = u.path.split("/")
        inst = self.instances.get(parts[1]) if len(parts) > 2 else None
        if inst is None or "/".join(parts[2:]) != "v1/client/handshake":
            return self._send(h, 404, {"errors": [{"code": "not_found"}]})
        return self._handshake(h, inst, dict(q))

    def _handshake(self, h, inst, q):
        back = q.get("redirect_url", "")
        directives = self.directives(inst, q.get("organization_id"))
        headers = []
        params = []
        if q.get("format") == "nonce":
            nonce = secrets.token_urlsafe(12)
            remember_secret(nonce)
            with self.lock:
                self.nonces[nonce] = directives
            if inst.dev or inst.nonce_in == "query":
                params.append(("__clerk_handshake_nonce", nonce))
            else:
                headers.append(("Set-Cookie", "__clerk_handshake_nonce=%s; Path=/" % nonce))
        else:
            key = "other" if inst.mode == "forged" else "main"
            jwt = self.minter.sign({"handshake": directives}, key=key)
            if inst.dev:
                params.append(("__clerk_handshake", jwt))
            else:
                headers.append(("Set-Cookie", "__clerk_handshake=%s; Path=/" % jwt))
        loc = back
        if params:
            loc += ("&" if "?" in back else "?") + urllib.parse.urlencode(params)
        h.send_response(307)
        h.send_header("Location", loc)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Cache-Control", "no-store")
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _payload(self, h, q):
        with self.lock:
            self.payload_conns.append(h.conn_no)
            hold = self.hold
        if hold is not None:
            hold.wait(30)  # bounded: a test that forgets to release still ends
        if h.headers.get("Authorization") not in ["Bearer " + k for k in self.secret_keys]:
            return self._send(h, 401, {"errors": [{"code": "authentication_invalid"}]})
        if not h.headers.get("Clerk-API-Version"):
            return self._send(h, 400, {"errors": [{"code": "api_version_missing"}]})
        with self.lock:
            directives = self.nonces.pop(q.get("nonce", ""), None)
        if directives is None:
            return self._send(h, 404, {"errors": [{"code": "resource_not_found"}]})
        return self._send(h, 200, {"object": "handshake_payload", "directives": directives})

    @staticmethod
    def _send(h, status, obj):
        body = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
