"""An httpd of the module under test speaking HTTP/2 (h2c on a plain port, h2 over TLS with a
certificate from a test CA made at run time) and proxying WebSockets (mod_proxy_wstunnel) to a
WebSocket echo back end written here with the standard library. Shared by test_82_http2.py and
test_83_websocket.py; each module starts and stops its own instances."""

import base64
import hashlib
import json
import os
import shutil
import socket
import socketserver
import struct
import tempfile
import threading

from conftest import ENV_CGI, MODDIR, PK, free_port, run, server_head
from jwks_server import ApacheProc, chmod_tree, make_pki, wait_port

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def read_head(sock, limit=65536):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            raise ValueError("head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = []
    for l in lines[1:]:
        if ":" in l:
            k, v = l.split(":", 1)
            hdrs.append((k.strip(), v.strip()))
    return lines[0], hdrs, rest


def recv_exact(sock, n, buf=b""):
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_frame(sock, pending=b""):
    """One WebSocket frame (no fragmentation): (opcode, payload, rest of pending)."""
    head = recv_exact(sock, 2, pending[:2]) if len(pending) < 2 else pending[:2]
    pending = pending[2:]
    op, ln = head[0] & 0x0F, head[1] & 0x7F
    masked = head[1] & 0x80
    ext = {126: 2, 127: 8}.get(ln, 0)
    need = ext + (4 if masked else 0)
    more = recv_exact(sock, need, pending[:need]) if len(pending) < need else pending[:need]
    pending = pending[need:]
    if ext:
        ln = struct.unpack(">H" if ext == 2 else ">Q", more[:ext])[0]
    mask = more[ext:ext + 4] if masked else None
    payload = recv_exact(sock, ln, pending[:ln]) if len(pending) < ln else pending[:ln]
    pending = pending[ln:]
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return op, payload, pending


def frame(op, payload, mask=False):
    n = len(payload)
    head = bytes([0x80 | op])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WsEcho:
    """A WebSocket echo server on loopback: answers the opening handshake, then echoes text
    frames prefixed with what it saw ("<user>|<text>", user from X-Clerk-User-Id). Records the
    headers of every handshake it accepted."""

    def __init__(self):
        self.handshakes = []
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                s = self.request
                s.settimeout(10)
                try:
                    line, hdrs, pending = read_head(s)
                    h = {k.lower(): v for k, v in hdrs}
                    with outer.lock:
                        outer.handshakes.append((line, hdrs))
                    if h.get("upgrade", "").lower() != "websocket" or "sec-websocket-key" not in h:
                        s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                  b"Connection: close\r\n\r\n")
                        return
                    s.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                               % ws_accept(h["sec-websocket-key"])).encode())
                    user = h.get("x-clerk-user-id", "-")
                    for _ in range(16):
                        op, payload, pending = read_frame(s, pending)
                        if op == 8:
                            s.sendall(frame(8, payload[:2]))
                            return
                        if op == 1:
                            s.sendall(frame(1, user.encode() + b"|" + payload))
                except (OSError, ValueError, ConnectionError):
                    return

        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def count(self):
        with self.lock:
            return len(self.handshakes)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def ws_client(port, path, headers=(), message="hello", host="127.0.0.1"):
    """Opens a WebSocket through httpd (HTTP/1.1 Upgrade), sends one text frame and reads the
    answer. Returns (status line, headers, echoed text or None)."""
    key = base64.b64encode(os.urandom(16)).decode()
    req = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket",
           "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13",
           "Sec-Fetch-Dest: websocket", *headers]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(("\r\n".join(req) + "\r\n\r\n").encode())
        line, hdrs, pending = read_head(s)
        if " 101 " not in line + " ":
            return line, hdrs, None
        h = {k.lower(): v for k, v in hdrs}
        assert h.get("sec-websocket-accept") == ws_accept(key), hdrs
        s.sendall(frame(1, message.encode(), mask=True))
        op, payload, pending = read_frame(s, pending)
        s.sendall(frame(8, struct.pack(">H", 1000), mask=True))
        return line, hdrs, payload.decode() if op == 1 else None


class ProtoHttpd(ApacheProc):
    """The module behind h2c (plain port), h2 (TLS port) and a WebSocket proxy."""

    def __init__(self, work, minter, echo_port, ws_port):
        super().__init__(work)
        self.port, self.tls_port = free_port(), free_port()
        self.ca, cert, key = make_pki(os.path.join(work, "pki"))
        cgi = os.path.join(work, "cgi")
        os.makedirs(cgi, exist_ok=True)
        with open(os.path.join(cgi, "env.cgi"), "w") as f:
            f.write(ENV_CGI)
        os.chmod(os.path.join(cgi, "env.cgi"), 0o755)
        extra = "\n".join("LoadModule %s_module %s/mod_%s.so" % (m, MODDIR, m)
                          for m in ("http2", "ssl", "proxy_wstunnel"))
        keys = 'ClerkPublishableKey %s\n    ClerkJWTKey "file:%s"' % (PK, minter.pub_pem)

        def proxied(path, backend):
            """A proxied location whose backend is handed the claims as headers."""
            return """ProxyPass {path} {backend}{path}
<Location {path}>
    AuthType Clerk
    AuthName clerk-e2e
    {keys}
    ClerkPassClaimsAs headers
    Require valid-user
</Location>""".format(path=path, backend=backend, keys=keys)

        self.write_conf(server_head(work, self.port, extra_listen=(self.tls_port,)) + """
{extra}
LogFormat "%h user=%u \\"%r\\" %>s %{{X-Clerk-User-Id}}i" clerkproto
CustomLog "{w}/logs/proto.log" clerkproto
Protocols h2c http/1.1
DocumentRoot "{w}/htdocs"
ScriptAlias /env/ "{cgi}/"
<Directory "{cgi}">
    Require all granted
</Directory>
<Location /env/>
    AuthType Clerk
    AuthName clerk-e2e
    {keys}
    Require valid-user
</Location>
{hdr}
{ws}
<VirtualHost 127.0.0.1:{tls}>
    SSLEngine on
    SSLCertificateFile "{cert}"
    SSLCertificateKeyFile "{key}"
    Protocols h2 http/1.1
</VirtualHost>
""".format(extra=extra, w=work, cgi=cgi, keys=keys,
           hdr=proxied("/hdr/", "http://127.0.0.1:%d" % echo_port),
           ws=proxied("/ws/", "ws://127.0.0.1:%d" % ws_port),
           tls=self.tls_port, cert=cert, key=key))
        os.makedirs(os.path.join(work, "htdocs"), exist_ok=True)
        chmod_tree(work)

    def start(self):
        super().start(self.port)
        assert wait_port(self.tls_port)


def curl_h2(url, headers=(), tls_ca=None, http1=False, timeout=10):
    """One request with the curl CLI over HTTP/2 (prior knowledge for http://, ALPN for https://
    verified against tls_ca). Returns (status, http_version, headers [(lower name, value)],
    body)."""
    d = tempfile.mkdtemp(prefix="curl-h2-")
    hfile, bfile = os.path.join(d, "h"), os.path.join(d, "b")
    cmd = ["curl", "-s", "-g", "--max-time", str(timeout), "-D", hfile, "-o", bfile, "-w",
           "%{http_code} %{http_version}"]
    if http1:
        cmd.append("--http1.1")
    elif url.startswith("https://"):
        cmd += ["--http2", "--cacert", tls_ca]
    else:
        cmd.append("--http2-prior-knowledge")
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    try:
        r = run(cmd, timeout=timeout + 5)
        status, version = r.stdout.split()
        hdrs = []
        with open(hfile, "rb") as f:
            for line in f.read().decode("latin-1").split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    hdrs.append((k.strip().lower(), v.strip()))
        try:
            with open(bfile, errors="replace") as f:
                body = f.read()
        except FileNotFoundError:
            body = ""
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return int(status), version, hdrs, body


def header(hdrs, name):
    vals = [v for k, v in hdrs if k == name.lower()]
    return vals[-1] if vals else None


def body_json(body):
    return json.loads(body)
