"""The node x step grid the TUI shows, with the time left. Pure: plan + journal replay + now.

Time left is learned from this run: each step's expected duration is its plan
estimate times how far this run's finished instances of the same step have been
off their estimates (the mean ratio); a step not yet seen anywhere uses the ratio
of every finished step so far (1.0 before the first). So the first node's real
drain times correct the estimates of the next two, and an SST-predicted rejoin
keeps its larger planned estimate scaled, not an IST node's seconds. A running
step's remainder is its expectation minus the time it has run (never below 0).
Waits for an operator (a pause, the canary approval) are not predicted.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from upgrader.journal import RunProgress, StepRecord
from upgrader.machine import NODE_STEPS, NodeState, RunState
from upgrader.model import Plan

FALLBACK_ESTIMATE_S = 5.0      # a step the plan gives no estimate for (an older plan)
WRITER_REASON = "writes move once"   # both writer reasons of planner/order.py end so


@dataclass(frozen=True)
class Cell:
    step: str
    status: str                # pending | running | done | failed | interrupted (by a crash)
    seconds: float | None      # done/failed: how long it took; running: how long so far
    expect_s: float            # the learned expectation of its duration
    attempt: int = 1


@dataclass(frozen=True)
class NodeRow:
    name: str
    state: str                 # NodeState value
    canary: bool
    writer: bool               # the plan's MySQL writer, rolled last
    cells: tuple[Cell, ...]
    left_s: float


@dataclass(frozen=True)
class Grid:
    run_state: str
    rows: tuple[NodeRow, ...]
    cluster: tuple[Cell, ...]  # the plan's preparation, then its finalization
    left_s: float
    running: tuple[tuple[str, str, float], ...]   # (node, step, seconds so far)
    ratio: float               # this run's actual / planned duration so far


def build_grid(plan: Plan, progress: RunProgress, canary: bool, now: datetime) -> Grid:
    planned = _planned(plan)
    latest = _latest(progress.steps)
    ratios, ratio = _ratios(progress.steps, planned)

    def cell(node: str, step: str) -> Cell:
        expect = planned.get((node, step), FALLBACK_ESTIMATE_S) * ratios.get(step, ratio)
        rec = latest.get((node, step))
        if rec is None:
            return Cell(step, "pending", None, expect)
        if rec.in_flight:
            return Cell(step, "running", _elapsed(rec, now), expect, rec.attempt)
        if rec.interrupted:    # cut short by a crash; the resumed run reconciled past it
            return Cell(step, "interrupted", None, expect, rec.attempt)
        return Cell(step, "done" if rec.ok else "failed", rec.duration_s, expect, rec.attempt)

    rows = tuple(_row(plan, progress, name, canary, [cell(name, s) for s in NODE_STEPS])
                 for name in plan.order)
    cluster = tuple(cell("", s.name) for s in (*plan.preparation, *plan.finalization))
    finished = progress.run_state in (RunState.DONE, RunState.ABORTED)
    left = 0.0 if finished else sum(r.left_s for r in rows) + sum(_left(c) for c in cluster)
    running = tuple((n, c.step, c.seconds or 0.0) for n, cells in
                    [("", cluster), *((r.name, r.cells) for r in rows)]
                    for c in cells if c.status == "running")
    return Grid(progress.run_state.value, rows, cluster, round(left, 1), running, round(ratio, 3))


def _row(plan: Plan, progress: RunProgress, name: str, canary: bool, cells: list[Cell]) -> NodeRow:
    node = progress.nodes.get(name)
    state = node.state if node else NodeState.PENDING
    reason = next((n.reason for n in plan.nodes if n.name == name), "")
    left = 0.0 if state is NodeState.DONE else sum(_left(c) for c in cells)
    return NodeRow(name, state.value, canary and bool(plan.order) and name == plan.order[0],
                   WRITER_REASON in reason, tuple(cells), round(left, 1))


def _left(c: Cell) -> float:
    if c.status in ("done", "interrupted"):
        return 0.0
    if c.status == "running":
        return max(0.0, c.expect_s - (c.seconds or 0.0))
    return c.expect_s          # pending, or failed (it runs again)


def _planned(plan: Plan) -> dict[tuple[str, str], float]:
    out = {(n.name, s.name): s.estimate_s for n in plan.nodes for s in n.steps}
    out.update({("", s.name): s.estimate_s for s in (*plan.preparation, *plan.finalization)})
    return out


def _latest(steps: tuple[StepRecord, ...]) -> dict[tuple[str, str], StepRecord]:
    out: dict[tuple[str, str], StepRecord] = {}
    for s in steps:            # journal order: a later attempt replaces an earlier one
        out[(s.node, s.step)] = s
    return out


def _ratios(steps: tuple[StepRecord, ...],
            planned: dict[tuple[str, str], float]) -> tuple[dict[str, float], float]:
    """Per step name, and overall: actual/planned over this run's finished, successful steps."""
    per: dict[str, list[float]] = {}
    total_actual = total_planned = 0.0
    for s in steps:
        plan_s = planned.get((s.node, s.step))
        if not s.ok or s.duration_s is None or not plan_s:
            continue
        per.setdefault(s.step, []).append(s.duration_s / plan_s)
        total_actual += s.duration_s
        total_planned += plan_s
    overall = total_actual / total_planned if total_planned else 1.0
    return {k: sum(v) / len(v) for k, v in per.items()}, overall


def _elapsed(rec: StepRecord, now: datetime) -> float:
    try:
        return max(0.0, (now - datetime.fromisoformat(rec.started_at)).total_seconds())
    except (TypeError, ValueError):
        return 0.0
