"""Package facts for planner tests, with the versions the lab's hosts report.

Each lab host has the 12 binaries of source mariadb at 1:10.11.18-0+deb12u1 (bookworm-security
offers 1:10.11.19-0+deb12u1), libssl3 and openssl of source openssl at 3.0.19-1~deb12u2
(security 3.0.22-1~deb12u2), and galera-4, rabbitmq-server and erlang-base up to date.
"""
from __future__ import annotations

from dataclasses import replace

from planner_fixtures import cluster
from upgrader.model import ClusterFacts, PackageFacts

M18, M19 = "1:10.11.18-0+deb12u1", "1:10.11.19-0+deb12u1"
M11_4 = "1:11.4.5-0+deb12u1"             # another MariaDB major.minor
S17, S19, S20, S22 = "3.0.17-1~deb12u2", "3.0.19-1~deb12u2", "3.0.20-1~deb12u2", "3.0.22-1~deb12u2"
GALERA = "26.4.20-0+deb12u1"
RABBIT = "3.10.8-1.1"
ERLANG = "1:25.2.3+dfsg-1"

MARIADB_BINARIES = (
    "libmariadb3", "mariadb-backup", "mariadb-client", "mariadb-client-core", "mariadb-common",
    "mariadb-plugin-provider-bzip2", "mariadb-plugin-provider-lz4", "mariadb-plugin-provider-lzma",
    "mariadb-plugin-provider-lzo", "mariadb-plugin-provider-snappy", "mariadb-server",
    "mariadb-server-core",
)
OPENSSL_BINARIES = ("libssl3", "openssl")


def pkg(name: str, version: str, source: str, available: tuple[str, ...] = (), security: str = "") -> PackageFacts:
    return PackageFacts(name=name, version=version, source=source, security=security,
                        candidate=available[0] if available else version,
                        available=available or (version,))


def mariadb(version: str = M18, available: tuple[str, ...] = (M19, M18)) -> tuple[PackageFacts, ...]:
    security = available[0] if available and available[0] != version else ""
    return tuple(pkg(n, version, "mariadb", available, security) for n in MARIADB_BINARIES)


def openssl(version: str = S19, available: tuple[str, ...] = (S22, S20, S19, S17)) -> tuple[PackageFacts, ...]:
    security = S22 if S22 in available and version != S22 else ""
    return tuple(pkg(n, version, "openssl", available, security) for n in OPENSSL_BINARIES)


def others() -> tuple[PackageFacts, ...]:
    return (pkg("galera-4", GALERA, "galera-4"), pkg("rabbitmq-server", RABBIT, "rabbitmq-server"),
            pkg("erlang-base", ERLANG, "erlang"))


def lab_packages(**families) -> tuple[PackageFacts, ...]:
    """Every watched package of a lab host; families={"mariadb": (...)} replaces one family."""
    chosen = {"mariadb": mariadb(), "openssl": openssl(), "others": others(), **families}
    return tuple(sorted((p for group in chosen.values() for p in group), key=lambda p: p.name))


def packaged(facts: ClusterFacts | None = None, **families) -> ClusterFacts:
    """The lab cluster with the lab's packages on every node."""
    facts = cluster() if facts is None else facts
    return replace(facts, nodes=tuple(replace(n, packages=lab_packages(**families)) for n in facts.nodes))


def with_packages(facts: ClusterFacts, name: str, **families) -> ClusterFacts:
    """One node's packages, with some families replaced."""
    nodes = tuple(replace(n, packages=lab_packages(**families)) if n.name == name else n for n in facts.nodes)
    return replace(facts, nodes=nodes)


def with_package(facts: ClusterFacts, node: str, package: str, **changes) -> ClusterFacts:
    """One package on one node changed (version=..., available=..., security=...)."""
    def edit(p: PackageFacts) -> PackageFacts:
        return replace(p, **changes) if p.name == package else p
    nodes = tuple(replace(n, packages=tuple(edit(p) for p in n.packages)) if n.name == node else n
                  for n in facts.nodes)
    return replace(facts, nodes=nodes)


def without_package(facts: ClusterFacts, node: str, package: str) -> ClusterFacts:
    nodes = tuple(replace(n, packages=tuple(p for p in n.packages if p.name != package)) if n.name == node
                  else n for n in facts.nodes)
    return replace(facts, nodes=nodes)
