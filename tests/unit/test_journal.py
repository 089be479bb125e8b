"""The run journal: durable, private, scrubbed, tolerant of a crash, strict about damage."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from upgrader import journal as journal_mod
from upgrader.errors import JournalCorrupt
from upgrader.journal import Journal, read_records, replay
from upgrader.machine import (
    NodeRun, NodeState, RunModel, RunState, fire, make_node_machine, make_run_machine,
)
from upgrader.redact import MASK, Redactor

S, R = NodeState, RunState
REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    """Each call advances 1.5 s, so durations computed from timestamps are exact."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1.5)
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.jsonl"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------ writing


def test_append_writes_one_versioned_utc_record_per_line(path):
    j = Journal(path)
    written = j.append("step_started", node="node1", step="drain_api")
    j.append("note", message="hello")
    records = lines(path)
    assert records[0] == written
    assert [r["type"] for r in records] == ["step_started", "note"]
    assert all(r["v"] == 1 for r in records)
    ts = datetime.fromisoformat(records[0]["ts"])
    assert ts.utcoffset() == timedelta(0)
    assert path.read_bytes().endswith(b"\n") and path.read_bytes().count(b"\n") == 2


@pytest.mark.parametrize("umask,precreated", [(0o022, None), (0o000, None), (0o022, 0o644)],
                         ids=["default-umask", "open-umask", "journal-precreated-0644"])
def test_journal_file_is_private(path, umask, precreated):
    if precreated is not None:
        path.touch(mode=precreated)
        os.chmod(path, precreated)
    old = os.umask(umask)
    try:
        Journal(path).append("note", message="x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_every_record_is_fsynced_before_append_returns(path, monkeypatch):
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    j = Journal(path)
    j.append("note", message="1")          # creates the file: record + directory entry
    j.append("note", message="2")
    j.append("note", message="3")
    assert len(synced) == 3 + 1


def test_values_are_written_as_plain_json(path):
    @dataclass(frozen=True)
    class Figures:
        lag: int
    Journal(path).append("note", state=S.DESYNCED, figures=Figures(3), where=Path("/x"),
                         nodes=("node1", "node2"))
    record = lines(path)[0]
    assert (record["state"], record["figures"], record["where"], record["nodes"]) == (
        "desynced", {"lag": 3}, "/x", ["node1", "node2"])


@pytest.mark.parametrize("kwargs", [{"type": "step_finshed"}, {"type": "note", "v": 2},
                                    {"type": "note", "ts": "then"}],
                         ids=["misspelt-type", "reserved-v", "reserved-ts"])
def test_bad_records_are_refused_before_writing(path, kwargs):
    record_type = kwargs.pop("type")
    with pytest.raises(ValueError):
        Journal(path).append(record_type, **kwargs)
    assert not path.exists()


def test_records_never_hold_secrets(path):
    j = Journal(path, redactor=Redactor(["s3cr3t-db-pw", "rabbit-cookie-value"]))
    j.append("step_finished", node="node1", step="rejoin_galera", ok=False,
             message="mysql -ps3cr3t-db-pw failed", vars={"galera_root_password": "unknown1"},
             output=["cookie is rabbit-cookie-value"])
    text = path.read_text()
    for secret in ("s3cr3t-db-pw", "rabbit-cookie-value", "unknown1"):
        assert secret not in text
    record = lines(path)[0]
    assert record["message"] == f"mysql -p{MASK} failed"
    assert record["vars"] == {"galera_root_password": MASK}


# ------------------------------------------------------------------ torn writes


def test_torn_last_line_is_skipped_then_cut_by_the_next_writer(path):
    j = Journal(path)
    j.append("run_started", run_id="r1", nodes=["node1"])
    j.append("step_started", node="node1", step="drain_api")
    with path.open("ab") as f:                 # a crash mid-write
        f.write(b'{"v":1,"ts":"2025-01-01T00:00:00+00:00","type":"step_fin')
    assert [r["type"] for _, r in read_records(path)] == ["run_started", "step_started"]
    assert replay(path).in_flight()["node1"].step == "drain_api"

    Journal(path).append("step_finished", node="node1", step="drain_api", ok=True)
    assert [r["type"] for r in lines(path)] == ["run_started", "step_started", "step_finished"]
    assert replay(path).in_flight() == {}


def test_a_whole_last_record_missing_only_its_newline_is_kept(path):
    Journal(path).append("note", message="first")
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    Journal(path).append("note", message="second")
    assert [r["message"] for r in lines(path)] == ["first", "second"]


def test_a_write_torn_by_a_crash_inside_append_leaves_a_replayable_journal(path, monkeypatch):
    j = Journal(path)
    j.append("run_started", run_id="r1", nodes=["node1"])
    real_write = os.write

    def torn(fd, data):                        # half the bytes reach the disk, then the crash
        real_write(fd, data[: len(data) // 2])
        raise OSError("power cut")
    monkeypatch.setattr(os, "write", torn)
    with pytest.raises(OSError):
        j.append("step_started", node="node1", step="drain_api")
    monkeypatch.setattr(os, "write", real_write)

    assert replay(path).run_id == "r1" and replay(path).in_flight() == {}
    j.append("step_started", node="node1", step="drain_api")   # the same writer tries again
    assert [r["type"] for r in lines(path)] == ["run_started", "step_started"]


def test_a_killed_writer_leaves_only_whole_records(path):
    code = ("import sys; from upgrader.journal import Journal\n"
            "j = Journal(sys.argv[1]); print('go', flush=True)\n"
            "i = 0\nwhile True:\n    i += 1; j.append('note', message='x' * 500, i=i)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "go\n"
    while not path.exists() or path.stat().st_size < 20_000:
        pass
    child.send_signal(signal.SIGKILL)
    child.wait()
    numbers = [r["i"] for _, r in read_records(path)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) > 10


@pytest.mark.parametrize("damage", [b"not json\n", b"[1, 2]\n", b'{"v":1,"type":"no\xff\n'],
                         ids=["garbage", "not-an-object", "bad-utf8"])
def test_damage_before_the_last_line_is_corrupt_with_its_line_number(path, damage):
    j = Journal(path)
    j.append("note", message="1")
    with path.open("ab") as f:
        f.write(damage)
    j.append("note", message="3")
    with pytest.raises(JournalCorrupt) as err:
        replay(path)
    assert "line 2" in str(err.value) and "\n" not in str(err.value)


def test_missing_journal_is_one_line_error(tmp_path):
    with pytest.raises(JournalCorrupt, match="does not exist"):
        replay(tmp_path / "nope.jsonl")


# ------------------------------------------------------------------ replay


def write(path: Path, *records: dict) -> None:
    path.write_text("".join(json.dumps({"v": 1, "ts": "2025-01-01T00:00:00+00:00", **r}) + "\n"
                            for r in records))


def test_unknown_types_keys_and_newer_versions_are_ignored(path):
    write(path,
          {"type": "run_started", "run_id": "r1", "nodes": ["node1"], "colour": "blue"},
          {"type": "hologram", "node": "node1"},                        # a future record type
          {"v": 2, "type": "transition", "node": "node1", "trigger": "drain_api",
           "source": "pending", "dest": "api_drained", "extra": {"a": 1}},
          {"type": "step_started"} | {"node": "node1", "step": "drain_db", "weird": 1})
    progress = replay(path)
    assert progress.nodes["node1"].state is S.API_DRAINED
    assert progress.in_flight()["node1"].step == "drain_db"


@pytest.mark.parametrize("record", [
    {"type": "transition", "node": "node1", "source": "pending", "dest": "teleported"},
    {"type": "run_state", "source": "planned", "dest": "sideways"},
], ids=["node-state", "run-state"])
def test_an_unknown_state_is_corrupt_not_guessed(path, record):
    write(path, {"type": "note"}, record)
    with pytest.raises(JournalCorrupt, match="line 2: unknown"):
        replay(path)


def test_replay_reports_durations_results_artifacts_transfers_and_versions(path):
    j = Journal(path, clock=FakeClock())
    j.append("run_started", run_id="r1", plan_id="p1", nodes=["node1", "node2", "node3"],
             version_before={"mariadb": "10.11.6"})
    j.append("step_started", node="node1", step="rejoin_galera")
    j.append("step_finished", node="node1", step="rejoin_galera", ok=True, transfer="IST",
             artifact_id="r1-node1-rejoin_galera", message="joined", version_after="10.11.9")
    j.append("step_started", node="node2", step="rejoin_galera")
    j.append("step_finished", node="node2", step="rejoin_galera", ok=False, duration_s=42.0,
             transfer="SST", message="donor refused IST")
    j.append("step_started", node="", step="keystone_expand")                # a cluster step
    p = replay(path)
    assert (p.run_id, p.plan_id, p.version_before) == ("r1", "p1", {"mariadb": "10.11.6"})
    assert list(p.nodes) == ["node1", "node2", "node3"]
    first, second, cluster = p.steps
    assert (first.duration_s, first.ok, first.artifact_id, first.message) == (
        1.5, True, "r1-node1-rejoin_galera", "joined")        # from the timestamps
    assert (second.duration_s, second.ok) == (42.0, False)   # the recorded figure wins
    assert p.transfers() == {"node1": "IST", "node2": "SST"}
    assert p.nodes["node1"].version_after == "10.11.9"
    assert p.in_flight() == {"": cluster}


def test_a_step_restarted_after_a_crash_is_a_new_attempt(path):
    j = Journal(path)
    j.append("step_started", node="node1", step="upgrade")
    j.append("step_started", node="node1", step="upgrade")                # crashed, resumed
    j.append("step_finished", node="node1", step="upgrade", ok=True)
    first, second = replay(path).steps
    assert (first.attempt, first.interrupted, first.in_flight) == (1, True, False)
    assert (second.attempt, second.ok, second.in_flight) == (2, True, False)


def test_a_finish_without_a_start_is_kept(path):
    write(path, {"type": "step_finished", "node": "node1", "step": "undrain", "ok": True})
    (step,) = replay(path).steps
    assert (step.step, step.ok, step.started_at, step.duration_s) == ("undrain", True, "", None)


def test_replay_round_trips_the_machines(path):
    """What the machines journal through their hook, replay gives back, and the
    machines resume from it: the orchestrator's restart path in miniature."""
    j = Journal(path)
    record = lambda t: j.append(t.record_type, **t.fields())  # noqa: E731
    nodes, runs = make_node_machine(record), make_run_machine(record)
    j.append("run_started", run_id="r1", nodes=["node1", "node2"])
    run, n1, n2 = RunModel("r1"), NodeRun("node1"), NodeRun("node2")
    runs.add_model(run, initial=R.PLANNED)
    nodes.add_model([n1, n2], initial=S.PENDING)
    fire(run, "start"); fire(run, "prepared")
    for step in ("drain_api", "drain_db", "desync_galera"):
        fire(n1, step)
    fire(n2, "drain_api")
    fire(n2, "fail", error="haproxy still routes to node2")
    fire(run, "pause", reason="step_failed")

    p = replay(path)
    assert (p.run_state, p.paused_from, p.pause_reason) == (R.PAUSED, R.ROLLING, "step_failed")
    assert {n: v.state for n, v in p.nodes.items()} == {"node1": S.DESYNCED, "node2": S.FAILED}
    f = p.nodes["node2"]
    assert (f.failed_from, f.failed_step, f.last_error) == (
        S.API_DRAINED, "drain_db", "haproxy still routes to node2")

    # a new process: fresh machines, models restored from the journal
    nodes2, runs2 = make_node_machine(record), make_run_machine(record)
    run2 = RunModel("r1", paused_from=p.paused_from, pause_reason=p.pause_reason)
    runs2.add_model(run2, initial=p.run_state)
    node2 = NodeRun("node2", failed_from=f.failed_from, failed_step=f.failed_step)
    nodes2.add_model(node2, initial=f.state)
    fire(run2, "resume"); fire(node2, "retry")
    assert (run2.state, node2.state) == (R.ROLLING, S.API_DRAINED)
    p2 = replay(path)
    assert (p2.run_state, p2.paused_from, p2.nodes["node2"].state) == (
        R.ROLLING, None, S.API_DRAINED)
    assert p2.nodes["node2"].failed_from is None


def test_module_exports_replay_on_the_journal_object(path):
    Journal(path).append("run_started", run_id="r9")
    assert Journal(path).replay().run_id == "r9" == journal_mod.replay(path).run_id
