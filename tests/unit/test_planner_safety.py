"""Refusals as data: one row per reason not to roll, each naming the node and the fact."""
from __future__ import annotations

from dataclasses import replace

import pytest

from package_fixtures import M11_4, M18, M19, S17, S19, mariadb, packaged, without_package
from planner_fixtures import (
    MIB, cluster, lab_rate, node, with_all_galera, with_all_versions, with_galera, with_node,
    server_status, with_balancers, with_rabbit, with_server, with_versions, without_backend,
)
from upgrader.planner import CODES, PlanOptions, refusals
from upgrader.planner.safety import all_refusals

KEYSTONE_UP = PlanOptions(targets={"keystone": "29.1.0"})
MARIADB_MAJOR = PlanOptions(targets={"mariadb": "10.11.19"})


def _busy_on_10_6(facts):
    """Start from MariaDB 10.6 under a write load a 2 MiB gcache cannot hold."""
    facts = with_all_versions(facts, mariadb="10.6.21")
    facts = with_all_galera(facts, gcache_size_bytes=2 * MIB)
    return replace(facts, write_rate=lab_rate(seqno_per_s=300.0, bytes_per_writeset=4096.0))


def _five_nodes_size_four():
    names = ("node1", "node2", "node3", "node4", "node5")
    return with_all_galera(cluster(names), cluster_size=4)


# id, facts, options, expected code, expected message (exact, one line)
REFUSE = [
    pytest.param(with_galera(cluster(), "node2", reachable=False, error="(2003) Can't connect\nto 10.123.0.12"),
                 KEYSTONE_UP, "galera_unreachable",
                 "node2: Galera unreachable: (2003) Can't connect to 10.123.0.12",
                 id="refuse: node2 Galera unreachable"),
    pytest.param(with_node(cluster(), "node3", galera=None), KEYSTONE_UP, "galera_unreachable",
                 "node3: no Galera facts gathered", id="refuse: node3 has no Galera facts"),
    pytest.param(with_galera(cluster(), "node1", local_state=2, local_state_comment="Donor/Desynced"),
                 KEYSTONE_UP, "node_not_synced",
                 "node1: wsrep_local_state_comment is Donor/Desynced, not Synced",
                 id="refuse: node1 desynced (Donor/Desynced)"),
    pytest.param(with_galera(cluster(), "node2", desync=True), KEYSTONE_UP, "node_not_synced",
                 "node2: wsrep_desync is ON", id="refuse: node2 wsrep_desync ON"),
    pytest.param(with_galera(cluster(), "node2", ready=False), KEYSTONE_UP, "node_not_synced",
                 "node2: wsrep_ready is OFF", id="refuse: node2 wsrep_ready OFF"),
    pytest.param(with_all_galera(cluster(), cluster_size=2), KEYSTONE_UP, "cluster_size",
                 "node1: wsrep_cluster_size is 2, need at least 3", id="refuse: every node sees 2"),
    pytest.param(with_galera(cluster(), "node3", cluster_size=4), KEYSTONE_UP, "cluster_size",
                 "lab: nodes disagree on wsrep_cluster_size (node1=3, node2=3, node3=4)",
                 id="refuse: cluster sizes disagree"),
    pytest.param(cluster(("node1", "node2")), KEYSTONE_UP, "cluster_size",
                 "lab: only 2 nodes in facts; a rolling upgrade needs at least 3",
                 id="refuse: only two nodes"),
    pytest.param(_five_nodes_size_four(), KEYSTONE_UP, "cluster_size",
                 "lab: wsrep_cluster_size is 4 but facts list 5 nodes",
                 id="refuse: five nodes in facts, Galera sees four"),
    pytest.param(with_galera(cluster(), "node2", cluster_status="non-Primary"), KEYSTONE_UP,
                 "not_primary", "node2: wsrep_cluster_status is non-Primary, not Primary",
                 id="refuse: node2 non-Primary"),
    pytest.param(with_rabbit(cluster(), "node1", reachable=False, error="nodedown"), KEYSTONE_UP,
                 "rabbit_unreachable", "node1: RabbitMQ unreachable: nodedown",
                 id="refuse: node1 RabbitMQ unreachable"),
    pytest.param(with_node(cluster(), "node2", rabbitmq=None), KEYSTONE_UP, "rabbit_unreachable",
                 "node2: no RabbitMQ facts gathered", id="refuse: node2 has no RabbitMQ facts"),
    pytest.param(with_rabbit(cluster(), "node2", running=False), KEYSTONE_UP, "rabbit_down",
                 "node2: RabbitMQ app is not running", id="refuse: node2 RabbitMQ app stopped"),
    pytest.param(with_rabbit(cluster(), "node3", under_maintenance=True), KEYSTONE_UP, "rabbit_down",
                 "node3: RabbitMQ node is under maintenance (drained)",
                 id="refuse: node3 RabbitMQ still drained"),
    pytest.param(with_rabbit(cluster(), "node1", running_nodes=("rabbit@node1", "rabbit@node2")),
                 KEYSTONE_UP, "rabbit_down",
                 "node3: rabbit@node3 is missing from running_nodes of node1",
                 id="refuse: node1 does not see rabbit@node3 running"),
    pytest.param(with_rabbit(cluster(), "node2", partitions=("rabbit@node3",)), KEYSTONE_UP,
                 "rabbit_partitioned", "node2: RabbitMQ reports a partition with rabbit@node3",
                 id="refuse: node2 partitioned from node3"),
    pytest.param(with_rabbit(cluster(), "node3", alarms=("disk_free_alarm",)), KEYSTONE_UP,
                 "rabbit_alarm", "node3: RabbitMQ alarm set: disk_free_alarm",
                 id="refuse: node3 disk alarm"),
    pytest.param(with_server(cluster(), "mariadb", "node2", status="DRAIN"), KEYSTONE_UP,
                 "haproxy_server_down", "node2: HAProxy mariadb/node2 is DRAIN, not UP",
                 id="refuse: mariadb/node2 left in DRAIN"),
    pytest.param(with_server(cluster(), "keystone", "node3", status="MAINT"), KEYSTONE_UP,
                 "haproxy_server_down", "node3: HAProxy keystone/node3 is MAINT, not UP",
                 id="refuse: keystone/node3 in MAINT"),
    pytest.param(with_server(cluster(), "keystone", "node1", status="DOWN 1/2"), KEYSTONE_UP,
                 "haproxy_server_down", "node1: HAProxy keystone/node1 is DOWN 1/2, not UP",
                 id="refuse: keystone/node1 DOWN"),
    pytest.param(without_backend(cluster(), "keystone"), KEYSTONE_UP, "haproxy_server_down",
                 "lab: HAProxy backend keystone has no servers in facts",
                 id="refuse: no keystone backend in facts"),
    pytest.param(with_balancers(cluster(), node3=server_status(cluster(), "mariadb", "node2", "MAINT")),
                 KEYSTONE_UP, "haproxy_disagree",
                 "node2: HAProxies disagree about mariadb/node2: UP on node1, UP on node2, MAINT on node3",
                 id="refuse: one node's HAProxy still has node2 in MAINT"),
    pytest.param(with_balancers(cluster(), node2="ssh 10.123.0.12: Connection refused"), KEYSTONE_UP,
                 "haproxy_disagree", "node2: HAProxy unreadable: ssh 10.123.0.12: Connection refused",
                 id="refuse: node2's HAProxy cannot be read"),
    pytest.param(with_balancers(cluster(), holders=()), KEYSTONE_UP, "vip_not_held_once",
                 "lab: the VIP 10.123.0.100 is held by no node; keepalived must hold it on exactly one",
                 id="refuse: no node holds the VIP"),
    pytest.param(with_balancers(cluster(), holders=("node1", "node3")), KEYSTONE_UP, "vip_not_held_once",
                 "lab: the VIP 10.123.0.100 is held by node1, node3; keepalived must hold it on exactly one",
                 id="refuse: two nodes hold the VIP (split brain)"),
    pytest.param(with_versions(cluster(), "node2", keystone="28.0.0"), KEYSTONE_UP,
                 "mixed_start_versions",
                 "lab: nodes start from different keystone versions (node1=28.1.0, node2=28.0.0, node3=28.1.0)",
                 id="refuse: node2 starts from an older keystone"),
    pytest.param(replace(cluster(), inventory_hosts=("node1", "node2", "node3", "node4")), KEYSTONE_UP,
                 "inventory_mismatch", "node4: in the inventory but missing from facts",
                 id="refuse: inventory has node4, facts do not"),
    pytest.param(replace(cluster(), inventory_hosts=("node1", "node2")), KEYSTONE_UP,
                 "inventory_mismatch", "node3: in facts but not in the inventory",
                 id="refuse: facts have node3, inventory does not"),
    pytest.param(replace(cluster(), nodes=cluster().nodes + (node("node1"),)), KEYSTONE_UP,
                 "inventory_mismatch", "node1: listed 2 times in facts", id="refuse: node1 listed twice"),
    pytest.param(with_node(cluster(), "node3", address="10.123.0.99"), KEYSTONE_UP, "inventory_mismatch",
                 "node3: address 10.123.0.99 is not in wsrep_incoming_addresses of node1, node2",
                 id="refuse: node3 address unknown to Galera"),
    pytest.param(with_galera(cluster(), "node2", cluster_state_uuid="00000000-0000-0000-0000-000000000000"),
                 KEYSTONE_UP, "inventory_mismatch",
                 "lab: nodes report different cluster_state_uuid (node1=6f4c2a5e-8b1d-11ef-9c3a-0242ac7b000b, "
                 "node2=00000000-0000-0000-0000-000000000000, node3=6f4c2a5e-8b1d-11ef-9c3a-0242ac7b000b)",
                 id="refuse: node2 in another Galera cluster"),
    pytest.param(replace(cluster(), haproxy=cluster().haproxy[:5]), KEYSTONE_UP, "inventory_mismatch",
                 "node3: not a server of HAProxy backend keystone", id="refuse: node3 not behind keystone VIP"),
    pytest.param(with_server(cluster(), "keystone", "node3", server="ctl3"), KEYSTONE_UP,
                 "inventory_mismatch", "ctl3: HAProxy keystone/ctl3 is not a node in facts",
                 id="refuse: HAProxy server name is not a node name"),
    pytest.param(_busy_on_10_6(cluster()), MARIADB_MAJOR, "sst_across_major",
                 "node2: MariaDB 10.6 -> 10.11 cannot use SST, and its predicted gap of 12604 write-sets "
                 "does not fit node1's gcache", id="refuse: 10.6 -> 10.11 with SST risk"),
    pytest.param(cluster(), PlanOptions(targets={"keystone": "28.0.0"}), "target_not_newer",
                 "node1: keystone target 28.0.0 is older than installed 28.1.0",
                 id="refuse: keystone downgrade"),
    pytest.param(without_package(packaged(), "node2", "libssl3"), PlanOptions(package_targets={"libssl3": "security"}),
                 "package_not_installed",
                 "node2: libssl3 is not installed (facts list the installed packages of the watched sources only)",
                 id="refuse: libssl3 target, not installed on node2"),
    pytest.param(packaged(), PlanOptions(package_targets={"mariadb-server": "1:10.11.20-0+deb12u1"}),
                 "package_version_missing",
                 f"node1: mariadb-server 1:10.11.20-0+deb12u1 is not available (apt has {M19}, {M18}); "
                 "11 more packages of source mariadb lack it too", id="refuse: apt has no such mariadb version"),
    pytest.param(packaged(), PlanOptions(package_targets={"mariadb-server": M19, "libmariadb3": M18}),
                 "package_target_conflict",
                 f"node1: libmariadb3 and mariadb-server are both of source mariadb but ask for {M18} and {M19}; "
                 "a source's packages move together, at one version", id="refuse: one source, two versions"),
    pytest.param(packaged(), PlanOptions(package_targets={"libssl3": S17}), "package_downgrade",
                 f"node3: libssl3 target {S17} is older than installed {S19} (packages are never downgraded); "
                 "1 more package of source openssl too", id="refuse: libssl3 package downgrade"),
    pytest.param(packaged(mariadb=mariadb(M18, (M11_4, M18))), PlanOptions(package_targets={"mariadb-server": M11_4}),
                 "mariadb_major_change",
                 f"node2: mariadb-server {M18} -> {M11_4}: a rolling upgrade across MariaDB major versions is not "
                 "supported: SST between majors fails and mixed majors may not replicate; upgrade MariaDB 10.11 "
                 "to 11.4 by the documented major-upgrade procedure", id="refuse: mariadb 10.11 -> 11.4 by package"),
]


@pytest.mark.parametrize(("facts", "options", "code", "message"), REFUSE)
def test_refusal(facts, options, code, message):
    found = refusals(facts, options)
    assert (code, message) in [(r.code, r.message) for r in found]
    assert all("\n" not in r.message for r in found)


def test_every_refusal_code_has_a_case():
    tested = {p.values[2] for p in REFUSE}
    assert tested == set(CODES)


# id, facts, options: situations that look odd but are safe
ALLOW = [
    pytest.param(cluster(), KEYSTONE_UP, id="allow: healthy lab, keystone upgrade"),
    pytest.param(cluster(), PlanOptions(), id="allow: healthy lab, patch roll"),
    pytest.param(with_all_versions(cluster(), mariadb="10.6.21"), MARIADB_MAJOR,
                 id="allow: 10.6 -> 10.11 when every rejoin is IST"),
    pytest.param(with_versions(cluster(), "node2", rabbitmq="3.10.7"), KEYSTONE_UP,
                 id="allow: mixed rabbitmq versions when rabbitmq is not a target"),
    pytest.param(replace(cluster(), inventory_hosts=()), KEYSTONE_UP,
                 id="allow: facts without inventory hosts are not compared"),
    pytest.param(with_server(cluster(), "mariadb", "node1", status="up"), KEYSTONE_UP,
                 id="allow: status case does not matter"),
    pytest.param(cluster(("node1", "node2", "node3", "node4", "node5")), KEYSTONE_UP,
                 id="allow: five-node cluster"),
    pytest.param(with_all_galera(cluster(), cluster_size=4), KEYSTONE_UP,
                 id="allow: a garbd arbiter makes Galera count 4"),
    pytest.param(packaged(), PlanOptions(package_targets={"libssl3": "security", "mariadb-server": M19}),
                 id="allow: security libssl3 and a MariaDB point release on the lab"),
    pytest.param(cluster(), PlanOptions(), id="allow: no package targets, package facts not needed"),
]


@pytest.mark.parametrize(("facts", "options"), ALLOW)
def test_no_refusal(facts, options):
    assert refusals(facts, options) == []


def test_forced_code_does_not_block_but_is_still_found():
    facts = with_versions(cluster(), "node2", keystone="28.0.0")
    options = PlanOptions(targets={"keystone": "29.1.0"}, force=frozenset({"mixed_start_versions"}))
    assert refusals(facts, options) == []
    assert [r.code for r in all_refusals(facts, options)] == ["mixed_start_versions"]


def test_one_unreachable_node_is_not_reported_as_a_galera_member_problem():
    # A stopped node is reported once, as unreachable, not again as an address mismatch.
    facts = with_galera(cluster(), "node3", reachable=False, error="timeout")
    assert [r.code for r in refusals(facts, KEYSTONE_UP)] == ["galera_unreachable"]
