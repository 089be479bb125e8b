"""Inventory layouts: recognised on real-shaped inventories, read by Ansible's own parser.

Each fixture under fixtures/inventories/ is loaded with InventoryManager (as
upgrader/inventory.py::_parse does) into group -> hosts and host -> variables, then
given to upgrader.inventory_layouts.
"""
from __future__ import annotations

import contextlib
import functools
import io
import warnings
from pathlib import Path

import pytest
import yaml

from upgrader.errors import ConfigError
from upgrader.inventory_layouts import (
    ROLES, Layout, detect_layout, node_hosts, overlay_inventory, parse_mapping,
)

FIXTURES = Path(__file__).parent / "fixtures" / "inventories"
# Magic variables that legitimately change when a second source adds groups.
_GROUP_MAGIC = {"groups", "group_names", "ansible_inventory_sources"}


def _load(*sources: Path) -> tuple[dict[str, list[str]], dict[str, dict], str]:
    """(group -> hosts, host -> variables, what Ansible printed) for these sources, in order."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(printed), contextlib.redirect_stdout(printed):
        warnings.simplefilter("ignore")
        inv = InventoryManager(loader=loader, sources=[str(s) for s in sources])
    vm = VariableManager(loader=loader, inventory=inv)
    groups = {name: [h.name for h in group.get_hosts()] for name, group in inv.groups.items()}
    hostvars = {h.name: vm.get_vars(host=h, include_hostvars=False) for h in inv.get_hosts()}
    return groups, hostvars, printed.getvalue()


@functools.cache
def _fixture(name: str) -> tuple[dict[str, list[str]], dict[str, dict]]:
    groups, hostvars, _ = _load(FIXTURES / name)
    return groups, hostvars


def _layout(name: str, mapping: dict | None = None) -> Layout:
    return detect_layout(_fixture(name)[0], mapping)


def _roles(galera: str, rabbitmq: str, keystone: str, haproxy: str) -> dict[str, str]:
    return dict(zip(ROLES, (galera, rabbitmq, keystone, haproxy)))


KOLLA = _roles("mariadb", "rabbitmq", "keystone", "loadbalancer")
OWN_NAMES = _roles("galera", "rabbitmq", "keystone", "haproxy")

DETECTED = [
    # kolla-ansible multinode INI (master), LBs on dedicated network nodes
    ("kolla_multinode.ini", None, "kolla-ansible", KOLLA),
    # kolla-ansible as YAML with children, HAProxy on the controllers
    ("kolla_children.yml", None, "kolla-ansible", KOLLA),
    # kolla-ansible before `loadbalancer`: HAProxy's group is `haproxy`
    ("kolla_legacy.ini", None, "kolla-ansible", _roles("mariadb", "rabbitmq", "keystone", "haproxy")),
    # kolla-ansible with [haproxy] hosts under [loadbalancer:children]: same hosts, own name reused
    ("kolla_haproxy_hosts.ini", None, "kolla-ansible", _roles("mariadb", "rabbitmq", "keystone", "haproxy")),
    # kolla-ansible with RabbitMQ on its own hosts: recognised (node_hosts refuses it)
    ("kolla_dedicated_rabbitmq.ini", None, "kolla-ansible", KOLLA),
    # openstack-ansible dynamic-inventory shape, metal: component groups carry upgrader's names
    ("osa_metal.yml", None, "openstack-ansible", OWN_NAMES),
    # openstack-ansible dynamic-inventory shape, LXC containers: recognised (node_hosts refuses it)
    ("osa_containers.yml", None, "openstack-ansible", OWN_NAMES),
    # openstack-ansible static YAML with only the *_all meta groups
    ("osa_static.yml", None, "openstack-ansible",
     _roles("galera_all", "rabbitmq_all", "keystone_all", "haproxy_all")),
    # upgrader's own INI, as the lab writes it
    ("upgrader_lab.ini", None, "upgrader", OWN_NAMES),
    # hand-written names, every role mapped (--layout syntax)
    ("hand_written.ini", parse_mapping("galera=database,rabbitmq=messaging,keystone=identity,haproxy=frontends"),
     "mapping", _roles("database", "messaging", "identity", "frontends")),
    # hand-written names, mapped by the inventory variable upgrader_groups (a YAML mapping)
    ("hand_written.ini", parse_mapping({"galera": "controller", "rabbitmq": "controller",
                                        "keystone": "controller", "haproxy": "frontends"}, "upgrader_groups"),
     "mapping", _roles("controller", "controller", "controller", "frontends")),
    # kolla with a partial mapping: unnamed roles keep their own group names
    ("kolla_multinode.ini", {"galera": "mariadb", "haproxy": "loadbalancer"}, "mapping", KOLLA),
    # mapping onto a group with the same hosts as the role's own group: the own group is reused
    ("upgrader_lab.ini", {"galera": "controllers"}, "mapping", OWN_NAMES),
]


@pytest.mark.parametrize(("fixture", "mapping", "name", "groups"), DETECTED)
def test_detect_layout(fixture, mapping, name, groups):
    assert _layout(fixture, mapping) == Layout.of(name, groups)


def test_layout_is_frozen_hashable_and_describes_itself_in_one_line():
    layout = _layout("kolla_multinode.ini")
    assert layout.describe() == ("inventory layout: kolla-ansible "
                                 "(galera=mariadb, rabbitmq=rabbitmq, keystone=keystone, haproxy=loadbalancer)")
    assert {layout: 1}[Layout.of("kolla-ansible", KOLLA)] == 1
    with pytest.raises(AttributeError):
        layout.name = "upgrader"


REFUSED = [
    # unknown layout: says which groups were looked for
    ("hand_written.ini", None,
     "inventory layout not recognised: no groups galera, rabbitmq, keystone (upgrader); "
     "galera_all, rabbitmq_all, keystone_all (openstack-ansible); mariadb, rabbitmq, keystone (kolla-ansible); "
     "name yours: set upgrader_groups=galera=G,rabbitmq=G,keystone=G,haproxy=G in the inventory"),
    # empty galera group
    ("empty_galera.ini", None,
     "inventory layout: upgrader (galera=galera, rabbitmq=rabbitmq, keystone=keystone, haproxy=haproxy): "
     "group 'galera' (role galera) has no host"),
    # no HAProxy group (external load balancer)
    ("no_loadbalancer.ini", None,
     "inventory layout kolla-ansible: no HAProxy group (loadbalancer or haproxy); upgrader drains each node "
     "through HAProxy's admin socket on those hosts (an external load balancer is not supported); "
     "name it with upgrader_groups=haproxy=G in the inventory"),
    # mapping names a group the inventory lacks
    ("kolla_multinode.ini", {"galera": "galera"},
     "inventory layout mapping: no group 'galera' (role galera) in the inventory"),
    # mapping leaves a role to its own name, which the inventory lacks
    ("hand_written.ini", {"galera": "database"},
     "inventory layout mapping: role rabbitmq not mapped and no group 'rabbitmq' in the inventory"),
    # mapping would merge an existing role-named group with other hosts
    ("upgrader_lab.ini", {"haproxy": "controllers"},
     "inventory layout: mapping (galera=galera, rabbitmq=rabbitmq, keystone=keystone, haproxy=controllers): "
     "the inventory also has a group 'haproxy' with other hosts than 'controllers'; upgrader would merge them; "
     "choose with upgrader_groups=haproxy=G in the inventory"),
    # mapping with a role upgrader does not have
    ("kolla_multinode.ini", {"mysql": "mariadb"},
     "layout mapping: unknown role 'mysql' (roles: galera, rabbitmq, keystone, haproxy)"),
]


@pytest.mark.parametrize(("fixture", "mapping", "message"), REFUSED)
def test_detect_layout_refuses_in_one_line(fixture, mapping, message):
    with pytest.raises(ConfigError) as info:
        _layout(fixture, mapping)
    assert str(info.value) == message and "\n" not in message


MAPPINGS = [
    # the --layout syntax, all roles
    ("galera=mariadb,rabbitmq=rabbitmq,keystone=keystone,haproxy=loadbalancer", KOLLA),
    # spaces and a trailing comma are forgiven
    (" galera = mariadb , haproxy=loadbalancer,", {"galera": "mariadb", "haproxy": "loadbalancer"}),
    # upgrader_groups from group_vars/all, a YAML mapping
    ({"galera": "galera_all", "rabbitmq": "rabbitmq_all"}, {"galera": "galera_all", "rabbitmq": "rabbitmq_all"}),
]


@pytest.mark.parametrize(("spec", "expected"), MAPPINGS)
def test_parse_mapping(spec, expected):
    assert parse_mapping(spec) == expected


MAPPINGS_REFUSED = [
    # unknown role
    ("db=mariadb", "--layout", "--layout: unknown role 'db' (roles: galera, rabbitmq, keystone, haproxy)"),
    # no '='
    ("galera", "--layout", "--layout: expected role=group, got 'galera'"),
    # role named twice
    ("galera=a,galera=b", "--layout", "--layout: role galera given twice"),
    # empty group
    ("galera=", "--layout", "--layout: role galera names no group"),
    # nothing at all
    ("", "--layout", "--layout: names no role (roles: galera, rabbitmq, keystone, haproxy)"),
    # YAML `galera:` with no value
    ({"galera": None}, "upgrader_groups", "upgrader_groups: role galera names no group"),
    # a YAML list instead of a mapping
    (["galera=mariadb"], "upgrader_groups",
     "upgrader_groups: expected role=group pairs or a mapping of roles to groups, got list"),
]


@pytest.mark.parametrize(("spec", "source", "message"), MAPPINGS_REFUSED)
def test_parse_mapping_refuses_in_one_line(spec, source, message):
    with pytest.raises(ConfigError) as info:
        parse_mapping(spec, source)
    assert str(info.value) == message


CONTROL = ("control01", "control02", "control03")
INFRA = ("infra1", "infra2", "infra3")

NODES = [
    # kolla multinode: the control hosts
    ("kolla_multinode.ini", None, CONTROL),
    # kolla YAML
    ("kolla_children.yml", None, ("ctl-a", "ctl-b", "ctl-c")),
    # kolla legacy, hyperconverged
    ("kolla_legacy.ini", None, CONTROL),
    # kolla with its own [haproxy] hosts
    ("kolla_haproxy_hosts.ini", None, ("cc01", "cc02", "cc03")),
    # openstack-ansible metal
    ("osa_metal.yml", None, INFRA),
    # openstack-ansible static meta groups, dedicated LBs
    ("osa_static.yml", None, INFRA),
    # upgrader's own
    ("upgrader_lab.ini", None, ("node1", "node2", "node3")),
    # a mapped inventory
    ("hand_written.ini", {"galera": "database", "rabbitmq": "messaging", "keystone": "identity",
                          "haproxy": "frontends"}, ("ctrl1", "ctrl2", "ctrl3")),
]


@pytest.mark.parametrize(("fixture", "mapping", "nodes"), NODES)
def test_node_hosts(fixture, mapping, nodes):
    groups, hostvars = _fixture(fixture)
    assert node_hosts(detect_layout(groups, mapping), groups, hostvars) == nodes


SAME_HOST = ("upgrader needs galera, rabbitmq and keystone on one inventory host per controller "
             "(a metal deployment); ")
NODES_REFUSED = [
    # openstack-ansible LXC containers: names the controller and its containers
    ("osa_containers.yml",
     SAME_HOST + "controller infra1 has them as separate inventory hosts: "
     "infra1_galera_container-5c1e0f2a (galera), infra1_rabbit_mq_container-9b3d7a41 (rabbitmq), "
     "infra1_keystone_container-0e6f8c27 (keystone)"),
    # kolla with RabbitMQ on dedicated hosts
    ("kolla_dedicated_rabbitmq.ini",
     SAME_HOST + "galera host control01 is not in group 'rabbitmq' (role rabbitmq)"),
    # a keystone host with no database
    ("extra_keystone.ini",
     SAME_HOST + "keystone host api4 (group 'keystone') is not a galera host (group 'galera')"),
]


@pytest.mark.parametrize(("fixture", "message"), NODES_REFUSED)
def test_node_hosts_refuses_in_one_line(fixture, message):
    groups, hostvars = _fixture(fixture)
    with pytest.raises(ConfigError) as info:
        node_hosts(detect_layout(groups), groups, hostvars)
    assert str(info.value) == message


def _hosts(*names: str) -> dict:
    return {"hosts": {name: {} for name in names}}


OVERLAYS = [
    # upgrader's own: nothing to add
    ("upgrader_lab.ini", None, {}),
    # openstack-ansible dynamic shape already has the names
    ("osa_metal.yml", None, {}),
    # kolla: galera and haproxy added, rabbitmq and keystone already there
    ("kolla_multinode.ini", None, {"all": {"children": {
        "galera": _hosts(*CONTROL), "haproxy": _hosts("network01", "network02")}}}),
    # kolla legacy: only galera is missing
    ("kolla_legacy.ini", None, {"all": {"children": {"galera": _hosts(*CONTROL)}}}),
    # openstack-ansible static: all four added
    ("osa_static.yml", None, {"all": {"children": {
        "galera": _hosts(*INFRA), "rabbitmq": _hosts(*INFRA), "keystone": _hosts(*INFRA),
        "haproxy": _hosts("lb1", "lb2")}}}),
]


@pytest.mark.parametrize(("fixture", "mapping", "overlay"), OVERLAYS)
def test_overlay_inventory(fixture, mapping, overlay):
    groups, _ = _fixture(fixture)
    assert overlay_inventory(detect_layout(groups, mapping), groups) == overlay


MERGES = [
    # kolla INI + overlay
    ("kolla_multinode.ini", None),
    # kolla YAML + overlay
    ("kolla_children.yml", None),
    # kolla legacy + overlay (galera only): group variables must not change depth
    ("kolla_legacy.ini", None),
    # kolla with [haproxy] hosts + overlay
    ("kolla_haproxy_hosts.ini", None),
    # openstack-ansible static + overlay of all four roles
    ("osa_static.yml", None),
    # mapped hand-written inventory + overlay
    ("hand_written.ini", {"galera": "database", "rabbitmq": "messaging", "keystone": "identity",
                          "haproxy": "frontends"}),
]


@pytest.mark.parametrize(("fixture", "mapping"), MERGES)
def test_overlay_merges_as_second_source(tmp_path, fixture, mapping):
    groups, hostvars = _fixture(fixture)
    layout = detect_layout(groups, mapping)
    overlay = tmp_path / "overlay.yml"
    overlay.write_text(yaml.safe_dump(overlay_inventory(layout, groups), sort_keys=False))
    merged_groups, merged_vars, printed = _load(FIXTURES / fixture, overlay)
    assert "Failed to parse" not in printed  # Ansible drops a source it cannot parse, with a warning
    assert merged_groups["galera"] == list(node_hosts(layout, groups, hostvars))
    for role, group in layout.groups:
        assert merged_groups[role] == groups[group]
    for host, variables in hostvars.items():  # inventory_file/dir included: overlay comes second
        assert _without_group_magic(merged_vars[host]) == _without_group_magic(variables)


def _without_group_magic(variables: dict) -> dict:
    return {k: v for k, v in variables.items() if k not in _GROUP_MAGIC}


def test_parent_groups_would_change_group_variables_hence_the_overlay_lists_hosts(tmp_path):
    # kolla legacy: control and network are both depth 2, so a controller gets network's
    # api_interface. Parenting mariadb under galera pushes control to depth 3 and flips it.
    parents = tmp_path / "parents.yml"
    parents.write_text(yaml.safe_dump({"all": {"children": {"galera": {"children": {"mariadb": {}}}}}}))
    _, alone, _ = _load(FIXTURES / "kolla_legacy.ini")
    _, with_parents, _ = _load(FIXTURES / "kolla_legacy.ini", parents)
    assert (alone["control01"]["api_interface"], with_parents["control01"]["api_interface"]) == ("eth2", "eth1")
