"""The lab's generated secrets and keys, kept in 0600 files under the lab directory."""
from __future__ import annotations

import json
from dataclasses import fields

import yaml

from upgrader.fileio import write_atomic
from upgrader.lab.config import LabConfig
from upgrader.lab.render import LabSecrets, fernet_key


def load_secrets(cfg: LabConfig) -> LabSecrets | None:
    if not cfg.secrets_file.exists():
        return None
    data = yaml.safe_load(cfg.secrets_file.read_text()) or {}
    names = {f.name for f in fields(LabSecrets)}
    return LabSecrets(**{k: str(v) for k, v in data.items() if k in names})


def secrets(cfg: LabConfig) -> LabSecrets:
    """The lab's secrets, generated on first use."""
    existing = load_secrets(cfg)
    if existing is not None:
        return existing
    fresh = LabSecrets.generate()
    write_atomic(cfg.secrets_file, fresh.to_yaml(), 0o600)
    return fresh


def keystone_keys(cfg: LabConfig) -> dict[str, list[str]]:
    """Fernet and credential key repositories, identical on every host."""
    path = cfg.root / "keystone-keys.json"
    if path.exists():
        return json.loads(path.read_text())
    keys = {repo: [fernet_key(), fernet_key()] for repo in ("fernet-keys", "credential-keys")}
    write_atomic(path, json.dumps(keys), 0o600)
    return keys
