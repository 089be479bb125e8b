"""The run report: what happened, per node and per step, rebuilt from the journal alone."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table

from upgrader.fileio import write_atomic
from upgrader.journal import RunProgress, read_records, replay
from upgrader.model import Plan


def build_report(plan: Plan, journal_path: Path, result: str, message: str = "",
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    progress = replay(journal_path)
    records = [r for _, r in read_records(journal_path)]
    started = records[0]["ts"] if records else ""
    finished = records[-1]["ts"] if records else ""
    report: dict[str, Any] = {
        "run_id": progress.run_id, "plan_id": plan.plan_id, "cluster": plan.cluster,
        "kind": plan.kind, "targets": plan.targets, "result": result, "message": message,
        "run_state": progress.run_state.value, "started_at": started, "finished_at": finished,
        "wall_s": _seconds(started, finished), "order": list(plan.order),
        "nodes": {name: {**_node(progress, name), **_verified(records, name), **_vip(records, name)}
                  for name in plan.order},
        "cluster_steps": {s.step: _step(s) for s in progress.steps if not s.node},
    }
    report.update(extra or {})
    return report


def _node(progress: RunProgress, name: str) -> dict[str, Any]:
    p = progress.nodes.get(name)
    steps = [s for s in progress.steps if s.node == name]
    durations: dict[str, float] = {}
    for s in steps:   # a step re-run after a crash or a failure adds to its time
        if s.duration_s is not None:
            durations[s.step] = round(durations.get(s.step, 0.0) + s.duration_s, 2)
    window = _seconds(steps[0].started_at, steps[-1].finished_at) if steps and steps[-1].finished_at else None
    return {
        "state": p.state.value if p else "pending",
        "version_before": p.version_before if p else None,
        "version_after": p.version_after if p else None,
        "transfer": (p.transfer if p else "") or None,
        "window_s": window,
        "steps": durations,
        "failed_step": p.failed_step if p and p.failed_step else None,
        "error": p.last_error if p and p.last_error else None,
        "attempts": {s.step: s.attempt for s in steps if s.attempt > 1},
    }


def _verified(records: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """What the node's last successful verify_node saw running: server version, the cluster's
    size (3 while the others still run the old version proves a mixed-version cluster at full
    size), stale libraries."""
    found = [r for r in records if r.get("type") == "step_finished" and r.get("node") == name
             and r.get("step") == "verify_node" and r.get("ok")]
    if not found:
        return {}
    last = found[-1]
    size = str(last.get("galera_cluster_size", ""))
    return {"server_version": last.get("galera_server_version"),
            "cluster_size_at_verify": int(size) if size.isdigit() else None,
            "stale_libraries_after": last.get("stale_libraries", []),
            "reloaded": last.get("reloaded", [])}


def _vip(records: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Where keepalived's VIP was before and after the node's window, from its last
    successful stop_services (which moves it off a holder); {} with a static VIP."""
    found = [r for r in records if r.get("type") == "step_finished" and r.get("node") == name
             and r.get("step") == "stop_services" and r.get("ok") and r.get("vip_holder")]
    if not found:
        return {}
    last = found[-1]
    held = str(last.get("vip_held", "")).lower() == "true"
    move_ms = str(last.get("vip_move_ms", ""))
    return {"vip": {"before": name if held else last["vip_holder"], "after": last["vip_holder"],
                    "moved": held, "move_ms": int(move_ms) if move_ms.isdigit() else None}}


def _step(s) -> dict[str, Any]:
    return {"ok": s.ok, "duration_s": s.duration_s, "artifact_id": s.artifact_id}


def _seconds(start: str, end: str) -> float | None:
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)
    except (TypeError, ValueError):
        return None


def write_report(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(report, indent=2) + "\n")    # 0600: it names hosts, versions and timings
    return path


def node_lines(progress: RunProgress) -> list[str]:
    """One line per node, as the journal has it: its state, a step in flight, a failed step."""
    in_flight = progress.in_flight()
    lines = []
    for name, node in progress.nodes.items():
        line = f"  {name}: {node.state.value}"
        if name in in_flight:
            line += f", {in_flight[name].step} in flight"
        if node.failed_step:
            line += f", {node.failed_step} failed: {node.last_error or 'no message'}"
        lines.append(line)
    if "" in in_flight:
        lines.append(f"  cluster step {in_flight[''].step} in flight")
    return lines


def summary_table(report: dict[str, Any]) -> Table:
    t = Table(title=f"run {report['run_id']}: {report['result']}")
    for col in ("node", "state", "before", "after", "transfer", "window", "slowest step"):
        t.add_column(col)
    for name, n in report["nodes"].items():
        slowest = max(n["steps"].items(), key=lambda kv: kv[1]) if n["steps"] else ("-", 0)
        t.add_row(name, n["state"], _v(n["version_before"]), _v(n["version_after"]),
                  n["transfer"] or "-", f"{n['window_s']:.1f}s" if n["window_s"] else "-",
                  f"{slowest[0]} {slowest[1]:.1f}s" if n["steps"] else "-")
    t.caption = f"wall time {report['wall_s']} s" if report.get("wall_s") is not None else None
    return t


def _v(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    return str(value) if value else "-"
