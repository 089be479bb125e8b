"""The lab's generated secrets and keys, kept in 0600 files under the lab directory."""
from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path

import yaml

from upgrader.lab.config import LabConfig
from upgrader.lab.render import LabSecrets, fernet_key


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


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
    _write_private(cfg.secrets_file, fresh.to_yaml())
    return fresh


def keystone_keys(cfg: LabConfig) -> dict[str, list[str]]:
    """Fernet and credential key repositories, identical on every host."""
    path = cfg.root / "keystone-keys.json"
    if path.exists():
        return json.loads(path.read_text())
    keys = {repo: [fernet_key(), fernet_key()] for repo in ("fernet-keys", "credential-keys")}
    _write_private(path, json.dumps(keys))
    return keys
