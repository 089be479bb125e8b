"""Target files: YAML text -> a validated TargetSpec, or one ConfigError line naming the file."""
from __future__ import annotations

import pytest

from upgrader.errors import ConfigError
from upgrader.planner import TargetSpec, parse_target_file

WHERE = "target file /srv/t.yml"

DOC_EXAMPLE = """\
# upgrader target file (docs/targets.md)
releases:            # the same as --target COMPONENT=VERSION
  keystone: 29.1.0
packages:            # Debian packages: an exact version, or `security`
  mariadb-server: 1:10.11.19-0+deb12u1
  libssl3: security  # the newest security update each host's apt cache offers, frozen into the plan
"""

# id, file text, expected TargetSpec
GOOD = [
    pytest.param(DOC_EXAMPLE,
                 TargetSpec({"keystone": "29.1.0"},
                            {"mariadb-server": "1:10.11.19-0+deb12u1", "libssl3": "security"}),
                 id="good: the example of docs/targets.md"),
    pytest.param("packages:\n  libssl3: security\n", TargetSpec({}, {"libssl3": "security"}),
                 id="good: packages only (a patch roll)"),
    pytest.param("releases:\n  keystone: 29.1.0\n", TargetSpec({"keystone": "29.1.0"}, {}),
                 id="good: releases only (the same as --target)"),
    pytest.param("releases:\npackages:\n  libssl3: 3.0.22-1~deb12u2\n", TargetSpec({}, {"libssl3": "3.0.22-1~deb12u2"}),
                 id="good: an empty section is no entry"),
    pytest.param("packages: {libssl3: '3.0.22-1~deb12u2', openssl: security}\n",
                 TargetSpec({}, {"libssl3": "3.0.22-1~deb12u2", "openssl": "security"}),
                 id="good: flow style"),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good_target_file(text, expected):
    assert parse_target_file(text, WHERE) == expected


# id, file text, the error after "target file /srv/t.yml: "
BAD = [
    pytest.param("", "empty file", id="bad: empty file"),
    pytest.param("# nothing yet\n", "empty file", id="bad: only comments"),
    pytest.param("releases: [keystone\n", "not YAML at line 2: expected ',' or ']', but got '<stream end>'",
                 id="bad: not YAML"),
    pytest.param("- keystone: 29.1.0\n", "not a mapping (expected releases: and packages:, see docs/targets.md)",
                 id="bad: a list, not a mapping"),
    pytest.param("keystone: 29.1.0\n", "unknown key 'keystone' (known: packages, releases)",
                 id="bad: unknown top-level key (a component at the top)"),
    pytest.param("releases:\n  nova: 30.0.0\n",
                 "unknown component 'nova' in targets (known: galera, keystone, mariadb, rabbitmq)",
                 id="bad: unknown component"),
    pytest.param("releases:\n  keystone: latest\n",
                 "target version 'latest' for keystone is not a release (digits and dots, e.g. 29.1.0)",
                 id="bad: release version is a word"),
    pytest.param("releases:\n  keystone: 2024.1\n",
                 "releases: keystone is the YAML float 2024.1, not a version: quote it",
                 id="bad: release version YAML reads as a number"),
    pytest.param("packages:\n  libssl3: yes\n", "packages: libssl3 is the YAML bool True, not a version: quote it",
                 id="bad: package version YAML reads as a bool"),
    pytest.param("packages:\n  libssl3: 3.0$(id)\n",
                 "package target '3.0$(id)' for libssl3 is not a Debian version (e.g. 1:10.11.19-0+deb12u1) "
                 "or 'security'", id="bad: package version with a shell substitution"),
    pytest.param("packages:\n  libssl3: latest\n",
                 "package target 'latest' for libssl3 is not a Debian version (e.g. 1:10.11.19-0+deb12u1) "
                 "or 'security'", id="bad: package version is a word other than security"),
    pytest.param("packages:\n  LibSSL3: security\n", "package name 'LibSSL3' is not a Debian package name",
                 id="bad: package name with upper case"),
    pytest.param("packages:\n  '-o=APT::x': security\n", "package name '-o=APT::x' is not a Debian package name",
                 id="bad: package name that is an apt option"),
    pytest.param("packages:\n  - libssl3\n", "packages: is not a mapping of NAME: VERSION",
                 id="bad: packages is a list"),
    pytest.param("releases:\npackages:\n", "names no release and no package to change",
                 id="bad: both sections empty"),
    pytest.param("packages:\n  libssl3: security\n  libssl3: 3.0.22-1~deb12u2\n",
                 "line 3: libssl3 is given twice; give it once", id="bad: a package given twice"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_target_file(text, message):
    with pytest.raises(ConfigError) as info:
        parse_target_file(text, WHERE)
    assert str(info.value) == f"{WHERE}: {message}"
    assert "\n" not in str(info.value)
