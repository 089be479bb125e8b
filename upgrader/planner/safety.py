"""Refusing is data: every reason not to roll, as a list, plus the non-blocking warnings.

``CHECKS`` is the whole safety policy on one screen; each check yields Refusals from
facts already gathered and never raises. The caller (CLI, apply) decides what to do.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from upgrader.model import ClusterFacts
from upgrader.planner import galera_checks as galera
from upgrader.planner import inventory_checks as inventory
from upgrader.planner import package_checks as package
from upgrader.planner import service_checks as service
from upgrader.planner import version_checks as version
from upgrader.planner.ist import IstVerdict
from upgrader.planner.options import PlanOptions
from upgrader.planner.order import order_warnings
from upgrader.planner.refusal import Context, Refusal, make_context
from upgrader.planner.versions import installed

Check = Callable[[Context], Iterable[Refusal]]

CHECKS: tuple[Check, ...] = (
    galera.galera_unreachable,
    galera.node_not_synced,
    galera.cluster_size,
    galera.not_primary,
    service.rabbit_unreachable,
    service.rabbit_down,
    service.rabbit_partitioned,
    service.rabbit_alarm,
    service.haproxy_server_down,
    service.haproxy_disagree,
    service.vip_not_held_once,
    version.mixed_start_versions,
    inventory.inventory_hosts,
    inventory.galera_addresses,
    inventory.cluster_uuid,
    service.haproxy_membership,
    version.sst_across_major,
    version.target_not_newer,
    package.package_targets,
    package.mariadb_major_change,
)


def all_refusals(
    facts: ClusterFacts, options: PlanOptions, *, verdicts: dict[str, IstVerdict] | None = None,
    ctx: Context | None = None,
) -> list[Refusal]:
    """Every refusal the facts support, forced or not, in CHECKS order then node order."""
    ctx = ctx or make_context(facts, options, verdicts)
    return [refusal for check in CHECKS for refusal in check(ctx)]


def refusals(
    facts: ClusterFacts, options: PlanOptions, *, verdicts: dict[str, IstVerdict] | None = None
) -> list[Refusal]:
    """The refusals that still block the roll after ``options.force``."""
    found = all_refusals(facts, options, verdicts=verdicts)
    return [r for r in found if r.code not in options.force]


def forced_warnings(found: Iterable[Refusal], force: frozenset[str]) -> list[str]:
    return [f"forced {r.code}: {r.message}" for r in found if r.code in force]


def advisories(ctx: Context) -> list[str]:
    """Warnings that do not block: SST risk within a major, guesses the planner had to make."""
    lines = order_warnings(ctx.facts)
    lines += [v.warning for n in ctx.nodes if (v := ctx.verdicts[n.name]).warning]
    lines += list(_unknown_versions(ctx))
    lines += [
        f"{n.name}: RabbitMQ reports it quorum critical; drain_rabbitmq will wait until it is not"
        for n, r in ctx.rabbit_nodes() if r.quorum_critical
    ]
    return lines


def _unknown_versions(ctx: Context) -> Iterator[str]:
    for component in sorted(ctx.options.targets):
        for node in ctx.nodes:
            if not installed(node, component):
                yield f"{node.name}: installed {component} version unknown; treated as changing"
