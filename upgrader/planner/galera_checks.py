"""Galera health refusals: every node readable, Synced, Primary, in a cluster of >= 3."""
from __future__ import annotations

from collections.abc import Iterator

from upgrader.planner.names import one_line
from upgrader.planner.refusal import Context, Refusal

MIN_NODES = 3  # one node away must still leave a majority of 2


def galera_unreachable(ctx: Context) -> Iterator[Refusal]:
    for node in ctx.nodes:
        galera = node.galera
        if galera is None:
            yield Refusal("galera_unreachable", node.name, f"{node.name}: no Galera facts gathered")
        elif not galera.reachable:
            why = one_line(galera.error) or "no error given"
            yield Refusal("galera_unreachable", node.name, f"{node.name}: Galera unreachable: {why}")


def node_not_synced(ctx: Context) -> Iterator[Refusal]:
    for node, g in ctx.galera_nodes():
        state = g.local_state_comment or "(empty)"
        if state != "Synced":
            yield Refusal("node_not_synced", node.name,
                          f"{node.name}: wsrep_local_state_comment is {state}, not Synced")
        elif not g.ready:
            yield Refusal("node_not_synced", node.name, f"{node.name}: wsrep_ready is OFF")
        if g.desync:
            # Someone else holds this node desynced (a backup?); flow control is off for it.
            yield Refusal("node_not_synced", node.name, f"{node.name}: wsrep_desync is ON")


def cluster_size(ctx: Context) -> Iterator[Refusal]:
    cluster, count = ctx.facts.cluster, len(ctx.nodes)
    if count < MIN_NODES:
        yield Refusal("cluster_size", "",
                      f"{cluster}: only {count} nodes in facts; a rolling upgrade needs at least {MIN_NODES}")
    seen = ctx.galera_nodes()
    for node, g in seen:
        if g.cluster_size < MIN_NODES:
            yield Refusal("cluster_size", node.name,
                          f"{node.name}: wsrep_cluster_size is {g.cluster_size}, need at least {MIN_NODES}")
    sizes = {g.cluster_size for _, g in seen}
    if len(sizes) > 1:
        listing = ", ".join(f"{n.name}={g.cluster_size}" for n, g in seen)
        yield Refusal("cluster_size", "", f"{cluster}: nodes disagree on wsrep_cluster_size ({listing})")
    elif sizes and MIN_NODES <= (size := min(sizes)) < count:
        # Fewer members than nodes: one is outside the cluster. More is fine (garbd arbiter).
        yield Refusal("cluster_size", "",
                      f"{cluster}: wsrep_cluster_size is {size} but facts list {count} nodes")


def not_primary(ctx: Context) -> Iterator[Refusal]:
    for node, g in ctx.galera_nodes():
        if g.cluster_status != "Primary":
            status = g.cluster_status or "(empty)"
            yield Refusal("not_primary", node.name,
                          f"{node.name}: wsrep_cluster_status is {status}, not Primary")
