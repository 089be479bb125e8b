"""The ansible-runner adapter: events and (status, rc) in, StepResult out. No Ansible run.

The event dicts are trimmed copies of events recorded from playbook runs on the lab
(only the keys the adapter reads, with their real values).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from upgrader.executor import runner
from upgrader.executor.runner import (AnsibleRunnerExecutor, StepResult, StepSplitter, changed_count,
                                      collect_results, first_failure, is_ok)


def ev(event: str, task: str = "", host: str = "", res: dict | None = None, **data) -> dict:
    return {"event": event, "uuid": f"{event}-{task}-{host}", "pid": 4242,
            "event_data": {"task": task, "host": host, "res": res or {}, **data}}


def stats(**counts) -> dict:
    base = {"changed": {}, "failures": {}, "dark": {}, "ignored": {}, "ok": {}, "skipped": {}}
    return {"event": "playbook_on_stats", "event_data": {**base, **counts}}


# rejoin_galera on node2, recorded: IST of 6 write-sets after the upgrade.
REJOIN_OK = [
    {"event": "playbook_on_start", "event_data": {}},
    ev("runner_on_ok", "Read whether mariadbd runs, grastate.dat and the recorded error-log offset",
       "node2", {"changed": False, "rc": 0,
                 "stdout": '{"running": false, "seqno": 194, "offset": 19513}'}),
    ev("runner_on_ok", "Start MariaDB", "node2", {"changed": True, "rc": 0, "stdout": ""}),
    ev("runner_retry", "Wait until the node is Synced, then classify the transfer from the new log lines",
       "node2", {"attempts": 1, "stdout": '{"wsrep": null}'}),
    ev("runner_on_ok", "Report the rejoin", "node2",
       {"msg": {"upgrader_result": {"transfer": "IST", "ist_writesets": 6,
                                    "galera_grastate_seqno": 194}},
        "_ansible_verbose_always": True, "changed": False}),
    stats(changed={"node2": 1}, ok={"node2": 5}),
]

# stop_services on node2, recorded: the wait ran out (30 attempts) on a broker
# that still looked alive.
STOP_UNTIL_EXHAUSTED = [
    ev("runner_on_ok", "Record the MariaDB error-log offset while mariadbd still runs", "node2",
       {"changed": True, "stdout": "recorded 19513"}),
    ev("runner_on_failed", "Verify Keystone, RabbitMQ and MariaDB are really stopped", "node2",
       {"msg": "", "stdout": '{"running": "rabbitmq-server", "seqno": 200}', "stderr": "",
        "rc": 0, "attempts": 30, "changed": False}, ignore_errors=None),
    stats(changed={"node2": 3}, failures={"node2": 1}, ok={"lb": 2, "node2": 4}),
]

# keystone_contract, recorded: the refusal while every node still runs 28.1.0.
CONTRACT_REFUSED = [
    ev("runner_on_ok", "Group the hosts that answered", "node1",
       {"changed": False, "add_group": "keystone_answering"}),
    ev("runner_on_failed", "Assert every Keystone host answers and is set to run the target release",
       "node1", {"evaluated_to": False, "assertion": "keystone_laggards | length == 0",
                 "msg": "refuse: node1, node2, node3 may still run a release other than 29.1.0 "
                        "(or did not answer); contract only after every node",
                 "changed": False}, ignore_errors=None),
    stats(failures={"node1": 1}, ok={"node1": 3, "node2": 2, "node3": 2}),
]

# A recorded play with an ignored unreachable host (ghost), a wait whose grace ran
# out under ignore_errors, a result, and then a real shell failure.
IGNORED_THEN_FAILED = [
    ev("runner_on_ok", "Probe", "node1", {"changed": False, "rc": 0}),
    ev("runner_on_unreachable", "Probe", "ghost",
       {"unreachable": True, "changed": False,
        "msg": 'Task failed: Data could not be sent to remote host "10.123.0.99". Make sure '
               "this host can be reached over ssh: ssh: connect to host 10.123.0.99 port 22: "
               "No route to host"}),
    ev("runner_on_failed", "Wait for a grace that runs out", "node1",
       {"changed": False, "stdout": "3", "rc": 0, "msg": "", "attempts": 2}, ignore_errors=True),
    ev("runner_on_ok", "Report", "node1",
       {"msg": {"upgrader_result": {"transfer": "IST", "ist_writesets": 6}}, "changed": False}),
    ev("runner_on_failed", "Fail a shell", "node1",
       {"changed": True, "stdout": "some output", "stderr": "ERROR 2002 (HY000) Can't connect",
        "rc": 1, "msg": "non-zero return code"}, ignore_errors=None),
    stats(failures={"node1": 1}, ignored={"ghost": 1, "node1": 1}, ok={"node1": 3, "ghost": 1}),
]

# The same unreachable host, not ignored: the stats list it as dark.
UNREACHABLE = [
    ev("runner_on_unreachable", "Read the node's wsrep state", "node2",
       {"unreachable": True, "msg": "Task failed: Failed to connect to the host via ssh: "
                                    "ssh: connect to host 10.123.0.12 port 22: Connection refused"}),
    stats(dark={"node2": 1}),
]

# A loop task (the service module over two services) whose second item failed.
LOOP_FAILED = [
    ev("runner_on_failed", "Stop Keystone and RabbitMQ", "node2",
       {"msg": "One or more items failed", "changed": True,
        "results": [{"item": "keystone", "changed": True},
                    {"item": "rabbitmq-server", "failed": True,
                     "msg": "Unable to stop service rabbitmq-server: Error: unable to perform "
                            "an operation on node 'rabbit@node2'"}]}),
    stats(failures={"node2": 1}),
]


@pytest.mark.parametrize("status, rc, ok", [
    ("successful", 0, True),     # the only verified outcome
    ("failed", 2, False),        # a task failed (ansible-playbook rc 2)
    ("failed", 4, False),        # a host was unreachable
    ("canceled", 254, False),    # the operator aborted: the node is in an unknown state
    ("timeout", 254, False),     # runner's job timeout
    ("successful", 1, False),    # inconsistent; never trust one without the other
    ("failed", 0, False),
])
def test_status_and_rc_map_to_ok(status, rc, ok):
    assert is_ok(status, rc) is ok


@pytest.mark.parametrize("events, status, rc, expected", [
    # ok: results merged, no message, the stats' changed count
    (REJOIN_OK, "successful", 0,
     dict(ok=True, message="", changed=1,
          results={"transfer": "IST", "ist_writesets": 6, "galera_grastate_seqno": 194})),
    # an `until` that ran out names the task, its last output and the attempts
    (STOP_UNTIL_EXHAUSTED, "failed", 2,
     dict(ok=False, changed=3, results={},
          message='Verify Keystone, RabbitMQ and MariaDB are really stopped [node2]: '
                  '{"running": "rabbitmq-server", "seqno": 200} (after 30 attempts)')),
    # a refusing assert: its fail_msg is the message
    (CONTRACT_REFUSED, "failed", 2,
     dict(ok=False, changed=0, results={},
          message="Assert every Keystone host answers and is set to run the target release "
                  "[node1]: refuse: node1, node2, node3 may still run a release other than "
                  "29.1.0 (or did not answer); contract only after every node")),
    # ignored unreachable and ignored failure are skipped; a shell failure shows stderr
    (IGNORED_THEN_FAILED, "failed", 2,
     dict(ok=False, changed=0, results={"transfer": "IST", "ist_writesets": 6},
          message="Fail a shell [node1]: non-zero return code: ERROR 2002 (HY000) Can't connect")),
    # an unreachable host the play did not ignore
    (UNREACHABLE, "failed", 4,
     dict(ok=False, changed=0, results={},
          message="Read the node's wsrep state [node2]: Task failed: Failed to connect to the "
                  "host via ssh: ssh: connect to host 10.123.0.12 port 22: Connection refused")),
    # a loop: the failed item's msg
    (LOOP_FAILED, "failed", 2,
     dict(ok=False, changed=0, results={},
          message="Stop Keystone and RabbitMQ [node2]: One or more items failed")),
])
def test_result_from_recorded_events(events, status, rc, expected):
    r = AnsibleRunnerExecutor.result("step", "node2", status, rc, 1.23456, "007-node2-step", events)
    assert isinstance(r, StepResult)
    assert (r.ok, r.status, r.rc, r.duration_s, r.artifact_id) == (
        expected["ok"], status, rc, 1.235, "007-node2-step")
    assert r.message == expected["message"]
    assert "\n" not in r.message
    assert r.results == expected["results"]
    assert r.changed == expected["changed"]
    # only a lost host, not a failed task, is a reason to run the step again
    assert r.unreachable is (events is UNREACHABLE)


# desync_galera with a node name the inventory does not have, recorded: Ansible
# skips the play, runs nothing, and reports success.
NO_HOSTS_MATCHED = [
    {"event": "playbook_on_play_start",
     "event_data": {"play": "Desynchronise the node from the Galera cluster",
                    "play_pattern": "nodeX", "name": "Desynchronise the node from the Galera cluster"}},
    {"event": "playbook_on_no_hosts_matched",
     "event_data": {"play": "Desynchronise the node from the Galera cluster", "play_pattern": "nodeX"}},
    stats(),
]


def test_a_play_that_matched_no_host_is_not_a_success():
    r = AnsibleRunnerExecutor.result("desync_galera", "nodeX", "successful", 0, 0.6, "x",
                                     NO_HOSTS_MATCHED)
    assert not r.ok and r.status == "successful"
    assert r.message == ("Desynchronise the node from the Galera cluster: no host matched "
                         "'nodeX' (not in the inventory?)")


@pytest.mark.parametrize("status, rc, stdout, message", [
    # canceled through cancel_callback: no failed task, the node state is unknown
    ("canceled", 254, "", "canceled: the node is in an unknown state"),
    ("timeout", 254, "", "timed out"),
    # a playbook that does not parse: ansible-playbook's ERROR line, no events
    ("failed", 4, "[WARNING]: x\n[ERROR]: conflicting action statements: shell, command\n",
     "failed (rc 4): [ERROR]: conflicting action statements: shell, command"),
    # no ansible-playbook at all: runner's own line on stdout
    ("failed", 127, "The command was not found or was not executable: ansible-playbook.\n",
     "failed (rc 127): The command was not found or was not executable: ansible-playbook."),
])
def test_result_without_a_failed_task(status, rc, stdout, message):
    r = AnsibleRunnerExecutor.result("undrain", "node2", status, rc, 0.5, "x", [], stdout)
    assert not r.ok and r.message == message


def test_results_merge_in_event_order_and_ignore_other_messages():
    events = [
        ev("runner_on_ok", "Report", "node1", {"msg": {"upgrader_result": {"a": 1, "b": 1}}}),
        ev("runner_on_ok", "Debug a string", "node1", {"msg": "upgrader_result"}),
        ev("runner_on_ok", "Debug another dict", "node1", {"msg": {"other": {"a": 9}}}),
        ev("runner_on_skipped", "Report", "node1", {"msg": {"upgrader_result": {"a": 7}}}),
        ev("runner_on_ok", "Report", "node2", {"msg": {"upgrader_result": {"b": 2}}}),
    ]
    assert collect_results(events) == {"a": 1, "b": 2}


def test_changed_count_sums_the_final_stats():
    assert changed_count(REJOIN_OK) == 1
    assert changed_count([stats(changed={"node1": 2, "lb": 1})]) == 3
    assert changed_count([]) == 0
    assert first_failure(REJOIN_OK) == ""


# ---------------------------------------------------------------- the adapter's plumbing


class FakeRun:
    """Stands in for ansible_runner.run: replays events, records its arguments."""

    def __init__(self, events: list[dict], status: str = "successful", rc: int = 0):
        self.events, self.status, self.rc = events, status, rc
        self.kwargs: dict = {}

    def __call__(self, **kwargs):
        self.kwargs = kwargs
        for e in self.events:
            assert kwargs["event_handler"](e) is True   # runner keeps every event
        stdout = SimpleNamespace(read=lambda: "")
        return SimpleNamespace(status=self.status, rc=self.rc, stdout=stdout)


@pytest.fixture
def executor(tmp_path):
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    for step in ("rejoin_galera", "keystone_expand"):
        (playbooks / f"{step}.yml").write_text("---\n")
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[galera]\nnode2\n")
    return AnsibleRunnerExecutor(inventory, playbooks, tmp_path / "work")


def test_run_step_passes_typed_arguments_and_forwards_copies(executor, monkeypatch):
    fake = FakeRun(REJOIN_OK)
    monkeypatch.setattr(runner.ansible_runner, "run", fake)
    seen: list[dict] = []

    def on_event(e):
        seen.append(e)
        e["event_data"]["res"] = "mutated by a subscriber"

    executor.on_event = on_event
    r = executor.run_step("rejoin_galera", "node2", {"keystone_target_release": "29.1.0"})

    kw = fake.kwargs
    assert r.ok and r.results["transfer"] == "IST" and r.artifact_id == "001-node2-rejoin_galera"
    private = executor.work_dir / "runs" / r.artifact_id
    assert kw["ident"] == r.artifact_id and kw["playbook"] == str(private / "steps.yml")
    assert kw["private_data_dir"] == str(private)
    assert yaml.safe_load((private / "steps.yml").read_text()) == [
        {"name": "upgrader step: rejoin_galera", "hosts": "localhost", "gather_facts": False, "tasks": []},
        {"import_playbook": str((executor.playbooks_dir / "rejoin_galera.yml").resolve())}]
    assert kw["project_dir"] == str(executor.playbooks_dir)
    assert kw["inventory"] == [str(p) for p in executor.inventory]   # paths: runner copies dicts
    assert kw["artifact_dir"] == str(executor.work_dir / "artifacts")
    assert kw["quiet"] is True and kw["settings"] == {"pexpect_timeout": 0.5}
    assert not kw.get("suppress_env_files")                     # it would discard settings
    assert kw["extravars"] == {"keystone_target_release": "29.1.0", "upgrader_node": "node2"}
    env = kw["envvars"]
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "False"
    assert env["ANSIBLE_RETRY_FILES_ENABLED"] == "False"
    assert env["ANSIBLE_PIPELINING"] == "True"
    assert "ControlMaster=auto" in env["ANSIBLE_SSH_ARGS"]
    assert "ControlPersist=60s" in env["ANSIBLE_SSH_ARGS"]
    assert f"ControlPath={executor.control_path()}" in env["ANSIBLE_SSH_ARGS"]
    # every event reached the subscriber, as a copy: runner's own dicts are untouched
    assert len(seen) == len(REJOIN_OK)
    assert REJOIN_OK[-2]["event_data"]["res"]["msg"]["upgrader_result"]["transfer"] == "IST"


def test_cluster_steps_and_idents_count_past_what_is_on_disk(executor, monkeypatch):
    monkeypatch.setattr(runner.ansible_runner, "run", FakeRun([]))
    (executor.artifact_dir / "041-node3-undrain").mkdir(parents=True)
    r = executor.run_step("keystone_expand", None, {})
    assert r.artifact_id == "042-cluster-keystone_expand"
    # a resumed orchestrator reusing an ident gets a fresh directory, not a mixed one
    (executor.artifact_dir / "003-node2-rejoin_galera").mkdir()
    r2 = executor.run_step("rejoin_galera", "node2", {}, ident="003-node2-rejoin_galera")
    assert r2.artifact_id == "003-node2-rejoin_galera.2"


def test_a_failed_playbook_is_a_result_not_an_exception(executor, monkeypatch):
    monkeypatch.setattr(runner.ansible_runner, "run", FakeRun(CONTRACT_REFUSED, "failed", 2))
    r = executor.run_step("keystone_expand", None, {})
    assert not r.ok and r.rc == 2 and r.message.startswith("Assert every Keystone host")


def test_a_missing_playbook_is_a_failed_result(executor, monkeypatch):
    monkeypatch.setattr(runner.ansible_runner, "run", FakeRun([]))
    r = executor.run_step("no_such_step", "node2", {})
    assert not r.ok and r.status == "failed" and "no playbook" in r.message


def test_control_path_is_under_work_dir_when_short_enough():
    path = AnsibleRunnerExecutor(Path("i"), Path("p"), Path("/srv/runs/r1/ansible")).control_path()
    assert path == "/srv/runs/r1/ansible/cp/%C"


def test_control_path_falls_back_when_work_dir_is_too_deep(tmp_path):
    deep = tmp_path / ("d" * 90)
    path = AnsibleRunnerExecutor(Path("i"), Path("p"), deep).control_path()
    assert path.endswith("/%C") and len(path) - 2 + 40 + 17 <= 107
    assert not path.startswith(str(deep))


# ------------------------------------------------------------------ several steps, one run


def marker(step: str) -> dict:
    name = f"upgrader step: {step}"
    return {"event": "playbook_on_play_start", "event_data": {"play": name, "name": name}}


def report(task: str, host: str, result: dict, changed: bool = False) -> dict:
    return ev("runner_on_ok", task, host, {"msg": {"upgrader_result": result}, "changed": changed})


# drain_api then drain_db on node2 in one run, as the splitter sees it
TWO_STEPS = [
    {"event": "playbook_on_start", "event_data": {}},
    marker("drain_api"),
    ev("runner_on_ok", "Put the server in drain", "lb", {"changed": True}),
    report("Report the drain", "lb", {"haproxy_backend": "keystone"}),
    marker("drain_db"),
    report("Report the drain", "lb", {"haproxy_backend": "mariadb"}),
    stats(changed={"lb": 1}, ok={"lb": 3}),
]


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        self.t += 1.5
        return self.t


def test_splitter_cuts_at_each_marker_with_each_steps_own_results_and_changes():
    sp = StepSplitter(("drain_api", "drain_db"), "node2", "005-node2-drain_api", clock=Clock())
    ended = [r for r in map(sp.see, TWO_STEPS) if r is not None]
    assert [r.step for r in ended] == ["drain_api"]          # drain_db ends with the run
    last = sp.finish("successful", 0)
    api, db = sp.results
    assert (api.ok, api.results, api.changed, api.duration_s) == (True, {"haproxy_backend": "keystone"}, 1, 1.5)
    assert (db.step, db.ok, db.results, db.changed) == ("drain_db", True, {"haproxy_backend": "mariadb"}, 0)
    assert last is db and {api.artifact_id, db.artifact_id} == {"005-node2-drain_api"}


def test_splitter_keeps_a_step_run_twice_in_a_row_apart():
    twice = [{"event": "playbook_on_start", "event_data": {}},
             marker("drain_api"), ev("runner_on_ok", "Put the server in drain", "lb", {"changed": True}),
             marker("drain_api"), ev("runner_on_ok", "Read the server's state", "lb", {"changed": False})]
    sp = StepSplitter(("drain_api", "drain_api"), "node2", "x", clock=Clock())
    assert [r.step for r in map(sp.see, twice) if r is not None] == ["drain_api"]
    sp.finish("successful", 0)
    assert [r.changed for r in sp.results] == [1, 0]


def test_splitter_a_failure_ends_the_run_at_that_step():
    failing = TWO_STEPS[:5] + [ev("runner_on_failed", "Refuse to drain the last UP server", "lb",
                                  {"msg": "refuse: mariadb/node2 is the last UP server"}),
                               stats(failures={"lb": 1})]
    sp = StepSplitter(("drain_api", "drain_db", "desync_galera"), "node2", "x", clock=Clock())
    for e in failing:
        sp.see(e)
    sp.finish("failed", 2)
    assert [(r.step, r.ok) for r in sp.results] == [("drain_api", True), ("drain_db", False)]
    assert "refuse: mariadb/node2 is the last UP server" in sp.results[-1].message


def test_splitter_never_reports_a_step_that_did_not_start_as_done():
    sp = StepSplitter(("drain_api", "drain_db"), "node2", "x", clock=Clock())
    for e in TWO_STEPS[:4]:
        sp.see(e)
    sp.finish("successful", 0)
    assert [(r.step, r.ok) for r in sp.results] == [("drain_api", True), ("drain_db", False)]
    assert "ended before this step started" in sp.results[-1].message


def test_run_steps_hands_each_result_over_as_it_ends(executor, monkeypatch):
    for step in ("drain_api", "drain_db"):
        (executor.playbooks_dir / f"{step}.yml").write_text("---\n")
    handed: list[str] = []

    class Watching(FakeRun):
        def __call__(self, **kwargs):
            wrapped = kwargs["event_handler"]

            def handler(e):
                before = list(handed)
                out = wrapped(e)
                if e is TWO_STEPS[4]:   # the drain_db marker hands drain_api over, mid-run
                    assert (before, handed) == ([], ["drain_api"])
                return out
            kwargs["event_handler"] = handler
            return super().__call__(**kwargs)

    monkeypatch.setattr(runner.ansible_runner, "run", Watching(TWO_STEPS))
    results = executor.run_steps(("drain_api", "drain_db"), "node2", {},
                                 on_step=lambda r: handed.append(r.step))
    assert handed == ["drain_api", "drain_db"] and [r.ok for r in results] == [True, True]


def test_run_steps_cancels_after_a_step_whose_play_matched_no_host(executor, monkeypatch):
    for step in ("desync_galera", "drain_rabbitmq"):
        (executor.playbooks_dir / f"{step}.yml").write_text("---\n")
    events = [marker("desync_galera"), *NO_HOSTS_MATCHED[:2], marker("drain_rabbitmq")]
    fake = FakeRun(events, "canceled", 254)
    monkeypatch.setattr(runner.ansible_runner, "run", fake)
    handed: list[StepResult] = []
    results = executor.run_steps(("desync_galera", "drain_rabbitmq"), "nodeX", {}, on_step=handed.append)
    assert fake.kwargs["cancel_callback"]() is True
    assert [(r.step, r.ok) for r in results] == [("desync_galera", False)] and handed == results
    assert "no host matched 'nodeX'" in results[0].message


def test_an_apt_failure_says_apt_errors_not_its_whole_command_line():
    """The apt module's msg is the command line with every pinned package; apt's E: lines say why."""
    from upgrader.executor.runner import first_failure

    pins = " ".join(f"'mariadb-plugin-provider-{n}=1:10.11.19-0+deb12u1'" for n in range(12))
    res = {"msg": f"'/usr/bin/apt-get -y -o \"Dpkg::Options::=--force-confold\" install {pins}' failed: "
                  "E: Version '1:10.11.99' for 'mariadb-server' was not found",
           "stderr": "E: Version '1:10.11.99' for 'mariadb-server' was not found\n", "rc": 100}
    events = [{"event": "runner_on_failed",
               "event_data": {"task": "Install the pinned package versions", "host": "node2", "res": res}}]
    assert first_failure(events) == ("Install the pinned package versions [node2]: apt-get failed: "
                                     "E: Version '1:10.11.99' for 'mariadb-server' was not found")


def test_steps_run_under_mitogen_when_it_is_installed(tmp_path):
    """The dependency is declared, so the strategy must resolve to a real plugin directory."""
    from upgrader.executor.runner import mitogen_strategy

    env = AnsibleRunnerExecutor(tmp_path / "inv", tmp_path, tmp_path / "w").envvars()
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear" == mitogen_strategy()["ANSIBLE_STRATEGY"]
    assert (Path(env["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()


# ---------------------------------------------------------------- a real run that holds


@pytest.fixture
def local_executor(tmp_path):
    """Two steps on the machine itself through real ansible-runner: the second touches a file."""
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "drain_rabbitmq.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {msg: drained}\n")
    (playbooks / "stop_services.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.file: {{path: '{tmp_path}/stopped', state: touch}}\n")
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=" + sys.executable + "\n")
    return AnsibleRunnerExecutor(inventory, playbooks, tmp_path / "work")


@pytest.mark.parametrize("answer, runs_the_held_step", [(True, True), (None, True), (False, False)])
def test_a_run_holds_before_a_hold_step_until_on_step_answers(local_executor, tmp_path, answer,
                                                              runs_the_held_step):
    handed: list[str] = []

    def on_step(result):
        handed.append(result.step)
        return answer

    started = time.monotonic()
    results = local_executor.run_steps(("drain_rabbitmq", "stop_services"), None, {},
                                       on_step=on_step, hold_before={"stop_services"})
    assert (tmp_path / "stopped").exists() is runs_the_held_step
    assert [r.step for r in results if r.ok] == (["drain_rabbitmq", "stop_services"] if runs_the_held_step
                                                 else ["drain_rabbitmq"])
    assert handed == [r.step for r in results]
    assert time.monotonic() - started < 60   # a hold answered at once never waits out its timeout
    # nothing of the run is left behind: ansible-core's workers run in sessions of their own
    time.sleep(1)
    leftovers = subprocess.run(["pgrep", "-f", str(local_executor.work_dir)], capture_output=True, text=True)
    assert leftovers.stdout == "", f"processes of the run still alive: {leftovers.stdout.split()}"


GATE_S = 2.0


@pytest.mark.parametrize("answer", [True, False, "raise"])
def test_a_run_asks_its_gate_as_it_starts_and_holds_its_first_step_for_the_answer(local_executor, tmp_path,
                                                                                   answer):
    """The health gate's place: asked while the run connects, before anything of the first step."""
    asked: list[bool] = []
    begun: list[str] = []

    def gate():
        asked.append((tmp_path / "stopped").exists())
        if answer == "raise":
            raise RuntimeError("the gate broke")
        time.sleep(GATE_S)                                # a gate that takes its time...
        return answer

    started = time.monotonic()
    run = lambda: local_executor.run_steps(("stop_services", "drain_rabbitmq"), None, {},  # noqa: E731
                                           warm_up="localhost", gate=gate, on_begin=begun.append)
    if answer == "raise":
        with pytest.raises(RuntimeError, match="the gate broke"):
            run()
        results = []
    else:
        results = run()
    assert asked == [False]                               # asked once, before the step ran
    assert (tmp_path / "stopped").exists() is (answer is True)
    assert begun == (["stop_services"] if answer is True else [])
    assert [r.step for r in results if r.ok] == (["stop_services", "drain_rabbitmq"] if answer is True else [])
    assert all(r.duration_s < GATE_S for r in results)   # ...is not the first step's time
    assert time.monotonic() - started < 60                # never waits out the hold's timeout
    time.sleep(1)
    leftovers = subprocess.run(["pgrep", "-f", str(local_executor.work_dir)], capture_output=True, text=True)
    assert leftovers.stdout == "", f"processes of the run still alive: {leftovers.stdout.split()}"


def test_only_a_later_hold_step_waits_in_its_marker_play(tmp_path):
    plays = runner.steps_playbook(("stop_services", "upgrade", "stop_services"), tmp_path,
                                  {"stop_services"}, tmp_path)
    markers = [p for p in plays if "name" in p]
    assert [len(p["tasks"]) for p in markers] == [0, 0, 1]   # not the run's first step...
    first = runner.steps_playbook(("drain_api", "drain_db"), tmp_path, (), tmp_path, hold_first=True)
    assert [len(p["tasks"]) for p in first if "name" in p] == [1, 0]   # ...unless asked
    assert str(runner.go_file(tmp_path, "stop_services")) == markers[2]["tasks"][0]["vars"]["upgrader_go_file"]


def test_a_warm_up_play_goes_first_and_its_time_is_not_the_first_steps():
    plays = runner.steps_playbook(("drain_api", "drain_db"), Path("/p"), warm_up="haproxy:{{ upgrader_node }}")
    assert plays[0]["name"] == runner.WARM_UP_PLAY and plays[0]["hosts"] == "haproxy:{{ upgrader_node }}"
    task = plays[0]["tasks"][0]
    assert task["ignore_errors"] and task["ignore_unreachable"]   # it can change no outcome
    assert plays[1]["name"] == runner.STEP_MARKER + "drain_api"
    warm = [{"event": "playbook_on_start", "event_data": {}},
            {"event": "playbook_on_play_start", "event_data": {"play": runner.WARM_UP_PLAY}},
            ev("runner_on_ok", "Open the connections the steps use", "lb", {"changed": False})]
    sp = StepSplitter(("drain_api", "drain_db"), "node2", "x", clock=Clock())
    for e in warm:
        sp.see(e)
        assert not sp.begun
    for e in TWO_STEPS[1:]:
        sp.see(e)
    sp.finish("successful", 0)
    # the clock ticks 1.5 s per read: the warm-up's read is dropped at the first marker
    assert sp.begun and [r.duration_s for r in sp.results] == [1.5, 1.5]
