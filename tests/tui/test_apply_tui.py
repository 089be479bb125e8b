"""apply --tui: the roll runs beside the UI; `a` releases the canary gate and the roll goes on;
leaving the UI mid-roll hands over to the headless view until the roll returns."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from pilots import at, run, until
from recorded import append_journal
from upgrader import control
from upgrader.cli import watch as watch_cli
from upgrader.events import EventBus, LogLine
from upgrader.tui.app import UpgraderApp
from upgrader.tui.messages import RollStopped
from upgrader.tui.roll import RollSupervisor


@dataclass
class Outcome:
    result: str
    message: str = ""


class FakeExecute:
    """session.execute's signature; stops at the canary gate first, then rolls until released."""

    def __init__(self, run_dir, lines, stages) -> None:
        self.run_dir, self.lines, self.stages = run_dir, lines, stages
        self.calls: list[dict] = []
        self.release = threading.Event()

    def __call__(self, bus, say):
        self.calls.append({"bus": bus})
        say("probe: measuring a 10 s baseline through the VIP 10.123.0.1")
        if len(self.calls) == 1:
            append_journal(self.run_dir, self.lines[:self.stages["canary_gate"]])
            control.request_approval(self.run_dir, "canary:node2")
            return Outcome("awaiting_approval", "waiting for approval of canary:node2"), {}
        append_journal(self.run_dir, self.lines[self.stages["canary_gate"]:])
        self.release.wait(10)
        return Outcome("success", "every node rolled; finalization done"), {"result": "success"}


def test_a_in_the_apply_ui_approves_and_the_roll_here_goes_on(run_dir, recording, stages):
    execute = FakeExecute(run_dir, recording[1], stages)
    bus = EventBus()

    async def go():
        app = UpgraderApp(run_dir, bus=bus, poll_s=0.05, clock=at(152))
        sup = RollSupervisor(run_dir, lambda: execute(bus, lambda line: bus.publish(LogLine(line))),
                             poll_s=0.02,
                             on_stop=lambda r, m: app.post_message(RollStopped(r, m)))
        async with app.run_test(size=(80, 24)) as pilot:
            sup.start()
            await until(pilot, lambda: "AWAITING APPROVAL" in app.query_one("#banner").text)
            assert "roll here: awaiting_approval" in app.query_one("#title").text
            await pilot.press("a")
            await until(pilot, lambda: len(execute.calls) == 2, what="the roll to start again")
            await until(pilot, lambda: app.query_one("#banner").text.startswith("ROLLING: node3"))
            execute.release.set()
            await until(pilot, lambda: "roll here: success" in app.query_one("#title").text)
        sup.ui_closed()
        sup.join(5)
    run(go())


def test_leaving_apply_tui_mid_roll_goes_on_headless_until_the_roll_returns(run_dir, recording,
                                                                            stages, monkeypatch, capsys):
    execute = FakeExecute(run_dir, recording[1], stages)
    monkeypatch.setattr(watch_cli, "_need_terminal", lambda what: None)

    def operator(app):       # stands in for App.run: approve at the gate, then q mid-roll
        control.approve(run_dir, via="tui")
        deadline = threading.Event()
        while len(execute.calls) < 2 and not deadline.wait(0.02):
            pass
        threading.Timer(2.0, execute.release.set).start()     # the roll ends well after q
    monkeypatch.setattr(UpgraderApp, "run", operator)
    control.request_approval(run_dir, "canary:node2")          # so approve has a gate at once

    outcome, report = watch_cli.run_apply_tui(run_dir, ("node2", "node3", "node1"), execute)
    assert outcome.result == "success" and report == {"result": "success"}
    assert "left the view; the roll goes on in this process" in capsys.readouterr().out
    assert len(execute.calls) == 2 and execute.calls[0]["bus"] is execute.calls[1]["bus"]
