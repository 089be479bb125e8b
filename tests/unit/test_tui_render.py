"""Panel texts: every state in words, sized for 80 columns."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from upgrader.control import ControlFlags
from upgrader.live.grid import Grid
from upgrader.tui import render

NOW = datetime(2026, 12, 1, 10, 5, 0, tzinfo=timezone.utc)


def grid(state: str, running=()) -> Grid:
    return Grid(state, (), (), 30.0, tuple(running), 1.0)


@pytest.mark.parametrize("flags,state,notes,kind,starts", [
    # the roll goes on
    (ControlFlags(), "rolling", (), "running", "ROLLING: node3 drain_db 7s"),
    # asked to pause, the playbook run in flight has not ended yet
    (ControlFlags(paused=True, pause_reason="operator", paused_by="alice@ops1",
                  paused_at="2026-12-01T10:03:11+00:00"), "rolling", (), "paused",
     "PAUSING (operator) by alice@ops1 at 10:03:11: the playbook run in flight finishes"),
    # paused at the boundary
    (ControlFlags(paused=True, pause_reason="operator", paused_by="alice@ops1",
                  paused_at="2026-12-01T10:03:11+00:00"), "paused", (), "paused",
     "PAUSED (operator) by alice@ops1 at 10:03:11: paused by an operator · r resumes"),
    # the uptime gate paused it: the note says why
    (ControlFlags(paused=True, pause_reason="health_gate", paused_by="upgrader",
                  paused_at="2026-12-01T10:03:11+00:00"), "paused",
     ({"type": "note", "reason": "health_gate", "message": "after node2's last step: probe: 3 failed"},),
     "paused", "PAUSED (health_gate) by upgrader at 10:03:11: after node2's last step: probe: 3 failed"),
    # parked at the canary gate
    (ControlFlags(paused=True, pause_reason="canary_approval", awaiting_gate="canary:node2"),
     "awaiting_approval", (), "awaiting", "AWAITING APPROVAL of canary:node2: node2 is upgraded"),
    # approved, the roll has not moved on yet
    (ControlFlags(approved_gates=("canary:node2",)), "awaiting_approval", (), "running",
     "APPROVED canary:node2: the roll continues"),
    # resumed, the roll has not noticed yet
    (ControlFlags(), "paused", (), "paused", "RESUMING"),
    (ControlFlags(abort=True, aborted_by="bob@ops2", aborted_at="2026-12-01T10:04:00+00:00"),
     "rolling", (), "abort", "ABORT REQUESTED by bob@ops2 at 10:04:00: stops at the next safe point"),
    (ControlFlags(abort=True), "aborted", (), "abort", "ABORTED"),
    (ControlFlags(), "done", (), "done", "DONE"),
    (ControlFlags(), "failed", ({"reason": "step_failed", "message": "node3: rejoin_galera failed"},),
     "failed", "FAILED: node3: rejoin_galera failed"),
])
def test_the_banner_says_in_words_whether_the_roll_goes_on(flags, state, notes, kind, starts):
    got_kind, text = render.banner(flags, grid(state, [("node3", "drain_db", 7.2)]), notes)
    assert got_kind == kind and text.startswith(starts), text
    assert len(text) <= 140 and "\n" not in text


@pytest.mark.parametrize("seconds,short,long", [
    (0.4, "0s", "0s"), (4.4, "4s", "4s"), (99.4, "99s", "1m39s"), (150, "2m", "2m30s"),
    (3725, "1h", "1h02m"),
])
def test_durations_fit_a_cell(seconds, short, long):
    assert render.short_s(seconds) == short and len(short) <= 3
    assert render.long_s(seconds) == long


def test_sparkline_scales_to_the_peak_and_shows_gaps():
    assert render.sparkline([10.0, None, 1800.0, 0.0]) == "▁ █▁"
    assert render.sparkline([None, None]) == "  "


@pytest.mark.parametrize("line,text", [
    ({"ts": "2026-12-01T10:02:29.1+00:00", "kind": "task", "node": "node3", "step": "drain_api",
      "status": "changed", "task": "Drain", "host": "lb"}, "10:02:29 node3 drain_api changed Drain [lb]"),
    ({"ts": "2026-12-01T10:02:29.1+00:00", "kind": "task", "node": "node2", "step": "rejoin_galera",
      "status": "failed", "task": "Start MariaDB", "host": "node2", "msg": "rc 1"},
     "10:02:29 node2 rejoin_galera FAILED  Start MariaDB: rc 1"),
    ({"ts": "2026-12-01T10:02:29.1+00:00", "kind": "step", "node": "", "step": "keystone_expand"},
     "10:02:29 ── cluster keystone_expand ──"),
    ({"ts": "2026-12-01T10:02:29.1+00:00", "kind": "log", "text": "probe: measuring a 10 s baseline"},
     "10:02:29 · probe: measuring a 10 s baseline"),
    ({"ts": "2026-12-01T10:02:29.1+00:00", "kind": "task", "status": "started", "task": "Drain"}, None),
])
def test_task_log_rows(line, text):
    assert render.task_line(line) == text


def test_in_flight_is_cut_to_the_width_and_says_when_a_pause_waits_for_it():
    started = {"ts": "2026-12-01T10:04:48+00:00", "node": "node3", "step": "rejoin_galera",
               "task": "Wait until the node is Synced, then classify the transfer from the new log lines"}
    text = render.inflight_text(started, NOW, paused=True)
    assert text.startswith("in flight 12s: node3 rejoin_galera (pausing after this run): Wait until")
    assert len(text) == 80 and text.endswith("...")


def test_in_flight_says_nothing_runs_once_the_run_has_ended():
    started = {"ts": "2026-12-01T10:04:48+00:00", "node": None, "step": "keystone_contract",
               "task": "Contract the schema"}
    assert render.inflight_text(started, NOW, paused=False, ended="success") == (
        "in flight: nothing, the run has ended (success)")
    assert render.inflight_text(started, NOW, paused=False).startswith("in flight 12s: cluster keystone_contract")


def test_in_flight_says_nothing_runs_while_paused_between_playbook_runs():
    """Seen on CI: a gate's pause showed the finished step's last task as in flight for 8 min."""
    started = {"ts": "2026-12-01T10:04:48+00:00", "node": "node2", "step": "revive_rabbitmq",
               "task": "Report the broker's cluster state"}
    assert render.inflight_text(started, NOW, paused=True, running=False) == (
        "in flight: nothing, paused between playbook runs")


def test_health_without_samples_and_stale_samples_say_so():
    assert render.health_text(None, ["node1"], {}, None).startswith("health: no samples")
    stale = render.health_text({"live": False, "interval_s": 2, "nodes": {}}, ["node1"], {}, 300)
    assert stale.splitlines()[0].startswith("health STALE 5m00s old")
    assert stale.splitlines()[1].split()[:2] == ["node1", "unreachable"]


def test_probe_over_budget_is_said_in_words():
    doc = {"enabled": True, "operations": 900, "failed": 3, "budget": 0, "disconnects": 2,
           "now": {"p50_ms": 15.0, "p99_ms": 1500.0}, "baseline": {"p50_ms": 12.0, "p99_ms": 30.0},
           "spark_ms": [10.0] * 30, "spark_step_s": 2, "live": True}
    first, second = render.probe_text(doc, 1.0).splitlines()
    assert "failed 3 (OVER budget 0)" in first
    assert second.startswith("p50 15ms (base 12ms) · p99 1.5s (base 30ms) · ") and len(second) <= 80
