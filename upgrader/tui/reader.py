"""Read a run directory for the TUI: what changed since the last poll. Files only.

The same reads serve `upgrader watch` in another terminal and `apply --tui` in the
apply process itself, so both show exactly what the run directory says.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from upgrader import control
from upgrader.control import ControlFlags, ControlRecord
from upgrader.errors import UpgraderError
from upgrader.journal import RunProgress, read_records, replay
from upgrader.live.feed import (HEALTH_FILE, PROBE_FILE, TASKS_FILE, Stamp, TailReader,
                                read_snapshot)
from upgrader.model import Plan
from upgrader.planner import load_plan

JOURNAL_FILE, PLAN_FILE = "journal.jsonl", "plan.json"


@dataclass(frozen=True)
class JournalView:
    """What the TUI needs from the journal, read once per change."""

    progress: RunProgress
    canary: bool = False
    history: tuple[ControlRecord, ...] = ()
    notes: tuple[dict[str, Any], ...] = ()     # the roll's own `note` records (why it paused)
    result: str = ""                           # run_finished result, "" while unfinished


@dataclass
class Changes:
    """One poll's news; None / empty for what did not change."""

    plan: Plan | None = None
    journal: JournalView | None = None
    flags: ControlFlags | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)
    health: dict[str, Any] | None = None
    probe: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


class RunDirReader:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._plan_loaded = False
        self._stamps: dict[str, Stamp] = {}
        self._flags: ControlFlags | None = None
        self._tasks = TailReader(self.run_dir / TASKS_FILE)

    def poll(self) -> Changes:
        out = Changes()
        if not self._plan_loaded:
            out.plan = self._guard(out, lambda: load_plan(self.run_dir / PLAN_FILE))
            self._plan_loaded = out.plan is not None
        if self._changed(JOURNAL_FILE):
            out.journal = self._guard(out, self._journal)
            if out.journal is None:             # damaged or unreadable: try again next poll
                self._stamps.pop(JOURNAL_FILE, None)
        flags = self._guard(out, lambda: control.read(self.run_dir))
        if flags is not None and flags != self._flags:
            out.flags = self._flags = flags
        out.tasks = self._guard(out, self._tasks.read_new) or []
        for name in (HEALTH_FILE, PROBE_FILE):
            if self._changed(name):
                doc = read_snapshot(self.run_dir / name)
                setattr(out, name.split(".")[0], doc)
        return out

    def _changed(self, name: str) -> bool:
        stamp = Stamp.of(self.run_dir / name)
        if stamp.size < 0 or stamp == self._stamps.get(name):
            return False
        self._stamps[name] = stamp
        return True

    def _journal(self) -> JournalView:
        path = self.run_dir / JOURNAL_FILE
        records = [r for _, r in read_records(path)]
        ended = [r.get("result", "") for r in records if r.get("type") == "run_finished"]
        return JournalView(
            progress=replay(path),
            canary=any(r.get("type") == "run_started" and r.get("canary") for r in records),
            history=tuple(control.history_of(records)),
            notes=tuple(r for r in records if r.get("type") == "note")[-5:],
            result=ended[-1] if ended else "")

    def _guard(self, out: Changes, fn):
        try:
            return fn()
        except (UpgraderError, OSError, ValueError) as e:
            out.problems.append(" ".join(str(e).split())[:200])
            return None


def writer_alive(doc: dict[str, Any] | None) -> bool | None:
    """Is the apply process that wrote this snapshot still running? None: cannot tell."""
    if not doc or not doc.get("pid") or doc.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(doc["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return None
    return True


def age_s(doc: dict[str, Any] | None, now: datetime) -> float | None:
    try:
        return max(0.0, (now - datetime.fromisoformat(doc["at"])).total_seconds())  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
