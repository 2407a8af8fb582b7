"""The shared JWKS record trusts nobody else who can write the cache (SECURITY.md, "Caches that
trust nobody else"). A CGI runs as the httpd user, so it can open the on-host cache (here the
mod_socache_dbm file) and write any entry: the attack is played by a real CGI through
tests/tools/clerk-cachetool. It plants a record for the ClerkJWKSURL source MAC'd with the key
the module used to derive from the public URL, and it replays an authentic record read before a
key rotation; neither may be installed."""

import hashlib
import hmac
import json
import os
import re
import time

import pytest

from conftest import BUILDDIR, PK, curl
from helpers import jwks_location
from jwks_server import ROTATED_KID, ModuleHttpd, chmod_tree, jwks_server  # noqa: F401

TOOL = os.path.join(BUILDDIR, "tests", "tools", "clerk-cachetool")

PLANT_CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
case "$QUERY_STRING" in
get) {tool} get "{db}" "{key}" "{drop}/saved.bin" 2>&1 && echo ok ;;
put) {tool} put "{db}" "{key}" "{drop}/plant.bin" 2>&1 && echo ok ;;
replay) {tool} put "{db}" "{key}" "{drop}/saved.bin" 2>&1 && echo ok ;;
esac
"""


def store_key(url):
    """The record's key for a source without a secret key: SHA-256 of the URL and its NUL."""
    return "clerk-jwks:" + hashlib.sha256(url.encode() + b"\0").hexdigest()


class Site:
    def __init__(self, work, jwks_server, name):
        self.h = ModuleHttpd(os.path.join(work, name))
        self.url = jwks_server.base + "/.well-known/jwks.json"
        self.key = store_key(self.url)
        self.drop = os.path.join(self.h.work, "drop")
        cache = os.path.join(self.h.work, "cache")
        for d in (self.drop, cache):
            os.makedirs(d, exist_ok=True)
        self.db = os.path.join(cache, "jwks")
        cgi = os.path.join(self.h.work, "cgi")
        os.makedirs(cgi, exist_ok=True)
        with open(os.path.join(cgi, "plant.cgi"), "w") as f:
            f.write(PLANT_CGI.format(tool=TOOL, db=self.db, key=self.key, drop=self.drop))
        self.h.configure("""ClerkAPIURL {api}
ClerkCABundle "{ca}"
ClerkCache dbm:{db}
ClerkJWKSMinRefresh 1
ScriptSock "{w}/run/cgid.sock"
ScriptAlias /cgi/plant "{cgi}/plant.cgi"
<Directory "{cgi}">
    Require all granted
</Directory>
{loc}
""".format(api=jwks_server.base, ca=jwks_server.ca, db=self.db, w=self.h.work, cgi=cgi,
           loc=jwks_location("/u/", self.url)), extra_modules=("socache_dbm", "cgid"))
        for d in (self.drop, cache):
            os.chmod(d, 0o777)
        os.chmod(os.path.join(cgi, "plant.cgi"), 0o755)

    def cgi(self, op):
        r = curl(self.h.url("/cgi/plant?" + op))
        assert r.status == 200 and "ok" in r.body, (r, self.h.tail())

    def get(self, tok):
        return curl(self.h.url("/u/hello.txt"), ["Authorization: Bearer " + tok])

    def pids(self):
        with open(self.h.access_log) as f:
            return set(re.findall(r"pid=(\d+)", f.read()))


def forged_record(fmt, url, key, jwks):
    """The best record an attacker can make: MAC'd with the key derived from the public URL."""
    now = int(time.time())
    rest = ("%d %d 0 1 0 0 %d\n" % (now, now, len(jwks))).encode() + jwks.encode()
    if fmt == 1:
        mac = hmac.new(url.encode(), rest, hashlib.sha256).hexdigest()
        return b"CJR1 " + mac.encode() + b"\n" + rest
    mac = hmac.new(url.encode(), b"CJR2 " + key.encode() + b"\0" + rest, hashlib.sha256)
    return b"CJR2 " + mac.hexdigest().encode() + b"\n" + rest


def test_cgi_cannot_plant_keys_with_the_url_derived_key(work, jwks_server, minter):
    jwks_server.set_state("good")
    s = Site(work, jwks_server, "mod-plant")
    s.h.start()
    try:
        assert s.h.wait_log("JWKS fetched from %s" % s.url), s.h.tail()
        assert s.get(minter.sign()).status == 200
        evil_jwks = minter._mint("jwks", "--key", minter.keys["other"], "--kid", "ins_evil")
        evil = minter.sign(key="other", header={"kid": "ins_evil"})
        for fmt in (1, 2):
            with open(os.path.join(s.drop, "plant.bin"), "wb") as f:
                f.write(forged_record(fmt, s.url, s.key, evil_jwks))
            os.chmod(os.path.join(s.drop, "plant.bin"), 0o644)
            s.cgi("put")
            # A process re-reads the record at most once a second while a kid is unknown: enough
            # tries that it has read the planted one (the original code answered 200 here).
            for _ in range(15):
                r = s.get(evil)
                assert r.status == 401, (fmt, r, s.h.tail())
                time.sleep(0.2)
        assert s.h.wait_log("ignoring a shared cache record that does not check out"), s.h.tail()
        assert s.get(minter.sign()).status == 200
    finally:
        s.h.stop()


REPLAY_SLACK_S = 30  # CLERK_JWKS_REPLAY_SLACK_S in src/jwks_remote.h


def test_replayed_older_record_is_refused_after_a_restart(work, jwks_server, minter):
    """A record read while a key was still published, written back after the rotation: the
    children of the next generation have no keys of their own yet and must not take it."""
    jwks_server.set_state("only-rotated")  # one key: a record mod_socache_dbm can hold
    s = Site(work, jwks_server, "mod-replay")
    s.h.start()
    try:
        assert s.h.wait_log("JWKS fetched from %s" % s.url), s.h.tail()
        old = minter.sign(key="other", header={"kid": ROTATED_KID})
        assert s.get(old).status == 200
        assert s.h.wait_log("JWKS fetched from %s: 1 keys" % s.url)
        fetched = time.monotonic()
        s.cgi("get")  # the record that still holds ROTATED_KID
        fetches = len(jwks_server.fetches(path="/.well-known/jwks.json"))

        # A record up to REPLAY_SLACK_S older than the newest installed set is still taken (fleet
        # clocks differ): the rotation's fetch must come later than that for the replay to show.
        time.sleep(max(0.0, fetched + REPLAY_SLACK_S + 2 - time.monotonic()))
        jwks_server.set_state("good")  # ROTATED_KID withdrawn
        unknown = minter.sign(header={"kid": "ins_unknown"})
        for _ in range(100):  # an unknown kid refetches once ClerkJWKSMinRefresh (1 s) passed
            s.get(unknown)
            if len(jwks_server.fetches(path="/.well-known/jwks.json")) > fetches:
                break
            time.sleep(0.1)
        assert len(jwks_server.fetches(path="/.well-known/jwks.json")) > fetches
        assert s.get(old).status == 401

        s.cgi("replay")
        before = s.pids()
        r = s.h.ctl("-k", "graceful")
        assert r.returncode == 0, (r.stdout, r.stderr)
        # The rotated-out key, until a child of the new generation has answered (any other
        # kid would make that child refetch and hide what it adopted at start-up).
        for _ in range(100):
            r = s.get(old)
            assert r.status == 401, (r, s.h.tail())
            if s.pids() - before:
                break
            time.sleep(0.1)
        assert s.pids() - before, s.h.tail()
        assert "(replayed)" in s.h.log_text(), s.h.tail()
        assert s.get(minter.sign()).status == 200
    finally:
        s.h.stop()
        jwks_server.set_state("good")


def fleet_node(work, name, jwks_server, port, key_file):
    h = ModuleHttpd(os.path.join(work, name))
    h.configure("""ClerkCABundle "{ca}"
ClerkCache memcache:127.0.0.1:{port}
ClerkCacheKeyFile "{key}"
{loc}
""".format(ca=jwks_server.ca, port=port, key=key_file,
           loc=jwks_location("/u/", jwks_server.base + "/.well-known/jwks.json")),
        extra_modules=("socache_memcache",))
    return h


def test_fleet_shares_a_url_source_under_its_cache_key_file(work, jwks_server, minter):
    """Across hosts the MAC key must be the same everywhere: ClerkCacheKeyFile. Two servers with
    the same key file share one fetch; a server with another key cannot use (or plant) their
    record and fetches on its own."""
    from jwks_server import Daemon
    jwks_server.set_state("good")
    keys = []
    for i, text in enumerate(("a" * 64, "b" * 64)):
        p = os.path.join(work, "fleet-key-%d" % i)
        with open(p, "w") as f:
            f.write(text + "\n")
        os.chmod(p, 0o644)
        keys.append(p)
    daemon = Daemon(os.path.join(work, "daemon-fleet-key"), "memcached")
    nodes = [fleet_node(work, "mod-fleet-%d" % i, jwks_server, daemon.port, k)
             for i, k in enumerate((keys[0], keys[0], keys[1]))]
    path = "/.well-known/jwks.json"
    try:
        one, two, other = nodes
        one.start()
        assert one.wait_log("JWKS fetched from %s%s" % (jwks_server.base, path)), one.tail()
        n = len(jwks_server.fetches(path=path))
        two.start()
        assert curl(two.url("/u/hello.txt"), ["Authorization: Bearer " + minter.sign()]).status == 200
        assert len(jwks_server.fetches(path=path)) == n, two.tail()
        assert "CLERK0412" not in two.log_text()
        other.start()
        assert curl(other.url("/u/hello.txt"),
                    ["Authorization: Bearer " + minter.sign()]).status == 200
        assert len(jwks_server.fetches(path=path)) == n + 1
        assert "ignoring a shared cache record that does not check out" in other.log_text()
    finally:
        for h in nodes:
            h.stop()
        daemon.stop()


def test_cache_key_file_must_hold_32_bytes(work):
    from conftest import APACHE, free_port, run, server_head
    d = os.path.join(work, "t-short-key")
    for sub in ("run", "logs"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    key = os.path.join(d, "key")
    with open(key, "w") as f:
        f.write("too-short\n")
    conf = os.path.join(d, "httpd.conf")
    with open(conf, "w") as f:
        f.write(server_head(d, free_port()) + '\nClerkCacheKeyFile "%s"\n' % key)
    r = run([APACHE, "-t", "-f", conf])
    assert r.returncode != 0
    assert ("ClerkCacheKeyFile: '%s' holds 9 bytes; at least 32 are needed" % key) in r.stderr, \
        r.stderr


def test_each_cache_key_file_has_its_own_source(work, jwks_server, minter):
    """Two virtual hosts with the same cache, URL and settings but different ClerkCacheKeyFile
    are two sources: one source would MAC the second host's records with the first key, which
    the second host's fleet peers (holding only the second key) refuse."""
    from conftest import free_port
    from jwks_server import Daemon
    jwks_server.set_state("good")
    keys = []
    for i, text in enumerate(("c" * 64, "d" * 64)):
        p = os.path.join(work, "vhost-key-%d" % i)
        with open(p, "w") as f:
            f.write(text + "\n")
        os.chmod(p, 0o644)
        keys.append(p)
    daemon = Daemon(os.path.join(work, "daemon-vhost-key"), "memcached")
    h = ModuleHttpd(os.path.join(work, "mod-vhost-keys"))
    ports = [free_port(), free_port()]
    loc = """<Location /u/>
        AuthType Clerk
        AuthName clerk-e2e
        ClerkPublishableKey {pk}
        ClerkJWKSURL {api}/.well-known/jwks.json
        Require valid-user
    </Location>""".format(pk=PK, api=jwks_server.base)
    vhosts = "\n".join("""Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
    ClerkCacheKeyFile "{key}"
    {loc}
</VirtualHost>""".format(port=port, key=key, loc=loc) for port, key in zip(ports, keys))
    h.configure("""ClerkCABundle "{ca}"
ClerkCache memcache:127.0.0.1:{mport}
<Location /clerk-status>
    SetHandler clerk-status
</Location>
{vhosts}
""".format(ca=jwks_server.ca, mport=daemon.port, vhosts=vhosts),
        extra_modules=("socache_memcache",))
    h.start()
    try:
        for port in ports:
            r = curl("http://127.0.0.1:%d/u/hello.txt" % port,
                     ["Authorization: Bearer " + minter.sign()])
            assert r.status == 200, (r, h.tail())
        status = json.loads(curl(h.url("/clerk-status")).body)
    finally:
        h.stop()
        daemon.stop()
    remotes = [s for s in status["key_sources"] if s["source"] == "remote"]
    assert len(remotes) == 2, status
