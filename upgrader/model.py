"""Frozen data shapes shared by facts, planner and orchestrator.

Facts are what probes observed; a Plan is what the planner decided from them.
Both are plain dataclasses so they serialise with ``dataclasses.asdict`` and are
rebuilt tolerantly (unknown keys ignored) by ``from_dict`` helpers.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from ``data``, ignoring keys it does not know.

    Tolerant loading lets an older upgrader read a newer facts or plan file.
    Nested dataclasses are rebuilt from the field's declared type name.
    """
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        f = known.get(key)
        if f is None:
            continue
        kwargs[key] = _coerce(f.type, value)
    return cls(**kwargs)


def _coerce(type_name: Any, value: Any) -> Any:
    name = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "")
    for nested in _NESTED:
        if value is None:
            return None
        if name in (nested.__name__, f"{nested.__name__} | None"):
            return from_dict(nested, value)
        if name in (f"tuple[{nested.__name__}, ...]", f"list[{nested.__name__}]"):
            return tuple(from_dict(nested, v) for v in value)
    if isinstance(value, list) and name.startswith("tuple"):
        return tuple(value)
    return value


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class GaleraFacts:
    """One MariaDB Galera node as seen from ``SHOW GLOBAL STATUS``/variables and grastate.dat."""

    reachable: bool
    error: str = ""                      # why it was not reachable (one line, no secret)
    local_state: int = 0                 # wsrep_local_state (4 = Synced)
    local_state_comment: str = ""        # wsrep_local_state_comment
    cluster_size: int = 0
    cluster_status: str = ""             # Primary / non-Primary / Disconnected
    cluster_state_uuid: str = ""
    last_committed: int = -1             # wsrep_last_committed (the node's seqno)
    local_cached_downto: int = -1        # lowest seqno still in this node's gcache
    gcache_size_bytes: int = 0           # from wsrep_provider_options gcache.size
    desync: bool = False                 # wsrep_desync variable
    ready: bool = False                  # wsrep_ready
    connected: bool = False              # wsrep_connected
    incoming_addresses: tuple[str, ...] = ()
    received_bytes: int = 0              # wsrep_received_bytes (cumulative)
    replicated_bytes: int = 0            # wsrep_replicated_bytes (cumulative)
    version: str = ""                    # e.g. "10.11.19-MariaDB-0+deb12u1"
    grastate_seqno: int | None = None    # None when grastate.dat could not be read
    grastate_safe_to_bootstrap: bool | None = None


@dataclass(frozen=True)
class WriteRate:
    """Cluster write rate measured over a sampling window."""

    window_s: float = 0.0
    seqno_per_s: float = 0.0             # write-sets committed per second
    bytes_per_s: float = 0.0             # replicated + received bytes per second (one node's view)
    bytes_per_writeset: float = 0.0      # average write-set size in the window (0 when no writes)


@dataclass(frozen=True)
class RabbitFacts:
    reachable: bool
    error: str = ""
    node_name: str = ""                  # rabbit@node1
    running: bool = False
    running_nodes: tuple[str, ...] = ()  # as this node sees the cluster
    disk_nodes: tuple[str, ...] = ()
    alarms: tuple[str, ...] = ()
    partitions: tuple[str, ...] = ()
    under_maintenance: bool = False
    quorum_critical: bool = False        # stopping it would lose a quorum queue's majority
    version: str = ""


@dataclass(frozen=True)
class HaproxyServer:
    """One server line of one HAProxy backend (``show stat``)."""

    backend: str                         # e.g. "mariadb", "keystone"
    server: str                          # e.g. "node1"
    status: str                          # UP / DOWN / MAINT / DRAIN / NOLB ...
    backup: bool = False
    active: bool = False                 # currently receiving new connections for a 1-active backend
    sessions: int = 0                    # scur: current sessions
    weight: int = 0


@dataclass(frozen=True)
class PackageFacts:
    """One installed Debian package of a source upgrader watches (facts/packages.py)."""

    name: str                            # binary package: mariadb-server, libssl3
    version: str                         # installed Debian version: 1:10.11.18-0+deb12u1
    source: str = ""                     # source package: mariadb, openssl, galera-4
    security: str = ""                   # newest version a *-security archive offers, if newer
    candidate: str = ""                  # apt's candidate version ("" when apt knows none)
    available: tuple[str, ...] = ()      # every version apt knows for it, newest first


@dataclass(frozen=True)
class NodeFacts:
    name: str                            # inventory hostname, e.g. node1
    address: str                         # ansible_host
    galera: GaleraFacts | None = None
    rabbitmq: RabbitFacts | None = None
    versions: dict[str, str] = field(default_factory=dict)  # component -> installed version
    packages: tuple[PackageFacts, ...] = ()
    # processes still mapping a deleted (replaced) shared library, "comm[pid] /path" each:
    # what needrestart/checkrestart report after an OpenSSL update
    stale_libraries: tuple[str, ...] = ()


@dataclass(frozen=True)
class BalancerFacts:
    """What one of several HAProxies (one per node, the controllers topology) reports."""

    host: str                            # the node this HAProxy runs on
    servers: tuple[HaproxyServer, ...] = ()
    error: str = ""                      # why its admin socket could not be read


@dataclass(frozen=True)
class VipFacts:
    """Who holds the VIP, when keepalived moves it between the nodes by VRRP."""

    address: str = ""
    managed: bool = False                # keepalived on the nodes; False: a static address
    holders: tuple[str, ...] = ()        # nodes whose interface carries the address
    vrrp_states: tuple[tuple[str, str], ...] = ()   # (node, MASTER | BACKUP | FAULT | STOP | "")


@dataclass(frozen=True)
class ClusterFacts:
    cluster: str                         # a stable name of the cluster (from the inventory)
    gathered_at: str                     # ISO-8601 UTC
    nodes: tuple[NodeFacts, ...]
    haproxy: tuple[HaproxyServer, ...] = ()
    write_rate: WriteRate = field(default_factory=WriteRate)
    inventory_hosts: tuple[str, ...] = ()  # hosts the inventory names, for the match check
    schema_version: int = 1
    arbitrator: str = ""                 # the inventory's galera_arbitrator host (garbd), if any
    # Every HAProxy when each node runs one (then `haproxy` is the VIP holder's view);
    # empty with one dedicated HAProxy.
    balancers: tuple[BalancerFacts, ...] = ()
    vip: VipFacts = field(default_factory=VipFacts)

    def node(self, name: str) -> NodeFacts:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ClusterFacts":
        return from_dict(cls, data)


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PlanStep:
    name: str                            # e.g. "drain_haproxy"; also the playbook stem
    estimate_s: float
    description: str = ""


@dataclass(frozen=True)
class PackageChange:
    """One package on one node: from the installed version to the frozen target."""

    name: str
    from_version: str
    to_version: str


@dataclass(frozen=True)
class NodePlan:
    name: str
    position: int                        # 1-based order in the roll
    reason: str                          # why this node sits at this position
    steps: tuple[PlanStep, ...]
    ist_feasible: bool
    predicted_gap_writesets: int
    donor: str                           # recommended IST donor ("" when none can serve)
    donor_window_writesets: int          # how many write-sets the donor's gcache still holds
    estimate_s: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)  # installed at plan time
    package_changes: tuple[PackageChange, ...] = ()   # what the upgrade step installs here
    restarts: tuple[str, ...] = ()       # services the package changes need restarted
    vip: str = ""                        # where keepalived's VIP is during this node's window


@dataclass(frozen=True)
class Plan:
    plan_id: str
    cluster: str
    created_at: str
    kind: str                            # "upgrade" (version change) or "patch" (same versions)
    targets: dict[str, str]              # component -> target version
    order: tuple[str, ...]
    nodes: tuple[NodePlan, ...]
    preparation: tuple[PlanStep, ...]    # cluster steps before the first node (e.g. keystone expand)
    finalization: tuple[PlanStep, ...]   # cluster steps after the last node (e.g. keystone contract)
    refusals: tuple[str, ...]
    warnings: tuple[str, ...]
    facts_fingerprint: str
    inventory: str = ""                  # path of the inventory the facts came from
    packages: tuple[str, ...] = ()       # OS packages the upgrade step installs with apt
    # what was asked, e.g. {"libssl3": "security"}; each NodePlan.package_changes holds the
    # exact versions it was resolved to when planning (docs/targets.md)
    package_targets: dict[str, str] = field(default_factory=dict)
    mariadb_upgrade: bool = False        # run mariadb-upgrade after each node's server starts
    load_balancers: str = ""             # the nodes' HAProxies and who holds the VIP, when they run them
    plan_hash: str = ""
    schema_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Plan":
        return from_dict(cls, data)


_NESTED: tuple[type, ...] = (
    GaleraFacts, WriteRate, RabbitFacts, HaproxyServer, PackageFacts, NodeFacts, PlanStep,
    PackageChange, NodePlan, BalancerFacts, VipFacts,
)
