"""apply --tui's roll thread: it outlives the UI and starts again only when released while open."""
from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from upgrader import control
from upgrader.errors import LockHeld, UnsafeCluster
from upgrader.tui.roll import RollSupervisor


@dataclass
class Outcome:
    result: str
    message: str = ""


class Rolls:
    """A fake session.execute: returns the scripted outcomes in turn."""

    def __init__(self, *results) -> None:
        self.results, self.calls = list(results), 0

    def __call__(self):
        self.calls += 1
        r = self.results.pop(0)
        if isinstance(r, BaseException):
            raise r
        return Outcome(r), {"result": r}


def wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_an_approval_while_the_ui_is_open_rolls_on_like_upgrader_approve(tmp_path):
    control.request_approval(tmp_path, "canary:node2")
    rolls, stops = Rolls("awaiting_approval", "success"), []
    sup = RollSupervisor(tmp_path, rolls, poll_s=0.01, on_stop=lambda r, m: stops.append(r)).start()
    wait(lambda: stops == ["awaiting_approval"])
    time.sleep(0.05)
    assert rolls.calls == 1 and sup.running                  # parked: waits for the operator
    control.approve(tmp_path)
    sup.join(5)
    assert rolls.calls == 2 and stops == ["awaiting_approval", "success"] and not sup.running
    assert sup.result()[0].result == "success"


def test_once_the_ui_has_closed_a_parked_roll_stays_parked_as_headless_apply_would(tmp_path):
    control.request_approval(tmp_path, "canary:node2")
    rolls = Rolls("awaiting_approval")
    sup = RollSupervisor(tmp_path, rolls, poll_s=0.01).start()
    wait(lambda: sup.outcome is not None)
    sup.ui_closed()
    sup.join(5)
    assert not sup.running and rolls.calls == 1 and sup.result()[0].result == "awaiting_approval"


@pytest.mark.parametrize("stopped,again", [("awaiting_approval", True), ("paused", True),
                                           ("failed", False)])
def test_an_abort_after_a_stop_rolls_again_only_if_no_node_is_half_way(tmp_path, stopped, again):
    control.pause(tmp_path, "step_failed" if stopped == "failed" else "health_gate", by="upgrader")
    rolls = Rolls(stopped, "aborted")
    sup = RollSupervisor(tmp_path, rolls, poll_s=0.01).start()
    wait(lambda: sup.outcome is not None)
    control.abort(tmp_path)
    if not again:
        time.sleep(0.1)
        sup.ui_closed()
    sup.join(5)
    assert rolls.calls == (2 if again else 1)


def test_another_process_taking_the_roll_on_is_not_an_error(tmp_path):
    rolls = Rolls("awaiting_approval", LockHeld("cluster lock held by pid 4242"))
    sup = RollSupervisor(tmp_path, rolls, poll_s=0.01).start()
    wait(lambda: sup.outcome is not None)
    sup.join(5)                                               # flags runnable: it tries again
    assert "another upgrader continues the roll" in sup.note and sup.result()[0].result == "awaiting_approval"


def test_an_error_of_the_roll_is_handed_back_to_the_cli(tmp_path):
    sup = RollSupervisor(tmp_path, Rolls(UnsafeCluster("plan p is stale: node2 changed")), poll_s=0.01)
    sup.start().join(5)
    assert sup.note == "error: plan p is stale: node2 changed"
    with pytest.raises(UnsafeCluster):
        sup.result()


def test_a_first_roll_refused_by_the_cluster_lock_is_an_error(tmp_path):
    sup = RollSupervisor(tmp_path, Rolls(LockHeld("cluster lock held by pid 4242")), poll_s=0.01)
    sup.start().join(5)
    with pytest.raises(LockHeld):
        sup.result()
