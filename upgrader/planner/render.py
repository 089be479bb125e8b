"""Views of a Plan: a rich table for people, a plain dict for --json and the TUI."""
from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from upgrader.model import NodePlan, Plan, PlanStep
from upgrader.planner.restarts import shown


def total_estimate_s(plan: Plan) -> float:
    steps = plan.preparation + plan.finalization
    return sum(s.estimate_s for s in steps) + sum(n.estimate_s for n in plan.nodes)


def _transfer(node: NodePlan) -> Text:
    return Text("IST", style="green") if node.ist_feasible else Text("SST risk", style="bold red")


def _cluster_steps(label: str, steps: tuple[PlanStep, ...]) -> list[Text]:
    return [Text(f"{label}: {s.name} ({s.estimate_s:.0f}s) {s.description}", style="dim") for s in steps]


def _node_table(plan: Plan) -> Table:
    title = f"{plan.plan_id} ({plan.kind}): {plan.cluster}"
    table = Table(title=title, caption=f"estimated total {total_estimate_s(plan):.0f}s")
    for column, justify in (("#", "right"), ("node", "left"), ("why here", "left"),
                            ("rejoin", "left"), ("donor", "left"), ("gap", "right"), ("est.", "right")):
        table.add_column(column, justify=justify)
    for node in plan.nodes:
        table.add_row(str(node.position), node.name, node.reason, _transfer(node),
                      node.donor or "-", str(node.predicted_gap_writesets), f"{node.estimate_s:.0f}s")
    return table


def package_lines(plan: Plan) -> list[str]:
    """Per node, each package change "name from -> to" and the restarts it needs.

    Nothing when the plan names no package target; a node with nothing to change says so,
    unless it is refused (its reason is listed with the refusals).
    """
    if not plan.package_targets:
        return []
    asked = ", ".join(f"{name}={target}" for name, target in sorted(plan.package_targets.items()))
    lines = [f"package targets: {asked}"]
    for node in plan.nodes:
        lines += _node_package_lines(plan, node)
    if plan.mariadb_upgrade:
        lines.append("mariadb-upgrade runs on each node once its server has started")
    return lines


def _node_package_lines(plan: Plan, node: NodePlan) -> list[str]:
    if not node.package_changes:
        refused = any(line.startswith(f"{node.name}: ") for line in plan.refusals)
        return [f"{node.name}: {'refused, see below' if refused else 'already at the target'}"]
    count = len(node.package_changes)
    width = max(len(c.name) for c in node.package_changes)
    lines = [f"{node.name}: {count} {'package' if count == 1 else 'packages'}"]
    lines += [f"  {c.name:<{width}}  {c.from_version} -> {c.to_version}" for c in node.package_changes]
    # its own line: four services and a node name would not fit 80 columns beside the count
    lines.append(f"  then restart {', '.join(shown(s) for s in node.restarts) or 'nothing'}")
    return lines


def plan_table(plan: Plan) -> Group:
    """The node table, cluster steps, packages, then refusals (red) and warnings (yellow)."""
    parts: list[Any] = _cluster_steps("before", plan.preparation)
    parts.append(_node_table(plan))
    parts += _cluster_steps("after", plan.finalization)
    parts += [Text(line) for line in package_lines(plan)]
    parts += [Text(f"load balancers: {plan.load_balancers}")] if plan.load_balancers else []
    parts += [Text(f"VIP during {node.name}: {node.vip}") for node in plan.nodes if node.vip]
    parts += [Text(f"refused: {line}", style="bold red") for line in plan.refusals]
    parts += [Text(f"warning: {line}", style="yellow") for line in plan.warnings]
    return Group(*parts)


def _step_list(steps: tuple[PlanStep, ...]) -> list[dict[str, Any]]:
    return [{"name": s.name, "estimate_s": s.estimate_s, "description": s.description} for s in steps]


def _node_json(node: NodePlan) -> dict[str, Any]:
    return {
        "position": node.position,
        "reason": node.reason,
        "steps": [s.name for s in node.steps],
        "estimates": {s.name: s.estimate_s for s in node.steps},
        "ist_feasible": node.ist_feasible,
        "predicted_gap_writesets": node.predicted_gap_writesets,
        "donor": node.donor,
        "donor_window_writesets": node.donor_window_writesets,
        "estimate_s": node.estimate_s,
        "package_changes": [{"name": c.name, "from_version": c.from_version, "to_version": c.to_version}
                            for c in node.package_changes],
        "restarts": list(node.restarts),
        "vip": node.vip,
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "plan_id": plan.plan_id,
        "plan_hash": plan.plan_hash,
        "cluster": plan.cluster,
        "created_at": plan.created_at,
        "kind": plan.kind,
        "targets": dict(plan.targets),
        "order": list(plan.order),
        "nodes": {node.name: _node_json(node) for node in plan.nodes},
        "preparation": _step_list(plan.preparation),
        "finalization": _step_list(plan.finalization),
        "refusals": list(plan.refusals),
        "warnings": list(plan.warnings),
        "facts_fingerprint": plan.facts_fingerprint,
        "packages": list(plan.packages),
        "package_targets": dict(plan.package_targets),
        "mariadb_upgrade": plan.mariadb_upgrade,
        "load_balancers": plan.load_balancers,
        "estimate_s": total_estimate_s(plan),
        "safe": not plan.refusals,
    }
