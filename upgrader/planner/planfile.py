"""Plan files: plans/<plan_id>.json, written atomically, loaded only if the hash holds.

The file is what an operator reviews and what ``apply`` executes, so any edit after
writing must be detected. A plan holds names, versions and numbers only: no secrets.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from upgrader import validate
from upgrader.errors import ConfigError
from upgrader.fileio import write_atomic
from upgrader.paths import writable_dir
from upgrader.model import NodePlan, Plan
from upgrader.planner.plan import hash_plan_dict, plan_id_for

FILE_MODE = 0o600          # no secret, but cluster details: the operator reviews it
SCHEMA_VERSION = 1
REQUIRED_KEYS = frozenset(
    f.name for f in dataclasses.fields(Plan)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
) | {"plan_hash"}


def write_plan(plan: Plan, plans_dir: Path | str) -> Path:
    """Write plans_dir/<plan_id>.json via tmp + fsync + rename; return the path."""
    data = plan.to_dict()
    if not plan.plan_hash or hash_plan_dict(data) != plan.plan_hash:
        raise ConfigError(f"plan {plan.plan_id or '(no id)'} has no valid hash; build it with build_plan")
    validate.cluster_name(plan.cluster)     # the plan id, so the file name, starts with it
    directory = writable_dir(Path(plans_dir), "plans directory")
    path = directory / f"{plan.plan_id}.json"
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_atomic(path, text, FILE_MODE)
    return path


def load_plan(path: Path | str) -> Plan:
    """Read a plan file; ConfigError (one line) if it is malformed or was edited."""
    path = Path(path)
    data = _read_json(path)
    missing = sorted(REQUIRED_KEYS - data.keys())
    if missing:
        raise ConfigError(f"plan file {path} is missing keys: {', '.join(missing)}")
    if not isinstance(data.get("schema_version", 1), int) or data.get("schema_version", 1) > SCHEMA_VERSION:
        raise ConfigError(f"plan file {path} has schema_version {data.get('schema_version')!r}; "
                          f"this upgrader reads {SCHEMA_VERSION}")
    _verify_hash(path, data)
    return _to_plan(path, data)


def _verify_hash(path: Path, data: dict[str, Any]) -> None:
    # Hash the raw dict: catches edits to any key, even ones this version does not know.
    try:
        actual = hash_plan_dict(data)
        expected_id = plan_id_for(data["cluster"], data["created_at"], actual)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"plan file {path} has a malformed entry: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"plan file {path}: {exc}") from None
    if actual != data["plan_hash"] or data["plan_id"] != expected_id:
        raise ConfigError(f"plan file {path} was edited after it was written")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"plan file {path} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"plan file {path} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"plan file {path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"plan file {path} does not hold a JSON object")
    return data


def _to_plan(path: Path, data: dict[str, Any]) -> Plan:
    try:
        plan = Plan.from_dict(data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"plan file {path} has a malformed entry: {exc}") from None
    try:
        _check_values(plan)
    except ConfigError as exc:
        raise ConfigError(f"plan file {path}: {exc}") from None
    return plan


def _check_values(plan: Plan) -> None:
    """Every value that reaches a playbook, checked again: a plan file is input too."""
    validate.cluster_name(plan.cluster)
    for name in (*plan.order, *(n.name for n in plan.nodes)):
        validate.node_name(name)
    if not isinstance(plan.targets, dict):
        raise ConfigError("targets is not a mapping")
    for component, version in plan.targets.items():
        validate.release(version, str(component))
    for spec in plan.packages:
        validate.package_spec(spec)
    if not isinstance(plan.package_targets, dict):
        raise ConfigError("package_targets is not a mapping")
    for package, target in plan.package_targets.items():
        validate.package_target(target, validate.package_name(package))
    for node in plan.nodes:
        _check_node_packages(node)


def _check_node_packages(node: NodePlan) -> None:
    # The to_version becomes `apt-get install name=version` on a root shell.
    for change in node.package_changes:
        name = validate.package_name(change.name)
        validate.debian_version(change.from_version, name)
        validate.debian_version(change.to_version, name)
    for service in node.restarts:
        validate.service_name(service)
