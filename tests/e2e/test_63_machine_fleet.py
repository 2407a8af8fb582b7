"""One Backend API verification per machine token per fleet and TTL (docs/design.md#machine-tokens):
two httpd servers, each with two child processes, share a real memcached and then a real redis
(ClerkCache) and one ClerkCacheKeyFile. N requests with the same fresh API key spread over both
servers and their processes make exactly one verification call, counted by the fake Backend
API; once the TTL has passed, one more. A refused token is remembered for the negative TTL the
same way, and a record written under another fleet's key is not believed."""

import os
import secrets
import socket
import time

import pytest

from conftest import PK, curl, remember, remember_secret
from fake_clerk import FakeClerk
from jwks_server import Daemon, ModuleHttpd

SK = "sk_test_" + "a7" * 20
remember_secret(SK)
TTL_S = 2
N = 24


@pytest.fixture(scope="module")
def fake(minter):
    f = FakeClerk(minter, [SK], lambda inst: {})
    yield f
    f.stop()


def fleet_conf(api, kind, port, keyfile):
    return """ClerkAPIURL {api}
ClerkCache {kind}:127.0.0.1:{port}
ClerkCacheKeyFile "{keyfile}"
<Location /m/>
    AuthType Clerk
    AuthName clerk-e2e
    ClerkPublishableKey {pk}
    ClerkSecretKey {sk}
    ClerkAcceptsToken api_key
    Require valid-user
</Location>
<Location /t/>
    AuthType Clerk
    AuthName clerk-e2e
    ClerkPublishableKey {pk}
    ClerkSecretKey {sk}
    ClerkAcceptsToken api_key
    ClerkMachineTokenCacheTTL {ttl}
    ClerkMachineTokenNegativeCacheTTL {ttl}
    Require valid-user
</Location>
""".format(api=api, kind=kind, port=port, keyfile=keyfile, pk=PK, sk=SK, ttl=TTL_S)


# Two processes per server, so the count covers processes as well as hosts.
MPM = ("StartServers 2\nServerLimit 2\nThreadsPerChild 4\nMaxRequestWorkers 8\n"
       "MinSpareThreads 8\nMaxSpareThreads 8")


@pytest.fixture(scope="module", params=["memcache", "redis"])
def fleet(request, work, fake):
    kind = request.param
    d = os.path.join(work, "machine-fleet-" + kind)
    os.makedirs(d, exist_ok=True)
    keyfile = os.path.join(d, "cache.key")
    with open(keyfile, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chmod(keyfile, 0o644)
    daemon = Daemon(os.path.join(d, "daemon"), "memcached" if kind == "memcache" else "redis-server")
    nodes = []
    try:
        for i in (1, 2):
            h = ModuleHttpd(os.path.join(d, "node%d" % i))
            for sub in ("m", "t"):
                os.makedirs(os.path.join(h.work, "htdocs", sub), exist_ok=True)
                with open(os.path.join(h.work, "htdocs", sub, "hello.txt"), "w") as f:
                    f.write("hello\n")
            h.configure(fleet_conf(fake.base, kind, daemon.port, keyfile),
                        extra_modules=("socache_" + kind,), mpm_conf=MPM)
            h.start()
            nodes.append(h)
        yield kind, nodes, daemon
    finally:
        for h in nodes:
            h.stop()
        daemon.stop()


def ask(node, tok, where="/m/"):
    remember(tok)
    return curl(node.url(where + "hello.txt"), ["Authorization: Bearer " + tok])


def pids_of(node):
    with open(node.access_log) as f:
        return {line.split("pid=")[1].split()[0] for line in f if "pid=" in line}


def test_one_verification_per_fleet(fleet, fake):
    """/m/ keeps answers for the default 60 s: N requests over both servers, 1 call."""
    kind, (one, two), _ = fleet
    tok = fake.issue_api_key("user_fleet", scopes=["read"])
    for i in range(N):
        r = ask((one, two)[i % 2], tok)
        assert r.status == 200, (kind, i, r, one.tail(), two.tail())
    assert fake.verify_calls(tok) == 1, (kind, fake.verify_calls(tok))
    # Both servers answered, and with more than one process between them.
    assert len(pids_of(one) | pids_of(two)) >= 3, (pids_of(one), pids_of(two))


def test_one_more_verification_after_the_ttl(fleet, fake):
    """/t/ keeps answers for TTL_S seconds. Polled, never timed: one request at a time until the
    count moves, which it must do by exactly one (one fleet-wide verification per expiry)."""
    kind, (one, two), _ = fleet
    tok = fake.issue_api_key("user_ttl")
    assert ask(one, tok, "/t/").status == 200
    assert fake.verify_calls(tok) == 1
    seen = 1
    for i in range(200):
        assert ask((one, two)[i % 2], tok, "/t/").status == 200
        seen = fake.verify_calls(tok)
        if seen != 1:
            break
        time.sleep(0.05)
    assert seen == 2, (kind, seen)


def test_refusals_are_shared_too(fleet, fake):
    kind, (one, two), _ = fleet
    tok = "ak_" + secrets.token_hex(20)
    for i in range(8):
        r = ask((one, two)[i % 2], tok)
        assert r.status == 401 and r.header("x-clerk-auth-reason") == "token-invalid", r
    assert fake.verify_calls(tok) == 1, (kind, fake.verify_calls(tok))


def test_backend_api_outage_fails_closed_for_unseen_tokens(fleet, fake):
    kind, (one, two), _ = fleet
    seen = fake.issue_api_key("user_seen")
    assert ask(one, seen).status == 200
    fake.machine_mode = "500"
    try:
        unseen = fake.issue_api_key("user_unseen")
        r = ask(two, unseen)
        assert r.status == 401 and r.header("x-clerk-auth-reason") == "unexpected-error"
        # The token verified before the outage is served from the shared cache meanwhile.
        assert ask(two, seen).status == 200
        assert fake.verify_calls(seen) == 1
    finally:
        fake.machine_mode = None


def test_no_token_text_in_the_cache(fleet, fake):
    """The store holds keyed hashes of tokens, never their text: ask the daemon itself."""
    kind, (one, _two), daemon = fleet
    tok = fake.issue_api_key("user_dump")
    assert ask(one, tok).status == 200
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as s:
        if kind == "memcache":
            s.sendall(b"lru_crawler metadump all\r\n")
        else:
            s.sendall(b"KEYS *\r\n")
        data = b""
        s.settimeout(2)
        try:
            while b"END\r\n" not in data and len(data) < 1 << 20:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if kind == "redis" and data.count(b"\r\n") >= 1 + 2 * int(
                        data.split(b"\r\n", 1)[0][1:] or 0):
                    break
        except socket.timeout:
            pass
    # The socache providers write keys hex-encoded.
    assert b".clerk-mt".hex().encode() in data, data[:400]
    assert tok.encode() not in data and tok.encode().hex().encode() not in data


MSK = "ak_fleetmachinekey" + "5" * 22
remember_secret(MSK)


@pytest.fixture(scope="module")
def m2m_only(work, fake, minter):
    """A server whose sections name no remote key source: local PEM keys for sessions, only
    ClerkMachineSecretKey for opaque M2M tokens, and no ClerkCache line (the default shmcb)."""
    fake.machine_secret_keys.append(MSK)
    h = ModuleHttpd(os.path.join(work, "machine-fleet-m2m-only"))
    os.makedirs(os.path.join(h.work, "htdocs", "m"), exist_ok=True)
    with open(os.path.join(h.work, "htdocs", "m", "hello.txt"), "w") as f:
        f.write("hello\n")
    h.configure("""ClerkAPIURL {api}
<Location /m/>
    AuthType Clerk
    AuthName clerk-e2e
    ClerkPublishableKey {pk}
    ClerkJWTKey "file:{pem}"
    ClerkMachineSecretKey {msk}
    ClerkAcceptsToken m2m_token
    Require valid-user
</Location>
""".format(api=fake.base, pk=PK, pem=minter.pub_pem, msk=MSK), mpm_conf=MPM)
    h.start()
    yield h
    h.stop()


def test_machine_secret_key_alone_still_shares_one_verification(m2m_only, fake):
    """With no ClerkSecretKey/ClerkJWKSURL anywhere the shared cache is still made for machine
    tokens: N requests over both processes of the server, one Backend API call."""
    tok = fake.issue_m2m("mch_fleet")
    for i in range(N):
        r = ask(m2m_only, tok)
        assert r.status == 200, (i, r, m2m_only.tail())
    assert len(pids_of(m2m_only)) == 2, pids_of(m2m_only)
    assert fake.verify_calls(tok) == 1, fake.verify_calls(tok)
