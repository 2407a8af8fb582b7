"""Operations: graceful restarts under load, the access log's %u (docs/design.md#hooks,
#operations)."""

import threading
import time

from conftest import curl
from helpers import signed_in


def test_graceful_restart_keeps_answering(httpd, minter, get):
    # A static file, not CGI: mod_cgid's own 503s on graceful (AH10246) are httpd's, not ours.
    tok = minter.sign()
    url = httpd.base + "/static/hello.txt"
    codes = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            codes.append(curl(url, ["Authorization: Bearer " + tok], timeout=10).status)

    workers = [threading.Thread(target=loop) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.5)
        for _ in range(2):
            r = httpd.graceful()
            assert r.returncode == 0, r.stderr
            time.sleep(1.0)
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert len(codes) > 20, codes
    bad = [c for c in codes if c != 200]
    assert bad == [], "non-200 answers during graceful: %d of %d: %s" % (
        len(bad), len(codes), sorted(set(bad)))
    assert get("/static/hello.txt", token=minter.sign()).body == "hello\n"
    # The module still refuses after the restarts.
    assert get("/static/hello.txt").status == 401


def test_access_log_shows_the_user(httpd, minter, get):
    c = minter.claims()
    signed_in(get("/main/env.cgi?log=1", token=minter.sign(c)))
    get("/main/env.cgi?log=2")
    deadline = time.time() + 5
    text = ""
    while time.time() < deadline:
        with open(httpd.access_log) as f:
            text = f.read()
        if "log=2" in text:
            break
        time.sleep(0.1)
    mine = [l for l in text.splitlines() if "log=1" in l]
    assert mine and "user=%s " % c["sub"] in mine[-1], mine
    anon = [l for l in text.splitlines() if "log=2" in l]
    assert anon and "user=- " in anon[-1] and " 401" in anon[-1], anon
