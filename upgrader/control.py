"""Pause, resume, abort and approve: persisted flags in ``<run_dir>/control.json``.

The CLI and the TUI write these from any process; the orchestrator reads them at
safe points (between steps, inside waits) and acts there, so a flag never
interrupts a playbook half way. Writes are read-modify-write under an flock on
a sidecar ``control.lock`` (two writers never lose each other's change) and land
by tmp + rename (a reader never sees half a file). Every call returns one
idempotent line for the operator.
"""
from __future__ import annotations

import dataclasses
import fcntl
import getpass
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from upgrader.fileio import write_atomic
from upgrader.errors import ConfigError
from upgrader.model import from_dict

CONTROL_FILE = "control.json"
LOCK_FILE = "control.lock"

PAUSE_REASONS: dict[str, str] = {   # the fixed list; `upgrader status` shows the explanation
    "operator": "paused by an operator",
    "step_failed": "a step failed; the node is FAILED and the cluster keeps serving",
    "health_gate": "a health gate did not pass in time",
    "canary_approval": "the canary node is done; waiting for `upgrader approve`",
    "unexpected_error": "upgrader stopped on an unexpected error; the cluster keeps serving",
}


@dataclass(frozen=True)
class ControlFlags:
    paused: bool = False
    pause_reason: str = ""             # a key of PAUSE_REASONS when paused
    paused_by: str = ""
    paused_at: str = ""
    abort: bool = False
    aborted_by: str = ""
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


def pause(run_dir: str | os.PathLike[str], reason: str = "operator", by: str | None = None) -> str:
    if reason not in PAUSE_REASONS:
        raise ConfigError(f"unknown pause reason {reason!r}; one of {', '.join(PAUSE_REASONS)}")

    def change(f: ControlFlags) -> tuple[ControlFlags, str]:
        if f.paused:
            return f, f"already paused ({f.pause_reason})"
        return (dataclasses.replace(f, paused=True, pause_reason=reason, paused_by=by or _who(),
                                    paused_at=_now()),
                "paused; the roll stops at the next step boundary")
    return _update(run_dir, change)


def resume(run_dir: str | os.PathLike[str]) -> str:
    def change(f: ControlFlags) -> tuple[ControlFlags, str]:
        if f.abort:
            return f, "abort requested; resume does not cancel an abort"
        if not f.paused:
            return f, "not paused"
        if f.pause_reason == "canary_approval":   # resuming must not approve by accident
            return f, f"waiting for approval of {f.awaiting_gate}; use approve"
        return (dataclasses.replace(f, paused=False, pause_reason="", paused_by="", paused_at=""),
                "resumed; the roll continues with the next step")
    return _update(run_dir, change)


def abort(run_dir: str | os.PathLike[str], by: str | None = None) -> str:
    def change(f: ControlFlags) -> tuple[ControlFlags, str]:
        if f.abort:
            return f, "already aborting"
        return (dataclasses.replace(f, abort=True, aborted_by=by or _who()),
                "abort requested; the roll stops at the next step boundary and restores "
                "what it changed temporarily")
    return _update(run_dir, change)


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


def approve(run_dir: str | os.PathLike[str]) -> str:
    def change(f: ControlFlags) -> tuple[ControlFlags, str]:
        if not f.awaiting_gate:
            last = f.approved_gates[-1] if f.approved_gates else ""
            return f, f"already approved {last}" if last else "nothing is waiting for approval"
        gate = f.awaiting_gate
        new = dataclasses.replace(f, awaiting_gate="", approved_gates=(*f.approved_gates, gate))
        if new.pause_reason == "canary_approval":   # approval is the way out of that pause
            new = dataclasses.replace(new, paused=False, pause_reason="", paused_by="",
                                      paused_at="")
        return new, f"approved {gate}; the roll continues"
    return _update(run_dir, change)


Change = Callable[[ControlFlags], "tuple[ControlFlags, str]"]


def _update(run_dir: str | os.PathLike[str], change: Change) -> str:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"no run directory {run_dir}")
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)       # held for one read and one write: microseconds
        before = read(run_dir)
        after, message = change(before)
        if after != before:
            write_atomic(run_dir / CONTROL_FILE, json.dumps(dataclasses.asdict(after), indent=2) + "\n")
        return message
    finally:
        os.close(fd)                         # closing drops the flock


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):              # no passwd entry in a container
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
