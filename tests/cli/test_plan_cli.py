"""`upgrader plan` and `upgrader facts` from the outside.

In-process tests use typer's CliRunner against the real app; the one-line error and
exit-code contract of main() (the console script) is checked by running the installed
`upgrader` in a subprocess. Facts come from a document recorded on the lab
(fixtures/lab_healthy.json), changed one fact at a time; no test reaches the lab.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facts_docs import desynced, node, plan_files, with_writer
from upgrader.errors import ConfigError
from upgrader.planner import load_plan

FIXTURES = Path(__file__).parent / "fixtures"
INVENTORIES = FIXTURES / "inventories"
RECORDED_DRAINED = FIXTURES / "lab_node2_rabbit_drained.json"

runner = CliRunner()


def _unwrapped(text: str) -> str:
    """rich folds long lines at the console width, even inside a path."""
    return text.replace("\n", "")


# ------------------------------------------------------------------ help


@pytest.mark.parametrize("command, mentions", [
    pytest.param("facts", "--out", id="facts --help"),
    pytest.param("plan", "--facts", id="plan --help"),
])
def test_help(app, command: str, mentions: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert mentions in result.stdout


@pytest.mark.parametrize("command", ["facts", "plan"])
def test_help_through_main(run_upgrader, command: str) -> None:
    cp = run_upgrader(command, "--help")
    assert cp.returncode == 0 and "Usage" in cp.stdout and cp.stderr == ""


# ------------------------------------------------------------------ a plan is written


def test_plan_from_healthy_facts_writes_exactly_one_plan(app, plans_dir, write_facts, lab_healthy) -> None:
    facts = write_facts(lab_healthy)
    result = runner.invoke(app, ["plan", "--facts", str(facts)])
    assert result.exit_code == 0, result.output
    [written] = plan_files(plans_dir)
    assert f"plan written to {written}" in _unwrapped(result.stdout)
    plan = load_plan(written)  # hash verified on load
    assert plan.refusals == () and plan.cluster == "lab"
    assert plan.order == ("node2", "node3", "node1")


def test_plan_json_document(app, plans_dir, write_facts, lab_healthy) -> None:
    result = runner.invoke(app, ["plan", "--facts", str(write_facts(lab_healthy)), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout is the JSON alone; "plan written" goes to stderr
    assert {"order", "refusals", "nodes", "plan_hash"} <= doc.keys()
    assert doc["refusals"] == [] and doc["safe"] is True
    assert doc["order"] == ["node2", "node3", "node1"]
    assert list(doc["nodes"]) == doc["order"]
    assert [doc["nodes"][n]["position"] for n in doc["order"]] == [1, 2, 3]
    [written] = plan_files(plans_dir)
    assert written.name == f"{doc['plan_id']}.json" and doc["plan_id"].endswith(doc["plan_hash"][:8])
    assert f"plan written to {written}" in _unwrapped(result.stderr)


@pytest.mark.parametrize("writer, order", [
    pytest.param("node1", ["node2", "node3", "node1"], id="node1 writes: node2, node3 first, node1 last"),
    pytest.param("node2", ["node1", "node3", "node2"], id="node2 writes: it goes last"),
    pytest.param("node3", ["node1", "node2", "node3"], id="node3 writes: it goes last"),
])
def test_active_writer_goes_last(app, plans_dir, write_facts, lab_healthy, writer: str, order: list) -> None:
    facts = write_facts(with_writer(lab_healthy, writer))
    result = runner.invoke(app, ["plan", "--facts", str(facts), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["order"] == order
    assert json.loads(result.stdout)["nodes"][writer]["reason"].startswith("HAProxy's active MySQL writer")


def test_plan_with_a_target(app, plans_dir, write_facts, lab_healthy) -> None:
    facts = write_facts(lab_healthy)
    result = runner.invoke(app, ["plan", "--facts", str(facts), "--target", "keystone=29.1.0", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["kind"] == "upgrade" and doc["targets"] == {"keystone": "29.1.0"}
    assert len(plan_files(plans_dir)) == 1


# ------------------------------------------------------------------ refused: no plan


def test_node1_desynced_is_refused_and_nothing_written(app, plans_dir, write_facts, lab_healthy) -> None:
    facts = write_facts(desynced(lab_healthy, "node1"))
    result = runner.invoke(app, ["plan", "--facts", str(facts)])
    assert result.exit_code == 2, result.output
    refused = [line for line in result.stdout.splitlines() if line.startswith("refused:")]
    assert refused == ["refused: node1: wsrep_local_state_comment is Donor/Desynced, not Synced",
                       "refused: node1: wsrep_desync is ON"]
    assert ("error: plan refused: node1: wsrep_local_state_comment is Donor/Desynced, not Synced "
            "(2 reasons, listed above); no plan written") in " ".join(result.stderr.split())
    assert plan_files(plans_dir) == []


def test_node1_desynced_json_lists_refusals(app, plans_dir, write_facts, lab_healthy) -> None:
    facts = write_facts(desynced(lab_healthy, "node1"))
    result = runner.invoke(app, ["plan", "--facts", str(facts), "--json"])
    assert result.exit_code == 2, result.output
    doc = json.loads(result.stdout)
    assert doc["safe"] is False and all(r.startswith("node1: ") for r in doc["refusals"])
    assert plan_files(plans_dir) == []


def test_recorded_mid_roll_state_is_refused(app, plans_dir) -> None:
    """Facts recorded on the lab while node2's broker was drained (rabbitmq-upgrade drain)."""
    result = runner.invoke(app, ["plan", "--facts", str(RECORDED_DRAINED)])
    assert result.exit_code == 2, result.output
    assert "refused: node2: RabbitMQ node is under maintenance (drained)" in result.stdout
    assert "warning: node1: RabbitMQ reports it quorum critical" in result.stdout
    assert plan_files(plans_dir) == []


def test_refused_plan_exits_2_through_main(run_upgrader, plans_dir, write_facts, lab_healthy) -> None:
    cp = run_upgrader("plan", "--facts", str(write_facts(desynced(lab_healthy, "node1"))))
    assert "refused: node1: wsrep_desync is ON" in cp.stdout
    assert plan_files(plans_dir) == []
    assert cp.returncode == 2


# ------------------------------------------------------------------ bad input: one line, no traceback


def _no_nodes(doc: dict) -> dict:
    return {**doc, "nodes": []}


def _without(key: str):
    return lambda doc: {k: v for k, v in doc.items() if k != key}


# how to make the facts file from the recorded one (None: no file), extra arguments,
# words the one error line must hold; id
BAD_INPUT = [
    pytest.param(lambda doc: json.dumps(doc)[:500], [], "not JSON", id="truncated JSON"),
    pytest.param(lambda doc: "", [], "empty file", id="empty file"),
    pytest.param(lambda doc: [doc], [], "not a facts document", id="a JSON list, not an object"),
    pytest.param(_without("nodes"), [], "not a facts document", id="no 'nodes' key"),
    pytest.param(_no_nodes, [], "no nodes", id="an empty node list"),
    pytest.param(lambda doc: {**doc, "nodes": [1, 2, 3]}, [], "not a facts document",
                 id="nodes are not objects"),
    pytest.param(None, [], "no such file", id="missing facts file"),
    pytest.param(lambda doc: doc, ["--target", "nova=29.1.0"], "unknown component 'nova'",
                 id="unknown --target component"),
    pytest.param(lambda doc: doc, ["--target", "keystone"], "COMPONENT=VERSION", id="--target without '='"),
    pytest.param(lambda doc: doc, ["--target", "keystone=latest"], "is not a release", id="--target version"),
    pytest.param(lambda doc: doc, ["--force", "cluster_sizes"], "unknown refusal code",
                 id="unknown --force code"),
    pytest.param(lambda doc: doc, ["--force", "node_not_synced"], "cannot be forced",
                 id="--force of a safety code"),
]


def _assert_one_line_error(cp, plans_dir: Path, words: str) -> None:
    assert cp.returncode != 0
    assert "Traceback" not in cp.stdout + cp.stderr
    lines = cp.stderr.splitlines()
    assert len(lines) == 1, cp.stderr
    assert lines[0].startswith("error: ") and words in lines[0]
    assert cp.stdout == ""
    assert plan_files(plans_dir) == []


@pytest.mark.parametrize("make, args, words", BAD_INPUT)
def test_bad_facts_or_options_fail_in_one_line(run_upgrader, plans_dir, write_facts, lab_healthy,
                                               make, args: list, words: str) -> None:
    path = write_facts(make(lab_healthy)) if make else plans_dir.parent / "absent.json"
    cp = run_upgrader("plan", "--facts", str(path), *args)
    _assert_one_line_error(cp, plans_dir, words)
    assert cp.returncode == 2  # ConfigError


@pytest.mark.parametrize("inventory, words", [
    pytest.param("broken_header.ini", "not a readable Ansible inventory", id="unterminated group header"),
    pytest.param("broken.yml", "not a readable Ansible inventory", id="YAML that does not parse"),
    pytest.param("no_galera_group.ini", "inventory layout not recognised: no groups galera, rabbitmq, keystone",
                 id="no galera group"),
    pytest.param("no_admin_socket.ini", "missing variable haproxy_admin_socket",
                 id="no HAProxy socket variable"),
    pytest.param("absent.ini", "no such file", id="missing inventory"),
])
@pytest.mark.parametrize("command", ["plan", "facts"])
def test_bad_inventory_fails_in_one_line(run_upgrader, plans_dir, command: str, inventory: str,
                                         words: str) -> None:
    cp = run_upgrader(command, "-i", str(INVENTORIES / inventory))
    _assert_one_line_error(cp, plans_dir, words)
    assert str(INVENTORIES / inventory) in cp.stderr or inventory in cp.stderr
    assert cp.returncode == 2


def test_bad_facts_file_raises_config_error_in_process(app, plans_dir, write_facts) -> None:
    """Under CliRunner the command raises ConfigError; main() is what turns it into one line."""
    result = runner.invoke(app, ["plan", "--facts", str(write_facts("{not json"))])
    assert isinstance(result.exception, ConfigError)
    assert "not JSON" in str(result.exception)
    assert plan_files(plans_dir) == []


# Known gaps: these print a traceback today (see the reasons); kept strict so a fix shows up.
WRONG_TYPES = [
    pytest.param(lambda doc: (node(doc, "node1")["galera"].update(cluster_size="three"), doc)[1],
                 id="cluster_size is a string"),
    pytest.param(lambda doc: {**doc, "write_rate": None}, id="write_rate is null"),
    pytest.param(lambda doc: (node(doc, "node2").update(versions=None), doc)[1], id="versions is null"),
    pytest.param(lambda doc: (node(doc, "node3").update(name=None), doc)[1], id="a node name is null"),
]


@pytest.mark.parametrize("make", WRONG_TYPES)
def test_wrongly_typed_facts_fail_in_one_line(run_upgrader, plans_dir, write_facts, lab_healthy,
                                              make) -> None:
    cp = run_upgrader("plan", "--facts", str(write_facts(make(json.loads(json.dumps(lab_healthy))))))
    _assert_one_line_error(cp, plans_dir, "not a facts document")


@pytest.mark.parametrize("args", [
    pytest.param(["plan", "--bogus"], id="unknown option"),
    pytest.param(["plan", "--sample", "0"], id="--sample below its minimum"),
    pytest.param(["nosuchcommand"], id="unknown command"),
])
def test_usage_errors_have_no_traceback(run_upgrader, plans_dir, args: list) -> None:
    cp = run_upgrader(*args)
    assert cp.returncode == 2
    assert "Traceback" not in cp.stdout + cp.stderr
    assert plan_files(plans_dir) == []
