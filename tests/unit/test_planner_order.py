"""Roll order: no-write nodes first, the MySQL writer last, the bootstrap-flag node never first."""
from __future__ import annotations

from dataclasses import replace

import pytest

from planner_fixtures import cluster, haproxy, with_balancers, with_galera
from upgrader.planner import mysql_writer, roll_order
from upgrader.planner.order import load_balancers_line, order_warnings, vip_during

FIVE = ("node1", "node2", "node3", "node4", "node5")


def _writer(name, names=("node1", "node2", "node3")):
    return replace(cluster(names), haproxy=haproxy(names, writer=name))


def _no_active_flag():
    # Nothing marked active: the first UP non-backup server is the writer.
    servers = tuple(replace(s, active=False) for s in cluster().haproxy)
    return replace(cluster(), haproxy=servers)


def _multi_writer():
    # node2 is in the MySQL pool (not backup) without being the active writer.
    servers = tuple(replace(s, backup=False) if (s.backend, s.server) == ("mariadb", "node2") else s
                    for s in cluster().haproxy)
    return replace(cluster(), haproxy=servers)


# id, facts, expected order
ORDERS = [
    pytest.param(cluster(), ["node2", "node3", "node1"], id="order: writer node1 last"),
    pytest.param(_writer("node2"), ["node1", "node3", "node2"], id="order: writer node2 last"),
    pytest.param(_writer("node3", FIVE), ["node1", "node2", "node4", "node5", "node3"],
                 id="order: five nodes, writer node3 last"),
    pytest.param(with_galera(_writer("node3"), "node1", grastate_safe_to_bootstrap=True),
                 ["node2", "node1", "node3"], id="order: safe_to_bootstrap node1 never first"),
    pytest.param(with_galera(cluster(), "node1", grastate_safe_to_bootstrap=True),
                 ["node2", "node3", "node1"], id="order: safe_to_bootstrap on the writer stays last"),
    pytest.param(with_galera(cluster(), "node2", grastate_safe_to_bootstrap=True),
                 ["node3", "node2", "node1"], id="order: safe_to_bootstrap just before the writer"),
    pytest.param(_writer("node2", ("node2", "node9", "node10")), ["node9", "node10", "node2"],
                 id="order: natural sort node9 < node10"),
    pytest.param(_no_active_flag(), ["node2", "node3", "node1"], id="order: no active flag, first UP non-backup"),
    pytest.param(_multi_writer(), ["node3", "node2", "node1"], id="order: pool member after no-write nodes"),
    pytest.param(replace(cluster(), haproxy=()), ["node1", "node2", "node3"], id="order: no HAProxy facts, by name"),
    pytest.param(with_balancers(cluster(), holders=("node2",)), ["node3", "node2", "node1"],
                 id="order: the VIP holder last among the no-write nodes, the writer still last"),
    pytest.param(with_balancers(cluster(), holders=("node1",)), ["node2", "node3", "node1"],
                 id="order: VIP on the writer: both move once, at the end"),
]


def test_the_plan_says_where_the_vip_is_during_each_node():
    facts = with_balancers(cluster(), holders=("node2",))
    during = vip_during(facts, ("node3", "node2", "node1"))
    assert during == {
        "node3": "on node2",
        "node2": "held here: keepalived moves it to another node before the services stop",
        "node1": "elsewhere: moved off node2 in its window",
    }
    assert vip_during(cluster(), ("node2", "node3", "node1")) == {}   # a static VIP: nothing to say


@pytest.mark.parametrize(("facts", "expected"), ORDERS)
def test_roll_order(facts, expected):
    slots = roll_order(facts)
    assert [s.name for s in slots] == expected
    assert [s.position for s in slots] == list(range(1, len(expected) + 1))


def test_order_does_not_depend_on_facts_order():
    facts = cluster()
    shuffled = replace(facts, nodes=tuple(reversed(facts.nodes)))
    assert roll_order(shuffled) == roll_order(facts)


# id, facts, node, expected reason
REASONS = [
    pytest.param(cluster(), "node2", "takes no writes", id="reason: backup takes no writes"),
    pytest.param(cluster(), "node1", "HAProxy's active MySQL writer: last so writes move once",
                 id="reason: active writer"),
    pytest.param(_no_active_flag(), "node1",
                 "first UP non-backup MySQL server (no active flag): last so writes move once",
                 id="reason: fallback writer"),
    pytest.param(with_galera(cluster(), "node2", grastate_safe_to_bootstrap=True), "node2",
                 "grastate safe_to_bootstrap=1: never first, so just before the writer",
                 id="reason: safe_to_bootstrap"),
    pytest.param(_multi_writer(), "node2", "in HAProxy's MySQL pool but not the writer",
                 id="reason: pool member"),
]


@pytest.mark.parametrize(("facts", "name", "reason"), REASONS)
def test_reason(facts, name, reason):
    assert {s.name: s.reason for s in roll_order(facts)}[name] == reason


# id, facts, expected writer
WRITERS = [
    pytest.param(cluster(), ("node1", "active"), id="writer: active flag"),
    pytest.param(_no_active_flag(), ("node1", "first_up"), id="writer: first UP non-backup"),
    pytest.param(replace(cluster(), haproxy=()), None, id="writer: none without HAProxy"),
    pytest.param(replace(cluster(), haproxy=tuple(replace(s, active=False, backup=True)
                                                  for s in cluster().haproxy)),
                 None, id="writer: none when every server is backup"),
]


@pytest.mark.parametrize(("facts", "expected"), WRITERS)
def test_mysql_writer(facts, expected):
    writer = mysql_writer(facts)
    assert (None if writer is None else (writer.name, writer.how)) == expected


def test_no_writer_is_a_warning():
    assert order_warnings(replace(cluster(), haproxy=())) == [
        "lab: no HAProxy MySQL writer found; writes may move more than once"
    ]
    assert order_warnings(cluster()) == []


def test_the_plan_names_the_haproxies_and_the_vip_holder():
    assert load_balancers_line(with_balancers(cluster(), holders=("node1",))) == (
        "HAProxy on node1, node2, node3 (in agreement); VIP 10.123.0.100 on node1 (MASTER), moved by keepalived")
    assert load_balancers_line(with_balancers(cluster(), node3="ssh: refused")).startswith(
        "HAProxy on node1, node2, node3 (NOT in agreement)")
    assert load_balancers_line(cluster()) == ""     # one dedicated HAProxy, a static VIP
