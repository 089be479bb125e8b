"""The strict patterns at the boundary: what may reach a playbook, a shell or a file name."""
from __future__ import annotations

import pytest

from upgrader import validate
from upgrader.errors import ConfigError


@pytest.mark.parametrize("value", ["29.1.0", "10.11.19", "4.0.5", "3", "1.2.3.4", "2024.1", "29.0.0rc1"])
def test_releases_accepted(value):
    assert validate.release(value, "keystone") == value


@pytest.mark.parametrize("value", [
    "29.1.0;rm -rf /",      # a shell command after the version (the finding)
    "29.1.0 ",              # trailing space
    "$(id)", "latest", "", "29..1", "../29", "29.1.0\n", "1" * 65,
])
def test_releases_refused(value):
    with pytest.raises(ConfigError, match="is not a release"):
        validate.release(value, "keystone")


@pytest.mark.parametrize("value", ["mariadb-server", "libssl3=3.0.22-1~deb12u1",
                                   "mariadb-server=1:10.11.19-0+deb12u1", "galera-4"])
def test_packages_accepted(value):
    assert validate.package_spec(value) == value


@pytest.mark.parametrize("value, words", [
    ("-o=APT::x", "is not a Debian package name"),        # an apt option
    ("libssl3=3.0$(id)", "is not a Debian version"),       # a shell substitution in the version
    ("Mariadb", "is not a Debian package name"),           # upper case
    ("a" * 100_000, "is too long or not text"),
    ("libssl3=", "is not a Debian version"),
])
def test_packages_refused(value, words):
    with pytest.raises(ConfigError, match=words):
        validate.package_spec(value)


@pytest.mark.parametrize("value", ["a/b", "../x", "node 1", "", "-node", "x" * 64, "node1;id", None])
def test_names_refused(value):
    with pytest.raises(ConfigError, match="is not a valid name"):
        validate.node_name(value)


def test_long_values_are_shown_shortened():
    with pytest.raises(ConfigError) as e:
        validate.cluster_name("x" * 5000)
    assert len(str(e.value)) < 200


# id, value, accepted as a package target for libssl3?
PACKAGE_TARGETS = [
    pytest.param("security", True, id="target: security"),
    pytest.param("3.0.22-1~deb12u2", True, id="target: exact version with a tilde"),
    pytest.param("1:10.11.19-0+deb12u1", True, id="target: epoch and revision"),
    pytest.param("Security", False, id="target: case matters"),
    pytest.param("latest", False, id="target: a word"),
    pytest.param("3.0.22 ", False, id="target: trailing space"),
    pytest.param("3.0$(id)", False, id="target: shell substitution"),
    pytest.param(3.0, False, id="target: a number, not text"),
    pytest.param("1" * 65, False, id="target: too long"),
]


@pytest.mark.parametrize(("value", "ok"), PACKAGE_TARGETS)
def test_package_target(value, ok):
    if ok:
        assert validate.package_target(value, "libssl3") == value
    else:
        with pytest.raises(ConfigError, match="for libssl3 is not a Debian version .* or 'security'$"):
            validate.package_target(value, "libssl3")


# id, value, accepted as a bare package name?
PACKAGE_NAMES = [
    pytest.param("mariadb-plugin-provider-bzip2", True, id="name: long mariadb plugin"),
    pytest.param("libssl3", True, id="name: libssl3"),
    pytest.param("libssl3=3.0.22-1~deb12u2", False, id="name: a pin is not a bare name"),
    pytest.param("-o", False, id="name: an apt option"),
    pytest.param("a" * 101, False, id="name: too long"),
]


@pytest.mark.parametrize(("value", "ok"), PACKAGE_NAMES)
def test_package_name(value, ok):
    if ok:
        assert validate.package_name(value) == value
    else:
        with pytest.raises(ConfigError, match="is not a Debian package name$"):
            validate.package_name(value)


@pytest.mark.parametrize("value", ["1:10.11.18-0+deb12u1", "3.0.19-1~deb12u2", "26.4.20-0+deb12u1"])
def test_debian_versions_accepted(value):
    assert validate.debian_version(value, "x") == value


@pytest.mark.parametrize("value", ["", "v1", "1.0;id", None])
def test_debian_versions_refused(value):
    with pytest.raises(ConfigError, match="for x is not a Debian version$"):
        validate.debian_version(value, "x")
