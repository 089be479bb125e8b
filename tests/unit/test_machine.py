"""The roll protocol tables: names resolve, legal moves land, illegal moves refuse, resume works."""
from __future__ import annotations

import logging

import pytest
from transitions import MachineError

from upgrader.errors import UpgraderError
from upgrader.machine import (
    HOLD_BEFORE, NODE_STEPS, RUN_TRANSITIONS, TRANSITIONS, NodeRun, NodeState, RunModel, RunState,
    Transitioned, fire, make_node_machine, make_run_machine, next_step, steps_of_run,
)

S, R = NodeState, RunState
HAPPY_PATH = [  # (state, step, state after): the per-node protocol, in order
    (S.PENDING, "drain_api", S.API_DRAINED),
    (S.API_DRAINED, "drain_db", S.DB_DRAINED),
    (S.DB_DRAINED, "desync_galera", S.DESYNCED),
    (S.DESYNCED, "drain_rabbitmq", S.RABBITMQ_DRAINED),
    (S.RABBITMQ_DRAINED, "stop_services", S.STOPPED),
    (S.STOPPED, "upgrade", S.UPGRADED),
    (S.UPGRADED, "rejoin_galera", S.REJOINED),
    (S.REJOINED, "verify_node", S.VERIFIED),
    (S.VERIFIED, "revive_rabbitmq", S.REVIVED),
    (S.REVIVED, "resync_galera", S.RESYNCED),
    (S.RESYNCED, "undrain", S.UNDRAINED),
    (S.UNDRAINED, "finish", S.DONE),
]
CALLBACK_KEYS = ("conditions", "unless", "before", "after", "prepare")


def node_at(state: NodeState, name: str = "node1", records: list | None = None, **kw) -> NodeRun:
    machine = make_node_machine(records.append if records is not None else None)
    node = NodeRun(name, **kw)
    machine.add_model(node, initial=state)
    return node


def run_at(state: RunState, records: list | None = None, **kw) -> RunModel:
    machine = make_run_machine(records.append if records is not None else None)
    run = RunModel("run-1", **kw)
    machine.add_model(run, initial=state)
    return run


def _names(row: dict) -> list[str]:
    out = []
    for key in CALLBACK_KEYS:
        value = row.get(key, [])
        out += [value] if isinstance(value, str) else list(value)
    return out


# ------------------------------------------------------------------ tables are well formed


@pytest.mark.parametrize("table,model", [(TRANSITIONS, NodeRun), (RUN_TRANSITIONS, RunModel)],
                         ids=["node", "run"])
def test_every_callback_and_trigger_name_resolves_on_the_model(table, model):
    # transitions resolves string names only when a trigger fires; a typo would surface mid-roll
    for row in table:
        for name in _names(row):
            assert callable(getattr(model, name, None)), f"{row['trigger']}: {name} missing"
        # model_override=True binds only triggers the model declares
        assert callable(getattr(model, row["trigger"], None)), f"{row['trigger']} not declared"


@pytest.mark.parametrize("table,model", [(TRANSITIONS, NodeRun), (RUN_TRANSITIONS, RunModel)],
                         ids=["node", "run"])
def test_every_declared_trigger_stub_is_bound_by_the_machine(table, model):
    triggers = {row["trigger"] for row in table} | {"trigger", "may_trigger"}
    obj = node_at(S.PENDING) if model is NodeRun else run_at(R.PLANNED)
    for name in triggers:   # the machine sets a bound trigger on the instance over each stub
        assert name in vars(obj), name


def test_the_happy_path_is_the_fixed_step_list_in_order():
    assert [step for _, step, _ in HAPPY_PATH] == [*NODE_STEPS, "finish"]
    state, walked = S.PENDING, []
    while (step := next_step(state)) is not None:
        walked.append(step)
        state = next(dst for src, s, dst in HAPPY_PATH if (src, s) == (state, step))
    assert walked == [*NODE_STEPS, "finish"] and state is S.DONE


def test_a_node_holds_only_where_its_services_still_run():
    down = set(NODE_STEPS[NODE_STEPS.index("stop_services") + 1:NODE_STEPS.index("revive_rabbitmq") + 1])
    assert HOLD_BEFORE and not HOLD_BEFORE & down and HOLD_BEFORE <= set(NODE_STEPS)


@pytest.mark.parametrize("step, expected", [
    ("drain_api", NODE_STEPS),
    ("upgrade", ("upgrade", "rejoin_galera", "verify_node", "revive_rabbitmq", "resync_galera",
                 "undrain")),
    ("undrain", ("undrain",)),
])
def test_a_resumed_run_starts_at_its_step(step, expected):
    assert steps_of_run(step) == expected


def test_steps_of_run_rejects_a_cluster_step():
    with pytest.raises(ValueError):
        steps_of_run("keystone_expand")


@pytest.mark.parametrize("state", [S.DONE, S.FAILED])
def test_no_next_step_out_of_done_or_failed(state):
    assert next_step(state) is None


def test_an_unbound_model_says_how_to_bind_it():
    with pytest.raises(RuntimeError, match="add_model"):
        NodeRun("node1").drain_api()


def test_no_skip_binding_warnings_reach_the_log(caplog):
    caplog.set_level(logging.DEBUG)
    node_at(S.PENDING)
    run_at(R.PLANNED)
    assert not [r for r in caplog.records if "Skip binding" in r.getMessage()]


# ------------------------------------------------------------------ node: legal / illegal / resume


@pytest.mark.parametrize("src,step,dst", HAPPY_PATH, ids=[s for _, s, _ in HAPPY_PATH])
def test_legal_step_moves_the_node_and_records_it(src, step, dst):
    records: list[Transitioned] = []
    node = node_at(src, records=records)
    fire(node, step)
    assert node.state is dst
    assert records == [Transitioned("transition", "node1", step, src.value, dst.value)]
    assert records[0].fields() == {"node": "node1", "trigger": step,
                                   "source": src.value, "dest": dst.value}


ILLEGAL = [(state, step) for state in NodeState for step in (*NODE_STEPS, "finish")
           if next_step(state) != step]
ILLEGAL += [(state, "retry") for state in NodeState if state is not S.FAILED]  # nothing to retry


@pytest.mark.parametrize("state,step", ILLEGAL, ids=[f"{s.value}-{t}" for s, t in ILLEGAL])
def test_illegal_step_refuses_and_leaves_the_state(state, step):
    records: list[Transitioned] = []
    node = node_at(state, records=records, failed_from=None)
    with pytest.raises(MachineError):
        getattr(node, step)()
    with pytest.raises(UpgraderError, match=f"^node1: cannot {step} from state {state.value}$"):
        fire(node, step)
    assert node.state is state and records == []


@pytest.mark.parametrize("state", list(NodeState))
def test_resume_from_every_journaled_state(state):
    # one shared machine, many nodes; each resumes exactly where its journal left it
    machine = make_node_machine()
    nodes = [NodeRun("node1"), NodeRun("node2", failed_from=S.STOPPED)]
    machine.add_model(nodes[0], initial=state)
    machine.add_model(nodes[1], initial=S.FAILED)
    assert nodes[0].state is state and nodes[1].state is S.FAILED
    step = next_step(state)
    if step is not None:
        fire(nodes[0], step)
        assert nodes[0].state is dict(((s, t), d) for s, t, d in HAPPY_PATH)[state, step]
    fire(nodes[1], "retry")          # the other node on the same machine is unaffected
    assert nodes[1].state is S.STOPPED


@pytest.mark.parametrize("state", [s for s in NodeState if s is not S.FAILED])
def test_fail_then_retry_returns_to_the_state_failed_from(state):
    records: list[Transitioned] = []
    node = node_at(state, records=records)
    fire(node, "fail", error="galera did not reach Synced")
    assert node.state is S.FAILED and node.failed_from is state
    assert node.failed_step == (next_step(state) or "")     # default: the step out of that state
    assert records[-1].error == "galera did not reach Synced"
    fire(node, "retry")
    assert node.state is state
    assert (node.failed_from, node.failed_step, node.last_error) == (None, "", "")
    assert records[-1].fields() == {"node": "node1", "trigger": "retry",
                                    "source": "failed", "dest": state.value}


def test_fail_records_the_named_step_and_a_second_fail_keeps_the_origin():
    records: list[Transitioned] = []
    node = node_at(S.UPGRADED, records=records)
    fire(node, "fail", error="IST refused", step="rejoin_galera")
    fire(node, "fail", error="still down")
    assert node.failed_from is S.UPGRADED and node.last_error == "still down"
    assert records[0].fields() == {"node": "node1", "trigger": "fail", "source": "upgraded",
                                   "dest": "failed", "error": "IST refused",
                                   "step": "rejoin_galera"}
    fire(node, "retry")
    assert node.state is S.UPGRADED


def test_retry_without_a_known_origin_refuses():
    node = node_at(S.FAILED, failed_from=None)
    with pytest.raises(UpgraderError, match="cannot retry from state failed"):
        fire(node, "retry")
    assert node.state is S.FAILED


def test_nodes_on_one_machine_move_independently():
    machine = make_node_machine()
    a, b = NodeRun("node1"), NodeRun("node2")
    machine.add_model(a, initial=S.PENDING)
    machine.add_model(b, initial=S.PENDING)
    fire(a, "drain_api")
    assert (a.state, b.state) == (S.API_DRAINED, S.PENDING)
    assert a.may_trigger("drain_db") and not b.may_trigger("drain_db")


def test_a_recorder_that_fails_propagates():
    # the orchestrator must stop when it cannot journal; nothing swallows the error
    def broken(_: Transitioned) -> None:
        raise OSError("disk full")
    machine = make_node_machine(broken)
    node = NodeRun("node1")
    machine.add_model(node, initial=S.PENDING)
    with pytest.raises(OSError, match="disk full"):
        node.drain_api()


# ------------------------------------------------------------------ run machine


RUN_LEGAL = [  # (state, trigger, state after)
    (R.PLANNED, "start", R.PREPARING),
    (R.PREPARING, "prepared", R.ROLLING),
    (R.ROLLING, "node_done_canary", R.AWAITING_APPROVAL),
    (R.AWAITING_APPROVAL, "approve", R.ROLLING),
    (R.ROLLING, "finalize", R.FINALIZING),
    (R.FINALIZING, "finished", R.DONE),
    (R.ROLLING, "fail", R.FAILED),
    (R.PAUSED, "fail", R.FAILED),
    (R.PLANNED, "abort", R.ABORTED),      # never started
    (R.PAUSED, "abort", R.ABORTED),       # the operator gives up on a paused run
    (R.FAILED, "abort", R.ABORTED),       # ... or on a failed one
]
RUN_ILLEGAL = [
    (R.PLANNED, "prepared"),              # preparation never ran
    (R.ROLLING, "approve"),               # nothing awaits approval
    (R.PLANNED, "pause"),                 # nothing to pause yet
    (R.PAUSED, "pause"),                  # already paused
    (R.ROLLING, "resume"),                # not paused
    (R.PAUSED, "finalize"),               # finalize only from a rolling run
    (R.AWAITING_APPROVAL, "finalize"),    # the canary gate cannot be skipped
    (R.ROLLING, "finished"),
    (R.DONE, "abort"), (R.DONE, "fail"), (R.DONE, "start"),
    (R.ABORTED, "resume"), (R.ABORTED, "start"),
    (R.FAILED, "resume"), (R.FAILED, "fail"),
]


@pytest.mark.parametrize("src,trigger,dst", RUN_LEGAL, ids=[f"{s.value}-{t}" for s, t, _ in RUN_LEGAL])
def test_run_legal_transitions(src, trigger, dst):
    records: list[Transitioned] = []
    run = run_at(src, records=records, paused_from=R.ROLLING if src is R.PAUSED else None)
    fire(run, trigger)
    assert run.state is dst
    assert records[-1].fields() == {"run_id": "run-1", "trigger": trigger,
                                    "source": src.value, "dest": dst.value}


@pytest.mark.parametrize("src,trigger", RUN_ILLEGAL, ids=[f"{s.value}-{t}" for s, t in RUN_ILLEGAL])
def test_run_illegal_transitions(src, trigger):
    run = run_at(src)
    with pytest.raises(UpgraderError, match=f"^run-1: cannot {trigger} from state {src.value}$"):
        fire(run, trigger)
    assert run.state is src


@pytest.mark.parametrize("active", [R.PREPARING, R.ROLLING, R.AWAITING_APPROVAL, R.FINALIZING])
def test_run_pause_resume_returns_to_the_state_paused_from(active):
    records: list[Transitioned] = []
    run = run_at(active, records=records)
    fire(run, "pause", reason="health_gate")
    assert run.state is R.PAUSED and run.paused_from is active
    assert records[-1].reason == "health_gate" and records[-1].fields()["reason"] == "health_gate"
    fire(run, "resume")
    assert run.state is active and run.paused_from is None


@pytest.mark.parametrize("state", list(RunState))
def test_run_resumes_from_every_journaled_state(state):
    run = run_at(state, paused_from=R.AWAITING_APPROVAL if state is R.PAUSED else None)
    assert run.state is state
    if state is R.PAUSED:          # resume needs the journaled origin, and goes back to it
        fire(run, "resume")
        assert run.state is R.AWAITING_APPROVAL
    terminal = state in (R.DONE, R.ABORTED)
    assert run.may_trigger("abort") is (not terminal)
