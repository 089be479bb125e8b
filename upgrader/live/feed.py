"""The files an `apply` process writes beside its journal so any terminal can watch it.

``<run_dir>/tasks.jsonl``  one line per ansible-runner task result (and roll log line),
                           appended; mode 0600.
``<run_dir>/health.json``  a snapshot of cheap cluster health, replaced every ~2 s.
``<run_dir>/probe.json``   the client probe's live figures, replaced every ~1 s.

Writers are used by upgrader.live.feeds in the apply process; readers by the TUI in
any process. Snapshots land by tmp + rename (a reader never sees half of one); the
task log is appended one whole line per write() with O_APPEND, so a reader at most
sees a last line without its newline yet, which it leaves for the next poll.
Nothing here scrubs: callers pass records already redacted.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upgrader.fileio import write_atomic

TASKS_FILE = "tasks.jsonl"
HEALTH_FILE = "health.json"
PROBE_FILE = "probe.json"
SCHEMA_VERSION = 1


def append_line(path: Path, record: dict[str, Any]) -> None:
    """One JSON line, one write(); the file is created private."""
    line = json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def write_snapshot(path: Path, doc: dict[str, Any]) -> None:
    write_atomic(path, json.dumps({"v": SCHEMA_VERSION, **doc}, default=str) + "\n", 0o600)


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """The last snapshot, or None when there is none (yet) or it is unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class Stamp:
    """Size and mtime of a file: a cheap 'did it change since the last poll?'."""

    size: int = -1
    mtime_ns: int = -1

    @classmethod
    def of(cls, path: Path) -> "Stamp":
        try:
            st = path.stat()
        except OSError:
            return cls()
        return cls(st.st_size, st.st_mtime_ns)


class TailReader:
    """New whole lines of an append-only JSONL file since the last call."""

    def __init__(self, path: Path, max_bytes: int = 1 << 20) -> None:
        self.path = path
        self.offset = 0
        self.max_bytes = max_bytes     # a first read of a long log starts near its end

    def read_new(self) -> list[dict[str, Any]]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self.offset:         # replaced or truncated: start over
            self.offset = 0
        if self.offset == 0 and size > self.max_bytes:
            self.offset = size - self.max_bytes
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(size - self.offset)
        end = data.rfind(b"\n") + 1    # a line still without its newline waits for later
        self.offset += end
        return [r for r in (_parse(raw) for raw in data[:end].split(b"\n")) if r is not None]


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except ValueError:                 # also the cut first line of a tail started mid-file
        return None
    return record if isinstance(record, dict) else None
