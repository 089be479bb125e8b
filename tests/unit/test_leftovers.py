"""A playbook run's leftovers: found by the run's environment entry, stopped by pid."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

from upgrader.executor import leftovers


def _spawn(tmp_path, name: str, private_dir) -> subprocess.Popen:
    # NOTE: a copy of sleep under the given name, in its own session, as ansible-core's
    # setsid'd worker is: outside the process group runner kills
    program = tmp_path / name
    shutil.copy(shutil.which("sleep"), program)
    return subprocess.Popen([str(program), "300"],
                            env={**os.environ, **leftovers.environment(private_dir)},
                            start_new_session=True)


def _gone(proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return True
        time.sleep(0.02)
    return False


def _kill_all(*procs):
    for proc in procs:
        proc.kill()
        proc.wait()


def test_one_runs_processes_are_stopped_and_its_ssh_and_other_runs_spared(tmp_path):
    runs = tmp_path / "runs"
    worker = _spawn(tmp_path, "ansible-worker", runs / "004-node2-drain_api")
    ssh_master = _spawn(tmp_path, "ssh", runs / "004-node2-drain_api")
    next_run = _spawn(tmp_path, "next-worker", runs / "004-node2-drain_api.2")
    try:
        time.sleep(0.1)     # the environ is readable once exec has happened
        assert leftovers.marked_pids(runs / "004-node2-drain_api") == [worker.pid]

        assert leftovers.stop(runs / "004-node2-drain_api") == [worker.pid]

        assert _gone(worker) and worker.returncode == -9
        assert ssh_master.poll() is None and next_run.poll() is None
        assert leftovers.stop(runs / "004-node2-drain_api") == []
    finally:
        _kill_all(worker, ssh_master, next_run)


def test_a_resumed_run_stops_every_playbook_run_of_its_work_directory_and_no_other(tmp_path):
    """What a killed apply left: any of its playbook runs, found under its work directory."""
    killed_apply = _spawn(tmp_path, "old-playbook", tmp_path / "run-a" / "runs" / "007-node2-stop")
    other_apply = _spawn(tmp_path, "other-playbook", tmp_path / "run-ab" / "runs" / "001-node1-drain")
    try:
        time.sleep(0.1)
        assert leftovers.stop(tmp_path / "run-a" / "runs") == [killed_apply.pid]
        assert _gone(killed_apply)
        assert other_apply.poll() is None
    finally:
        _kill_all(killed_apply, other_apply)


def test_every_daemon_a_playbook_starts_drops_the_run_entry():
    """A process meant to outlive its playbook run would otherwise be stopped with the run."""
    from pathlib import Path

    playbooks = Path(__file__).resolve().parents[2] / "playbooks"
    starts = [(p.name, line.strip()) for p in playbooks.rglob("*.yml")
              for line in p.read_text().splitlines() if "setsid " in line and not line.strip().startswith("#")]
    assert starts, "no playbook starts a daemon: this test no longer guards anything"
    assert all(f"env -u {leftovers.RUN_MARKER} setsid " in line for _, line in starts), starts
