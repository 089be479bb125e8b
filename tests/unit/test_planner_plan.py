"""build_plan end to end: content, hash stability, fingerprint and drift."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from planner_fixtures import (
    CREATED_AT, MIB, cluster, haproxy, lab_rate, node, with_all_galera, with_all_versions, with_galera,
    with_node, with_rabbit, with_server, with_versions,
)
from upgrader.errors import ConfigError
from upgrader.planner import NODE_STEPS, PlanOptions, build_plan, drift, facts_fingerprint

KEYSTONE_UP = PlanOptions(targets={"keystone": "29.1.0"})


def _plan(facts=None, options=KEYSTONE_UP, created_at=CREATED_AT, inventory="inventory/lab.yml"):
    return build_plan(cluster() if facts is None else facts, options, created_at=created_at,
                      inventory=inventory)


def test_safe_keystone_upgrade_plan():
    plan = _plan()
    assert (plan.cluster, plan.kind, plan.targets, plan.order) == (
        "lab", "upgrade", {"keystone": "29.1.0"}, ("node2", "node3", "node1"))
    assert plan.refusals == () and plan.warnings == ()
    assert [s.name for s in plan.preparation] == ["keystone_expand"]
    assert [s.name for s in plan.finalization] == ["keystone_contract"]
    assert re.fullmatch(r"lab-20261126T061500Z-[0-9a-f]{8}", plan.plan_id)
    assert plan.plan_id.endswith(plan.plan_hash[:8]) and len(plan.plan_hash) == 64
    assert plan.inventory == "inventory/lab.yml"


def test_node_plans():
    first = _plan().nodes[0]
    assert (first.name, first.position, first.reason) == ("node2", 1, "takes no writes")
    assert tuple(s.name for s in first.steps) == NODE_STEPS
    assert (first.ist_feasible, first.donor, first.predicted_gap_writesets) == (True, "node1", 67)
    assert first.estimate_s == 45.0


def test_refused_plan_still_carries_the_order_and_the_reasons():
    facts = with_galera(cluster(), "node1", local_state_comment="Donor/Desynced")
    plan = _plan(facts)
    assert plan.refusals == ("node1: wsrep_local_state_comment is Donor/Desynced, not Synced",)
    assert plan.order == ("node2", "node3", "node1")


def test_forced_refusal_becomes_a_warning():
    facts = with_versions(cluster(), "node2", keystone="28.0.0")
    options = PlanOptions(targets={"keystone": "29.1.0"}, force=frozenset({"mixed_start_versions"}))
    plan = _plan(facts, options)
    assert plan.refusals == ()
    assert plan.warnings == (
        "forced mixed_start_versions: lab: nodes start from different keystone versions "
        "(node1=28.1.0, node2=28.0.0, node3=28.1.0)",
    )


def test_sst_risk_is_a_warning_within_a_major_and_lengthens_rejoin():
    facts = with_all_galera(cluster(), gcache_size_bytes=2 * MIB)
    facts = replace(facts, write_rate=lab_rate(seqno_per_s=300.0, bytes_per_writeset=4096.0))
    plan = _plan(facts)
    assert plan.refusals == ()
    assert len(plan.warnings) == 3 and all("SST risk" in w for w in plan.warnings)
    rejoin = {s.name: s.estimate_s for s in plan.nodes[0].steps}["rejoin_galera"]
    assert (plan.nodes[0].ist_feasible, rejoin) == (False, 30.0)


def test_patch_roll():
    plan = _plan(options=PlanOptions(packages=("openssl",)))
    assert (plan.kind, plan.preparation, [s.name for s in plan.finalization]) == (
        "patch", (), [])


def test_bad_created_at_is_a_config_error():
    with pytest.raises(ConfigError, match="^created_at 'yesterday' is not an ISO-8601 time$"):
        _plan(created_at="yesterday")


def test_created_at_is_compacted_in_utc():
    assert "-20261126T061500Z-" in _plan(created_at="2026-11-26T07:15:00+01:00").plan_id


# ------------------------------------------------------------------ hash


def test_same_input_same_hash():
    assert _plan() == _plan()


def test_hash_does_not_depend_on_facts_order():
    facts = cluster()
    shuffled = replace(facts, nodes=tuple(reversed(facts.nodes)), haproxy=tuple(reversed(facts.haproxy)))
    assert _plan(shuffled).plan_hash == _plan(facts).plan_hash


# id, kwargs for _plan that differ from the baseline
CHANGES = [
    pytest.param({"created_at": "2026-11-26T06:15:01Z"}, id="hash: created_at"),
    pytest.param({"options": PlanOptions(targets={"keystone": "29.2.0"})}, id="hash: target"),
    pytest.param({"options": PlanOptions(targets={"keystone": "29.1.0"}, ist_margin=3.0)}, id="hash: margin"),
    pytest.param({"options": PlanOptions(targets={"keystone": "29.1.0"}, packages=("openssl",))},
                 id="hash: packages"),
    pytest.param({"inventory": "inventory/other.yml"}, id="hash: inventory path"),
    pytest.param({"facts": with_galera(cluster(), "node2", desync=True)}, id="hash: a refusal"),
    pytest.param({"facts": with_node(cluster(), "node3", address="10.123.0.23")}, id="hash: an address"),
    pytest.param({"facts": replace(cluster(), haproxy=haproxy(writer="node2"))}, id="hash: the writer"),
]


@pytest.mark.parametrize("kwargs", CHANGES)
def test_any_change_changes_the_hash(kwargs):
    assert _plan(**kwargs).plan_hash != _plan().plan_hash


# ------------------------------------------------------------------ fingerprint

# id, facts change that must NOT change the fingerprint
VOLATILE = [
    pytest.param(with_all_galera(cluster(), last_committed=999_999, local_cached_downto=900_000),
                 id="fingerprint ignores: seqnos"),
    pytest.param(replace(cluster(), write_rate=lab_rate(seqno_per_s=500.0)), id="fingerprint ignores: write rate"),
    pytest.param(with_server(cluster(), "keystone", "node2", sessions=99), id="fingerprint ignores: sessions"),
    pytest.param(with_galera(cluster(), "node2", received_bytes=1), id="fingerprint ignores: byte counters"),
    pytest.param(replace(cluster(), gathered_at="2026-11-26T07:00:00Z"), id="fingerprint ignores: gathered_at"),
    pytest.param(replace(cluster(), nodes=tuple(reversed(cluster().nodes))), id="fingerprint ignores: node order"),
    pytest.param(with_all_galera(cluster(), cluster_size=4),
                 id="fingerprint ignores: the roll's garbd counted as a fourth member"),
]

# id, facts change that MUST change the fingerprint
STABLE = [
    pytest.param(with_node(cluster(), "node2", address="10.123.0.99"), id="fingerprint covers: address"),
    pytest.param(with_versions(cluster(), "node3", keystone="29.1.0"), id="fingerprint covers: version"),
    pytest.param(replace(cluster(), haproxy=haproxy(writer="node3")), id="fingerprint covers: writer"),
    pytest.param(with_all_galera(cluster(), cluster_state_uuid="1" * 36), id="fingerprint covers: cluster uuid"),
    pytest.param(with_all_galera(cluster(), cluster_size=2), id="fingerprint covers: cluster size (a member lost)"),
    pytest.param(replace(cluster(), inventory_hosts=("node1", "node2")), id="fingerprint covers: inventory"),
    pytest.param(replace(cluster(), cluster="lab2"), id="fingerprint covers: cluster name"),
]


@pytest.mark.parametrize("facts", VOLATILE)
def test_fingerprint_ignores_volatile_facts(facts):
    assert facts_fingerprint(facts) == facts_fingerprint(cluster())


@pytest.mark.parametrize("facts", STABLE)
def test_fingerprint_covers_stable_facts(facts):
    assert facts_fingerprint(facts) != facts_fingerprint(cluster())


# ------------------------------------------------------------------ drift

FOUR = ("node1", "node2", "node3", "node4")

# id, facts now, rolled nodes, expected drift lines
DRIFT = [
    pytest.param(cluster(), (), [], id="drift: none"),
    pytest.param(with_all_galera(cluster(), last_committed=200_000), (), [], id="drift: seqnos moved, none"),
    pytest.param(with_node(cluster(), "node2", address="10.123.0.99"), (),
                 ["lab: addresses, cluster uuid/size, installed versions or inventory changed since the plan "
                  "(fingerprint {now}, plan has {plan})"], id="drift: an address changed"),
    pytest.param(replace(cluster(), cluster="lab2"), (),
                 ["lab2: facts are for cluster lab2, the plan for lab"], id="drift: another cluster"),
    pytest.param(replace(cluster(), nodes=cluster().nodes + (node("node4", FOUR),)), (),
                 ["node4: in facts but not in the plan"], id="drift: node4 joined"),
    pytest.param(replace(cluster(), nodes=cluster().nodes[:2]), (),
                 ["node3: in the plan but missing from facts"], id="drift: node3 gone"),
    pytest.param(replace(cluster(), haproxy=haproxy(writer="node2")), (),
                 ["node2: now HAProxy's MySQL writer, but the plan rolls node1 last as the writer"],
                 id="drift: the writer moved"),
    pytest.param(with_versions(cluster(), "node2", keystone="29.1.0"), ("node2",), [],
                 id="drift: rolled node at the target, none"),
    pytest.param(cluster(), ("node2",), ["node2: rolled, but keystone is 28.1.0, not the target 29.1.0"],
                 id="drift: rolled node still on the old version"),
    pytest.param(replace(with_all_versions(cluster(), keystone="29.1.0"), haproxy=haproxy(writer="node2")),
                 ("node2", "node3", "node1"), [],
                 id="drift: writer moves once the last node is in flight"),
]


@pytest.mark.parametrize(("facts", "rolled", "expected"), DRIFT)
def test_drift(facts, rolled, expected):
    plan = _plan()
    now, was = facts_fingerprint(facts)[:12], plan.facts_fingerprint[:12]
    assert drift(plan, facts, rolled=rolled) == [line.format(now=now, plan=was) for line in expected]


def test_drift_is_one_line_each():
    facts = with_rabbit(replace(cluster(), cluster="lab2", nodes=cluster().nodes[:2]), "node1", alarms=("x",))
    lines = drift(_plan(), facts)
    assert len(lines) == 2 and all("\n" not in line for line in lines)

