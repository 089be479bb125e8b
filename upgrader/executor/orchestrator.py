"""The reconcile loop: the only place that sequences effects.

Each pass: replay the journal (intent), read the control flags, pick the next step
of the node in flight from the state machine, and run it with the steps that share
its playbook run (the rest of the node's window, holding at machine.HOLD_BEFORE): each
step is journaled "started" and
"finished" as the run reaches it, and its transition fires only when its playbook
verified the step's end state from fresh facts. A crash anywhere leaves a journal whose replay
says which step to run again (every step is idempotent).

An exception out of a pass (a bug, an executor that broke, a flag file that cannot be
read) is caught once, in run_roll: it is journaled and pauses the run as
``unexpected_error``, so the caller still writes the report and tells the operator where
each node stands; the node in flight keeps its journaled step, which `apply` runs again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Protocol

from upgrader import control
from upgrader.errors import UpgraderError
from upgrader.events import (ApprovalNeeded, EventBus, LogLine, NodeStateChanged, Paused,
                             RunStateChanged, StepFinished, StepStarted)
from upgrader.journal import Journal, RunProgress
from upgrader.machine import (HOLD_BEFORE, NodeRun, NodeState, RunModel, RunState, Transitioned,
                              fire, make_node_machine, make_run_machine, next_step, steps_of_run)
from upgrader.model import Plan


class StepResultLike(Protocol):
    step: str
    ok: bool
    status: str
    duration_s: float
    artifact_id: str
    message: str
    results: dict


class Executor(Protocol):
    def run_step(self, step: str, node: str | None, extravars: dict,
                 ident: str | None = None) -> StepResultLike: ...

    def run_steps(self, steps: tuple[str, ...], node: str | None, extravars: dict,
                  ident: str | None = None,
                  on_step: Callable[[StepResultLike], bool | None] | None = None,
                  hold_before: frozenset[str] = frozenset(), warm_up: str | None = None,
                  gate: Callable[[], bool | None] | None = None,
                  on_begin: Callable[[str], None] | None = None) -> list[StepResultLike]:
        """Run consecutive steps in one go, handing each result over as it ends; stop at a
        failure, and before a step of ``hold_before`` when ``on_step`` answered False.
        ``gate`` is asked as the run connects to ``warm_up``: its False ends the run
        before the first step; ``on_begin`` hears when the first step starts."""


# Problems that must clear before the next node starts; [] means healthy.
HealthCheck = Callable[[str, tuple[str, ...]], list[str]]


@dataclass
class Outcome:
    result: str                      # success | failed | aborted | awaiting_approval | paused
                                     # (and session.stopped_by's interrupted)
    message: str
    node_states: dict[str, str] = field(default_factory=dict)
    # the exception that paused the run (unexpected_error): the CLI keeps its traceback
    error: Exception | None = field(default=None, repr=False)


ARBITRATOR_LEAVE = "galera_arbitrator_leave"   # also run on abort: no garbd outlives the run

# Step results (the playbooks' upgrader_result keys) kept in the journal and the report.
JOURNALED_RESULTS = ("transfer", "ist_writesets", "keystone_before", "keystone_after", "mariadb_version",
                     "check_rc_before", "check_rc_after", "packages_before", "packages_after",
                     "galera_server_version", "galera_cluster_size", "stale_libraries", "reloaded",
                     "vip_held", "vip_move_ms", "vip_holder", "galera_restarted_after_broken_ist",
                     "rabbitmq_drain_result")


@dataclass
class RunSetup:
    plan: Plan
    run_dir: Path
    executor: Executor
    health: HealthCheck
    bus: EventBus
    journal: Journal
    canary: bool = False
    health_timeout_s: float = 90.0
    poll_s: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    extravars: dict = field(default_factory=dict)   # common to every step (never secrets)
    # The uptime gate, checked after every step: problems pause the roll in place (the
    # probe keeps measuring) until an operator resumes or aborts.
    gate: Callable[[], list[str]] | None = None
    gate_reset: Callable[[], None] | None = None    # called on resume: failures so far are known


# The hosts a node's steps act on (the inventory's load balancers and the node): their
# connections are opened before the node's first step, outside its window.
WARM_UP_HOSTS = "haproxy:{{ upgrader_node }}"

# A step whose host was lost mid-step runs again this many times, this long apart, before
# it counts as failed: long enough for a dropped connection, short for a node that is gone.
RECONNECTS_PER_STEP = 2
RECONNECT_DELAY_S = 2.0


class Orchestrator:
    def __init__(self, setup: RunSetup, progress: RunProgress) -> None:
        self.s = setup
        self.plan = setup.plan
        self.progress = progress
        self.run = RunModel(progress.run_id or setup.plan.plan_id,
                            paused_from=progress.paused_from, pause_reason=progress.pause_reason)
        make_run_machine(self._record).add_model(self.run, initial=progress.run_state)
        node_machine = make_node_machine(self._record)
        self.nodes: dict[str, NodeRun] = {}
        for name in self.plan.order:
            p = progress.nodes.get(name)
            n = NodeRun(name, failed_from=p.failed_from if p else None,
                        failed_step=p.failed_step if p else "", last_error=p.last_error if p else "")
            node_machine.add_model(n, initial=p.state if p else NodeState.PENDING)
            self.nodes[name] = n
        self._seq = len(progress.steps)
        self._done_cluster_steps = {s.step for s in progress.steps if not s.node and s.ok}
        self._reconnects: dict[tuple[str, str], int] = {}   # (node, step): runs again after a lost host

    # ------------------------------------------------------------------ books
    def _record(self, t: Transitioned) -> None:
        self.s.journal.append(t.record_type, **t.fields())
        if t.record_type == "transition":
            self.s.bus.publish(NodeStateChanged(t.subject, t.source, t.dest, t.trigger, t.error))
        else:
            self.s.bus.publish(RunStateChanged(t.subject, t.source, t.dest, t.trigger))

    def _say(self, line: str, node: str = "", step: str = "") -> None:
        self.s.bus.publish(LogLine(line, node, step))

    def states(self) -> dict[str, str]:
        return {name: n.state.value for name, n in self.nodes.items()}

    def _outcome(self, result: str, message: str) -> Outcome:
        return Outcome(result, message, self.states())

    # ------------------------------------------------------------------ run
    def run_roll(self) -> Outcome:
        """Roll to the end or to a stop; whatever breaks on the way pauses the run."""
        try:
            return self._roll()
        except Exception as e:  # noqa: BLE001 - the one catch (style rule 8); not Ctrl-C or exit
            if not (self.run.may_trigger("pause") or self.run.state is RunState.PAUSED):
                raise   # nothing journaled yet, or the run has ended: there is no roll to pause
            return self._pause_on_error(e)

    def _roll(self) -> Outcome:
        if self.run.state is RunState.PLANNED:
            self.s.journal.append("run_started", run_id=self.run.name, plan_id=self.plan.plan_id,
                                  nodes=list(self.plan.order), canary=self.s.canary,
                                  targets=self.plan.targets)
            fire(self.run, "start")
        self._continue_after_restart()
        if self.run.state is RunState.PREPARING:
            out = self._cluster_steps(self.plan.preparation)
            if out:
                return out
            fire(self.run, "prepared")
        for position, name in enumerate(self.plan.order):
            out = self._roll_node(name, position)
            if out:
                return out
        if self.run.state is RunState.ROLLING:
            fire(self.run, "finalize")
        out = self._cluster_steps(self.plan.finalization)
        if out:
            return out
        fire(self.run, "finished")
        self.s.journal.append("run_finished", result="success")
        return self._outcome("success", "every node rolled; finalization done")

    def _continue_after_restart(self) -> None:
        """`apply` again means: carry on. It resumes a pause and approves a waiting gate."""
        flags = control.read(self.s.run_dir)
        if flags.awaiting_gate:
            control.approve(self.s.run_dir)
        elif flags.paused:
            control.resume(self.s.run_dir)
        if self.run.state is RunState.AWAITING_APPROVAL:
            fire(self.run, "approve")
        if self.run.state is RunState.PAUSED:
            fire(self.run, "resume")

    # ------------------------------------------------------------------ nodes
    def _roll_node(self, name: str, position: int) -> Outcome | None:
        node = self.nodes[name]
        if node.state is NodeState.DONE:
            return None
        if node.state is NodeState.FAILED:
            self._say(f"{name}: retrying {node.failed_step} after the earlier failure", name)
            fire(node, "retry")
        while node.state is not NodeState.DONE:
            # a pause (the watcher's cluster_fault among them) holds here, before the
            # health gate would wait out its own timeout on the same fault
            out = self._honour_flags(name)
            if out:
                return out
            step = next_step(node.state)
            if step == "finish":
                fire(node, "finish")
                break
            assert step is not None
            # the health gate before a node's first step, inside its playbook run
            gate = node.state is NodeState.PENDING
            failed, out = self._run_node_steps(steps_of_run(step), node, gate)
            if out:
                return out
            if failed is not None and not self._reconnect(name, failed):
                return self._fail(node, failed.step, failed.message)
        return self._after_node(name, position)

    def _after_node(self, name: str, position: int) -> Outcome | None:
        remaining = [n for n in self.plan.order if self.nodes[n].state is not NodeState.DONE]
        gate = f"canary:{name}"
        canary = self.s.canary and position == 0 and remaining
        if canary and not control.read(self.s.run_dir).is_approved(gate):
            msg = control.request_approval(self.s.run_dir, gate)
            fire(self.run, "node_done_canary")
            self.s.bus.publish(ApprovalNeeded(gate, f"{name} is upgraded and verified; "
                                                    "`upgrader approve` rolls the rest"))
            return self._outcome("awaiting_approval", msg)
        return None

    def _reconnect(self, name: str, failed: StepResultLike) -> bool:
        """Whether the step runs again: it failed only because Ansible lost the host (an
        SSH connection dropped mid-step), and has not yet used its reconnects.

        Every step is idempotent (tests/integration/test_playbooks.py runs each twice), so
        running it again from its start is safe; a node that stays unreachable fails the
        step after RECONNECTS_PER_STEP more runs, as any other failure does.
        """
        key = (name, failed.step)
        if not getattr(failed, "unreachable", False) or self._reconnects.get(key, 0) >= RECONNECTS_PER_STEP:
            return False
        self._reconnects[key] = self._reconnects.get(key, 0) + 1
        message = (f"{name or 'the cluster'}'s {failed.step}: the host was lost mid-step ({failed.message}); "
                   f"running the step again in {RECONNECT_DELAY_S:.0f} s "
                   f"({self._reconnects[key]} of {RECONNECTS_PER_STEP})")
        self.s.journal.append("note", reason="reconnect", message=message)
        self._say(message, name, failed.step)
        self.s.sleep(RECONNECT_DELAY_S)
        return True

    def _health_gate(self, name: str) -> Outcome | None:
        """Before touching a node, the rest of the cluster must be healthy (bounded wait)."""
        done = tuple(n for n, r in self.nodes.items() if r.state is NodeState.DONE)
        deadline = self.s.clock() + self.s.health_timeout_s
        while True:
            problems = self.s.health(name, done)
            if not problems:
                return None
            if self.s.clock() >= deadline:
                return self._pause("health_gate", f"before {name}: " + "; ".join(problems))
            self._say(f"waiting for health before {name}: {problems[0]}", name)
            self.s.sleep(2.0)

    def _honour_flags(self, name: str) -> Outcome | None:
        """Pause and abort take effect here, before a node and where its playbook run holds
        (machine.HOLD_BEFORE): a running playbook is never killed, and no node waits with
        its services down."""
        while True:
            flags = control.read(self.s.run_dir)
            in_flight = bool(name) and self.nodes[name].state is not NodeState.PENDING
            if flags.abort:
                # the node in flight completes first (holds_the_node_in_flight)
                return None if in_flight else self._abort()
            if not flags.paused:
                if self.run.state is RunState.PAUSED:
                    fire(self.run, "resume")
                    if self.s.gate_reset:
                        self.s.gate_reset()
                return None
            if in_flight and not holds_the_node_in_flight(flags):
                return None
            if self.run.state is not RunState.PAUSED:
                fire(self.run, "pause", reason=flags.pause_reason or "operator")
                self.s.bus.publish(Paused(flags.pause_reason, control.PAUSE_REASONS.get(
                    flags.pause_reason, "")))
            self.s.sleep(self.s.poll_s)

    def _check_gate(self, name: str, step: str) -> None:
        problems = self.s.gate() if self.s.gate else []
        if problems:
            message = f"after {name}'s {step}: " + "; ".join(problems)
            control.pause(self.s.run_dir, "health_gate", by="upgrader")
            self.s.journal.append("note", reason="health_gate", message=message)
            self.s.bus.publish(Paused("health_gate", message))

    # ------------------------------------------------------------------ steps
    def _run_node_steps(self, steps: tuple[str, ...], node: NodeRun,
                        gate: bool = False) -> tuple[StepResultLike | None, Outcome | None]:
        """One playbook run for several steps; each is journaled and fired as it ends.

        With ``gate``, the health gate is asked while the run opens its connections (the
        warm-up) and holds before its first step: the run starts the step only when the
        rest of the cluster is healthy, and ends there otherwise.
        Returns the failed step's result (None when every step verified its end state)
        and the gate's outcome when it stopped the run.
        """
        ident = self._new_ident(steps[0], node.name)
        begun: list[str] = []
        failed: list[StepResultLike] = []
        refused: list[Outcome] = []

        def start(step: str) -> None:
            # NOTE: journaled when the step's own play starts, not when the process does:
            # the warm-up before it is not the node's window (the node still serves)
            self._begin_step(step, node.name, ident)
            begun.append(step)

        def health() -> bool:
            out = self._health_gate(node.name)
            if out is not None:
                refused.append(out)
            return out is None

        def ended(result: StepResultLike) -> bool:
            if not begun:
                start(result.step)   # the run ended before its first step's play (e.g. no playbook)
            self._end_step(result, node.name)
            if not result.ok:
                failed.append(result)
                return False
            fire(node, result.step)
            self._check_gate(node.name, result.step)
            later = steps.index(result.step) + 1
            if later == len(steps):
                return True
            if steps[later] in HOLD_BEFORE and holds_the_node_in_flight(control.read(self.s.run_dir)):
                return False   # the run ends where it holds; _honour_flags waits, the next run resumes
            self._begin_step(steps[later], node.name, ident)
            return True

        self.s.executor.run_steps(steps, node.name, self._extravars(node.name), ident=ident,
                                  on_step=ended, hold_before=HOLD_BEFORE,
                                  warm_up=WARM_UP_HOSTS, gate=health if gate else None,
                                  on_begin=start)
        return (failed[0] if failed else None), (refused[0] if refused else None)

    def _run_step(self, step: str, node: str | None) -> StepResultLike:
        ident = self._begin_step(step, node)
        result = self.s.executor.run_step(step, node, self._extravars(node), ident=ident)
        self._end_step(result, node)
        return result

    def _new_ident(self, step: str, node: str | None) -> str:
        """The artifact ident of a new playbook run, named after its first step."""
        self._seq += 1
        return f"{self._seq:03d}-{node or 'cluster'}-{step}"

    def _begin_step(self, step: str, node: str | None, ident: str = "") -> str:
        """Journal "started" (with the run's artifact ident, a fresh one for a new run)."""
        ident = ident or self._new_ident(step, node)
        attempt = 1 + sum(1 for s in self.progress.steps if (s.node, s.step) == (node or "", step))
        self.s.journal.append("step_started", node=node or "", step=step, attempt=attempt,
                              artifact_id=ident)
        self.s.bus.publish(StepStarted(node or "", step, attempt))
        return ident

    def _end_step(self, result: StepResultLike, node: str | None) -> None:
        step = result.step
        extra = {k: v for k, v in result.results.items() if k in JOURNALED_RESULTS}
        record = dict(node=node or "", step=step, ok=result.ok, duration_s=round(result.duration_s, 2),
                      artifact_id=result.artifact_id, message=result.message, **extra)
        if step == "upgrade" and result.ok:
            # the report's versions before/after: the release and every pinned package
            record.update(
                version_before={"keystone": extra.get("keystone_before", ""), **(extra.get("packages_before") or {})},
                version_after={"keystone": extra.get("keystone_after", ""), **(extra.get("packages_after") or {})})
        self.s.journal.append("step_finished", **record)
        self.s.bus.publish(StepFinished(node or "", step, result.duration_s, result.ok,
                                        result.message, result.artifact_id,
                                        str(extra.get("transfer", ""))))

    def _extravars(self, node: str | None) -> dict:
        from upgrader.planner.restarts import RELOAD_ONLY  # the planner's table: restart or reload

        ev = dict(self.s.extravars)
        if node:
            ev["upgrader_node"] = node
        # NOTE: always explicit: a patch roll keeps each node's release, and the playbooks
        # would otherwise fall back to the inventory's declared target.
        release = self.plan.targets.get("keystone") or self._planned_version(node, "keystone")
        if release:
            ev["keystone_target_release"] = release
        # Pinned first ("name=version": the apt module installs exactly that), frozen per
        # node at plan time; then the plan-wide packages, as given.
        planned = next((n for n in self.plan.nodes if n.name == node), None)
        changes = planned.package_changes if planned else ()
        ev["upgrade_packages"] = [f"{c.name}={c.to_version}" for c in changes] + list(self.plan.packages)
        restarts = planned.restarts if planned else ()
        ev["upgrade_restarts"] = [s for s in restarts if s not in RELOAD_ONLY]
        ev["upgrade_reloads"] = [s for s in restarts if s in RELOAD_ONLY]
        ev["galera_mariadb_upgrade"] = self.plan.mariadb_upgrade
        ev["galera_rejoin_timeout"] = self._rejoin_timeout(node)
        return ev

    def _rejoin_timeout(self, node: str | None) -> int:
        """Seconds to wait for Synced: from the predicted transfer, not a fixed minute.

        An IST is seconds; an SST copies the data set, so the plan's estimate rules.
        """
        planned = next((n for n in self.plan.nodes if n.name == node), None)
        if planned is None:
            return 180
        estimate = next((s.estimate_s for s in planned.steps if s.name == "rejoin_galera"), 10.0)
        return int(max(60.0, 6 * estimate)) if planned.ist_feasible else int(max(600.0, 3 * estimate))

    def _planned_version(self, node: str | None, component: str) -> str:
        nodes = [n for n in self.plan.nodes if node is None or n.name == node]
        return next((n.versions[component] for n in nodes if component in n.versions), "")

    def _cluster_steps(self, steps) -> Outcome | None:
        for step in steps:
            if step.name in self._done_cluster_steps:
                continue
            out = self._honour_flags("")
            if out:
                return out
            result = self._run_step(step.name, None)
            while not result.ok and self._reconnect("", result):
                result = self._run_step(step.name, None)
            if not result.ok:
                return self._pause("step_failed", f"{step.name}: {result.message}", failed=True)
            self._done_cluster_steps.add(step.name)
        return None

    # ------------------------------------------------------------------ stops
    def _fail(self, node: NodeRun, step: str, message: str) -> Outcome:
        fire(node, "fail", error=message, step=step)
        return self._pause("step_failed", f"{node.name}: {step} failed: {message}", failed=True)

    def _pause(self, reason: str, message: str, failed: bool = False) -> Outcome:
        control.pause(self.s.run_dir, reason, by="upgrader")
        if self.run.state is not RunState.PAUSED:
            fire(self.run, "pause", reason=reason)
        self.s.journal.append("note", reason=reason, message=message)
        self.s.bus.publish(Paused(reason, message))
        return self._outcome("failed" if failed else "paused", message)

    def _pause_on_error(self, e: Exception) -> Outcome:
        """Pause where the run stands: no new step starts, every node keeps its journaled state."""
        return replace(self._pause("unexpected_error", error_line(e)), error=e)

    def _abort(self) -> Outcome:
        left = self._arbitrator_leaves()
        fire(self.run, "abort")
        self.s.journal.append("run_finished", result="aborted")
        return self._outcome("aborted", "aborted at a step boundary; no node is left half-rolled" + left)

    def _arbitrator_leaves(self) -> str:
        """An aborted run ends with no node out: the roll's garbd leaves, as at the end."""
        leave = next((s for s in self.plan.finalization if s.name == ARBITRATOR_LEAVE), None)
        if leave is None or ARBITRATOR_LEAVE in self._done_cluster_steps:
            return ""
        result = self._run_step(ARBITRATOR_LEAVE, None)
        if result.ok:
            self._done_cluster_steps.add(ARBITRATOR_LEAVE)
            return "; the arbitrator left"
        return f"; the arbitrator did not leave: {result.message} (stop garbd by its pid file)"


def holds_the_node_in_flight(flags: control.ControlFlags) -> bool:
    """Whether the flags stop a node in flight where it may wait (drained, still running).

    An abort does not: a half-rolled node (drained, maybe stopped) is less safe than a
    finished one, so the node in flight completes first. Nor does the watcher's pause for
    a fault outside the node (cluster_fault): the node's return restores a copy of the
    data; the run holds before the next node. Any other pause does.
    """
    return flags.paused and not flags.abort and flags.pause_reason != "cluster_fault"


def error_line(e: BaseException) -> str:
    """One line for an operator: an UpgraderError says it all; anything else names its type."""
    first = (str(e).splitlines() or [""])[0][:300]
    return first if isinstance(e, UpgraderError) else f"{type(e).__name__}: {first}"
