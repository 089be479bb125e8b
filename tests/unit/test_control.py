"""Control flags: persisted, private, idempotent, and safe across processes."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from upgrader import control
from upgrader.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
GATE = "canary:node3"

# (calls in order, the message of the last call, flags afterwards)
SCENARIOS = [
    pytest.param([("pause",)], "paused; the roll stops at the next step boundary",
                 {"paused": True, "pause_reason": "operator"}, id="pause"),
    pytest.param([("pause",), ("pause",)], "already paused (operator)",
                 {"paused": True}, id="pause-twice"),
    pytest.param([("pause", "step_failed"), ("pause",)], "already paused (step_failed)",
                 {"pause_reason": "step_failed"}, id="first-reason-wins"),
    pytest.param([("pause",), ("resume",)], "resumed; the roll continues with the next step",
                 {"paused": False, "pause_reason": ""}, id="resume"),
    pytest.param([("resume",)], "not paused", {"paused": False}, id="resume-unpaused"),
    pytest.param([("abort",)], "abort requested; the roll stops at the next step boundary "
                 "and restores what it changed temporarily", {"abort": True}, id="abort"),
    pytest.param([("abort",), ("abort",)], "already aborting", {"abort": True}, id="abort-twice"),
    pytest.param([("pause",), ("abort",), ("resume",)],
                 "abort requested; resume does not cancel an abort",
                 {"paused": True, "abort": True}, id="resume-after-abort"),
    pytest.param([("approve",)], "nothing is waiting for approval",
                 {"approved_gates": ()}, id="approve-nothing"),
    pytest.param([("request_approval", GATE)], f"waiting for approval of {GATE}",
                 {"paused": True, "pause_reason": "canary_approval", "awaiting_gate": GATE},
                 id="gate-parks-the-roll"),
    pytest.param([("request_approval", GATE), ("request_approval", GATE)],
                 f"already waiting for approval of {GATE}", {"awaiting_gate": GATE},
                 id="gate-twice"),
    pytest.param([("request_approval", GATE), ("resume",)],
                 f"waiting for approval of {GATE}; use approve",
                 {"paused": True, "awaiting_gate": GATE}, id="resume-does-not-approve"),
    pytest.param([("request_approval", GATE), ("approve",)],
                 f"approved {GATE}; the roll continues",
                 {"paused": False, "awaiting_gate": "", "approved_gates": (GATE,)}, id="approve"),
    pytest.param([("request_approval", GATE), ("approve",), ("approve",)],
                 f"already approved {GATE}", {"approved_gates": (GATE,)}, id="approve-twice"),
    pytest.param([("request_approval", GATE), ("approve",), ("request_approval", GATE)],
                 f"{GATE} is already approved", {"paused": False}, id="gate-already-approved"),
    pytest.param([("request_approval", GATE), ("abort",), ("approve",)],
                 "abort requested; approve does not cancel an abort",
                 {"awaiting_gate": GATE, "abort": True, "approved_gates": ()},
                 id="approve-after-abort"),
    pytest.param([("pause",), ("request_approval", GATE), ("approve",)],
                 f"approved {GATE}; the roll continues",
                 {"paused": True, "pause_reason": "operator"},
                 id="approval-keeps-an-operator-pause"),
]


def call(run_dir: Path, name: str, *args: str) -> str:
    return getattr(control, name)(run_dir, *args)


@pytest.mark.parametrize("calls,message,expected", SCENARIOS)
def test_control_calls(tmp_path, calls, message, expected):
    messages = [call(tmp_path, *c) for c in calls]
    assert messages[-1] == message and "\n" not in message
    flags = control.read(tmp_path)
    for key, value in expected.items():
        assert getattr(flags, key) == value, key


def test_no_control_file_means_no_flags(tmp_path):
    assert control.read(tmp_path) == control.ControlFlags()


def test_pause_records_who_and_when(tmp_path):
    control.pause(tmp_path, by="alice@ops")
    flags = control.read(tmp_path)
    assert flags.paused_by == "alice@ops" and flags.paused_at.endswith("+00:00")
    control.abort(tmp_path)
    assert "@" in control.read(tmp_path).aborted_by       # defaults to user@host


def test_control_file_is_private_and_no_temp_files_remain(tmp_path):
    control.pause(tmp_path)
    control.resume(tmp_path)
    assert stat.S_IMODE((tmp_path / "control.json").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["control.json", "control.lock"]


def test_a_call_that_changes_nothing_does_not_rewrite(tmp_path):
    control.pause(tmp_path)
    before = (tmp_path / "control.json").stat().st_mtime_ns
    assert control.pause(tmp_path) == "already paused (operator)"
    assert (tmp_path / "control.json").stat().st_mtime_ns == before


@pytest.mark.parametrize("reason", list(control.PAUSE_REASONS))
def test_every_listed_pause_reason_is_accepted_and_explained(tmp_path, reason):
    control.pause(tmp_path, reason=reason)
    assert control.read(tmp_path).pause_reason == reason and control.PAUSE_REASONS[reason]


def test_an_unlisted_pause_reason_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown pause reason 'tired'"):
        control.pause(tmp_path, reason="tired")
    assert not (tmp_path / "control.json").exists()


def test_a_missing_run_directory_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no run directory"):
        control.pause(tmp_path / "missing")


@pytest.mark.parametrize("content", ["{not json", "[1]"], ids=["garbage", "not-an-object"])
def test_a_damaged_control_file_is_one_line_error(tmp_path, content):
    (tmp_path / "control.json").write_text(content)
    with pytest.raises(ConfigError) as err:
        control.read(tmp_path)
    assert "control.json" in str(err.value) and "\n" not in str(err.value)


def test_unknown_keys_are_ignored(tmp_path):
    (tmp_path / "control.json").write_text(json.dumps(
        {"paused": True, "pause_reason": "operator", "from_the_future": 1, "approved_gates": ["g"]}))
    flags = control.read(tmp_path)
    assert flags.paused and flags.approved_gates == ("g",) and flags.is_approved("g")


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_flags_set_by_another_process_are_seen(tmp_path):
    child = _python("import sys; from upgrader import control; "
                    "print(control.pause(sys.argv[1], by='cli'))", str(tmp_path))
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert out.strip() == "paused; the roll stops at the next step boundary"
    flags = control.read(tmp_path)
    assert flags.paused and flags.paused_by == "cli"


def test_concurrent_writers_lose_nothing_and_readers_never_see_half_a_file(tmp_path):
    toggler = _python("import sys; from upgrader import control\n"
                      "for _ in range(150):\n"
                      "    control.pause(sys.argv[1]); control.resume(sys.argv[1])\n",
                      str(tmp_path))
    approver = _python("import sys; from upgrader import control\n"
                       "for i in range(40):\n"
                       "    control.request_approval(sys.argv[1], f'gate{i}')\n"
                       "    control.approve(sys.argv[1])\n", str(tmp_path))
    reads = 0
    while toggler.poll() is None or approver.poll() is None:
        control.read(tmp_path)                   # raises on a half-written file
        reads += 1
    for child in (toggler, approver):
        assert child.wait() == 0, child.stderr.read()
    flags = control.read(tmp_path)
    # each approval is a read-modify-write; without the lock some would be lost
    assert flags.approved_gates == tuple(f"gate{i}" for i in range(40))
    assert reads > 0


# ------------------------------------------------------------------ audit: who, where, when


def _journal(run_dir: Path, *records: dict) -> Path:
    path = run_dir / "journal.jsonl"
    path.write_text("".join(json.dumps({"v": 1, "ts": "2026-12-01T10:00:00.000+00:00", **r}) + "\n"
                            for r in records))
    return path


def _audit(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()
            if '"type":"control"' in line]


# (calls, what the audit records say: action, changed, extra fields)
AUDITED = [
    pytest.param([("pause",)], [("pause", True, {"reason": "operator"})], id="pause"),
    pytest.param([("pause",), ("pause",)],
                 [("pause", True, {}), ("pause", False, {"message": "already paused (operator)"})],
                 id="a-no-op-is-audited-too"),
    pytest.param([("request_approval", GATE), ("approve",)],
                 [("approve", True, {"gate": GATE})], id="approve-names-the-gate"),
    pytest.param([("abort",), ("resume",)],
                 [("abort", True, {}), ("resume", False, {})], id="abort-then-resume"),
]


@pytest.mark.parametrize("calls,expected", AUDITED)
def test_each_operator_action_is_one_control_record_in_the_journal(tmp_path, calls, expected):
    _journal(tmp_path, {"type": "run_started", "run_id": "r1"})
    for c in calls:
        call(tmp_path, *c)
    records = _audit(tmp_path)
    assert [(r["action"], r["changed"]) for r in records] == [(a, ch) for a, ch, _ in expected]
    for record, (_, _, extra) in zip(records, expected):
        assert {k: record[k] for k in extra} == extra
        assert record["v"] == 1 and record["ts"].endswith("+00:00")
        assert "@" in record["by"] and record["tty"] and record["pid"] == os.getpid()
        assert record["message"] and "\n" not in record["message"]


def test_the_record_says_who_from_which_terminal_with_which_command(tmp_path, monkeypatch):
    _journal(tmp_path, {"type": "run_started"})
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/upgrader", "approve"])
    monkeypatch.setenv("SSH_CLIENT", "10.0.0.7 53422 22")
    monkeypatch.setenv("SUDO_USER", "alice")
    monkeypatch.setattr(control, "terminal", lambda: "/dev/pts/3")
    control.request_approval(tmp_path, GATE)
    control.approve(tmp_path, by="root@ops1", via="tui")
    (record,) = _audit(tmp_path)
    assert {k: record[k] for k in ("action", "by", "tty", "command", "via", "remote", "sudo_user",
                                   "gate")} == {
        "action": "approve", "by": "root@ops1", "tty": "/dev/pts/3", "command": "upgrader approve",
        "via": "tui", "remote": "10.0.0.7", "sudo_user": "alice", "gate": GATE}
    (rec,) = control.control_history(tmp_path / "journal.jsonl")
    assert control.describe(rec) == (
        f"{record['ts'][:10]} {record['ts'][11:19]}Z root@ops1 (sudo from alice) approved {GATE} "
        "on /dev/pts/3 from 10.0.0.7 (upgrader approve, tui)")


def test_terminal_is_the_tty_of_stdin_or_no_tty(monkeypatch):
    class Piped:
        def fileno(self):
            raise ValueError("redirected")
    monkeypatch.setattr(sys, "stdin", Piped())
    assert control.terminal() == "no tty"
    master, slave = os.openpty()
    try:
        with open(slave, closefd=False) as tty:
            monkeypatch.setattr(sys, "stdin", tty)
            assert control.terminal() == os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def test_the_rolls_own_pauses_are_not_audit_records(tmp_path):
    _journal(tmp_path, {"type": "run_started"})
    control.pause(tmp_path, "health_gate", by=control.SELF)     # the orchestrator journals a note
    control.request_approval(tmp_path, GATE)
    assert _audit(tmp_path) == []


def test_no_journal_yet_means_no_record_and_no_journal_created(tmp_path):
    control.pause(tmp_path)
    assert not (tmp_path / "journal.jsonl").exists()
    assert control.control_history(tmp_path / "journal.jsonl") == []


def test_records_are_whole_lines_while_another_process_appends(tmp_path):
    """An `apply` appending its own records (one write each) never interleaves with ours."""
    path = _journal(tmp_path, {"type": "run_started"})
    writer = _python("import os, sys, json\n"
                     "for i in range(400):\n"
                     "    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)\n"
                     "    os.write(fd, (json.dumps({'v': 1, 'ts': 't', 'type': 'note', 'i': i, "
                     "'pad': 'x' * 300}) + '\\n').encode())\n"
                     "    os.close(fd)\n", str(path))
    for _ in range(60):
        control.pause(tmp_path)
        control.resume(tmp_path)
    assert writer.wait(timeout=60) == 0, writer.stderr.read()
    records = [json.loads(line) for line in path.read_text().splitlines()]   # all parse
    assert sum(r["type"] == "note" for r in records) == 400
    assert sum(r["type"] == "control" for r in records) == 120


@pytest.mark.parametrize("tail,kept", [
    ('{"v":1,"ts":"t","type":"note","message":"whole"}', 2),   # only its newline was lost
    ('{"v":1,"ts":"t","type":"no', 1),                          # torn by a crash: cut off
], ids=["newline-lost", "torn"])
def test_a_tail_left_by_a_crashed_writer_is_mended_before_appending(tmp_path, tail, kept):
    path = _journal(tmp_path, {"type": "run_started"})
    with open(path, "a") as handle:
        handle.write(tail)
    control.pause(tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == kept + 1 and records[-1]["type"] == "control"


def test_history_reads_control_records_only_and_describe_is_one_line(tmp_path):
    _journal(tmp_path, {"type": "run_started"}, {"type": "note", "reason": "health_gate"})
    control.pause(tmp_path, by="bob@ops2")
    control.pause(tmp_path, by="bob@ops2")
    history = control.control_history(tmp_path / "journal.jsonl")
    assert [(h.action, h.by, h.changed) for h in history] == [("pause", "bob@ops2", True),
                                                              ("pause", "bob@ops2", False)]
    lines = [control.describe(h, with_date=False) for h in history]
    assert lines[0].split(" ", 1)[1].startswith("bob@ops2 paused on ")
    assert "tried to pause: already paused (operator)" in lines[1]
    assert all("\n" not in line for line in lines)
