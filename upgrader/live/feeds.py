"""The apply side of the live view: the threads that keep the run directory's feeds fresh.

``start_live_feeds(run_dir, cluster, secrets, bus)`` in the apply process, then
``AnsibleRunnerExecutor(on_event=feeds.on_runner_event)``, ``feeds.attach_probe(probe)``
once the probe runs, and ``feeds.stop()`` when the roll returns. Any watcher (the TUI
in this process or `upgrader watch` in another) reads only the files.

A feed must never hurt the roll: every write is scrubbed with the run's Redactor,
and every error is swallowed and counted (a feed that cannot write shows as stale in
the UI; the roll does not notice). on_runner_event runs inside ansible-runner's event
handler, on the roll's thread, so it only parses and appends one line.
"""
from __future__ import annotations

import os
import queue
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from upgrader.events import ApprovalNeeded, EventBus, LogLine, Paused
from upgrader.inventory import Cluster
from upgrader.live.feed import HEALTH_FILE, PROBE_FILE, TASKS_FILE, append_line, write_snapshot
from upgrader.live.figures import probe_figures
from upgrader.live.health import HealthSampler
from upgrader.live.tasks import TaskLineParser
from upgrader.redact import Redactor

HEALTH_S, PROBE_S, RABBIT_S = 2.0, 1.0, 10.0
_UNSET = object()     # no attach_probe yet: the probe may still be measuring its baseline


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class LiveFeeds:
    def __init__(self, run_dir: Path, redactor: Redactor, sampler: HealthSampler | None = None,
                 bus: EventBus | None = None, intervals: tuple[float, float, float] =
                 (HEALTH_S, PROBE_S, RABBIT_S)) -> None:
        self.run_dir = Path(run_dir)
        self._redactor, self._sampler, self._bus = redactor, sampler, bus
        self._intervals = intervals
        self._parser = TaskLineParser()
        self._parse_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queue: queue.Queue | None = None
        self._probe: Any = _UNSET
        self._budget = 0
        self._health: dict[str, Any] = {}
        self.errors = 0                  # feed errors swallowed so far
        self.last_error = ""
        self._me = {"pid": os.getpid(), "host": socket.gethostname()}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "LiveFeeds":
        health_s, probe_s, rabbit_s = self._intervals
        if self._sampler is not None:
            self._every(rabbit_s, self._sampler.sample_rabbit, "live-rabbitmq")
            self._every(health_s, self._write_health, "live-health")
        self._every(probe_s, self._write_probe, "live-probe")
        if self._bus is not None:
            self._queue = self._bus.subscribe()
            self._spawn(self._drain_bus, "live-bus")
        return self

    def stop(self) -> None:
        """Stop the threads, then leave snapshots marked not live (the UI says 'stale')."""
        self._stop.set()
        for th in self._threads:     # daemons: one stuck in an ssh call must not hold the roll
            th.join(timeout=2)
        if self._bus is not None and self._queue is not None:
            self._drain_once(block=False)
            self._bus.unsubscribe(self._queue)
        self._guard(self._write_probe, live=False)
        if self._health:
            self._guard(self._snapshot, HEALTH_FILE, self._health, live=False)
        if self._sampler is not None:
            self._sampler.close()

    def rabbit_status(self) -> dict[str, Any]:
        """RabbitMQ's last cluster status as the health feed read it ({} without a sampler)."""
        return self._sampler.latest_rabbit() if self._sampler is not None else {}

    def attach_probe(self, probe: Any, budget: int = 0) -> None:
        """The running Probe (or None when the probe is off); its figures go to probe.json."""
        self._probe, self._budget = probe, budget
        self._guard(self._write_probe)

    # ------------------------------------------------------------------ task log
    def on_runner_event(self, event: dict) -> None:
        """AnsibleRunnerExecutor(on_event=...): one task line per result, never an exception."""
        def handle() -> None:
            with self._parse_lock:
                line = self._parser.see(event)
            if line is not None:
                self._append(line)
        self._guard(handle)

    def log(self, text: str, node: str = "", step: str = "") -> None:
        """A line of the roll's own (a health wait, a pause) in the task log."""
        self._guard(self._append, {"ts": _now(), "kind": "log", "node": node, "step": step,
                                   "text": text})

    def _append(self, line: dict[str, Any]) -> None:
        append_line(self.run_dir / TASKS_FILE, self._redactor.scrub(line))

    def _drain_bus(self) -> None:
        while not self._stop.is_set():
            self._drain_once(block=True)

    def _drain_once(self, block: bool) -> None:
        assert self._queue is not None
        while True:
            try:
                ev = self._queue.get(timeout=0.5) if block else self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(ev, LogLine):
                self.log(ev.line, ev.node, ev.step)
            elif isinstance(ev, Paused):
                self.log(f"paused ({ev.reason}): {ev.message}")
            elif isinstance(ev, ApprovalNeeded):
                self.log(f"waiting for approval of {ev.gate}: {ev.message}")
            block = False                 # take what is queued, then wait again

    # ------------------------------------------------------------------ snapshots
    def _write_health(self) -> None:
        assert self._sampler is not None
        t0 = time.monotonic()
        doc = self._sampler.sample()
        self._health = {**doc, "sample_s": round(time.monotonic() - t0, 3),
                        "interval_s": self._intervals[0]}
        self._snapshot(HEALTH_FILE, self._health)

    def _write_probe(self, live: bool = True) -> None:
        if self._probe is _UNSET:
            return
        if self._probe is None:
            self._snapshot(PROBE_FILE, {"enabled": False})
            return
        figures = probe_figures(self._probe.recorder.samples(), self._probe.baseline_end,
                                time.time(), self._budget)
        self._snapshot(PROBE_FILE, {"enabled": True, **figures}, live)

    def _snapshot(self, name: str, doc: dict[str, Any], live: bool = True) -> None:
        if live and self._stop.is_set():     # a sample that ended after stop(): stale by now
            return
        doc = {**doc, "at": _now(), **self._me, "live": live,
               "feed_errors": self.errors}
        write_snapshot(self.run_dir / name, self._redactor.scrub(doc))

    # ------------------------------------------------------------------ threads
    def _every(self, interval: float, fn: Callable[[], Any], name: str) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self._guard(fn)
                if self._stop.wait(interval):
                    return
        self._spawn(loop, name)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        th = threading.Thread(target=target, name=name, daemon=True)
        th.start()
        self._threads.append(th)

    def _guard(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - a feed never stops the roll; it goes stale
            self.errors += 1
            self.last_error = f"{type(e).__name__}: {e}"[:200]


def start_live_feeds(run_dir: Path, cluster: Cluster | None, secrets: dict[str, str],
                     bus: EventBus | None = None, probe: Any = None,
                     probe_budget: int = 0) -> LiveFeeds:
    """Start writing tasks.jsonl, health.json and probe.json under run_dir. See the module doc."""
    redactor = Redactor(secrets.values())
    sampler = None
    if cluster is not None:
        sampler = HealthSampler(cluster, secrets.get("mariadb_upgrader_password", ""))
    feeds = LiveFeeds(run_dir, redactor, sampler, bus).start()
    if probe is not None:              # else call attach_probe() once the probe runs (or is off)
        feeds.attach_probe(probe, probe_budget)
    return feeds
