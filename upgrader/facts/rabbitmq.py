"""RabbitMQ facts: a pure parser of `rabbitmqctl cluster_status` JSON."""
from __future__ import annotations

import json

from upgrader.model import RabbitFacts


def parse_rabbit(node_name: str, cluster_json: str, quorum_critical_rc: str) -> RabbitFacts:
    """RabbitFacts for one node, from its `cluster_status` JSON; a node whose CLI does not
    answer is reported not running.

    NOTE: cluster_status alone, not `rabbitmq-diagnostics status` too: it already holds
    each member's maintenance status and version, and every CLI call boots an Erlang VM
    (1.2-1.5 s of CPU) on each node of each gather, the health check between two nodes
    of a roll included.
    """
    try:
        cluster = json.loads(cluster_json) if cluster_json.strip() else None
    except json.JSONDecodeError as e:
        return RabbitFacts(reachable=True, node_name=node_name, error=f"unparsable CLI output: {e}")
    if cluster is None:
        return RabbitFacts(reachable=True, node_name=node_name, running=False,
                           error="rabbitmq-server is not running")
    version = (cluster.get("versions") or {}).get(node_name) or {}
    return RabbitFacts(
        reachable=True,
        node_name=node_name,
        running=True,
        running_nodes=tuple(sorted(cluster.get("running_nodes", []))),
        disk_nodes=tuple(sorted(cluster.get("disk_nodes", []))),
        alarms=tuple(_alarm_text(a) for a in (cluster.get("alarms") or [])),
        partitions=tuple(sorted(_partition_nodes(cluster.get("partitions")))),
        under_maintenance=_under_maintenance((cluster.get("maintenance_status") or {}).get(node_name)),
        # check_if_node_is_quorum_critical exits non-zero when stopping this node loses a majority
        quorum_critical=quorum_critical_rc.strip() not in ("", "0"),
        version=str(version.get("rabbitmq_version", "")) if isinstance(version, dict) else "",
    )


def _under_maintenance(status: object) -> bool:
    """3.10 prints "not under maintenance", or "marked for maintenance" (in ANSI colour
    codes even in JSON) once the node is drained."""
    return isinstance(status, str) and "maintenance" in status and "not under" not in status


def _alarm_text(alarm: object) -> str:
    if isinstance(alarm, dict):
        kind = " ".join(str(alarm[k]) for k in ("type", "resource") if alarm.get(k)) or "alarm"
        return f"{kind} on {alarm.get('node', '?')}"
    return str(alarm)


def _partition_nodes(partitions: object) -> list[str]:
    """The peers some node cannot reach (cluster_status maps reporter -> unreachable peers)."""
    if isinstance(partitions, dict):
        return sorted({str(peer) for peers in partitions.values() for peer in (peers or [])})
    if isinstance(partitions, list):
        return [str(p) for p in partitions]
    return []
