"""RabbitMQ and HAProxy refusals: every broker running everywhere, every LB server UP."""
from __future__ import annotations

from collections.abc import Iterator

from upgrader.planner.names import natural_key, one_line
from upgrader.planner.refusal import Context, Refusal

LB_BACKENDS = ("mariadb", "keystone")  # the backends the roll drains and undrains


def _broker_name(node_name: str, rabbit_name: str) -> str:
    return rabbit_name or f"rabbit@{node_name}"


def rabbit_unreachable(ctx: Context) -> Iterator[Refusal]:
    for node in ctx.nodes:
        rabbit = node.rabbitmq
        if rabbit is None:
            yield Refusal("rabbit_unreachable", node.name, f"{node.name}: no RabbitMQ facts gathered")
        elif not rabbit.reachable:
            why = one_line(rabbit.error) or "no error given"
            yield Refusal("rabbit_unreachable", node.name, f"{node.name}: RabbitMQ unreachable: {why}")


def rabbit_down(ctx: Context) -> Iterator[Refusal]:
    seen = ctx.rabbit_nodes()
    for node, r in seen:
        if not r.running:
            yield Refusal("rabbit_down", node.name, f"{node.name}: RabbitMQ app is not running")
        if r.under_maintenance:
            yield Refusal("rabbit_down", node.name,
                          f"{node.name}: RabbitMQ node is under maintenance (drained)")
        broker = _broker_name(node.name, r.node_name)
        missing = [other.name for other, o in seen
                   if other.name != node.name and broker not in o.running_nodes]
        if missing:
            yield Refusal("rabbit_down", node.name,
                          f"{node.name}: {broker} is missing from running_nodes of {', '.join(missing)}")


def rabbit_partitioned(ctx: Context) -> Iterator[Refusal]:
    for node, r in ctx.rabbit_nodes():
        if r.partitions:
            yield Refusal("rabbit_partitioned", node.name,
                          f"{node.name}: RabbitMQ reports a partition with {', '.join(r.partitions)}")


def rabbit_alarm(ctx: Context) -> Iterator[Refusal]:
    for node, r in ctx.rabbit_nodes():
        if r.alarms:
            yield Refusal("rabbit_alarm", node.name,
                          f"{node.name}: RabbitMQ alarm set: {', '.join(r.alarms)}")


def haproxy_server_down(ctx: Context) -> Iterator[Refusal]:
    for backend in LB_BACKENDS:
        servers = sorted((s for s in ctx.facts.haproxy if s.backend == backend),
                         key=lambda s: natural_key(s.server))
        if not servers:
            yield Refusal("haproxy_server_down", "",
                          f"{ctx.facts.cluster}: HAProxy backend {backend} has no servers in facts")
        for s in servers:
            status = s.status.strip().upper()
            if status != "UP":
                yield Refusal("haproxy_server_down", s.server,
                              f"{s.server}: HAProxy {backend}/{s.server} is {s.status or '(empty)'}, not UP")


def haproxy_membership(ctx: Context) -> Iterator[Refusal]:
    """HAProxy server names must be the node names, or drains would hit the wrong server."""
    names = [n.name for n in ctx.nodes]
    for backend in LB_BACKENDS:
        servers = {s.server for s in ctx.facts.haproxy if s.backend == backend}
        if not servers:
            continue  # reported once by haproxy_server_down
        for name in names:
            if name not in servers:
                yield Refusal("inventory_mismatch", name,
                              f"{name}: not a server of HAProxy backend {backend}")
        for server in sorted(servers - set(names), key=natural_key):
            yield Refusal("inventory_mismatch", server,
                          f"{server}: HAProxy {backend}/{server} is not a node in facts")


def haproxy_disagree(ctx: Context) -> Iterator[Refusal]:
    """With an HAProxy on every node, each must see every server the same way.

    NOTE: a drain acts on every HAProxy; one that still sends a server traffic (a
    missed reload, a stale state file) would keep feeding a node being stopped.
    """
    balancers = ctx.facts.balancers
    for b in balancers:
        if b.error:
            yield Refusal("haproxy_disagree", b.host, f"{b.host}: HAProxy unreadable: {one_line(b.error)}")
    readable = [b for b in balancers if not b.error]
    keys = sorted({(s.backend, s.server) for b in readable for s in b.servers},
                  key=lambda k: (k[0], natural_key(k[1])))
    for backend, server in keys:
        seen = {b.host: next((s.status for s in b.servers if (s.backend, s.server) == (backend, server)),
                             "missing") for b in readable}
        if len(set(seen.values())) > 1:
            views = ", ".join(f"{status} on {host}" for host, status in seen.items())
            yield Refusal("haproxy_disagree", server, f"{server}: HAProxies disagree about {backend}/{server}: {views}")


def vip_not_held_once(ctx: Context) -> Iterator[Refusal]:
    vip = ctx.facts.vip
    if not vip.managed or len(vip.holders) == 1:
        return
    who = ", ".join(vip.holders) if vip.holders else "no node"
    yield Refusal("vip_not_held_once", "",
                  f"{ctx.facts.cluster}: the VIP {vip.address} is held by {who}; keepalived must hold it on exactly one")
