"""Version parsing and "what does the plan change" questions over facts.

Versions come in package shapes ("1:10.11.19-MariaDB-0+deb12u1"); only the leading
dotted numbers matter for ordering and for the MariaDB major.minor rule.
"""
from __future__ import annotations

import re

from upgrader.model import ClusterFacts, NodeFacts

_VERSION = re.compile(r"^(?:\d+:)?(\d+(?:\.\d+)*)")


def parse_version(text: str) -> tuple[int, ...] | None:
    """(10, 11, 19) for "10.11.19-MariaDB-0+deb12u1"; None when there is no number."""
    m = _VERSION.match(text.strip())
    if m is None:
        return None
    return tuple(int(part) for part in m.group(1).split("."))


def _padded(v: tuple[int, ...], width: int) -> tuple[int, ...]:
    return v + (0,) * (width - len(v))


def compare(a: str, b: str) -> int:
    """-1, 0 or 1; unparsable versions compare as strings (equal only when identical)."""
    pa, pb = parse_version(a), parse_version(b)
    if pa is None or pb is None:
        return 0 if a == b else (-1 if a < b else 1)
    width = max(len(pa), len(pb))
    pa, pb = _padded(pa, width), _padded(pb, width)
    return (pa > pb) - (pa < pb)


def major_minor(text: str) -> tuple[int, ...] | None:
    parsed = parse_version(text)
    return None if parsed is None else _padded(parsed, 2)[:2]


def installed(node: NodeFacts, component: str) -> str:
    """Installed version of ``component`` on ``node``; "" when the facts do not say.

    MariaDB falls back to the server's own version string, which the Galera probe
    always reads, so a missing package fact does not hide the major-version rule.
    """
    version = node.versions.get(component, "")
    if not version and component == "mariadb" and node.galera is not None:
        version = node.galera.version
    return version


def changes(facts: ClusterFacts, component: str, target: str) -> bool:
    """True when at least one node's installed version differs from ``target``."""
    return any(
        compare(installed(n, component), target) != 0 for n in facts.nodes
    )


def plan_kind(facts: ClusterFacts, targets: dict[str, str]) -> str:
    """"upgrade" when any release target moves any node, else "patch".

    A patch roll keeps every release: it restarts each node and installs the package
    changes, if any (those never make a roll an upgrade, docs/targets.md).
    """
    moving = any(changes(facts, comp, ver) for comp, ver in targets.items())
    return "upgrade" if moving else "patch"
