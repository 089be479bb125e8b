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
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import yaml

from upgrader import registry
from upgrader.errors import ConfigError, UnsafeCluster, UpgraderError
from upgrader.events import EventBus
from upgrader.executor.orchestrator import Orchestrator, Outcome, RunSetup, error_line
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
    stall_ms: float = 5000.0         # and the p99 must be over this before it counts as a stall


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
            probe_opts: ProbeOptions = ProbeOptions(), probe=None, say=print) -> tuple[Outcome, dict]:
    """Run (or continue) the roll; the caller holds the cluster lock.

    Once the run has a journal, the report is written on every way out: the roll's end or
    stop, an exception, Ctrl-C. Stopping the live feeds and the probe never prevents it
    (what the probe could not check is said in its figures). An exception out of the roll
    is journaled and re-raised after the report, for the CLI to tell.
    probe: an uptime probe already started (tests); by default one is started here when
    the secrets allow it.
    """
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
    reporter = _Reporter(paths, plan, report_path, redactor)
    watcher = start_watcher(cluster, secrets, bus, journal, paths, plan, progress,
                            rabbit=feeds.rabbit_status)
    try:
        if executor is None:
            executor = ansible_executor(cluster, paths, locs, on_event=feeds.on_runner_event,
                                        cancel=watcher.should_cancel if watcher else None)
            if stopped := executor.stop_leftovers():
                message = (f"stopped what the run's killed apply left running (pids "
                           f"{', '.join(map(str, stopped))}) before running its steps again")
                journal.append("note", reason="leftovers", message=message)
                say(message)
        setup = RunSetup(plan=plan, run_dir=paths.dir, executor=executor,
                         health=health or health_check(cluster, secrets, plan, just_read), bus=bus,
                         journal=journal, canary=canary or _journaled_canary(paths))
        if probe is None and cluster is not None:
            probe = start_probe(cluster, secrets, paths.run_id, probe_opts, say)
        _wire_probe(probe, probe_opts, setup, feeds)
        outcome = Orchestrator(setup, progress).run_roll()
    except BaseException as e:
        _after_exception(e, journal, reporter, feeds, probe, say, watched=stop_watcher(watcher))
        raise
    watched = stop_watcher(watcher)
    if watcher is not None and watcher.fault and outcome.result != "success":
        outcome = replace(outcome, message=f"{watcher.fault}; {outcome.message}")
    return outcome, _close(reporter, outcome, feeds, probe, watched)


def start_watcher(cluster: Cluster | None, secrets: dict[str, str], bus: EventBus, journal: Journal,
                  paths: RunPaths, plan: Plan, progress: RunProgress, rabbit=None):
    """The roll's watcher (executor/watcher.py), or None without a live cluster (tests)."""
    if cluster is None:
        return None
    from upgrader.executor.watcher import Watcher, cluster_reader
    from upgrader.facts.haproxy import commands as haproxy_commands

    states = {n: (progress.nodes[n].state.value if n in progress.nodes else "pending") for n in plan.order}
    balancers = haproxy_commands(cluster)   # one HAProxy session per node, shared by look and act
    read = cluster_reader(cluster, secrets.get("mariadb_upgrader_password", ""), rabbit=rabbit,
                          balancers=balancers)
    return Watcher(read, bus, journal, paths.dir, cluster.db_backend, cluster.api_backend, states,
                   balancers=balancers).start()


def stop_watcher(watcher) -> dict:
    """Stopped; what it saw and did, for the report ({} without one)."""
    if watcher is None:
        return {}
    watcher.stop()
    return {"watcher": {"faults": watcher.detected, "redrained": watcher.redrained}}


def _wire_probe(probe, opts: ProbeOptions, setup: RunSetup, feeds) -> None:
    """The probe's figures into probe.json, and the uptime gate over its samples."""
    feeds.attach_probe(probe, opts.budget)
    if probe is None:
        return
    from upgrader.probe.gate import UptimeGate

    gate = UptimeGate(probe.recorder.samples, probe.baseline_end,
                      budget=opts.budget, p99_multiple=opts.p99_multiple,
                      p99_floor_ms=opts.stall_ms)
    setup.gate, setup.gate_reset = gate.problems, gate.reset


def stopped_by(e: BaseException) -> Outcome:
    """The result a roll that raised ends with: interrupted (Ctrl-C, SIGTERM), else failed."""
    if not isinstance(e, Exception):
        return Outcome("interrupted", "interrupted (Ctrl-C or SIGTERM); `upgrader apply` continues "
                                      "from the journal (a step in flight runs again)")
    return Outcome("failed", f"stopped by an error: {error_line(e)}")


@dataclass(frozen=True)
class _Reporter:
    """Writes the run's report.json, and the --report copy."""

    paths: RunPaths
    plan: Plan
    report_path: Path | None
    redactor: Redactor

    def write(self, outcome: Outcome, extra: dict) -> dict:
        """The report written; {} when the run has no journal (it never started)."""
        if not self.paths.journal.exists():
            return {}
        # the journal is scrubbed as written; an exception's text and the probe's are not yet
        report = build_report(self.plan, self.paths.journal, outcome.result,
                              self.redactor.scrub(outcome.message), self.redactor.scrub(extra))
        for path in (self.paths.report, self.report_path):
            if path is None:
                continue
            try:
                write_report(report, path)
            except OSError as e:
                raise UpgraderError(f"cannot write the report {path}: {e.strerror or e}") from None
        return report


def _close(reporter: _Reporter, outcome: Outcome, feeds, probe, watched: dict | None = None) -> dict:
    """Stop the live feeds and the probe; write the report, and return it.

    Written once at once, then again with the probe's figures: the probe can take a
    minute to wind down (its lost-writes check waits on nodes that may be down), and a
    Ctrl-C meanwhile must still leave a report.
    """
    try:
        feeds.stop()
    except Exception:  # noqa: BLE001 - the worst a feed may cause is a stale live file
        pass
    watched = watched or {}
    report = reporter.write(outcome, dict(watched))
    # no report: the run never started and is discarded; its probe ends with the process
    if probe is not None and report:
        report = reporter.write(outcome, {**watched, "probe": _probe_figures(probe, reporter.paths.journal)})
    return report


def _after_exception(e: BaseException, journal: Journal, reporter: _Reporter, feeds, probe,
                     say, watched: dict | None = None) -> None:
    """The roll raised: journal why this process stopped and write the report, best effort
    (the exception the CLI is about to tell matters more than one of these)."""
    stopped = stopped_by(e)
    try:
        if journal.path.exists():
            journal.append("note", reason=stopped.result, message=stopped.message)
        _close(reporter, stopped, feeds, probe, watched)
    except Exception as later:  # noqa: BLE001 - e.g. a full disk: say so, keep the first error
        say(f"the report could not be written: {error_line(later)}")


def _probe_figures(probe, journal_path: Path) -> dict:
    """The probe's figures; what it could not measure is said in them, never raised."""
    try:
        return probe.stop(node_windows(journal_path, probe.started_at), strict=False)
    except Exception as e:  # noqa: BLE001 - a probe that cannot stop cleanly must not cost the report
        return {"error": f"the probe did not stop cleanly: {error_line(e)}"}


def runtime_inventory(cluster: Cluster, work: Path) -> list[Path]:
    """The operator's inventory, then the runtime overlay (inventory.runtime_overlay) written in work."""
    overlay = work / "inventory-overlay.yml"
    write_atomic(overlay, yaml.safe_dump(runtime_overlay(cluster), sort_keys=True))
    return [cluster.inventory, overlay]


def ansible_executor(cluster: Cluster, paths: RunPaths, locs: Locations, on_event=None, cancel=None):
    """The playbook executor of this run: the operator's inventory plus the runtime overlay."""
    from upgrader.executor.runner import AnsibleRunnerExecutor

    work = paths.dir / "ansible"
    work.mkdir(mode=0o700, exist_ok=True)
    return AnsibleRunnerExecutor(
        inventory=runtime_inventory(cluster, work), playbooks_dir=playbooks_dir(), work_dir=work,
        control_dir=private_dir(locs.control_sockets, "SSH control directory"), on_event=on_event,
        cancel=cancel)


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
