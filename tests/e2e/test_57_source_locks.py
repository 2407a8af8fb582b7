"""One slow key source cannot stall another (README, "ClerkJWKSURL"): each source has its own
refresh lock. Two real JWKS servers feed two sections of one httpd; while a fetch from the first
hangs (its CGI waits for the test's release file), a rotation on the second is fetched and a
token signed with the new key is accepted. Asserted by events: the second server's fetch count
rises and the request succeeds while the first fetch is still held."""

import os
import threading
import time

import pytest

from conftest import curl
from helpers import jwks_location
from jwks_server import ROTATED_KID, JwksServer, ModuleHttpd, jwks_server  # noqa: F401


@pytest.fixture(scope="module")
def second_server(work, minter):
    srv = JwksServer(os.path.join(work, "jwks-server-2"), minter)
    srv.start()
    yield srv
    srv.stop()


def test_a_hanging_fetch_does_not_hold_up_another_source(work, jwks_server, second_server,
                                                          minter):
    slow, fast = jwks_server, second_server
    slow_url = slow.base + "/.well-known/jwks.json"
    fast_url = fast.base + "/.well-known/jwks.json"
    for name in ("release", "hang-seen"):
        try:
            os.unlink(os.path.join(slow.cgi_dir, name))
        except FileNotFoundError:
            pass
    slow.set_state("good")
    fast.set_state("good")
    h = ModuleHttpd(os.path.join(work, "mod-two-sources"))
    bundle = os.path.join(h.work, "ca-bundle.pem")
    with open(bundle, "w") as out:
        for ca in (slow.ca, fast.ca):
            with open(ca) as f:
                out.write(f.read())
    h.configure("""ClerkCABundle "{bundle}"
ClerkJWKSMinRefresh 1
ClerkFetchTimeout 60
{a}
{b}
""".format(bundle=bundle, a=jwks_location("/p/", slow_url), b=jwks_location("/u/", fast_url)))
    h.start()
    release = os.path.join(slow.cgi_dir, "release")
    seen = os.path.join(slow.cgi_dir, "hang-seen")
    waiter = None
    try:
        assert h.wait_log("JWKS fetched from %s" % slow_url), h.tail()
        assert h.wait_log("JWKS fetched from %s" % fast_url), h.tail()
        assert curl(h.url("/u/hello.txt"), ["Authorization: Bearer " + minter.sign()]).status == 200

        os.chmod(slow.cgi_dir, 0o777)  # the hanging CGI (www-data) marks that it started
        slow.set_state("hang")
        fast.set_state("rotated")
        unknown = minter.sign(header={"kid": "ins_unknown"})
        stop = threading.Event()

        def hammer():  # an unknown kid on the slow source: refetched once MinRefresh passed
            for _ in range(100):
                if stop.is_set() or os.path.exists(seen):
                    return
                curl(h.url("/p/hello.txt"), ["Authorization: Bearer " + unknown], timeout=90)
                time.sleep(0.1)

        waiter = threading.Thread(target=hammer, daemon=True)
        waiter.start()
        for _ in range(200):
            if os.path.exists(seen):
                break
            time.sleep(0.1)
        assert os.path.exists(seen), h.tail()
        slow_done = len(slow.fetches(path="/.well-known/jwks.json"))
        fast_before = len(fast.fetches(path="/.well-known/jwks.json"))

        new = minter.sign(key="other", header={"kid": ROTATED_KID})
        statuses = []
        for _ in range(50):  # the fast source refetches once its own MinRefresh passed
            r = curl(h.url("/u/hello.txt"), ["Authorization: Bearer " + new])
            statuses.append(r.status)
            if r.status == 200:
                break
            time.sleep(0.1)
        assert statuses[-1] == 200, (statuses, h.tail())
        assert len(fast.fetches(path="/.well-known/jwks.json")) > fast_before
        # ... and all this while the slow source's fetch is still held.
        assert not os.path.exists(release)
        assert len(slow.fetches(path="/.well-known/jwks.json")) == slow_done
    finally:
        with open(release, "w") as f:
            f.write("go")
        if waiter is not None:
            stop.set()
            waiter.join(120)
        h.stop()
        slow.set_state("good")
        fast.set_state("good")
        for name in ("release", "hang-seen"):
            try:
                os.unlink(os.path.join(slow.cgi_dir, name))
            except FileNotFoundError:
                pass
