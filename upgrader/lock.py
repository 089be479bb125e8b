"""One upgrader at a time per cluster: an flock on a lock file.

flock, not a pid file: the kernel drops the lock when the holder dies, even by
SIGKILL, so a crashed ``upgrader apply`` never leaves a stale lock to clean up by
hand. The file is never unlinked: a process that opened the old inode would hold
a lock nobody else can see. The holder info inside is for the error message only.
"""
from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from upgrader.errors import LockHeld


class ClusterLock:
    """``with ClusterLock(path): ...`` or raise LockHeld (one line) without waiting."""

    def __init__(self, path: str | os.PathLike[str], command: str | None = None) -> None:
        self.path = Path(path)
        self.command = command if command is not None else shlex.join(sys.argv)
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeld(_held_message(self.path, holder)) from None
        self._fd = fd
        _write_holder(fd, self.command)

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)     # the next reader must not blame a process that is gone
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "ClusterLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _write_holder(fd: int, command: str) -> None:
    info = {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "command": " ".join(command.split())[:200],   # one line, bounded
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode() + b"\n", 0)
    os.fsync(fd)


def _read_holder(fd: int) -> dict[str, object]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:              # the holder is between flock and write
        return {}
    return data if isinstance(data, dict) else {}


def _held_message(path: Path, holder: dict[str, object]) -> str:
    if not holder.get("pid"):
        return f"cluster lock {path} is held by another process (holder not yet recorded)"
    host = holder.get("hostname")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return (f"cluster lock {path} is held by pid {holder['pid']}{where} "
            f"({holder.get('command', '?')}, since {holder.get('since', '?')})")
