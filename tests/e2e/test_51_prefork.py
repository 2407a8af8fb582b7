"""One key set for every process (docs/design.md#socache-records): httpd under the prefork MPM with
20 children, started fresh with only ClerkPublishableKey + ClerkSecretKey, fetches the JWKS once,
not once per child; every child then verifies with the shared copy (default cache: shmcb)."""

import os
import re
import threading
import time

import pytest

from conftest import curl
from jwks_server import ModuleHttpd, jwks_server, protected  # noqa: F401

# The tests build on one prefork server in order (its first fetch, then a graceful restart).
pytestmark = pytest.mark.in_order

CHILDREN = 20


@pytest.fixture(scope="module")
def prefork(work, jwks_server):
    h = ModuleHttpd(os.path.join(work, "mod-prefork"))
    h.configure("""ClerkAPIURL {api}
ClerkCABundle "{ca}"
ClerkJWKSMinRefresh 2
KeepAlive Off
{p}
""".format(api=jwks_server.base, ca=jwks_server.ca, p=protected("/p/", "P")),
                mpm="prefork",
                mpm_conf="StartServers {n}\nMinSpareServers {n}\nMaxSpareServers {m}\n"
                         "ServerLimit {m}\nMaxRequestWorkers {m}".format(n=CHILDREN,
                                                                          m=CHILDREN + 5))
    h.start()
    yield h
    h.stop()


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def test_twenty_children_fetch_once(prefork, jwks_server, minter):
    deadline = time.time() + 15
    while time.time() < deadline and len(children(prefork.pid())) < CHILDREN:
        time.sleep(0.1)
    assert len(children(prefork.pid())) >= CHILDREN
    time.sleep(1.5)  # every child_init has run its preload by now
    assert len(jwks_server.fetches("P")) == 1, jwks_server.fetches("P")

    tok = minter.sign()
    codes = []

    def hit():
        for _ in range(15):
            codes.append(curl(prefork.url("/p/hello.txt"),
                              ["Authorization: Bearer " + tok]).status)

    threads = [threading.Thread(target=hit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert codes and set(codes) == {200}, codes
    with open(prefork.access_log) as f:
        pids = set(re.findall(r" pid=(\d+) user=user_", f.read()))
    assert len(pids) >= 2, pids  # several processes answered, each with the shared keys
    assert len(jwks_server.fetches("P")) == 1, jwks_server.fetches("P")
    print("prefork: %d children, %d requests answered by %d processes, %d fetch" % (
        len(children(prefork.pid())), len(codes), len(pids), len(jwks_server.fetches("P"))))


def test_graceful_restart_keeps_verifying(prefork, jwks_server, minter):
    before = len(jwks_server.fetches("P"))
    old = set(children(prefork.pid()))
    assert prefork.ctl("-k", "graceful").returncode == 0
    deadline = time.time() + 15
    while time.time() < deadline and len(set(children(prefork.pid())) - old) < CHILDREN:
        time.sleep(0.1)
    time.sleep(1.0)
    for _ in range(20):
        r = curl(prefork.url("/p/hello.txt"), ["Authorization: Bearer " + minter.sign()])
        assert r.status == 200, (r, prefork.tail())
    # The new generation's cache starts empty (shmcb lives with the configuration): one fetch
    # for all of its children, not one each.
    assert len(jwks_server.fetches("P")) - before <= 1, jwks_server.fetches("P")
