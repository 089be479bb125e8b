"""Which of the operator's inventory groups play upgrader's four roles.

The playbooks target fixed group names: ``galera``, ``rabbitmq``, ``keystone``,
``haproxy`` (``playbooks/README.md``). Operators already have inventories written for
their deployment tool, with other names for the same hosts. This module recognises
those layouts and says how to give the playbooks their names without touching the
operator's file. It is pure: it takes plain mappings, as Ansible's InventoryManager
gives them (group name -> host names, hosts already expanded through children; host
name -> variables), and imports nothing from Ansible.

Layouts, in the order they are tried (the first whose galera, rabbitmq and keystone
groups all exist wins):

0. an explicit mapping (the inventory variable
   ``upgrader_groups``, parsed by `parse_mapping`) always wins over detection. A role
   it does not name uses the group of the role's own name.
1. ``upgrader``: ``galera``, ``rabbitmq``, ``keystone``, ``haproxy`` (what the lab
   writes). openstack-ansible's dynamic inventory has these very groups too (its
   component groups, children of the ``*_all`` meta groups of env.d), so it is found
   here and needs no overlay; it is then named ``openstack-ansible`` when
   ``galera_all`` is also there.
2. ``openstack-ansible``: ``galera_all``, ``rabbitmq_all``, ``keystone_all``,
   ``haproxy_all`` (a static inventory that keeps only the meta groups).
3. ``kolla-ansible``: ``mariadb``, ``rabbitmq``, ``keystone``, and ``loadbalancer``
   (current multinode) or else ``haproxy`` (older multinode files) for HAProxy.

HAProxy is required, not optional: drain_api, drain_db, undrain and stop_services run
on ``hosts: haproxy`` and drain each node through HAProxy's admin socket; without
those hosts there is no zero-downtime roll (the runner would fail the step on
"no host matched"). Dedicated load balancer hosts are fine (kolla's ``network``
nodes, OSA's ``haproxy_hosts``): the haproxy hosts need not be nodes. An external
load balancer that no inventory group names is refused at load time.

A node is a host of the galera group. rabbitmq and keystone must be on that same
inventory host (kolla; openstack-ansible on metal), because each node step stops,
upgrades and starts all three services of one ``upgrader_node``. openstack-ansible's
LXC containers are separate inventory hosts linked by ``physical_host``: refused
(`node_hosts`).

Overlay (checked with ansible-core 2.19 ``ansible-inventory --graph`` and
InventoryManager, two sources ``-i operator.ini -i overlay.yml``): a YAML source that
only names existing groups or hosts merges into the operator's inventory, whatever
format the first source is in. Found on the way, and why the overlay is what it is:

- canonical groups as *parents* of the operator's groups (``galera: {children:
  {mariadb: {}}}``) merge, but deepen the operator's groups (mariadb, then control,
  one level further from ``all``). Ansible orders group variables by depth, so a host
  in two groups can change value: in a hyperconverged kolla inventory (older multinode
  shape) with ``api_interface`` set in ``[control:vars]`` and ``[network:vars]``, a
  controller gets the network value alone, the control value with a galera->mariadb
  parent (tests/unit/fixtures/inventories/kolla_legacy.ini). The overlay
  therefore lists the *hosts* of each role (``galera: {hosts: {control01: {}, ...}}``):
  a new depth-1 group with no variables, every operator variable unchanged.
- a group made its own child (``rabbitmq: {children: {rabbitmq: {}}}``) or a loop
  (``galera: {children: {galera_all: {}}}`` where OSA has galera_all -> galera) makes
  Ansible drop the whole overlay source with a warning and go on: roles whose group
  already has the role's name get no overlay entry.
- adding hosts to a group that already exists adds to it: when the inventory has a
  group with a role's name but other hosts than the layout's group for that role,
  `detect_layout` refuses rather than merge the two.
- ``inventory_file``/``inventory_dir`` are set from the first source that names a host:
  pass the overlay *after* the operator's inventory.
- an empty overlay (``{}``) parses silently; there is nothing to pass then.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from upgrader.errors import ConfigError

ROLES = ("galera", "rabbitmq", "keystone", "haproxy")
MAPPING_VARIABLE = "upgrader_groups"   # inventory variable (group_vars/all) holding a mapping

# The roles every node carries on one inventory host; a layout is also recognised by them.
# haproxy is then required on its own, with its own refusal: a missing load balancer
# group is a topology upgrader cannot roll, not an unknown layout.
_NODE_ROLES = ("galera", "rabbitmq", "keystone")
_SAME_HOST_RULE = ("upgrader needs galera, rabbitmq and keystone on one inventory host per controller "
                   "(a metal deployment)")
_OSA_MARKER = "galera_all"


@dataclass(frozen=True)
class Layout:
    """A layout's name and, for each role in ROLES order, the inventory group that plays it."""

    name: str                                  # "upgrader", "openstack-ansible", "kolla-ansible", "mapping"
    groups: tuple[tuple[str, str], ...]        # (role, group) pairs, ROLES order: hashable

    @classmethod
    def of(cls, name: str, groups: Mapping[str, str]) -> Layout:
        # str(): Ansible hands out tagged str subclasses, which yaml.safe_dump cannot write.
        return cls(name, tuple((role, str(groups[role])) for role in ROLES))

    def group(self, role: str) -> str:
        return dict(self.groups)[role]

    def describe(self) -> str:
        pairs = ", ".join(f"{role}={group}" for role, group in self.groups)
        return f"inventory layout: {self.name} ({pairs})"


# Each known layout: role -> the group names that play it, the first existing one taken.
_KNOWN_LAYOUTS: tuple[tuple[str, Mapping[str, tuple[str, ...]]], ...] = (
    ("upgrader", {"galera": ("galera",), "rabbitmq": ("rabbitmq",), "keystone": ("keystone",),
                  "haproxy": ("haproxy",)}),
    ("openstack-ansible", {"galera": ("galera_all",), "rabbitmq": ("rabbitmq_all",),
                           "keystone": ("keystone_all",), "haproxy": ("haproxy_all",)}),
    ("kolla-ansible", {"galera": ("mariadb",), "rabbitmq": ("rabbitmq",), "keystone": ("keystone",),
                       "haproxy": ("loadbalancer", "haproxy")}),
)


def parse_mapping(spec: str | Mapping[str, str], source: str = "upgrader_groups") -> dict[str, str]:
    """``galera=mariadb,haproxy=loadbalancer`` (CLI) or a role -> group mapping (inventory).

    ``source`` names where it came from in the one-line error (``--layout``,
    ``upgrader_groups``).
    """
    if isinstance(spec, str):
        pairs = [_split_pair(item, source) for item in spec.split(",") if item.strip()]
    elif isinstance(spec, Mapping):
        pairs = list(spec.items())
    else:
        raise ConfigError(f"{source}: expected role=group pairs or a mapping of roles to groups, "
                          f"got {type(spec).__name__}")
    mapping: dict[str, str] = {}
    for role, group in pairs:
        role = _known_role(str(role).strip(), source)
        if not isinstance(group, str) or not group.strip():
            raise ConfigError(f"{source}: role {role} names no group")
        if role in mapping:
            raise ConfigError(f"{source}: role {role} given twice")
        mapping[role] = group.strip()
    if not mapping:
        raise ConfigError(f"{source}: names no role (roles: {', '.join(ROLES)})")
    return mapping


def detect_layout(groups: Mapping[str, Sequence[str]], mapping: Mapping[str, str] | None = None) -> Layout:
    """The layout of an inventory (group -> hosts); one-line ConfigError when none fits.

    ``mapping`` (role -> group, see `parse_mapping`) wins over detection.
    """
    layout = _mapped_layout(mapping, groups) if mapping is not None else _known_layout(groups)
    _require_hosts(layout, groups)
    return _reuse_role_named_groups(layout, groups)


def node_hosts(layout: Layout, groups: Mapping[str, Sequence[str]],
               hostvars: Mapping[str, Mapping] | None = None) -> tuple[str, ...]:
    """The nodes (galera hosts, inventory order), each also a rabbitmq and keystone host.

    ``hostvars`` (host -> variables) is only read to explain a refusal: openstack-ansible
    containers name their controller in ``physical_host``.
    """
    nodes = tuple(str(host) for host in groups[layout.group("galera")])
    for role in _NODE_ROLES[1:]:
        members = groups[layout.group(role)]
        for node in nodes:
            if node not in members:
                raise ConfigError(_not_colocated(node, role, layout, groups, hostvars or {}))
        for host in members:
            if host not in nodes:
                raise ConfigError(f"{_SAME_HOST_RULE}; {role} host {host} (group '{layout.group(role)}') "
                                  f"is not a galera host (group '{layout.group('galera')}')")
    return nodes


def overlay_inventory(layout: Layout, groups: Mapping[str, Sequence[str]]) -> dict:
    """A YAML inventory source giving the playbooks their group names; ``{}`` when none is missing.

    Lists the hosts of each role rather than parenting the operator's groups, so the
    operator's group depths (and so variable precedence) stay as they are; pass it
    after the operator's inventory (see the module docstring).
    """
    children = {role: {"hosts": {str(host): {} for host in groups[group]}}
                for role, group in layout.groups if group != role}
    return {"all": {"children": children}} if children else {}


def _split_pair(item: str, source: str) -> tuple[str, str]:
    role, sep, group = item.partition("=")
    if not sep:
        raise ConfigError(f"{source}: expected role=group, got '{item.strip()}'")
    return role, group


def _known_role(role: str, source: str) -> str:
    if role not in ROLES:
        raise ConfigError(f"{source}: unknown role '{role}' (roles: {', '.join(ROLES)})")
    return role


def _mapped_layout(mapping: Mapping[str, str], groups: Mapping[str, Sequence[str]]) -> Layout:
    for role in mapping:
        _known_role(role, "layout mapping")
    # A role left out keeps its own name: kolla needs only galera=mariadb,haproxy=loadbalancer.
    chosen = {role: mapping.get(role, role) for role in ROLES}
    for role, group in chosen.items():
        if group in groups:
            continue
        if role in mapping:
            raise ConfigError(f"inventory layout mapping: no group '{group}' (role {role}) in the inventory")
        raise ConfigError(f"inventory layout mapping: role {role} not mapped and no group '{role}' "
                          f"in the inventory")
    return Layout.of("mapping", chosen)


def _known_layout(groups: Mapping[str, Sequence[str]]) -> Layout:
    for name, candidates in _KNOWN_LAYOUTS:
        chosen = {role: _first_existing(names, groups) for role, names in candidates.items()}
        if all(chosen[role] for role in _NODE_ROLES):
            if not chosen["haproxy"]:
                raise ConfigError(_no_haproxy_group(name, candidates["haproxy"]))
            return Layout.of(_name_seen(name, groups), chosen)
    raise ConfigError(f"inventory layout not recognised: no groups {_looked_for()}; name yours: "
                      f"set {MAPPING_VARIABLE}=galera=G,rabbitmq=G,keystone=G,haproxy=G in the inventory")


def _first_existing(names: Sequence[str], groups: Mapping[str, Sequence[str]]) -> str:
    return next((name for name in names if name in groups), "")


def _name_seen(name: str, groups: Mapping[str, Sequence[str]]) -> str:
    # openstack-ansible's dynamic inventory carries upgrader's names as its component groups.
    return "openstack-ansible" if name == "upgrader" and _OSA_MARKER in groups else name


def _looked_for() -> str:
    return "; ".join(
        f"{', '.join(candidates[role][0] for role in _NODE_ROLES)} ({name})"
        for name, candidates in _KNOWN_LAYOUTS)


def _no_haproxy_group(name: str, looked_for: Sequence[str]) -> str:
    return (f"inventory layout {name}: no HAProxy group ({' or '.join(looked_for)}); upgrader drains "
            f"each node through HAProxy's admin socket on those hosts (an external load balancer "
            f"is not supported); name it with {MAPPING_VARIABLE}=haproxy=G in the inventory")


def _require_hosts(layout: Layout, groups: Mapping[str, Sequence[str]]) -> None:
    for role, group in layout.groups:
        if not groups[group]:
            raise ConfigError(f"{layout.describe()}: group '{group}' (role {role}) has no host")


def _reuse_role_named_groups(layout: Layout, groups: Mapping[str, Sequence[str]]) -> Layout:
    """Use the role's own group where the inventory already has it with the same hosts.

    The overlay then needs no entry (none that would extend or loop on the operator's
    group); a same-named group with other hosts would be merged with the layout's group.
    """
    chosen = dict(layout.groups)
    for role, group in layout.groups:
        if group == role or role not in groups:
            continue
        if set(groups[role]) != set(groups[group]):
            raise ConfigError(f"{layout.describe()}: the inventory also has a group '{role}' with other "
                              f"hosts than '{group}'; upgrader would merge them; choose with "
                              f"{MAPPING_VARIABLE}={role}=G in the inventory")
        chosen[role] = role
    return Layout.of(layout.name, chosen)


def _not_colocated(node: str, role: str, layout: Layout, groups: Mapping[str, Sequence[str]],
                   hostvars: Mapping[str, Mapping]) -> str:
    controller = hostvars.get(node, {}).get("physical_host")
    if controller and controller != node:
        on_controller = [f"{host} ({each})" for each in _NODE_ROLES
                         for host in groups[layout.group(each)]
                         if hostvars.get(host, {}).get("physical_host") == controller]
        return (f"{_SAME_HOST_RULE}; controller {controller} has them as separate inventory hosts: "
                f"{', '.join(on_controller)}")
    return f"{_SAME_HOST_RULE}; galera host {node} is not in group '{layout.group(role)}' (role {role})"
