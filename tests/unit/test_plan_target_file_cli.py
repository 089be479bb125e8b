"""`upgrader plan --target-file` in process: the file's releases and packages become the plan.

Facts come from a file built with the planner fixtures (the lab's packages), so nothing
reaches the lab. The one-line errors are in tests/cli/bad_input_cases.py.
"""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from package_fixtures import M18, M19, S19, S22, packaged
from upgrader.planner import load_plan

runner = CliRunner()

TARGETS = f"""\
# upgrader target file (docs/targets.md)
releases:
  keystone: 29.1.0
packages:
  mariadb-server: {M19}
  libssl3: security
"""


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("UPGRADER_PLANS", str(tmp_path / "plans"))
    monkeypatch.delenv("UPGRADER_INVENTORY", raising=False)
    facts, targets = tmp_path / "facts.json", tmp_path / "targets.yml"
    facts.write_text(json.dumps(packaged().to_dict()))
    targets.write_text(TARGETS)
    return tmp_path, facts, targets


def test_target_file_plan_is_written_with_frozen_package_changes(app, files):
    tmp, facts, targets = files
    result = runner.invoke(app, ["plan", "--facts", str(facts), "--target-file", str(targets)])
    assert result.exit_code == 0, result.output
    [written] = (tmp / "plans").glob("*.json")
    plan = load_plan(written)
    assert (plan.kind, plan.targets) == ("upgrade", {"keystone": "29.1.0"})
    assert plan.package_targets == {"mariadb-server": M19, "libssl3": "security"}
    changes = {(c.name, c.from_version, c.to_version) for c in plan.nodes[0].package_changes}
    assert {("libssl3", S19, S22), ("mariadb-server", M18, M19), ("libmariadb3", M18, M19)} <= changes
    assert len(changes) == 14
    assert "node2: 14 packages\n" in result.stdout
    assert "  then restart keystone, mariadb, rabbitmq-server, ssh (reload)\n" in result.stdout


def test_target_file_json_lists_each_nodes_changes(app, files):
    _, facts, targets = files
    result = runner.invoke(app, ["plan", "--facts", str(facts), "--target-file", str(targets), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["package_targets"] == {"mariadb-server": M19, "libssl3": "security"}
    assert {"name": "libssl3", "from_version": S19, "to_version": S22} in doc["nodes"]["node1"]["package_changes"]


def test_a_packages_only_file_is_a_patch_roll(app, files):
    tmp, facts, targets = files
    targets.write_text("packages:\n  libssl3: security\n")
    result = runner.invoke(app, ["plan", "--facts", str(facts), "--target-file", str(targets)])
    assert result.exit_code == 0, result.output
    [written] = (tmp / "plans").glob("*.json")
    assert load_plan(written).kind == "patch"
