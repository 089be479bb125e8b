"""Fact builders for planner tests: a healthy 3-node lab cluster, changed one fact at a time.

Values mirror the lab: 10.123.0.11-13, MariaDB 10.11.19, RabbitMQ 3.10.8, Keystone 28.1.0,
HAProxy backend "mariadb" with node1 active (node2/3 backup) and "keystone" all UP.
"""
from __future__ import annotations

from dataclasses import replace

from upgrader.model import ClusterFacts, GaleraFacts, HaproxyServer, NodeFacts, RabbitFacts, WriteRate

MIB = 1024 * 1024
UUID = "6f4c2a5e-8b1d-11ef-9c3a-0242ac7b000b"
NAMES = ("node1", "node2", "node3")
VERSIONS = {"mariadb": "10.11.19", "rabbitmq": "3.10.8", "keystone": "28.1.0"}
CREATED_AT = "2026-11-26T06:15:00Z"


def address(name: str) -> str:
    """node1 -> 10.123.0.11, node12 -> 10.123.0.22."""
    return f"10.123.0.{10 + int(name.removeprefix('node'))}"


def galera(names: tuple[str, ...] = NAMES, **changes) -> GaleraFacts:
    base = GaleraFacts(
        reachable=True, local_state=4, local_state_comment="Synced", cluster_size=len(names),
        cluster_status="Primary", cluster_state_uuid=UUID, last_committed=152_340,
        local_cached_downto=148_002, gcache_size_bytes=128 * MIB, ready=True, connected=True,
        incoming_addresses=tuple(f"{address(n)}:3306" for n in names),
        received_bytes=91_000_000, replicated_bytes=12_000_000,
        version="10.11.19-MariaDB-0+deb12u1", grastate_seqno=-1, grastate_safe_to_bootstrap=False,
    )
    return replace(base, **changes)


def rabbit(name: str, names: tuple[str, ...] = NAMES, **changes) -> RabbitFacts:
    members = tuple(f"rabbit@{n}" for n in names)
    base = RabbitFacts(reachable=True, node_name=f"rabbit@{name}", running=True,
                       running_nodes=members, disk_nodes=members, version=VERSIONS["rabbitmq"])
    return replace(base, **changes)


def node(name: str, names: tuple[str, ...] = NAMES, **changes) -> NodeFacts:
    base = NodeFacts(name=name, address=address(name), galera=galera(names),
                     rabbitmq=rabbit(name, names), versions=dict(VERSIONS))
    return replace(base, **changes)


def haproxy(names: tuple[str, ...] = NAMES, writer: str | None = "node1") -> tuple[HaproxyServer, ...]:
    db = tuple(HaproxyServer("mariadb", n, "UP", backup=(n != writer), active=(n == writer),
                             sessions=12 if n == writer else 0, weight=1) for n in names)
    api = tuple(HaproxyServer("keystone", n, "UP", sessions=3, weight=1) for n in names)
    return db + api


def lab_rate(**changes) -> WriteRate:
    """A quiet lab: a write-set every ~0.7 s of ~600 bytes."""
    return replace(WriteRate(window_s=10.0, seqno_per_s=1.5, bytes_per_s=900.0,
                             bytes_per_writeset=600.0), **changes)


def cluster(names: tuple[str, ...] = NAMES, **changes) -> ClusterFacts:
    base = ClusterFacts(cluster="lab", gathered_at="2026-11-26T06:14:50Z",
                        nodes=tuple(node(n, names) for n in names), haproxy=haproxy(names),
                        write_rate=lab_rate(), inventory_hosts=names)
    return replace(base, **changes)


# ------------------------------------------------------------------ change one fact


def with_node(facts: ClusterFacts, name: str, **changes) -> ClusterFacts:
    nodes = tuple(replace(n, **changes) if n.name == name else n for n in facts.nodes)
    return replace(facts, nodes=nodes)


def with_galera(facts: ClusterFacts, name: str, **changes) -> ClusterFacts:
    return with_node(facts, name, galera=replace(facts.node(name).galera, **changes))


def with_all_galera(facts: ClusterFacts, **changes) -> ClusterFacts:
    for n in facts.nodes:
        facts = with_galera(facts, n.name, **changes)
    return facts


def with_rabbit(facts: ClusterFacts, name: str, **changes) -> ClusterFacts:
    return with_node(facts, name, rabbitmq=replace(facts.node(name).rabbitmq, **changes))


def with_versions(facts: ClusterFacts, name: str, **versions: str) -> ClusterFacts:
    merged = {**facts.node(name).versions, **versions}
    return with_node(facts, name, versions=merged)


def with_all_versions(facts: ClusterFacts, **versions: str) -> ClusterFacts:
    for n in facts.nodes:
        facts = with_versions(facts, n.name, **versions)
    return facts


def with_server(facts: ClusterFacts, backend_name: str, server_name: str, **changes) -> ClusterFacts:
    servers = tuple(replace(s, **changes) if (s.backend, s.server) == (backend_name, server_name) else s
                    for s in facts.haproxy)
    return replace(facts, haproxy=servers)


def without_backend(facts: ClusterFacts, backend: str) -> ClusterFacts:
    return replace(facts, haproxy=tuple(s for s in facts.haproxy if s.backend != backend))


def with_balancers(facts: ClusterFacts, holders: tuple[str, ...] = ("node1",), **views) -> ClusterFacts:
    """HAProxy and keepalived on every node: each HAProxy sees facts.haproxy, except the
    nodes named in views (node -> its own servers, or an error string)."""
    from upgrader.model import BalancerFacts, VipFacts

    balancers = tuple(
        BalancerFacts(host=n.name, error=views[n.name]) if isinstance(views.get(n.name), str)
        else BalancerFacts(host=n.name, servers=views.get(n.name, facts.haproxy))
        for n in facts.nodes)
    vip = VipFacts(address="10.123.0.100", managed=True, holders=holders,
                   vrrp_states=tuple((n.name, "MASTER" if n.name in holders else "BACKUP") for n in facts.nodes))
    return replace(facts, balancers=balancers, vip=vip)


def server_status(facts: ClusterFacts, backend_name: str, server_name: str, status: str):
    """facts.haproxy with one server's status changed (a view for with_balancers)."""
    return with_server(facts, backend_name, server_name, status=status).haproxy
