"""The rich live view of a roll: nodes x steps with elapsed time, fed only by events."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from upgrader.events import (ApprovalNeeded, EventBus, LogLine, NodeStateChanged, Paused,
                             RunStateChanged, StepFinished, StepStarted)
from upgrader.machine import NODE_STEPS

SHORT = {"drain_api": "api", "drain_db": "db", "desync_galera": "desync", "drain_rabbitmq": "rmq",
         "stop_services": "stop", "upgrade": "upgrade", "rejoin_galera": "rejoin",
         "verify_node": "verify", "revive_rabbitmq": "revive", "resync_galera": "resync",
         "undrain": "undrain"}


@dataclass
class RollBoard:
    """What the view shows; updated from events, rendered on every refresh."""

    order: tuple[str, ...]
    state: dict[str, str] = field(default_factory=dict)
    cells: dict[tuple[str, str], str] = field(default_factory=dict)
    running: dict[str, tuple[str, float]] = field(default_factory=dict)  # node -> (step, t0)
    run_state: str = "planned"
    notes: list[str] = field(default_factory=list)

    def apply(self, ev: object) -> None:
        if isinstance(ev, StepStarted):
            self.running[ev.node] = (ev.step, time.monotonic())
        elif isinstance(ev, StepFinished):
            self.running.pop(ev.node, None)
            mark = "[green]✓[/]" if ev.ok else "[red]✗[/]"
            extra = f" {ev.transfer}" if ev.transfer else ""
            self.cells[(ev.node, ev.step)] = f"{mark} {ev.duration_s:.1f}s{extra}"
            if not ev.node:
                self.notes.append(f"{ev.step}: {'ok' if ev.ok else 'FAILED'} in {ev.duration_s:.1f}s")
        elif isinstance(ev, NodeStateChanged):
            self.state[ev.node] = ev.dest
        elif isinstance(ev, RunStateChanged):
            self.run_state = ev.dest
        elif isinstance(ev, (Paused, ApprovalNeeded)):
            self.notes.append(f"[yellow]{getattr(ev, 'reason', getattr(ev, 'gate', ''))}[/]: {ev.message}")
        elif isinstance(ev, LogLine):
            self.notes.append(ev.line)
        del self.notes[:-4]

    def render(self) -> Group:
        t = Table(title=f"roll: {self.run_state}", expand=False)
        t.add_column("node")
        t.add_column("state")
        for step in NODE_STEPS:
            t.add_column(SHORT[step], no_wrap=True)
        for node in self.order:
            row = [node, self.state.get(node, "pending")]
            for step in NODE_STEPS:
                cell = self.cells.get((node, step), "")
                run = self.running.get(node)
                if run and run[0] == step:
                    cell = f"[cyan]▶ {time.monotonic() - run[1]:.0f}s[/]"
                row.append(cell)
            t.add_row(*row)
        return Group(t, *(Text.from_markup(n) for n in self.notes))


class LiveView:
    """Drains a bus subscription in a thread and repaints a rich Live display."""

    def __init__(self, bus: EventBus, order: tuple[str, ...], console: Console | None = None):
        self.board = RollBoard(order)
        self.console = console or Console()
        self._queue = bus.subscribe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> "LiveView":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        if self.console.is_terminal:
            with Live(self.board.render(), console=self.console, refresh_per_second=4) as live:
                while not self._stop.is_set() or not self._queue.empty():
                    ev = self._next()
                    if ev is not None:
                        self.board.apply(ev)
                    live.update(self.board.render())
            return
        # NOTE: no terminal (CI, a pipe): one line per event worth reading, no repaints.
        while not self._stop.is_set() or not self._queue.empty():
            ev = self._next()
            line = ev is not None and plain_line(ev)
            if line:
                self.console.print(line, highlight=False, soft_wrap=True)

    def _next(self):
        try:
            return self._queue.get(timeout=0.25)
        except Exception:
            return None


def plain_line(ev: object) -> str:
    if isinstance(ev, StepFinished):
        return (f"{ev.node or 'cluster'} {ev.step}: {'ok' if ev.ok else 'FAILED'} {ev.duration_s:.1f}s"
                + (f" {ev.transfer}" if ev.transfer else "") + (f" - {ev.message}" if not ev.ok else ""))
    if isinstance(ev, Paused):
        return f"paused ({ev.reason}): {ev.message}"
    if isinstance(ev, ApprovalNeeded):
        return f"awaiting approval of {ev.gate}: {ev.message}"
    if isinstance(ev, LogLine):
        return ev.line
    return ""
