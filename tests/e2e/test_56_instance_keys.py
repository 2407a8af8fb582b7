"""Two Clerk instances, A and B, each with its own keys (A signs with the suite's main key, B with
its other key), its own publishable and secret key, and Backend APIs on loopback that answer
/v1/jwks only for the secret keys they know. Every way a section can inherit a key source
(server, virtual host, <Location>, <Directory>, <Files>, .htaccess; outer PEM and inner secret,
outer secret and inner JWKS file, outer JWKS URL and inner secret...) is configured, and no token
of A is ever signed in on a section of B (README "Key sources and instances").

Key sources are inherited as one group with the publishable key and ClerkAPIURL in force where
they were set; a section whose publishable key differs stops httpd at startup with the file and
line, or, found only when a request merges an .htaccess, fails that request with 500."""

import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import APACHE, curl, free_port, publishable_key, run
from jwks_server import ModuleHttpd, chmod_tree, module_conf

PK_A = publishable_key("clerk.a.example.test")
PK_B = publishable_key("clerk.b.example.test")
SK_A = "sk_test_" + "a7" * 20
SK_B = "sk_test_" + "b8" * 20
KID_A, KID_B = "ins_A", "ins_B"


class BackendAPI:
    """A Backend API on loopback: /v1/jwks answers each known secret key with its instance's
    JWKS (401 otherwise); /jwks/<name>.json is public. Requests are counted per secret key."""

    def __init__(self, by_secret, public=None):
        self.by_secret = dict(by_secret)
        self.public = dict(public or {})
        self.seen = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                auth = self.headers.get("Authorization", "")
                body = None
                if self.path == "/v1/jwks":
                    secret = auth[7:] if auth.startswith("Bearer ") else ""
                    api.seen.append(secret)
                    body = api.by_secret.get(secret)
                elif self.path.startswith("/jwks/"):
                    body = api.public.get(self.path[len("/jwks/"):])
                status = 200 if body is not None else 401
                data = (body if body is not None else json.dumps({"errors": []})).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.base = "http://127.0.0.1:%d" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture(scope="module")
def inst(work, minter):
    d = os.path.join(work, "instances")
    os.makedirs(d, exist_ok=True)
    jwks_a = minter._mint("jwks", "--key", minter.keys["main"], "--kid", KID_A)
    jwks_b = minter._mint("jwks", "--key", minter.keys["other"], "--kid", KID_B)
    files = {}
    for name, text in (("a.json", jwks_a), ("b.json", jwks_b),
                       ("a.pem", minter._mint("pubpem", "--key", minter.keys["main"]))):
        files[name] = os.path.join(d, name)
        with open(files[name], "w") as f:
            f.write(text)
        os.chmod(files[name], 0o644)
    # The shared Backend API knows both instances (as Clerk's does); B's own knows only B.
    api = BackendAPI({SK_A: jwks_a, SK_B: jwks_b}, {"a.json": jwks_a, "b.json": jwks_b})
    api_b = BackendAPI({SK_B: jwks_b})
    yield {"files": files, "api": api, "api_b": api_b}
    api.stop()
    api_b.stop()


def token(minter, who):
    return minter.sign(minter.claims(), header={"kid": KID_A if who == "A" else KID_B},
                       key="main" if who == "A" else "other")


def status(url, minter, who):
    return curl(url, ["Authorization: Bearer " + token(minter, who)]).status


GUARD = "AuthType Clerk\n    AuthName clerk-e2e\n    Require valid-user"


@pytest.fixture(scope="module")
def mixed(work, minter, inst):
    """One httpd holding every inheritance pattern that may start."""
    h = ModuleHttpd(os.path.join(work, "instances-httpd"))
    root = os.path.join(h.work, "htdocs")
    dirs = ("a", "b-file", "b-secret", "pem", "pem/b", "s", "s/b", "url", "url/b", "files",
            "hta", "hta-pk", "v1", "v2")
    for sub in dirs:
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        with open(os.path.join(root, sub, "hello.txt"), "w") as f:
            f.write("hello\n")
    with open(os.path.join(root, "files", "b.txt"), "w") as f:
        f.write("hello\n")
    f_ = inst["files"]
    # .htaccess of B under an A directory: its own key source (refused for A's tokens), and
    # one naming only B's publishable key (only a request can see it: 500).
    with open(os.path.join(root, "hta", ".htaccess"), "w") as f:
        f.write('ClerkPublishableKey %s\nClerkJWKSFile "%s"\n' % (PK_B, f_["b.json"]))
    with open(os.path.join(root, "hta-pk", ".htaccess"), "w") as f:
        f.write("ClerkPublishableKey %s\n" % PK_B)
    h.v1_port = free_port()
    api = inst["api"].base
    h.configure("""Listen 127.0.0.1:{v1}
ClerkAPIURL {api}
ClerkSecretKey {ska}
ClerkJWKSMinRefresh 1
<Location /a/>
    {guard}
</Location>
<Location /b-file/>
    ClerkPublishableKey {pkb}
    ClerkJWKSFile "{bjson}"
    {guard}
</Location>
<Location /b-secret/>
    ClerkPublishableKey {pkb}
    ClerkSecretKey {skb}
    {guard}
</Location>
<Directory "{root}/pem">
    ClerkPublishableKey {pka}
    ClerkJWTKey "file:{apem}"
    {guard}
</Directory>
<Directory "{root}/pem/b">
    ClerkPublishableKey {pkb}
    ClerkSecretKey {skb}
</Directory>
<Location /s/>
    ClerkPublishableKey {pka}
    ClerkSecretKey {ska}
    {guard}
</Location>
<Location /s/b/>
    ClerkPublishableKey {pkb}
    ClerkJWKSFile "{bjson}"
</Location>
<Location /url/>
    ClerkPublishableKey {pka}
    ClerkJWKSURL {api}/jwks/a.json
    {guard}
</Location>
<Location /url/b/>
    ClerkPublishableKey {pkb}
    ClerkSecretKey {skb}
</Location>
<Directory "{root}/files">
    ClerkPublishableKey {pka}
    ClerkJWTKey "file:{apem}"
    {guard}
    <Files "b.txt">
        ClerkPublishableKey {pkb}
        ClerkJWKSFile "{bjson}"
    </Files>
</Directory>
<Directory "{root}/hta">
    AllowOverride AuthConfig
    ClerkPublishableKey {pka}
    ClerkSecretKey {ska}
    {guard}
</Directory>
<Directory "{root}/hta-pk">
    AllowOverride AuthConfig
    ClerkPublishableKey {pka}
    ClerkSecretKey {ska}
    {guard}
</Directory>
<VirtualHost 127.0.0.1:{v1}>
    ClerkPublishableKey {pkb}
    ClerkJWKSFile "{bjson}"
    <Location /v1/>
        {guard}
    </Location>
</VirtualHost>
""".format(v1=h.v1_port, api=api, ska=SK_A, skb=SK_B, pka=PK_A,
           pkb=PK_B, bjson=f_["b.json"], apem=f_["a.pem"], root=root, guard=GUARD))
    chmod_tree(h.work)
    h.start()
    yield h
    h.stop()


# (path, port attribute or None) of every section of B, and of A for the control.
B_SECTIONS = [
    ("/b-file/hello.txt", None),   # server secret A, section pk B + JWKS file B
    ("/b-secret/hello.txt", None),  # server secret A, section pk B + secret B
    ("/pem/b/hello.txt", None),    # outer PEM A, inner secret B
    ("/s/b/hello.txt", None),      # outer secret A, inner JWKS file B
    ("/url/b/hello.txt", None),    # outer JWKS URL A, inner secret B
    ("/files/b.txt", None),        # <Directory> PEM A, <Files> JWKS file B
    ("/hta/hello.txt", None),      # <Directory> secret A, .htaccess JWKS file B
    ("/v1/hello.txt", "v1_port"),  # server secret A, virtual host JWKS file B
]


def url(h, path, port_attr):
    port = getattr(h, port_attr) if port_attr else h.port
    return "http://127.0.0.1:%d%s" % (port, path)


@pytest.mark.parametrize("path,port_attr", B_SECTIONS)
def test_no_token_of_a_signs_in_on_a_section_of_b(mixed, minter, path, port_attr):
    assert status(url(mixed, path, port_attr), minter, "A") == 401
    assert status(url(mixed, path, port_attr), minter, "B") == 200


@pytest.mark.parametrize("path", ["/a/hello.txt", "/pem/hello.txt", "/s/hello.txt",
                                  "/url/hello.txt", "/files/hello.txt"])
def test_a_sections_sign_in_a_and_only_a(mixed, minter, path):
    assert status(mixed.url(path), minter, "A") == 200
    assert status(mixed.url(path), minter, "B") == 401


@pytest.fixture(scope="module")
def own_api(work, inst):
    """Instance A in the main server with the shared Backend API; B in a virtual host with its
    own Backend API, which a section of the main server also reaches."""
    h = ModuleHttpd(os.path.join(work, "instances-own-api"))
    h.v2_port = free_port()
    h.configure("""Listen 127.0.0.1:{v2}
ClerkAPIURL {api}
ClerkPublishableKey {pka}
ClerkSecretKey {ska}
<Location /p/>
    {guard}
</Location>
<VirtualHost 127.0.0.1:{v2}>
    ClerkAPIURL {apib}
    ClerkPublishableKey {pkb}
    ClerkSecretKey {skb}
</VirtualHost>
""".format(v2=h.v2_port, api=inst["api"].base, apib=inst["api_b"].base, pka=PK_A, pkb=PK_B,
           ska=SK_A, skb=SK_B, guard=GUARD))
    h.start()
    yield h
    h.stop()


def test_virtual_host_with_its_own_backend_api_and_secret_key(own_api, minter, inst):
    v2 = "http://127.0.0.1:%d/p/hello.txt" % own_api.v2_port
    assert status(v2, minter, "A") == 401
    assert status(v2, minter, "B") == 200
    assert status(own_api.url("/p/hello.txt"), minter, "A") == 200
    assert status(own_api.url("/p/hello.txt"), minter, "B") == 401
    assert SK_B in inst["api_b"].seen
    assert SK_A not in inst["api_b"].seen


def test_htaccess_publishable_key_alone_fails_the_request_closed(mixed, minter):
    for who in ("A", "B"):
        assert status(mixed.url("/hta-pk/hello.txt"), minter, who) == 500
    assert curl(mixed.url("/hta-pk/hello.txt")).status == 500
    log = mixed.log_text()
    assert "CLERK1101" in log and "clerk.b.example.test" in log, mixed.tail()
    assert re.search(r"ClerkSecretKey on line \d+ of [^,]*httpd\.conf", log), mixed.tail()
    assert SK_A not in log and SK_B not in log


# ------------------------------------------------------------------------- refused at startup
def configtest(work, name, body, wrap=()):
    d = os.path.join(work, "instances-ct", name)
    for sub in ("run", "logs", "htdocs/x/y"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    lines = module_conf(d, free_port(), body).splitlines()
    marks = {}
    for i, l in enumerate(lines, 1):
        m = re.search(r"\s*#(BAD|KEYS)$", l)
        if m:
            marks[m.group(1)] = i
            lines[i - 1] = l[:m.start()]
    path = os.path.join(d, "httpd.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = run([*wrap, APACHE, "-t", "-f", path])
    return r.returncode, r.stdout + r.stderr, path, marks


STARTUP_REFUSED = {
    "location-pk-under-server-keys": """ClerkPublishableKey {pka}
ClerkSecretKey {ska} #KEYS
<Location /b/>
    ClerkPublishableKey {pkb} #BAD
    {guard}
</Location>""",
    "location-pk-under-keys-without-pk": """ClerkSecretKey {ska} #KEYS
<Location /b/>
    ClerkPublishableKey {pkb} #BAD
    {guard}
</Location>""",
    "vhost-pk-under-server-keys": """ClerkPublishableKey {pka}
ClerkJWTKey "file:{apem}" #KEYS
<VirtualHost 127.0.0.1:{vport}>
    ClerkPublishableKey {pkb} #BAD
    <Location /b/>
        {guard}
    </Location>
</VirtualHost>""",
    "nested-location-pk": """<Location /x/>
    ClerkPublishableKey {pka}
    ClerkJWKSFile "{ajson}" #KEYS
    {guard}
</Location>
<Location /x/y/>
    ClerkPublishableKey {pkb} #BAD
</Location>""",
    "nested-directory-pk": """<Directory "{root}/x">
    ClerkPublishableKey {pka}
    ClerkSecretKeyFile "{skfile}" #KEYS
    {guard}
</Directory>
<Directory "{root}/x/y">
    ClerkPublishableKey {pkb} #BAD
</Directory>""",
    # ClerkMachineSecretKey is one of the key source: tied to the publishable key in force.
    "nested-location-pk-under-machine-key": """<Location /x/>
    ClerkPublishableKey {pka}
    ClerkMachineSecretKey ak_{ska} #KEYS
    ClerkAcceptsToken m2m_token
    {guard}
</Location>
<Location /x/y/>
    ClerkPublishableKey {pkb} #BAD
</Location>""",
    "files-pk": """<Directory "{root}/x">
    ClerkPublishableKey {pka}
    ClerkJWKSURL https://keys.a.example.test/jwks.json #KEYS
    {guard}
    <Files "b.txt">
        ClerkPublishableKey {pkb} #BAD
    </Files>
</Directory>""",
    # httpd also applies the main server's sections to every virtual host: A's secret key
    # would go to B's Backend API.
    "main-section-secret-under-vhost-api": """ClerkAPIURL https://api.a.example.test
<Location /s/>
    ClerkPublishableKey {pka}
    ClerkSecretKey {ska} #KEYS
    {guard}
</Location>
<VirtualHost 127.0.0.1:{vport}> #BAD
    ClerkAPIURL https://api.b.example.test
    ClerkPublishableKey {pkb}
    ClerkSecretKey {skb}
</VirtualHost>""",
    "main-section-machine-key-under-vhost-api": """ClerkAPIURL https://api.a.example.test
<Location /s/>
    ClerkPublishableKey {pka}
    ClerkMachineSecretKey ak_{ska} #KEYS
    ClerkJWTKey "file:{apem}"
    ClerkAcceptsToken m2m_token
    {guard}
</Location>
<VirtualHost 127.0.0.1:{vport}> #BAD
    ClerkAPIURL https://api.b.example.test
</VirtualHost>""",
    "vhost-api-url-under-server-secret": """ClerkPublishableKey {pka}
ClerkSecretKey {ska} #KEYS
<VirtualHost 127.0.0.1:{vport}> #BAD
    ClerkAPIURL https://api.b.example.test
    <Location /b/>
        {guard}
    </Location>
</VirtualHost>""",
    # The same API URL reached through another CA bundle or proxy: whoever that CA or proxy
    # admits would receive A's secret key.
    "vhost-ca-bundle-under-server-secret": """ClerkPublishableKey {pka}
ClerkSecretKey {ska} #KEYS
<VirtualHost 127.0.0.1:{vport}> #BAD
    ClerkCABundle {cabundle}
    <Location /b/>
        {guard}
    </Location>
</VirtualHost>""",
    "vhost-outgoing-proxy-under-server-secret": """ClerkPublishableKey {pka}
ClerkSecretKey {ska} #KEYS
<VirtualHost 127.0.0.1:{vport}> #BAD
    ClerkOutgoingProxy http://127.0.0.1:3128
    <Location /b/>
        {guard}
    </Location>
</VirtualHost>""",
}

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@pytest.mark.parametrize("case", sorted(STARTUP_REFUSED))
def test_publishable_key_apart_from_its_key_source_is_refused_at_startup(work, inst, case):
    d = os.path.join(work, "instances-ct", case)
    os.makedirs(d, exist_ok=True)
    skfile = os.path.join(d, "sk")
    with open(skfile, "w") as f:
        f.write(SK_A + "\n")
    body = STARTUP_REFUSED[case].format(
        pka=PK_A, pkb=PK_B, ska=SK_A, skb=SK_B, apem=inst["files"]["a.pem"],
        ajson=inst["files"]["a.json"], guard=GUARD, vport=free_port(), skfile=skfile,
        root=os.path.join(d, "htdocs"), cabundle=CA_BUNDLE)
    rc, out, path, marks = configtest(work, case, body)
    assert rc != 0 and "Syntax OK" not in out, out
    assert "CLERK1100" in out, out
    # Both places are named: the publishable key (or API URL) and the key source.
    assert re.search(r"\bline %d of %s\b" % (marks["BAD"], re.escape(path)), out), (marks, out)
    assert re.search(r"\bon line %d of %s\b" % (marks["KEYS"], re.escape(path)), out), out
    assert SK_A not in out


def test_each_section_with_its_own_instance_starts(work, inst):
    body = """ClerkPublishableKey {pka}
ClerkSecretKey {ska}
<Location /b/>
    ClerkPublishableKey {pkb}
    ClerkJWKSFile "{bjson}"
    {guard}
</Location>
<Location /b/inner/>
    ClerkUnauthAction 403
</Location>
<VirtualHost 127.0.0.1:{vport}>
    ClerkAPIURL https://api.b.example.test
    ClerkCABundle {cabundle}
    ClerkOutgoingProxy http://127.0.0.1:3128
    ClerkPublishableKey {pkb}
    ClerkSecretKey {skb}
</VirtualHost>""".format(pka=PK_A, pkb=PK_B, ska=SK_A, skb=SK_B, bjson=inst["files"]["b.json"],
                         guard=GUARD, vport=free_port(), cabundle=CA_BUNDLE)
    rc, out, _, _ = configtest(work, "own-instances", body)
    assert rc == 0 and "Syntax OK" in out, out


# ------------------------------------------------------------------------- no cleartext
CLEARTEXT_REFUSED = [
    ("ClerkAPIURL", "ClerkAPIURL http://api.clerk.example.test #BAD", ""),
    ("ClerkAPIURL", "ClerkAPIURL http://10.0.0.1:8080 #BAD", ""),
    ("ClerkJWKSURL", "", "ClerkJWKSURL http://keys.example.test/jwks.json #BAD"),
    ("ClerkJWKSURL", "", "ClerkJWKSURL http://127.1/jwks.json #BAD"),
    ("ClerkFrontendAPI", "", "ClerkFrontendAPI http://clerk.example.test #BAD"),
    ("ClerkFrontendAPI", "", "ClerkFrontendAPI HTTP://[::2]:8080/__clerk #BAD"),
]


def location(server, inner):
    return """{server}
<Location /t/>
    ClerkPublishableKey {pk}
    ClerkSecretKey {sk}
    {inner}
    {guard}
</Location>""".format(server=server, pk=PK_A, sk=SK_A, inner=inner, guard=GUARD)


@pytest.mark.parametrize("i", range(len(CLEARTEXT_REFUSED)))
def test_http_to_anything_but_loopback_is_refused_at_startup(work, i):
    directive, server, inner = CLEARTEXT_REFUSED[i]
    rc, out, path, marks = configtest(work, "cleartext-%d" % i, location(server, inner))
    assert rc != 0 and "Syntax OK" not in out, out
    assert "%s: " % directive in out and "cleartext" in out, out
    assert re.search(r"\bline %d\b" % marks["BAD"], out) and path in out, out


def test_http_to_loopback_and_https_anywhere_start(work):
    rc, out, _, _ = configtest(work, "loopback", """ClerkAPIURL http://127.0.0.9:8080
<Location /t/>
    ClerkPublishableKey {pka}
    ClerkJWKSURL http://[::1]:8080/jwks.json
    ClerkFrontendAPI http://localhost:8080/__clerk
    {guard}
</Location>
<VirtualHost 127.0.0.1:{p}>
    ClerkAPIURL https://api.clerk.example.test
    ClerkPublishableKey {pkb}
    ClerkSecretKey {skb}
    ClerkFrontendAPI https://clerk.example.test
</VirtualHost>""".format(p=free_port(), pka=PK_A, pkb=PK_B, skb=SK_B, guard=GUARD))
    assert rc == 0 and "Syntax OK" in out, out


# ------------------------------------------------------------- seen only by a request
@pytest.fixture(scope="module")
def paired(work, inst):
    """A <Directory> of A and a <Location> naming only B's publishable key: the startup check
    pairs sections of one kind only, so this pair is judged when a request merges both."""
    h = ModuleHttpd(os.path.join(work, "instances-paired"))
    for sub in ("dl", "dl/b"):
        os.makedirs(os.path.join(h.work, "htdocs", sub), exist_ok=True)
        with open(os.path.join(h.work, "htdocs", sub, "hello.txt"), "w") as f:
            f.write("hello\n")
    h.configure("""ClerkAPIURL {api}
<Directory "{root}/dl">
    ClerkPublishableKey {pka}
    ClerkSecretKey {ska}
    {guard}
</Directory>
<Location /dl/b/>
    ClerkPublishableKey {pkb}
</Location>
""".format(api=inst["api"].base, root=os.path.join(h.work, "htdocs"), pka=PK_A, pkb=PK_B,
           ska=SK_A, guard=GUARD))
    h.start()
    yield h
    h.stop()


def test_directory_and_location_of_two_instances_fail_the_request_closed(paired, minter):
    assert status(paired.url("/dl/hello.txt"), minter, "A") == 200
    assert status(paired.url("/dl/b/hello.txt"), minter, "A") == 500
    assert status(paired.url("/dl/b/hello.txt"), minter, "B") == 500
    assert paired.wait_log("CLERK1101"), paired.tail()
    assert "clerk.b.example.test" in paired.log_text()


# ------------------------------------------------------------- many sections, bounded check
def many_sections(inst, n, bad_last=False):
    """n <LocationMatch> sections under AuthType Clerk; one in 100 names its own key source
    (instance A, as the server does) and one in 100 only A's publishable key again."""
    out = ["ClerkPublishableKey %s" % PK_A, "ClerkSecretKey %s #KEYS" % SK_A]
    for i in range(n):
        out.append('<LocationMatch "^/m%d/">' % i)
        if i % 100 == 7:
            out.append("    ClerkPublishableKey %s" % PK_A)
            out.append('    ClerkJWKSFile "%s"' % inst["files"]["a.json"])
        elif i % 100 == 42:
            out.append("    ClerkPublishableKey %s" % PK_A)
        out.append("    " + GUARD)
        out.append("</LocationMatch>")
    if bad_last:
        out.append('<LocationMatch "^/m">')
        out.append("    ClerkPublishableKey %s #BAD" % PK_B)
        out.append("</LocationMatch>")
    return "\n".join(out)


# Runs a command and reports the peak resident size of what it ran (a fresh process, so no
# other child counts). Resident, not address space: under AddressSanitizer (tests/sanitize.sh)
# httpd reserves terabytes of shadow address space it never touches.
PEAK_RSS = ("import resource, subprocess, sys\n"
            "rc = subprocess.run(sys.argv[1:]).returncode\n"
            "kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "print('peak-rss-kb %d' % kb, file=sys.stderr)\n"
            "sys.exit(rc)\n")


def limited_configtest(work, name, body, limit_mb):
    """configtest whose peak memory must stay under limit_mb, so a check whose memory grows with
    the square of the number of sections fails at any speed."""
    rc, out, path, marks = configtest(work, name, body, wrap=("/usr/bin/python3", "-c", PEAK_RSS))
    peak = re.findall(r"peak-rss-kb (\d+)", out)
    assert peak, out[-2000:]
    assert int(peak[-1]) <= limit_mb * 1024, "configtest peaked at %s KiB" % peak[-1]
    return rc, out, path, marks


# Stock apache2 -t with these modules stays well under 100 MB resident (15 MB measured, more
# under AddressSanitizer); the pairwise check used to take 400-540 MB for 1000-1200 sections.
LIMIT_MB = 300


def test_a_thousand_sections_start_within_bounded_memory(work, inst):
    rc, out, _, _ = limited_configtest(work, "many", many_sections(inst, 1000), LIMIT_MB)
    assert rc == 0 and "Syntax OK" in out, out


def test_a_thousand_sections_with_one_of_another_instance_are_refused(work, inst):
    rc, out, path, marks = limited_configtest(work, "many-bad", many_sections(inst, 1000, True),
                                              LIMIT_MB)
    assert rc != 0 and "Syntax OK" not in out, out[-2000:]
    assert "CLERK1100" in out, out[-2000:]
    assert re.search(r"\bline %d of %s\b" % (marks["BAD"], re.escape(path)), out), out[-2000:]


# ------------------------------------------------------------- URLs shown redacted
# Each refusal quotes the URL it refuses, but never its user:password or query.
REDACTED_REFUSALS = [
    ("cleartext", "", "ClerkJWKSURL http://keyuser:PW4jwks@keys.example.test/j.json?sig=Q4jwks"),
    ("cleartext", "ClerkAPIURL http://apiuser:PW4api@10.0.0.1:8080", ""),
    ("not an absolute http(s) URL", "", "ClerkJWKSURL ftp://u:PW4ftp@keys.example.test/?t=Q4ftp"),
    ("not an absolute http(s) URL", "",
     "ClerkSignInURL ftp://u:PW4signin@app.example.test/sign-in?t=Q4signin"),
    ("neither a host[:port] nor", "",
     "ClerkFrontendAPI https://u:PW4fapi@clerk.example.test/__clerk?t=Q4fapi"),
]


@pytest.mark.parametrize("i", range(len(REDACTED_REFUSALS)))
def test_refused_urls_are_shown_without_credentials_or_query(work, i):
    what, server, inner = REDACTED_REFUSALS[i]
    rc, out, _, _ = configtest(work, "redacted-%d" % i, location(server, inner))
    assert rc != 0 and what in out, out
    assert "***@" in out, out
    for secret in re.findall(r"(?:PW|Q)4\w+", server + inner):
        assert secret not in out, out


def test_api_url_refusal_shows_the_virtual_host_url_redacted(work):
    rc, out, _, _ = configtest(work, "redacted-api", """ClerkPublishableKey {pka}
ClerkSecretKey {ska}
<VirtualHost 127.0.0.1:{vport}>
    ClerkAPIURL https://vhuser:PW4vhost@api.b.example.test
    <Location /b/>
        {guard}
    </Location>
</VirtualHost>""".format(pka=PK_A, ska=SK_A, vport=free_port(), guard=GUARD))
    assert rc != 0 and "CLERK1100" in out, out
    assert "https://***@api.b.example.test" in out, out
    assert "PW4vhost" not in out and SK_A not in out, out
