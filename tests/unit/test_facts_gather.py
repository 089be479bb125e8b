"""How one node's reads become NodeFacts, reachable or not (gather._node is pure)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from upgrader.facts import gather
from upgrader.facts.host import split_sections
from upgrader.inventory import NodeAccess

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
NODE2 = NodeAccess(name="node2", address="10.123.0.12", rabbit_node="rabbit@node2")


def _recorded(source: str, case: str) -> dict:
    return json.loads((FIXTURES / source / f"{case}.json").read_text())


ROWS = {k: _recorded("galera", "node2_synced")["output"][k] for k in ("status", "variables")}
SECTIONS = split_sections(_recorded("host", "node1_healthy")["output"])
STOPPED = split_sections(_recorded("host", "node2_services_stopped")["output"])
MYSQL_DOWN = "(2003, \"Can't connect to MySQL server on '10.123.0.12' ([Errno 111] Connection refused)\")"
SSH_DOWN = "node2: ssh 10.123.0.12: ssh: connect to host 10.123.0.12 port 22: Connection refused"


def test_everything_read() -> None:
    facts = gather._node(NODE2, ROWS, (SECTIONS, ""))
    assert facts.galera.reachable and facts.galera.local_state_comment == "Synced"
    assert facts.galera.grastate_seqno == -1 and facts.galera.grastate_safe_to_bootstrap is False
    assert facts.rabbitmq.reachable and facts.rabbitmq.running and facts.rabbitmq.node_name == "rabbit@node2"
    assert facts.versions == {"galera": "26.4.23", "mariadb": "10.11.19", "rabbitmq": "3.10.8",
                              "keystone": "28.1.0"}


def test_mariadb_unreachable() -> None:
    facts = gather._node(NODE2, MYSQL_DOWN, (SECTIONS, ""))
    assert not facts.galera.reachable
    assert facts.galera.error == f"MariaDB at 10.123.0.12: {MYSQL_DOWN}"
    galera = facts.galera
    assert (galera.local_state_comment, galera.cluster_size, galera.last_committed) == ("", 0, -1)
    assert facts.rabbitmq.running and facts.versions["mariadb"] == "10.11.19"  # SSH still answered


def test_ssh_unreachable() -> None:
    facts = gather._node(NODE2, ROWS, ({}, SSH_DOWN))
    assert facts.galera.reachable  # SQL still answered
    assert facts.galera.grastate_seqno is None and facts.galera.grastate_safe_to_bootstrap is None
    assert not facts.rabbitmq.reachable and facts.rabbitmq.error == SSH_DOWN
    assert facts.rabbitmq.node_name == "rabbit@node2"
    assert facts.versions == {}


def test_broker_stopped_mysql_stopped() -> None:
    """Mid-roll: both services stopped on node2, SSH fine."""
    facts = gather._node(NODE2, MYSQL_DOWN, (STOPPED, ""))
    assert not facts.galera.reachable
    assert facts.rabbitmq.reachable and not facts.rabbitmq.running
    assert facts.rabbitmq.error == "rabbitmq-server is not running"


@pytest.mark.parametrize("grastate, seqno", [
    pytest.param("", None, id="empty grastate section: unknown, not parsed"),
    pytest.param("seqno: 7\nsafe_to_bootstrap: 1", 7, id="stopped node's saved seqno"),
])
def test_grastate_section(grastate: str, seqno) -> None:
    facts = gather._node(NODE2, ROWS, ({**SECTIONS, "grastate": grastate}, ""))
    assert facts.galera.grastate_seqno == seqno


def test_the_health_check_between_nodes_skips_the_quorum_check_apt_and_the_library_scan():
    from upgrader.facts import host

    loop = next(line for line in host.script(host.HEALTH_SECTIONS).splitlines() if line.startswith("for s in"))
    assert loop.split(";")[0].split()[3:] == list(host.HEALTH_SECTIONS)
    assert set(host.HEALTH_SECTIONS) < set(host.SECTION_NAMES)
    assert not {"rabbit_quorum_critical", "policy", "stale"} & set(host.HEALTH_SECTIONS)


def test_facts_without_apt_policy_fingerprint_as_the_full_facts():
    """The between-node check compares the plan's fingerprint on a resumed run: the
    sections it skips must not move it."""
    from upgrader.model import ClusterFacts
    from upgrader.planner.fingerprint import facts_fingerprint

    full = split_sections(_recorded("packages", "node1_patch_pending")["output"])
    health = {k: v for k, v in full.items() if k in ("debs",)}
    assert full.keys() > health.keys() and "policy" in full

    def fingerprint(sections: dict) -> str:
        node = gather._node(NODE2, {k: list(v) for k, v in ROWS.items()}, (SECTIONS | sections, ""))
        return facts_fingerprint(ClusterFacts(cluster="lab", gathered_at="", nodes=(node,)))
    assert fingerprint(full) == fingerprint(health)
