"""Plan files: atomic write, exact round trip, and any edit or malformation is a ConfigError."""
from __future__ import annotations

import json
import stat
from dataclasses import replace

import pytest

from package_fixtures import S19, S22, packaged
from planner_fixtures import CREATED_AT, cluster, with_galera
from upgrader.errors import ConfigError
from upgrader.model import PackageChange
from upgrader.planner import PlanOptions, build_plan, load_plan, write_plan
from upgrader.planner.plan import hash_plan_dict


def _plan(facts=None):
    facts = cluster() if facts is None else facts
    return build_plan(facts, PlanOptions(targets={"keystone": "29.1.0"}), created_at=CREATED_AT,
                      inventory="inventory/lab.yml")


@pytest.mark.parametrize("facts", [
    pytest.param(cluster(), id="round trip: safe plan"),
    pytest.param(with_galera(cluster(), "node2", desync=True), id="round trip: refused plan"),
])
def test_round_trip(tmp_path, facts):
    plan = _plan(facts)
    path = write_plan(plan, tmp_path / "plans")
    assert path == tmp_path / "plans" / f"{plan.plan_id}.json"
    assert load_plan(path) == plan


def test_written_file_is_0600_and_leaves_no_temp_file(tmp_path):
    path = write_plan(_plan(), tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_rewriting_the_same_plan_is_idempotent(tmp_path):
    first = write_plan(_plan(), tmp_path).read_bytes()
    assert write_plan(_plan(), tmp_path).read_bytes() == first


def test_plan_file_holds_no_secret_shaped_keys(tmp_path):
    text = write_plan(_plan(), tmp_path).read_text().lower()
    assert not any(word in text for word in ("password", "secret", "token", "cookie"))


def test_write_refuses_an_unsealed_plan(tmp_path):
    with pytest.raises(ConfigError, match="has no valid hash; build it with build_plan$"):
        write_plan(replace(_plan(), order=("node1", "node2", "node3")), tmp_path)


def _edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _set(key, value):
    return lambda data: data.__setitem__(key, value)


def _rehash_with(key, value):
    """An edit made by someone who also recomputed the hash: still a valid plan file."""
    def change(data):
        data[key] = value
        data["plan_hash"] = hash_plan_dict(data)
    return change


# id, edit applied to the written file
TAMPER = [
    pytest.param(_set("order", ["node1", "node2", "node3"]), id="tamper: reorder nodes"),
    pytest.param(lambda d: d["nodes"][0]["steps"][0].__setitem__("estimate_s", 1.0), id="tamper: an estimate"),
    pytest.param(_set("refusals", []), id="tamper: drop a refusal"),
    pytest.param(_set("plan_id", "lab-20261126T061500Z-00000000"), id="tamper: plan_id"),
    pytest.param(_set("plan_hash", "0" * 64), id="tamper: plan_hash"),
    pytest.param(_set("unknown_future_key", 1), id="tamper: add a key"),
    pytest.param(_rehash_with("order", ["node1", "node2", "node3"]), id="tamper: rehashed, id no longer matches"),
]


@pytest.mark.parametrize("change", TAMPER)
def test_tamper_is_detected(tmp_path, change):
    path = write_plan(_plan(with_galera(cluster(), "node2", desync=True)), tmp_path)
    _edit(path, change)
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert str(info.value) == f"plan file {path} was edited after it was written"


def test_unknown_keys_from_a_newer_writer_load_when_the_hash_covers_them(tmp_path):
    plan = _plan()
    data = plan.to_dict() | {"approved_by": "ops"}
    data["plan_hash"] = hash_plan_dict(data)
    path = tmp_path / "p.json"
    # Same content hash prefix in the id, so this is what a newer upgrader would have written.
    data["plan_id"] = plan.plan_id[:-8] + data["plan_hash"][:8]
    path.write_text(json.dumps(data))
    assert load_plan(path).order == plan.order


# id, file text, expected message (after "plan file <path> ")
MALFORMED = [
    pytest.param("{not json", "is not valid JSON: Expecting property name enclosed in double quotes at line 1",
                 id="malformed: not JSON"),
    pytest.param("[1, 2]", "does not hold a JSON object", id="malformed: a list"),
    pytest.param("{}", "is missing keys: cluster, created_at, facts_fingerprint, finalization, kind, nodes, "
                       "order, plan_hash, plan_id, preparation, refusals, targets, warnings",
                 id="malformed: empty object"),
    pytest.param(None, "has schema_version 9; this upgrader reads 1", id="malformed: newer schema"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_file(tmp_path, text, message):
    path = tmp_path / "plan.json"
    if text is None:
        data = _plan().to_dict() | {"schema_version": 9}
        text = json.dumps(data)
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert str(info.value) == f"plan file {path} {message}"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot be read: No such file or directory$"):
        load_plan(tmp_path / "nope.json")


def test_malformed_node_entry_with_a_valid_hash(tmp_path):
    data = _plan().to_dict()
    data["nodes"] = [{"name": "node1"}]
    data["plan_hash"] = hash_plan_dict(data)
    data["plan_id"] = data["plan_id"][:-8] + data["plan_hash"][:8]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"has a malformed entry: "):
        load_plan(path)


# ------------------------------------------------------------------ package changes


def _package_plan():
    return build_plan(packaged(), PlanOptions(package_targets={"libssl3": "security"}), created_at=CREATED_AT,
                      inventory="inventory/lab.yml")


def test_round_trip_keeps_the_frozen_package_changes(tmp_path):
    plan = _package_plan()
    loaded = load_plan(write_plan(plan, tmp_path))
    assert loaded == plan
    assert loaded.nodes[0].package_changes[0] == PackageChange("libssl3", S19, S22)
    assert loaded.package_targets == {"libssl3": "security"}


def _node_change(field, value):
    def change(data):
        data["nodes"][0]["package_changes"][0][field] = value
    return change


# id, edit (then rehashed, as an attacker would), the message after "plan file <path>: "
UNSAFE = [
    pytest.param(_node_change("to_version", "3.0.22;reboot"),
                 "package version '3.0.22;reboot' for libssl3 is not a Debian version",
                 id="unsafe: a shell command in a frozen version"),
    pytest.param(_node_change("name", "-o=APT::x"), "package name '-o=APT::x' is not a Debian package name",
                 id="unsafe: an apt option as a package name"),
    pytest.param(lambda d: d["nodes"][0].__setitem__("restarts", ["ssh; reboot"]),
                 "service name 'ssh; reboot' is not a valid name (letters, digits, '.', '_', '-'; at most 63 "
                 "characters)", id="unsafe: a restart that is not a service name"),
    pytest.param(lambda d: d.__setitem__("package_targets", {"libssl3": "newest"}),
                 "package target 'newest' for libssl3 is not a Debian version (e.g. 1:10.11.19-0+deb12u1) or "
                 "'security'", id="unsafe: a package target that is not a version"),
]


@pytest.mark.parametrize(("change", "message"), UNSAFE)
def test_unsafe_package_values_are_refused_even_when_rehashed(tmp_path, change, message):
    path = write_plan(_package_plan(), tmp_path)
    data = json.loads(path.read_text())
    change(data)
    data["plan_hash"] = hash_plan_dict(data)
    data["plan_id"] = data["plan_id"][:-8] + data["plan_hash"][:8]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert str(info.value) == f"plan file {path}: {message}"
