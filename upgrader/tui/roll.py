"""apply --tui: the roll runs in a plain thread beside the UI, and outlives it.

A textual worker would be cancelled with the app; the roll must go on when the
operator leaves the view, so it gets its own (non-daemon) thread. While the UI is
open, a roll that stopped itself (at the canary gate, a health-gate pause, a failed
step) is started again as soon as control.json lets a roll go on: an approval (`a`),
a resume (`r`), from this view or any terminal. That is what running `upgrader
approve` / `upgrader apply` again would do, so the view never leaves a roll parked
that the operator has just released. An abort after such a stop starts it again too
(when no node is half-way: at the gate or before a node), so the journal records the
run as aborted. Once the UI has closed, nothing is started again: the process ends
like a headless `apply` with the same outcome.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from upgrader import control
from upgrader.errors import LockHeld

Roll = Callable[[], "tuple[Any, dict]"]      # session.execute(...) -> (Outcome, report)
STOPPED_HERE = ("awaiting_approval", "paused", "failed")


class RollSupervisor:
    def __init__(self, run_dir, roll: Roll, poll_s: float = 0.5,
                 on_stop: Callable[[str, str], None] | None = None) -> None:
        self.run_dir = run_dir
        self._roll, self.poll_s = roll, poll_s
        self.on_stop = on_stop                   # (result, message), from the roll's thread
        self._ui_closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="roll", daemon=False)
        self.outcome: Any = None
        self.report: dict = {}
        self.error: BaseException | None = None
        self.note = ""                           # why the last roll ended here, for the UI

    def start(self) -> "RollSupervisor":
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def ui_closed(self) -> None:
        self._ui_closed.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def result(self) -> tuple[Any, dict]:
        """The last roll's (outcome, report); its exception if it raised one."""
        if self.error is not None:
            raise self.error
        return self.outcome, self.report

    def _loop(self) -> None:
        while True:
            try:
                self.outcome, self.report = self._roll()
            except LockHeld as e:
                if self.outcome is None:         # the first roll: another apply runs; refuse
                    self.error = e
                    self._stopped("error", str(e))
                else:                            # `upgrader approve` elsewhere took the roll on
                    self._stopped("elsewhere", f"another upgrader continues the roll: {e}")
                return
            except BaseException as e:  # noqa: BLE001 - handed to the CLI, which reports it
                self.error = e
                self._stopped("error", str(e))
                return
            self._stopped(self.outcome.result, self.outcome.message)
            if self.outcome.result not in STOPPED_HERE or not self._released():
                return

    def _stopped(self, result: str, message: str) -> None:
        self.note = f"{result}: {message}"
        if self.on_stop is not None:
            self.on_stop(result, message)

    def _released(self) -> bool:
        """Wait, while the UI is open, for flags that let a roll go on; False: stay stopped."""
        while not self._ui_closed.wait(self.poll_s):
            flags = control.read(self.run_dir)
            if flags.abort:
                return self.outcome.result != "failed"   # a failed node is not finished for an abort
            if not flags.paused and not flags.awaiting_gate:
                return True
        return False
