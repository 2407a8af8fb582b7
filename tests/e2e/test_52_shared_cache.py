"""A fleet shares one key set through an existing cache engine (spec §3, `ClerkCache`): two
httpd instances behind mod_socache_memcache (real memcached) and two behind mod_socache_redis
(real redis-server). The first instance fetches; the second finds the keys in the cache and
makes no fetch of its own."""

import os

import pytest

from conftest import curl
from jwks_server import Daemon, ModuleHttpd, jwks_server, protected  # noqa: F401


@pytest.fixture(scope="module", params=["memcache", "redis"])
def fleet(request, work, jwks_server):
    kind = request.param
    label = "M" if kind == "memcache" else "R"
    daemon = Daemon(os.path.join(work, "daemon-" + kind),
                    "memcached" if kind == "memcache" else "redis-server")
    nodes = []
    try:
        for i in (1, 2):
            h = ModuleHttpd(os.path.join(work, "mod-%s-%d" % (kind, i)))
            h.configure("""ClerkAPIURL {api}
ClerkCABundle "{ca}"
ClerkCache {kind}:127.0.0.1:{port}
{p}
""".format(api=jwks_server.base, ca=jwks_server.ca, kind=kind, port=daemon.port,
                p=protected("/p/", label)), extra_modules=("socache_" + kind,))
            nodes.append(h)
        yield label, nodes
    finally:
        for h in nodes:
            h.stop()
        daemon.stop()


def test_second_server_uses_the_first_servers_keys(fleet, jwks_server, minter):
    label, (one, two) = fleet
    one.start()
    assert one.wait_log("JWKS fetched"), one.tail()
    assert len(jwks_server.fetches(label)) == 1
    assert curl(one.url("/p/hello.txt"), ["Authorization: Bearer " + minter.sign()]).status == 200

    two.start()
    for _ in range(5):
        r = curl(two.url("/p/hello.txt"), ["Authorization: Bearer " + minter.sign()])
        assert r.status == 200, (r, two.tail())
    forged = minter.sign(key="other")
    assert curl(two.url("/p/hello.txt"), ["Authorization: Bearer " + forged]).status == 401
    assert len(jwks_server.fetches(label)) == 1, jwks_server.fetches(label)
    assert "JWKS fetched" not in two.log_text()
    print("%s fleet: 2 servers, %d fetch" % (label, len(jwks_server.fetches(label))))
