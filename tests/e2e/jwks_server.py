"""Real servers for the remote-key tests (docs/design.md#remote-jwks): a JWKS server (httpd +
mod_ssl with a test CA and server certificate made by the openssl CLI at run time) whose behaviour
the tests switch through a state file, httpd instances of the module under test with their own
configurations (any MPM), and memcached / redis-server on dynamic loopback ports. Everything
started here is stopped by the fixture that started it, by its own pid."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import APACHE, MODDIR, MODULE, PK, free_port, remember_secret, run
from helpers import stop_process

# Labels the JWKS server's access log writes for each secret key it recognises (never the key).
SECRETS = {
    "A": "sk_test_" + "a1" * 20,
    "P": "sk_test_" + "b2" * 20,
    "M": "sk_test_" + "c3" * 20,
    "R": "sk_test_" + "d4" * 20,
    "U": "sk_test_" + "e5" * 20,
}
for _sk in SECRETS.values():
    remember_secret(_sk)
ROTATED_KID = "ins_rotated"
STATES = ("good", "rotated", "500", "slow", "garbage", "huge", "keyinvalid", "hang",
          "only-rotated")
SLOW_S = 6

JWKS_CGI = r"""#!/usr/bin/python3 -S
# The JWKS endpoint: what it answers is chosen by the state file the tests write.
import os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
def read(name):
    with open(os.path.join(here, name)) as f:
        return f.read()
try:
    state = read("state").strip()
except OSError:
    state = "good"
out = sys.stdout
if state == "500":
    out.write("Status: 500 Internal Server Error\r\nContent-Type: application/json\r\n\r\n"
              '{"errors":[{"code":"internal_clerk_error","message":"Oops"}]}')
elif state == "keyinvalid":
    out.write("Status: 401 Unauthorized\r\nContent-Type: application/json\r\n\r\n"
              '{"errors":[{"code":"clerk_key_invalid","message":"The provided Clerk Secret Key is '
              'invalid. Make sure that your Clerk Secret Key is correct.","long_message":"x"}]}')
elif state == "garbage":
    out.write("Content-Type: application/json\r\n\r\n{\"keys\": [ this is not json")
elif state == "huge":
    pad = "x" * (300 * 1024)
    out.write("Content-Type: application/json\r\n\r\n{\"pad\":\"%s\",\"keys\":[]}" % pad)
else:
    if state == "slow":
        # Events a test can wait for: the fetch arrived, and (later) it is answered.
        def event(what):
            try:
                with open(os.path.join(here, "slow-events"), "a") as f:
                    f.write(what + "\n")
            except OSError:
                pass
        event("start")
        time.sleep(float(read("slow_s")))
        event("done")
    if state == "hang":  # until the test writes "release" (bounded: 60 s); "hang-seen" counts us
        with open(os.path.join(here, "hang-seen"), "a") as f:
            f.write("x")
        for _ in range(600):
            if os.path.exists(os.path.join(here, "release")):
                break
            time.sleep(0.1)
    body = read({"rotated": "jwks-rotated.json",
                 "only-rotated": "jwks-only-rotated.json"}.get(state, "jwks-good.json"))
    out.write("Content-Type: application/json\r\n\r\n" + body)
"""


def wait_port(port, up=True, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return True
        except OSError:
            if not up:
                return True
        time.sleep(0.05)
    return False


def openssl(*args, cwd):
    r = run(["openssl", *args], cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr))


def make_pki(d):
    """A test CA and a server certificate for 127.0.0.1 signed by it; PEM paths."""
    os.makedirs(d, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=clerk-e2e test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    return os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"), os.path.join(d, "server.key")


class ApacheProc:
    """An httpd of ours: config text in its own work dir, started and stopped by pid."""

    def __init__(self, work):
        self.work = work
        for d in ("run", "logs", "htdocs"):
            os.makedirs(os.path.join(work, d), exist_ok=True)
        self.conf = os.path.join(work, "httpd.conf")
        self.error_log = os.path.join(work, "logs", "error.log")
        self.access_log = os.path.join(work, "logs", "access.log")
        self.pidfile = os.path.join(work, "run", "httpd.pid")

    def write_conf(self, text):
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

    def start(self, port):
        r = self.ctl("-k", "start")
        if r.returncode != 0 or not wait_port(port):
            raise RuntimeError("httpd %s failed to start: %s%s\n%s" % (
                self.conf, r.stdout, r.stderr, self.tail()))
        deadline = time.time() + 10
        while not self.pid() and time.time() < deadline:
            time.sleep(0.05)

    def stop(self):
        pid = self.pid()
        if not pid:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.unlink(self.pidfile)
        except OSError:
            pass

    def tail(self, n=40):
        try:
            with open(self.error_log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no error log)"

    def log_text(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def chmod_tree(d):
    for root, dirs, files in os.walk(d):
        os.chmod(root, 0o755)
        for fn in files:
            p = os.path.join(root, fn)
            os.chmod(p, os.stat(p).st_mode | 0o444)


class JwksServer(ApacheProc):
    """httpd + mod_ssl on 127.0.0.1 serving /v1/jwks and /.well-known/jwks.json."""

    def __init__(self, work, minter):
        super().__init__(work)
        self.port = free_port()
        self.ca, cert, key = make_pki(os.path.join(work, "pki"))
        self.cgi_dir = os.path.join(work, "cgi")
        os.makedirs(self.cgi_dir, exist_ok=True)
        with open(os.path.join(self.cgi_dir, "jwks.cgi"), "w") as f:
            f.write(JWKS_CGI)
        os.chmod(os.path.join(self.cgi_dir, "jwks.cgi"), 0o755)
        good = minter._mint("jwks", "--key", minter.keys["main"], "--kid", "ins_test")
        rotated = minter._mint("jwks", "--key", minter.keys["main"], "--kid", "ins_test",
                               "--key", minter.keys["other"], "--kid", ROTATED_KID)
        only = minter._mint("jwks", "--key", minter.keys["other"], "--kid", ROTATED_KID)
        for name, text in (("jwks-good.json", good), ("jwks-rotated.json", rotated),
                           ("jwks-only-rotated.json", only),
                           ("slow_s", str(SLOW_S))):
            with open(os.path.join(self.cgi_dir, name), "w") as f:
                f.write(text)
        self.set_state("good")
        setenv = "\n".join('SetEnvIf Authorization "^Bearer %s$" jwks_auth=%s' % (re.escape(v), k)
                           for k, v in SECRETS.items())
        mods = "\n".join("LoadModule %s_module %s/mod_%s.so" % (m, MODDIR, m) for m in (
            "mpm_event", "authz_core", "alias", "mime", "setenvif", "cgid", "socache_shmcb",
            "ssl"))
        self.write_conf("""ServerRoot "{w}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port} https
PidFile "{w}/run/httpd.pid"
DefaultRuntimeDir "{w}/run"
Mutex file:{w}/run default
{mods}
ScriptSock "{w}/run/cgid.sock"
User www-data
Group www-data
ErrorLog "{w}/logs/error.log"
LogLevel warn
TypesConfig /etc/mime.types
Timeout 30
StartServers 1
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
SetEnvIf Authorization "." jwks_auth=other
{setenv}
# Header presence and label only: never the secret key itself.
LogFormat "%t \\"%m %U\\" %>s auth=%{{jwks_auth}}e ver=%{{Clerk-API-Version}}i ua=\\"%{{User-Agent}}i\\"" jwks
CustomLog "{w}/logs/access.log" jwks
DocumentRoot "{w}/htdocs"
SSLEngine on
SSLCertificateFile "{cert}"
SSLCertificateKeyFile "{key}"
SSLSessionCache none
ScriptAlias /v1/jwks "{cgi}/jwks.cgi"
ScriptAlias /.well-known/jwks.json "{cgi}/jwks.cgi"
<Directory "{cgi}">
    Require all granted
</Directory>
""".format(w=work, port=self.port, mods=mods, setenv=setenv, cert=cert, key=key,
           cgi=self.cgi_dir))
        chmod_tree(work)

    @property
    def base(self):
        return "https://127.0.0.1:%d" % self.port

    def slow_events(self):
        """What the slow state's CGI has recorded: "start" per fetch received, "done" when it
        answered."""
        try:
            with open(os.path.join(self.cgi_dir, "slow-events")) as f:
                return f.read().split()
        except OSError:
            return []

    def reset_slow_events(self, slow_s):
        """Empties the event file (writable by the CGI's user) and sets the slow delay."""
        for name, text, mode in (("slow-events", "", 0o666), ("slow_s", str(slow_s), 0o644)):
            p = os.path.join(self.cgi_dir, name)
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, mode)

    def set_state(self, state):
        assert state in STATES, state
        p = os.path.join(self.cgi_dir, "state")
        with open(p + ".tmp", "w") as f:
            f.write(state)
        os.chmod(p + ".tmp", 0o644)
        os.replace(p + ".tmp", p)

    def start(self):
        super().start(self.port)

    def down(self):
        self.stop()
        assert wait_port(self.port, up=False)

    def lines(self):
        try:
            with open(self.access_log) as f:
                return f.read().splitlines()
        except OSError:
            return []

    def fetches(self, label=None, path="/v1/jwks"):
        """Requests for path seen so far (by the secret key labelled label, if given)."""
        return [l for l in self.lines() if ('"GET %s"' % path) in l
                and (label is None or (" auth=%s " % label) in l)]


def module_conf(work, port, body, mpm="event", extra_modules=(), mpm_conf=None):
    """A config for the module under test: modules, paths, logs, then body."""
    mods = ["mpm_" + mpm, "authn_core", "authz_core", "authz_user", "alias", "mime", "env",
            "setenvif", "socache_shmcb", *extra_modules]
    lines = ["LoadModule %s_module %s/mod_%s.so" % (m, MODDIR, m) for m in mods]
    lines.append("LoadModule clerk_auth_module %s" % MODULE)
    if mpm_conf is None:
        mpm_conf = ("StartServers 1\nServerLimit 2\nThreadsPerChild 16\nMaxRequestWorkers 32\n"
                    "MinSpareThreads 8\nMaxSpareThreads 32")
    return """ServerRoot "{w}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{w}/run/httpd.pid"
DefaultRuntimeDir "{w}/run"
Mutex file:{w}/run default
{mods}
User www-data
Group www-data
ErrorLog "{w}/logs/error.log"
LogLevel warn clerk_auth:info
LogFormat "%h pid=%P user=%u \\"%r\\" %>s" clerk
CustomLog "{w}/logs/access.log" clerk
TypesConfig /etc/mime.types
Timeout 20
KeepAliveTimeout 2
GracefulShutdownTimeout 5
{mpm_conf}
DocumentRoot "{w}/htdocs"
<Directory "{w}/htdocs">
    Require all granted
</Directory>
{body}
""".format(w=work, port=port, mods="\n".join(lines), mpm_conf=mpm_conf, body=body)


def protected(path, secret_label, extra=""):
    """A <Location> verified with only the publishable and secret keys."""
    return """<Location {path}>
    AuthType Clerk
    AuthName clerk-e2e
    ClerkPublishableKey {pk}
    ClerkSecretKey {sk}
    {extra}
    Require valid-user
</Location>""".format(path=path, pk=PK, sk=SECRETS[secret_label], extra=extra)


class ModuleHttpd(ApacheProc):
    """The module under test with a configuration of the test's own."""

    def __init__(self, work, port=None):
        super().__init__(work)
        self.port = port or free_port()
        for d in ("p", "wk", "u"):
            os.makedirs(os.path.join(work, "htdocs", d), exist_ok=True)
            with open(os.path.join(work, "htdocs", d, "hello.txt"), "w") as f:
                f.write("hello\n")

    def configure(self, body, **kw):
        self.write_conf(module_conf(self.work, self.port, body, **kw))
        chmod_tree(self.work)

    def start(self):
        super().start(self.port)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def wait_log(self, needle, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if needle in self.log_text():
                return True
            time.sleep(0.1)
        return False


class Daemon:
    """memcached or redis-server on a dynamic loopback port, as an unprivileged user."""

    def __init__(self, work, kind):
        self.kind = kind
        self.port = free_port()
        self.work = work
        os.makedirs(work, exist_ok=True)
        os.chmod(work, 0o777)
        user = ["-u", "nobody"] if os.getuid() == 0 else []
        if kind == "memcached":
            cmd = [shutil.which("memcached") or "/usr/bin/memcached", "-l", "127.0.0.1", "-p",
                   str(self.port), "-U", "0", "-m", "16", *user]
        else:
            cmd = [shutil.which("redis-server") or "/usr/bin/redis-server", "--bind",
                   "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                   "--dir", work, "--protected-mode", "no"]
        self.log = open(os.path.join(work, kind + ".log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_port(self.port, timeout=10):
            self.stop()
            raise RuntimeError("%s did not start on port %d" % (kind, self.port))

    def stop(self):
        stop_process(self.proc)
        self.log.close()


@pytest.fixture(scope="module")
def jwks_server(request, work, minter):
    # One directory per module: a module that ran before must not leave fetches in this one's
    # access log (counts are read from it), whatever order the modules run in.
    name = request.module.__name__.rsplit(".", 1)[-1]
    srv = JwksServer(os.path.join(work, "jwks-server-" + name), minter)
    srv.start()
    yield srv
    srv.stop()
