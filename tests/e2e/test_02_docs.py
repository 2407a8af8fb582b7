"""The documentation agrees with the code: every directive the module registers is in the
README's directive tables (and vice versa); the deliberate differences from Clerk's SDK are one
list (differences.json, src/differences.h, README); every docs/design.md#<anchor> cited names a
section; no file cites a document outside the repository."""

import glob
import json
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


# ---- one list of deliberate differences (docs/design.md#deliberate-differences) ----
# tests/conformance/differences.json is the source; src/differences.h's comment and the README's
# "Deliberate differences from Clerk's SDK" section carry exactly its ids.


def ids_in_differences_json():
    with open(os.path.join(SRCDIR, "tests", "conformance", "differences.json")) as f:
        return [d["id"] for d in json.load(f)["differences"]]


def ids_in_differences_h():
    with open(os.path.join(SRCDIR, "src", "differences.h")) as f:
        text = f.read()
    comment = text[: text.index("*/")]
    # An item's first line: " *   <id>  (<file>...): ..."; continuation lines are indented more.
    return re.findall(r"^ \*   ([a-z0-9][a-z0-9-]*)  \(", comment, re.M)


def readme_section(title):
    with open(os.path.join(SRCDIR, "README.md")) as f:
        text = f.read()
    start = text.index("\n## %s\n" % title)
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def ids_in_readme():
    section = readme_section("Deliberate differences from Clerk's SDK")
    return re.findall(r"^- `([a-z0-9][a-z0-9-]*)`:", section, re.M)


def test_differences_json_has_unique_ids():
    ids = ids_in_differences_json()
    assert len(ids) >= 19, ids
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_differences_h_lists_exactly_the_ids_of_differences_json():
    source, code = ids_in_differences_json(), ids_in_differences_h()
    assert len(code) == len(set(code)), code
    assert set(source) - set(code) == set(), "missing from src/differences.h"
    assert set(code) - set(source) == set(), "in src/differences.h but not differences.json"


def test_readme_lists_exactly_the_ids_of_differences_json():
    source, readme = ids_in_differences_json(), ids_in_readme()
    assert len(readme) == len(set(readme)), readme
    assert set(source) - set(readme) == set(), "missing from README"
    assert set(readme) - set(source) == set(), "in README but not differences.json"


def test_every_code_tag_names_a_listed_difference():
    known = set(ids_in_differences_json())
    tags = set()
    for path in glob.glob(os.path.join(SRCDIR, "src", "*.[ch]")):
        with open(path) as f:
            # "differences.h: a, b" possibly continued on the comment's next line
            tag_list = r"differences\.h:\s*((?:\*\s*)?[a-z0-9-]+(?:,\s*[a-z0-9-]+)*)"
            for m in re.finditer(tag_list, f.read()):
                tags.update(t.strip(" *") for t in m.group(1).split(","))
    tags.discard("")
    assert len(tags) >= 15, sorted(tags)
    assert tags - known == set(), "tags naming no entry of differences.json"


# ---- the repository stands alone (docs/design.md) ----

TEXT_EXT = (".c", ".h", ".py", ".mjs", ".js", ".md", ".sh", ".am", ".ac", ".in", ".json", ".conf")
SKIP_DIRS = {".git", "node_modules", ".libs", ".deps", "autom4te.cache", "out"}


def repo_text_files():
    for root, dirs, files in os.walk(SRCDIR):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("work")]
        for name in files:
            if name.endswith(TEXT_EXT) and name not in ("package-lock.json",):
                yield os.path.join(root, name)


def design_anchors():
    with open(os.path.join(SRCDIR, "docs", "design.md")) as f:
        headings = re.findall(r"^#{2,4} (.+)$", f.read(), re.M)
    return {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_design_citation_names_a_section():
    anchors = design_anchors()
    assert {"key-sources", "nonce-guard", "deliberate-differences", "hooks"} <= anchors, anchors
    cited, unknown = 0, []
    for path in repo_text_files():
        with open(path, errors="replace") as f:
            text = f.read()
        # "docs/design.md#<anchor>" and further "#<anchor>"s right after it (", #x")
        for m in re.finditer(r"design\.md(#[a-z0-9-]+(?:,? #[a-z0-9-]+)*)", text):
            for a in re.findall(r"#([a-z0-9-]+)", m.group(1)):
                cited += 1
                if a not in anchors:
                    unknown.append("%s: #%s" % (os.path.relpath(path, SRCDIR), a))
    assert cited >= 30, cited
    assert not unknown, unknown


def test_no_file_cites_documents_outside_the_repository():
    # Built so this file does not match itself.
    outside = re.compile(
        "/wor" + "k/shared|\\.\\./" + "shared/|clerk-auth-" + "spec"
        "|(spec|ref|reference) " + "(\u00a7|\\\\u00a7)"
    )
    hits = []
    for path in repo_text_files():
        with open(path, errors="replace") as f:
            for n, line in enumerate(f, 1):
                if outside.search(line):
                    hits.append("%s:%d: %s" % (os.path.relpath(path, SRCDIR), n, line.strip()[:80]))
    assert not hits, hits
