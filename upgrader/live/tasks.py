"""ansible-runner events -> the task log lines of ``tasks.jsonl``. Pure: fed recorded events in tests.

One line per task result (ok, changed, failed, ignored, skipped, unreachable), one per
retry of an ``until`` wait, one when a task starts (so a watcher can show the task in
flight during a long wait) and one per step marker. The node and first step come from the
runner ident (``NNN-<node>-<step>[.n]``, cluster steps use ``cluster``); later steps of
the same playbook run from the marker play the executor puts before each step.
Task results carry no module output except a one-line message for a failure or a
retry; the caller scrubs every line before writing it.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from upgrader.executor.runner import STEP_MARKER, one_line

_RESULT = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_skipped": "skipped",
           "runner_on_unreachable": "unreachable"}
_IDENT = re.compile(r"^\d+-(?P<node>.+)-(?P<step>[a-z0-9_]+)(?:\.\d+)?$")
MSG_LIMIT = 200


def parse_ident(ident: str) -> tuple[str, str]:
    """'004-node2-stop_services.2' -> ('node2', 'stop_services'); cluster steps -> ('', step)."""
    m = _IDENT.match(ident or "")
    if m is None:
        return "", ""
    node = m.group("node")
    return ("" if node == "cluster" else node), m.group("step")


class TaskLineParser:
    """``see(event)`` returns the line to log for that event, or None."""

    def __init__(self) -> None:
        self._step: dict[str, str] = {}       # runner ident -> the step its run is in

    def see(self, event: dict[str, Any]) -> dict[str, Any] | None:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        ident = str(event.get("runner_ident") or data.get("runner_ident") or "")
        node, first_step = parse_ident(ident)
        if kind == "playbook_on_play_start":
            play = str(data.get("play") or data.get("name") or "")
            if play.startswith(STEP_MARKER):
                self._step[ident] = play[len(STEP_MARKER):]
                return self._line(event, ident, node, kind="step")
            return None
        base = self._line(event, ident, node)
        if kind == "playbook_on_task_start":
            return {**base, "task": str(data.get("task") or data.get("name") or ""),
                    "status": "started"}
        if kind == "runner_retry":
            return {**base, **_task(data), "status": "retry", "msg": _retry_text(data)}
        if kind in _RESULT:
            return {**base, **_task(data), **_result(kind, data)}
        return None

    def _line(self, event: dict[str, Any], ident: str, node: str, kind: str = "task") -> dict[str, Any]:
        step = self._step.get(ident) or parse_ident(ident)[1]
        return {"ts": _ts(event), "kind": kind, "ident": ident, "node": node, "step": step}


def _task(data: dict[str, Any]) -> dict[str, Any]:
    return {"task": str(data.get("task") or ""), "host": str(data.get("host") or "")}


def _result(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    res = data.get("res") if isinstance(data.get("res"), dict) else {}
    status = _RESULT[kind]
    if status == "ok" and res.get("changed"):
        status = "changed"
    if status == "failed" and data.get("ignore_errors"):
        status = "ignored"
    out: dict[str, Any] = {"status": status}
    if status in ("failed", "ignored", "unreachable"):
        out["msg"] = _failure_text(res)
    if res.get("attempts"):
        out["attempts"] = res["attempts"]
    return out


def _failure_text(res: dict[str, Any]) -> str:
    msg = res.get("msg")
    text = msg if isinstance(msg, str) else ""
    if not text or text == "non-zero return code":
        lines = [ln for ln in str(res.get("stderr") or res.get("stdout") or "").splitlines() if ln.strip()]
        text = f"{text}: {lines[-1]}" if text and lines else (text or (lines[-1] if lines else ""))
    return one_line(text, MSG_LIMIT)


def _retry_text(data: dict[str, Any]) -> str:
    res = data.get("res") if isinstance(data.get("res"), dict) else {}
    attempts, retries = res.get("attempts"), res.get("retries")
    if attempts and retries:
        return f"attempt {attempts} of {retries}"
    return f"attempt {attempts}" if attempts else "retrying"


def _ts(event: dict[str, Any]) -> str:
    created = event.get("created")
    if isinstance(created, str) and created:
        return created
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
