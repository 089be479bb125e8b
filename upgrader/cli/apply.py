"""`upgrader apply | approve | pause | resume | abort | status`."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from upgrader import control
from upgrader.cli.common import JsonOpt, plans_dir, runs_dir
from upgrader.errors import ConfigError, LockHeld
from upgrader.events import EventBus
from upgrader.executor.session import (ProbeOptions, RunPaths, execute, open_run,
                                       run_dir_for_control)
from upgrader.journal import replay
from upgrader.planner import load_plan, plan_table
from upgrader.report import summary_table
from upgrader.views.live import LiveView

out = Console()
EXIT = {"success": 0, "awaiting_approval": 0, "paused": 3, "failed": 1, "aborted": 4}


def apply(
    plan: Annotated[Path | None, typer.Argument(help="Plan file (default: the newest in plans/).")] = None,
    canary: Annotated[bool, typer.Option("--canary", help="Roll the first node, verify it, "
                                         "then wait for `upgrader approve`.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Also write the report to FILE.")] = None,
    probe: Annotated[bool | None, typer.Option("--probe/--no-probe", help="Send client traffic through "
                     "the VIP during the roll (default: on when the secrets allow it, as in the lab).")] = None,
    probe_budget: Annotated[int, typer.Option(help="Failed probe operations tolerated before the "
                                              "roll pauses itself.", min=0)] = ProbeOptions.budget,
    p99_multiple: Annotated[float, typer.Option(help="Pause when a probe's p99 exceeds this multiple "
                                                "of its baseline (and 1 s).", min=1.0)] = ProbeOptions.p99_multiple,
    baseline: Annotated[float, typer.Option(help="Seconds of probe baseline before the first step.",
                                            min=0)] = ProbeOptions.baseline_s,
) -> None:
    """Execute a plan node by node (or continue the unfinished run of its cluster)."""
    paths, p, resumed = open_run(runs_dir(), plan, plans_dir())
    if not resumed and not yes:
        out.print(plan_table(p))
        if not sys.stdin.isatty():
            _discard(paths, p.cluster)
            raise ConfigError("refusing to apply without confirmation: no terminal; pass --yes")
        if not typer.confirm(f"apply plan {p.plan_id}?"):
            _discard(paths, p.cluster)
            raise typer.Exit(1)
    opts = ProbeOptions(enabled=probe, baseline_s=baseline, budget=probe_budget, p99_multiple=p99_multiple)
    _run(paths, p, canary=canary, report_path=report, resumed=resumed, probe_opts=opts)


def _discard(paths: RunPaths, cluster: str) -> None:
    """A run that never started leaves nothing behind."""
    import shutil

    shutil.rmtree(paths.dir, ignore_errors=True)
    (paths.root / f"{cluster}.current").unlink(missing_ok=True)


def _run(paths: RunPaths, p, *, canary: bool, report_path: Path | None, resumed: bool,
         probe_opts: ProbeOptions = ProbeOptions()) -> None:
    out.print(f"{'continuing' if resumed else 'starting'} run {paths.run_id} "
              f"({p.kind}: {', '.join(f'{k} {v}' for k, v in p.targets.items()) or 'no version change'})",
              highlight=False)
    bus = EventBus()
    view = LiveView(bus, p.order, out).start()
    try:
        outcome, rep = execute(paths, p, canary=canary, bus=bus, report_path=report_path,
                               probe_opts=probe_opts, say=lambda line: out.print(line, highlight=False))
    finally:
        view.stop()
    out.print(summary_table(rep))
    out.print(f"report: {paths.report}" + (f" and {report_path}" if report_path else ""), highlight=False)
    if "probe" in rep:
        pr = rep["probe"]
        out.print(f"probe: {pr['operations']} operations during the roll, {pr['failed_operations']} failed, "
                  f"{pr['disconnects']} disconnects, lost writes {pr['lost_writes']}; p99 "
                  f"{pr['baseline']['p99_ms']} ms baseline -> {pr['during']['p99_ms']} ms", highlight=False)
    out.print(f"[bold]{outcome.result}[/]: {outcome.message}", highlight=False)
    for name, state in outcome.node_states.items():
        out.print(f"  {name}: {state}", highlight=False)
    out.print(_next_action(outcome.result), highlight=False)
    raise typer.Exit(EXIT.get(outcome.result, 1))


def _next_action(result: str) -> str:
    return {
        "success": "next: nothing; the cluster is rolled",
        "awaiting_approval": "next: check the canary, then `upgrader approve` to roll the rest",
        "paused": "next: fix the reason above, then `upgrader resume` (or `upgrader apply`)",
        "failed": "next: the failed node stays drained; fix the cause on it, then `upgrader apply` "
                  "re-runs the failed step (see docs/apply.md for the manual path)",
        "aborted": "next: plan again when ready; no node is half-rolled",
    }.get(result, "")


def approve() -> None:
    """Approve the waiting canary gate; continue the roll here unless an apply is running."""
    paths = run_dir_for_control(runs_dir())
    out.print(control.approve(paths.dir), highlight=False)
    p = load_plan(paths.plan)
    try:
        _run(paths, p, canary=False, report_path=None, resumed=True)
    except LockHeld:
        out.print("the running `upgrader apply` continues the roll", highlight=False)


def pause() -> None:
    """Pause the roll when the playbook run in flight ends (never with a node's services down)."""
    out.print(control.pause(run_dir_for_control(runs_dir()).dir, "operator"), highlight=False)


def resume() -> None:
    """Clear a pause; the waiting `upgrader apply` continues."""
    out.print(control.resume(run_dir_for_control(runs_dir()).dir), highlight=False)


def abort() -> None:
    """Stop the roll at the next safe point (a node in flight is finished first)."""
    out.print(control.abort(run_dir_for_control(runs_dir()).dir), highlight=False)


def status(as_json: JsonOpt = False) -> None:
    """Where the current run is: run state, each node's state, the failed step, the next action."""
    paths = run_dir_for_control(runs_dir())
    progress = replay(paths.journal)
    flags = control.read(paths.dir)
    in_flight = progress.in_flight()
    doc = {
        "run_id": progress.run_id, "plan_id": progress.plan_id,
        "run_state": progress.run_state.value,
        "paused": flags.paused, "pause_reason": flags.pause_reason, "abort_requested": flags.abort,
        "awaiting_gate": flags.awaiting_gate,
        "nodes": {n: {"state": p.state.value, "failed_step": p.failed_step or None,
                      "error": p.last_error or None, "transfer": p.transfer or None,
                      "step_in_flight": in_flight[n].step if n in in_flight else None}
                  for n, p in progress.nodes.items()},
    }
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    t = Table(title=f"run {doc['run_id']}: {doc['run_state']}"
                    + (f" (paused: {flags.pause_reason})" if flags.paused else ""))
    for col in ("node", "state", "in flight", "failed step", "error"):
        t.add_column(col)
    for name, n in doc["nodes"].items():
        t.add_row(name, n["state"], n["step_in_flight"] or "", n["failed_step"] or "", n["error"] or "")
    out.print(t)
    if flags.awaiting_gate:
        out.print(f"waiting for approval of {flags.awaiting_gate}: `upgrader approve`")
