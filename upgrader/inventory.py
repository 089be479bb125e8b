"""The cluster as an Ansible inventory describes it: nodes, SSH access, HAProxy, secrets path.

Ansible's own inventory parser reads the file, so whatever Ansible accepts (INI,
YAML, group_vars beside it) works here too, and the playbooks see the same thing.
"""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from upgrader import validate
from upgrader.errors import ConfigError
from upgrader.inventory_layouts import Layout, detect_layout, overlay_inventory, parse_mapping
from upgrader.inventory_layouts import node_hosts as layout_hosts
from upgrader.paths import absolute


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
    all_hosts: tuple[str, ...] = ()             # every host of the inventory (for the runtime overlay)
    layout: Layout | None = None                # which groups play galera, rabbitmq, keystone, haproxy
    group_overlay: dict = field(default_factory=dict, compare=False)   # upgrader's groups, when renamed
    arbitrator: str = ""                        # the galera_arbitrator host (garbd for the roll), if any
    # Nodes that run their own HAProxy (the controllers topology), read over SSH; empty:
    # HAProxy's admin socket is on this machine (a dedicated load balancer).
    balancers: tuple[str, ...] = ()
    # Nodes whose keepalived holds the VIP by VRRP, one at a time; empty: the VIP is static.
    vrrp_hosts: tuple[str, ...] = ()

    def node(self, name: str) -> NodeAccess:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def load_cluster(path: str | os.PathLike[str]) -> Cluster:
    """Read an inventory; one-line ConfigError when it cannot describe a cluster.

    Every path is absolute on the way out: relative paths inside the inventory
    (secrets file, admin socket, SSH key) are relative to the inventory's own
    directory, whatever the current directory is.
    """
    p = absolute(path, "inventory")
    try:
        if not p.exists():
            raise ConfigError(f"inventory {p}: no such file")
        if not p.is_file():
            raise ConfigError(f"inventory {p}: not a file")
        if p.stat().st_size == 0:
            raise ConfigError(f"inventory {p}: empty file")
    except OSError as e:
        raise ConfigError(f"inventory {validate.shown(str(p))}: {e.strerror or e}") from None
    hosts, gvars = _parse(p)
    layout = _layout(p, hosts)
    hostvars = {h: hv for members in hosts.values() for h, hv in members}
    try:
        node_names = layout_hosts(layout, {g: [h for h, _ in m] for g, m in hosts.items()}, hostvars)
    except ConfigError as e:
        raise ConfigError(f"inventory {p}: {e}") from None
    galera = [(h, hostvars[h]) for h in node_names]
    if not galera:
        raise ConfigError(f"inventory {p}: no host in group '{layout.group('galera')}'")
    if len(galera) < 3:
        raise ConfigError(f"inventory {p}: group 'galera' has {len(galera)} host(s); a rolling "
                          "upgrade keeps quorum only with at least 3")
    if len(galera) % 2 == 0:
        # NOTE: with one node out for its upgrade, an even cluster splits 50/50 on a
        # single network fault and neither half keeps a Primary component.
        raise ConfigError(f"inventory {p}: group 'galera' has {len(galera)} hosts; an even-sized "
                          "cluster can split with no majority: use 3 or 5 nodes (or add garbd)")
    nodes = []
    for name, hv in galera:
        validate.node_name(name)
        key = str(hv.get("ansible_ssh_private_key_file", ""))
        nodes.append(NodeAccess(
            name=name, address=str(hv.get("ansible_host", name)),
            ssh_user=str(hv.get("ansible_user", "root")),
            ssh_key=str(absolute(key, "ansible_ssh_private_key_file", p.parent)) if key else "",
            ssh_args=str(hv.get("ansible_ssh_common_args", "")),
            rabbit_node=str(hv.get("rabbitmq_node", f"rabbit@{name}")),
        ))
    arbitrator = _arbitrator(p, hosts, {name for name, _ in galera})
    first = dict(galera[0][1])
    need = ("haproxy_admin_socket", "upgrader_secrets_file")
    missing = [k for k in need if k not in first]
    if missing:
        raise ConfigError(f"inventory {p}: missing variable {missing[0]}")
    return Cluster(
        name=validate.cluster_name(str(first.get("upgrader_cluster", p.stem))), inventory=p,
        nodes=tuple(nodes),
        haproxy_socket=str(absolute(str(first["haproxy_admin_socket"]), "haproxy_admin_socket", p.parent)),
        db_backend=str(first.get("haproxy_db_backend", "mariadb")),
        api_backend=str(first.get("haproxy_api_backend", "keystone")),
        secrets_file=str(absolute(str(first["upgrader_secrets_file"]), "upgrader_secrets_file", p.parent)),
        vip=str(first.get("upgrader_vip", "")),
        db_user=str(first.get("upgrader_db_user", "upgrader")),
        targets=tuple((c, validate.release(str(first[f"{c}_target_release"]), c))
                      for c in ("keystone", "mariadb", "rabbitmq") if f"{c}_target_release" in first),
        all_hosts=tuple(sorted(hostvars)),
        layout=layout,
        group_overlay=overlay_inventory(layout, {g: [h for h, _ in m] for g, m in hosts.items()}),
        arbitrator=arbitrator,
        balancers=_members_that_are_nodes(hosts, layout.group("haproxy"), nodes),
        vrrp_hosts=_members_that_are_nodes(hosts, VRRP_GROUP, nodes),
    )


VRRP_GROUP = "keepalived"


def _members_that_are_nodes(hosts: dict[str, list[tuple[str, dict]]], group: str,
                            nodes: list[NodeAccess]) -> tuple[str, ...]:
    names = {n.name for n in nodes}
    return tuple(h for h, _ in hosts.get(group, []) if h in names)


ARBITRATOR_GROUP = "galera_arbitrator"


def _arbitrator(p: Path, hosts: dict[str, list[tuple[str, dict]]], galera: set[str]) -> str:
    """The host that runs garbd during a roll, or "" when the inventory names none.

    NOTE: garbd is the third vote while one node is out: with node2 away for its
    upgrade, node1 + garbd stay Primary if node3 fails, and node3 + garbd if node1
    fails. One arbitrator only: two would make the vote count even again.
    """
    names = [h for h, _ in hosts.get(ARBITRATOR_GROUP, [])]
    if len(names) > 1:
        raise ConfigError(f"inventory {p}: group '{ARBITRATOR_GROUP}' has {len(names)} hosts; "
                          "one arbitrator is a third vote, two make the count even again")
    if names and names[0] in galera:
        raise ConfigError(f"inventory {p}: the arbitrator {names[0]} is a Galera node; garbd must "
                          "run on a host that is not rolled (a load balancer or a deployment host)")
    if names:
        validate.node_name(names[0])
    return names[0] if names else ""


def _layout(p: Path, hosts: dict[str, list[tuple[str, dict]]]) -> Layout:
    """The operator's layout: the ``upgrader_groups`` mapping if the inventory sets one, else detected."""
    groups = {g: [h for h, _ in m] for g, m in hosts.items()}
    spec = next((hv["upgrader_groups"] for members in hosts.values() for _, hv in members
                 if "upgrader_groups" in hv), None)
    try:
        mapping = parse_mapping(spec, "upgrader_groups") if spec is not None else None
        return detect_layout(groups, mapping)
    except ConfigError as e:
        raise ConfigError(f"inventory {p}: {e}") from None


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
    except PermissionError:
        raise ConfigError(f"secrets file {path}: not readable by this user") from None
    except IsADirectoryError:
        raise ConfigError(f"secrets file {path}: is a directory") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"secrets file {path}: unreadable: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"secrets file {path}: expected a mapping of names to values")
    return {str(k): str(v) for k, v in data.items()}


def runtime_overlay(cluster: Cluster) -> dict:
    """A second inventory source for ansible-playbook, loaded after the operator's.

    It gives Ansible the absolute paths upgrader resolved (relative to the
    inventory's directory), as host variables so that they win over any group
    variable: Ansible itself would read a relative path from its own working
    directory, which is a run directory, not the operator's.
    """
    shared = {"upgrader_secrets_file": cluster.secrets_file,
              "haproxy_admin_socket": cluster.haproxy_socket}
    hosts: dict[str, dict] = {h: dict(shared) for h in cluster.all_hosts}
    for n in cluster.nodes:
        if n.ssh_key:
            hosts.setdefault(n.name, dict(shared))["ansible_ssh_private_key_file"] = n.ssh_key
    overlay: dict = {"all": {"hosts": hosts}}
    children = (cluster.group_overlay.get("all") or {}).get("children")
    if children:   # the playbooks' group names, for a kolla-ansible or openstack-ansible layout
        overlay["all"]["children"] = children
    return overlay
