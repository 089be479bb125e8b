"""The run view driven by Pilot at 80x24, against the recorded run (tests/tui/recorded.py).

What it proves: the grid follows journal records as they are appended; p, r, a and x
act only through upgrader.control (control.json changes, and each action is audited
in the journal); x asks first; q leaves without touching the run.
"""
from __future__ import annotations

from datetime import timedelta

from pilots import at, journal_records, run, until
from recorded import (START, append_journal, node3_events, write_health, write_probe,
                      write_tasks)
from upgrader import control
from upgrader.tui.app import UpgraderApp
from upgrader.tui.widgets import ConfirmAbort

SIZE = (80, 24)


def app_for(run_dir, seconds: float = 152) -> UpgraderApp:
    return UpgraderApp(run_dir, poll_s=0.05, clock=at(seconds))


def text(app, name: str) -> str:
    return app.query_one(f"#{name}").text


def row(app, node: str) -> str:
    return next(line for line in text(app, "grid").splitlines() if line.startswith(node))


def test_the_grid_follows_the_journal_as_records_are_appended(run_dir, recording, stages):
    _, lines = recording

    async def go():
        app = app_for(run_dir, seconds=10)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "waiting for the plan" in text(app, "grid") or app.plan)
            append_journal(run_dir, lines[:stages["node2_drain_api_started"]])
            await until(pilot, lambda: app.grid is not None, what="the first records")
            assert row(app, "node2 C").split()[2] == "▶1s"       # drain_api running for 1 s
            assert "expand ✓8s" in text(app, "grid")
            assert text(app, "banner") == "ROLLING: node2 drain_api 1s"

            app.clock = at(60)
            append_journal(run_dir, lines[stages["node2_drain_api_started"]:stages["canary_gate"]])
            await until(pilot, lambda: row(app, "node2 C").endswith("done"), what="node2 done")
            assert row(app, "node2 C").split()[2:6] == ["✓4s", "✓3s", "✓1s", "✓4s"]
            assert text(app, "banner").startswith("RUNNING") is False
            assert row(app, "node3").split()[1] == "·"          # nothing started on node3
            assert "canary:node2" not in text(app, "banner")   # control.json not copied yet

            control.request_approval(run_dir, "canary:node2")   # as the orchestrator did
            await until(pilot, lambda: "AWAITING APPROVAL" in text(app, "banner"))
            assert "a approves" in text(app, "banner")

            app.clock = at(152)
            append_journal(run_dir, lines[stages["canary_gate"]:])
            control.approve(run_dir, by="alice@ops1")
            await until(pilot, lambda: "▶" in row(app, "node3"), what="node3 in flight")
            assert row(app, "node3").split()[1:3] == ["✓4s", "▶2s"]
            assert text(app, "banner") == "ROLLING: node3 drain_db 2s"
            assert "alice@ops1 approved canary:node2" in text(app, "history")
    run(go())


def test_canary_and_writer_are_marked_and_the_time_left_is_learned(run_dir, recording):
    append_journal(run_dir, recording[1])

    async def go():
        app = app_for(run_dir)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.grid is not None)
            assert row(app, "node2 C")                 # the canary: first in the plan's order
            assert row(app, "node1 W")                 # HAProxy's writer: rolled last
            assert "left ~" in text(app, "title")
            # node2 took 41 s for 45 s of plan: node1's estimate is scaled down from 45 s
            assert row(app, "node1 W").split()[-1] == "~41s"
    run(go())


def test_p_then_r_pause_and_resume_through_the_control_functions(run_dir, recording):
    append_journal(run_dir, recording[1])

    async def go():
        app = app_for(run_dir)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.grid is not None)
            await pilot.press("p")
            flags = control.read(run_dir)
            assert flags.paused and flags.pause_reason == "operator" and "@" in flags.paused_by
            assert app.last_message == "paused; the roll stops at the next step boundary"
            # the roll has not reached a boundary yet (the journal says rolling): say so
            await until(pilot, lambda: text(app, "banner").startswith("PAUSING (operator) by "))
            assert "nothing further starts" in text(app, "banner")

            await pilot.press("r")
            assert not control.read(run_dir).paused
            await until(pilot, lambda: text(app, "banner").startswith("ROLLING"))
            audit = [r for r in journal_records(run_dir) if r["type"] == "control"]
            assert [(r["action"], r["via"], r["changed"]) for r in audit[-2:]] == [
                ("pause", "tui", True), ("resume", "tui", True)]
            assert all(r["tty"] and r["by"] and r["pid"] for r in audit)
            await until(pilot, lambda: "resumed on" in text(app, "history"))
    run(go())


def test_a_approves_the_gate_the_roll_waits_at(run_dir, recording, stages):
    append_journal(run_dir, recording[1][:stages["canary_gate"]])
    control.request_approval(run_dir, "canary:node2")

    async def go():
        app = app_for(run_dir, seconds=60)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "AWAITING APPROVAL of canary:node2" in text(app, "banner"))
            await pilot.press("a")
            flags = control.read(run_dir)
            assert flags.approved_gates == ("canary:node2",) and not flags.awaiting_gate
            assert not flags.paused
            assert app.last_message == "approved canary:node2; the roll continues"
            await until(pilot, lambda: "AWAITING" not in text(app, "banner"))
            last = journal_records(run_dir)[-1]
            assert (last["type"], last["action"], last["gate"], last["via"]) == (
                "control", "approve", "canary:node2", "tui")
            await until(pilot, lambda: "approved canary:node2 on" in text(app, "history"))
    run(go())


def test_x_asks_before_aborting_and_only_yes_aborts(run_dir, recording):
    append_journal(run_dir, recording[1])

    async def go():
        app = app_for(run_dir)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.grid is not None)
            await pilot.press("x")
            assert isinstance(app.screen, ConfirmAbort)
            assert not control.read(run_dir).abort            # asking changed nothing
            await pilot.press("n")
            assert not isinstance(app.screen, ConfirmAbort)
            assert not control.read(run_dir).abort and app.last_message == "not aborted"

            await pilot.press("x")
            await pilot.press("y")
            flags = control.read(run_dir)
            assert flags.abort and "@" in flags.aborted_by and flags.aborted_at
            await until(pilot, lambda: text(app, "banner").startswith("ABORT REQUESTED by "))
            assert [r["action"] for r in journal_records(run_dir) if r["type"] == "control"][-1] == "abort"
    run(go())


def test_q_leaves_the_view_and_the_run_is_left_as_it_was(run_dir, recording):
    append_journal(run_dir, recording[1])
    control.request_approval(run_dir, "canary:node2")
    control.approve(run_dir, by="alice@ops1")           # as in the recording
    before = (run_dir / "journal.jsonl").read_bytes(), (run_dir / "control.json").read_bytes()

    async def go():
        app = app_for(run_dir)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.grid is not None)
            await pilot.press("q")
            await until(pilot, lambda: app._exit, what="the app to exit")
    run(go())
    flags = control.read(run_dir)
    assert not flags.abort and not flags.paused and flags.approved_gates == ("canary:node2",)
    # not a byte changed: no control action, no audit record
    assert ((run_dir / "journal.jsonl").read_bytes(), (run_dir / "control.json").read_bytes()) == before


def test_health_probe_and_task_log_fit_80x24(run_dir, recording):
    append_journal(run_dir, recording[1])
    now = START + timedelta(seconds=152)
    write_tasks(run_dir, node3_events(START + timedelta(seconds=145)))
    write_health(run_dir, now - timedelta(seconds=1))
    write_probe(run_dir, now - timedelta(seconds=1))

    async def go():
        app = app_for(run_dir)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.health and app.probe and app.query_one("#log").texts)
            health = text(app, "health").splitlines()
            assert health[0] == "health 1s ago · rabbitmq 3 of 3 running, maint node2 · * takes the writes"
            assert health[1].split()[:9] == ["node2", "Synced", "3", "Primary", "db", "UP", "api",
                                             "MAINT", "rmq"]
            assert health[1].split()[-2:] == ["maint", "IST"]       # in maintenance; rejoined by IST
            assert "db UP*" in health[3]                             # node1 takes the writes
            probe = text(app, "probe")
            assert probe.startswith("probe 300 ops · failed 0 (budget 0) · disconnects 0")
            assert probe.splitlines()[1].startswith("p50 15ms (base 15ms) · p99 18ms (base 18ms) · ")
            assert probe.endswith("max 1.8s") and "█" in probe
            assert text(app, "inflight").startswith("in flight 2s: node3 drain_db: Drain, wait")
            log = app.query_one("#log").texts
            assert log[-1].endswith("attempt 1 of 5") and "retry" in log[-1]
            assert "── node3 drain_db ──" in log[-2]
            for name in ("title", "banner", "grid", "health", "probe", "history", "inflight", "log"):
                widget = app.query_one(f"#{name}")
                assert widget.region.height >= 1 and widget.region.bottom <= 23, name
            for name in ("grid", "health", "probe", "inflight"):
                assert max(len(line) for line in text(app, name).splitlines()) <= 80, name
            await until(pilot, lambda: len(app.query("FooterKey")) == 5, what="the footer")
            keys = {k.key: k.description for k in app.query("FooterKey")}
            assert keys == {"p": "Pause", "r": "Resume", "a": "Approve canary", "x": "Abort...",
                            "q": "Leave (roll goes on)"}
            assert sum(k.region.width for k in app.query("FooterKey")) <= 80
    run(go())


def test_an_in_process_bus_wakes_the_view_at_once(run_dir, recording, stages):
    from upgrader.events import EventBus, StepStarted

    bus = EventBus()
    append_journal(run_dir, recording[1][:stages["canary_gate"]])

    async def go():
        app = UpgraderApp(run_dir, bus=bus, poll_s=30, clock=at(152))   # polls only when woken
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.grid is not None)
            await pilot.pause(0.3)        # the worker now waits up to 30 s for its next poll
            append_journal(run_dir, recording[1][stages["canary_gate"]:])
            bus.publish(StepStarted("node3", "drain_db"))
            await until(pilot, lambda: "▶" in row(app, "node3"), timeout=3, what="the bus wake-up")
    run(go())
