"""inventory_mismatch: the inventory, the facts and Galera must agree on who the members are."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from upgrader.planner.names import host_of, sorted_names
from upgrader.planner.refusal import Context, Refusal


def inventory_hosts(ctx: Context) -> Iterator[Refusal]:
    hosts = set(ctx.facts.inventory_hosts)
    names = [n.name for n in ctx.nodes]
    counts = Counter(names)
    for name in sorted_names(counts):
        count = counts[name]
        if count > 1:
            yield Refusal("inventory_mismatch", name, f"{name}: listed {count} times in facts")
    if not hosts:
        return  # facts that do not carry the inventory cannot be compared to it
    for name in sorted_names(hosts - set(names)):
        yield Refusal("inventory_mismatch", name, f"{name}: in the inventory but missing from facts")
    for name in sorted_names(set(names) - hosts):
        yield Refusal("inventory_mismatch", name, f"{name}: in facts but not in the inventory")


def galera_addresses(ctx: Context) -> Iterator[Refusal]:
    """Each readable node's address must be in every other node's wsrep_incoming_addresses."""
    seen = ctx.galera_nodes()
    for node, _ in seen:
        host = host_of(node.address)
        lacking = [other.name for other, g in seen
                   if other.name != node.name
                   and host not in {host_of(a) for a in g.incoming_addresses}]
        if lacking:
            others = ", ".join(lacking)
            yield Refusal("inventory_mismatch", node.name,
                          f"{node.name}: address {host} is not in wsrep_incoming_addresses of {others}")


def cluster_uuid(ctx: Context) -> Iterator[Refusal]:
    seen = ctx.galera_nodes()
    if len({g.cluster_state_uuid for _, g in seen}) > 1:
        listing = ", ".join(f"{n.name}={g.cluster_state_uuid or '(empty)'}" for n, g in seen)
        yield Refusal("inventory_mismatch", "",
                      f"{ctx.facts.cluster}: nodes report different cluster_state_uuid ({listing})")
