"""The status counters in Prometheus' text format (`SetHandler clerk-metrics`, or the status
page's URL with ?format=prometheus), read with the official Python client's parser
(python3-prometheus-client): names, # TYPE, # HELP, labels, values that match what the requests
did, nothing secret, and counters that never go down across a graceful restart."""

import os
import time

from prometheus_client.parser import text_string_to_metric_families

from conftest import curl
from jwks_server import SECRETS, ModuleHttpd, jwks_server, protected  # noqa: F401

# One process: its verified-token cache and the JSON page's per-process numbers are the
# shared counters' numbers too.
ONE_PROCESS = ("StartServers 1\nServerLimit 1\nThreadsPerChild 16\nMaxRequestWorkers 16\n"
               "MinSpareThreads 1\nMaxSpareThreads 16")

COUNTERS = {
    # family (the parser drops _total): the labels each sample has
    "clerk_auth_decisions": {"outcome"},
    "clerk_auth_cors_preflights": set(),
    "clerk_auth_decision_reasons": {"reason"},
    "clerk_auth_authorizations": {"outcome"},
    "clerk_auth_token_cache_lookups": {"outcome"},
    "clerk_auth_key_fetches": {"source", "outcome"},
}
# Clerk's reason for an expired header token without a refresh cookie.
EXPIRED = "session-token-expired-refresh-non-eligible-no-refresh-cookie"
GAUGES = ["clerk_auth_build_info", "clerk_auth_config_load_time_seconds",
          "clerk_auth_config_generation", "clerk_auth_counters_available",
          "clerk_auth_start_time_seconds"]


def configure(h, jwks_server, mpm_conf=None):
    h.configure("""ClerkAPIURL {api}
ClerkCABundle "{ca}"
{p}
{admin}
<Location /clerk-metrics>
    SetHandler clerk-metrics
    Require ip 127.0.0.1
</Location>
<Location /clerk-status>
    SetHandler clerk-status
    Require ip 127.0.0.1
</Location>
""".format(api=jwks_server.base, ca=jwks_server.ca, p=protected("/p/", "A"),
           admin=protected("/admin/", "A").replace("Require valid-user",
                                                   "Require clerk-role org:admin")),
        mpm_conf=mpm_conf, extra_modules=("authz_host",))


def scrape(h, path="/clerk-metrics"):
    r = curl(h.url(path))
    assert r.status == 200, r
    assert r.header("content-type").startswith("text/plain; version=0.0.4"), r
    text = r.body.decode() if isinstance(r.body, bytes) else r.body
    return text, {f.name: f for f in text_string_to_metric_families(text)}


def values(families):
    """{(sample name, sorted labels): value} over every clerk_auth_*_total sample."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for name, f in families.items() if f.type == "counter" for s in f.samples
            if s.name.endswith("_total")}


def value(families, family, **labels):
    found = [s.value for s in families[family].samples
             if s.name == family + "_total" and s.labels == labels]
    assert len(found) == 1, (family, labels, families[family].samples)
    return found[0]


def test_metrics_parse_and_count_what_the_requests_did(work, jwks_server, minter):
    h = ModuleHttpd(os.path.join(work, "prom-count"))
    configure(h, jwks_server, mpm_conf=ONE_PROCESS)
    h.start()
    try:
        tok = minter.sign()
        for _ in range(3):  # one look-up misses, the next two hit the cache
            assert curl(h.url("/p/hello.txt"), ["Authorization: Bearer " + tok]).status == 200
        assert curl(h.url("/p/hello.txt")).status == 401
        expired = minter.sign(minter.claims(exp=int(time.time()) - 3600))
        assert curl(h.url("/p/hello.txt"), ["Authorization: Bearer " + expired]).status == 401
        assert curl(h.url("/admin/hello.txt"), ["Authorization: Bearer " + tok]).status == 403

        text, fam = scrape(h)
        for name, labels in COUNTERS.items():
            f = fam[name]
            assert f.type == "counter", (name, f.type)
            assert f.documentation, name
            assert "# TYPE %s_total counter" % name in text, name
            assert "# HELP %s_total " % name in text, name
            samples = [s for s in f.samples if s.name == name + "_total"]
            assert samples, name
            for s in samples:
                assert set(s.labels) == labels, (name, s.labels)
                assert s.value >= 0 and s.value == int(s.value), s
        for name in GAUGES:
            assert fam[name].type == "gauge" and fam[name].documentation, name
        assert fam["clerk_auth_counters_available"].samples[0].value == 1
        assert fam["clerk_auth_build_info"].samples[0].labels["version"]

        # The decisions the requests above made, and nothing else: the /admin/ request is
        # signed in (then denied by Require clerk-role).
        assert value(fam, "clerk_auth_decisions", outcome="signed-in") == 4
        assert value(fam, "clerk_auth_decisions", outcome="signed-out") == 2
        assert value(fam, "clerk_auth_decisions", outcome="handshake") == 0
        assert value(fam, "clerk_auth_decision_reasons", reason=EXPIRED) == 1
        reasons = {s.labels["reason"]: s.value for s in fam["clerk_auth_decision_reasons"].samples
                   if s.name.endswith("_total")}
        assert sum(reasons.values()) == 2, reasons
        assert value(fam, "clerk_auth_authorizations", outcome="denied") == 1
        assert value(fam, "clerk_auth_authorizations", outcome="granted") == 0
        assert value(fam, "clerk_auth_key_fetches", source="backend-api", outcome="ok") >= 1
        assert value(fam, "clerk_auth_key_fetches", source="backend-api", outcome="failed") == 0
        assert value(fam, "clerk_auth_key_fetches", source="jwks-url", outcome="ok") == 0

        # The JSON page agrees: the same shared counters, and (one process) the same cache.
        page = curl(h.url("/clerk-status")).json()
        assert page["verifications"]["signed-in"] == 4
        assert page["verifications"]["by_reason"][EXPIRED] == 1
        assert {k: v for k, v in page["verifications"]["by_reason"].items() if v} == \
            {k: v for k, v in reasons.items() if v}
        # One look-up per token a request verifies: the bearer token misses once and hits
        # twice, and the /admin/ request hits; the expired one misses.
        hits = value(fam, "clerk_auth_token_cache_lookups", outcome="hit")
        misses = value(fam, "clerk_auth_token_cache_lookups", outcome="miss")
        assert (hits, misses) == (3, 2), (hits, misses)
        assert (page["token_cache"]["hits"], page["token_cache"]["misses"]) == (hits, misses)

        # A session cookie is read from the cache while the cookie is chosen, then verified:
        # still one look-up per request (a miss, then a hit).
        c = minter.claims()
        cookie = "Cookie: __session=%s; __client_uat=%d" % (minter.sign(c), c["iat"])
        for _ in range(2):
            assert curl(h.url("/p/hello.txt"), [cookie]).status == 200
        _, fam_c = scrape(h)
        assert value(fam_c, "clerk_auth_decisions", outcome="signed-in") == 6
        assert value(fam_c, "clerk_auth_token_cache_lookups", outcome="hit") == hits + 1
        assert value(fam_c, "clerk_auth_token_cache_lookups", outcome="miss") == misses + 1
        page = curl(h.url("/clerk-status")).json()
        assert (page["token_cache"]["hits"], page["token_cache"]["misses"]) == (hits + 1,
                                                                                misses + 1)
        remote = [s for s in page["key_sources"] if s["source"] == "remote"]
        assert value(fam, "clerk_auth_key_fetches", source="backend-api",
                     outcome="ok") == sum(s["fetch_ok"] for s in remote)

        # ?format=prometheus on the status page answers the same format.
        text2, fam2 = scrape(h, "/clerk-status?format=prometheus")
        assert set(fam2) == set(fam)
        assert value(fam2, "clerk_auth_decisions", outcome="signed-in") == 6

        # Nothing secret or identifying: no URL, key, token or user.
        for secret in (jwks_server.base, "https://", SECRETS["A"], tok, minter.claims()["iss"]):
            assert secret not in text, secret
    finally:
        h.stop()


def test_counters_never_go_down_across_a_graceful_restart(work, jwks_server, minter):
    h = ModuleHttpd(os.path.join(work, "prom-graceful"))
    configure(h, jwks_server)
    h.start()
    try:
        tok = minter.sign()
        for _ in range(4):
            assert curl(h.url("/p/hello.txt"), ["Authorization: Bearer " + tok]).status == 200
        assert curl(h.url("/p/hello.txt")).status == 401
        assert curl(h.url("/admin/hello.txt"), ["Authorization: Bearer " + tok]).status == 403
        _, fam1 = scrape(h)
        before = values(fam1)
        gen1 = fam1["clerk_auth_config_generation"].samples[0].value
        assert value(fam1, "clerk_auth_decisions", outcome="signed-in") == 5

        r = h.ctl("-k", "graceful")
        assert r.returncode == 0, (r.stdout, r.stderr)
        # The new generation answers: its processes report the next generation number.
        fam2 = None
        for _ in range(300):  # bounded polling for the event, not a time threshold
            _, fam2 = scrape(h)
            if fam2["clerk_auth_config_generation"].samples[0].value > gen1:
                break
            time.sleep(0.05)
        assert fam2["clerk_auth_config_generation"].samples[0].value > gen1, h.tail()

        for _ in range(3):
            assert curl(h.url("/p/hello.txt"), ["Authorization: Bearer " + tok]).status == 200
        _, fam3 = scrape(h)
        after = values(fam3)
        assert set(before) <= set(after)
        decreased = {k: (before[k], after[k]) for k in before if after[k] < before[k]}
        assert not decreased, decreased
        # The restart kept the old counts and went on adding to them.
        assert value(fam3, "clerk_auth_decisions", outcome="signed-in") == 8
        assert value(fam3, "clerk_auth_decisions", outcome="signed-out") == 1
        assert value(fam3, "clerk_auth_authorizations", outcome="denied") == 1
        assert value(fam3, "clerk_auth_token_cache_lookups", outcome="hit") + \
            value(fam3, "clerk_auth_token_cache_lookups", outcome="miss") >= 8
    finally:
        h.stop()
