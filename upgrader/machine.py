"""The roll protocol as two tables: one node's steps, and the run around them.

Transitions fire only after the orchestrator has verified a step from fresh facts;
no callback here runs a playbook or opens a socket. Callbacks only keep books on
the model, and one ``after_state_change`` hook hands each fired transition to a
recorder the caller passes in (the orchestrator journals it).

Failure and return: ``fail`` ('*' -> FAILED) remembers the state the node was in,
and ``retry`` goes back to exactly that state. Because a transition fires only
after its step is verified, the node a step failed on is still in that step's
source state, so "the state before failing" and "the failed step's source state"
are the same state, and retry re-runs the failed step (steps are idempotent).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

from transitions import EventData, Machine, MachineError

from upgrader.errors import UpgraderError


class NodeState(Enum):
    PENDING = "pending"
    API_DRAINED = "api_drained"
    DB_DRAINED = "db_drained"
    DESYNCED = "desynced"
    RABBITMQ_DRAINED = "rabbitmq_drained"
    STOPPED = "stopped"
    UPGRADED = "upgraded"
    REJOINED = "rejoined"
    VERIFIED = "verified"
    REVIVED = "revived"
    RESYNCED = "resynced"
    UNDRAINED = "undrained"
    DONE = "done"
    FAILED = "failed"


S = NodeState
# Step names are fixed: the planner and playbooks/<step>.yml use the same names.
NODE_STEPS: tuple[str, ...] = (
    "drain_api", "drain_db", "desync_galera", "drain_rabbitmq", "stop_services", "upgrade",
    "rejoin_galera", "verify_node", "revive_rabbitmq", "resync_galera", "undrain",
)
_RETRY_TARGETS = [s for s in NodeState if s is not S.FAILED]
# One playbook run carries a node's whole window, back to back (one ansible-playbook
# start-up and one Mitogen bootstrap per host: 3-5 s each on the lab's 2 cores, which a
# second run per node paid again). The run holds before each step of HOLD_BEFORE until
# upgrader says go, and a pause there ends the run instead: so a node waits for an
# operator only drained but still running (before the stop), or back in service. A
# pause, an abort or the uptime gate never leaves a node's services down waiting; only a
# failed step can, and it stops the run where it failed.
# NOTE: there is no hold between revive and resync (back up but still drained): a pause
# there kept one node of three out of the pool for as long as the operator looked.
HOLD_BEFORE: frozenset[str] = frozenset({"stop_services"})

TRANSITIONS: list[dict[str, Any]] = [  # trigger, source, dest: one node's whole protocol
    {"trigger": "drain_api",       "source": S.PENDING,          "dest": S.API_DRAINED},
    {"trigger": "drain_db",        "source": S.API_DRAINED,      "dest": S.DB_DRAINED},
    {"trigger": "desync_galera",   "source": S.DB_DRAINED,       "dest": S.DESYNCED},
    {"trigger": "drain_rabbitmq",  "source": S.DESYNCED,         "dest": S.RABBITMQ_DRAINED},
    {"trigger": "stop_services",   "source": S.RABBITMQ_DRAINED, "dest": S.STOPPED},
    {"trigger": "upgrade",         "source": S.STOPPED,          "dest": S.UPGRADED},
    {"trigger": "rejoin_galera",   "source": S.UPGRADED,         "dest": S.REJOINED},
    {"trigger": "verify_node",     "source": S.REJOINED,         "dest": S.VERIFIED},
    {"trigger": "revive_rabbitmq", "source": S.VERIFIED,         "dest": S.REVIVED},
    {"trigger": "resync_galera",   "source": S.REVIVED,          "dest": S.RESYNCED},
    {"trigger": "undrain",         "source": S.RESYNCED,         "dest": S.UNDRAINED},
    {"trigger": "finish",          "source": S.UNDRAINED,        "dest": S.DONE},
    {"trigger": "fail", "source": "*", "dest": S.FAILED, "before": "remember_failure"},
    # retry: one row per possible target; the condition picks the state failed from
    *({"trigger": "retry", "source": S.FAILED, "dest": s,
       "conditions": "is_retry_target", "after": "forget_failure"} for s in _RETRY_TARGETS),
]

_STEP_OUT_OF: dict[NodeState, str] = {
    t["source"]: t["trigger"] for t in TRANSITIONS if t["trigger"] in (*NODE_STEPS, "finish")
}


def next_step(state: NodeState) -> str | None:
    """The trigger that leads out of ``state`` on the happy path (None for DONE/FAILED)."""
    return _STEP_OUT_OF.get(state)


def steps_of_run(step: str) -> tuple[str, ...]:
    """``step`` and the node's steps after it: one playbook run (a resumed run starts mid-way)."""
    if step not in NODE_STEPS:
        raise ValueError(f"{step} is not a node step")
    return NODE_STEPS[NODE_STEPS.index(step):]


@dataclass(frozen=True)
class Transitioned:
    """One fired transition as the after_state_change hook reports it.

    ``record_type`` is the journal record type, so a recorder can simply do
    ``journal.append(t.record_type, **t.fields())``.
    """

    record_type: str      # "transition" (a node) or "run_state" (the run)
    subject: str          # node name, or run id
    trigger: str
    source: str           # Enum value, e.g. "api_drained"
    dest: str
    error: str = ""       # fail: why
    step: str = ""        # fail: the step that failed
    reason: str = ""      # run pause: one of control.PAUSE_REASONS

    def fields(self) -> dict[str, str]:
        key = "node" if self.record_type == "transition" else "run_id"
        out = {key: self.subject, "trigger": self.trigger, "source": self.source, "dest": self.dest}
        out.update({k: v for k, v in (("error", self.error), ("step", self.step),
                                      ("reason", self.reason)) if v})
        return out


Recorder = Callable[[Transitioned], None]


def _unbound(name: str) -> RuntimeError:
    return RuntimeError(f"{name}() is bound by the machine; add the model with machine.add_model()")


class NodeRun:
    """One node's progress; the machine binds the declared triggers (model_override=True)."""

    state: NodeState

    def __init__(self, name: str, *, failed_from: NodeState | None = None,
                 failed_step: str = "", last_error: str = "") -> None:
        self.name = name
        self.failed_from = failed_from   # restored from the journal when resuming at FAILED
        self.failed_step = failed_step
        self.last_error = last_error

    # triggers, declared so type checkers see them; the machine replaces each one
    def drain_api(self, **kw: Any) -> bool: raise _unbound("drain_api")
    def drain_db(self, **kw: Any) -> bool: raise _unbound("drain_db")
    def desync_galera(self, **kw: Any) -> bool: raise _unbound("desync_galera")
    def drain_rabbitmq(self, **kw: Any) -> bool: raise _unbound("drain_rabbitmq")
    def stop_services(self, **kw: Any) -> bool: raise _unbound("stop_services")
    def upgrade(self, **kw: Any) -> bool: raise _unbound("upgrade")
    def rejoin_galera(self, **kw: Any) -> bool: raise _unbound("rejoin_galera")
    def verify_node(self, **kw: Any) -> bool: raise _unbound("verify_node")
    def revive_rabbitmq(self, **kw: Any) -> bool: raise _unbound("revive_rabbitmq")
    def resync_galera(self, **kw: Any) -> bool: raise _unbound("resync_galera")
    def undrain(self, **kw: Any) -> bool: raise _unbound("undrain")
    def finish(self, **kw: Any) -> bool: raise _unbound("finish")
    def fail(self, *, error: str = "", step: str = "") -> bool: raise _unbound("fail")
    def retry(self, **kw: Any) -> bool: raise _unbound("retry")
    def trigger(self, name: str, **kw: Any) -> bool: raise _unbound("trigger")
    def may_trigger(self, name: str, **kw: Any) -> bool: raise _unbound("may_trigger")

    # bookkeeping callbacks named in TRANSITIONS
    def remember_failure(self, event: EventData) -> None:
        if self.state is not NodeState.FAILED:   # a second fail keeps the first origin
            self.failed_from = self.state
        self.failed_step = event.kwargs.get("step") or next_step(self.failed_from) or ""
        self.last_error = event.kwargs.get("error", "")

    def is_retry_target(self, event: EventData) -> bool:
        return self.failed_from is not None and event.transition.dest == self.failed_from.name

    def forget_failure(self, event: EventData) -> None:
        self.failed_from, self.failed_step, self.last_error = None, "", ""


class RunState(Enum):
    PLANNED = "planned"
    PREPARING = "preparing"
    ROLLING = "rolling"
    AWAITING_APPROVAL = "awaiting_approval"
    PAUSED = "paused"
    FINALIZING = "finalizing"
    DONE = "done"
    FAILED = "failed"
    ABORTED = "aborted"


R = RunState
_ACTIVE = [R.PREPARING, R.ROLLING, R.AWAITING_APPROVAL, R.FINALIZING]
RUN_TRANSITIONS: list[dict[str, Any]] = [  # the run around the node rolls
    {"trigger": "start",            "source": R.PLANNED,           "dest": R.PREPARING},
    {"trigger": "prepared",         "source": R.PREPARING,         "dest": R.ROLLING},
    {"trigger": "node_done_canary", "source": R.ROLLING,           "dest": R.AWAITING_APPROVAL},
    {"trigger": "approve",          "source": R.AWAITING_APPROVAL, "dest": R.ROLLING},
    {"trigger": "pause",            "source": _ACTIVE,             "dest": R.PAUSED,
     "before": "remember_pause"},
    *({"trigger": "resume", "source": R.PAUSED, "dest": s,
       "conditions": "is_resume_target", "after": "forget_pause"} for s in _ACTIVE),
    {"trigger": "finalize",         "source": R.ROLLING,           "dest": R.FINALIZING},
    {"trigger": "finished",         "source": R.FINALIZING,        "dest": R.DONE},
    {"trigger": "fail",             "source": [R.PLANNED, *_ACTIVE, R.PAUSED], "dest": R.FAILED},
    {"trigger": "abort",            "source": [R.PLANNED, *_ACTIVE, R.PAUSED, R.FAILED],
     "dest": R.ABORTED},
]


class RunModel:
    """The run's own state; pause remembers where it was so resume returns there."""

    state: RunState

    def __init__(self, run_id: str, *, paused_from: RunState | None = None,
                 pause_reason: str = "") -> None:
        self.name = run_id
        self.paused_from = paused_from
        self.pause_reason = pause_reason

    def start(self, **kw: Any) -> bool: raise _unbound("start")
    def prepared(self, **kw: Any) -> bool: raise _unbound("prepared")
    def node_done_canary(self, **kw: Any) -> bool: raise _unbound("node_done_canary")
    def approve(self, **kw: Any) -> bool: raise _unbound("approve")
    def pause(self, *, reason: str = "operator") -> bool: raise _unbound("pause")
    def resume(self, **kw: Any) -> bool: raise _unbound("resume")
    def finalize(self, **kw: Any) -> bool: raise _unbound("finalize")
    def finished(self, **kw: Any) -> bool: raise _unbound("finished")
    def fail(self, **kw: Any) -> bool: raise _unbound("fail")
    def abort(self, **kw: Any) -> bool: raise _unbound("abort")
    def trigger(self, name: str, **kw: Any) -> bool: raise _unbound("trigger")
    def may_trigger(self, name: str, **kw: Any) -> bool: raise _unbound("may_trigger")

    def remember_pause(self, event: EventData) -> None:
        self.paused_from = self.state
        self.pause_reason = event.kwargs.get("reason", "operator")

    def is_resume_target(self, event: EventData) -> bool:
        return self.paused_from is not None and event.transition.dest == self.paused_from.name

    def forget_pause(self, event: EventData) -> None:
        self.paused_from, self.pause_reason = None, ""


class _DropSkipBinding(logging.Filter):
    """model_override=True logs one warning per trigger/is_<state> the model does not
    declare; those are deliberate omissions, not news for an operator's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Skip binding" not in record.getMessage()


logging.getLogger("transitions.core").addFilter(_DropSkipBinding())


def _hook(record_type: str, record: Recorder | None) -> Callable[[EventData], None]:
    def after_state_change(event: EventData) -> None:
        if record is None:
            return
        src = event.transition.source
        dst = event.transition.dest
        states = type(event.model.state)
        model = event.model
        record(Transitioned(
            record_type=record_type, subject=model.name, trigger=event.event.name,
            source=states[src].value, dest=states[dst].value,
            error=getattr(model, "last_error", "") if dst == "FAILED" else "",
            step=getattr(model, "failed_step", "") if dst == "FAILED" else "",
            reason=getattr(model, "pause_reason", "") if dst == "PAUSED" else ""))
    return after_state_change


def _machine(states: type[Enum], table: list[dict[str, Any]], hook: Callable[..., None]) -> Machine:
    # No on_exception: a recorder that cannot journal must stop the orchestrator, whose
    # single catch pauses the run; the journal then still holds the previous state.
    return Machine(model=None, states=states, transitions=table, initial=None,
                   auto_transitions=False, model_override=True, send_event=True,
                   after_state_change=hook)


def make_node_machine(record: Recorder | None = None) -> Machine:
    """One machine for all nodes: ``machine.add_model(NodeRun(n), initial=journaled_state)``."""
    return _machine(NodeState, TRANSITIONS, _hook("transition", record))


def make_run_machine(record: Recorder | None = None) -> Machine:
    """The run machine: ``machine.add_model(RunModel(run_id), initial=journaled_run_state)``."""
    return _machine(RunState, RUN_TRANSITIONS, _hook("run_state", record))


def fire(model: NodeRun | RunModel, trigger: str, **kwargs: Any) -> None:
    """Fire ``trigger`` or raise one UpgraderError line; never a MachineError or a silent False.

    The orchestrator only fires what next_step() names, so a refusal here means the
    journal and the code disagree: stop, do not guess.
    """
    before = model.state
    try:
        fired = model.trigger(trigger, **kwargs)
    except MachineError:
        fired = False
    if not fired:
        raise UpgraderError(f"{model.name}: cannot {trigger} from state {before.value}")
