"""IST feasibility: will a donor's gcache still hold every write-set the node misses?

Galera serves IST only if all missing write-sets are in a donor's gcache (a ring
buffer of gcache.size bytes), so the question is one of capacity: the predicted gap,
in bytes, must fit the best donor's gcache.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from upgrader.model import ClusterFacts, GaleraFacts
from upgrader.planner.names import natural_key
from upgrader.planner.options import PlanOptions
from upgrader.planner.steps import downtime_s

MIB = 1024 * 1024
START_WRITES = 4  # write-sets a MariaDB start itself commits (mysql.* / wsrep bookkeeping)


@dataclass(frozen=True)
class Donor:
    name: str
    window_writesets: int   # write-sets of average size its gcache holds
    gcache_bytes: int


@dataclass(frozen=True)
class IstVerdict:
    node: str
    feasible: bool
    gap_writesets: int
    gap_bytes: int
    donor: str              # recommended donor, "" when no node can donate
    donor_window_writesets: int
    warning: str = ""       # one line; set when the rejoin is an SST risk


def predicted_gap(seqno_per_s: float, downtime: float, margin: float) -> int:
    return math.ceil(seqno_per_s * downtime * margin) + START_WRITES


def _window(galera: GaleraFacts, bytes_per_writeset: float) -> int:
    if bytes_per_writeset > 0:
        return int(galera.gcache_size_bytes // bytes_per_writeset)
    # No write-set size measured: capacity cannot be the limit; report what it holds now.
    return max(galera.last_committed - galera.local_cached_downto + 1, 0)


def donors(facts: ClusterFacts, node: str) -> list[Donor]:
    """Other Synced nodes, best first: widest window, ties by natural name."""
    bpw = facts.write_rate.bytes_per_writeset
    found = [
        Donor(n.name, _window(n.galera, bpw), n.galera.gcache_size_bytes)
        for n in facts.nodes
        if n.name != node and n.galera is not None and n.galera.reachable
        and n.galera.local_state_comment == "Synced"
    ]
    return sorted(found, key=lambda d: (-d.window_writesets, natural_key(d.name)))


def ist_verdict(facts: ClusterFacts, node: str, options: PlanOptions, package_changes: int = 0) -> IstVerdict:
    """``package_changes`` lengthen this node's upgrade step, so its downtime and gap."""
    rate = facts.write_rate
    downtime = downtime_s(options, package_changes)
    gap = predicted_gap(rate.seqno_per_s, downtime, options.ist_margin)
    gap_bytes = math.ceil(gap * rate.bytes_per_writeset)
    candidates = donors(facts, node)
    if not candidates:
        warning = f"{node}: SST risk: no other node is Synced to donate IST"
        return IstVerdict(node, False, gap, gap_bytes, "", 0, warning)
    best = candidates[0]
    feasible = gap_bytes <= best.gcache_bytes or rate.bytes_per_writeset <= 0
    warning = "" if feasible else _sst_warning(node, gap, gap_bytes, best, downtime, options)
    return IstVerdict(node, feasible, gap, gap_bytes, best.name, best.window_writesets, warning)


def ist_verdicts(facts: ClusterFacts, options: PlanOptions,
                 package_changes: dict[str, int] | None = None) -> dict[str, IstVerdict]:
    counts = package_changes or {}
    return {n.name: ist_verdict(facts, n.name, options, counts.get(n.name, 0)) for n in facts.nodes}


def _sst_warning(
    node: str, gap: int, gap_bytes: int, best: Donor, downtime: float, options: PlanOptions
) -> str:
    need_mib = math.ceil(gap_bytes / MIB)
    head = (
        f"{node}: SST risk: predicted gap {gap} write-sets ({gap_bytes / MIB:.1f} MiB) "
        f"exceeds the best donor's gcache ({best.name}: {best.gcache_bytes / MIB:.1f} MiB); "
        f"set gcache.size >= {need_mib}M on the donors"
    )
    # Solve ceil(r * downtime * margin) + START_WRITES <= window for the write rate r.
    seconds_at_risk = downtime * options.ist_margin
    if seconds_at_risk <= 0 or best.window_writesets <= START_WRITES:
        return head
    # Floor to 0.1 so the advertised rate really fits.
    max_rate = math.floor((best.window_writesets - START_WRITES) / seconds_at_risk * 10) / 10
    if max_rate <= 0:
        return head
    return f"{head} or roll while writes stay under {max_rate:.1f} write-sets/s"
