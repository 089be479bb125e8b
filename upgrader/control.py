"""Pause, resume, abort and approve: persisted flags in ``<run_dir>/control.json``.

The CLI and the TUI write these from any process; the orchestrator reads them at
safe points (between steps, inside waits) and acts there, so a flag never
interrupts a playbook half way. Writes are read-modify-write under an flock on
a sidecar ``control.lock`` (two writers never lose each other's change) and land
by tmp + rename (a reader never sees half a file). Every call returns one
idempotent line for the operator.

Audit: each operator action (pause, resume, approve, abort; also the no-ops) is
appended to the run's journal as one ``control`` record saying who (user@host),
from which terminal, with which command, when, and what it did; ``control_history``
reads them back for ``upgrader status`` and the TUI. The roll's own pauses
(``by="upgrader"``) are not audit records: the orchestrator journals those itself
as ``note`` and ``run_state`` records.
"""
from __future__ import annotations

import dataclasses
import fcntl
import getpass
import json
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from upgrader.fileio import write_atomic
from upgrader.errors import ConfigError
from upgrader.model import from_dict
from upgrader.redact import Redactor

CONTROL_FILE = "control.json"
LOCK_FILE = "control.lock"
JOURNAL_FILE = "journal.jsonl"      # the run's journal (executor.session.RunPaths.journal)
SELF = "upgrader"                   # by= of the roll's own pauses: journaled by the orchestrator

PAUSE_REASONS: dict[str, str] = {   # the fixed list; `upgrader status` shows the explanation
    "operator": "paused by an operator",
    "step_failed": "a step failed; the node is FAILED and the cluster keeps serving",
    "health_gate": "a health gate did not pass in time",
    "canary_approval": "the canary node is done; waiting for `upgrader approve`",
    "unexpected_error": "upgrader stopped on an unexpected error; the cluster keeps serving",
    "cluster_fault": "the watcher saw a fault outside the node in flight (a member lost, no quorum)",
}


@dataclass(frozen=True)
class ControlFlags:
    paused: bool = False
    pause_reason: str = ""             # a key of PAUSE_REASONS when paused
    paused_by: str = ""
    paused_at: str = ""
    abort: bool = False
    aborted_by: str = ""
    aborted_at: str = ""
    awaiting_gate: str = ""            # the approval gate the roll waits at, e.g. "canary:node3"
    approved_gates: tuple[str, ...] = ()
    v: int = 1

    def is_approved(self, gate: str) -> bool:
        return gate in self.approved_gates


def read(run_dir: str | os.PathLike[str]) -> ControlFlags:
    """The current flags; no control file means no flags set."""
    path = Path(run_dir) / CONTROL_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return ControlFlags()
    except ValueError:
        raise ConfigError(f"{path} is not valid JSON; fix or remove it") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a JSON object; fix or remove it")
    return from_dict(ControlFlags, data)


def pause(run_dir: str | os.PathLike[str], reason: str = "operator", by: str | None = None,
          via: str = "", overrides: tuple[str, ...] = ()) -> str:
    """overrides: pause reasons this one replaces when the run is already paused for them
    (the watcher's cluster_fault names the cause of the failures the uptime gate paused on)."""
    if reason not in PAUSE_REASONS:
        raise ConfigError(f"unknown pause reason {reason!r}; one of {', '.join(PAUSE_REASONS)}")

    def change(f: ControlFlags) -> tuple[ControlFlags, str]:
        if f.paused and f.pause_reason in overrides:
            return (dataclasses.replace(f, pause_reason=reason, paused_by=by or _who(), paused_at=_now()),
                    f"paused ({reason}, was {f.pause_reason})")
        if f.paused:
            return f, f"already paused ({f.pause_reason})"
        return (dataclasses.replace(f, paused=True, pause_reason=reason, paused_by=by or _who(),
                                    paused_at=_now()),
                "paused; the roll stops at the next step boundary")
    return _update(run_dir, change, _audit("pause", by, via, reason=reason))


def resume(run_dir: str | os.PathLike[str], by: str | None = None, via: str = "") -> str:
    def change(f: ControlFlags) -> tuple[ControlFlags, str]:
        if f.abort:
            return f, "abort requested; resume does not cancel an abort"
        if not f.paused:
            return f, "not paused"
        if f.pause_reason == "canary_approval":   # resuming must not approve by accident
            return f, f"waiting for approval of {f.awaiting_gate}; use approve"
        return (dataclasses.replace(f, paused=False, pause_reason="", paused_by="", paused_at=""),
                "resumed; the roll continues with the next step")
    return _update(run_dir, change, _audit("resume", by, via))


def abort(run_dir: str | os.PathLike[str], by: str | None = None, via: str = "") -> str:
    def change(f: ControlFlags) -> tuple[ControlFlags, str]:
        if f.abort:
            return f, "already aborting"
        return (dataclasses.replace(f, abort=True, aborted_by=by or _who(), aborted_at=_now()),
                "abort requested; the roll stops at the next step boundary and restores "
                "what it changed temporarily")
    return _update(run_dir, change, _audit("abort", by, via))


def request_approval(run_dir: str | os.PathLike[str], gate: str) -> str:
    """Orchestrator side of a gate: park the roll (paused, canary_approval) until approve."""
    def change(f: ControlFlags) -> tuple[ControlFlags, str]:
        if f.is_approved(gate):
            return f, f"{gate} is already approved"
        if f.awaiting_gate == gate:
            return f, f"already waiting for approval of {gate}"
        paused = f if f.paused else dataclasses.replace(
            f, paused=True, pause_reason="canary_approval", paused_by="upgrader", paused_at=_now())
        return dataclasses.replace(paused, awaiting_gate=gate), f"waiting for approval of {gate}"
    return _update(run_dir, change)


def approve(run_dir: str | os.PathLike[str], by: str | None = None, via: str = "") -> str:
    def change(f: ControlFlags) -> tuple[ControlFlags, str]:
        if f.abort:                                # as resume: an abort is not undone by a key
            return f, "abort requested; approve does not cancel an abort"
        if not f.awaiting_gate:
            last = f.approved_gates[-1] if f.approved_gates else ""
            return f, f"already approved {last}" if last else "nothing is waiting for approval"
        gate = f.awaiting_gate
        new = dataclasses.replace(f, awaiting_gate="", approved_gates=(*f.approved_gates, gate))
        if new.pause_reason == "canary_approval":   # approval is the way out of that pause
            new = dataclasses.replace(new, paused=False, pause_reason="", paused_by="",
                                      paused_at="")
        return new, f"approved {gate}; the roll continues"
    return _update(run_dir, change, _audit("approve", by, via))


Change = Callable[[ControlFlags], "tuple[ControlFlags, str]"]


def _update(run_dir: str | os.PathLike[str], change: Change,
            audit: dict[str, Any] | None = None) -> str:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"no run directory {run_dir}")
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)       # held for one read and two writes: milliseconds
        before = read(run_dir)
        after, message = change(before)
        if after != before:
            write_atomic(run_dir / CONTROL_FILE, json.dumps(dataclasses.asdict(after), indent=2) + "\n")
        if audit is not None:                # under the lock: audit records keep the flags' order
            if audit["action"] == "approve":
                audit = {**audit, "gate": before.awaiting_gate}
            _journal_action(run_dir, {**audit, "changed": after != before, "message": message})
        return message
    finally:
        os.close(fd)                         # closing drops the flock


# --------------------------------------------------------------------------- audit


def _audit(action: str, by: str | None, via: str, **extra: str) -> dict[str, Any] | None:
    """Who is acting, from where; None for the roll's own actions (not an operator's)."""
    if by == SELF:
        return None
    record: dict[str, Any] = {"action": action, "by": by or _who(), "tty": terminal(),
                              "pid": os.getpid(), "command": _command(), **extra}
    if via:
        record["via"] = via              # "tui": the key of an `upgrader watch` or `apply --tui`
    remote = os.environ.get("SSH_CLIENT", "").split(" ")[0]
    if remote:
        record["remote"] = remote        # the address an ssh session came from
    if os.environ.get("SUDO_USER"):
        record["sudo_user"] = os.environ["SUDO_USER"]
    return record


def terminal() -> str:
    """The controlling terminal of stdin (/dev/pts/3), or "no tty" (cron, nohup, a pipe)."""
    try:
        fd = sys.stdin.fileno()
        return os.ttyname(fd) if os.isatty(fd) else "no tty"
    except (AttributeError, OSError, ValueError):   # stdin closed or replaced (pytest)
        return "no tty"


def _command() -> str:
    argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["?"]
    return shlex.join(argv)[:120]


def _journal_action(run_dir: Path, fields: dict[str, Any]) -> None:
    """Append one ``control`` record to the run's journal, if the run has one yet.

    The apply process appends to the same file: one write() of one whole line with
    O_APPEND lands after whatever it wrote, never inside it. No journal yet (the run
    has not started) means nothing to audit into; control.json still says who paused.
    """
    path = run_dir / JOURNAL_FILE
    record = {"v": 1, "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
              "type": "control", **fields}
    line = json.dumps(Redactor().scrub(record), separators=(",", ":"), ensure_ascii=False) + "\n"
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        _mend_tail(fd)
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _mend_tail(fd: int, settle_s: float = 0.05) -> None:
    """A last line without its newline: finish or cut it, as the journal's own writer does.

    Checked twice: the apply process writes each record in one write(), so a tail
    that stays torn is a crash's leftover, not a record being written right now.
    """
    for attempt in (1, 2):
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return
        if attempt == 1:
            time.sleep(settle_s)
    data = os.pread(fd, size, 0)
    cut = data.rfind(b"\n") + 1
    try:
        json.loads(data[cut:])
        os.write(fd, b"\n")                  # whole record, only its newline was lost
    except ValueError:
        os.ftruncate(fd, cut)


@dataclass(frozen=True)
class ControlRecord:
    """One audited control action, as ``control_history`` reads it back."""

    ts: str
    action: str                  # pause | resume | approve | abort
    by: str                      # user@host
    tty: str = "no tty"
    command: str = ""
    via: str = ""                # "tui" when a key of the TUI did it
    gate: str = ""               # approve: the gate approved
    reason: str = ""             # pause: the reason asked for
    changed: bool = True         # False: an idempotent no-op ("already paused")
    message: str = ""
    remote: str = ""
    sudo_user: str = ""
    pid: int = 0


def control_history(journal_path: str | os.PathLike[str]) -> list[ControlRecord]:
    """Every audited control action of a run, oldest first ([] without a journal)."""
    from upgrader.journal import read_records   # journal -> machine; keep control import-light

    if not Path(journal_path).exists():
        return []
    return history_of([r for _, r in read_records(journal_path)])


def history_of(records: list[dict[str, Any]]) -> list[ControlRecord]:
    """The control records among journal records already read."""
    return [from_dict(ControlRecord, r) for r in records
            if r.get("type") == "control" and r.get("action")]


_PAST = {"pause": "paused", "resume": "resumed", "approve": "approved", "abort": "aborted"}


def describe(rec: ControlRecord, with_date: bool = True) -> str:
    """One line: '2026-12-01 12:05:40Z alice@ops1 approved canary:node2 on /dev/pts/4 (upgrader watch, tui)'."""
    when = rec.ts[:19].replace("T", " ") + "Z" if with_date else rec.ts[11:19]
    what = _PAST.get(rec.action, rec.action) + (f" {rec.gate}" if rec.gate else "")
    if rec.action == "pause" and rec.reason and rec.reason != "operator":
        what += f" ({rec.reason})"
    if not rec.changed:
        what = f"tried to {rec.action}: {rec.message}"
    who = rec.by + (f" (sudo from {rec.sudo_user})" if rec.sudo_user else "")
    where = rec.tty + (f" from {rec.remote}" if rec.remote else "")
    how = ", ".join(x for x in (rec.command, rec.via) if x)
    return f"{when} {who} {what} on {where}" + (f" ({how})" if how else "")


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):              # no passwd entry in a container
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
