"""Every directive the module registers is documented in the README's directive tables, so an
operator never meets a directive the documentation does not name (and vice versa)."""

import glob
import os
import re

from conftest import SRCDIR


def registered_directives():
    names = set()
    for path in glob.glob(os.path.join(SRCDIR, "*.c")) + glob.glob(os.path.join(SRCDIR, "*.h")):
        with open(path) as f:
            names.update(re.findall(r'AP_INIT_[A-Z0-9_]+\(\s*"(Clerk\w+)"', f.read()))
    return names


def documented_directives():
    with open(os.path.join(SRCDIR, "README.md")) as f:
        return set(re.findall(r"^\| `(Clerk\w+)", f.read(), re.M))


def test_every_registered_directive_is_documented():
    registered = registered_directives()
    assert len(registered) >= 25, sorted(registered)
    missing = registered - documented_directives()
    assert not missing, "directives missing from README: %s" % sorted(missing)


def test_the_readme_documents_no_directive_that_does_not_exist():
    unknown = documented_directives() - registered_directives()
    assert not unknown, "README documents unknown directives: %s" % sorted(unknown)
