"""RabbitMQ facts: pure parsers of `rabbitmq-diagnostics status` / `cluster_status` JSON."""
from __future__ import annotations

import json

from upgrader.model import RabbitFacts


def parse_rabbit(node_name: str, status_json: str, cluster_json: str, quorum_critical_rc: str) -> RabbitFacts:
    """RabbitFacts for one node; a node whose CLI does not answer is reported not running."""
    try:
        status = json.loads(status_json) if status_json.strip() else None
        cluster = json.loads(cluster_json) if cluster_json.strip() else None
    except json.JSONDecodeError as e:
        return RabbitFacts(reachable=True, node_name=node_name, error=f"unparsable CLI output: {e}")
    if status is None or cluster is None:
        return RabbitFacts(reachable=True, node_name=node_name, running=False,
                           error="rabbitmq-server is not running")
    return RabbitFacts(
        reachable=True,
        node_name=node_name,
        running=True,
        running_nodes=tuple(sorted(cluster.get("running_nodes", []))),
        disk_nodes=tuple(sorted(cluster.get("disk_nodes", []))),
        alarms=tuple(_alarm_text(a) for a in (cluster.get("alarms") or status.get("alarms") or [])),
        partitions=tuple(sorted(_partition_nodes(cluster.get("partitions")))),
        under_maintenance=bool(status.get("is_under_maintenance", False)),
        # check_if_node_is_quorum_critical exits non-zero when stopping this node loses a majority
        quorum_critical=quorum_critical_rc.strip() not in ("", "0"),
        version=str(status.get("rabbitmq_version", "")),
    )


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
