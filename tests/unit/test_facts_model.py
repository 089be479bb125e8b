"""ClusterFacts as a document: to_dict -> JSON -> from_dict gives the same facts, tolerantly."""
from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest

from planner_fixtures import cluster, with_galera, with_node, with_rabbit
from upgrader.model import ClusterFacts, GaleraFacts, HaproxyServer, NodeFacts, RabbitFacts, WriteRate

# A facts document printed by `upgrader facts` on the lab (healthy, idle).
LAB_DOCUMENT = Path(__file__).parents[1] / "cli" / "fixtures" / "lab_healthy.json"


def through_json(facts: ClusterFacts) -> ClusterFacts:
    return ClusterFacts.from_dict(json.loads(json.dumps(facts.to_dict())))


@pytest.mark.parametrize("facts", [
    pytest.param(cluster(), id="healthy three-node cluster"),
    pytest.param(with_galera(cluster(), "node2", reachable=False, error="(2003) Can't connect"),
                 id="an unreachable Galera node"),
    pytest.param(with_node(cluster(), "node3", galera=None, rabbitmq=None, versions={}),
                 id="a node with no Galera or RabbitMQ facts (None survives)"),
    pytest.param(with_rabbit(cluster(), "node1", alarms=("resource_limit on rabbit@node1",),
                             partitions=("rabbit@node3",), under_maintenance=True),
                 id="RabbitMQ alarm, partition and maintenance tuples"),
    pytest.param(with_galera(cluster(), "node1", grastate_seqno=None, grastate_safe_to_bootstrap=None),
                 id="grastate unknown (None, not False)"),
    pytest.param(replace(cluster(), haproxy=(), write_rate=WriteRate(), inventory_hosts=()),
                 id="empty tuples and a default write rate"),
])
def test_round_trip_through_json(facts: ClusterFacts) -> None:
    assert through_json(facts) == facts


def test_round_trip_keeps_nested_tuples() -> None:
    """JSON has only lists; the loader turns them back into tuples, at every depth."""
    back = through_json(cluster())
    assert isinstance(back.nodes, tuple) and all(isinstance(n, NodeFacts) for n in back.nodes)
    assert isinstance(back.haproxy, tuple) and all(isinstance(s, HaproxyServer) for s in back.haproxy)
    assert isinstance(back.inventory_hosts, tuple)
    galera, rabbit = back.node("node1").galera, back.node("node1").rabbitmq
    assert isinstance(galera, GaleraFacts) and isinstance(galera.incoming_addresses, tuple)
    assert isinstance(rabbit, RabbitFacts) and isinstance(rabbit.running_nodes, tuple)
    assert isinstance(back.write_rate, WriteRate)
    hash((galera, rabbit, back.haproxy, back.write_rate))  # frozen tuples, not lists, inside


def test_in_memory_round_trip() -> None:
    facts = cluster()
    assert ClusterFacts.from_dict(facts.to_dict()) == facts


def test_lab_document_loads_and_dumps_back_unchanged() -> None:
    data = json.loads(LAB_DOCUMENT.read_text())
    facts = ClusterFacts.from_dict(data)
    assert [n.name for n in facts.nodes] == ["node1", "node2", "node3"]
    assert facts.node("node1").galera.local_state_comment == "Synced"
    assert json.loads(json.dumps(facts.to_dict())) == data


def _with_unknown_keys(data: dict) -> dict:
    """A document from a newer upgrader: extra keys at every level."""
    data = copy.deepcopy(data)
    data["collector"] = {"host": "lb", "version": "9.9"}
    data["write_rate"]["p99_bytes_per_s"] = 1.0
    for node in data["nodes"]:
        node["kernel"] = "6.1.0-28-amd64"
        node["galera"]["wsrep_flow_control_paused"] = 0.0
        node["rabbitmq"]["cluster_name"] = "rabbit@node1"
    for server in data["haproxy"]:
        server["check_status"] = "L7OK"
    return data


def test_unknown_keys_are_ignored_at_every_level() -> None:
    data = json.loads(LAB_DOCUMENT.read_text())
    assert ClusterFacts.from_dict(_with_unknown_keys(data)) == ClusterFacts.from_dict(data)


@pytest.mark.parametrize("drop, check", [
    pytest.param("write_rate", lambda f: f.write_rate == WriteRate(), id="no write_rate: zero rate"),
    pytest.param("haproxy", lambda f: f.haproxy == (), id="no haproxy: empty"),
    pytest.param("inventory_hosts", lambda f: f.inventory_hosts == (), id="no inventory_hosts: empty"),
    pytest.param("schema_version", lambda f: f.schema_version == 1, id="no schema_version: 1"),
])
def test_missing_optional_keys_take_defaults(drop: str, check) -> None:
    data = json.loads(LAB_DOCUMENT.read_text())
    del data[drop]
    assert check(ClusterFacts.from_dict(data))


def test_missing_nested_optional_keys_take_defaults() -> None:
    data = json.loads(LAB_DOCUMENT.read_text())
    node = data["nodes"][0]
    del node["versions"], node["galera"]["grastate_seqno"], node["rabbitmq"]["quorum_critical"]
    facts = ClusterFacts.from_dict(data)
    assert facts.node("node1").versions == {}
    assert facts.node("node1").galera.grastate_seqno is None
    assert facts.node("node1").rabbitmq.quorum_critical is False


@pytest.mark.parametrize("key", ["cluster", "gathered_at", "nodes"])
def test_required_keys_are_required(key: str) -> None:
    data = json.loads(LAB_DOCUMENT.read_text())
    del data[key]
    with pytest.raises(TypeError):
        ClusterFacts.from_dict(data)


def test_node_lookup() -> None:
    facts = cluster()
    assert facts.node("node2").address == "10.123.0.12"
    with pytest.raises(KeyError):
        facts.node("node9")
