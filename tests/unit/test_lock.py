"""The cluster lock: exclusive across processes, one-line refusal, released by a crash."""
from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from upgrader.errors import LockHeld
from upgrader.lock import ClusterLock

REPO = Path(__file__).resolve().parents[2]
HOLD = ("import sys, time; from upgrader.lock import ClusterLock\n"
        "lock = ClusterLock(sys.argv[1], command='upgrader apply plans/p1.json')\n"
        "lock.acquire(); print('locked', flush=True); time.sleep(60)\n")
FLOCK_ONLY = ("import fcntl, os, sys, time\n"   # a holder caught between flock and its write
              "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
              "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)\n")


@pytest.fixture
def holder(tmp_path):
    """Start a child process that takes the lock; yields (child, lock path)."""
    children = []

    def start(code: str = HOLD) -> tuple[subprocess.Popen, Path]:
        path = tmp_path / "cluster.lock"
        child = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=REPO,
                                 stdout=subprocess.PIPE, text=True)
        children.append(child)
        assert child.stdout.readline() == "locked\n"
        return child, path

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()


def test_holder_info_is_written_while_held_and_cleared_on_release(tmp_path):
    path = tmp_path / "cluster.lock"
    with ClusterLock(path, command="upgrader apply p1") as lock:
        assert lock.held
        info = json.loads(path.read_text())
        assert info["pid"] == os.getpid() and info["hostname"] == socket.gethostname()
        assert info["command"] == "upgrader apply p1" and info["since"].endswith("+00:00")
    assert not lock.held and path.read_text() == ""
    assert path.exists()                       # never unlinked: see the module docstring


def test_a_second_holder_in_another_process_is_refused_in_one_line(holder):
    child, path = holder()
    with pytest.raises(LockHeld) as err:
        ClusterLock(path, command="upgrader apply p2").acquire()
    message = str(err.value)
    assert message.startswith(f"cluster lock {path} is held by pid {child.pid} "
                              f"(upgrader apply plans/p1.json, since ")
    assert message.endswith(")") and "\n" not in message


def test_a_killed_holder_releases_the_lock(holder):
    child, path = holder()
    with pytest.raises(LockHeld):
        ClusterLock(path).acquire()
    child.send_signal(signal.SIGKILL)
    child.wait()
    with ClusterLock(path, command="upgrader apply p2"):   # no stale lock to clean up
        assert json.loads(path.read_text())["command"] == "upgrader apply p2"


def test_a_holder_that_has_not_written_its_info_yet(holder):
    _, path = holder(FLOCK_ONLY)
    with pytest.raises(LockHeld, match="held by another process \\(holder not yet recorded\\)"):
        ClusterLock(path).acquire()


def test_a_second_lock_object_in_the_same_process_is_refused(tmp_path):
    path = tmp_path / "cluster.lock"
    with ClusterLock(path):
        with pytest.raises(LockHeld, match=f"pid {os.getpid()}"):
            ClusterLock(path).acquire()


def test_release_is_idempotent_and_the_lock_can_be_taken_again(tmp_path):
    lock = ClusterLock(tmp_path / "cluster.lock")
    lock.acquire()
    lock.release()
    lock.release()
    with ClusterLock(tmp_path / "cluster.lock"):
        pass


def test_the_command_is_recorded_on_one_bounded_line(tmp_path):
    path = tmp_path / "cluster.lock"
    with ClusterLock(path, command="upgrader\napply " + "x" * 500):
        command = json.loads(path.read_text())["command"]
    assert "\n" not in command and len(command) == 200 and command.startswith("upgrader apply")


def test_default_command_is_this_process_argv(tmp_path):
    path = tmp_path / "cluster.lock"
    with ClusterLock(path):
        command = json.loads(path.read_text())["command"]
    assert command == " ".join(shlex.join(sys.argv).split())[:200]
