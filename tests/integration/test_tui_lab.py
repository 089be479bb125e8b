"""`upgrader apply --canary --tui` and `upgrader watch` on the real lab, in tmux.

One tmux server on a private socket, two sessions (100x30): "roll" runs the apply
under its UI, "watch" attaches to the same run from another terminal. Keys go in
with send-keys, screens come out with capture-pane; every wait is bounded and the
finalizer never leaves an apply running (abort, wait, then kill the server).

What it proves: the canary rolls and waits; `a` approves it; `p` during the next node
lets the playbook run in flight finish its safe stretch and starts nothing further;
`r` resumes; the watch window shows the same grid and the same pause; `q` in watch
leaves the roll going; `x` (confirmed with `y`) aborts once node3 is finished, before
node1 (exit 4); each key is audited in the journal with its terminal. The full roll to
the end is the Molecule scenarios' (this test stops a node early: a minute of CI).
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from upgrader import control
from upgrader.lab import health

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
UPGRADER = str(ROOT / ".venv/bin/upgrader")
BOUNDARIES = ("rabbitmq_drained", "done")   # where a node may wait (machine.HOLD_BEFORE)


class Tmux:
    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"upgrader-tui-test-{os.getpid()}"
        self.env = env

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], check=check,
                              capture_output=True, text=True, timeout=30)

    def start(self, name: str, argv: list[str]) -> None:
        """A detached 100x30 session running argv, then a marker with its exit code."""
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items()
                           if k.startswith("UPGRADER_"))
        line = f"env {exports} {shlex.join(argv)}; echo {name.upper()}-EXIT=$?; sleep 3600"
        self("new-session", "-d", "-s", name, "-x", "100", "-y", "30", "sh", "-c", line)

    def keys(self, name: str, *keys: str) -> None:
        self("send-keys", "-t", name, *keys)

    def screen(self, name: str) -> str:
        return self("capture-pane", "-p", "-t", name).stdout

    def wait_screen(self, name: str, needle: str, timeout: float, stuck: str | None = None) -> str:
        """The screen once it shows needle; fails at once when it shows stuck instead."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen(name)
            if needle in text:
                return text
            if stuck and stuck in text:
                raise AssertionError(f"{name}: {stuck!r} on screen before {needle!r}:\n{text}")
            time.sleep(0.5)
        raise AssertionError(f"{name}: no {needle!r} on screen after {timeout:.0f} s:\n"
                             f"{self.screen(name)}")

    def kill(self) -> None:
        self("kill-server", check=False)


def cli(env, *args, timeout=120):
    return subprocess.run([UPGRADER, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def status(env) -> dict:
    cp = cli(env, "status", "--json")
    assert cp.returncode == 0, cp.stderr
    return json.loads(cp.stdout)


def records(journal: Path) -> list[dict]:
    out = []
    for line in journal.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:     # the apply may be writing the last line right now
            pass
    return out


def wait_record(journal: Path, predicate, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in records(journal) if predicate(r)] if journal.exists() else []
        if found:
            return found[-1]
        time.sleep(0.3)
    raise AssertionError(f"no journal record for {what} in {timeout:.0f} s")


def grid_rows(screen: str) -> list[str]:
    """The node rows of the grid (their cells), for comparing two screens."""
    return [line.rstrip() for line in screen.splitlines() if line.startswith(("node1", "node2", "node3"))
            and ("✓" in line or "·" in line or "▶" in line)]


@pytest.fixture
def work(tmp_path, lab):
    env = {**os.environ, "UPGRADER_RUNS": str(tmp_path / "runs"), "UPGRADER_PLANS": str(tmp_path / "plans"),
           "UPGRADER_STATE": str(tmp_path / "state")}
    return tmp_path, env


@pytest.fixture
def tmux(work):
    _, env = work
    t = Tmux(env)
    yield t
    # never leave a roll running: abort it at its next safe point, leave the UI, wait for the end
    alive = t("has-session", "-t", "roll", check=False).returncode == 0
    if alive and "ROLL-EXIT=" not in t.screen("roll"):
        cli(env, "abort")
        # NOTE: two keys, not one send-keys: ESC then q at once reads as Alt+q.
        t.keys("roll", "Escape")
        time.sleep(0.5)
        t.keys("roll", "q")
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and "ROLL-EXIT=" not in t.screen("roll"):
            time.sleep(1)
    t.kill()


def test_apply_tui_canary_approve_pause_resume_abort_with_a_second_terminal_watching(lab, lab_secrets, work, tmux):
    _, env = work
    cp = cli(env, "plan", "--patch", timeout=300)
    assert cp.returncode == 0, cp.stdout + cp.stderr

    tmux.start("roll", [UPGRADER, "apply", "--canary", "--yes", "--tui"])
    roll = tmux.wait_screen("roll", "AWAITING APPROVAL of canary:node2", timeout=600,
                            stuck="PAUSED (")
    st = status(env)
    assert st["awaiting_gate"] == "canary:node2" and st["nodes"]["node2"]["state"] == "done"
    journal = Path(st["run_dir"]) / "journal.jsonl"
    assert "node2 C" in roll and "node1 W" in roll          # the canary and the writer are marked

    tmux.start("watch", [UPGRADER, "watch"])
    watch = tmux.wait_screen("watch", "AWAITING APPROVAL of canary:node2", timeout=60)
    assert grid_rows(watch) == grid_rows(roll)

    tmux.keys("roll", "a")
    approve = wait_record(journal, lambda r: r["type"] == "control" and r["action"] == "approve",
                          timeout=30, what="the approval")
    assert approve["via"] == "tui" and approve["tty"].startswith("/dev/pts/") and approve["changed"]
    assert approve["gate"] == "canary:node2" and "@" in approve["by"]

    # p while node3's first playbook run is in flight: it finishes, nothing further starts
    wait_record(journal, lambda r: r["type"] == "step_started" and r.get("node") == "node3",
                timeout=300, what="node3's first step")
    tmux.keys("roll", "p")
    wait_record(journal, lambda r: r["type"] == "run_state" and r.get("dest") == "paused",
                timeout=300, what="the pause at a step boundary")
    st = status(env)
    assert st["paused"] and st["pause_reason"] == "operator"
    assert st["nodes"]["node3"]["step_in_flight"] is None
    assert st["nodes"]["node3"]["state"] in BOUNDARIES, st["nodes"]["node3"]
    started = sum(r["type"] == "step_started" for r in records(journal))
    time.sleep(6)
    assert sum(r["type"] == "step_started" for r in records(journal)) == started
    roll = tmux.wait_screen("roll", "PAUSED (operator) by ", timeout=10)
    # NOTE: the banner comes from control.json, the history line from the journal record
    # written just after it: the view may show one a poll (about 1 s) before the other.
    watch = tmux.wait_screen("watch", "paused on /dev/pts/", timeout=10)
    print("---- paused: apply --tui ----\n" + roll + "\n---- paused: watch ----\n" + watch)   # -s shows them
    assert grid_rows(watch) == grid_rows(roll)               # the same state in both terminals
    assert "paused on /dev/pts/" in watch                     # who paused, from which terminal

    tmux.keys("roll", "r")
    resumed = wait_record(journal, lambda r: r["type"] == "run_state" and r.get("trigger") == "resume",
                          timeout=60, what="the resume")
    wait_record(journal, lambda r: r["type"] == "step_started" and r["ts"] > resumed["ts"],
                timeout=120, what="a step after the resume")

    tmux.keys("watch", "q")                                   # leaving the watch leaves the roll going
    tmux.wait_screen("watch", "WATCH-EXIT=0", timeout=30)
    left_at = records(journal)[-1]["ts"]
    wait_record(journal, lambda r: r["type"] == "step_finished" and r["ts"] > left_at,
                timeout=120, what="progress after the watch left")
    assert not control.read(journal.parent).paused and not control.read(journal.parent).abort

    # x while node3 is still in flight: asked first; node3 is finished, node1 never starts
    tmux.keys("roll", "x")
    tmux.wait_screen("roll", "Abort the roll?", timeout=10)
    tmux.keys("roll", "y")
    wait_record(journal, lambda r: r["type"] == "control" and r["action"] == "abort",
                timeout=30, what="the abort")
    final = tmux.wait_screen("roll", "ABORTED: the roll stopped at a step boundary", timeout=600)
    print("---- final: apply --tui ----\n" + final)
    tmux.keys("roll", "q")
    tmux.wait_screen("roll", "ROLL-EXIT=4", timeout=120)

    st = status(env)
    assert st["run_state"] == "aborted"
    assert {n: v["state"] for n, v in st["nodes"].items()} == {"node2": "done", "node3": "done", "node1": "pending"}
    history = control.control_history(journal)
    assert [(h.action, h.via) for h in history] == [
        ("approve", "tui"), ("pause", "tui"), ("resume", "tui"), ("abort", "tui")]
    assert len({h.tty for h in history}) == 1                 # all from the roll window's terminal
    # `status` says who did what (cli/apply.py prints control.describe of control_history)
    text = cli(env, "status").stdout
    assert "approved canary:node2" in text and "paused on /dev/pts/" in text
    assert health.check(lab, lab_secrets).healthy
