"""The `upgrader` command: thin typer views over the library, and its one error boundary."""
from __future__ import annotations

import os
import sys
import traceback
from datetime import datetime, timezone

import typer
from rich.console import Console

from upgrader import exitcodes
from upgrader.errors import UpgraderError

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode="rich", pretty_exceptions_enable=False,
    help="Zero-downtime rolling upgrades of an HA OpenStack control plane.",
)
err = Console(stderr=True)


def _register() -> None:
    from upgrader.cli import apply, lab, plan, probe, recover, watch, where

    app.add_typer(lab.app, name="lab")
    app.command()(plan.facts)
    app.command()(plan.plan)
    app.command()(probe.probe)
    for command in (apply.apply, apply.approve, apply.pause, apply.resume, apply.abort, apply.status,
                    apply.report, recover.recover, watch.watch, where.where):
        app.command()(command)


def main() -> None:
    """Entry point: every error becomes one line on stderr and a documented exit code."""
    _register()
    try:
        # standalone_mode=False hands typer.Exit codes back as the return value
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except UpgraderError as e:
        tell_error(e)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("[red]interrupted[/]; a run in progress resumes with `upgrader apply`")
        sys.exit(exitcodes.INTERRUPTED)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - the one boundary: never a traceback on the terminal
        # NOTE: typer 0.29 raises its vendored copy of click's exceptions, not click's own.
        if hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(exitcodes.REFUSED if e.exit_code == 2 else e.exit_code)
        _internal_error(e)


def tell_error(e: UpgraderError) -> None:
    """The one line of an error upgrader reports (bad input, an unsafe cluster, ...)."""
    err.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)


def tell_internal_error(e: BaseException) -> None:
    """One line naming the crash log that keeps the traceback (a bug, not the operator's)."""
    log = crash_log(e)
    first = (str(e).splitlines() or [""])[0][:300]
    err.print(f"[red]internal error:[/] {type(e).__name__}: {first} (a bug in upgrader; "
              f"traceback in {log or 'stderr of a re-run with UPGRADER_DEBUG=1'})",
              highlight=False, soft_wrap=True)
    if os.environ.get("UPGRADER_DEBUG"):
        traceback.print_exception(e)


def _internal_error(e: Exception) -> None:
    """One line, the traceback kept in a crash log, and where the cluster's run stands."""
    tell_internal_error(e)
    for line in _run_state_lines():
        err.print(line, highlight=False, soft_wrap=True)
    sys.exit(exitcodes.INTERNAL)


def crash_log(e: BaseException) -> str:
    """The path of a new 0600 file with the command line and e's traceback; "" if none could be written."""
    try:
        from upgrader.paths import locations, private_dir

        directory = private_dir(locations().state / "crash", "crash log directory")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        path = directory / f"crash-{stamp}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(" ".join(sys.argv) + "\n" + "".join(traceback.format_exception(e)))
        return str(path)
    except Exception:  # noqa: BLE001 - a crash while reporting a crash must not hide the first
        return ""


def _run_state_lines() -> list[str]:
    """Best effort: each node's state in the current run, and what to do next."""
    try:
        from upgrader.cli.common import find_run
        from upgrader.journal import replay

        entry = find_run()
        progress = replay(entry.current.journal)
    except Exception:  # noqa: BLE001 - no run, or unreadable: nothing more to say
        return ["no run is in progress on this machine: no node was touched"]
    states = ", ".join(f"{n} {p.state.value}" for n, p in progress.nodes.items()) or "no node touched"
    return [f"run {progress.run_id} of cluster {entry.cluster}: {progress.run_state.value}; {states}",
            "next: `upgrader status`, then `upgrader apply` to continue from the journal"]
