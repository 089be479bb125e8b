"""PlanOptions validation: bad input is a one-line ConfigError before any planning."""
from __future__ import annotations

import pytest

from upgrader.errors import ConfigError
from upgrader.planner import CODES, OVERRIDABLE, PlanOptions, parse_targets


def test_defaults():
    options = PlanOptions()
    assert (options.targets, options.force, options.ist_margin, options.packages, options.estimates,
            options.package_targets) == ({}, frozenset(), 2.0, (), {}, {})


def test_package_targets_are_copied():
    asked = {"libssl3": "security", "mariadb-server": "1:10.11.19-0+deb12u1"}
    options = PlanOptions(package_targets=asked)
    asked["libssl3"] = "3.0.17-1~deb12u2"
    assert options.package_targets == {"libssl3": "security", "mariadb-server": "1:10.11.19-0+deb12u1"}


def test_inputs_are_copied_and_normalised():
    targets = {"keystone": "29.1.0"}
    options = PlanOptions(targets=targets, force=["target_not_newer"], packages=["openssl"],
                          estimates={"upgrade": 7})
    targets["keystone"] = "1.0"
    assert options.targets == {"keystone": "29.1.0"}
    assert options.force == frozenset({"target_not_newer"}) and options.packages == ("openssl",)
    assert options.estimates == {"upgrade": 7.0}


def test_only_version_codes_are_overridable():
    assert OVERRIDABLE == {"mixed_start_versions", "target_not_newer"}


@pytest.mark.parametrize("code", sorted(OVERRIDABLE), ids=lambda c: f"force allowed: {c}")
def test_forcing_an_overridable_code(code):
    assert PlanOptions(force=frozenset({code})).force == {code}


@pytest.mark.parametrize("code", sorted(set(CODES) - OVERRIDABLE), ids=lambda c: f"force refused: {c}")
def test_forcing_a_safety_code_is_a_config_error(code):
    with pytest.raises(ConfigError) as info:
        PlanOptions(force=frozenset({code}))
    assert str(info.value) == (
        f"refusal {code} cannot be forced (only mixed_start_versions, target_not_newer can)"
    )


# id, kwargs, expected one-line error
BAD = [
    pytest.param({"force": frozenset({"yolo"})}, "unknown refusal code 'yolo' in --force", id="bad: unknown code"),
    pytest.param({"targets": {"nova": "29.0.0"}},
                 "unknown component 'nova' in targets (known: galera, keystone, mariadb, rabbitmq)",
                 id="bad: unknown component"),
    pytest.param({"targets": {"keystone": "latest"}}, "target version 'latest' for keystone is not a release (digits and dots, e.g. 29.1.0)",
                 id="bad: version is not a number"),
    pytest.param({"ist_margin": 0.5}, "ist_margin must be a number >= 1.0, got 0.5", id="bad: margin below 1"),
    pytest.param({"ist_margin": float("nan")}, "ist_margin must be a number >= 1.0, got nan", id="bad: margin NaN"),
    pytest.param({"packages": ("openssl; rm -rf /",)},
                 "package name 'openssl; rm -rf /' is not a Debian package name", id="bad: package name"),
    pytest.param({"packages": ("-o=APT::x",)}, "package name '-o=APT::x' is not a Debian package name",
                 id="bad: package looks like an apt option"),
    pytest.param({"estimates": {"reboot": 5}}, "unknown step 'reboot' in estimates", id="bad: unknown step"),
    pytest.param({"estimates": {"upgrade": -1}}, "estimate for upgrade must be seconds >= 0, got -1",
                 id="bad: negative estimate"),
    pytest.param({"package_targets": {"libssl3": "newest"}},
                 "package target 'newest' for libssl3 is not a Debian version (e.g. 1:10.11.19-0+deb12u1) "
                 "or 'security'", id="bad: package target is neither a version nor security"),
    pytest.param({"package_targets": {"libssl3": "3.0.22;id"}},
                 "package target '3.0.22;id' for libssl3 is not a Debian version (e.g. 1:10.11.19-0+deb12u1) "
                 "or 'security'", id="bad: package target with a shell character"),
    pytest.param({"package_targets": {"lib ssl": "security"}}, "package name 'lib ssl' is not a Debian package name",
                 id="bad: package target name"),
    pytest.param({"package_targets": ["libssl3"]},
                 "package targets must be a mapping of PACKAGE: VERSION, got ['libssl3']",
                 id="bad: package targets not a mapping"),
    pytest.param({"packages": ("libssl3",), "package_targets": {"libssl3": "security"}},
                 "package libssl3 is both in packages and in package targets; give it once",
                 id="bad: one package both pinned per node and upgraded plan-wide"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD)
def test_bad_options(kwargs, message):
    with pytest.raises(ConfigError) as info:
        PlanOptions(**kwargs)
    assert str(info.value) == message


# id, CLI pairs, expected targets or error
TARGETS = [
    pytest.param(["keystone=29.1.0"], {"keystone": "29.1.0"}, id="targets: one"),
    pytest.param(["keystone = 29.1.0", "mariadb=10.11.19"], {"keystone": "29.1.0", "mariadb": "10.11.19"},
                 id="targets: two, spaces trimmed"),
    pytest.param(["keystone"], "target 'keystone' is not COMPONENT=VERSION (e.g. keystone=29.1.0)",
                 id="targets: no version"),
    pytest.param(["=29.1.0"], "target '=29.1.0' is not COMPONENT=VERSION (e.g. keystone=29.1.0)",
                 id="targets: no component"),
]


@pytest.mark.parametrize(("pairs", "expected"), TARGETS)
def test_parse_targets(pairs, expected):
    if isinstance(expected, str):
        with pytest.raises(ConfigError, match=r"^" + expected.replace("(", r"\(").replace(")", r"\)") + "$"):
            parse_targets(pairs)
    else:
        assert parse_targets(pairs) == expected
