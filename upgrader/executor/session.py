"""One `upgrader apply` session: find or create the run, wire the parts, write the report.

The run directory (<runs>/<run_id>/) holds everything about a run: the plan it
executes (plan.json), the journal, the control flags, the report, and the
ansible-runner artifacts. upgrader.registry records which run is the cluster's
current one, so `pause`, `resume`, `approve`, `abort` and `status` find it from
any terminal and any directory. The caller holds the cluster's lock.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from upgrader import registry
from upgrader.errors import ConfigError, UnsafeCluster
from upgrader.events import EventBus
from upgrader.executor.orchestrator import Orchestrator, Outcome, RunSetup
from upgrader.facts.gather import gather
from upgrader.facts.host import HEALTH_SECTIONS
from upgrader.inventory import Cluster, load_cluster, load_secrets, runtime_overlay
from upgrader.journal import Journal, RunProgress, read_records, replay
from upgrader.machine import RunState
from upgrader.model import ClusterFacts, Plan
from upgrader.fileio import write_atomic
from upgrader.planner import PlanOptions, drift, load_plan, refusals
from upgrader.paths import Locations, playbooks_dir, private_dir, writable_dir
from upgrader.redact import Redactor
from upgrader.registry import RunPaths
from upgrader.report import build_report, write_report

FINISHED = (RunState.DONE, RunState.ABORTED)


def newest_plan(plans: Path) -> Path:
    files = sorted(plans.glob("*.json"), key=lambda p: p.stat().st_mtime) if plans.is_dir() else []
    if not files:
        raise ConfigError(f"no plan in {plans}/: run `upgrader plan` first")
    return files[-1]


def open_run(locs: Locations, plan: Plan, explicit: bool) -> tuple[RunPaths, Plan, bool]:
    """(paths, plan, resumed): the cluster's unfinished run, else a new one. Call under its lock.

    explicit: the operator named this plan file; another plan's unfinished run is
    then an error, not something to continue silently.
    """
    existing = registry.entry_for(locs, plan.cluster)
    run = existing.run if existing is not None else None
    progress = replay(run.journal) if run is not None and run.journal.exists() else None
    if run is not None and progress is not None and progress.run_state not in FINISHED:
        if explicit and progress.plan_id != plan.plan_id:
            raise ConfigError(f"run {run.run_id} of plan {progress.plan_id} is unfinished: "
                              "finish it (`upgrader apply`) or `upgrader abort` it first")
        return run, load_plan(run.plan), True
    if plan.refusals:
        raise UnsafeCluster(f"plan {plan.plan_id} was refused: {plan.refusals[0]}")
    cluster = load_cluster(plan.inventory) if plan.inventory else None
    addresses = tuple(n.address for n in cluster.nodes) if cluster else ()
    registry.check_same_cluster(locs, plan.cluster, addresses)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    writable_dir(locs.runs, "runs directory")
    paths = RunPaths(locs.runs, f"{plan.plan_id}-run{stamp}")
    paths.dir.mkdir(mode=0o700)
    write_atomic(paths.plan, json.dumps(plan.to_dict(), indent=2) + "\n")
    registry.set_current(locs, plan.cluster, paths, inventory=plan.inventory, addresses=addresses)
    return paths, plan, False


def discard(locs: Locations, paths: RunPaths, cluster: str) -> None:
    """A run that never started leaves nothing behind."""
    import shutil

    registry.clear_current(locs, cluster, paths)
    shutil.rmtree(paths.dir, ignore_errors=True)


def health_check(cluster: Cluster, secrets: dict[str, str], plan: Plan,
                 just_read: ClusterFacts | None = None):
    """Fresh facts before each node: the planner's refusals and drift, mid-roll aware.

    just_read: facts the drift check gathered before the probe's baseline; nothing has
    touched the cluster since, so the first check uses them instead of reading it again.
    """
    # Mixed versions are the point of a roll in progress, not a reason to stop it.
    options = PlanOptions(targets=dict(plan.targets),
                          force=frozenset({"mixed_start_versions", "target_not_newer"}))
    unused = [just_read] if just_read is not None else []

    def check(node: str, rolled: tuple[str, ...]) -> list[str]:
        facts = (unused.pop() if unused and not rolled
                 else gather(cluster, secrets, sample_s=0.5, sections=HEALTH_SECTIONS))
        problems = [r.message for r in refusals(facts, options)]
        return problems + drift(plan, facts, rolled=rolled)
    return check


@dataclass(frozen=True)
class ProbeOptions:
    enabled: bool | None = None      # None: on when the secrets allow it (the lab)
    baseline_s: float = 10.0         # traffic measured before the first step
    budget: int = 0                  # failed operations tolerated before the gate pauses
    p99_multiple: float = 10.0


def start_probe(cluster: Cluster, secrets: dict[str, str], run_id: str, opts: ProbeOptions,
                say=print):
    """The uptime probe, or None when disabled or the inventory lacks its credentials."""
    from upgrader.probe.runner import Probe, ProbeTargets

    need = ("mariadb_upgrader_password", "keystone_admin_password", "rabbitmq_password")
    if opts.enabled is False or (opts.enabled is None and not all(k in secrets for k in need)):
        return None
    missing = [k for k in need if k not in secrets]
    if missing:
        raise ConfigError(f"--probe needs {missing[0]} in {cluster.secrets_file}")
    targets = ProbeTargets(
        vip=cluster.vip, node_addresses=tuple(n.address for n in cluster.nodes),
        db_user=cluster.db_user, db_password=secrets["mariadb_upgrader_password"],
        keystone_password=secrets["keystone_admin_password"],
        rabbit_user=secrets.get("rabbitmq_user", "openstack"), rabbit_password=secrets["rabbitmq_password"])
    probe = Probe(targets, run=run_id).start()
    say(f"probe: measuring a {opts.baseline_s:.0f} s baseline through the VIP {cluster.vip}")
    time.sleep(opts.baseline_s)
    probe.mark_baseline_end()
    return probe


def node_windows(journal_path: Path, since: float) -> dict[str, tuple[float, float]]:
    """Each node's drain-to-undrain window (epoch seconds) from the journal."""
    windows: dict[str, tuple[float, float]] = {}
    for s in replay(journal_path).steps:
        if not s.node or not s.started_at:
            continue
        start = datetime.fromisoformat(s.started_at).timestamp()
        end = datetime.fromisoformat(s.finished_at).timestamp() if s.finished_at else time.time()
        if end < since:
            continue
        a, b = windows.get(s.node, (start, end))
        windows[s.node] = (min(a, start), max(b, end))
    return windows


def execute(paths: RunPaths, plan: Plan, *, canary: bool, bus: EventBus, locs: Locations,
            report_path: Path | None = None, executor=None, health=None,
            probe_opts: ProbeOptions = ProbeOptions(), say=print) -> tuple[Outcome, dict]:
    """Run (or continue) the roll; the caller holds the cluster lock. Always writes the report."""
    cluster = load_cluster(plan.inventory) if plan.inventory else None
    if cluster is None and (executor is None or health is None):
        raise ConfigError(f"plan {plan.plan_id} names no inventory; plan from a live cluster")
    secrets = load_secrets(cluster) if cluster else {}
    redactor = Redactor(v for v in secrets.values())
    journal = Journal(paths.journal, redactor=redactor)
    progress = replay(paths.journal) if paths.journal.exists() else RunProgress(run_id=paths.run_id)
    just_read = None
    if progress.run_state is RunState.PLANNED:
        just_read = _refuse_drift(cluster, secrets, plan)
    from upgrader.live import start_live_feeds

    # task lines, health and probe snapshots in the run directory, for `watch` and --tui
    feeds = start_live_feeds(paths.dir, cluster, secrets, bus)
    probe = None
    extra: dict = {}
    try:
        if executor is None:
            executor = ansible_executor(cluster, paths, locs, on_event=feeds.on_runner_event)
        setup = RunSetup(plan=plan, run_dir=paths.dir, executor=executor,
                         health=health or health_check(cluster, secrets, plan, just_read), bus=bus,
                         journal=journal, canary=canary or _journaled_canary(paths))
        probe = start_probe(cluster, secrets, paths.run_id, probe_opts, say) if cluster else None
        feeds.attach_probe(probe, probe_opts.budget)
        if probe is not None:
            from upgrader.probe.gate import UptimeGate

            gate = UptimeGate(probe.recorder.samples, probe.baseline_end,
                              budget=probe_opts.budget, p99_multiple=probe_opts.p99_multiple)
            setup.gate, setup.gate_reset = gate.problems, gate.reset
        outcome = Orchestrator(setup, progress).run_roll()
    finally:
        feeds.stop()
        if probe is not None:
            extra["probe"] = probe.stop(node_windows(paths.journal, probe.started_at))
    report = build_report(plan, paths.journal, outcome.result, outcome.message, extra)
    write_report(report, paths.report)
    if report_path is not None:
        write_report(report, report_path)
    return outcome, report


def ansible_executor(cluster: Cluster, paths: RunPaths, locs: Locations, on_event=None):
    """The playbook executor of this run: the operator's inventory plus the runtime overlay."""
    from upgrader.executor.runner import AnsibleRunnerExecutor

    work = paths.dir / "ansible"
    work.mkdir(mode=0o700, exist_ok=True)
    overlay = work / "inventory-overlay.yml"
    write_atomic(overlay, yaml.safe_dump(runtime_overlay(cluster), sort_keys=True))
    return AnsibleRunnerExecutor(
        inventory=[cluster.inventory, overlay], playbooks_dir=playbooks_dir(), work_dir=work,
        control_dir=private_dir(locs.control_sockets, "SSH control directory"), on_event=on_event)


def _journaled_canary(paths: RunPaths) -> bool:
    if not paths.journal.exists():
        return False
    return any(r.get("type") == "run_started" and r.get("canary") for _, r in read_records(paths.journal))


def _refuse_drift(cluster: Cluster | None, secrets: dict[str, str], plan: Plan) -> ClusterFacts | None:
    """The facts read, when the plan still matches them; UnsafeCluster when it does not."""
    if cluster is None:
        return None
    # HEALTH_SECTIONS: the fingerprint and the first health check read nothing more.
    facts = gather(cluster, secrets, sample_s=0.5, sections=HEALTH_SECTIONS)
    lines = drift(plan, facts)
    if lines:
        raise UnsafeCluster(f"plan {plan.plan_id} is stale: {lines[0]} (run `upgrader plan` again)")
    return facts
