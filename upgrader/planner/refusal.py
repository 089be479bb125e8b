"""Refusal (a reason not to roll, as data) and the read-only context the checks share."""
from __future__ import annotations

from dataclasses import dataclass

from upgrader.model import ClusterFacts, GaleraFacts, NodeFacts, RabbitFacts
from upgrader.planner.ist import IstVerdict, ist_verdicts
from upgrader.planner.names import natural_key
from upgrader.planner.options import PlanOptions
from upgrader.planner.packages import NodePackages, resolve


@dataclass(frozen=True)
class Refusal:
    code: str        # a key of codes.CODES
    node: str        # the node it is about; "" for cluster-wide facts
    message: str     # one line naming the node (or cluster) and the fact


@dataclass(frozen=True)
class Context:
    facts: ClusterFacts
    options: PlanOptions
    verdicts: dict[str, IstVerdict]
    nodes: tuple[NodeFacts, ...]           # natural name order, so output is stable
    packages: dict[str, NodePackages]      # node -> its resolved package targets

    def galera_nodes(self) -> list[tuple[NodeFacts, GaleraFacts]]:
        """Nodes whose Galera status was read (unreadable ones have their own refusal)."""
        return [(n, n.galera) for n in self.nodes if n.galera is not None and n.galera.reachable]

    def rabbit_nodes(self) -> list[tuple[NodeFacts, RabbitFacts]]:
        return [(n, n.rabbitmq) for n in self.nodes if n.rabbitmq is not None and n.rabbitmq.reachable]


def make_context(
    facts: ClusterFacts, options: PlanOptions, verdicts: dict[str, IstVerdict] | None = None,
    packages: dict[str, NodePackages] | None = None,
) -> Context:
    nodes = tuple(sorted(facts.nodes, key=lambda n: natural_key(n.name)))
    if packages is None:
        packages = resolve(facts, options.package_targets)
    if verdicts is None:
        verdicts = ist_verdicts(facts, options, package_counts(packages))
    return Context(facts, options, verdicts, nodes, packages)


def package_counts(packages: dict[str, NodePackages]) -> dict[str, int]:
    """node -> how many packages its upgrade step installs (its downtime grows with them)."""
    return {name: len(p.changes) for name, p in packages.items()}
