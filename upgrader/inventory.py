"""The cluster as an Ansible inventory describes it: nodes, SSH access, HAProxy, secrets path.

Ansible's own inventory parser reads the file, so whatever Ansible accepts (INI,
YAML, group_vars beside it) works here too, and the playbooks see the same thing.
"""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from upgrader.errors import ConfigError


@dataclass(frozen=True)
class NodeAccess:
    name: str
    address: str
    ssh_user: str = "root"
    ssh_key: str = ""
    ssh_args: str = ""
    rabbit_node: str = ""


@dataclass(frozen=True)
class Cluster:
    name: str
    inventory: Path
    nodes: tuple[NodeAccess, ...]
    haproxy_socket: str
    db_backend: str
    api_backend: str
    secrets_file: str
    vip: str
    db_user: str = "upgrader"
    targets: tuple[tuple[str, str], ...] = ()   # component -> release the inventory declares as target

    def node(self, name: str) -> NodeAccess:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def load_cluster(path: str | os.PathLike[str]) -> Cluster:
    """Read an inventory; one-line ConfigError when it cannot describe a cluster."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"inventory {p}: no such file")
    hosts, gvars = _parse(p)
    galera = hosts.get("galera") or []
    if not galera:
        raise ConfigError(f"inventory {p}: no host in group 'galera'")
    nodes = []
    for name, hv in galera:
        nodes.append(NodeAccess(
            name=name, address=str(hv.get("ansible_host", name)),
            ssh_user=str(hv.get("ansible_user", "root")),
            ssh_key=str(hv.get("ansible_ssh_private_key_file", "")),
            ssh_args=str(hv.get("ansible_ssh_common_args", "")),
            rabbit_node=str(hv.get("rabbitmq_node", f"rabbit@{name}")),
        ))
    first = dict(galera[0][1])
    need = ("haproxy_admin_socket", "upgrader_secrets_file")
    missing = [k for k in need if k not in first]
    if missing:
        raise ConfigError(f"inventory {p}: missing variable {missing[0]}")
    return Cluster(
        name=str(first.get("upgrader_cluster", p.stem)), inventory=p.resolve(), nodes=tuple(nodes),
        haproxy_socket=str(first["haproxy_admin_socket"]),
        db_backend=str(first.get("haproxy_db_backend", "mariadb")),
        api_backend=str(first.get("haproxy_api_backend", "keystone")),
        secrets_file=str(first["upgrader_secrets_file"]), vip=str(first.get("upgrader_vip", "")),
        db_user=str(first.get("upgrader_db_user", "upgrader")),
        targets=tuple((c, str(first[f"{c}_target_release"])) for c in ("keystone", "mariadb", "rabbitmq")
                      if f"{c}_target_release" in first),
    )


def _parse(p: Path) -> tuple[dict[str, list[tuple[str, dict]]], dict]:
    # Imported here: ansible's import costs ~0.3 s and only inventory readers need it.
    import warnings

    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    noise = io.StringIO()  # ansible prints multi-line parser warnings; we report one line
    with warnings.catch_warnings(), contextlib.redirect_stderr(noise), contextlib.redirect_stdout(noise):
        warnings.simplefilter("ignore")
        try:
            inv = InventoryManager(loader=loader, sources=[str(p)])
        except Exception as e:  # ansible raises its own error family; all mean "unreadable"
            raise ConfigError(f"inventory {p}: {str(e).splitlines()[0]}") from None
    if not inv.hosts:
        raise ConfigError(f"inventory {p}: not a readable Ansible inventory (no hosts)")
    vm = VariableManager(loader=loader, inventory=inv)
    out: dict[str, list[tuple[str, dict]]] = {}
    for group_name, group in inv.groups.items():
        out[group_name] = [(h.name, vm.get_vars(host=h, include_hostvars=False))
                           for h in group.get_hosts()]
    return out, {}


def load_secrets(cluster: Cluster) -> dict[str, str]:
    """The secrets file named by the inventory (YAML, expected mode 0600)."""
    path = Path(cluster.secrets_file)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"secrets file {path}: no such file") from None
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"secrets file {path}: unreadable: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"secrets file {path}: expected a mapping of names to values")
    return {str(k): str(v) for k, v in data.items()}
