"""Control flags: persisted, private, idempotent, and safe across processes."""
from __future__ import annotations

import json
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
