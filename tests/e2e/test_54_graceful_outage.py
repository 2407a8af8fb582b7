"""A graceful restart (logrotate does one every night) during a Clerk outage keeps serving the last
good keys: the on-host cache (shmcb) dies with its generation, so the parent hands each source's
signed record to the next one (docs/design.md#remote-jwks: the last good set serves up to
max-stale)."""

import os
import time

from conftest import curl
from jwks_server import ModuleHttpd, jwks_server, protected  # noqa: F401


def test_graceful_restart_during_an_outage_keeps_the_last_good_keys(work, jwks_server, minter):
    h = ModuleHttpd(os.path.join(work, "mod-graceful"))
    h.configure("""ClerkAPIURL {api}
ClerkCABundle "{ca}"
ClerkJWKSMaxStale 600
ClerkFetchTimeout 1 2
{p}
""".format(api=jwks_server.base, ca=jwks_server.ca, p=protected("/p/", "A")))
    h.start()
    try:
        assert h.wait_log("JWKS fetched from %s/v1/jwks" % jwks_server.base), h.tail()
        assert curl(h.url("/p/hello.txt"), ["Authorization: Bearer " + minter.sign()]).status == 200
        jwks_server.down()
        try:
            r = h.ctl("-k", "graceful")
            assert r.returncode == 0, (r.stdout, r.stderr)
            assert h.wait_log("CLERK0413"), h.tail()
            time.sleep(1.5)  # the old generation's children drain; new ones answer
            for _ in range(10):
                r = curl(h.url("/p/hello.txt"), ["Authorization: Bearer " + minter.sign()])
                assert r.status == 200, (r, h.tail())
            forged = minter.sign(key="other")
            r = curl(h.url("/p/hello.txt"), ["Authorization: Bearer " + forged])
            assert r.status == 401, r
        finally:
            jwks_server.start()
    finally:
        h.stop()
