"""Small edits of a recorded facts document, one fact at a time, for CLI tests."""
from __future__ import annotations

import copy
from pathlib import Path


def node(doc: dict, name: str) -> dict:
    return next(n for n in doc["nodes"] if n["name"] == name)


def desynced(doc: dict, name: str) -> dict:
    """`name` as the lab showed node2 after SET GLOBAL wsrep_desync=ON (state 2, Donor/Desynced)."""
    doc = copy.deepcopy(doc)
    node(doc, name)["galera"].update(local_state=2, local_state_comment="Donor/Desynced", desync=True)
    return doc


def with_writer(doc: dict, writer: str) -> dict:
    """`writer` is the only non-backup, active server of the mariadb backend."""
    doc = copy.deepcopy(doc)
    for server in doc["haproxy"]:
        if server["backend"] == "mariadb":
            server["backup"] = server["server"] != writer
            server["active"] = server["server"] == writer
    return doc


def plan_files(plans_dir: Path) -> list[Path]:
    return sorted(plans_dir.glob("*.json")) if plans_dir.exists() else []
