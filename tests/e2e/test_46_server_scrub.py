"""ClerkScrubHeaders On (server or virtual host scope): client-sent look-alikes of the module's
exports (X-Remote-User, X-Clerk-*, any spelling) are removed from every request of that server,
so an `AuthType None` section proxied to the same back end as an `AuthType Clerk` one cannot
smuggle them in (README "What applications see"). Seen by the raw echo back end, which shows
header names exactly as they arrive."""

import os

import pytest

from conftest import APACHE, Httpd, PK, curl, run, server_head

SPOOFS = ["X-Remote-User: user_evil", "X_Remote_User: user_evil", "Remote-User: user_evil",
          "X-Clerk-User-Id: user_evil", "clerk_org_id: user_evil", "X-Auth-Type: user_evil",
          "X-CLERK-CLAIMS: user_evil"]


def section(prefix, echo_port):
    return ["ProxyPass /%s/ http://127.0.0.1:%d/%s/" % (prefix, echo_port, prefix),
            "<Location /%s/>" % prefix, "    AuthType None", "    Require all granted",
            "</Location>"]


class ScrubHttpd(Httpd):
    def _layout(self):
        for d in ("run", "logs"):
            os.makedirs(os.path.join(self.work, d), exist_ok=True)
        os.chmod(self.work, 0o755)

    def _write_conf(self):
        keys = 'ClerkPublishableKey %s\nClerkJWTKey "file:%s"' % (PK, self.minter.pub_pem)
        out = [server_head(self.work, self.port, extra_listen=(self.proxy_port,)), keys,
               "ClerkScrubHeaders On",
               # the protected sibling that makes X-Remote-User trustworthy to the back end
               "ProxyPass /app/ http://127.0.0.1:%d/app/" % self.echo_port,
               "<Location /app/>", "    AuthType Clerk", "    ClerkPassClaimsAs headers",
               "    Require valid-user", "</Location>"]
        out += section("open", self.echo_port)
        # a virtual host that turns it off again (the main server's setting is inherited)
        out += ["<VirtualHost 127.0.0.1:%d>" % self.proxy_port, "    ServerName off.example.test",
                "    ClerkScrubHeaders Off"]
        out += ["    " + l for l in section("open", self.echo_port)]
        out += ["</VirtualHost>"]
        with open(self.conf, "w") as f:
            f.write("\n".join(out) + "\n")
        os.chmod(self.conf, 0o644)


@pytest.fixture(scope="module")
def scrub(work, minter, echo_backend):
    h = ScrubHttpd(os.path.join(work, "server-scrub"), minter, echo_backend)
    h.start()
    yield h
    h.stop()


def backend_headers(port, path, headers):
    r = curl("http://127.0.0.1:%d%s" % (port, path), headers)
    assert r.status == 200, r
    return r.json()["headers"]


def test_an_unauthenticated_sibling_section_passes_no_look_alikes(scrub):
    hdrs = backend_headers(scrub.port, "/open/x", SPOOFS + ["X-Other: kept"])
    assert not [h for h in hdrs if h[1] == "user_evil"], hdrs
    assert ["X-Other", "kept"] in hdrs, hdrs


def test_the_clerk_section_still_passes_its_own_headers(scrub, minter):
    c = minter.claims()
    r = curl("http://127.0.0.1:%d/app/x" % scrub.port,
             SPOOFS + ["Authorization: Bearer " + minter.sign(c)])
    assert r.status == 200, r
    hdrs = r.json()["headers"]
    assert not [h for h in hdrs if h[1] == "user_evil"], hdrs
    assert ["X-Remote-User", c["sub"]] in hdrs, hdrs


def test_a_virtual_host_can_turn_it_off(scrub):
    hdrs = backend_headers(scrub.proxy_port, "/open/x", SPOOFS)
    assert ["X-Remote-User", "user_evil"] in hdrs, hdrs


def test_directive_is_refused_inside_a_section(scrub, work):
    conf = os.path.join(work, "server-scrub", "bad.conf")
    with open(conf, "w") as f:
        f.write(server_head(os.path.join(work, "server-scrub"), scrub.port) +
                "<Location /x/>\n    ClerkScrubHeaders On\n</Location>\n")
    r = run([APACHE, "-t", "-f", conf])
    assert r.returncode != 0
    assert "ClerkScrubHeaders not allowed in <Location> context" in r.stderr, r
    assert "of %s" % conf in r.stderr, r
