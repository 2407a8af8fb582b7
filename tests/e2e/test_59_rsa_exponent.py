"""RSA keys whose public exponent is not 65537 (the only one Clerk issues) are refused unless
the operator lists the exponent with ClerkAllowRSAExponent (README). The directive is read as
the file is read, so it holds for key lines before it too."""

import json
import os

from conftest import APACHE, PK, free_port, run, server_head


def conf(work, name, jwks_text, before="", after=""):
    d = os.path.join(work, "t-" + name)
    for sub in ("run", "logs"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    jwks = os.path.join(d, "jwks.json")
    with open(jwks, "w") as f:
        f.write(jwks_text)
    path = os.path.join(d, "httpd.conf")
    with open(path, "w") as f:
        f.write("\n".join([server_head(d, free_port()), before, "<Location /t/>",
                           "    AuthType Clerk", "    ClerkPublishableKey " + PK,
                           '    ClerkJWKSFile "%s"' % jwks, "    Require valid-user",
                           "</Location>", after]) + "\n")
    return path


def configtest(path):
    r = run([APACHE, "-t", "-f", path])
    return r.returncode, r.stdout + r.stderr


def exponent3(minter):
    with open(minter.jwks) as f:
        doc = json.load(f)
    doc["keys"][0]["e"] = "Aw"  # 3
    return json.dumps(doc)


def test_exponent_3_is_refused_by_default(work, minter):
    rc, out = configtest(conf(work, "e3", exponent3(minter)))
    assert rc != 0, out
    assert "RSA public exponent is not 65537" in out, out
    assert "ClerkJWKSFile" in out, out


def test_exponent_3_is_accepted_when_listed_even_after_the_key_line(work, minter):
    rc, out = configtest(conf(work, "e3-allowed", exponent3(minter),
                              after="ClerkAllowRSAExponent 3"))
    assert rc == 0, out
    rc, out = configtest(conf(work, "e3-any", exponent3(minter), before="ClerkAllowRSAExponent any"))
    assert rc == 0, out
    rc, out = configtest(conf(work, "e3-other", exponent3(minter), before="ClerkAllowRSAExponent 17"))
    assert rc != 0 and "RSA public exponent is not 65537" in out, out


def test_bad_exponent_values_are_refused(work, minter):
    with open(minter.jwks) as f:
        good = f.read()
    for bad in ("4", "1", "x", "-3"):
        rc, out = configtest(conf(work, "e-bad", good, before="ClerkAllowRSAExponent " + bad))
        assert rc != 0, (bad, out)
        assert "ClerkAllowRSAExponent: '%s' is not 'any' or an odd integer of at least 3" % bad \
            in out, out


def test_exponent_directive_in_a_directory_section_is_refused(work, minter):
    """The rule is process-wide: inside <Location> (or <Directory>, <If>...) it would loosen
    every key of the server while looking local, so configtest refuses it there, naming the
    line; at server level and in a <VirtualHost> it is accepted."""
    for i, (open_, close) in enumerate((("<Location /t/>", "</Location>"),
                                        ('<Directory "/tmp">', "</Directory>"),
                                        ("<If \"%{HTTP_HOST} == 'x'\">", "</If>"),
                                        ("<IfModule mod_authz_core.c>\n<Location /u/>",
                                         "</Location>\n</IfModule>"))):
        path = conf(work, "e3-dir-%d" % i, exponent3(minter),
                    after="%s\n    ClerkAllowRSAExponent 3\n%s" % (open_, close))
        rc, out = configtest(path)
        assert rc != 0, out
        with open(path) as f:
            line = f.read().split("\n").index("    ClerkAllowRSAExponent 3") + 1
        assert "ClerkAllowRSAExponent at %s:%d: not allowed in <" % (path, line) in out, out
        assert "CLERK1900" in out, out
    path = conf(work, "e3-vhost", exponent3(minter),
                after="<VirtualHost 127.0.0.1:%d>\n    ClerkAllowRSAExponent 3\n</VirtualHost>"
                % free_port())
    rc, out = configtest(path)
    assert rc == 0, out
