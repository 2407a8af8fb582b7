"""A fake Clerk Frontend API and Backend API on loopback, for the handshake round trips.

Frontend API, per instance prefix (/<inst>/v1/client/handshake): answers the module's redirect the
way docs/design.md#handshake describes Clerk's: it decides the visitor's state (set by the test),
and redirects back to redirect_url with the Set-Cookie directives as a handshake JWT (development:
__clerk_handshake query parameter; production: a __clerk_handshake cookie) or, when the module asked
for format=nonce, as a nonce (__clerk_handshake_nonce cookie, or query parameter) that the Backend
API's /v1/clients/handshake_payload exchanges for {"directives": [...]}.

Backend API machine-token endpoints (no /v1, as Clerk's SDK calls them), shaped like Clerk's:
  POST /api_keys/verify {"secret": ...}                       -> APIKey JSON (object "api_key")
  POST /m2m_tokens/verify {"token": ...}                      -> M2MToken JSON
       (object "machine_to_machine_token"; a machine secret key from machine_secret_keys or a
       secret key authorises it)
  POST /oauth_applications/access_tokens/verify {"access_token": ...}
                                                              -> IdPOAuthAccessToken JSON
       (object "clerk_idp_oauth_access_token")
  Authorization must be "Bearer <one of secret_keys>" else 401 {"errors": [...]}; an unknown,
  revoked or expired token is 404 {"errors": [{"code": "resource_not_found"}]} unless the token
  was issued with answer_200=True (then 200 with revoked/expired true, which the module refuses).
Issue tokens with issue_api_key(subject, scopes=, claims=, name=, expires_in=),
issue_m2m(subject="mch_..", scopes=), issue_oauth(subject, client_id=, scopes=, aud=);
revoke(token).
verify_calls(token) counts the verifications the fake answered for that token (any outcome);
machine_calls() lists (path, token) of every verify call. Knobs (machine_mode): None (normal),
"slow" (the answer waits for machine_release or 30 s), "500", "garbage" (200, invalid JSON),
"huge" (200, a 1 MiB JSON body), "wrong-type" (200, right JSON as text/plain). machine_hold, a
threading.Event, when set makes every verify call wait for it (bounded, 30 s) before answering;
a held call whose client hangs up meanwhile gets no answer and stops counting in machine_held.

Every request is recorded, so tests can compare the handshake URL parameter for parameter and
count hops. The server is a real ThreadingHTTPServer; stop() ends it."""

import json
import secrets
import select
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import remember_secret


def _peer_closed(conn):
    """True once the client closed its end (readable with nothing left to read)."""
    try:
        if not select.select([conn], [], [], 0)[0]:
            return False
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


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

            def do_POST(self):
                fake._machine(self)

            def log_message(self, *args):
                pass

        self.machine_secret_keys = []
        self.machine_tokens = {}  # token text -> (path, resource dict, answer_200)
        self.machine_log = []  # (path, token or None) of every verify call
        self.machine_mode = None
        self.machine_hold = None
        # Verify calls waiting on machine_hold now, and the most that ever waited at once.
        self.machine_held = 0
        self.machine_max_held = 0
        self.machine_release = threading.Event()
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

    # ------------------------------------------------------------------ machine tokens
    MACHINE_PATHS = {"/api_keys/verify": "secret", "/m2m_tokens/verify": "token",
                     "/oauth_applications/access_tokens/verify": "access_token"}

    def _issue(self, prefix, path, resource, answer_200=False):
        tok = prefix + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")
        now = int(time.time() * 1000)
        resource.update(created_at=now, updated_at=now, revoked=False, revocation_reason=None,
                        expired=False)
        remember_secret(tok)
        with self.lock:
            self.machine_tokens[tok] = (path, resource, answer_200)
        return tok

    @staticmethod
    def _expiration(expires_in):
        return None if expires_in is None else int((time.time() + expires_in) * 1000)

    def issue_api_key(self, subject, scopes=(), claims=None, name="e2e key", expires_in=None,
                      answer_200=False):
        return self._issue("ak_", "/api_keys/verify", {
            "object": "api_key", "id": "ak_" + secrets.token_hex(8), "type": "api_key",
            "name": name, "subject": subject, "description": None, "claims": claims,
            "scopes": list(scopes), "expiration": self._expiration(expires_in),
            "created_by": None, "last_used_at": None}, answer_200)

    def issue_m2m(self, subject, scopes=(), claims=None, expires_in=None, answer_200=False):
        return self._issue("mt_", "/m2m_tokens/verify", {
            "object": "machine_to_machine_token", "id": "mt_" + secrets.token_hex(8),
            "subject": subject, "scopes": list(scopes), "claims": claims,
            "expiration": self._expiration(expires_in)}, answer_200)

    def issue_oauth(self, subject, client_id="client_e2e", scopes=(), expires_in=None,
                    answer_200=False, aud=None):
        res = {"object": "clerk_idp_oauth_access_token", "id": "oat_" + secrets.token_hex(8),
               "client_id": client_id, "type": "oauth:access_token", "subject": subject,
               "scopes": list(scopes), "expiration": self._expiration(expires_in)}
        if aud is not None:
            res["aud"] = list(aud)
        return self._issue("oat_", "/oauth_applications/access_tokens/verify", res, answer_200)

    def revoke(self, tok):
        with self.lock:
            self.machine_tokens[tok][1].update(revoked=True, revocation_reason="e2e")

    def verify_calls(self, tok):
        with self.lock:
            return sum(1 for _, t in self.machine_log if t == tok)

    def machine_calls(self):
        with self.lock:
            return list(self.machine_log)

    def _machine(self, h):
        u = urllib.parse.urlsplit(h.path)
        n = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(min(n, 1 << 20))
        member = self.MACHINE_PATHS.get(u.path)
        try:
            body = json.loads(raw)
            tok = body.get(member) if member and isinstance(body, dict) else None
        except ValueError:
            tok = None
        with self.lock:
            self.requests.append((u.path, [], {k.lower(): v for k, v in h.headers.items()}))
            self.machine_log.append((u.path, tok))
            hold, mode = self.machine_hold, self.machine_mode
        if member is None:
            return self._send(h, 404, {"errors": [{"code": "resource_not_found"}]})
        if hold is not None:
            with self.lock:
                self.machine_held += 1
                self.machine_max_held = max(self.machine_max_held, self.machine_held)
            # A held call the server gave up on (its fetch timeout) is no longer in flight: it
            # stops counting, so machine_max_held is what the server had open at once.
            gone = False
            for _ in range(1500):  # 30 s
                if hold.wait(0.02):
                    break
                if _peer_closed(h.connection):
                    gone = True
                    break
            with self.lock:
                self.machine_held -= 1
            if gone:
                return None
        keys = self.secret_keys + (self.machine_secret_keys if member == "token" else [])
        if h.headers.get("Authorization") not in ["Bearer " + k for k in keys]:
            return self._send(h, 401, {"errors": [{"message": "Invalid secret key",
                                                   "code": "authentication_invalid"}]})
        if mode == "slow":
            self.machine_release.wait(30)
        if mode == "500":
            return self._send(h, 500, {"errors": [{"code": "internal_error"}]})
        if mode == "garbage":
            return self._raw(h, 200, b'{"id": "ak_1", "subject": ', "application/json")
        if mode == "huge":
            return self._raw(h, 200, b'{"pad": "' + b"x" * (1 << 20) + b'"}', "application/json")
        with self.lock:
            entry = self.machine_tokens.get(tok) if isinstance(tok, str) else None
        if entry is None or entry[0] != u.path:
            return self._send(h, 404, {"errors": [{"message": "not found",
                                                   "code": "resource_not_found"}]})
        _, res, answer_200 = entry
        res = dict(res)
        if res["expiration"] is not None and res["expiration"] <= time.time() * 1000:
            res["expired"] = True
        if (res["revoked"] or res["expired"]) and not answer_200:
            return self._send(h, 404, {"errors": [{"message": "not found",
                                                   "code": "resource_not_found"}]})
        if mode == "wrong-type":
            return self._raw(h, 200, json.dumps(res).encode(), "text/plain")
        return self._send(h, 200, res)

    @staticmethod
    def _raw(h, status, body, ctype):
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        try:
            h.wfile.write(body)
        except OSError:  # the module gave up on a huge body
            pass

    @staticmethod
    def _send(h, status, obj):
        body = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
