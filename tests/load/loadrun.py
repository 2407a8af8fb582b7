#!/usr/bin/env python3
"""Load with faults, one MPM per run: mints a mixed request list with tests/tools/clerk-mint
(valid header tokens and cookie pairs for many users, expired, forged, wrong azp, unknown kid,
garbage, oversized tokens and headers, each tagged with the verdict it must get), starts a private
httpd on 127.0.0.1 with the built module and a loopback JWKS server (the Backend API's
/v1/jwks), runs tests/tools/clerk-loadcheck against it while this driver rotates the JWKS every
ROTATE_S and runs `apache2 -k graceful` every GRACEFUL_S, then stops everything it started.

  loadrun.py --builddir DIR --mpm event|worker|prefork [--seconds 20] [--users 200]

Exit status: clerk-loadcheck's (0 = every response had the expected status and user, no 5xx),
or 1 when the rotation/restarts did not happen as planned."""

import argparse
import base64
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
APACHE = "/usr/sbin/apache2"
MODDIR = "/usr/lib/apache2/modules"
FAPI_HOST = "clerk.load.test"
AZP = "https://app.load.test"
SK = "sk_live_" + "load" * 10
GRACEFUL_S = 3.0
ROTATE_S = 1.3
CMD_TIMEOUT = 30

EXPIRED = "session-token-expired-refresh-non-eligible-no-refresh-cookie"

MPM_TUNING = {
    "event": "StartServers 2\nServerLimit 6\nThreadsPerChild 16\nMaxRequestWorkers 64\n"
             "MinSpareThreads 16\nMaxSpareThreads 48",
    "worker": "StartServers 2\nServerLimit 6\nThreadsPerChild 16\nMaxRequestWorkers 64\n"
              "MinSpareThreads 16\nMaxSpareThreads 48",
    "prefork": "StartServers 8\nMinSpareServers 8\nMaxSpareServers 24\nServerLimit 40\n"
               "MaxRequestWorkers 40",
}


def run(cmd, **kw):
    kw.setdefault("timeout", CMD_TIMEOUT)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def publishable_key(host):
    return "pk_live_" + base64.b64encode((host + "$").encode()).decode().rstrip("=")


def cookie_suffix(pk):
    import hashlib
    d = base64.b64encode(hashlib.sha1(pk.encode()).digest()).decode()
    return d.replace("+", "-").replace("/", "_")[:8]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mint:
    def __init__(self, tool, keydir):
        self.tool = tool
        self.keydir = keydir

    def call(self, *args):
        r = run([self.tool, *args])
        if r.returncode != 0:
            raise RuntimeError("clerk-mint %s: %s" % (args[0], r.stderr.strip()))
        return r.stdout

    def keygen(self, name):
        path = os.path.join(self.keydir, name + ".pem")
        self.call("keygen", "--type", "rsa2048", "--out", path)
        return path

    def jwks(self, pairs):
        args = []
        for path, kid in pairs:
            args += ["--key", path, "--kid", kid]
        return self.call("jwks", *args)

    def sign(self, key, kid, claims):
        header = json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}, separators=(",", ":"))
        return self.call("sign", "--key", key, "--alg", "RS256", "--header", header,
                         "--payload", json.dumps(claims, separators=(",", ":"))).strip()


def make_requests(mint, keys, pk, users, rng):
    """The request list: (status, user, reason, carrier, value) tuples."""
    now = int(time.time())
    sfx = cookie_suffix(pk)

    def claims(sub, **over):
        c = {"azp": AZP, "exp": now + 3600, "iat": now - 5, "iss": "https://" + FAPI_HOST,
             "nbf": now - 15, "sid": "sess_" + secrets.token_hex(6), "sub": sub, "v": 2}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    out = []
    stable = [(keys["a"], "ins_a"), (keys["b"], "ins_b")]
    for i in range(users):
        user = "user_%04d%s" % (i, secrets.token_hex(4))
        key, kid = stable[i % 2]
        out.append((200, user, "-", "authz", "Bearer " + mint.sign(key, kid, claims(user))))
        tok = mint.sign(key, kid, claims(user))
        if i % 3 == 0:  # suffixed pair (both suffixed cookies present: suffixed wins)
            cookie = "__session_%s=%s; __client_uat_%s=%d" % (sfx, tok, sfx, now - 6)
        else:
            cookie = "__session=%s; __client_uat=%d" % (tok, now - 6)
        out.append((200, user, "-", "cookie", cookie))
    n_bad = max(4, users // 10)
    for i in range(n_bad):
        user = "user_bad%03d" % i
        key, kid = stable[i % 2]
        exp = claims(user, exp=now - 600, iat=now - 700, nbf=now - 710)
        out.append((401, "-", EXPIRED, "authz", "Bearer " + mint.sign(key, kid, exp)))
        out.append((401, "-", EXPIRED, "cookie", "__session=%s; __client_uat=%d" % (
            mint.sign(key, kid, exp), now - 800)))
        out.append((401, "-", "token-invalid-signature", "authz",
                    "Bearer " + mint.sign(keys["forger"], kid, claims(user))))
        out.append((401, "-", "token-invalid-authorized-parties", "authz",
                    "Bearer " + mint.sign(key, kid, claims(user, azp="https://evil.load.test"))))
        out.append((401, "-", "token-invalid-authorized-parties", "cookie",
                    "__session=%s; __client_uat=%d" % (
                        mint.sign(key, kid, claims(user, azp=None)), now - 6)))
        out.append((401, "-", "jwk-kid-mismatch", "authz",
                    "Bearer " + mint.sign(keys["retired"], "ins_retired", claims(user))))
        garbage = [secrets.token_urlsafe(40), "%s.%s" % (b64url(b"{}"), b64url(b"{}")),
                   "%s.%s.%s" % (b64url(b"not json"), b64url(b"{}"), b64url(b"sig")),
                   "Bearer"][i % 4]
        out.append((401, "-", "token-invalid", "authz", "Bearer " + garbage))
        big = claims(user, pad="x" * 15000)  # over ClerkMaxTokenSize (16 KiB) once signed
        out.append((401, "-", "token-invalid", "authz", "Bearer " + mint.sign(key, kid, big)))
        out.append((401, "-", "session-token-and-uat-missing", "none", "-"))
        out.append((401, "-", "client-uat-but-no-session-token", "cookie",
                    "__client_uat=%d" % now))
        # Over LimitRequestFieldSize: httpd's own 400, before any module.
        out.append((400, "-", "-", "pad", "70000"))
    rng.shuffle(out)
    return out


class JwksServer:
    """The Backend API's GET /v1/jwks on loopback; the served key set is swapped by rotate()."""

    def __init__(self, sets):
        self.sets = sets
        self.index = 0
        self.fetches = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                ok = self.path == "/v1/jwks" and \
                    self.headers.get("Authorization") == "Bearer " + SK
                with outer.lock:
                    body = outer.sets[outer.index].encode() if ok else b'{"errors":[]}'
                    outer.fetches += ok
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def start(self):
        self.thread.start()

    def rotate(self):
        with self.lock:
            self.index = (self.index + 1) % len(self.sets)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def render(mapping):
    with open(os.path.join(HERE, "httpd.conf.in")) as f:
        text = f.read()
    for k, v in mapping.items():
        text = text.replace("@%s@" % k, v)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise RuntimeError("unreplaced template variables: %s" % sorted(set(left)))
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--mpm", required=True, choices=sorted(MPM_TUNING))
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--parallel", type=int, default=16)
    ap.add_argument("--refresh", type=int, default=1, help="ClerkJWKSRefresh seconds")
    ap.add_argument("--shared", help="directory for keys and the request list, reused by the "
                    "next MPM's run when under 30 minutes old (tokens live an hour)")
    ap.add_argument("--no-graceful", action="store_true", help="rotate keys only (diagnosis)")
    args = ap.parse_args()

    build = os.path.abspath(args.builddir)
    module = os.path.join(build, ".libs", "mod_clerk_auth.so")
    tool = os.path.join(build, "tests", "tools", "clerk-mint")
    checker = os.path.join(build, "tests", "tools", "clerk-loadcheck")
    work = os.path.join(build, "tests", "load", "work-" + args.mpm)
    if os.path.exists(os.path.join(work, "run", "httpd.pid")):
        stop_stale(work)
    shutil.rmtree(work, ignore_errors=True)
    for d in ("run", "logs", "htdocs/load"):
        os.makedirs(os.path.join(work, d))
    shared = os.path.abspath(args.shared) if args.shared else os.path.join(work, "keys")
    reqfile = os.path.join(shared, "requests.txt")
    fresh = os.path.exists(reqfile) and time.time() - os.path.getmtime(reqfile) < 1800
    if not fresh:
        shutil.rmtree(shared, ignore_errors=True)
        os.makedirs(shared)
    with open(os.path.join(work, "htdocs", "load", "hello.txt"), "w") as f:
        f.write("hello\n")
    for root, dirs, files in os.walk(work):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)

    rng = random.Random(int(time.time()))
    mint = Mint(tool, shared)
    names = ("a", "b", "forger", "retired", "r1", "r2", "r3")
    pk = publishable_key(FAPI_HOST)
    t0 = time.time()
    if fresh:
        keys = {n: os.path.join(shared, n + ".pem") for n in names}
        with open(reqfile) as f:
            n = sum(1 for _ in f)
        print("load %s: %d distinct requests reused from %s" % (args.mpm, n, reqfile))
    else:
        keys = {n: mint.keygen(n) for n in names}
        reqs = make_requests(mint, keys, pk, args.users, rng)
        with open(reqfile + ".tmp", "w") as f:
            for status, user, reason, carrier, value in reqs:
                f.write("%d %s %s %s %s\n" % (status, user, reason, carrier, value))
        os.rename(reqfile + ".tmp", reqfile)
        print("load %s: %d distinct requests minted in %.1f s" % (args.mpm, len(reqs),
                                                               time.time() - t0))

    # The two signing keys are always served; a third key comes and goes and the order changes,
    # so each refresh swaps the module's key set while valid tokens must keep verifying.
    stable = [(keys["a"], "ins_a"), (keys["b"], "ins_b")]
    sets = [mint.jwks(stable), mint.jwks([(keys["r1"], "ins_r1")] + stable[::-1]),
            mint.jwks(stable + [(keys["r2"], "ins_r2")]),
            mint.jwks([stable[1], (keys["r3"], "ins_r3"), stable[0]])]
    jwks = JwksServer(sets)
    jwks.start()

    port = free_port()
    conf = os.path.join(work, "httpd.conf")
    with open(conf, "w") as f:
        f.write(render({"WORK": work, "PORT": str(port), "MPM": args.mpm, "MODDIR": MODDIR,
                        "MODULE": module, "MPM_TUNING": MPM_TUNING[args.mpm],
                        "JWKS_PORT": str(jwks.port), "PK": pk, "SK": SK, "AZP": AZP,
                        "REFRESH": str(args.refresh)}))
    os.chmod(conf, 0o644)

    def ctl(*a):
        return run([APACHE, "-f", conf, *a])

    r = ctl("-k", "start")
    if r.returncode != 0:
        print("httpd failed to start: %s%s" % (r.stdout, r.stderr))
        jwks.stop()
        return 1
    rc = 1
    gracefuls = rotations = graceful_failures = 0
    try:
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        proc = subprocess.Popen([checker, "--url", "http://127.0.0.1:%d/load/hello.txt" % port,
                                 "--requests", reqfile, "--seconds", str(args.seconds),
                                 "--parallel", str(args.parallel),
                                 "--max-requests", "5000000"])
        next_graceful = time.time() + GRACEFUL_S
        next_rotate = time.time() + ROTATE_S
        end = time.time() + args.seconds + 30
        while proc.poll() is None and time.time() < end:
            now = time.time()
            if now >= next_rotate:
                jwks.rotate()
                rotations += 1
                next_rotate = now + ROTATE_S
            if now >= next_graceful and not args.no_graceful:
                g = ctl("-k", "graceful")
                gracefuls += 1
                graceful_failures += g.returncode != 0
                next_graceful = time.time() + GRACEFUL_S
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            print("load %s: checker did not finish in time" % args.mpm)
        proc.wait()
        rc = proc.returncode
    finally:
        stop(ctl, work)
        jwks.stop()
    print("load %s: %d graceful restarts (%d failed), %d JWKS rotations, %d JWKS fetches" % (
        args.mpm, gracefuls, graceful_failures, rotations, jwks.fetches))
    if args.no_graceful:
        gracefuls = 99
    if gracefuls < max(1, int(args.seconds / GRACEFUL_S) - 2) or graceful_failures or \
            rotations < 2 or jwks.fetches < 2:
        print("load %s: the faults did not happen as planned" % args.mpm)
        rc = rc or 1
    if rc != 0:
        try:
            with open(os.path.join(work, "logs", "error.log"), errors="replace") as f:
                print("".join(f.readlines()[-20:]))
        except OSError:
            pass
    return rc


def read_pid(work):
    try:
        with open(os.path.join(work, "run", "httpd.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def stop(ctl, work):
    pid = read_pid(work)
    ctl("-k", "stop")
    deadline = time.time() + 15
    while pid and time.time() < deadline:
        if not os.path.exists("/proc/%d" % pid):
            return
        time.sleep(0.1)
    if pid and os.path.exists("/proc/%d" % pid):
        os.kill(pid, 9)


def stop_stale(work):
    """An httpd left by an interrupted run of this driver: end it by its own pid."""
    pid = read_pid(work)
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            mine = os.path.join(work, "httpd.conf").encode() in f.read()
    except (OSError, TypeError):
        return
    if mine:
        os.kill(pid, 15)
        for _ in range(100):
            if not os.path.exists("/proc/%d" % pid):
                break
            time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
