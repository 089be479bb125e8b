"""`upgrader watch` and `upgrader apply --tui`: the textual run view (docs/tui.md).

Both show only what the run directory says, so `watch` in a second terminal shows
the same state as the UI of `apply --tui`, or of an `apply` under nohup.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Callable

import typer
from rich.console import Console

from upgrader.cli.common import ClusterOpt, InventoryOpt
from upgrader.errors import ConfigError
from upgrader.events import EventBus, LogLine

out = Console()

# (bus, say) -> (Outcome, report): one session.execute of the run, as apply.py builds it
Roll = Callable[[EventBus, Callable[[str], None]], "tuple[Any, dict]"]

LEFT_APPLY = ("left the view; the roll goes on in this process (pid {pid}) and prints its progress "
              "here until it returns. Watch it from any terminal with `upgrader watch`; stop it "
              "with `upgrader pause` or `upgrader abort`.")
CTRL_C = ("Ctrl-C does not stop a roll under way (a playbook is never cut half way): use "
          "`upgrader pause` or `upgrader abort` from any terminal; this process ends with the roll.")


def watch(
    cluster: ClusterOpt = None,
    inventory: InventoryOpt = None,
    run: Annotated[Path | None, typer.Option("--run", help="Run directory to watch (default: "
                                             "the cluster's current run).")] = None,
) -> None:
    """Watch the roll in progress from any terminal; p/r/a/x control it, q leaves the view only."""
    from upgrader.cli.common import find_run
    from upgrader.tui.app import UpgraderApp

    run_dir = run.resolve() if run is not None else find_run(cluster, inventory).current.dir
    if not (run_dir / "plan.json").is_file():
        raise ConfigError(f"{run_dir} is not a run directory (no plan.json)")
    _need_terminal("upgrader watch")
    UpgraderApp(run_dir).run()
    out.print(f"left the view of {run_dir.name}; the run goes on (`upgrader status`, "
              "`upgrader watch` again)", highlight=False)


def run_apply_tui(run_dir: Path, order: tuple[str, ...], roll: Roll) -> tuple[Any, dict]:
    """Run the roll under the UI; -> the last roll's (Outcome, report). Call under the cluster lock.

    ``roll(bus, say)`` runs session.execute once. It runs in its own thread
    (tui/roll.py) and runs again after an approval or a resume while the UI is open.
    Leaving the UI (q) while it runs falls back to the headless view in this terminal
    until it returns, as a plain `upgrader apply` would go on.
    """
    from upgrader.tui.app import UpgraderApp
    from upgrader.tui.messages import RollStopped
    from upgrader.tui.roll import RollSupervisor
    from upgrader.views.live import LiveView

    _need_terminal("upgrader apply --tui")
    bus = EventBus()
    app = UpgraderApp(run_dir, bus=bus)
    supervisor = RollSupervisor(
        run_dir, lambda: roll(bus, lambda line: bus.publish(LogLine(line))),
        on_stop=lambda result, message: app.post_message(RollStopped(result, message)))
    supervisor.start()
    try:
        app.run()
    finally:
        supervisor.ui_closed()
    supervisor.join(0.5)                         # a roll parked at a stop ends at once now
    if supervisor.running:
        out.print(LEFT_APPLY.format(pid=os.getpid()), highlight=False, soft_wrap=True)
        view = LiveView(bus, order, Console(force_terminal=False)).start()
        try:
            _join(supervisor)
        finally:
            view.stop()
    return supervisor.result()


def _join(supervisor: Any) -> None:
    while supervisor.running:
        try:
            supervisor.join(1.0)
        except KeyboardInterrupt:
            out.print(CTRL_C, highlight=False, soft_wrap=True)


def _need_terminal(what: str) -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ConfigError(f"{what} needs a terminal; without one use `upgrader apply` and "
                          "`upgrader status`")
