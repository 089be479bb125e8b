"""Where the lab lives and how it is addressed. Pure: no I/O.

The lab is three Debian-like hosts on this machine. Each host is a network
namespace on a bridge the lab creates, plus mount/PID/UTS namespaces around one
sshd, so Ansible reaches it over real SSH and Debian's init scripts manage its
services. The machine is the bridge's gateway. The VIP is a second address on the
bridge, held by one of two load-balancer topologies (`lab up --lb`):
- dedicated: one HAProxy on the machine binds the VIP (a site with its own LB tier);
- controllers: HAProxy and keepalived in every host, the VIP floating between them by
  VRRP (kolla-ansible's and openstack-ansible's reference shape).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# NOTE: never under /usr, /etc or /var: the hosts overlay those, and a bind source
# seen through an overlay would be written into the overlay, not the lab dir.
DEFAULT_LAB_DIR = "/srv/upgrader-lab"
DEFAULT_CACHE_DIR = "/var/cache/upgrader"
INSTALLED_KEYSTONE = "28.1.0"
TARGET_KEYSTONE = "29.1.0"
LB_TOPOLOGIES = ("dedicated", "controllers")


@dataclass(frozen=True)
class LabNode:
    index: int
    name: str           # hostname inside the host and inventory name: node1
    address: str        # the host's address on the lab bridge
    netns: str          # network namespace name
    veth_host: str      # machine side of the host's veth pair

    @property
    def rabbit_node(self) -> str:
        return f"rabbit@{self.name}"


@dataclass(frozen=True)
class LabConfig:
    root: Path
    cache: Path
    bridge: str = "upgbr0"
    subnet_prefix: str = "10.123.0"     # /24 that exists only on the lab bridge
    cluster_name: str = "lab"
    gcache_size: str = "128M"           # large enough that a rolling restart rejoins by IST
    keystone_installed: str = INSTALLED_KEYSTONE
    keystone_target: str = TARGET_KEYSTONE
    node_count: int = 3
    vrrp_router_id: int = 51            # one VRRP virtual router, the same id on every host
    # HAProxy inside a host (controllers topology): Debian's own paths.
    host_haproxy_socket: str = "/run/haproxy/admin.sock"
    host_haproxy_state: str = "/var/lib/haproxy/server-state"
    nodes: tuple[LabNode, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.nodes:
            nodes = tuple(
                LabNode(
                    index=i,
                    name=f"node{i}",
                    address=f"{self.subnet_prefix}.1{i}",
                    netns=f"upg-node{i}",
                    veth_host=f"upgv{i}",
                )
                for i in range(1, self.node_count + 1)
            )
            object.__setattr__(self, "nodes", nodes)

    @classmethod
    def from_env(cls) -> "LabConfig":
        return cls(
            root=Path(os.environ.get("UPGRADER_LAB", DEFAULT_LAB_DIR)),
            cache=Path(os.environ.get("UPGRADER_CACHE", DEFAULT_CACHE_DIR)),
            gcache_size=os.environ.get("UPGRADER_LAB_GCACHE", "128M"),
        )

    # ------------------------------------------------------------ addresses
    @property
    def gateway(self) -> str:
        """The machine's address on the bridge: the hosts' route out, garbd's address."""
        return f"{self.subnet_prefix}.1"

    @property
    def vip(self) -> str:
        """HAProxy's listeners, what clients and services use; held by the machine
        (dedicated) or by one host's keepalived (controllers)."""
        return f"{self.subnet_prefix}.100"

    def node(self, name: str) -> LabNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    # ------------------------------------------------------------ paths on the machine
    def host_dir(self, node: LabNode) -> Path:
        return self.root / "hosts" / node.name

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    def host_pidfile(self, node: LabNode) -> Path:
        """PID of the `unshare` process; the host's init (tini) is its only child."""
        return self.run_dir / f"{node.name}.pid"

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def ssh_key(self) -> Path:
        return self.ssh_dir / "id_lab"

    @property
    def ssh_config(self) -> Path:
        return self.ssh_dir / "ssh_config"

    @property
    def hosts_file(self) -> Path:
        return self.root / "etc-hosts"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.yml"

    @property
    def inventory_file(self) -> Path:
        return self.root / "inventory.ini"

    @property
    def haproxy_dir(self) -> Path:
        return self.root / "haproxy"

    @property
    def haproxy_socket(self) -> Path:
        return self.haproxy_dir / "admin.sock"

    @property
    def haproxy_pidfile(self) -> Path:
        return self.haproxy_dir / "haproxy.pid"

    @property
    def lb_topology_file(self) -> Path:
        """Which load-balancer topology the lab runs (LB_TOPOLOGIES); absent: dedicated."""
        return self.root / "lb-topology"

    @property
    def garbd_dir(self) -> Path:
        """garbd's pid file and log while a roll runs (playbooks/galera_arbitrator_*.yml)."""
        return self.root / "garbd"

    @property
    def garbd_pidfile(self) -> Path:
        return self.garbd_dir / "garbd.pid"

    @property
    def venv_cache(self) -> Path:
        return self.cache / "openstack" / "venvs"

    # ------------------------------------------------------------ paths inside a host
    @staticmethod
    def keystone_venv(release: str) -> str:
        return f"/opt/openstack/venvs/keystone-{release}"


# Mount points the hosts bind their private copies onto. Bind targets must exist
# on the machine; the lab creates the missing ones and removes only those.
BIND_TARGETS = ("/var/lib/mysql", "/var/log/mysql", "/opt/openstack")
OVERLAID = ("usr", "etc", "var")
