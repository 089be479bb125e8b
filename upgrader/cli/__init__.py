"""The `upgrader` command: thin typer views over the library."""
from __future__ import annotations

import sys

import typer
from rich.console import Console

from upgrader.errors import UpgraderError

app = typer.Typer(
    no_args_is_help=True, rich_markup_mode="rich", pretty_exceptions_enable=False,
    help="Zero-downtime rolling upgrades of an HA OpenStack control plane.",
)
err = Console(stderr=True)


def _register() -> None:
    from upgrader.cli import apply, lab, plan, probe

    app.add_typer(lab.app, name="lab")
    app.command()(plan.facts)
    app.command()(plan.plan)
    app.command()(probe.probe)
    for command in (apply.apply, apply.approve, apply.pause, apply.resume, apply.abort, apply.status):
        app.command()(command)


def main() -> None:
    """Entry point: every UpgraderError becomes one line on stderr and its exit code."""
    _register()
    try:
        # standalone_mode=False hands typer.Exit codes back as the return value
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except UpgraderError as e:
        err.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err.print("[red]aborted[/]")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        sys.exit(130)
    except Exception as e:  # usage errors: one line, never a traceback
        # NOTE: typer 0.29 raises its vendored copy of click's exceptions, not click's own.
        if hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(e.exit_code)
        raise
