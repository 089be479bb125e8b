"""UpgraderApp: a view over a run directory and a client of upgrader.control.

A thread worker polls the run directory (journal, control.json, tasks.jsonl,
health.json, probe.json; RunDirReader) every ``poll_s`` and posts what changed as
Messages; with an in-process EventBus, any roll event wakes it at once. Handlers
keep the newest values and repaint the panels from them, and a 1 s timer repaints
the elapsed times. Keys call only upgrader.control (the same functions as the CLI,
so every action is audited in the journal the same way); ``q`` exits this view and
nothing else: the roll, wherever it runs, goes on.
"""
from __future__ import annotations

import queue
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer

from upgrader import control
from upgrader.control import ControlFlags
from upgrader.errors import UpgraderError
from upgrader.events import EventBus
from upgrader.live.grid import Grid, build_grid
from upgrader.tui import render
from upgrader.tui.messages import (ControlChanged, FeedProblem, HealthChanged, JournalChanged,
                                   PlanLoaded, ProbeChanged, RollStopped, TasksAppended)
from upgrader.tui.reader import Changes, JournalView, RunDirReader, age_s, writer_alive
from upgrader.tui.widgets import Banner, ConfirmAbort, Panel, TaskLog

PANELS = ("title", "banner", "grid", "health", "probe", "history", "inflight")


class UpgraderApp(App[None]):
    CSS_PATH = "upgrader.tcss"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("p", "pause", "Pause"), Binding("r", "resume", "Resume"),
                Binding("a", "approve", "Approve canary"), Binding("x", "abort", "Abort..."),
                Binding("q", "leave", "Leave (roll goes on)")]

    def __init__(self, run_dir: Path, bus: EventBus | None = None, *, poll_s: float = 0.5,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.bus, self.poll_s = bus, poll_s
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._stop, self._wake = threading.Event(), threading.Event()
        self.plan = None
        self.view: JournalView | None = None
        self.flags = ControlFlags()
        self.health: dict[str, Any] | None = None
        self.probe: dict[str, Any] | None = None
        self.started: dict[str, Any] | None = None     # the task in flight (its start line)
        self.grid: Grid | None = None
        self.problem = ""
        self.roll: tuple[str, str] = ("", "")           # apply --tui: how the roll here last stopped
        self.last_message = ""                          # the answer to the last key

    def compose(self) -> ComposeResult:
        yield Panel(id="title")
        yield Banner(id="banner")
        for name in PANELS[2:]:
            yield Panel(id=name)
        yield TaskLog(id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.follow()
        self.set_interval(1.0, self.repaint)
        self.repaint()

    def on_unmount(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ feed worker
    @work(thread=True, exclusive=True, group="feeds", exit_on_error=False)
    def follow(self) -> None:
        reader = RunDirReader(self.run_dir)
        events = self.bus.subscribe() if self.bus is not None else None
        last_problem = ""
        try:
            while not self._stop.is_set():
                try:
                    changes = reader.poll()
                except Exception as e:  # noqa: BLE001 - say it and keep watching, never freeze
                    changes = Changes(problems=[f"{type(e).__name__}: {e}"[:200]])
                problem = "; ".join(changes.problems)
                if problem != last_problem:
                    self.post_message(FeedProblem(problem))
                    last_problem = problem
                self._post(changes)
                self._wait(events)
        finally:
            if events is not None and self.bus is not None:
                self.bus.unsubscribe(events)

    def _post(self, c: Changes) -> None:
        for value, message in ((c.plan, PlanLoaded), (c.journal, JournalChanged),
                               (c.flags, ControlChanged), (c.tasks, TasksAppended),
                               (c.health, HealthChanged), (c.probe, ProbeChanged)):
            if value:
                self.post_message(message(value))

    def _wait(self, events: queue.Queue | None) -> None:
        """Until the next poll, a key's wake-up, or (in-process) any event of the roll."""
        deadline = time.monotonic() + self.poll_s
        while time.monotonic() < deadline and not (self._wake.is_set() or self._stop.is_set()):
            if events is None:
                self._wake.wait(0.05)
                continue
            try:
                events.get(timeout=0.05)
                break
            except queue.Empty:
                pass
        self._wake.clear()

    def refresh_now(self) -> None:
        """Read the run directory at once (after a key, or from a test)."""
        self._wake.set()

    # ------------------------------------------------------------------ messages
    def on_plan_loaded(self, m: PlanLoaded) -> None:
        self.plan = m.plan
        self.repaint()

    def on_journal_changed(self, m: JournalChanged) -> None:
        self.view = m.view
        self.repaint()

    def on_control_changed(self, m: ControlChanged) -> None:
        self.flags = m.flags
        self.repaint()

    def on_health_changed(self, m: HealthChanged) -> None:
        self.health = m.doc
        self.repaint()

    def on_probe_changed(self, m: ProbeChanged) -> None:
        self.probe = m.doc
        self.repaint()

    def on_feed_problem(self, m: FeedProblem) -> None:
        self.problem = m.text
        self.repaint()

    def on_roll_stopped(self, m: RollStopped) -> None:
        self.roll = (m.result, m.message)
        self.repaint()

    def on_tasks_appended(self, m: TasksAppended) -> None:
        log = self.query_one("#log", TaskLog)
        for line in m.lines:
            if line.get("status") == "started":
                self.started = line
            elif (text := render.task_line(line)) is not None:
                log.add(text)
        self.repaint()

    # ------------------------------------------------------------------ paint
    def repaint(self) -> None:
        now = self.clock()
        if self.plan is not None and self.view is not None:
            self.grid = build_grid(self.plan, self.view.progress, self.view.canary, now)
        order = self.plan.order if self.plan is not None else ()
        transfers = self.view.progress.transfers() if self.view else {}
        kind, text = render.banner(self.flags, self.grid, self.view.notes if self.view else (),
                                   self.view.result if self.view else "")
        if self.roll[0] == "error":      # apply --tui: the roll here could not run at all
            kind, text = "failed", f"NOT ROLLING: {self.roll[1]} · q leaves"
        self.query_one("#banner", Banner).show_kind(kind, text)
        self._show("title", render.title_text(self._run_id(), self.grid, self._feeder()))
        self._show("grid", render.grid_text(self.grid) if self.grid else "grid: waiting for the "
                   "plan and the journal of this run")
        self._show("health", render.health_text(self.health, order, transfers,
                                                age_s(self.health, now)))
        self._show("probe", render.probe_text(self.probe, age_s(self.probe, now)))
        self._show("history", render.history_text(self.view.history if self.view else ()))
        running = bool(self.view.progress.in_flight()) if self.view else True
        self._show("inflight", render.inflight_text(self.started, now, self.flags.paused,
                                                    ended=self.view.result if self.view else "",
                                                    running=running))

    def _show(self, name: str, text: str) -> None:
        self.query_one(f"#{name}", Panel).show(text)

    def _run_id(self) -> str:
        return (self.view.progress.run_id if self.view else "") or self.run_dir.name

    def _feeder(self) -> str:
        """Who writes the live feeds, and whether it still does."""
        docs = [d for d in (self.health, self.probe) if d and d.get("at")]
        roll = f"roll here: {self.roll[0]}" if self.roll[0] not in ("", "error") else ""
        notes = [n for n in (roll, self.problem and f"problem: {self.problem}") if n]
        if not docs:
            return " · ".join(["no live feeds yet", *notes])
        doc = max(docs, key=lambda d: d["at"])
        alive = writer_alive(doc)
        state = "ended" if not doc.get("live") or alive is False else "writing"
        return " · ".join([f"apply pid {doc.get('pid', '?')} {state}", *notes])

    # ------------------------------------------------------------------ keys
    def action_pause(self) -> None:
        self._control(control.pause, "operator")

    def action_resume(self) -> None:
        self._control(control.resume)

    def action_approve(self) -> None:
        self._control(control.approve)

    def action_abort(self) -> None:
        self.push_screen(ConfirmAbort(), self._abort_answered)

    def _abort_answered(self, yes: bool | None) -> None:
        if yes:
            self._control(control.abort)
        else:
            self.last_message = "not aborted"
            self.notify(self.last_message)

    def action_leave(self) -> None:
        """Leave the view only: no control flag is touched, the roll goes on."""
        self._stop.set()
        self.exit()

    def _control(self, fn: Callable[..., str], *args: Any) -> None:
        try:
            self.last_message = fn(self.run_dir, *args, via="tui")
        except UpgraderError as e:
            self.last_message = f"error: {e}"
            self.notify(str(e), title="upgrader", severity="error")
            return
        self.notify(self.last_message, title="upgrader")
        self.refresh_now()
