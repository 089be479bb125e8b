"""What the orchestrator tells its watchers, and the bus that carries it.

Events are frozen dataclasses of plain values (states as their string values) so
they journal as JSON and cross threads without sharing mutable state. The bus
fans each event out to every subscriber's queue and never blocks the publisher:
a watcher that stops reading (a frozen TUI) loses its oldest events, the roll
does not stall.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Union

from upgrader.model import from_dict


class _EventBase:
    def to_dict(self) -> dict[str, Any]:
        """``{"event": "<ClassName>", **fields}``; the inverse of event_from_dict."""
        return {"event": type(self).__name__, **dataclasses.asdict(self)}  # type: ignore[call-overload]


@dataclass(frozen=True)
class RunStateChanged(_EventBase):
    run_id: str
    source: str
    dest: str
    trigger: str = ""


@dataclass(frozen=True)
class NodeStateChanged(_EventBase):
    node: str
    source: str
    dest: str
    trigger: str = ""
    error: str = ""


@dataclass(frozen=True)
class StepStarted(_EventBase):
    node: str                  # "" for a cluster-level step (preparation/finalization)
    step: str
    attempt: int = 1


@dataclass(frozen=True)
class StepFinished(_EventBase):
    node: str
    step: str
    duration_s: float
    ok: bool
    message: str = ""
    artifact_id: str = ""
    transfer: str = ""         # rejoin_galera: "IST" or "SST"


@dataclass(frozen=True)
class HealthSample(_EventBase):
    figures: dict[str, Any] = field(default_factory=dict)   # e.g. {"keystone_p95_ms": 41.0}
    node: str = ""


@dataclass(frozen=True)
class LogLine(_EventBase):
    line: str
    node: str = ""
    step: str = ""


@dataclass(frozen=True)
class ApprovalNeeded(_EventBase):
    gate: str                  # e.g. "canary:node3"
    message: str = ""


@dataclass(frozen=True)
class Paused(_EventBase):
    reason: str                # one of control.PAUSE_REASONS
    message: str = ""


Event = Union[RunStateChanged, NodeStateChanged, StepStarted, StepFinished, HealthSample,
              LogLine, ApprovalNeeded, Paused]
EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in Event.__args__}  # type: ignore[attr-defined]


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """Rebuild an event (e.g. from a tailed journal); None for an unknown event name."""
    cls = EVENT_TYPES.get(data.get("event", ""))
    if cls is None:
        return None
    return from_dict(cls, {k: v for k, v in data.items() if k != "event"})


class EventBus:
    """Thread-safe fan-out of events to bounded per-subscriber queues."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue[Event]] = []
        self._maxsize = maxsize
        self.dropped = 0           # events dropped because a subscriber fell behind

    def subscribe(self) -> queue.Queue[Event]:
        q: queue.Queue[Event] = queue.Queue(maxsize=self._maxsize)
        with self._lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[Event]) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def publish(self, event: Event) -> None:
        with self._lock:
            for q in self._subscribers:
                self._offer(q, event)

    def _offer(self, q: queue.Queue[Event], event: Event) -> None:
        while True:
            try:
                q.put_nowait(event)
                return
            except queue.Full:
                try:                       # drop the oldest; the newest says more about now
                    q.get_nowait()
                    self.dropped += 1
                except queue.Empty:        # the reader just drained it; offer again
                    pass
