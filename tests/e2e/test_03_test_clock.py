"""The test clock (configure --enable-test-clock: "now" from the X-Test-Now-Ms request header,
for tests/conformance only) is not in the module these tests run, the production build: any
client could otherwise move the clock every exp/nbf/iat check reads."""

import os
import time

from conftest import BUILDDIR, MODULE
from helpers import signed_in, signed_out

MAIN = "/main/env.cgi"


def test_production_module_does_not_contain_the_test_clock_header():
    with open(MODULE, "rb") as f:
        assert f.read().lower().count(b"x-test-now-ms") == 0, MODULE
    with open(os.path.join(BUILDDIR, "Makefile")) as f:
        assert "CLERK_TEST_CLOCK" not in f.read()


def test_production_module_ignores_a_client_sent_test_clock(get, minter):
    now = int(time.time())
    valid = minter.claims()
    far = "X-Test-Now-Ms: %d" % ((now + 86400) * 1000)
    signed_in(get(MAIN, token=minter.sign(valid), headers=[far]))
    expired = minter.claims(exp=now - 60, iat=now - 120, nbf=now - 130)
    past = "X-Test-Now-Ms: %d" % ((now - 3600) * 1000)
    signed_out(get(MAIN, token=minter.sign(expired), headers=[past]), "session-token-expired-refresh-non-eligible-no-refresh-cookie")
