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
