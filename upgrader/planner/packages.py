"""Package targets resolved per node, at plan time: which packages move, to what, and why not.

Pure: facts + ``PlanOptions.package_targets`` -> one NodePackages per node. The plan
freezes the result (exact versions, even for ``security``), so apply never asks apt
again what "the newest security update" means: what was reviewed is what is installed.

A named package drags its whole source family along (every installed binary of the
same source package, e.g. the 12 of ``mariadb``), all pinned to the one version:
Debian builds them together and they depend on each other at ``(= version)``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from upgrader.model import ClusterFacts, NodeFacts, PackageChange, PackageFacts
from upgrader.planner.debversion import debian_compare
from upgrader.planner.restarts import services_for

SECURITY = "security"   # the newest *-security version each host's apt offers, frozen here


@dataclass(frozen=True)
class Problem:
    code: str           # a key of codes.CODES
    message: str        # one line, naming the node


@dataclass(frozen=True)
class NodePackages:
    changes: tuple[PackageChange, ...] = ()     # sorted by package name
    restarts: tuple[str, ...] = ()              # sorted service names
    problems: tuple[Problem, ...] = ()
    at_target: bool = False                     # targets were given and nothing moves here


def resolve(facts: ClusterFacts, targets: dict[str, str]) -> dict[str, NodePackages]:
    return {n.name: resolve_node(n, targets) for n in facts.nodes}


def moving_packages(resolved: dict[str, NodePackages]) -> set[str]:
    """The names of the packages any node's upgrade installs."""
    return {c.name for np in resolved.values() for c in np.changes}


def family(node: NodeFacts, named: PackageFacts) -> list[PackageFacts]:
    """Every installed package of ``named``'s source on ``node``, by name."""
    source = named.source or named.name
    return sorted((p for p in node.packages if (p.source or p.name) == source), key=lambda p: p.name)


def resolve_node(node: NodeFacts, targets: dict[str, str]) -> NodePackages:
    if not targets:
        return NodePackages()
    pins, problems = _pins(node, targets)
    by_name = {p.name: p for p in node.packages}
    changes: list[PackageChange] = []
    for (named, version), members in _grouped(pins).items():
        found, moved = _check_family(node, by_name[named], version, [by_name[m] for m in members])
        problems += found
        changes += moved
    if problems:
        return NodePackages(problems=tuple(problems))
    changes.sort(key=lambda c: c.name)
    sources = {by_name[c.name].source or c.name for c in changes}
    restarts = sorted({s for src in sources for s in services_for(src)})
    return NodePackages(tuple(changes), tuple(restarts), (), at_target=not changes)


def _pins(node: NodeFacts, targets: dict[str, str]) -> tuple[dict[str, tuple[str, str]], list[Problem]]:
    """{member: (named package, version)} for every family a target names, and the problems."""
    by_name = {p.name: p for p in node.packages}
    pins: dict[str, tuple[str, str]] = {}
    problems: list[Problem] = []
    for name, spec in sorted(targets.items()):
        named = by_name.get(name)
        if named is None:
            problems.append(_not_installed(node, name))
            continue
        version = named.security if spec == SECURITY else spec
        if not version:
            continue    # no security update newer than installed: at the target already
        for member in family(node, named):
            other = pins.get(member.name)
            if other is not None and debian_compare(other[1], version) != 0:
                problems.append(_conflict(node, named, version, other))
                break
            pins.setdefault(member.name, (name, version))
    return pins, problems


def _grouped(pins: dict[str, tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for member, key in sorted(pins.items()):
        groups.setdefault(key, []).append(member)
    return groups


def _check_family(node: NodeFacts, named: PackageFacts, version: str,
                  members: list[PackageFacts]) -> tuple[list[Problem], list[PackageChange]]:
    """One family to one version: every member must have it in apt and not be newer."""
    moving = [p for p in members if debian_compare(p.version, version) != 0]
    missing = [p for p in moving if version not in p.available]
    if missing:
        return [_missing(node, named, version, missing)], []
    older = [p for p in moving if debian_compare(version, p.version) < 0]
    if older:
        return [_downgrade(node, named, version, older)], []
    return [], [PackageChange(p.name, p.version, version) for p in moving]


# ------------------------------------------------------------------ messages (one line each)


def _first(named: PackageFacts, packages: list[PackageFacts]) -> tuple[PackageFacts, list[PackageFacts]]:
    """The named package when it is among ``packages``, else the first; and the rest."""
    head = next((p for p in packages if p.name == named.name), packages[0])
    return head, [p for p in packages if p is not head]


def _more(rest: Iterable[PackageFacts], source: str, what: str) -> str:
    count = len(list(rest))
    if not count:
        return ""
    noun = "package" if count == 1 else "packages"
    return f"; {count} more {noun} of source {source} {what}"


def _missing(node: NodeFacts, named: PackageFacts, version: str, missing: list[PackageFacts]) -> Problem:
    head, rest = _first(named, missing)
    have = ", ".join(head.available) or "no version at all"
    source = named.source or named.name
    text = f"{node.name}: {head.name} {version} is not available (apt has {have})"
    if head.name != named.name:
        text += f"; it must move with {named.name} (source {source}, one version)"
    return Problem("package_version_missing", text + _more(rest, source, "lack it too"))


def _downgrade(node: NodeFacts, named: PackageFacts, version: str, older: list[PackageFacts]) -> Problem:
    head, rest = _first(named, older)
    source = named.source or named.name
    text = (f"{node.name}: {head.name} target {version} is older than installed {head.version} "
            "(packages are never downgraded)")
    return Problem("package_downgrade", text + _more(rest, source, "too"))


def _not_installed(node: NodeFacts, name: str) -> Problem:
    binaries = sorted(p.name for p in node.packages if p.source == name)
    if binaries:
        hint = f": it is a source package; name one of its binaries, e.g. {binaries[0]}"
    else:
        hint = " (facts list the installed packages of the watched sources only)"
    return Problem("package_not_installed", f"{node.name}: {name} is not installed{hint}")


def _conflict(node: NodeFacts, named: PackageFacts, version: str, other: tuple[str, str]) -> Problem:
    source = named.source or named.name
    return Problem("package_target_conflict",
                   f"{node.name}: {other[0]} and {named.name} are both of source {source} but ask for "
                   f"{other[1]} and {version}; a source's packages move together, at one version")
