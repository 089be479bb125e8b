"""Pure builders of the live snapshots: probe figures and the health document.

Everything here takes values already read (samples, parsed facts, CLI output) and
returns plain dicts for health.json / probe.json, so it is tested without a cluster.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

from upgrader.model import GaleraFacts, HaproxyServer
from upgrader.probe.record import Sample, percentile

SPARK_STEP_S = 2.0        # one sparkline bar per 2 s of traffic
SPARK_BARS = 30           # one minute
NOW_WINDOW_S = 30.0       # "now" figures: the last 30 s


def probe_figures(samples: list[Sample], baseline_end: float, now: float,
                  budget: int = 0) -> dict[str, Any]:
    """Operations and failures since the roll began, p50/p99 now and at baseline, a sparkline."""
    base = [s for s in samples if baseline_end and s.t < baseline_end]
    during = [s for s in samples if not baseline_end or s.t >= baseline_end]
    recent = [s for s in during if s.t >= now - NOW_WINDOW_S]
    failed = [s for s in during if not s.ok]
    return {
        "baseline_done": bool(baseline_end) and now >= baseline_end,
        "operations": len(during), "failed": len(failed), "budget": budget,
        "disconnects": sum(s.disconnects for s in during),
        "now": _latency(recent), "baseline": _latency(base),
        "last_error": f"{failed[-1].kind}: {failed[-1].error}" if failed else "",
        "spark_step_s": SPARK_STEP_S,
        "spark_ms": sparkline_series(samples, now),
    }


def _latency(samples: list[Sample]) -> dict[str, Any]:
    ok = [s.latency_ms for s in samples if s.ok]
    return {"operations": len(samples), "p50_ms": percentile(ok, 50), "p99_ms": percentile(ok, 99)}


def sparkline_series(samples: Iterable[Sample], now: float, step_s: float = SPARK_STEP_S,
                     bars: int = SPARK_BARS) -> list[float | None]:
    """The slowest operation in each step_s bucket of the last bars*step_s seconds.

    The maximum, not a percentile: a bucket holds ~15 operations, and the stall a
    Galera join causes is one slow commit that a median would hide. None: no traffic.
    """
    worst: list[float | None] = [None] * bars
    start = now - bars * step_s
    for s in samples:
        i = int((s.t - start) // step_s)
        if 0 <= i < bars:         # a failed operation counts with the time it took to fail
            worst[i] = round(max(worst[i] or 0.0, s.latency_ms), 1)
    return worst


# --------------------------------------------------------------------------- health


def galera_entry(facts: GaleraFacts) -> dict[str, Any]:
    """The few wsrep figures the health panel shows for one node."""
    if not facts.reachable:
        return {"reachable": False, "error": facts.error}
    return {"reachable": True, "state": facts.local_state_comment, "cluster_size": facts.cluster_size,
            "cluster_status": facts.cluster_status, "ready": facts.ready, "desync": facts.desync}


def haproxy_entry(servers: Iterable[HaproxyServer]) -> dict[str, dict[str, dict[str, Any]]]:
    """{backend: {server: {status, active, backup, sessions}}}."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for s in servers:
        out.setdefault(s.backend, {})[s.server] = {"status": s.status, "active": s.active,
                                                   "backup": s.backup, "sessions": s.sessions}
    return out


_ANSI = re.compile(r"(\x1b|\ub100)\[[0-9;]*m")   # 3.10 colours its JSON (seen as \ub100[35m)


def rabbit_entry(cluster_json: str, asked: str) -> dict[str, Any]:
    """Members, running nodes and maintenance from ``rabbitmqctl cluster_status --formatter json``."""
    try:
        doc = json.loads(cluster_json) if cluster_json.strip() else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return {"from": asked, "error": f"{asked}: no cluster status (broker not running?)"}
    maintenance = sorted(node for node, text in (doc.get("maintenance_status") or {}).items()
                         if _under_maintenance(str(text)))
    partitions = doc.get("partitions") or {}
    return {
        "from": asked, "error": "",
        "members": sorted(doc.get("disk_nodes") or []) + sorted(doc.get("ram_nodes") or []),
        "running": sorted(doc.get("running_nodes") or []),
        "maintenance": maintenance,
        "partitioned": sorted(partitions) if isinstance(partitions, dict) else [],
        "alarms": len(doc.get("alarms") or []),
    }


def _under_maintenance(text: str) -> bool:
    words = _ANSI.sub("", text).lower()
    return "maintenance" in words and not words.startswith("not ")
