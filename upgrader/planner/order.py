"""Roll order from live facts: writes move once, the bootstrap-flag node never goes first.

Rank, lowest first (ties by natural node name):
  0  takes no writes (HAProxy mariadb backup, or not in the mariadb backend)
  1  in HAProxy's MySQL pool but not the writer (multi-writer setups)
  2  grastate safe_to_bootstrap=1: never first, so just before the writer
  3  HAProxy's MySQL writer: last, so clients move to another node exactly once
"""
from __future__ import annotations

from dataclasses import dataclass

from upgrader.model import ClusterFacts, HaproxyServer
from upgrader.planner.names import natural_key

MYSQL_BACKEND = "mariadb"


@dataclass(frozen=True)
class Writer:
    name: str
    how: str          # "active" (HAProxy marks it) or "first_up" (fallback guess)


@dataclass(frozen=True)
class Slot:
    name: str
    position: int     # 1-based
    reason: str


_REASONS = {
    0: "takes no writes",
    1: "in HAProxy's MySQL pool but not the writer",
    2: "grastate safe_to_bootstrap=1: never first, so just before the writer",
    3: "HAProxy's active MySQL writer: last so writes move once",
}
_FALLBACK_WRITER_REASON = "first UP non-backup MySQL server (no active flag): last so writes move once"


def _mysql_servers(facts: ClusterFacts) -> list[HaproxyServer]:
    return [s for s in facts.haproxy if s.backend == MYSQL_BACKEND]


def mysql_writer(facts: ClusterFacts) -> Writer | None:
    """The node HAProxy sends MySQL writes to, or None when HAProxy shows none we know."""
    servers = _mysql_servers(facts)
    members = {n.name for n in facts.nodes}
    for server in servers:
        if server.active and server.server in members:
            return Writer(server.server, "active")
    for server in servers:
        if server.status.strip().upper() == "UP" and not server.backup and server.server in members:
            return Writer(server.server, "first_up")
    return None


def _rank(name: str, facts: ClusterFacts, writer: Writer | None) -> int:
    if writer is not None and name == writer.name:
        return 3
    galera = facts.node(name).galera
    if galera is not None and galera.grastate_safe_to_bootstrap:
        return 2
    in_pool = any(s.server == name and not s.backup for s in _mysql_servers(facts))
    return 1 if in_pool else 0


def roll_order(facts: ClusterFacts) -> tuple[Slot, ...]:
    writer = mysql_writer(facts)
    # NOTE: within a rank the VIP's holder (keepalived) goes last: the VIP then moves once,
    # and as late as it can.
    holders = set(facts.vip.holders)
    ranked = sorted(
        ((_rank(n.name, facts, writer), n.name in holders, natural_key(n.name), n.name) for n in facts.nodes)
    )
    slots = []
    for position, (rank, _, _, name) in enumerate(ranked, start=1):
        reason = _REASONS[rank]
        if rank == 3 and writer is not None and writer.how == "first_up":
            reason = _FALLBACK_WRITER_REASON
        slots.append(Slot(name, position, reason))
    return tuple(slots)


def order_warnings(facts: ClusterFacts) -> list[str]:
    if mysql_writer(facts) is None:
        return [f"{facts.cluster}: no HAProxy MySQL writer found; writes may move more than once"]
    return []


def vip_during(facts: ClusterFacts, order: tuple[str, ...]) -> dict[str, str]:
    """node -> where the VIP is when that node's window comes, for the plan's readers."""
    vip = facts.vip
    if not vip.managed:
        return {}
    if len(vip.holders) != 1:
        return {name: "held by no node or by several (refused)" for name in order}
    holder, out, moved = vip.holders[0], {}, False
    for name in order:
        if name == holder:
            out[name] = "held here: keepalived moves it to another node before the services stop"
            moved = True
        else:
            out[name] = f"elsewhere: moved off {holder} in its window" if moved else f"on {holder}"
    return out


def load_balancers_line(facts: ClusterFacts) -> str:
    """One line on the HAProxies and the VIP when the nodes run them ("" otherwise)."""
    parts = []
    if facts.balancers:
        readable = [b for b in facts.balancers if not b.error]
        views = {tuple((s.backend, s.server, s.status) for s in b.servers) for b in readable}
        agree = "in agreement" if len(views) <= 1 and len(readable) == len(facts.balancers) else "NOT in agreement"
        parts.append(f"HAProxy on {', '.join(b.host for b in facts.balancers)} ({agree})")
    vip = facts.vip
    if vip.managed:
        states = dict(vip.vrrp_states)
        held = ", ".join(f"{h} ({states.get(h) or 'state unknown'})" for h in vip.holders) or "no node"
        parts.append(f"VIP {vip.address} on {held}, moved by keepalived")
    return "; ".join(parts)
