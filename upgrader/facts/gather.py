"""gather(): the one place that reads a live cluster's facts. Everything else is parsing."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Callable

from upgrader.errors import ProbeError
from upgrader.facts import galera, haproxy, host, packages, vrrp
from upgrader.facts.rabbitmq import parse_rabbit
from upgrader.inventory import Cluster, NodeAccess
from upgrader.model import (BalancerFacts, ClusterFacts, GaleraFacts, NodeFacts, RabbitFacts, VipFacts,
                            WriteRate)

Rows = dict[str, list[tuple[str, str]]]


def gather(cluster: Cluster, secrets: dict[str, str], *, sample_s: float = 2.0,
           sleep: Callable[[float], None] = time.sleep,
           sections: tuple[str, ...] = host.SECTION_NAMES) -> ClusterFacts:
    """Facts of every node, HAProxy's view, and the write rate over ``sample_s`` seconds.

    sections: the node script's sections to read (host.HEALTH_SECTIONS between two nodes).
    """
    password = secrets.get("mariadb_upgrader_password", "")
    sections = tuple(s for s in sections if s not in host.LB_SECTIONS)
    if cluster.balancers or cluster.vrrp_hosts:
        sections += host.LB_SECTIONS
    with ThreadPoolExecutor(max_workers=2 * len(cluster.nodes)) as pool:
        inside = {n.name: pool.submit(host.collect, n, names=sections, haproxy_socket=cluster.haproxy_socket)
                  for n in cluster.nodes}
        t0, first = time.monotonic(), _sample_all(pool, cluster, password)
        sleep(sample_s)
        t1, second = time.monotonic(), _sample_all(pool, cluster, password)
        sections = {name: f.result() for name, f in inside.items()}
    nodes = tuple(_node(n, second[n.name], sections[n.name]) for n in cluster.nodes)
    vip = _vip(cluster, sections)
    balancers = _balancers(cluster, sections)
    return ClusterFacts(
        cluster=cluster.name,
        gathered_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        nodes=nodes,
        haproxy=_haproxy(cluster, balancers, vip),
        balancers=balancers,
        vip=vip,
        write_rate=write_rate(first, second, t1 - t0),
        inventory_hosts=tuple(n.name for n in cluster.nodes),
        arbitrator=cluster.arbitrator,
    )


def _sample_all(pool: ThreadPoolExecutor, cluster: Cluster, password: str) -> dict[str, Rows | str]:
    futures = {n.name: pool.submit(_sample, n, cluster.db_user, password) for n in cluster.nodes}
    return {name: f.result() for name, f in futures.items()}


def _sample(node: NodeAccess, user: str, password: str) -> Rows | str:
    """Rows, or the one-line reason the node could not be read."""
    try:
        return galera.query(node.address, user, password, timeout=5)
    except Exception as e:  # pymysql raises several error types; each means "not readable"
        return " ".join(str(e).split())[:200] or type(e).__name__


def _node(access: NodeAccess, sample: Rows | str, inside: tuple[dict[str, str], str]) -> NodeFacts:
    sections, ssh_error = inside
    grastate = sections.get("grastate") or None
    if isinstance(sample, str):
        g: GaleraFacts = galera.unreachable(f"MariaDB at {access.address}: {sample}", grastate)
    else:
        g = galera.parse_wsrep(sample["status"], sample["variables"], grastate)
    if ssh_error:
        r = RabbitFacts(reachable=False, node_name=access.rabbit_node, error=ssh_error)
    else:
        r = parse_rabbit(access.rabbit_node, sections.get("rabbit_cluster", ""),
                         sections.get("rabbit_quorum_critical", ""))
    return NodeFacts(name=access.name, address=access.address, galera=g, rabbitmq=r,
                     versions=host.parse_versions(sections),
                     packages=packages.package_facts(sections.get("debs", ""), sections.get("policy", "")),
                     stale_libraries=packages.parse_stale(sections.get("stale", "")))


def write_rate(first: dict[str, Rows | str], second: dict[str, Rows | str], window_s: float) -> WriteRate:
    """Write-sets and bytes per second, from the node that saw the most of them.

    Every member counts every write-set once, as replicated (it originated there)
    or received (from another member), so one node's delta is the cluster's.
    """
    best = (0, 0)
    for name, a in first.items():
        b = second.get(name)
        if isinstance(a, str) or isinstance(b, str) or b is None:
            continue
        ga, gb = galera.parse_wsrep(a["status"], a["variables"]), galera.parse_wsrep(b["status"], b["variables"])
        d_seq = max(0, gb.last_committed - ga.last_committed)
        d_bytes = max(0, (gb.received_bytes + gb.replicated_bytes) - (ga.received_bytes + ga.replicated_bytes))
        best = max(best, (d_seq, d_bytes))
    if window_s <= 0:
        return WriteRate()
    d_seq, d_bytes = best
    return WriteRate(window_s=round(window_s, 3), seqno_per_s=round(d_seq / window_s, 3),
                     bytes_per_s=round(d_bytes / window_s, 1),
                     bytes_per_writeset=round(d_bytes / d_seq, 1) if d_seq else 0.0)


def _vip(cluster: Cluster, sections: dict[str, tuple[dict[str, str], str]]) -> VipFacts:
    if not cluster.vrrp_hosts:
        return VipFacts(address=cluster.vip)
    return vrrp.vip_facts(cluster.vip, {name: vrrp.parse_vrrp(sections[name][0].get("vrrp", ""), cluster.vip)
                                        for name in cluster.vrrp_hosts})


def _balancers(cluster: Cluster, sections: dict[str, tuple[dict[str, str], str]]) -> tuple[BalancerFacts, ...]:
    out = []
    backends = (cluster.db_backend, cluster.api_backend)
    for name in cluster.balancers:
        found, ssh_error = sections[name]
        text = found.get("haproxy_stat", "")
        if "pxname" not in text:
            why = ssh_error or f"admin socket {cluster.haproxy_socket} did not answer"
            out.append(BalancerFacts(host=name, error=why))
        else:
            out.append(BalancerFacts(host=name, servers=haproxy.parse_stat(text, backends=backends)))
    return tuple(out)


def _haproxy(cluster: Cluster, balancers: tuple[BalancerFacts, ...], vip: VipFacts) -> tuple:
    """The HAProxy the clients reach: the VIP holder's when the nodes balance, else the one socket."""
    if balancers:
        readable = [b for b in balancers if not b.error]
        chosen = next((b for b in readable if b.host in vip.holders), readable[0] if readable else None)
        return chosen.servers if chosen else ()
    try:
        text = haproxy.show_stat(cluster.haproxy_socket)
    except OSError as e:
        raise ProbeError(f"HAProxy admin socket {cluster.haproxy_socket}: {e.strerror or e}") from None
    return haproxy.parse_stat(text, backends=(cluster.db_backend, cluster.api_backend))
