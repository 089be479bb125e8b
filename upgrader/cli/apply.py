"""`upgrader apply | approve | pause | resume | abort | status | report`."""
from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from upgrader import control, exitcodes, registry
from upgrader.cli import crash_log, tell_error, tell_internal_error
from upgrader.cli.common import ClusterOpt, InventoryOpt, JsonOpt, find_run
from upgrader.errors import ConfigError, LockHeld, UpgraderError
from upgrader.events import EventBus
from upgrader.executor.session import FINISHED, ProbeOptions, discard, execute, newest_plan, open_run
from upgrader.faults import QUORUM_LOST
from upgrader.inventory import load_cluster
from upgrader.journal import replay
from upgrader.paths import Locations, absolute, locations
from upgrader.planner import load_plan, plan_table
from upgrader.registry import RunPaths
from upgrader.report import node_lines, summary_table
from upgrader.views.live import LiveView

out = Console()
err = Console(stderr=True)


def apply(
    plan: Annotated[Path | None, typer.Argument(help="Plan file (default: the newest in the plans "
                                                "directory, see `upgrader where`).")] = None,
    canary: Annotated[bool, typer.Option("--canary", help="Roll the first node, verify it, "
                                         "then wait for `upgrader approve`.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Also write the report to FILE.")] = None,
    probe: Annotated[bool | None, typer.Option("--probe/--no-probe", help="Send client traffic through "
                     "the VIP during the roll (default: on when the secrets allow it, as in the lab).")] = None,
    probe_budget: Annotated[int, typer.Option(help="Failed probe operations tolerated before the "
                                              "roll pauses itself.", min=0)] = ProbeOptions.budget,
    p99_multiple: Annotated[float, typer.Option(help="Pause when a probe's p99 exceeds this multiple "
                                                "of its baseline (and --stall-ms).", min=1.0)] = ProbeOptions.p99_multiple,
    stall_ms: Annotated[float, typer.Option(help="Slower responses are fine: the p99 must also be "
                                            "over this many milliseconds to pause the roll.",
                                            min=100)] = ProbeOptions.stall_ms,
    baseline: Annotated[float, typer.Option(help="Seconds of probe baseline before the first step.",
                                            min=0)] = ProbeOptions.baseline_s,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final report as JSON on stdout "
                                          "(the progress goes to stderr).")] = False,
    tui: Annotated[bool, typer.Option("--tui", help="Roll inside the terminal UI (docs/tui.md); "
                                      "q leaves the view, the roll goes on.")] = False,
) -> None:
    """Execute a plan node by node (or continue the unfinished run of its cluster)."""
    if tui and as_json:
        raise ConfigError("give --tui or --json, not both (the UI owns the terminal)")
    locs = locations()
    view = err if as_json else out
    plan_path = absolute(plan, "plan file") if plan is not None else newest_plan(locs.plans)
    wanted = load_plan(plan_path)
    if not wanted.inventory:
        raise ConfigError(f"plan {wanted.plan_id} was made from a facts file and names no inventory; "
                          "plan from the live cluster (`upgrader plan -i INVENTORY`)")
    described = load_cluster(wanted.inventory).name
    if described != wanted.cluster:
        raise ConfigError(f"plan {wanted.plan_id} is for cluster {wanted.cluster}, but its inventory "
                          f"{wanted.inventory} now describes cluster {described}")
    report_path = absolute(report, "--report") if report is not None else None
    if report_path is not None and not report_path.parent.is_dir():
        raise ConfigError(f"--report {report_path}: directory {report_path.parent} does not exist")
    opts = ProbeOptions(enabled=probe, baseline_s=baseline, budget=probe_budget, p99_multiple=p99_multiple,
                        stall_ms=stall_ms)
    with registry.lock(locs, wanted.cluster, command=" ".join(["upgrader", *sys.argv[1:]])):
        paths, p, resumed = open_run(locs, wanted, explicit=plan is not None)
        if not resumed and not yes:
            with _sigterm_as_ctrl_c():
                _confirm(locs, paths, p, view)
        _run(locs, paths, p, canary=canary, report_path=report_path, resumed=resumed,
             probe_opts=opts, view=view, as_json=as_json, tui=tui)


def _confirm(locs: Locations, paths: RunPaths, p, view: Console) -> None:
    view.print(plan_table(p))
    if not sys.stdin.isatty():
        discard(locs, paths, p.cluster)
        raise ConfigError("refusing to apply without confirmation: no terminal; pass --yes")
    try:
        confirmed = typer.confirm(f"apply plan {p.plan_id}?")
    except (typer.Abort, KeyboardInterrupt):
        discard(locs, paths, p.cluster)      # Ctrl-C or SIGTERM at the prompt: nothing started
        raise
    if not confirmed:
        discard(locs, paths, p.cluster)
        raise ConfigError("not confirmed; nothing was changed")


def _run(locs: Locations, paths: RunPaths, p, *, canary: bool, report_path: Path | None,
         resumed: bool, probe_opts: ProbeOptions = ProbeOptions(), view: Console = out,
         as_json: bool = False, tui: bool = False) -> None:
    say = lambda line: view.print(line, highlight=False)   # noqa: E731
    say(f"{'continuing' if resumed else 'starting'} run {paths.run_id} "
        f"({p.kind}: {', '.join(f'{k} {v}' for k, v in p.targets.items()) or 'no version change'})")
    say(f"run directory: {paths.dir}")

    def roll(bus: EventBus, tell) -> tuple:
        return execute(paths, p, canary=canary, bus=bus, locs=locs, report_path=report_path,
                       probe_opts=probe_opts, say=tell)
    try:
        with _sigterm_as_ctrl_c(enabled=not tui):
            outcome, rep = _roll_in_ui(paths, p, roll) if tui else _roll_headless(p, roll, view, say)
    except (KeyboardInterrupt, Exception) as e:  # noqa: BLE001 - told here, where the run is known
        raise typer.Exit(_stopped(locs, paths, p, e, as_json)) from None
    _tell_outcome(paths, report_path, outcome, rep, view)
    if as_json:
        print(json.dumps(rep, indent=2))
    raise typer.Exit(exitcodes.FOR_RESULT.get(outcome.result, exitcodes.FAILED))


def _tell_outcome(paths: RunPaths, report_path: Path | None, outcome, rep: dict, view: Console) -> None:
    say = lambda line: view.print(line, highlight=False, soft_wrap=True, markup=False)   # noqa: E731
    view.print(summary_table(rep))
    say(f"report: {paths.report}" + (f" and {report_path}" if report_path else ""))
    if "probe" in rep:
        say(_probe_line(rep["probe"]))
    if line := _vip_line(rep):
        say(line)
    view.print(f"[bold]{outcome.result}[/]: {escape(outcome.message)}", highlight=False, soft_wrap=True)
    if outcome.error is not None and not isinstance(outcome.error, UpgraderError):
        say(f"(a bug in upgrader; traceback in {crash_log(outcome.error) or 'no crash log'})")
    for line in _node_lines(paths):
        say(line)
    say(AFTER_ERROR if outcome.error is not None
        else _next_action(outcome.result, outcome.node_states, outcome.message))


def _stopped(locs: Locations, paths: RunPaths, p, e: BaseException, as_json: bool) -> int:
    """The roll raised: one line, where each node stands, the next action; -> the exit code.

    Before the run's first record nothing was changed: the run is discarded and the error
    goes on to the one edge (cli.main), as any refusal does.
    """
    if not paths.journal.exists():
        discard(locs, paths, p.cluster)
        if not isinstance(e, KeyboardInterrupt):
            raise e
        err.print("[red]interrupted[/] before the first step; nothing was changed", highlight=False)
        return exitcodes.INTERRUPTED
    code = _tell_exception(e)
    lines = _node_lines(paths) + ([f"report: {paths.report}"] if paths.report.exists() else [])
    for line in lines + [AFTER_INTERRUPT if isinstance(e, KeyboardInterrupt) else AFTER_ERROR]:
        err.print(line, highlight=False, soft_wrap=True, markup=False)
    if as_json and paths.report.exists():
        print(paths.report.read_text(), end="")
    return code


def _tell_exception(e: BaseException) -> int:
    """The one line, as cli.main would print it; -> the exit code."""
    if isinstance(e, KeyboardInterrupt):
        err.print("[red]interrupted[/] (Ctrl-C or SIGTERM): the roll stopped here", highlight=False)
        return exitcodes.INTERRUPTED
    if isinstance(e, UpgraderError):
        tell_error(e)
        return e.exit_code
    tell_internal_error(e)
    return exitcodes.INTERNAL


def _node_lines(paths: RunPaths) -> list[str]:
    try:
        return node_lines(replay(paths.journal))
    except UpgraderError as e:     # JournalCorrupt: say so rather than nothing
        return [f"  node states unknown: {e}"]


def _vip_line(rep: dict) -> str:
    """Where keepalived's VIP was through the roll ("" with a static VIP)."""
    parts = []
    for name, node in rep.get("nodes", {}).items():
        vip = node.get("vip")
        if vip:
            parts.append(f"{name} {vip['before']} -> {vip['after']}"
                         + (f" (moved, answered in {vip['move_ms']} ms)" if vip["moved"] else ""))
    return "VIP during each node: " + "; ".join(parts) if parts else ""


def _probe_line(pr: dict) -> str:
    if "error" in pr:
        return f"probe: {pr['error']}"
    lost = pr["lost_writes"]
    lost_text = (f"lost writes {lost}" if lost is not None else "lost writes not checked ("
                 + "; ".join(pr["lost_detail"].get("not_checked", [])) + ")")
    return (f"probe: {pr['operations']} operations during the roll, {pr['failed_operations']} failed, "
            f"{pr['disconnects']} disconnects, {lost_text}; p99 "
            f"{pr['baseline']['p99_ms']} ms baseline -> {pr['during']['p99_ms']} ms")


@contextmanager
def _sigterm_as_ctrl_c(enabled: bool = True) -> Iterator[None]:
    """SIGTERM (kill, a service stop) ends a headless roll as Ctrl-C does: the report is
    written and the journal says which step to run again. Not under --tui, whose roll
    thread outlives the view on purpose (docs/tui.md), nor off the main thread, where
    Python cannot install a signal handler."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _roll_headless(p, roll, view: Console, say) -> tuple:
    bus = EventBus()
    live = LiveView(bus, p.order, view).start()
    try:
        return roll(bus, say)
    finally:
        live.stop()


def _roll_in_ui(paths: RunPaths, p, roll) -> tuple:
    from upgrader.cli.watch import run_apply_tui

    return run_apply_tui(paths.dir, p.order, roll)


AFTER_ERROR = ("next: the cluster keeps serving; fix the cause above, then `upgrader apply` "
               "continues from the journal (a step in flight runs again: every step is idempotent)")
AFTER_INTERRUPT = ("next: `upgrader apply` continues from the journal (a step in flight runs "
                   "again: every step is idempotent)")


def _next_action(result: str, node_states: dict[str, str], message: str = "") -> str:
    failed = [n for n, state in node_states.items() if state == "failed"]
    if QUORUM_LOST in message:
        return ("next: the database takes no writes until its quorum is back: recover it as said "
                "above (upgrader never bootstraps by itself), then `upgrader apply` re-runs the failed step")
    if result == "failed" and not failed:
        # a cluster step (e.g. keystone_expand) failed before or after the nodes
        return ("next: no node is out of service; fix the cause above, then `upgrader apply` "
                "re-runs the failed step")
    return {
        "success": "next: nothing; the cluster is rolled",
        "awaiting_approval": "next: check the canary, then `upgrader approve` to roll the rest",
        "paused": "next: fix the reason above, then `upgrader resume` (or `upgrader apply`)",
        "failed": f"next: {', '.join(failed)} stays drained and the other nodes serve; fix the cause "
                  "on it, then `upgrader apply` re-runs the failed step (docs/apply.md has the manual path)",
        "aborted": "next: plan again when ready; no node is half-rolled",
    }.get(result, "")


def _active_run(cluster: str | None, inventory: Path | None, action: str) -> tuple[Locations, RunPaths, str]:
    """(locations, run, cluster) of the cluster's unfinished run; ConfigError when it has ended."""
    locs = locations()
    entry = find_run(cluster, inventory, locs)
    run = entry.current
    state = replay(run.journal).run_state if run.journal.exists() else None
    if state in FINISHED:
        raise ConfigError(f"run {run.run_id} of cluster {entry.cluster} has ended ({state.value}); "
                          f"nothing to {action}")
    return locs, run, entry.cluster


def approve(cluster: ClusterOpt = None, inventory: InventoryOpt = None) -> None:
    """Approve the waiting canary gate; continue the roll here unless an apply is running."""
    locs, paths, name = _active_run(cluster, inventory, "approve")
    out.print(control.approve(paths.dir), highlight=False)
    try:
        with registry.lock(locs, name, command="upgrader approve"):
            _run(locs, paths, load_plan(paths.plan), canary=False, report_path=None, resumed=True)
    except LockHeld:
        out.print("the running `upgrader apply` continues the roll", highlight=False)


def pause(cluster: ClusterOpt = None, inventory: InventoryOpt = None) -> None:
    """Pause the roll when the playbook run in flight ends (never with a node's services down)."""
    _, paths, _ = _active_run(cluster, inventory, "pause")
    out.print(control.pause(paths.dir, "operator"), highlight=False)


def resume(cluster: ClusterOpt = None, inventory: InventoryOpt = None) -> None:
    """Clear a pause; the waiting `upgrader apply` continues."""
    _, paths, _ = _active_run(cluster, inventory, "resume")
    out.print(control.resume(paths.dir), highlight=False)


def abort(cluster: ClusterOpt = None, inventory: InventoryOpt = None) -> None:
    """Stop the roll at the next safe point (a node in flight is finished first)."""
    _, paths, _ = _active_run(cluster, inventory, "abort")
    out.print(control.abort(paths.dir), highlight=False)


def status(cluster: ClusterOpt = None, inventory: InventoryOpt = None, as_json: JsonOpt = False) -> None:
    """Where the cluster's current (or last) run is: each node's state, the failed step, who holds it."""
    locs = locations()
    entry = find_run(cluster, inventory, locs)
    paths = entry.current
    progress = replay(paths.journal) if paths.journal.exists() else None
    flags = control.read(paths.dir)
    in_flight = progress.in_flight() if progress else {}
    doc = {
        "cluster": entry.cluster, "run_id": paths.run_id, "run_dir": str(paths.dir),
        "plan_id": progress.plan_id if progress else "",
        "run_state": progress.run_state.value if progress else "planned",
        "apply_running": registry.holder(locs, entry.cluster),
        "paused": flags.paused, "pause_reason": flags.pause_reason, "abort_requested": flags.abort,
        "awaiting_gate": flags.awaiting_gate,
        "control_history": [dataclasses.asdict(h) for h in control.control_history(paths.journal)],
        "nodes": {n: {"state": p.state.value, "failed_step": p.failed_step or None,
                      "error": p.last_error or None, "transfer": p.transfer or None,
                      "step_in_flight": in_flight[n].step if n in in_flight else None}
                  for n, p in (progress.nodes.items() if progress else ())},
    }
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    t = Table(title=f"cluster {doc['cluster']}, run {doc['run_id']}: {doc['run_state']}"
                    + (f" (paused: {flags.pause_reason})" if flags.paused else ""))
    for col in ("node", "state", "in flight", "failed step", "error"):
        t.add_column(col)
    for name, n in doc["nodes"].items():
        t.add_row(name, n["state"], n["step_in_flight"] or "", n["failed_step"] or "", n["error"] or "")
    out.print(t)
    held = doc["apply_running"]
    out.print(f"run directory: {doc['run_dir']}", highlight=False, soft_wrap=True)
    out.print(f"rolling now: pid {held['pid']} ({held.get('command', '?')}, since {held.get('since', '?')})"
              if held else "no `upgrader apply` is running for this cluster", highlight=False, soft_wrap=True)
    for h in control.control_history(paths.journal)[-5:]:   # "who approved this?"
        out.print(control.describe(h), highlight=False, soft_wrap=True)
    if flags.awaiting_gate:
        out.print(f"waiting for approval of {flags.awaiting_gate}: `upgrader approve`")


def report(cluster: ClusterOpt = None, inventory: InventoryOpt = None, as_json: JsonOpt = False) -> None:
    """The report of the cluster's current (or last) run."""
    entry = find_run(cluster, inventory)
    path = entry.current.report
    try:
        rep = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"run {entry.current.run_id} has no report yet (written when `apply` stops)") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"report {path} is unreadable: {e}") from None
    if as_json:
        print(json.dumps(rep, indent=2))
        return
    out.print(summary_table(rep))
    out.print(f"{rep.get('result')}: {rep.get('message', '')}", highlight=False)
    out.print(f"report: {path}", highlight=False, soft_wrap=True)
