"""Settings reach a request through httpd's merge of server, <Location>, <Files> and <If> records
(docs/design.md#key-sources). A section that adds nothing to what encloses it is handed to the
request as it is (resolved at startup), so these requests check both ways: an outer setting must
still bind an inner section that names only something else, and a section alone must keep its
own."""

import os

import pytest

from conftest import PK, curl
from jwks_server import ModuleHttpd

A = "https://a.example.test"
B = "https://b.example.test"


@pytest.fixture(scope="module")
def inherit(work, minter):
    h = ModuleHttpd(os.path.join(work, "inherit"))
    for d in ("outer", "outer/inner", "alone", "cond", "files"):
        os.makedirs(os.path.join(h.work, "htdocs", d), exist_ok=True)
        for name in ("hello.txt", "secret.txt"):
            with open(os.path.join(h.work, "htdocs", d, name), "w") as f:
                f.write("hello\n")
    keys = 'ClerkPublishableKey %s\nClerkJWTKey "file:%s"' % (PK, minter.pub_pem)
    h.configure("""{keys}
ClerkAuthorizedParties {a}
<Location /outer/>
    AuthType Clerk
    Require valid-user
</Location>
<Location /outer/inner/>
    ClerkUnauthAction 403
</Location>
<Location /alone/>
    AuthType Clerk
    ClerkAuthorizedParties {b}
    Require valid-user
</Location>
<Location /cond/>
    AuthType Clerk
    Require valid-user
    <If "%{{HTTP:X-Strict}} == 'yes'">
        ClerkUnauthAction 404
    </If>
</Location>
<Directory "{htdocs}/files">
    <Files "secret.txt">
        AuthType Clerk
        ClerkUnauthAction 403
        Require valid-user
    </Files>
</Directory>
""".format(keys=keys, a=A, b=B, htdocs=os.path.join(h.work, "htdocs")))
    h.start()
    yield h
    h.stop()


def status(h, path, azp=None, minter=None, headers=()):
    hdrs = list(headers)
    if azp is not None:
        hdrs.append("Authorization: Bearer " + minter.sign(minter.claims(azp=azp)))
    return curl(h.url(path), hdrs).status


def test_server_settings_bind_a_section_that_names_none(inherit, minter):
    assert status(inherit, "/outer/hello.txt", A, minter) == 200
    assert status(inherit, "/outer/hello.txt", B, minter) == 401
    assert status(inherit, "/outer/hello.txt") == 401


def test_inner_section_keeps_outer_and_server_settings(inherit, minter):
    assert status(inherit, "/outer/inner/hello.txt", A, minter) == 200
    assert status(inherit, "/outer/inner/hello.txt", B, minter) == 403
    assert status(inherit, "/outer/inner/hello.txt") == 403


def test_section_own_setting_wins_over_the_server(inherit, minter):
    assert status(inherit, "/alone/hello.txt", B, minter) == 200
    assert status(inherit, "/alone/hello.txt", A, minter) == 401


def test_if_inside_a_location_changes_only_its_setting(inherit, minter):
    strict = ["X-Strict: yes"]
    assert status(inherit, "/cond/hello.txt") == 401
    assert status(inherit, "/cond/hello.txt", headers=strict) == 404
    assert status(inherit, "/cond/hello.txt", A, minter, strict) == 200
    assert status(inherit, "/cond/hello.txt", B, minter, strict) == 404


def test_files_section_protects_only_its_file(inherit, minter):
    assert status(inherit, "/files/hello.txt") == 200
    assert status(inherit, "/files/secret.txt") == 403
    assert status(inherit, "/files/secret.txt", A, minter) == 200
    assert status(inherit, "/files/secret.txt", B, minter) == 403
