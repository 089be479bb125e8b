"""Every way a roll can end leaves a journal that resumes and a report that says why.

The orchestrator's one catch pauses the run as ``unexpected_error``; session.execute writes
the report whether the roll returned or raised, and whatever the probe's stop does; the
probe says what it could not check instead of raising. The executor is the fake of
test_orchestrator (its ``on_step`` hook raises here as a broken executor would); the
journal, the control flags, the machines and the report are the real ones.
"""
from __future__ import annotations

import json
import time

import pytest

from test_orchestrator import ORDER, FakeExecutor, make_plan, node_calls, run, setup
from upgrader import control
from upgrader.errors import ConfigError, ProbeError
from upgrader.events import EventBus
from upgrader.executor.orchestrator import Orchestrator
from upgrader.executor.session import execute
from upgrader.journal import Journal, RunProgress, read_records, replay
from upgrader.machine import RunState
from upgrader.probe.record import Recorder
from upgrader.registry import RunPaths
from upgrader.report import node_lines


def raise_at(node: str, step: str, error: BaseException):
    """An executor hook that raises once, as the executor itself would mid-run."""
    def hook(n: str, s: str) -> None:
        nonlocal error
        if (n, s) == (node, step) and error is not None:
            e, error = error, None
            raise e
    return hook


def notes(journal_path) -> list[dict]:
    return [r for _, r in read_records(journal_path) if r["type"] == "note"]


# ------------------------------------------------------------------ the orchestrator's catch


def test_an_executor_that_raises_mid_step_pauses_the_run_and_apply_reruns_that_step(tmp_path):
    ex = FakeExecutor(on_step=raise_at("node3", "stop_services", RuntimeError("runner died")))
    out = run(tmp_path, ex)
    assert (out.result, out.message) == ("paused", "RuntimeError: runner died")
    assert isinstance(out.error, RuntimeError)
    assert out.node_states == {"node2": "done", "node3": "rabbitmq_drained", "node1": "pending"}
    assert not node_calls(ex.calls, "node1")                     # no step after the error
    flags = control.read(tmp_path)
    assert flags.paused and flags.pause_reason == "unexpected_error"
    assert notes(tmp_path / "journal.jsonl")[-1]["reason"] == "unexpected_error"
    progress = replay(tmp_path / "journal.jsonl")
    assert progress.run_state is RunState.PAUSED
    assert progress.in_flight()["node3"].step == "stop_services"

    ex2 = FakeExecutor()                                         # `upgrader apply` again
    assert run(tmp_path, ex2).result == "success"
    assert node_calls(ex2.calls, "node3")[0] == "stop_services"
    assert not node_calls(ex2.calls, "node2")


def test_an_upgrader_error_mid_roll_pauses_with_its_own_line(tmp_path):
    def health(node, rolled):
        if node == "node3":
            raise ProbeError("probe: node1 did not answer the health check")
        return []

    out = Orchestrator(setup(tmp_path, FakeExecutor(), health=health), RunProgress(run_id="r")).run_roll()
    assert (out.result, out.message) == ("paused", "probe: node1 did not answer the health check")
    assert out.node_states == {"node2": "done", "node3": "pending", "node1": "pending"}
    assert control.read(tmp_path).pause_reason == "unexpected_error"


class UnwritableJournal(Journal):
    def append(self, type, **fields):  # noqa: A002 - Journal's signature
        raise OSError(28, "No space left on device")


def test_an_error_before_the_first_record_is_raised_not_paused(tmp_path):
    st = setup(tmp_path, FakeExecutor())
    st.journal = UnwritableJournal(tmp_path / "journal.jsonl")
    with pytest.raises(OSError, match="No space left"):
        Orchestrator(st, RunProgress(run_id="r")).run_roll()
    assert not control.read(tmp_path).paused          # there was no roll to pause


def test_ctrl_c_goes_through_the_orchestrator_untouched(tmp_path):
    ex = FakeExecutor(on_step=raise_at("node2", "upgrade", KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, ex)
    assert not control.read(tmp_path).paused
    assert replay(tmp_path / "journal.jsonl").in_flight()["node2"].step == "upgrade"


def test_the_node_lines_name_a_failed_step_and_its_error(tmp_path):
    run(tmp_path, FakeExecutor(fail_at=("node3", "rejoin_galera")))
    assert node_lines(replay(tmp_path / "journal.jsonl")) == [
        "  node2: done", "  node3: failed, rejoin_galera failed: mariadb did not start", "  node1: pending"]


# ------------------------------------------------------------------ session.execute's report


class FakeProbe:
    """What session.execute uses of a Probe; ``stop`` raises ``stop_error`` when given."""

    def __init__(self, stop_error: BaseException | None = None) -> None:
        self.recorder = Recorder()
        self.started_at = self.baseline_end = time.time()
        self.stop_error = stop_error
        self.stops: list[bool] = []

    def stop(self, windows, *, strict: bool = True) -> dict:
        self.stops.append(strict)
        if self.stop_error is not None:
            raise self.stop_error
        return {"operations": 0, "lost_writes": 0, "windows": sorted(windows)}


def run_paths(tmp_path) -> RunPaths:
    paths = RunPaths(tmp_path / "runs", "lab-run1")
    paths.dir.mkdir(parents=True)
    return paths


def roll(paths, executor, probe=None, report_path=None):
    return execute(paths, make_plan(), canary=False, bus=EventBus(), locs=None,
                   report_path=report_path, executor=executor, health=lambda node, rolled: [],
                   probe=probe, say=lambda line: None)


def report_of(path) -> dict:
    return json.loads(path.read_text())


def test_a_roll_paused_by_an_unexpected_error_writes_both_reports(tmp_path):
    paths, copy = run_paths(tmp_path), tmp_path / "copy.json"
    ex = FakeExecutor(on_step=raise_at("node2", "rejoin_galera", ValueError("bad result")))
    outcome, rep = roll(paths, ex, report_path=copy)
    assert outcome.result == "paused"
    for written in (report_of(paths.report), report_of(copy)):
        assert (written["result"], written["message"]) == ("paused", "ValueError: bad result")
        assert written["run_state"] == "paused"
        assert written["nodes"]["node2"]["state"] == "upgraded"


def test_a_probe_whose_stop_raises_still_leaves_the_report(tmp_path):
    paths, probe = run_paths(tmp_path), FakeProbe(RuntimeError("join: thread wedged"))
    outcome, rep = roll(paths, FakeExecutor(), probe=probe)
    assert outcome.result == "success" and probe.stops == [False]      # never the strict stop
    written = report_of(paths.report)
    assert written["result"] == "success"
    assert written["probe"] == {"error": "the probe did not stop cleanly: RuntimeError: join: thread wedged"}


def test_the_probe_figures_come_with_each_nodes_window(tmp_path):
    paths, probe = run_paths(tmp_path), FakeProbe()
    roll(paths, FakeExecutor(), probe=probe)
    assert report_of(paths.report)["probe"]["windows"] == sorted(ORDER)


def test_ctrl_c_mid_step_writes_an_interrupted_report_and_the_journal_resumes(tmp_path):
    paths, probe = run_paths(tmp_path), FakeProbe()
    ex = FakeExecutor(on_step=raise_at("node2", "upgrade", KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        roll(paths, ex, probe=probe)
    written = report_of(paths.report)
    assert written["result"] == "interrupted" and "`upgrader apply` continues" in written["message"]
    assert written["probe"]["lost_writes"] == 0 and probe.stops == [False]
    assert notes(paths.journal)[-1]["reason"] == "interrupted"
    assert node_lines(replay(paths.journal))[0] == "  node2: stopped, upgrade in flight"

    ex2 = FakeExecutor()
    outcome, _ = roll(paths, ex2)
    assert outcome.result == "success" and node_calls(ex2.calls, "node2")[0] == "upgrade"
    assert report_of(paths.report)["result"] == "success"


def test_a_second_ctrl_c_while_the_probe_winds_down_keeps_the_first_report(tmp_path):
    paths = run_paths(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        roll(paths, FakeExecutor(), probe=FakeProbe(KeyboardInterrupt()))
    written = report_of(paths.report)
    assert written["result"] == "success" and "probe" not in written


def test_an_error_out_of_the_orchestrators_own_pause_is_raised_after_a_failed_report(tmp_path):
    paths = run_paths(tmp_path)

    def corrupt_flags(node, step):
        if (node, step) == ("node2", "drain_api"):
            (paths.dir / control.CONTROL_FILE).write_text("{")

    with pytest.raises(ConfigError, match="control.json is not valid JSON"):
        roll(paths, FakeExecutor(on_step=corrupt_flags))
    written = report_of(paths.report)
    assert written["result"] == "failed"
    assert written["message"].startswith("stopped by an error: ") and "not valid JSON" in written["message"]
    assert written["nodes"]["node2"]["state"] == "rabbitmq_drained"
    assert notes(paths.journal)[-1]["reason"] == "failed"

