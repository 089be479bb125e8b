"""Every way `upgrader apply` ends: one line, each node's state, the next action, a report.

Each case runs the real entry point (upgrader.cli.main) in its own process and
directories, through tests/cli/fake_roll.py: only the playbooks are faked, so what is
checked is what an operator would see, including a real SIGTERM.
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.bad_input_cases import plan_with_inventory
from tests.cli.test_bad_input import case_env
from upgrader import exitcodes
from upgrader.cli.apply import AFTER_ERROR, AFTER_INTERRUPT
from upgrader.journal import read_records, replay

FAKE_ROLL = Path(__file__).with_name("fake_roll.py")


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    """A case directory holding a plan of cluster lab whose inventory is on loopback."""
    tmp = tmp_path.resolve()
    plan_with_inventory(tmp)
    return tmp


def command(tmp: Path, mode: str, *args: str) -> dict:
    return dict(args=[sys.executable, str(FAKE_ROLL), mode, *args], env=case_env(tmp), cwd=tmp,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def upgrader(tmp: Path, mode: str, *args: str) -> subprocess.CompletedProcess:
    cp = subprocess.run(**command(tmp, mode, *args), timeout=120)
    assert "Traceback" not in cp.stdout + cp.stderr
    return cp


def first_node(tmp: Path) -> str:
    return json.loads(next((tmp / "plans").glob("*.json")).read_text())["order"][0]


def run_dirs(tmp: Path) -> list[Path]:
    return [p for p in (tmp / "runs").glob("*") if p.is_dir()] if (tmp / "runs").exists() else []


def report(tmp: Path) -> dict:
    [run] = run_dirs(tmp)
    return json.loads((run / "report.json").read_text())


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_an_executor_that_raises_pauses_the_run_and_says_where_each_node_is(tmp):
    cp = upgrader(tmp, "boom", "apply", "--yes", "--report", str(tmp / "r.json"))
    assert cp.returncode == exitcodes.PAUSED, cp.stderr
    out = lines(cp.stdout)
    assert "paused: RuntimeError: ansible-runner died" in out
    assert f"  {first_node(tmp)}: rabbitmq_drained, stop_services in flight" in out
    assert sum(1 for line in out if re.match(r"  node\d: ", line)) == 3
    assert out[-1] == AFTER_ERROR
    log = re.search(r"traceback in (\S+\.log)", cp.stdout)
    assert log and "RuntimeError: ansible-runner died" in Path(log.group(1)).read_text()
    for written in (report(tmp), json.loads((tmp / "r.json").read_text())):
        assert (written["result"], written["run_state"]) == ("paused", "paused")
    [run] = run_dirs(tmp)
    assert [r["reason"] for _, r in read_records(run / "journal.jsonl") if r["type"] == "note"] == [
        "unexpected_error"]


def test_sigterm_mid_step_ends_like_ctrl_c_and_apply_resumes_the_step(tmp):
    proc = subprocess.Popen(**command(tmp, "wait", "apply", "--yes"))
    try:
        journal = tmp / "runs" / "x"
        deadline = time.monotonic() + 60
        while '"step":"stop_services"' not in (journal.read_text() if journal.exists() else ""):
            assert time.monotonic() < deadline and proc.poll() is None, "the roll never reached the step"
            time.sleep(0.1)
            journal = next(iter(run_dirs(tmp)), tmp / "runs" / "x") / "journal.jsonl"
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "Traceback" not in stdout + stderr
    assert proc.returncode == exitcodes.INTERRUPTED, stderr
    err = lines(stderr)
    assert err[0] == "interrupted (Ctrl-C or SIGTERM): the roll stopped here"
    assert f"  {first_node(tmp)}: rabbitmq_drained, stop_services in flight" in err
    assert err[-1] == AFTER_INTERRUPT
    assert report(tmp)["result"] == "interrupted"
    assert replay(journal).in_flight()[first_node(tmp)].step == "stop_services"

    again = upgrader(tmp, "ok", "apply", "--yes")
    assert again.returncode == exitcodes.SUCCESS, again.stderr
    assert report(tmp)["result"] == "success"


def test_an_error_the_roll_cannot_pause_on_is_one_line_then_the_nodes_and_a_failed_report(tmp):
    cp = upgrader(tmp, "control", "apply", "--yes", "--json")
    assert cp.returncode == exitcodes.REFUSED                     # ConfigError's code
    [run] = run_dirs(tmp)
    err = lines(cp.stderr)                                        # --json: the progress goes here
    told = err[err.index(f"error: {run}/control.json is not valid JSON; fix or remove it"):]
    assert f"  {first_node(tmp)}: rabbitmq_drained" in told
    assert told[-1] == AFTER_ERROR
    printed = json.loads(cp.stdout)                               # and the report on stdout
    assert printed == report(tmp) and printed["result"] == "failed"


def test_a_probe_whose_stop_raises_does_not_cost_the_report(tmp):
    cp = upgrader(tmp, "probe-stop", "apply", "--yes")
    assert cp.returncode == exitcodes.SUCCESS, cp.stderr
    assert "probe: the probe did not stop cleanly: RuntimeError: thread wedged" in lines(cp.stdout)
    assert report(tmp)["probe"] == {"error": "the probe did not stop cleanly: RuntimeError: thread wedged"}


@pytest.mark.parametrize(("mode", "code", "line"), [
    # an internal error before the first record: the edge's line, nothing left behind
    ("early", exitcodes.INTERNAL, r"internal error: RuntimeError: broken before the first record "
                                  r"\(a bug in upgrader; traceback in \S+\)"),
    # Ctrl-C while the probe measures its baseline, before the first record
    ("early-interrupt", exitcodes.INTERRUPTED, r"interrupted before the first step; nothing was changed"),
])
def test_a_stop_before_the_first_record_leaves_no_run(tmp, mode, code, line):
    cp = upgrader(tmp, mode, "apply", "--yes")
    assert cp.returncode == code
    assert re.fullmatch(line, lines(cp.stderr)[0])
    assert run_dirs(tmp) == []
