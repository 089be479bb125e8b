"""The user's path: no environment, commands from `/` and other directories, one cluster lock.

Nothing here sets an UPGRADER_* variable: plans and runs go where a user's go (the
checkout's plans/ and runs/, the machine's /var/lib/upgrader for the lock and the
current-run pointer), and every command is run from a directory other than the
checkout. A patch roll (restarts, no release change) so that it runs at any release.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from upgrader import registry
from upgrader.lab import health
from upgrader.paths import CHECKOUT, locations
from waits import wait_until

pytestmark = pytest.mark.lab
UPGRADER = str(CHECKOUT / ".venv" / "bin" / "upgrader")


def user_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("UPGRADER_")}


def run(cwd: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([UPGRADER, *args], capture_output=True, text=True, env=user_env(), cwd=cwd,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def current() -> registry.ClusterEntry:
    entry = registry.entry_for(locations(), "lab")
    assert entry is not None and entry.run is not None
    return entry


def test_canary_roll_from_root_with_a_second_apply_refused_and_status_from_elsewhere(
        lab, lab_secrets, tmp_path: Path) -> None:
    inventory = str(lab.inventory_file)
    planned = run("/", "plan", "-i", inventory, "--patch")
    assert planned.returncode == 0, planned.stderr
    plan_file = Path(planned.stdout.split("plan written to ")[-1].split()[0])
    assert plan_file.parent == CHECKOUT / "plans" and oct(plan_file.stat().st_mode & 0o777) == "0o600"

    first = subprocess.Popen([UPGRADER, "apply", "--canary", "--yes", "--no-probe", str(plan_file)],
                             cwd="/", env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: registry.holder(locations(), "lab") is not None, timeout=60,
                   what="the first apply holding the lab's lock")
        other = tmp_path / "elsewhere"
        other.mkdir()
        second = run(str(other), "apply", "--yes", "--no-probe", str(plan_file), timeout=60)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"is held by pid {first.pid} " in second.stderr and "upgrader apply --canary" in second.stderr

        shown = run("/var", "status", "--json", timeout=60)
        assert shown.returncode == 0, shown.stderr
        doc = json.loads(shown.stdout)
        assert doc["cluster"] == "lab" and doc["apply_running"]["pid"] == first.pid
        assert Path(doc["run_dir"]).parent == CHECKOUT / "runs"
        output, _ = first.communicate(timeout=900)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 3, output              # the canary waits for approval
    assert "awaiting_approval" in output

    waiting = json.loads(run(str(tmp_path), "status", "--json").stdout)
    assert waiting["awaiting_gate"].startswith("canary:") and not waiting["apply_running"]
    approved = run("/", "approve")
    assert approved.returncode == 0, approved.stdout + approved.stderr

    entry = current()
    report = json.loads(run("/tmp", "report", "--json").stdout)
    assert report["result"] == "success" and report["run_id"] == entry.run.run_id
    assert all(n["state"] == "done" and n["transfer"] == "IST" for n in report["nodes"].values())
    for path in (entry.run.plan, entry.run.journal, entry.run.report):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert entry.run.dir.stat().st_mode & 0o777 == 0o700
    assert health.check(lab, lab_secrets).healthy
