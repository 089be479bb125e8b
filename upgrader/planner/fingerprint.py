"""Facts fingerprint and drift: is a plan still about the cluster we see now?

The fingerprint covers only facts that must not change between plan and apply
(membership, addresses, Galera identity, installed versions, the MySQL writer);
seqnos, rates and sessions move every second and are deliberately left out.
"""
from __future__ import annotations

from collections.abc import Collection

from upgrader.model import ClusterFacts, NodeFacts, Plan
from upgrader.planner.canonical import digest
from upgrader.planner.debversion import debian_compare
from upgrader.planner.names import sorted_names
from upgrader.planner.options import COMPONENTS
from upgrader.planner.order import mysql_writer
from upgrader.planner.versions import compare, installed


def stable_facts(facts: ClusterFacts) -> dict:
    """The fingerprint's input, exposed so a test or an operator can see what it covers."""
    nodes = sorted(facts.nodes, key=lambda n: (n.name, n.address))
    writer = mysql_writer(facts)
    galeras = [n.galera for n in facts.nodes if n.galera is not None and n.galera.reachable]
    return {
        "cluster": facts.cluster,
        "nodes": [_stable_node(n) for n in nodes],
        "cluster_state_uuids": sorted({g.cluster_state_uuid for g in galeras}),
        # NOTE: capped at the node count: the roll's own garbd (galera_arbitrator_join) is
        # one member more from its first step on, and a resumed run is not drift.
        "cluster_sizes": sorted({min(g.cluster_size, len(facts.nodes)) for g in galeras}),
        "writer": writer.name if writer else "",
        "inventory_hosts": sorted(facts.inventory_hosts),
    }


def _stable_node(node: NodeFacts) -> dict:
    stable = {"name": node.name, "address": node.address,
              "versions": {c: v for c in COMPONENTS if (v := installed(node, c))}}
    # Installed package versions only: security, candidate and available move with every
    # `apt update` and say nothing about what runs. Left out when none were gathered, so
    # facts without packages fingerprint as they always did.
    if node.packages:
        stable["packages"] = {p.name: p.version for p in node.packages}
    return stable


def facts_fingerprint(facts: ClusterFacts) -> str:
    return digest(stable_facts(facts))


def drift(plan: Plan, facts: ClusterFacts, *, rolled: Collection[str] = ()) -> list[str]:
    """One line per difference that makes ``plan`` stale; empty when it still applies.

    ``rolled`` names the nodes this plan already upgraded: their versions legitimately
    moved, so the fingerprint is not compared and they must report the targets instead.
    """
    lines = _cluster_drift(plan, facts) + _membership_drift(plan, facts)
    lines += _writer_drift(plan, facts, rolled)
    lines += _rolled_drift(plan, facts, rolled)
    if rolled:
        lines += _pending_drift(plan, facts, rolled)
    fingerprint = facts_fingerprint(facts)
    if not rolled and not lines and fingerprint != plan.facts_fingerprint:
        lines.append(
            f"{facts.cluster}: addresses, cluster uuid/size, installed versions or inventory changed "
            f"since the plan (fingerprint {fingerprint[:12]}, plan has {plan.facts_fingerprint[:12]})"
        )
    return lines


def _cluster_drift(plan: Plan, facts: ClusterFacts) -> list[str]:
    if facts.cluster == plan.cluster:
        return []
    return [f"{facts.cluster}: facts are for cluster {facts.cluster}, the plan for {plan.cluster}"]


def _membership_drift(plan: Plan, facts: ClusterFacts) -> list[str]:
    planned, present = set(plan.order), {n.name for n in facts.nodes}
    lines = [f"{name}: in the plan but missing from facts" for name in sorted_names(planned - present)]
    lines += [f"{name}: in facts but not in the plan" for name in sorted_names(present - planned)]
    return lines


def _writer_drift(plan: Plan, facts: ClusterFacts, rolled: Collection[str]) -> list[str]:
    # The plan rolls the writer last; once that last node is in flight HAProxy moves writes.
    if not plan.order or plan.order[-1] in rolled:
        return []
    writer = mysql_writer(facts)
    if writer is None or writer.name == plan.order[-1]:
        return []
    planned = plan.order[-1]
    return [f"{writer.name}: now HAProxy's MySQL writer, but the plan rolls {planned} last as the writer"]


def _rolled_drift(plan: Plan, facts: ClusterFacts, rolled: Collection[str]) -> list[str]:
    lines = []
    present = {n.name: n for n in facts.nodes}
    for name in sorted_names(set(rolled) & set(present)):
        for component, target in sorted(plan.targets.items()):
            current = installed(present[name], component)
            if compare(current, target) != 0:
                lines.append(
                    f"{name}: rolled, but {component} is {current or 'unknown'}, not the target {target}"
                )
        lines += _package_drift(plan, present[name], rolled=True)
    return lines


def _pending_drift(plan: Plan, facts: ClusterFacts, rolled: Collection[str]) -> list[str]:
    """Nodes still to roll must hold what the plan moves them from (or already the target).

    The fingerprint is not compared once a node has rolled, so this is what notices an
    unattended upgrade under a node that waits its turn.
    """
    present = {n.name: n for n in facts.nodes}
    return [line for name in sorted_names(set(present) - set(rolled))
            for line in _package_drift(plan, present[name], rolled=False)]


def _package_drift(plan: Plan, node: NodeFacts, *, rolled: bool) -> list[str]:
    planned = next((n for n in plan.nodes if n.name == node.name), None)
    if planned is None:
        return []
    now = {p.name: p.version for p in node.packages}
    lines = []
    for change in planned.package_changes:
        current = now.get(change.name, "")
        allowed = (change.to_version,) if rolled else (change.from_version, change.to_version)
        if any(debian_compare(current, v) == 0 for v in allowed if current):
            continue
        shown = current or "not installed"
        if rolled:
            lines.append(f"{node.name}: rolled, but {change.name} is {shown}, not the target {change.to_version}")
        else:
            lines.append(f"{node.name}: {change.name} is {shown}, but the plan moves it from "
                         f"{change.from_version} to {change.to_version}")
    return lines
