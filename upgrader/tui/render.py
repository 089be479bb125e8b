"""Text of each panel, from plain values. Pure, so panels are tested without a screen.

Every state is a word or a symbol, never a colour alone: colours only repeat what
the text says (style rule: no colour-only signal; the screen may be monochrome).
Sized for 80 columns: the grid is 71 wide, the other panels stay under 80.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from upgrader import control
from upgrader.control import ControlFlags, ControlRecord
from upgrader.live.grid import Cell, Grid
from upgrader.machine import NODE_STEPS

SHORT = dict(zip(NODE_STEPS, ("api", "db", "dsyn", "rmq", "stop", "upgr", "rejn", "vrfy",
                              "rviv", "rsyn", "undr")))
CLUSTER_SHORT = {"keystone_expand": "expand", "keystone_contract": "contract",
                 "rabbitmq_feature_flags": "flags", "galera_arbitrator_join": "garbd+",
                 "galera_arbitrator_leave": "garbd-"}
MARK = {"done": "✓", "running": "▶", "failed": "✗", "pending": "·", "interrupted": "↺"}
LEGEND = "roll  ✓ done  ▶ running  ✗ failed  · pending  C canary  W writer (last)"
NODE_W, CELL_W = 9, 5
BARS = "▁▂▃▄▅▆▇█"
STATUS_WORD = {"ok": "ok", "changed": "changed", "failed": "FAILED", "ignored": "ignored",
               "skipped": "skipped", "unreachable": "UNREACH", "retry": "retry"}


def short_s(seconds: float | None) -> str:
    """At most 3 characters: '4s', '59s', '12m', '2h'."""
    if seconds is None:
        return ""
    if seconds < 99.5:
        return f"{int(round(seconds))}s"
    return f"{int(seconds // 60)}m" if seconds < 3600 else f"{int(seconds // 3600)}h"


def long_s(seconds: float) -> str:
    """'45s', '3m20s', '1h05m'."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    return f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}m"


def cell_text(c: Cell) -> str:
    text = MARK[c.status] + (short_s(c.seconds) if c.status in ("done", "running", "failed") else "")
    return f"{text:<{CELL_W}}"


def grid_text(grid: Grid) -> str:
    lines = [LEGEND, f"{'node':<{NODE_W}}" + "".join(f"{SHORT[s]:<{CELL_W}}" for s in NODE_STEPS) + "left"]
    for row in grid.rows:
        marks = ("C" if row.canary else "") + ("W" if row.writer else "")
        name = f"{row.name[:NODE_W - 2 - len(marks)]} {marks}".rstrip()
        left = {"done": "done", "failed": "FAILED"}.get(row.state, "~" + long_s(row.left_s))
        lines.append(f"{name:<{NODE_W}}" + "".join(cell_text(c) for c in row.cells) + left)
    cluster = "  ".join(f"{CLUSTER_SHORT.get(c.step, c.step)} {cell_text(c).strip()}"
                        for c in grid.cluster)
    lines.append(f"{'cluster':<{NODE_W}}" + (cluster or "no cluster steps"))
    return "\n".join(lines)


def title_text(run_id: str, grid: Grid | None, feeder: str) -> str:
    left = ""
    if grid is not None and grid.run_state not in ("done", "aborted"):
        left = f" · left ~{long_s(grid.left_s)}"
    return f"{run_id or '(no run yet)'}{left} · {feeder}"


def banner(flags: ControlFlags, grid: Grid | None, notes: tuple[dict, ...] = (),
           result: str = "") -> tuple[str, str]:
    """(kind, text): the one line that says whether the roll goes on, and if not, why."""
    state = grid.run_state if grid else "planned"
    if state == "aborted" or result == "aborted":
        return "abort", "ABORTED: the roll stopped at a step boundary; no node is half-rolled"
    if flags.abort:
        return "abort", (f"ABORT REQUESTED by {flags.aborted_by or '?'} at {_hms(flags.aborted_at)}:"
                         " stops at the next safe point (the node in flight is finished first)")
    if state == "done":
        return "done", "DONE: every node rolled and the finalization ran"
    if flags.awaiting_gate:
        node = flags.awaiting_gate.partition(":")[2] or flags.awaiting_gate
        return "awaiting", (f"AWAITING APPROVAL of {flags.awaiting_gate}: {node} is upgraded and "
                            "verified · a approves (or `upgrader approve`)")
    if flags.paused:
        return "paused", _paused_text(flags, state, notes)
    if state == "paused":
        return "paused", "RESUMING: the roll continues at the next step boundary"
    if state == "awaiting_approval":   # approved; the journal says so once the roll moves on
        gate = flags.approved_gates[-1] if flags.approved_gates else "the gate"
        return "running", f"APPROVED {gate}: the roll continues with the next node"
    if state == "failed":
        return "failed", "FAILED: " + (_note(notes) or "see the task log")
    doing = ", ".join(f"{n or 'cluster'} {s} {short_s(t)}" for n, s, t in grid.running) if grid else ""
    return "running", f"{state.upper()}" + (f": {doing}" if doing else "")


def _paused_text(flags: ControlFlags, state: str, notes: tuple[dict, ...]) -> str:
    reason = flags.pause_reason or "operator"
    why = control.PAUSE_REASONS.get(reason, reason)
    if reason in ("health_gate", "step_failed", "unexpected_error"):
        why = _note(notes, reason) or why
    who = f" by {flags.paused_by} at {_hms(flags.paused_at)}" if flags.paused_by else ""
    if state != "paused":   # asked, not reached: the playbook run in flight finishes first
        return (f"PAUSING ({reason}){who}: the playbook run in flight finishes its safe "
                "stretch, nothing further starts · r resumes")
    return f"PAUSED ({reason}){who}: {why} · r resumes"


def _note(notes: tuple[dict, ...], reason: str = "") -> str:
    for n in reversed(notes):
        if not reason or n.get("reason") == reason:
            return str(n.get("message", ""))
    return ""


def _hms(ts: str) -> str:
    return ts[11:19] if len(ts) >= 19 else (ts or "?")


def history_text(history: Iterable[ControlRecord], limit: int = 2, width: int = 78) -> str:
    """The last ``limit`` control actions, one line each (cut to ``width``: a wrapped line
    would push the newest out of the panel's two rows)."""
    recent = list(history)[-limit:]
    if not recent:
        return "control: no operator action yet"
    lines = ["control " + control.describe(r, with_date=False) for r in recent]
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in lines)


def sparkline(values: list[float | None]) -> str:
    """One bar per value on a scale up to the largest; ' ' for no traffic."""
    peak = max((v for v in values if v is not None), default=0.0)
    if not peak:
        return "".join(" " if v is None else BARS[0] for v in values)
    top = len(BARS) - 1
    return "".join(" " if v is None else BARS[min(top, int(v / peak * top + 0.5))] for v in values)


def probe_text(doc: dict[str, Any] | None, age: float | None, bars: int = 20) -> str:
    """Two lines: counts against the budget, then latency now vs baseline and a sparkline."""
    if doc is None:
        return "probe: no figures yet (it measures a baseline first, or the roll has not started)"
    if not doc.get("enabled"):
        return "probe: off for this run (--no-probe, or the secrets lack its credentials)"
    now, base = doc.get("now") or {}, doc.get("baseline") or {}
    failed, budget = doc.get("failed", 0), doc.get("budget", 0)
    verdict = "OVER budget" if failed > budget else "budget"
    stale = f" · {long_s(age)} OLD" if age is not None and (age > 10 or not doc.get("live", True)) else ""
    first = (f"probe {doc.get('operations', 0)} ops · failed {failed} ({verdict} {budget}) · "
             f"disconnects {doc.get('disconnects', 0)} · bars: slowest per "
             f"{doc.get('spark_step_s', 2):g}s{stale}")
    spark = (doc.get("spark_ms") or [])[-bars:]
    peak = max((v for v in spark if v is not None), default=None)
    second = (f"p50 {_ms(now.get('p50_ms'))} (base {_ms(base.get('p50_ms'))}) · "
              f"p99 {_ms(now.get('p99_ms'))} (base {_ms(base.get('p99_ms'))}) · "
              f"{sparkline(spark)} max {_ms(peak)}")
    return f"{first}\n{second}"


def _ms(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f}s" if value >= 1000 else f"{value:.0f}ms"


def task_line(line: dict[str, Any]) -> str | None:
    """One log row for a tasks.jsonl line; None for a task start (shown as 'in flight')."""
    when = str(line.get("ts", ""))[11:19]
    where = f"{line.get('node') or 'cluster'} {line.get('step', '')}"
    if line.get("kind") == "step":
        return f"{when} ── {where} ──"
    if line.get("kind") == "log":
        return f"{when} · {line.get('text', '')}"
    status = line.get("status", "")
    if status == "started":
        return None
    word = STATUS_WORD.get(status, status)
    host = line.get("host", "")
    on = f" [{host}]" if host and host != line.get("node") else ""
    msg = f": {line['msg']}" if line.get("msg") else ""
    return f"{when} {where} {word:<7} {line.get('task', '')}{on}{msg}"


def inflight_text(started: dict[str, Any] | None, now: datetime, paused: bool,
                  width: int = 80, ended: str = "", running: bool = True) -> str:
    """The task the playbook run in flight started last, and for how long (cut to width).

    ended: the run's final result ("success", "aborted"); then no playbook runs, and the
    last task started (a cluster step's) must not read as if it still did.
    running: False when the journal has no step in flight (a paused run between runs):
    the last task started belongs to a step that has finished.
    """
    if ended:
        return f"in flight: nothing, the run has ended ({ended})"
    if not running:
        return f"in flight: nothing{', paused between playbook runs' if paused else ''}"
    if started is None:
        return "in flight: no playbook task yet"
    try:
        since = short_s((now - datetime.fromisoformat(started["ts"])).total_seconds())
    except (KeyError, TypeError, ValueError):
        since = "?"
    where = f"{started.get('node') or 'cluster'} {started.get('step', '')}"
    head = f"in flight {since}: {where}{' (pausing after this run)' if paused else ''}: "
    task = str(started.get("task", ""))
    if len(head) + len(task) > width:
        task = task[:max(0, width - len(head) - 3)] + "..."
    return head + task


def health_text(doc: dict[str, Any] | None, order: Iterable[str], transfers: dict[str, str],
                age: float | None) -> str:
    """A summary line, then one line per node: wsrep, HAProxy, RabbitMQ, last rejoin."""
    order = list(order)
    if doc is None:
        return "health: no samples (the apply process writes health.json while it runs)"
    lines = [_health_summary(doc, age)]
    backends = doc.get("backends") or {}
    servers = doc.get("haproxy") or {}
    for name in order:
        g = (doc.get("nodes") or {}).get(name) or {}
        if g.get("reachable"):
            wsrep = f"{str(g.get('state', '?'))[:14]:<14} {g.get('cluster_size', '?')} " \
                    f"{str(g.get('cluster_status', '?'))[:8]:<8}"
        else:
            wsrep = f"{'unreachable':<25}"
        db = _server(servers.get(backends.get("db", "mariadb"), {}).get(name), mark_active=True)
        api = _server(servers.get(backends.get("api", "keystone"), {}).get(name))
        rmq = _rabbit_state(doc.get("rabbitmq") or {}, (doc.get("rabbit_names") or {}).get(name,
                                                                                    f"rabbit@{name}"))
        lines.append(f"{name[:6]:<6} {wsrep} db {db:<6} api {api:<6} rmq {rmq:<7} "
                     f"{transfers.get(name, '')}".rstrip())
    return "\n".join(lines)


def _health_summary(doc: dict[str, Any], age: float | None) -> str:
    interval = float(doc.get("interval_s") or 2.0)
    if age is None:
        when = "?"
    elif not doc.get("live", True) or age > 3 * interval + 2:
        when = f"STALE {long_s(age)} old"
    else:
        when = f"{long_s(age)} ago"
    r = doc.get("rabbitmq") or {}
    if r.get("error") or not r:
        rabbit = "rabbitmq ?" if not r else f"rabbitmq ? ({r['error'][:30]})"
    else:
        rabbit = f"rabbitmq {len(r.get('running', []))} of {len(r.get('members', []))} running"
        if r.get("maintenance"):
            rabbit += ", maint " + " ".join(m.partition("@")[2] or m for m in r["maintenance"])
        if r.get("partitioned"):
            rabbit += ", PARTITIONED"
    problem = " · HAProxy ?" if doc.get("haproxy_error") else ""
    return f"health {when} · {rabbit}{problem} · * takes the writes"


def _server(entry: dict[str, Any] | None, mark_active: bool = False) -> str:
    if not entry:
        return "?"
    status = str(entry.get("status", "?")).replace(" ", "")[:5]
    return status + ("*" if mark_active and entry.get("active") else "")


def _rabbit_state(r: dict[str, Any], rabbit_name: str) -> str:
    if not r or r.get("error"):
        return "?"
    if rabbit_name in r.get("maintenance", []):
        return "maint"
    if rabbit_name in r.get("running", []):
        return "running"
    return "stopped" if rabbit_name in r.get("members", []) else "absent"
