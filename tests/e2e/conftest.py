"""Harness for the end-to-end suite: keys and Clerk-shaped tokens minted at run time with
tests/tools/clerk-mint, a raw echo back end for the reverse-proxy cases, and a real httpd
(event MPM) on loopback loading the freshly built module. Everything is stopped at the end.

The expectations in the tests come from docs/design.md and the @clerk/backend sources it
names (tests/conformance pins the package), not from the module's code."""

import base64
import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("CLERK_E2E_SRCDIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("CLERK_E2E_BUILDDIR") or SRCDIR
# CLERK_E2E_WORK gives a run its own work dir, so two runs on one tree never clean up each other.
WORK = os.environ.get("CLERK_E2E_WORK") or os.path.join(BUILDDIR, "tests", "e2e", "work")
# tests/sanitize.sh points this at a wrapper that preloads the sanitizer runtime.
APACHE = os.environ.get("CLERK_E2E_APACHE") or "/usr/sbin/apache2"
MODDIR = "/usr/lib/apache2/modules"
MODULE = os.path.join(BUILDDIR, ".libs", "mod_clerk_auth.so")
MINT = os.path.join(BUILDDIR, "tests", "tools", "clerk-mint")

FAPI_HOST = "clerk.example.test"
ISSUER = "https://" + FAPI_HOST
AZP = "https://app.example.test"
KID = "ins_test"
SIGN_IN_URL = "https://accounts.example.test/sign-in"
AUTH_NAME = "clerk-e2e"
CMD_TIMEOUT = 30


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def publishable_key(host: str, live: bool = True) -> str:
    """pk_live_/pk_test_ + base64("<host>$"), unpadded like the keys Clerk issues."""
    enc = base64.b64encode((host + "$").encode()).decode().rstrip("=")
    return ("pk_live_" if live else "pk_test_") + enc


def cookie_suffix(pk: str) -> str:
    """Clerk's cookie suffix (@clerk/shared keys.ts getCookieSuffix)."""
    d = base64.b64encode(hashlib.sha1(pk.encode()).digest()).decode()
    return d.replace("+", "-").replace("/", "_")[:8]


PK = publishable_key(FAPI_HOST)

# Every token the suite sent and every secret key or handshake nonce it used, so the
# session-level log scan (scan_logs) can check that none reached any httpd's log.
SENT_TOKENS = []
SECRET_TEXTS = set()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    kw.setdefault("timeout", CMD_TIMEOUT)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------------------------- tokens
class Minter:
    def __init__(self, keydir):
        self.dir = keydir
        os.makedirs(keydir, exist_ok=True)
        self.keys = {}
        for name, typ in (("main", "rsa2048"), ("other", "rsa2048"), ("ec", "ec256")):
            path = os.path.join(keydir, name + ".pem")
            self._mint("keygen", "--type", typ, "--out", path)
            self.keys[name] = path
        self.pub_pem = os.path.join(keydir, "pub.pem")
        with open(self.pub_pem, "w") as f:
            f.write(self._mint("pubpem", "--key", self.keys["main"]))
        self.jwks = os.path.join(keydir, "jwks.json")
        with open(self.jwks, "w") as f:
            f.write(self._mint("jwks", "--key", self.keys["main"], "--kid", KID))
        self.jwks_es = os.path.join(keydir, "jwks-es.json")
        with open(self.jwks_es, "w") as f:
            f.write(self._mint("jwks", "--key", self.keys["main"], "--kid", KID,
                               "--key", self.keys["ec"], "--kid", "ins_ec", "--alg", "ES256"))
        for p in (self.pub_pem, self.jwks, self.jwks_es):
            os.chmod(p, 0o644)

    def _mint(self, *args):
        r = run([MINT, *args])
        if r.returncode != 0:
            raise RuntimeError("clerk-mint %s failed: %s" % (args[0], r.stderr.strip()))
        return r.stdout

    @staticmethod
    def claims(**over):
        """Clerk-shaped v2 session claims; a value None drops the claim."""
        now = int(time.time())
        c = {
            "azp": AZP,
            "exp": now + 60,
            "iat": now,
            "iss": ISSUER,
            "nbf": now - 10,
            "sid": "sess_" + secrets.token_hex(8),
            "sub": "user_" + secrets.token_hex(8),
            "v": 2,
        }
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def sign(self, payload=None, header=None, key="main", alg="RS256", raw_payload=None,
             raw_header=None, hmac_key_file=None):
        """A compact JWT. payload: dict (see claims()) or None for default claims; raw_* take
        JSON text verbatim (duplicate keys, non-objects)."""
        if raw_payload is None:
            raw_payload = json.dumps(payload if payload is not None else self.claims(),
                                     separators=(",", ":"))
        if raw_header is None:
            h = {"alg": alg, "kid": KID, "typ": "JWT"}
            h.update(header or {})
            raw_header = json.dumps({k: v for k, v in h.items() if v is not None},
                                    separators=(",", ":"))
        args = ["sign", "--alg", alg, "--header", raw_header, "--payload", raw_payload]
        if alg == "HS256":
            args += ["--hmac-key-file", hmac_key_file]
        elif alg != "none":
            args += ["--key", self.keys[key]]
        tok = self._mint(*args).strip()
        remember(tok)
        return tok


def remember(tok):
    SENT_TOKENS.append(tok)


def remember_secret(text):
    """A secret key or a nonce: its text must never appear in a log."""
    SECRET_TEXTS.add(text)


def log_files(root):
    """The error and access logs of every httpd the suite started under root."""
    out = []
    for d, _, files in os.walk(root):
        if os.path.basename(d) == "logs":
            out += [os.path.join(d, f) for f in files if f.endswith(".log")]
    return sorted(out)


def token_id(tok):
    """How a leaked token is named in a report: enough to tell tokens apart, never usable."""
    return "token %s...%s" % (tok[:8], tok[-6:])


def leaks(text, tokens, secrets_):
    """What of the tokens (whole, or their signature) and secret texts occurs in text."""
    found = []
    for tok in tokens:
        parts = tok.split(".")
        if tok in text or (len(parts) == 3 and len(parts[2]) >= 16 and parts[2] in text):
            found.append(token_id(tok))
    for s in secrets_:
        if s and s in text:
            found.append("secret " + s[:10] + "...")
    return found


# The query string of a request line in an access log: what the client itself put in the URL
# (a development handshake's __clerk_handshake=<JWT>, a __clerk_handshake_nonce, a test's
# ?__session=), which httpd's %r logs before any module runs.
REQUEST_QUERY = re.compile(r'("[A-Z]+ [^ "?]*)\?[^ "]*')
URL_BORNE = []  # (log, what): counted and printed by the session scan, not hidden


def scan_logs(root):
    """{log path: [what leaked]} for every log under root that holds a token or secret. In
    access logs, what only the request line's query string holds is listed in URL_BORNE."""
    bad = {}
    for path in log_files(root):
        with open(path, errors="replace") as f:
            text = f.read()
        if os.path.basename(path).startswith("access"):
            stripped = REQUEST_QUERY.sub(r"\1?[query]", text)
            URL_BORNE.extend((path, w) for w in leaks(text, SENT_TOKENS, SECRET_TEXTS)
                             if w not in leaks(stripped, SENT_TOKENS, SECRET_TEXTS))
            text = stripped
        found = leaks(text, SENT_TOKENS, SECRET_TEXTS)
        if found:
            bad[path] = found
    return bad


# ---------------------------------------------------------------------------- echo back end
class EchoHandler(BaseHTTPRequestHandler):
    """Returns the raw request headers it received, names exactly as sent."""

    protocol_version = "HTTP/1.1"

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        body = json.dumps({"method": self.command, "path": self.path,
                           "headers": [[k, v] for k, v in self.headers.items()]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_OPTIONS = do_HEAD = _answer

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def echo_backend():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


# ----------------------------------------------------------------------------------- httpd
BASE_MODULES = [
    "mpm_event", "authn_core", "authz_core", "authz_user", "authz_host", "mime", "alias",
    "dir", "env", "headers", "setenvif", "proxy", "proxy_http", "socache_shmcb", "rewrite",
]


def load_modules(cgi="cgid"):
    lines = ["LoadModule %s_module %s/mod_%s.so" % (m, MODDIR, m) for m in BASE_MODULES + [cgi]]
    lines.append("LoadModule clerk_auth_module %s" % MODULE)
    return "\n".join(lines)


def server_head(work, port, cgi="cgid", extra_listen=()):
    """The part of every config the suite writes: modules, paths, logs."""
    listens = "\n".join("Listen 127.0.0.1:%d" % p for p in (port, *extra_listen))
    sock = "ScriptSock %s/run/cgid.sock" % work if cgi == "cgid" else ""
    return """ServerRoot "{work}"
ServerName 127.0.0.1
{listens}
PidFile "{work}/run/httpd.pid"
DefaultRuntimeDir "{work}/run"
Mutex file:{work}/run default
{modules}
{sock}
User www-data
Group www-data
ErrorLog "{work}/logs/error.log"
LogLevel warn clerk_auth:debug
LogFormat "%h user=%u \\"%r\\" %>s" clerke2e
CustomLog "{work}/logs/access.log" clerke2e
TypesConfig /etc/mime.types
Timeout 20
KeepAliveTimeout 2
StartServers 1
ServerLimit 4
ThreadsPerChild 16
MaxRequestWorkers 64
MinSpareThreads 16
MaxSpareThreads 48
GracefulShutdownTimeout 5
""".format(work=work, listens=listens, modules=load_modules(cgi), sock=sock)


def render(template_path, mapping):
    with open(template_path) as f:
        text = f.read()
    for k, v in mapping.items():
        text = text.replace("@%s@" % k, v)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise RuntimeError("unreplaced template variables: %s" % sorted(set(left)))
    return text


ENV_CGI = r"""#!/usr/bin/python3 -S
# Prints what the application sees: REMOTE_USER, AUTH_TYPE, every CLERK_* and HTTP_* variable.
import json, os, sys
keep = {k: v for k, v in os.environ.items()
        if k in ("REMOTE_USER", "AUTH_TYPE", "REQUEST_METHOD")
        or k.startswith("CLERK_") or k.startswith("HTTP_")}
sys.stdout.write("Content-Type: application/json\r\n\r\n" + json.dumps(keep, sort_keys=True))
"""

CGI_DIRS = ["main", "userclaim", "userclaim-pass", "pending", "jwks", "jwks-es", "azp-a", "azp-b", "pass",
            "pass-vu", "u401", "u403", "u404", "signin", "signin-fwd", "small", "issuer", "api",
            "hta", "role", "claim", "static", "org", "perm", "reverified", "reverified-mf",
            "skew0", "setenvif", "front", "dirindex", "dirindex2"]


class Httpd:
    def __init__(self, work, minter, echo_port):
        self.work = work
        self.minter = minter
        self.port = free_port()
        self.proxy_port = free_port()
        self.echo_port = echo_port
        self.conf = os.path.join(work, "httpd.conf")
        self.error_log = os.path.join(work, "logs", "error.log")
        self.access_log = os.path.join(work, "logs", "access.log")
        self.pidfile = os.path.join(work, "run", "httpd.pid")
        self._layout()
        self._write_conf()

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def _layout(self):
        for d in ("run", "logs", "htdocs"):
            os.makedirs(os.path.join(self.work, d), exist_ok=True)
        for d in CGI_DIRS:
            p = os.path.join(self.work, "htdocs", d)
            os.makedirs(p, exist_ok=True)
            with open(os.path.join(p, "env.cgi"), "w") as f:
                f.write(ENV_CGI)
            os.chmod(os.path.join(p, "env.cgi"), 0o755)
        with open(os.path.join(self.work, "htdocs", "static", "hello.txt"), "w") as f:
            f.write("hello\n")
        # A PHP-style front controller: .htaccess rewrites every path to the script, an
        # internal redirect after authentication.
        with open(os.path.join(self.work, "htdocs", "front", ".htaccess"), "w") as f:
            f.write("RewriteEngine On\nRewriteRule ^app/ env.cgi [L]\n")
        # .htaccess (AllowOverride AuthConfig) overriding one directive of its <Directory>.
        with open(os.path.join(self.work, "htdocs", "hta", ".htaccess"), "w") as f:
            f.write("ClerkAuthorizedParties https://hta.example.test\n")
        for root, dirs, files in os.walk(self.work):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
            for fn in files:
                p = os.path.join(root, fn)
                if not fn.endswith(".pem") or fn == "pub.pem":
                    os.chmod(p, os.stat(p).st_mode | 0o444)

    def keys_block(self, jwks=None):
        src = ('ClerkJWKSFile "%s"' % jwks) if jwks else ('ClerkJWTKey "file:%s"' % self.minter.pub_pem)
        return "ClerkPublishableKey %s\n    %s" % (PK, src)

    def _write_conf(self):
        text = render(os.path.join(HERE, "httpd.conf.in"), {
            "HEAD": server_head(self.work, self.port, extra_listen=(self.proxy_port,)),
            "WORK": self.work,
            "PORT": str(self.port),
            "PROXY_PORT": str(self.proxy_port),
            "ECHO_PORT": str(self.echo_port),
            "KEYS": self.keys_block(),
            "KEYS_JWKS": self.keys_block(self.minter.jwks),
            "KEYS_JWKS_ES": self.keys_block(self.minter.jwks_es),
            "SIGN_IN_URL": SIGN_IN_URL,
            "AUTH_NAME": AUTH_NAME,
        })
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o644)

    def ctl(self, *args):
        return run([APACHE, "-f", self.conf, *args])

    def pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start(self):
        r = self.ctl("-k", "start")
        if r.returncode != 0:
            raise RuntimeError("httpd failed to start: %s%s\n%s" % (r.stdout, r.stderr,
                                                                     self.tail_error_log()))
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.pid() and self._accepts(self.port) and self._accepts(self.proxy_port):
                return
            time.sleep(0.1)
        raise RuntimeError("httpd did not come up\n" + self.tail_error_log())

    @staticmethod
    def _accepts(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def graceful(self):
        return self.ctl("-k", "graceful")

    def stop(self):
        pid = self.pid()
        self.ctl("-k", "stop")
        deadline = time.time() + 15
        while pid and time.time() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)
        if pid:  # still there: end the parent we started, by its id
            try:
                os.kill(pid, 9)
            except OSError:
                pass

    def tail_error_log(self, n=40):
        try:
            with open(self.error_log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no error log)"


def reachable_by_www_data(path):
    """httpd's children (www-data) must traverse every parent of the work dir."""
    path = os.path.abspath(path)
    while True:
        st = os.stat(path)
        if not (st.st_mode & 0o001 or st.st_uid == 33):
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def stop_stale_httpd(work):
    """An httpd left by an interrupted run of this suite: end it by its own pid."""
    try:
        with open(os.path.join(work, "run", "httpd.pid")) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().decode(errors="replace")
    except (OSError, ValueError):
        return
    if os.path.join(work, "httpd.conf") in cmdline:
        os.kill(pid, 15)
        for _ in range(100):
            if not os.path.exists("/proc/%d" % pid):
                break
            time.sleep(0.1)


@pytest.fixture(scope="session")
def work():
    global WORK
    for p in (MODULE, MINT):
        if not os.path.exists(p):
            raise RuntimeError("%s is missing: run `make` and `make check` first" % p)
    stop_stale_httpd(WORK)
    if os.path.isdir(WORK):
        shutil.rmtree(WORK)
    os.makedirs(WORK)
    os.chmod(WORK, 0o755)
    if not reachable_by_www_data(WORK):
        # e.g. a checkout under /root: serve from a private directory www-data can reach.
        WORK = tempfile.mkdtemp(prefix="clerk-e2e-")
        os.chmod(WORK, 0o755)
        print("e2e: work dir %s (build tree not reachable by www-data)" % WORK)
        yield WORK
        shutil.rmtree(WORK, ignore_errors=True)
    else:
        yield WORK


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(work):
    """After every test and every httpd it started has stopped (this fixture is set up right
    after work, so torn down after them): no token, secret key or nonce the suite used is in
    any error or access log. A leak is an error of the session, whatever order tests ran in."""
    yield
    scanned = log_files(WORK)
    bad = scan_logs(WORK)
    print("log scan: %d logs, %d tokens, %d secrets; %d only in access-log request URLs "
          "(sent there by the client)" % (len(scanned), len(SENT_TOKENS), len(SECRET_TEXTS),
                                          len(URL_BORNE)))
    # Tokens were sent, so some httpd logged: an empty scan would prove nothing. (A module that
    # starts no httpd, such as test_02_docs alone, sends none.)
    assert scanned or not SENT_TOKENS, "no httpd log found under %s" % WORK
    assert bad == {}, "tokens or secrets in logs: %s" % bad


@pytest.fixture(scope="session")
def minter(work):
    return Minter(os.path.join(work, "keys"))


@pytest.fixture(scope="session")
def httpd(work, minter, echo_backend):
    h = Httpd(work, minter, echo_backend)
    h.start()
    yield h
    h.stop()


# ------------------------------------------------------------------------------------ curl
class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (lower-case name, value)
        self.body = body

    def header(self, name):
        vals = self.all(name)
        return vals[-1] if vals else None

    def all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %s %r %r>" % (self.status, self.headers, self.body[:300])


_curl_seq = itertools.count(1)  # next() on a count is atomic: threads never share a file


def curl(url, headers=(), method=None, data=None, timeout=10):
    """One request with the real curl client; returns status, headers of the final (only)
    response and body."""
    seq = next(_curl_seq)
    d = os.path.join(WORK, "curl")
    os.makedirs(d, exist_ok=True)
    hfile = os.path.join(d, "h%d" % seq)
    bfile = os.path.join(d, "b%d" % seq)
    cmd = ["curl", "-s", "-g", "--max-time", str(timeout), "-o", bfile, "-D", hfile,
           "-w", "%{http_code}"]
    if method:
        cmd += ["-X", method]
    if data is not None:
        cmd += ["--data-binary", data]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    r = run(cmd, timeout=timeout + 5)
    status = int(r.stdout.strip() or 0)
    hdrs = []
    try:
        with open(hfile, errors="replace", newline="") as f:
            for line in f.read().split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    hdrs.append((k.strip().lower(), v.strip()))
        with open(bfile, errors="replace") as f:
            body = f.read()
    except OSError:
        body = ""
    for p in (hfile, bfile):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    return Response(status, hdrs, body)


@pytest.fixture(scope="session")
def get(httpd):
    """get(path, token=..., cookie=..., headers=[...], method=..., port=...)"""

    def _get(path, token=None, cookie=None, headers=(), method=None, port=None, data=None):
        h = list(headers)
        if token is not None:
            h.append("Authorization: Bearer " + token)
        if cookie is not None:
            h.append("Cookie: " + cookie)
        return curl("http://127.0.0.1:%d%s" % (port or httpd.port, path), h, method, data)

    return _get



# ---------------------------------------------------------------------------- shuffled runs
# CLERK_E2E_SHUFFLE_SEED=N runs the modules in an order drawn from N, and the tests inside each
# module too unless the module is marked in_order (its tests build on each other's state). The
# seed is printed in the header, so a failing order can be run again.
SHUFFLE_SEED = os.environ.get("CLERK_E2E_SHUFFLE_SEED", "")


def pytest_configure(config):
    config.addinivalue_line("markers", "in_order: keep this module's test order when the "
                            "suite runs shuffled (CLERK_E2E_SHUFFLE_SEED)")


def pytest_report_header(config):
    return "e2e shuffle seed: %s" % (SHUFFLE_SEED or "none (file order)")


def pytest_collection_modifyitems(session, config, items):
    if not SHUFFLE_SEED:
        return
    import random
    rng = random.Random(int(SHUFFLE_SEED))
    groups = {}
    for it in items:
        groups.setdefault(it.module.__name__, []).append(it)
    order = list(groups)
    rng.shuffle(order)
    out = []
    for name in order:
        g = groups[name]
        if not any(it.get_closest_marker("in_order") for it in g):
            rng.shuffle(g)
        out += g
    items[:] = out
