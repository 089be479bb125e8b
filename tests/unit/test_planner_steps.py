"""Step names, estimates, cluster steps and the plan kind."""
from __future__ import annotations

from dataclasses import replace

import pytest

from planner_fixtures import cluster, with_all_versions
from upgrader.planner import NODE_STEPS, PlanOptions
from upgrader.planner.steps import estimate_s, finalization_steps, node_steps, preparation_steps
from upgrader.planner.versions import plan_kind


def test_node_step_names_and_order_are_the_contract():
    assert NODE_STEPS == (
        "drain_api", "drain_db", "desync_galera", "drain_rabbitmq", "stop_services", "upgrade",
        "rejoin_galera", "verify_node", "revive_rabbitmq", "resync_galera", "undrain",
    )


def test_default_estimates():
    steps = node_steps(PlanOptions(), ist=True)
    assert {s.name: s.estimate_s for s in steps} == {
        "drain_api": 4, "drain_db": 3, "desync_galera": 2, "drain_rabbitmq": 3, "stop_services": 8,
        "upgrade": 5, "rejoin_galera": 8, "verify_node": 3, "revive_rabbitmq": 3,
        "resync_galera": 2, "undrain": 4,
    }
    assert all(s.description and "\n" not in s.description for s in steps)


# id, step, options, ist, expected seconds
ESTIMATES = [
    pytest.param("upgrade", PlanOptions(packages=("openssl", "libc6")), True, 20.0,
                 id="estimate: packages make upgrade 5+15"),
    pytest.param("upgrade", PlanOptions(packages=("openssl",), estimates={"upgrade": 60}), True, 60.0,
                 id="estimate: override wins over packages"),
    pytest.param("rejoin_galera", PlanOptions(), False, 30.0, id="estimate: SST rejoin"),
    pytest.param("rejoin_galera", PlanOptions(estimates={"rejoin_galera_sst": 900}), False, 900.0,
                 id="estimate: SST rejoin override"),
    pytest.param("rejoin_galera", PlanOptions(estimates={"rejoin_galera_sst": 900}), True, 8.0,
                 id="estimate: SST override leaves IST alone"),
    pytest.param("keystone_expand", PlanOptions(), True, 10.0, id="estimate: keystone expand"),
]


@pytest.mark.parametrize(("name", "options", "ist", "expected"), ESTIMATES)
def test_estimate(name, options, ist, expected):
    assert estimate_s(name, options, ist=ist) == expected


# id, facts, targets, packages moving, expected (kind, preparation names, finalization names)
CLUSTER_STEPS = [
    pytest.param(cluster(), {"keystone": "29.1.0"}, (),
                 ("upgrade", ["keystone_expand"], ["keystone_contract"]),
                 id="kind: keystone upgrade expands and contracts, no new broker release"),
    pytest.param(cluster(), {"rabbitmq": "3.11.28"}, (), ("upgrade", [], ["rabbitmq_feature_flags"]),
                 id="kind: rabbitmq upgrade enables its feature flags, no keystone schema steps"),
    pytest.param(cluster(), {}, (), ("patch", [], []), id="kind: patch, no targets, nothing to finalize"),
    pytest.param(cluster(), {}, ("rabbitmq-server",), ("patch", [], ["rabbitmq_feature_flags"]),
                 id="patch moving the rabbitmq-server package enables its feature flags"),
    pytest.param(cluster(), {}, ("libssl3", "erlang-base"), ("patch", [], []),
                 id="patch moving libssl3 and Erlang leaves RabbitMQ's release, no flags"),
    pytest.param(cluster(), {"keystone": "28.1.0", "mariadb": "10.11.19"}, (),
                 ("patch", [], []), id="kind: patch, targets equal installed"),
    pytest.param(with_all_versions(cluster(), keystone="29.1.0"), {"keystone": "29.1.0"}, (),
                 ("patch", [], []), id="kind: already at target"),
    pytest.param(with_all_versions(cluster(), keystone="29.1.0"), {"keystone": "28.1.0"}, (),
                 ("upgrade", [], []),
                 id="forced keystone downgrade: the old release cannot expand or contract"),
    pytest.param(replace(cluster(), arbitrator="lb"), {"keystone": "29.1.0"}, (),
                 ("upgrade", ["galera_arbitrator_join", "keystone_expand"],
                  ["keystone_contract", "galera_arbitrator_leave"]),
                 id="arbitrator: garbd joins before everything and leaves after everything"),
    pytest.param(replace(cluster(), arbitrator="lb"), {}, (),
                 ("patch", ["galera_arbitrator_join"], ["galera_arbitrator_leave"]),
                 id="arbitrator: a patch roll is covered by garbd too"),
]


@pytest.mark.parametrize(("facts", "targets", "moving", "expected"), CLUSTER_STEPS)
def test_cluster_steps_and_kind(facts, targets, moving, expected):
    options = PlanOptions(targets=targets)
    got = (plan_kind(facts, targets),
           [s.name for s in preparation_steps(facts, options)],
           [s.name for s in finalization_steps(facts, options, moving)])
    assert got == expected


# id, options, package changes on the node, expected upgrade seconds
PACKAGE_ESTIMATES = [
    pytest.param(PlanOptions(), 0, 5.0, id="upgrade estimate: nothing pinned"),
    pytest.param(PlanOptions(), 2, 10.0, id="upgrade estimate: libssl3 + openssl, 5 + 3 + 2"),
    pytest.param(PlanOptions(), 12, 20.0, id="upgrade estimate: the 12 MariaDB packages, 5 + 3 + 12"),
    pytest.param(PlanOptions(packages=("tzdata",)), 2, 25.0, id="upgrade estimate: plus plan-wide packages"),
    pytest.param(PlanOptions(estimates={"upgrade": 40}), 12, 40.0, id="upgrade estimate: override wins"),
]


@pytest.mark.parametrize(("options", "count", "expected"), PACKAGE_ESTIMATES)
def test_upgrade_estimate_grows_with_package_changes(options, count, expected):
    assert estimate_s("upgrade", options, package_changes=count) == expected
    upgrade = next(s for s in node_steps(options, ist=True, package_changes=count) if s.name == "upgrade")
    assert upgrade.estimate_s == expected
    assert (f"{count} pinned package" in upgrade.description) == bool(count)
