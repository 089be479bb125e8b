"""Package refusals: what resolving the package targets found, and no MariaDB major jump."""
from __future__ import annotations

from collections.abc import Iterator

from upgrader.model import PackageChange
from upgrader.planner.packages import NodePackages
from upgrader.planner.refusal import Context, Refusal
from upgrader.planner.versions import major_minor

MARIADB_SERVER = "mariadb-server"   # its major.minor is the server's on-disk format


def package_targets(ctx: Context) -> Iterator[Refusal]:
    """Not installed, version missing in apt, conflicting targets, downgrades (packages.py)."""
    for node in ctx.nodes:
        for problem in ctx.packages[node.name].problems:
            yield Refusal(problem.code, node.name, problem.message)


def major_change(change: PackageChange) -> tuple[str, str] | None:
    """("10.11", "11.4") when a mariadb-server change crosses major.minor, else None."""
    if change.name != MARIADB_SERVER:
        return None
    start, goal = major_minor(change.from_version), major_minor(change.to_version)
    if start is None or goal is None or start == goal:
        return None
    return ".".join(map(str, start)), ".".join(map(str, goal))


def mariadb_upgrade_needed(packages: dict[str, NodePackages]) -> bool:
    """mariadb-upgrade must run after the server starts: only after a major.minor change."""
    return any(major_change(c) for p in packages.values() for c in p.changes)


def mariadb_major_change(ctx: Context) -> Iterator[Refusal]:
    for node in ctx.nodes:
        for change in ctx.packages[node.name].changes:
            jump = major_change(change)
            if jump is None:
                continue
            yield Refusal(
                "mariadb_major_change", node.name,
                f"{node.name}: {change.name} {change.from_version} -> {change.to_version}: a rolling "
                "upgrade across MariaDB major versions is not supported: SST between majors fails and "
                f"mixed majors may not replicate; upgrade MariaDB {jump[0]} to {jump[1]} by the "
                "documented major-upgrade procedure")
