"""A fleet shares one key set through an existing cache engine (docs/design.md#socache-records,
`ClerkCache`): two httpd instances behind mod_socache_memcache (real memcached) and two behind
mod_socache_redis (real redis-server). The first instance fetches; the second finds the keys in the
cache and makes no fetch of its own."""

import os

import pytest

from conftest import curl
from helpers import jwks_location
from jwks_server import Daemon, ModuleHttpd, jwks_server, protected  # noqa: F401


# /.well-known/jwks.json fetches the JWKS server had seen when each fleet was made: the server
# lives for the whole module, so each fleet counts from here (redis must not inherit memcache's).
WK_BEFORE = {}


@pytest.fixture(scope="module", params=["memcache", "redis"])
def fleet(request, work, jwks_server):
    kind = request.param
    label = "M" if kind == "memcache" else "R"
    daemon = Daemon(os.path.join(work, "daemon-" + kind),
                    "memcached" if kind == "memcache" else "redis-server")
    nodes = []
    WK_BEFORE[label] = len(jwks_server.fetches(path="/.well-known/jwks.json"))
    try:
        for i in (1, 2):
            h = ModuleHttpd(os.path.join(work, "mod-%s-%d" % (kind, i)))
            h.configure("""ClerkAPIURL {api}
ClerkCABundle "{ca}"
ClerkCache {kind}:127.0.0.1:{port}
{p}
{loc}
""".format(api=jwks_server.base, ca=jwks_server.ca, kind=kind, port=daemon.port,
                p=protected("/p/", label), loc=jwks_location("/u/", jwks_server.base + "/.well-known/jwks.json")),
                extra_modules=("socache_" + kind,))
            nodes.append(h)
        yield label, nodes
    finally:
        for h in nodes:
            h.stop()
        daemon.stop()


# The first test starts the fleet's servers in a set order; the second uses them started.
pytestmark = pytest.mark.in_order


def test_second_server_uses_the_first_servers_keys(fleet, jwks_server, minter):
    label, (one, two) = fleet
    one.start()
    assert one.wait_log("JWKS fetched from %s/v1/jwks" % jwks_server.base), one.tail()
    assert len(jwks_server.fetches(label)) == 1
    assert curl(one.url("/p/hello.txt"), ["Authorization: Bearer " + minter.sign()]).status == 200

    two.start()
    for _ in range(5):
        r = curl(two.url("/p/hello.txt"), ["Authorization: Bearer " + minter.sign()])
        assert r.status == 200, (r, two.tail())
    forged = minter.sign(key="other")
    assert curl(two.url("/p/hello.txt"), ["Authorization: Bearer " + forged]).status == 401
    assert len(jwks_server.fetches(label)) == 1, jwks_server.fetches(label)
    assert "JWKS fetched from %s/v1/jwks" % jwks_server.base not in two.log_text()
    print("%s fleet: 2 servers, %d fetch" % (label, len(jwks_server.fetches(label))))


def test_url_only_source_is_not_shared_through_a_network_cache(fleet, jwks_server, minter):
    """A ClerkJWKSURL source has no secret key to sign the shared record with, so anyone who can
    write to memcached/redis could plant keys for it: it must not use the network cache."""
    label, (one, two) = fleet
    for h in (one, two):
        r = curl(h.url("/u/hello.txt"), ["Authorization: Bearer " + minter.sign()])
        assert r.status == 200, (r, h.tail())
        assert "CLERK0412" in h.log_text(), h.tail()
    # Shared, the second server would have made no fetch of its own: one fetch each, counted
    # for this fleet only.
    assert len(jwks_server.fetches(path="/.well-known/jwks.json")) - WK_BEFORE[label] == 2
