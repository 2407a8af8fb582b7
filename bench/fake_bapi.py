#!/usr/bin/env python3
"""A loopback stand-in for Clerk's Backend API for bench/run.sh's API-key row: POST
/api_keys/verify answers the keys of a file (one per line) as Clerk does (the APIKey JSON of
@clerk/backend's api/resources/JSON.ts; 404 for a key it does not know; 401 for another secret
key), GET /v1/jwks serves a JWKS file, and GET /stats reports every verification it answered,
per key, so the bench can print Backend API calls per key per TTL.

    fake_bapi.py PORT_FILE KEYS_FILE JWKS_FILE SECRET_KEY

It binds 127.0.0.1 on a free port, writes the port to PORT_FILE, and serves until killed."""

import json
import os
import sys
import urllib.parse
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, keys_file, jwks_file, secret_key = sys.argv[1:5]
with open(keys_file) as f:
    KEYS = {line.strip(): i for i, line in enumerate(f) if line.strip()}
with open(jwks_file, "rb") as f:
    JWKS = f.read()
lock = threading.Lock()
calls = {}  # key index -> [monotonic time of each verification]
unknown = 0  # verifications of keys not in the file (the bench's tampered key)
started = time.monotonic()


def record(i):
    now_ms = int(time.time() * 1000)
    return {
        "object": "api_key", "id": "ak_id_bench_%04d" % i, "type": "api_key",
        "name": "bench key %d" % i, "subject": "user_bench_key_%04d" % i,
        "scopes": ["read"], "claims": None, "revoked": False, "revocation_reason": None,
        "expired": False, "expiration": None, "created_by": None, "description": None,
        "last_used_at": now_ms, "created_at": now_ms - 60000, "updated_at": now_ms - 60000,
    }


def stats(ttl):
    """Per key, its verifications grouped into TTL windows (a window opens at a verification and
    holds those less than ttl seconds after it): calls per key per TTL is calls over windows."""
    with lock:
        per_key = {k: sorted(v) for k, v in calls.items()}
        unk = unknown
    ratios, worst, total = [], 0, 0
    for times in per_key.values():
        windows, start, in_window = 0, None, 0
        for t in times:
            if start is None or t - start >= ttl:
                windows, start, in_window = windows + 1, t, 0
            in_window += 1
            worst = max(worst, in_window)
        ratios.append(len(times) / windows)
        total += len(times)
    mean = sum(ratios) / len(ratios) if ratios else 0.0
    return {"keys": len(per_key), "calls": total, "unknown_key_calls": unk, "ttl": ttl,
            "per_key_per_ttl": round(mean, 3), "max_in_one_ttl": worst,
            "seconds": round(time.monotonic() - started, 1)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send_json(self, status, body):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/stats"):
            ttl = float(urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("ttl", ["60"])[0])
            return self.send_json(200, stats(ttl))
        if self.path.startswith("/v1/jwks") and self.headers.get("Authorization") == "Bearer " + secret_key:
            return self.send_json(200, JWKS)
        return self.send_json(404, {"errors": [{"message": "not found", "code": "resource_not_found"}]})

    def do_POST(self):
        global unknown
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(n, 1 << 16))
        if self.path != "/api_keys/verify":
            return self.send_json(404, {"errors": [{"message": "not found", "code": "resource_not_found"}]})
        if self.headers.get("Authorization") != "Bearer " + secret_key:
            return self.send_json(401, {"errors": [{"message": "Secret key is invalid", "code": "clerk_key_invalid"}]})
        try:
            secret = json.loads(raw).get("secret")
        except (ValueError, AttributeError):
            secret = None
        i = KEYS.get(secret) if isinstance(secret, str) else None
        with lock:
            if i is None:
                unknown += 1
            else:
                calls.setdefault(i, []).append(time.monotonic())
        if i is None:
            return self.send_json(404, {"errors": [{"message": "API key not found", "code": "resource_not_found"}]})
        return self.send_json(200, record(i))

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
