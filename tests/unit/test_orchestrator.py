"""The reconcile loop against a fake executor: sequencing, canary, pause, failure, crash, abort.

The fake only records which (node, step) it was asked to run; the journal, the control
flags and the state machines are the real ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from upgrader import control
from upgrader.events import EventBus
from upgrader.executor.orchestrator import Orchestrator, RunSetup
from upgrader.journal import Journal, RunProgress, read_records, replay
from upgrader.machine import NODE_STEPS, NodeState, RunState
from upgrader.model import Plan, PlanStep

ORDER = ("node2", "node3", "node1")


def make_plan() -> Plan:
    return Plan(plan_id="lab-20261126T000000Z-abcdef12", cluster="lab", created_at="2026-11-26T00:00:00Z",
                kind="upgrade", targets={"keystone": "29.1.0"}, order=ORDER, nodes=(),
                preparation=(PlanStep("keystone_expand", 3),),
                finalization=(PlanStep("keystone_contract", 3), PlanStep("rabbitmq_feature_flags", 1)),
                refusals=(), warnings=(), facts_fingerprint="f" * 64)


@dataclass
class Result:
    step: str = ""
    ok: bool = True
    status: str = "successful"
    duration_s: float = 0.1
    artifact_id: str = ""
    message: str = ""
    results: dict = field(default_factory=dict)
    unreachable: bool = False


class FakeExecutor:
    def __init__(self, fail_at=None, on_step=None, crash_at=None, lost_at=None, lost_times=0):
        self.calls: list[tuple[str, str]] = []
        self.runs: list[tuple[str, tuple[str, ...]]] = []
        self.warm_ups: list[str | None] = []
        self.fail_at, self.on_step, self.crash_at = fail_at, on_step, crash_at
        self.lost_at, self.lost_times = lost_at, lost_times   # the host lost this many times

    def run_step(self, step, node, extravars, ident=None):
        self.calls.append((node or "", step))
        if self.on_step:
            self.on_step(node or "", step)
        if (node, step) == self.crash_at:
            self.crash_at = None
            raise SystemExit("simulated crash of upgrader mid-step")
        if (node, step) == self.fail_at:
            self.fail_at = None
            return Result(step, ok=False, status="failed", message="mariadb did not start")
        if (node, step) == self.lost_at and self.lost_times > 0:
            self.lost_times -= 1
            return Result(step, ok=False, status="failed", unreachable=True,
                          message="Mitogen was disconnected from the remote environment")
        res = {"transfer": "IST"} if step == "rejoin_galera" else {}
        if step == "upgrade":
            res = {"keystone_before": "28.1.0", "keystone_after": "29.1.0"}
        return Result(step, results=res, artifact_id=f"{node}-{step}")

    def run_steps(self, steps, node, extravars, ident=None, on_step=None, hold_before=frozenset(),
                  warm_up=None, gate=None, on_begin=None):
        """Like one playbook run: each result handed over as its step ends; a failure ends
        it, and so does on_step's False before a step of hold_before."""
        self.runs.append((node, tuple(steps)))
        self.warm_ups.append(warm_up)
        if gate is not None and gate() is False:
            return []
        if on_begin is not None:
            on_begin(steps[0])
        results = []
        for i, step in enumerate(steps):
            results.append(self.run_step(step, node, extravars, ident))
            go_on = on_step(results[-1])
            if not results[-1].ok:
                break
            if i + 1 < len(steps) and steps[i + 1] in hold_before and go_on is False:
                break
        return results


def setup(tmp_path, executor, *, canary=False, health=None, sleep=None) -> RunSetup:
    return RunSetup(plan=make_plan(), run_dir=tmp_path, executor=executor,
                    health=health or (lambda node, rolled: []), bus=EventBus(),
                    journal=Journal(tmp_path / "journal.jsonl"), canary=canary,
                    health_timeout_s=5, poll_s=0, sleep=sleep or (lambda s: None))


def run(tmp_path, executor, **kw):
    journal = tmp_path / "journal.jsonl"
    progress = replay(journal) if journal.exists() else RunProgress(run_id="run-1")
    return Orchestrator(setup(tmp_path, executor, **kw), progress).run_roll()


def node_calls(calls, node):
    return [s for n, s in calls if n == node]


def test_happy_path_runs_every_step_in_order_then_finalizes(tmp_path):
    ex = FakeExecutor()
    out = run(tmp_path, ex)
    assert out.result == "success"
    assert ex.calls[0] == ("", "keystone_expand")
    assert ex.calls[-2:] == [("", "keystone_contract"), ("", "rabbitmq_feature_flags")]
    for node in ORDER:
        assert node_calls(ex.calls, node) == list(NODE_STEPS)
        assert [steps for n, steps in ex.runs if n == node] == [NODE_STEPS]   # 1 playbook run
    # every node's run connects to the load balancers and the node before its first step
    assert set(ex.warm_ups) == {"haproxy:{{ upgrader_node }}"}
    # nodes roll strictly one after the other, in plan order
    firsts = [ex.calls.index((n, "drain_api")) for n in ORDER]
    lasts = [ex.calls.index((n, "undrain")) for n in ORDER]
    assert firsts[1] > lasts[0] and firsts[2] > lasts[1]
    progress = replay(tmp_path / "journal.jsonl")
    assert progress.run_state is RunState.DONE
    assert {n.state for n in progress.nodes.values()} == {NodeState.DONE}
    assert progress.transfers() == {n: "IST" for n in ORDER}
    assert progress.nodes["node2"].version_after == {"keystone": "29.1.0"}


def test_canary_stops_after_the_first_node_and_approve_finishes(tmp_path):
    ex = FakeExecutor()
    out = run(tmp_path, ex, canary=True)
    assert out.result == "awaiting_approval"
    assert out.node_states == {"node2": "done", "node3": "pending", "node1": "pending"}
    assert not node_calls(ex.calls, "node3") and not node_calls(ex.calls, "node1")
    assert control.read(tmp_path).awaiting_gate == "canary:node2"
    assert replay(tmp_path / "journal.jsonl").run_state is RunState.AWAITING_APPROVAL

    control.approve(tmp_path)
    ex2 = FakeExecutor()
    assert run(tmp_path, ex2, canary=True).result == "success"
    assert not node_calls(ex2.calls, "node2")          # the canary is not rolled twice
    assert node_calls(ex2.calls, "node3") == list(NODE_STEPS)


def test_a_failed_step_stops_the_run_and_touches_no_other_node(tmp_path):
    ex = FakeExecutor(fail_at=("node3", "rejoin_galera"))
    out = run(tmp_path, ex)
    assert out.result == "failed" and "node3: rejoin_galera failed" in out.message
    assert out.node_states == {"node2": "done", "node3": "failed", "node1": "pending"}
    assert not node_calls(ex.calls, "node1")
    assert node_calls(ex.calls, "node3")[-1] == "rejoin_galera"
    flags = control.read(tmp_path)
    assert flags.paused and flags.pause_reason == "step_failed"
    p = replay(tmp_path / "journal.jsonl").nodes["node3"]
    assert (p.failed_step, p.last_error) == ("rejoin_galera", "mariadb did not start")

    ex2 = FakeExecutor()                                 # the operator fixed it: apply again
    assert run(tmp_path, ex2).result == "success"
    assert node_calls(ex2.calls, "node3")[0] == "rejoin_galera"   # retries the failed step
    assert ex2.runs[0] == ("node3", ("rejoin_galera", "verify_node", "revive_rabbitmq",
                                     "resync_galera", "undrain"))


def test_pause_stops_at_the_next_step_boundary_until_resumed(tmp_path):
    seen = []

    def on_step(node, step):
        seen.append(step)
        if (node, step) == ("node2", "drain_db"):
            control.pause(tmp_path, "operator")      # as from another terminal

    waits = []

    def sleep(s):
        waits.append(control.read(tmp_path).paused)
        if len(waits) == 3:
            control.resume(tmp_path)

    ex = FakeExecutor(on_step=on_step)
    out = run(tmp_path, ex, sleep=sleep)
    assert out.result == "success"
    # the paused run waited once its playbook run ended: node2 drained, still running
    assert waits[:3] == [True, True, True]
    assert node_calls(ex.calls, "node2").count("drain_db") == 1
    # the run held before stop_services ended there; the next run resumed at it
    stop = NODE_STEPS.index("stop_services")
    assert [steps for n, steps in ex.runs if n == "node2"] == [NODE_STEPS, NODE_STEPS[stop:]]
    lines = (tmp_path / "journal.jsonl").read_text().splitlines()
    paused = next(i for i, r in enumerate(lines) if '"dest":"paused"' in r)
    assert '"trigger":"drain_rabbitmq"' in lines[paused - 1]          # the run's last step
    assert '"step":"stop_services"' in next(r for r in lines[paused:] if '"step_started"' in r)
    states = [r for r in (tmp_path / "journal.jsonl").read_text().splitlines() if '"run_state"' in r]
    assert any('"dest":"paused"' in r for r in states) and any('"trigger":"resume"' in r for r in states)


def test_after_a_crash_mid_step_apply_reruns_that_step_and_completes(tmp_path):
    ex = FakeExecutor(crash_at=("node3", "stop_services"))
    with pytest.raises(SystemExit):
        run(tmp_path, ex)
    progress = replay(tmp_path / "journal.jsonl")
    assert progress.in_flight()["node3"].step == "stop_services"
    assert progress.nodes["node3"].state is NodeState.RABBITMQ_DRAINED

    ex2 = FakeExecutor()
    assert run(tmp_path, ex2).result == "success"
    assert node_calls(ex2.calls, "node3")[0] == "stop_services"
    assert not node_calls(ex2.calls, "node2")


def test_health_gate_waits_then_pauses_with_the_reason(tmp_path):
    clock = iter(range(0, 1000, 3))
    s = setup(tmp_path, FakeExecutor(), health=lambda node, rolled: ["node1: Joined, not Synced"])
    s.clock = lambda: next(clock)
    out = Orchestrator(s, RunProgress(run_id="r")).run_roll()
    assert out.result == "paused" and "node1: Joined, not Synced" in out.message
    assert control.read(tmp_path).pause_reason == "health_gate"
    assert out.node_states["node2"] == "pending"


def test_the_health_gate_runs_inside_the_nodes_run_before_its_first_step(tmp_path):
    """The gate is asked once the run's connections are open; a refusal starts no step."""
    ex = FakeExecutor()
    asked: list[int] = []

    def health(node, rolled):
        asked.append(len(ex.runs))       # how many runs had started when the gate was asked
        return ["node1: Joined, not Synced"] if len(asked) > 1 else []

    clock = iter(range(0, 1000, 3))
    s = setup(tmp_path, ex, health=health)
    s.clock = lambda: next(clock)
    out = Orchestrator(s, RunProgress(run_id="r")).run_roll()
    assert out.result == "paused" and out.node_states["node3"] == "pending"
    assert asked[:2] == [1, 2]           # node2's gate inside its run, then node3's inside its own
    assert ex.runs[-1][0] == "node3" and not node_calls(ex.calls, "node3")
    started = [r for r in (tmp_path / "journal.jsonl").read_text().splitlines()
               if '"step_started"' in r and '"node3"' in r]
    assert started == []                 # nothing of node3 began


def test_abort_before_a_node_stops_cleanly_and_mid_node_finishes_that_node(tmp_path):
    def on_step(node, step):
        if (node, step) == ("node2", "stop_services"):
            control.abort(tmp_path)

    ex = FakeExecutor(on_step=on_step)
    out = run(tmp_path, ex)
    assert out.result == "aborted"
    assert out.node_states == {"node2": "done", "node3": "pending", "node1": "pending"}
    assert not node_calls(ex.calls, "node3")
    assert replay(tmp_path / "journal.jsonl").run_state is RunState.ABORTED


def test_uptime_gate_pauses_after_a_step_and_resume_acknowledges(tmp_path):
    problems = [["probe: 3 failed operations (budget 0)"]]
    resets = []

    def gate():
        return problems.pop() if problems else []

    def sleep(s):
        control.resume(tmp_path)

    st = setup(tmp_path, FakeExecutor(), sleep=sleep)
    st.gate, st.gate_reset = gate, lambda: resets.append(True)
    out = Orchestrator(st, RunProgress(run_id="r")).run_roll()
    assert out.result == "success"
    notes = [r for r in (tmp_path / "journal.jsonl").read_text().splitlines() if '"health_gate"' in r]
    assert notes and "3 failed operations" in notes[0]
    assert resets == [True]


# ------------------------------------------------------------------ extravars


def _extravars_of(tmp_path, plan, node):
    st = setup(tmp_path, FakeExecutor())
    st.plan = plan
    return Orchestrator(st, RunProgress(run_id="r"))._extravars(node)


def _patch_plan(package_targets, packages=(), facts=None):
    from package_fixtures import packaged
    from planner_fixtures import CREATED_AT
    from upgrader.planner import PlanOptions, build_plan

    options = PlanOptions(package_targets=package_targets, packages=packages)
    return build_plan(facts or packaged(), options, created_at=CREATED_AT)


def _ssl_at_target_on_node3():
    from package_fixtures import S22, openssl, packaged, with_packages

    return with_packages(packaged(), "node3", openssl=openssl(S22))


SSL = ["libssl3=3.0.22-1~deb12u2", "openssl=3.0.22-1~deb12u2"]

# id, plan, node, expected package extravars of that node
EXTRAVARS = [
    pytest.param(make_plan(), "node2",
                 {"upgrade_packages": [], "upgrade_restarts": [], "upgrade_reloads": [],
                  "galera_mariadb_upgrade": False},
                 id="extravars: a release-only plan pins nothing"),
    pytest.param(_patch_plan({"libssl3": "security"}), "node2",
                 {"upgrade_packages": SSL, "upgrade_restarts": ["keystone", "mariadb", "rabbitmq-server"],
                  "upgrade_reloads": ["ssh"], "galera_mariadb_upgrade": False},
                 id="extravars: the frozen security versions, pinned, and sshd reloaded"),
    pytest.param(_patch_plan({"libssl3": "security"}, facts=_ssl_at_target_on_node3()), "node3",
                 {"upgrade_packages": [], "upgrade_restarts": [], "upgrade_reloads": [],
                  "galera_mariadb_upgrade": False},
                 id="extravars: a node already at the target installs nothing"),
    pytest.param(_patch_plan({"libssl3": "security"}, packages=("tzdata",)), "node1",
                 {"upgrade_packages": SSL + ["tzdata"], "upgrade_restarts": ["keystone", "mariadb", "rabbitmq-server"],
                  "upgrade_reloads": ["ssh"], "galera_mariadb_upgrade": False},
                 id="extravars: node pins first, then the plan-wide packages"),
    pytest.param(_patch_plan({"mariadb-server": "1:10.11.19-0+deb12u1"}), "node2",
                 {"upgrade_packages": [f"{n}=1:10.11.19-0+deb12u1" for n in (
                     "libmariadb3", "mariadb-backup", "mariadb-client", "mariadb-client-core", "mariadb-common",
                     "mariadb-plugin-provider-bzip2", "mariadb-plugin-provider-lz4", "mariadb-plugin-provider-lzma",
                     "mariadb-plugin-provider-lzo", "mariadb-plugin-provider-snappy", "mariadb-server",
                     "mariadb-server-core")],
                  "upgrade_restarts": ["mariadb"], "upgrade_reloads": [], "galera_mariadb_upgrade": False},
                 id="extravars: the whole mariadb family at one version"),
    pytest.param(_patch_plan({"libssl3": "security"}), None,
                 {"upgrade_packages": [], "upgrade_restarts": [], "upgrade_reloads": [],
                  "galera_mariadb_upgrade": False},
                 id="extravars: a cluster step gets no node's packages"),
]


@pytest.mark.parametrize(("plan", "node", "expected"), EXTRAVARS)
def test_extravars_carry_the_planned_packages(tmp_path, plan, node, expected):
    ev = _extravars_of(tmp_path, plan, node)
    assert {k: ev[k] for k in expected} == expected
    assert ev.get("upgrader_node") == node


def test_extravars_mariadb_upgrade_follows_the_plan(tmp_path):
    from dataclasses import replace

    assert _extravars_of(tmp_path, replace(make_plan(), mariadb_upgrade=True), "node2")["galera_mariadb_upgrade"] is True


def with_arbitrator(plan: Plan) -> Plan:
    return replace(plan, preparation=(PlanStep("galera_arbitrator_join", 4), *plan.preparation),
                   finalization=(*plan.finalization, PlanStep("galera_arbitrator_leave", 3)))


def test_an_abort_lets_the_arbitrator_leave_and_a_failure_keeps_it(tmp_path):
    def on_step(node, step):
        if (node, step) == ("node2", "drain_api"):
            control.abort(tmp_path / "aborted")

    ex = FakeExecutor(on_step=on_step)
    s = setup(tmp_path / "aborted", ex)
    (tmp_path / "aborted").mkdir()
    s = replace(s, run_dir=tmp_path / "aborted", journal=Journal(tmp_path / "aborted" / "journal.jsonl"),
                plan=with_arbitrator(s.plan))
    out = Orchestrator(s, RunProgress()).run_roll()
    assert out.result == "aborted" and out.message.endswith("the arbitrator left")
    assert ex.calls[0] == ("", "galera_arbitrator_join") and ex.calls[-1] == ("", "galera_arbitrator_leave")
    assert ("", "keystone_contract") not in ex.calls           # an abort does not finalize

    failing = FakeExecutor(fail_at=("node2", "rejoin_galera"))
    (tmp_path / "failed").mkdir()
    s = replace(setup(tmp_path / "failed", failing), plan=with_arbitrator(make_plan()),
                journal=Journal(tmp_path / "failed" / "journal.jsonl"))
    out = Orchestrator(s, RunProgress()).run_roll()
    assert out.result == "failed"
    # the failed node is still out: garbd's vote is needed most now
    assert ("", "galera_arbitrator_leave") not in failing.calls


@pytest.mark.parametrize("flag, node2_runs", [
    ("abort", 1),           # the node in flight completes in the same run, then the roll stops
    ("cluster_fault", 1),   # the watcher's pause: the node in flight finishes, the run holds after it
    ("operator", 2),        # held before stop_services: that run ends, the resumed one starts there
])
def test_only_an_operator_or_gate_pause_ends_the_run_at_its_hold(tmp_path, flag, node2_runs):
    def on_step(node, step):
        if (node, step) != ("node2", "drain_db"):
            return
        if flag == "abort":
            control.abort(tmp_path)
        else:
            control.pause(tmp_path, flag)

    ex = FakeExecutor(on_step=on_step)
    run(tmp_path, ex, sleep=lambda s: control.resume(tmp_path))
    assert len([steps for n, steps in ex.runs if n == "node2"]) == node2_runs
    assert node_calls(ex.calls, "node2") == list(NODE_STEPS)      # every step once, in order


def test_a_step_whose_host_was_lost_runs_again_and_the_roll_goes_on(tmp_path):
    """An SSH connection dropped mid-step is not a failed node: the step runs again."""
    slept = []
    ex = FakeExecutor(lost_at=("node3", "rejoin_galera"), lost_times=1)
    out = run(tmp_path, ex, sleep=slept.append)
    assert out.result == "success"
    assert node_calls(ex.calls, "node3").count("rejoin_galera") == 2
    assert node_calls(ex.calls, "node3")[-1] == "undrain"
    notes = [r for _, r in read_records(tmp_path / "journal.jsonl") if r["type"] == "note"]
    assert [n["reason"] for n in notes] == ["reconnect"]
    assert "node3's rejoin_galera" in notes[0]["message"] and "1 of 2" in notes[0]["message"]
    assert 2.0 in slept


def test_a_host_lost_at_every_run_fails_the_step_after_its_reconnects(tmp_path):
    ex = FakeExecutor(lost_at=("node3", "stop_services"), lost_times=10)
    out = run(tmp_path, ex)
    assert out.result == "failed" and "node3: stop_services failed" in out.message
    assert node_calls(ex.calls, "node3").count("stop_services") == 3
    assert not node_calls(ex.calls, "node1")


def test_a_cluster_step_whose_host_was_lost_runs_again(tmp_path):
    ex = FakeExecutor(lost_at=(None, "keystone_expand"), lost_times=1)
    assert run(tmp_path, ex).result == "success"
    assert ex.calls[:2] == [("", "keystone_expand"), ("", "keystone_expand")]


def test_a_failed_task_is_not_run_again(tmp_path):
    ex = FakeExecutor(fail_at=("node3", "rejoin_galera"))
    assert run(tmp_path, ex).result == "failed"
    assert node_calls(ex.calls, "node3").count("rejoin_galera") == 1
