"""Step names, descriptions and default duration estimates.

The per-node step names and their order are a contract: the state machine, the
journal and the playbooks (playbooks/<step>.yml) use the same names.
"""
from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from upgrader.model import ClusterFacts, PlanStep
from upgrader.planner.versions import changes, compare, installed

if TYPE_CHECKING:
    from upgrader.planner.options import PlanOptions

# name, default estimate (s), one-line description; in roll order.
_NODE_TABLE: tuple[tuple[str, float, str], ...] = (
    ("drain_api", 4.0, "HAProxy: drain this node's keystone server, wait for 0 sessions, MAINT"),
    ("drain_db", 3.0, "HAProxy: take this node's mariadb server out of the pool, cut its pooled sessions"),
    ("desync_galera", 2.0, "wsrep_desync=ON so the stopping node cannot stall the cluster via flow control"),
    ("drain_rabbitmq", 3.0, "rabbitmq-upgrade drain: close clients, hand quorum-queue leaders away"),
    ("stop_services", 8.0, "stop keystone, rabbitmq-server and mariadb cleanly, concurrently"),
    ("upgrade", 5.0, "install the target versions (and the requested OS packages)"),
    ("rejoin_galera", 8.0, "start mariadb (rabbitmq-server and keystone alongside), wait for IST to finish"),
    ("verify_node", 3.0, "keystone answers locally with the target release; Synced + Primary, full size"),
    ("revive_rabbitmq", 3.0, "broker started, out of maintenance; every node lists it as running"),
    ("resync_galera", 2.0, "wsrep_desync=OFF; wait for Synced"),
    ("undrain", 4.0, "HAProxy: set the mariadb and keystone servers READY again"),
)

NODE_STEPS: tuple[str, ...] = tuple(name for name, _, _ in _NODE_TABLE)

_PREPARATION = {
    "galera_arbitrator_join": (4.0, "start garbd on the arbitrator host: a third vote while a node is out"),
    "keystone_expand": (10.0, "keystone-manage db_sync --expand from the target release venv"),
}
_FINALIZATION = {
    "keystone_contract": (10.0, "keystone-manage db_sync --contract once every node runs the target"),
    "rabbitmq_feature_flags": (5.0, "enable all stable feature flags once every node runs the new release"),
    "galera_arbitrator_leave": (3.0, "stop garbd (SIGTERM by pid); the cluster counts its nodes again"),
}

PACKAGES_EXTRA_S = 15.0      # apt of extra OS packages lengthens the upgrade step
# Pinned package changes: one apt run (lists, dpkg lock, triggers) plus unpack and
# configure per package. The lab measured 8-15 s for the 12 MariaDB packages; 3 + 12 * 1
# takes the long end, because a short estimate under-predicts the IST gap.
APT_BASE_S = 3.0
APT_PER_PACKAGE_S = 1.0
SST_BASE_S = 30.0            # SST floor; real SST time grows with the data size
SST_KEY = "rejoin_galera_sst"  # estimates key for the rejoin step when SST is predicted
DOWNTIME_STEPS = ("stop_services", "upgrade", "rejoin_galera")  # Galera node is away

_DEFAULTS = {name: seconds for name, seconds, _ in _NODE_TABLE}
_DEFAULTS.update({k: v[0] for k, v in (_PREPARATION | _FINALIZATION).items()})
_DEFAULTS[SST_KEY] = SST_BASE_S
_DESCRIPTIONS = {name: text for name, _, text in _NODE_TABLE}
_DESCRIPTIONS.update({k: v[1] for k, v in (_PREPARATION | _FINALIZATION).items()})

ESTIMATE_KEYS: frozenset[str] = frozenset(_DEFAULTS)


def estimate_s(name: str, options: PlanOptions, *, ist: bool = True, package_changes: int = 0) -> float:
    """Seconds for one step; an operator override wins over every default rule.

    ``package_changes``: how many pinned packages this node's upgrade step installs.
    """
    key = SST_KEY if (name == "rejoin_galera" and not ist) else name
    if key in options.estimates:
        return options.estimates[key]
    seconds = _DEFAULTS[key]
    if name == "upgrade" and options.packages:
        seconds += PACKAGES_EXTRA_S
    if name == "upgrade" and package_changes:
        seconds += APT_BASE_S + APT_PER_PACKAGE_S * package_changes
    return seconds


def downtime_s(options: PlanOptions, package_changes: int = 0) -> float:
    """How long a node's Galera is away when its rejoin is IST (the gap the donor must hold)."""
    return sum(estimate_s(name, options, ist=True, package_changes=package_changes)
               for name in DOWNTIME_STEPS)


def node_steps(options: PlanOptions, *, ist: bool, package_changes: int = 0) -> tuple[PlanStep, ...]:
    steps = []
    for name in NODE_STEPS:
        description = _DESCRIPTIONS[name]
        if name == "rejoin_galera" and not ist:
            description = "start mariadb (rabbitmq-server and keystone alongside); SST predicted, wait for the full copy"
        if name == "upgrade" and package_changes:
            noun = "package" if package_changes == 1 else "packages"
            description = f"install the target versions and {package_changes} pinned {noun} with apt"
        seconds = estimate_s(name, options, ist=ist, package_changes=package_changes)
        steps.append(PlanStep(name, seconds, description))
    return tuple(steps)


def _cluster_step(name: str, options: PlanOptions) -> PlanStep:
    return PlanStep(name, estimate_s(name, options), _DESCRIPTIONS[name])


def _keystone_changes(facts: ClusterFacts, options: PlanOptions) -> bool:
    """A keystone UPGRADE: only then is there a schema to expand and contract.

    A forced downgrade (target_not_newer) runs the old release on the expanded schema,
    which keystone supports; the old release's keystone-manage cannot even read the
    newer alembic head, so it must not be asked to expand or contract.
    """
    target = options.targets.get("keystone")
    if target is None or not changes(facts, "keystone", target):
        return False
    return all(compare(target, v) > 0 for n in facts.nodes if (v := installed(n, "keystone")))


def preparation_steps(facts: ClusterFacts, options: PlanOptions) -> tuple[PlanStep, ...]:
    """Cluster steps before the first node: the arbitrator joins first (quorum through a
    second failure for the whole roll), then the schema expand on a keystone upgrade."""
    steps = []
    if facts.arbitrator:
        steps.append(_cluster_step("galera_arbitrator_join", options))
    if _keystone_changes(facts, options):
        steps.append(_cluster_step("keystone_expand", options))
    return tuple(steps)


def _rabbitmq_changes(facts: ClusterFacts, options: PlanOptions, moving: Collection[str]) -> bool:
    """The roll installs another RabbitMQ release: by target, or the package among those moving."""
    target = options.targets.get("rabbitmq")
    return (target is not None and changes(facts, "rabbitmq", target)) or "rabbitmq-server" in moving


def finalization_steps(facts: ClusterFacts, options: PlanOptions,
                       moving: Collection[str] = ()) -> tuple[PlanStep, ...]:
    """Cluster steps after the last node; never mid-roll (mixed-version window guard).

    moving: the packages any node's upgrade installs (planner/packages.py).
    """
    steps = []
    if _keystone_changes(facts, options):
        steps.append(_cluster_step("keystone_contract", options))
    # NOTE: only a new RabbitMQ release brings feature flags to enable; a roll that leaves
    # the broker's release alone has none, and the step cost 6-10 s of every such roll.
    if _rabbitmq_changes(facts, options, moving):
        steps.append(_cluster_step("rabbitmq_feature_flags", options))
    if facts.arbitrator:   # last: the arbitrator's vote covers every step before it
        steps.append(_cluster_step("galera_arbitrator_leave", options))
    return tuple(steps)
