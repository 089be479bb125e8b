"""ansible-runner events -> task log lines: node and step from the ident and the marker plays."""
from __future__ import annotations

import pytest

from upgrader.live.tasks import TaskLineParser, parse_ident

IDENT = "004-node2-stop_services"


def ev(event: str, task: str = "", host: str = "node2", res: dict | None = None,
       ident: str = IDENT, **data) -> dict:
    return {"event": event, "runner_ident": ident, "created": "2026-12-01T10:00:26.812345+00:00",
            "event_data": {"task": task, "host": host, "res": res or {}, **data}}


@pytest.mark.parametrize("ident,expected", [
    ("004-node2-stop_services", ("node2", "stop_services")),      # a node's playbook run
    ("004-node2-stop_services.2", ("node2", "stop_services")),    # a resumed run's unique suffix
    ("001-cluster-keystone_expand", ("", "keystone_expand")),     # a cluster step
    ("007-ctl-a-1-drain_api", ("ctl-a-1", "drain_api")),          # node names may hold dashes
    ("", ("", "")),                                               # no ident: nothing to say
])
def test_parse_ident(ident, expected):
    assert parse_ident(ident) == expected


# (event, expected fields of the line; None = no line)
CASES = [
    pytest.param(ev("runner_on_ok", "Record the MariaDB error-log offset while mariadbd still runs",
                    res={"changed": True, "stdout": "recorded 19513"}),
                 {"status": "changed", "host": "node2", "node": "node2", "step": "stop_services"},
                 id="changed"),
    pytest.param(ev("runner_on_ok", "Assert the error-log offset is known", res={"changed": False}),
                 {"status": "ok"}, id="ok"),
    pytest.param(ev("runner_on_failed", "Verify Keystone, RabbitMQ and MariaDB are really stopped",
                    res={"msg": "", "stdout": '{"running": "rabbitmq-server"}', "attempts": 30},
                    ignore_errors=None),
                 {"status": "failed", "msg": '{"running": "rabbitmq-server"}', "attempts": 30},
                 id="failed-with-output-as-message"),
    pytest.param(ev("runner_on_failed", "Wait for a grace that runs out", res={"msg": "", "stdout": "3"},
                    ignore_errors=True),
                 {"status": "ignored"}, id="ignored-failure"),
    pytest.param(ev("runner_on_unreachable", "Read the node's wsrep state",
                    res={"msg": "Failed to connect to the host via ssh: Connection refused"}),
                 {"status": "unreachable", "msg": "Failed to connect to the host via ssh: Connection refused"},
                 id="unreachable"),
    pytest.param(ev("runner_on_skipped", "Start MariaDB"), {"status": "skipped"}, id="skipped"),
    pytest.param(ev("runner_retry", "Wait until the node is Synced, then classify the transfer",
                    res={"attempts": 3, "retries": 60, "stdout": '{"wsrep": null}'}),
                 {"status": "retry", "msg": "attempt 3 of 60"}, id="retry-of-an-until-wait"),
    pytest.param(ev("playbook_on_task_start", "Stop Keystone, RabbitMQ and MariaDB at once", host=""),
                 {"status": "started", "task": "Stop Keystone, RabbitMQ and MariaDB at once"},
                 id="task-start"),
    pytest.param(ev("verbose", ""), None, id="verbose-output-is-not-a-line"),
    pytest.param(ev("runner_item_on_ok", "Stop Keystone"), None, id="loop-items-wait-for-the-task"),
    pytest.param(ev("playbook_on_play_start", play="Stop the node's services"), None,
                 id="a-real-play-start"),
]


@pytest.mark.parametrize("event,expected", CASES)
def test_one_line_per_result(event, expected):
    line = TaskLineParser().see(event)
    if expected is None:
        assert line is None
        return
    assert {k: line.get(k) for k in expected} == expected
    assert line["ts"] == "2026-12-01T10:00:26.812345+00:00" and line["kind"] == "task"


def test_marker_plays_name_the_step_of_later_tasks_in_the_same_run():
    p = TaskLineParser()
    ident = "003-node2-stop_services"
    marker = p.see(ev("playbook_on_play_start", ident=ident, play="upgrader step: upgrade"))
    assert (marker["kind"], marker["step"]) == ("step", "upgrade")
    line = p.see(ev("runner_on_ok", "Switch Keystone to the target release venv", ident=ident,
                    res={"changed": True}))
    assert (line["node"], line["step"]) == ("node2", "upgrade")
    other = p.see(ev("runner_on_ok", "Drain", ident="005-node3-drain_api"))   # another run
    assert other["step"] == "drain_api"


def test_a_failure_message_is_one_bounded_line():
    line = TaskLineParser().see(ev("runner_on_failed", "Fail a shell", res={
        "msg": "non-zero return code", "stderr": "first\nERROR 2002 (HY000) Can't connect " + "x" * 500}))
    assert line["msg"].startswith("non-zero return code: ERROR 2002")
    assert "\n" not in line["msg"] and len(line["msg"]) <= 200
