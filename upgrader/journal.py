"""The run journal: append-only JSONL, one fsync'd record per line.

The journal holds intent (what upgrader started, finished, decided); the cluster
holds truth. ``replay`` turns the journal back into progress for the reconcile
loop. Only the process holding the cluster lock appends; readers (``upgrader
status``, the TUI) may replay at any time.

Crash tolerance: one ``os.write`` per record with O_APPEND, then fsync, so a crash
can only tear the last line. Replay skips a torn last line; the next writer cuts
it off before appending so it never becomes a torn line in the middle, which
replay refuses as corruption.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Callable, TypeVar

from upgrader.errors import JournalCorrupt
from upgrader.fileio import fsync_dir
from upgrader.machine import NodeState, RunState
from upgrader.redact import Redactor

SCHEMA_VERSION = 1
RECORD_TYPES = ("run_started", "step_started", "step_finished", "transition", "run_state",
                "control", "note", "run_finished")
_RESERVED = ("v", "ts", "type")
E = TypeVar("E", bound=Enum)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Journal:
    """``Journal(path).append("step_started", node="node1", step="drain_api")``."""

    def __init__(self, path: str | os.PathLike[str], redactor: Redactor | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.path = Path(path)
        self._redactor = redactor
        self._clock = clock
        self._checked_tail = False

    def append(self, type: str, **fields: Any) -> dict[str, Any]:  # noqa: A002 - the record's field
        """Write one record durably and return it as written (scrubbed)."""
        if type not in RECORD_TYPES:        # replay would silently ignore a misspelt type
            raise ValueError(f"unknown journal record type {type!r}")
        if any(k in _RESERVED for k in fields):
            raise ValueError(f"journal fields may not be named {_RESERVED}")
        # to plain JSON types first, so the redactor sees every string that will be written
        plain = json.loads(json.dumps(fields, default=_jsonable))
        record = {"v": SCHEMA_VERSION, "ts": self._clock().isoformat(timespec="milliseconds"),
                  "type": type, **plain}
        if self._redactor is not None:
            record = self._redactor.scrub(record)
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
        self._write(line.encode())
        return record

    def replay(self) -> "RunProgress":
        return replay(self.path)

    def _write(self, data: bytes) -> None:
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)           # also tightens a journal created by someone else
            if not self._checked_tail:
                _cut_torn_tail(fd)
                self._checked_tail = True
            try:
                os.write(fd, data)
                os.fsync(fd)
            except BaseException:           # may have left a torn line: check again next time
                self._checked_tail = False
                raise
        finally:
            os.close(fd)
        if created:                         # make the new directory entry durable too
            fsync_dir(self.path.parent)


def _jsonable(value: Any) -> Any:
    """json.dumps ``default=``: Enums as values, dataclasses as dicts, paths as strings."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"a journal record cannot hold a {type(value).__name__}")


def _cut_torn_tail(fd: int) -> None:
    """Finish or cut off a last line a crash left without its newline."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    data = os.pread(fd, size, 0)            # once per Journal; journals are small
    cut = data.rfind(b"\n") + 1
    if _parse(data[cut:]) is not None:
        os.write(fd, b"\n")                 # the record is whole; only its newline was lost
    else:
        os.ftruncate(fd, cut)


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def read_records(path: str | os.PathLike[str]) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) for every whole record; a torn last line is skipped,
    a bad line anywhere else raises JournalCorrupt."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise JournalCorrupt(f"journal {path} does not exist") from None
    lines = [(n, line) for n, line in enumerate(raw.split(b"\n"), 1) if line.strip(b" \t\r\0")]
    records = []
    for i, (number, line) in enumerate(lines):
        record = _parse(line)
        if record is not None:
            records.append((number, record))
        elif i < len(lines) - 1:
            raise JournalCorrupt(f"journal {path} line {number} is not a JSON record "
                                 f"(damaged before its last line)")
    return records


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class StepRecord:
    node: str                    # "" for a cluster-level step (preparation/finalization)
    step: str
    attempt: int = 1
    started_at: str = ""
    finished_at: str = ""
    duration_s: float | None = None
    ok: bool | None = None
    message: str = ""
    artifact_id: str = ""
    transfer: str = ""           # "IST" / "SST" for a Galera rejoin
    interrupted: bool = False    # a new attempt started before this one finished (a crash)

    @property
    def in_flight(self) -> bool:
        return not self.finished_at and not self.interrupted


@dataclass(frozen=True)
class NodeProgress:
    name: str
    state: NodeState = NodeState.PENDING
    failed_from: NodeState | None = None
    failed_step: str = ""
    last_error: str = ""
    transfer: str = ""           # the last transfer verdict seen for this node
    version_before: Any = None
    version_after: Any = None


@dataclass(frozen=True)
class RunProgress:
    run_id: str = ""
    plan_id: str = ""
    run_state: RunState = RunState.PLANNED
    paused_from: RunState | None = None
    pause_reason: str = ""
    nodes: dict[str, NodeProgress] = field(default_factory=dict)
    steps: tuple[StepRecord, ...] = ()
    version_before: Any = None   # cluster-wide, from records without a node
    version_after: Any = None

    def in_flight(self) -> dict[str, StepRecord]:
        """node ("" = cluster) -> the step started but not finished: re-probe it first."""
        return {s.node: s for s in self.steps if s.in_flight}

    def transfers(self) -> dict[str, str]:
        return {n.name: n.transfer for n in self.nodes.values() if n.transfer}


class _Replay:
    """Mutable accumulator; replay() freezes it into a RunProgress."""

    def __init__(self, path: Path) -> None:
        self.path, self.line = path, 0
        self.run: dict[str, Any] = {}
        self.nodes: dict[str, NodeProgress] = {}
        self.steps: list[StepRecord] = []

    def node(self, name: str) -> NodeProgress:
        return self.nodes.setdefault(name, NodeProgress(name))

    def enum(self, cls: type[E], value: Any) -> E:
        try:
            return cls(value)
        except ValueError:
            raise JournalCorrupt(f"journal {self.path} line {self.line}: unknown "
                                 f"{cls.__name__} {value!r}") from None

    def open_step(self, node: str) -> int | None:
        return next((i for i in range(len(self.steps) - 1, -1, -1)
                     if self.steps[i].node == node and self.steps[i].in_flight), None)

    def run_started(self, r: dict[str, Any]) -> None:
        self.run.update(run_id=r.get("run_id", ""), plan_id=r.get("plan_id", ""))
        for name in r.get("nodes", ()):
            self.node(name)

    def step_started(self, r: dict[str, Any]) -> None:
        node, step = r.get("node", ""), r.get("step", "")
        previous = self.open_step(node)
        if previous is not None:
            self.steps[previous] = replace(self.steps[previous], interrupted=True)
        tries = sum(1 for s in self.steps if (s.node, s.step) == (node, step))
        self.steps.append(StepRecord(node, step, r.get("attempt", tries + 1), started_at=r["ts"]))

    def step_finished(self, r: dict[str, Any]) -> None:
        node, step = r.get("node", ""), r.get("step", "")
        i = self.open_step(node)
        if i is None or self.steps[i].step != step:   # no start on record: keep the result anyway
            self.steps.append(StepRecord(node, step))
            i = len(self.steps) - 1
        started = self.steps[i].started_at
        self.steps[i] = replace(
            self.steps[i], finished_at=r["ts"], ok=r.get("ok"), message=r.get("message", ""),
            duration_s=r.get("duration_s", _seconds_between(started, r["ts"])),
            artifact_id=r.get("artifact_id", ""), transfer=r.get("transfer", ""))
        if node and r.get("transfer"):
            self.nodes[node] = replace(self.node(node), transfer=r["transfer"])

    def transition(self, r: dict[str, Any]) -> None:
        n = self.node(r.get("node", ""))
        dest, source = self.enum(NodeState, r.get("dest")), self.enum(NodeState, r.get("source"))
        if dest is NodeState.FAILED:       # as NodeRun.remember_failure: keep the first origin
            origin = n.failed_from if source is NodeState.FAILED else source
            n = replace(n, failed_from=origin, failed_step=r.get("step", ""),
                        last_error=r.get("error", ""))
        else:
            n = replace(n, failed_from=None, failed_step="", last_error="")
        self.nodes[n.name] = replace(n, state=dest)

    def run_state(self, r: dict[str, Any]) -> None:
        dest, source = self.enum(RunState, r.get("dest")), self.enum(RunState, r.get("source"))
        self.run["run_state"] = dest
        if dest is RunState.PAUSED and source is not RunState.PAUSED:
            self.run.update(paused_from=source, pause_reason=r.get("reason", ""))
        elif dest is not RunState.PAUSED:
            self.run.update(paused_from=None, pause_reason="")

    def versions(self, r: dict[str, Any]) -> None:
        found = {k: r[k] for k in ("version_before", "version_after") if k in r}
        if found and r.get("node"):
            self.nodes[r["node"]] = replace(self.node(r["node"]), **found)
        elif found:
            self.run.update(found)


_HANDLED = ("run_started", "step_started", "step_finished", "transition", "run_state")


def replay(path: str | os.PathLike[str]) -> RunProgress:
    """Rebuild a run's progress from its journal; unknown types and keys are ignored."""
    acc = _Replay(Path(path))
    for acc.line, record in read_records(path):     # acc.line: for error messages
        record.setdefault("ts", "")
        kind = record.get("type")
        if kind in _HANDLED:
            getattr(acc, kind)(record)
        acc.versions(record)
    return RunProgress(nodes=acc.nodes, steps=tuple(acc.steps), **acc.run)


def _seconds_between(start: str, end: str) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None
