"""Debian version ordering: the answers `dpkg --compare-versions` gives (checked on the lab host)."""
from __future__ import annotations

import pytest

from upgrader.planner.debversion import debian_compare

# id, a, b, expected sign of a compared to b
ORDER = [
    pytest.param("1:10.11.19-0+deb12u1", "1:10.11.18-0+deb12u1", 1, id="mariadb security update is newer"),
    pytest.param("3.0.22-1~deb12u2", "3.0.19-1~deb12u2", 1, id="openssl security update is newer"),
    pytest.param("3.0.17-1~deb12u1", "3.0.17-1~deb12u2", -1, id="only the revision differs"),
    pytest.param("10.11.9", "10.11.10", -1, id="numbers compare as numbers, not text"),
    pytest.param("10.11.19-0+deb12u1", "1:10.11.18-0+deb12u1", -1, id="an epoch outranks everything"),
    pytest.param("0:1.0", "1.0", 0, id="epoch 0 is no epoch"),
    pytest.param("1.0~rc1", "1.0", -1, id="tilde sorts before the end: a pre-release"),
    pytest.param("1.0~~", "1.0~", -1, id="two tildes before one"),
    pytest.param("1.0-1+b1", "1.0-1", 1, id="a binNMU is newer"),
    pytest.param("1.0a", "1.0+b1", -1, id="letters sort before other characters"),
    pytest.param("1.0", "1.0-0", 0, id="no revision equals revision 0"),
    pytest.param("1.00", "1.0", 0, id="leading zeros do not count"),
    pytest.param("1:25.2.3+dfsg-1+deb12u1", "1:25.2.3+dfsg-1", 1, id="erlang stable update is newer"),
    pytest.param("1:10.11.19-0+deb12u1", "1:10.11.19-0+deb12u1", 0, id="identical"),
]


@pytest.mark.parametrize(("a", "b", "expected"), ORDER)
def test_debian_compare(a, b, expected):
    assert debian_compare(a, b) == expected
    assert debian_compare(b, a) == -expected    # antisymmetric
