"""Installed package versions in the facts fingerprint, and drift once packages start to move."""
from __future__ import annotations

import pytest

from package_fixtures import S19, S20, S22, packaged, with_package, with_packages, without_package, openssl
from planner_fixtures import CREATED_AT, cluster
from upgrader.planner import PlanOptions, build_plan, drift, facts_fingerprint
from upgrader.planner.fingerprint import stable_facts

PATCH_SSL = PlanOptions(package_targets={"libssl3": "security"})
PLAN = build_plan(packaged(), PATCH_SSL, created_at=CREATED_AT)
AT_TARGET = {"openssl": openssl(S22)}     # a node the roll already moved


# id, facts change that must NOT change the fingerprint (apt metadata moves with `apt update`)
VOLATILE = [
    pytest.param(with_package(packaged(), "node2", "libssl3", security=""), id="ignores: security version"),
    pytest.param(with_package(packaged(), "node2", "libssl3", candidate=S20), id="ignores: candidate"),
    pytest.param(with_package(packaged(), "node2", "libssl3", available=(S19,)), id="ignores: available list"),
]

# id, facts change that MUST change the fingerprint
STABLE = [
    pytest.param(with_package(packaged(), "node2", "libssl3", version=S20), id="covers: an installed version"),
    pytest.param(without_package(packaged(), "node2", "openssl"), id="covers: a package removed"),
]


@pytest.mark.parametrize("facts", VOLATILE)
def test_fingerprint_ignores_apt_metadata(facts):
    assert facts_fingerprint(facts) == facts_fingerprint(packaged())


@pytest.mark.parametrize("facts", STABLE)
def test_fingerprint_covers_installed_packages(facts):
    assert facts_fingerprint(facts) != facts_fingerprint(packaged())


def test_facts_without_packages_fingerprint_as_before():
    # no "packages" key at all, so plans made before package facts existed stay valid
    assert all("packages" not in n for n in stable_facts(cluster())["nodes"])
    assert stable_facts(packaged())["nodes"][0]["packages"]["libssl3"] == S19


# id, facts now, rolled nodes, expected drift lines
DRIFT = [
    pytest.param(packaged(), (), [], id="drift: nothing moved"),
    pytest.param(with_package(packaged(), "node3", "libssl3", security="", available=(S19,)), (), [],
                 id="drift: apt metadata moved, none"),
    pytest.param(with_package(packaged(), "node3", "libssl3", version=S20), (),
                 ["lab: addresses, cluster uuid/size, installed versions or inventory changed since the plan "
                  "(fingerprint {now}, plan has {plan})"], id="drift: a package moved before the roll"),
    pytest.param(with_packages(packaged(), "node2", **AT_TARGET), ("node2",), [],
                 id="drift: rolled node at the frozen versions, none"),
    pytest.param(packaged(), ("node2",),
                 [f"node2: rolled, but libssl3 is {S19}, not the target {S22}",
                  f"node2: rolled, but openssl is {S19}, not the target {S22}"],
                 id="drift: rolled node still on the old packages"),
    pytest.param(without_package(with_packages(packaged(), "node2", **AT_TARGET), "node2", "openssl"), ("node2",),
                 [f"node2: rolled, but openssl is not installed, not the target {S22}"],
                 id="drift: rolled node lost a package"),
    pytest.param(with_package(with_packages(packaged(), "node2", **AT_TARGET), "node3", "libssl3", version=S20),
                 ("node2",),
                 [f"node3: libssl3 is {S20}, but the plan moves it from {S19} to {S22}"],
                 id="drift: mid-roll, a package moved under a node still to roll"),
    pytest.param(with_packages(with_packages(packaged(), "node2", **AT_TARGET), "node3", **AT_TARGET), ("node2",), [],
                 id="drift: mid-roll, a node still to roll already at the target, none"),
]


@pytest.mark.parametrize(("facts", "rolled", "expected"), DRIFT)
def test_package_drift(facts, rolled, expected):
    now, was = facts_fingerprint(facts)[:12], PLAN.facts_fingerprint[:12]
    assert drift(PLAN, facts, rolled=rolled) == [line.format(now=now, plan=was) for line in expected]
