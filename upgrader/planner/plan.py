"""build_plan: facts + options -> Plan. Pure: no I/O, and the clock is an argument.

A Plan always comes back, refused or not; ``plan.refusals`` says whether it may run.
Its hash covers every field except plan_hash and plan_id (the id embeds the hash).
"""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone
from typing import Any

from upgrader.errors import ConfigError
from upgrader.model import ClusterFacts, NodePlan, Plan
from upgrader.planner.canonical import digest
from upgrader.planner.fingerprint import drift, facts_fingerprint  # noqa: F401  (public here too)
from upgrader.planner.ist import IstVerdict, ist_verdicts
from upgrader.planner.options import PlanOptions
from upgrader.planner.order import Slot, load_balancers_line, roll_order, vip_during
from upgrader.planner.package_checks import mariadb_upgrade_needed
from upgrader.planner.packages import NodePackages, moving_packages, resolve
from upgrader.planner.refusal import make_context, package_counts
from upgrader.planner.safety import advisories, all_refusals, forced_warnings
from upgrader.planner.steps import finalization_steps, node_steps, preparation_steps
from upgrader.planner.versions import plan_kind

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def build_plan(
    facts: ClusterFacts, options: PlanOptions, *, created_at: str, inventory: str = ""
) -> Plan:
    # Packages first: how many a node installs lengthens its downtime, so its IST verdict.
    packages = resolve(facts, options.package_targets)
    verdicts = ist_verdicts(facts, options, package_counts(packages))
    ctx = make_context(facts, options, verdicts, packages)
    found = all_refusals(facts, options, ctx=ctx)
    slots = roll_order(facts)
    vip = vip_during(facts, tuple(slot.name for slot in slots))
    draft = Plan(
        plan_id="",
        cluster=facts.cluster,
        created_at=created_at,
        kind=plan_kind(facts, options.targets),
        targets=dict(options.targets),
        order=tuple(slot.name for slot in slots),
        nodes=tuple(_node_plan(slot, verdicts[slot.name], options, facts.node(slot.name).versions,
                               packages[slot.name], vip.get(slot.name, ""))
                    for slot in slots),
        preparation=preparation_steps(facts, options),
        finalization=finalization_steps(facts, options, moving_packages(packages)),
        refusals=tuple(r.message for r in found if r.code not in options.force),
        warnings=tuple(forced_warnings(found, options.force) + advisories(ctx)),
        facts_fingerprint=facts_fingerprint(facts),
        inventory=inventory,
        packages=tuple(options.packages),
        package_targets=dict(options.package_targets),
        mariadb_upgrade=mariadb_upgrade_needed(packages),
        load_balancers=load_balancers_line(facts),
    )
    return seal(draft)


def _node_plan(slot: Slot, verdict: IstVerdict, options: PlanOptions,
               versions: dict[str, str], packages: NodePackages, vip: str = "") -> NodePlan:
    steps = node_steps(options, ist=verdict.feasible, package_changes=len(packages.changes))
    return NodePlan(
        name=slot.name,
        position=slot.position,
        reason=slot.reason,
        steps=steps,
        ist_feasible=verdict.feasible,
        predicted_gap_writesets=verdict.gap_writesets,
        donor=verdict.donor,
        donor_window_writesets=verdict.donor_window_writesets,
        estimate_s=sum(step.estimate_s for step in steps),
        versions=dict(versions),
        package_changes=packages.changes,
        restarts=packages.restarts,
        vip=vip,
    )


def seal(plan: Plan) -> Plan:
    """Fill plan_hash and plan_id from the plan's content."""
    plan_hash = hash_plan_dict(plan.to_dict())
    plan_id = plan_id_for(plan.cluster, plan.created_at, plan_hash)
    return dataclasses.replace(plan, plan_hash=plan_hash, plan_id=plan_id)


def hash_plan_dict(data: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a plan dict with plan_hash and plan_id blanked."""
    return digest({**data, "plan_hash": "", "plan_id": ""})


def plan_id_for(cluster: str, created_at: str, plan_hash: str) -> str:
    """"<cluster>-20261126T061500Z-<hash[:8]>"; also a safe file name."""
    safe_cluster = _UNSAFE_ID_CHARS.sub("_", cluster) or "cluster"
    return f"{safe_cluster}-{compact_time(created_at)}-{plan_hash[:8]}"


def compact_time(created_at: str) -> str:
    """ISO-8601 -> 20261126T061500Z in UTC; a naive time is taken as UTC."""
    try:
        moment = datetime.fromisoformat(created_at)
    except (TypeError, ValueError):
        raise ConfigError(f"created_at {created_at!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
