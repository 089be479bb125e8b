"""The grid model: each step's state and time, the canary and writer, time left learned from the run."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from upgrader.journal import NodeProgress, RunProgress, StepRecord
from upgrader.live.grid import build_grid
from upgrader.machine import NODE_STEPS, NodeState, RunState
from upgrader.model import NodePlan, Plan, PlanStep

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc)
EST = {"drain_api": 4.0, "drain_db": 3.0, "desync_galera": 2.0, "drain_rabbitmq": 3.0,
       "stop_services": 8.0, "upgrade": 5.0, "rejoin_galera": 8.0, "verify_node": 3.0,
       "revive_rabbitmq": 3.0, "resync_galera": 2.0, "undrain": 4.0}          # 45 s a node


def node_plan(name: str, position: int, reason: str, rejoin: float = 8.0) -> NodePlan:
    steps = tuple(PlanStep(s, rejoin if s == "rejoin_galera" else EST[s]) for s in NODE_STEPS)
    return NodePlan(name, position, reason, steps, True, 0, "node1", 100)


PLAN = Plan(plan_id="p", cluster="lab", created_at="", kind="upgrade", targets={}, order=("node2", "node3", "node1"),
            nodes=(node_plan("node2", 1, "takes no writes"),
                   node_plan("node3", 2, "takes no writes", rejoin=30.0),      # SST predicted
                   node_plan("node1", 3, "HAProxy's active MySQL writer: last so writes move once")),
            preparation=(PlanStep("keystone_expand", 10.0),),
            finalization=(PlanStep("keystone_contract", 10.0),), refusals=(), warnings=(),
            facts_fingerprint="")


def done(node: str, step: str, seconds: float, ok: bool = True) -> StepRecord:
    return StepRecord(node, step, started_at=T0.isoformat(), finished_at=T0.isoformat(),
                      duration_s=seconds, ok=ok)


def running(node: str, step: str, since_s: float) -> StepRecord:
    return StepRecord(node, step, started_at=(T0 - timedelta(seconds=since_s)).isoformat())


def progress(*steps: StepRecord, state=RunState.ROLLING, **nodes: NodeState) -> RunProgress:
    return RunProgress(run_id="r", run_state=state, steps=steps,
                       nodes={n: NodeProgress(n, s) for n, s in nodes.items()})


def cells(grid, node):
    row = next(r for r in grid.rows if r.name == node)
    return {c.step: (c.status, c.seconds) for c in row.cells}


def test_nothing_journaled_yet_is_all_pending_at_the_planned_estimates():
    g = build_grid(PLAN, progress(state=RunState.PLANNED), canary=True, now=T0)
    assert {s for r in g.rows for s, _ in cells(g, r.name).values()} == {"pending"}
    assert [r.left_s for r in g.rows] == [45.0, 67.0, 45.0] and g.left_s == 45 + 67 + 45 + 20
    assert [(r.name, r.canary, r.writer) for r in g.rows] == [
        ("node2", True, False), ("node3", False, False), ("node1", False, True)]


def test_without_canary_no_node_is_marked_canary():
    assert not any(r.canary for r in build_grid(PLAN, progress(), canary=False, now=T0).rows)


@pytest.mark.parametrize("record,status,seconds", [
    (done("node2", "drain_api", 4.4), "done", 4.4),                # finished: its duration
    (done("node2", "drain_api", 1.0, ok=False), "failed", 1.0),    # failed: it runs again
    (running("node2", "drain_api", 3.0), "running", 3.0),          # in flight: time so far
])
def test_a_cell_shows_the_latest_attempt(record, status, seconds):
    g = build_grid(PLAN, progress(record), canary=False, now=T0)
    assert cells(g, "node2")["drain_api"] == (status, seconds)


def test_a_retry_replaces_the_failed_attempt_and_a_crash_cut_is_interrupted():
    crashed = StepRecord("node2", "stop_services", started_at=T0.isoformat(), interrupted=True)
    g = build_grid(PLAN, progress(done("node2", "rejoin_galera", 1.0, ok=False),
                                  done("node2", "rejoin_galera", 9.0), crashed), canary=False, now=T0)
    assert cells(g, "node2")["rejoin_galera"] == ("done", 9.0)
    assert cells(g, "node2")["stop_services"][0] == "interrupted"


def test_time_left_learns_from_this_runs_durations_per_step():
    # node2's drains took twice their estimate: node3 and node1 expect the same
    g = build_grid(PLAN, progress(done("", "keystone_expand", 10.0), done("node2", "drain_api", 8.0),
                                  done("node2", "drain_db", 6.0)), canary=False, now=T0)
    node1 = {c.step: c.expect_s for c in next(r for r in g.rows if r.name == "node1").cells}
    assert node1["drain_api"] == 8.0 and node1["drain_db"] == 6.0
    # a step not seen yet scales by the whole run's ratio: (10+8+6) / (10+4+3)
    assert node1["upgrade"] == pytest.approx(5.0 * 24 / 17)
    assert g.ratio == pytest.approx(24 / 17, abs=1e-3)


def test_an_sst_node_keeps_its_larger_estimate_scaled_not_an_ist_nodes_seconds():
    g = build_grid(PLAN, progress(done("node2", "rejoin_galera", 4.0)), canary=False, now=T0)
    node3 = {c.step: c.expect_s for c in next(r for r in g.rows if r.name == "node3").cells}
    assert node3["rejoin_galera"] == pytest.approx(30.0 * 4.0 / 8.0)


def test_a_running_step_counts_what_is_left_of_it_never_below_zero():
    on_time = build_grid(PLAN, progress(running("node2", "drain_api", 3.0)), canary=False, now=T0)
    late = build_grid(PLAN, progress(running("node2", "drain_api", 60.0)), canary=False, now=T0)
    assert on_time.rows[0].left_s == 45.0 - 3.0 and late.rows[0].left_s == 41.0
    assert on_time.running == (("node2", "drain_api", 3.0),)


def test_a_done_node_and_a_finished_run_have_nothing_left():
    g = build_grid(PLAN, progress(node2=NodeState.DONE), canary=False, now=T0)
    assert g.rows[0].left_s == 0.0 and g.rows[0].state == "done"
    assert build_grid(PLAN, progress(state=RunState.DONE), canary=False, now=T0).left_s == 0.0
