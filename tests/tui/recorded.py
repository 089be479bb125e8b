"""A recorded run for the TUI tests: journal, control flags, task log and snapshots.

The journal is written by the real Orchestrator and Journal (so its records have the
format `upgrader apply` writes), driven by a fake executor that "takes" the step
durations measured on the lab and advances the journal's clock by them:

1. `apply --canary`: keystone_expand, node2's eleven steps, then the canary gate;
2. `upgrader approve`, then `apply` again: node3 drain_api done, drain_db in flight
   (the recording stops there, as if watched mid-step).

The task log is what upgrader.live.tasks makes of ansible-runner events shaped as
the lab's (task names from playbooks/), and health.json comes from the real
HealthSampler fed the recorded facts fixtures of tests/unit/fixtures/facts.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from upgrader import control
from upgrader.events import EventBus
from upgrader.executor.orchestrator import Orchestrator, RunSetup
from upgrader.inventory import Cluster, NodeAccess
from upgrader.journal import Journal, RunProgress, replay
from upgrader.live.feed import HEALTH_FILE, PROBE_FILE, TASKS_FILE, append_line, write_snapshot
from upgrader.live.figures import probe_figures
from upgrader.live.health import HealthSampler
from upgrader.live.tasks import TaskLineParser
from upgrader.model import ClusterFacts
from upgrader.planner import PlanOptions, build_plan, write_plan
from upgrader.probe.record import Sample

ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "unit" / "fixtures" / "facts"
START = datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc)
# seconds per step, as measured on the lab (IST rejoin)
DURATIONS = {"keystone_expand": 8.4, "drain_api": 4.3, "drain_db": 2.9, "desync_galera": 1.1,
             "drain_rabbitmq": 3.5, "stop_services": 6.2, "upgrade": 4.8, "rejoin_galera": 9.7,
             "verify_node": 2.4, "revive_rabbitmq": 3.1, "resync_galera": 0.9, "undrain": 2.2}


class Clock:
    """The journal's clock: 20 ms per record, plus the time the fake steps take."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=20)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Result:
    step: str
    ok: bool = True
    status: str = "successful"
    duration_s: float = 0.0
    artifact_id: str = ""
    message: str = ""
    results: dict = field(default_factory=dict)


class Crash(BaseException):
    """The recording stops here (apply 'killed' mid-step)."""


class TimedExecutor:
    def __init__(self, clock: Clock, stop_at: tuple[str, str] | None = None) -> None:
        self.clock, self.stop_at = clock, stop_at

    def run_step(self, step, node, extravars, ident=None):
        if (node or "", step) == self.stop_at:
            raise Crash()
        self.clock.advance(DURATIONS[step])
        results = {"transfer": "IST", "ist_writesets": 6} if step == "rejoin_galera" else {}
        if step == "upgrade":
            results = {"keystone_before": "28.1.0", "keystone_after": "29.1.0"}
        return Result(step, duration_s=DURATIONS[step], artifact_id=ident or "", results=results)

    def run_steps(self, steps, node, extravars, ident=None, on_step=None, hold_before=frozenset(),
                  warm_up=None, gate=None, on_begin=None):
        if gate is not None and gate() is False:
            return []
        if on_begin is not None:
            on_begin(steps[0])
        out = []
        for i, step in enumerate(steps):
            out.append(self.run_step(step, node, extravars, ident))
            if on_step(out[-1]) is False and i + 1 < len(steps) and steps[i + 1] in hold_before:
                break
        return out


def make_plan(directory: Path):
    facts = ClusterFacts.from_dict(json.loads((ROOT / "tests/cli/fixtures/lab_healthy.json").read_text()))
    plan = build_plan(facts, PlanOptions(targets={"keystone": "29.1.0"}),
                      created_at="2026-12-01T09:58:00Z", inventory="")
    return plan, write_plan(plan, directory)


def _orchestrate(run_dir: Path, plan, clock: Clock, stop_at=None) -> None:
    journal_path = run_dir / "journal.jsonl"
    progress = replay(journal_path) if journal_path.exists() else RunProgress(run_id=RUN_ID)
    setup = RunSetup(plan=plan, run_dir=run_dir, executor=TimedExecutor(clock, stop_at),
                     health=lambda node, rolled: [], bus=EventBus(),
                     journal=Journal(journal_path, clock=clock), canary=True, poll_s=0,
                     sleep=lambda s: None)
    try:
        Orchestrator(setup, progress).run_roll()
    except Crash:
        pass


RUN_ID = "lab-20261201T095800Z-run20261201T100000Z"


def record_run(scratch: Path) -> tuple[Path, list[str]]:
    """Record the whole run once; -> (plan file, journal lines)."""
    plan, plan_file = make_plan(scratch / "plans")
    run_dir = scratch / "recording"
    run_dir.mkdir()
    clock = Clock()
    _orchestrate(run_dir, plan, clock)                       # stops at the canary gate
    clock.advance(95)                                        # the operator looks at node2
    control.approve(run_dir, by="alice@ops1")
    _restamp_last(run_dir / "journal.jsonl", clock())        # control stamps the real time
    _orchestrate(run_dir, plan, clock, stop_at=("node3", "drain_db"))
    return plan_file, (run_dir / "journal.jsonl").read_text().splitlines(keepends=True)


def _restamp_last(path: Path, when: datetime) -> None:
    lines = path.read_text().splitlines(keepends=True)
    record = json.loads(lines[-1])
    record["ts"] = when.isoformat(timespec="milliseconds")
    lines[-1] = json.dumps(record, separators=(",", ":")) + "\n"
    path.write_text("".join(lines))


def index_of(lines: list[str], predicate) -> int:
    return next(i for i, line in enumerate(lines) if predicate(json.loads(line)))


def new_run_dir(root: Path, plan_file: Path) -> Path:
    run_dir = root / "runs" / RUN_ID
    run_dir.mkdir(parents=True, mode=0o700)
    shutil.copy(plan_file, run_dir / "plan.json")
    return run_dir


def append_journal(run_dir: Path, lines: list[str]) -> None:
    with open(run_dir / "journal.jsonl", "a", encoding="utf-8") as handle:
        handle.writelines(lines)


# ------------------------------------------------------------------ task log


def _ev(event: str, ident: str, task: str = "", host: str = "", res: dict | None = None,
        created: str = "", **data) -> dict:
    return {"event": event, "runner_ident": ident, "created": created,
            "event_data": {"task": task, "host": host, "res": res or {}, **data}}


def node3_events(at: datetime) -> list[dict]:
    """node3's first playbook run: drain_api done, drain_db waiting for its sessions."""
    ident, ts = "006-node3-drain_api", lambda s: (at + timedelta(seconds=s)).isoformat()
    return [
        _ev("playbook_on_play_start", ident, created=ts(0), play="upgrader step: drain_api"),
        _ev("playbook_on_task_start", ident, "Drain, wait for the sessions to leave, then maintenance",
            created=ts(0.4)),
        _ev("runner_on_ok", ident, "Drain, wait for the sessions to leave, then maintenance", "lb",
            {"changed": True, "msg": "keystone/node3 in MAINT"}, created=ts(4.2)),
        _ev("playbook_on_play_start", ident, created=ts(4.3), play="upgrader step: drain_db"),
        _ev("playbook_on_task_start", ident, "Drain, wait for the sessions to leave, then maintenance",
            created=ts(4.5)),
        _ev("runner_retry", ident, "Drain, wait for the sessions to leave, then maintenance", "lb",
            {"attempts": 1, "retries": 5, "stdout": "2"}, created=ts(5.5)),
    ]


def write_tasks(run_dir: Path, events: list[dict]) -> None:
    parser = TaskLineParser()
    for ev in events:
        line = parser.see(ev)
        if line is not None:
            append_line(run_dir / TASKS_FILE, line)


# ------------------------------------------------------------------ snapshots


def lab_cluster() -> Cluster:
    nodes = tuple(NodeAccess(f"node{i}", f"10.123.0.1{i}", rabbit_node=f"rabbit@node{i}")
                  for i in (1, 2, 3))
    return Cluster(name="lab", inventory=Path("/nonexistent"), nodes=nodes,
                   haproxy_socket="/nonexistent/admin.sock", db_backend="mariadb",
                   api_backend="keystone", secrets_file="/nonexistent", vip="10.123.0.1")


def recorded_sampler() -> HealthSampler:
    """The real sampler, its three sources answering with recorded lab output."""
    galera = {a: json.loads((FACTS / "galera" / f).read_text())["output"] for a, f in (
        ("10.123.0.11", "node1_synced_writer.json"), ("10.123.0.12", "node2_synced.json"),
        ("10.123.0.13", "node3_ist_donor.json"))}
    stat = json.loads((FACTS / "haproxy" / "keystone_node2_maint.json").read_text())["output"]
    rabbit = json.loads((FACTS / "rabbitmq" / "node2_under_maintenance.json").read_text())["output"]

    def query(address, user, password, timeout=5):
        return galera[address]
    return HealthSampler(lab_cluster(), "not-a-real-password", query=query,
                         show_stat=lambda sock: stat, ssh=lambda node, cmd: (0, rabbit["cluster_status"]))


def write_health(run_dir: Path, at: datetime) -> dict:
    sampler = recorded_sampler()
    sampler.sample_rabbit()
    doc = {**sampler.sample(), "interval_s": 2.0, "at": at.isoformat(), "pid": 4242, "host": "",
           "live": True}
    sampler.close()
    write_snapshot(run_dir / HEALTH_FILE, doc)
    return doc


def write_probe(run_dir: Path, at: datetime) -> dict:
    """A minute of probe traffic: a 10 s baseline, then the roll with one slow commit."""
    t0 = at.timestamp() - 70
    samples = [Sample(kind, t0 + i * 0.2, True, 12.0 + (i % 7) + (1800.0 if i == 250 else 0))
               for i in range(350) for kind in ("keystone",)]
    doc = {"enabled": True, **probe_figures(samples, t0 + 10, at.timestamp(), budget=0),
           "at": at.isoformat(), "pid": 4242, "host": "", "live": True}
    write_snapshot(run_dir / PROBE_FILE, doc)
    return doc
