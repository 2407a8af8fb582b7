"""A fake Clerk Frontend API on loopback for the Frontend API proxy
(tests/e2e/test_66_fapi_proxy.py): it records every request it gets (method, path, raw header
list, body size and digest, which connection carried it) and answers by path:

  /v1/echo...      200, the recorded request as JSON
  /v1/redirect     302 to the query's `to`, with two Set-Cookie headers
  /v1/leak         200 with a header carrying the Clerk-Secret-Key it received
  /v1/hop          200 with hop-by-hop headers (one named in Connection)
  /v1/big?n=N      200 with N bytes (Content-Length)
  /v1/upload       the request body's length and sha256 as JSON (Content-Length or chunked)
  /v1/stream       a chunked body: the first chunk, then (after `release` is set) the rest
  /v1/slow-upload  reads a chunked body; sets `first_part` once `first_part_size` bytes came
"""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STREAM_FIRST = b"first-chunk:" + b"a" * 500
STREAM_REST = b"rest:" + b"b" * 500
WAIT = 20  # bound on every wait for the test's side (seconds)


class FakeFapi:
    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.release = threading.Event()        # /v1/stream may send the rest
        self.first_part = threading.Event()     # /v1/slow-upload got its first part
        self.first_part_size = 1000
        self.stream_released_in_time = None     # the stream's rest waited for `release`
        self.upload_saw_first_part_alone = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body_chunks(self):
                """Yields the request body as it arrives (Content-Length or chunked)."""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return
                        yield self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                while n > 0:
                    b = self.rfile.read(min(n, 65536))
                    if not b:
                        return
                    n -= len(b)
                    yield b

            def _record(self, size, digest):
                """The request as recorded, and as answered: the answer names the secret key
                only by its digest (a real Frontend API never echoes it)."""
                heads = [[k, v] for k, v in self.headers.items()]
                rec = {"method": self.command, "path": self.path, "headers": heads,
                       "conn": "%s:%d" % self.client_address, "size": size, "sha256": digest}
                with fake.lock:
                    fake.requests.append(rec)
                shown = [[k, "sha256:" + hashlib.sha256(v.encode()).hexdigest()
                          if k.lower() == "clerk-secret-key" else v] for k, v in heads]
                return dict(rec, headers=shown)

            def _send(self, status, body, headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _answer(self):
                url = urlsplit(self.path)
                q = parse_qs(url.query)
                if url.path == "/v1/slow-upload":
                    got, h, alone = 0, hashlib.sha256(), None
                    for b in self._body_chunks():
                        got += len(b)
                        h.update(b)
                        if alone is None and got >= fake.first_part_size:
                            # The rest is sent only after this is set: it cannot have come yet.
                            alone = got == fake.first_part_size
                            fake.first_part.set()
                    fake.upload_saw_first_part_alone = alone
                    rec = self._record(got, h.hexdigest())
                    return self._send(200, json.dumps(rec).encode(),
                                      [("Content-Type", "application/json")])
                h, size = hashlib.sha256(), 0
                for b in self._body_chunks():
                    h.update(b)
                    size += len(b)
                rec = self._record(size, h.hexdigest())
                if url.path == "/v1/redirect":
                    return self._send(302, b"", [("Location", q["to"][0]),
                                                 ("Set-Cookie", "__client=abc; Path=/; HttpOnly"),
                                                 ("Set-Cookie", "__client_uat=1; Path=/")])
                if url.path == "/v1/leak":
                    echo = self.headers.get("Clerk-Secret-Key", "")
                    return self._send(200, b"{}", [("X-Echo", echo), ("X-Fine", "yes")])
                if url.path == "/v1/hop":
                    return self._send(200, b"{}", [("Connection", "x-hop"), ("X-Hop", "1"),
                                                   ("Keep-Alive", "timeout=5"),
                                                   ("Proxy-Authenticate", "Basic"),
                                                   ("X-Fine", "yes")])
                if url.path == "/v1/big":
                    n = int(q["n"][0])
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(n))
                    self.end_headers()
                    block = bytes(range(256)) * 256
                    while n > 0:
                        self.wfile.write(block[:min(n, len(block))])
                        n -= min(n, len(block))
                    return None
                if url.path == "/v1/stream":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(STREAM_FIRST), STREAM_FIRST))
                    self.wfile.flush()
                    fake.stream_released_in_time = fake.release.wait(WAIT)
                    self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(STREAM_REST), STREAM_REST))
                    return None
                return self._send(200, json.dumps(rec).encode(),
                                  [("Content-Type", "application/json"),
                                   ("Set-Cookie", "__client_uat=0; Path=/; SameSite=Lax")])

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def last(self):
        with self.lock:
            return self.requests[-1] if self.requests else None

    def count(self):
        with self.lock:
            return len(self.requests)

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
