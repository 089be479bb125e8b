"""Version refusals: one start version, no downgrades, and never SST across a MariaDB major."""
from __future__ import annotations

from collections.abc import Iterator

from upgrader.planner.ist import IstVerdict
from upgrader.planner.refusal import Context, Refusal
from upgrader.planner.versions import changes, compare, installed, major_minor, parse_version


def _targets(ctx: Context) -> list[tuple[str, str]]:
    return sorted(ctx.options.targets.items())


def mixed_start_versions(ctx: Context) -> Iterator[Refusal]:
    for component, target in _targets(ctx):
        if not changes(ctx.facts, component, target):
            continue
        reported = [(n.name, installed(n, component)) for n in ctx.nodes]
        reported = [(name, v) for name, v in reported if v]
        if len({parse_version(v) or v for _, v in reported}) > 1:
            listing = ", ".join(f"{name}={v}" for name, v in reported)
            yield Refusal("mixed_start_versions", "",
                          f"{ctx.facts.cluster}: nodes start from different {component} versions ({listing})")


def target_not_newer(ctx: Context) -> Iterator[Refusal]:
    for component, target in _targets(ctx):
        for node in ctx.nodes:
            current = installed(node, component)
            if current and compare(target, current) < 0:
                yield Refusal("target_not_newer", node.name,
                              f"{node.name}: {component} target {target} is older than installed {current}")


def _not_ist_because(verdict: IstVerdict) -> str:
    if not verdict.donor:
        return "no other node is Synced to donate IST"
    return f"its predicted gap of {verdict.gap_writesets} write-sets does not fit {verdict.donor}'s gcache"


def _dotted(parts: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in parts)


def sst_across_major(ctx: Context) -> Iterator[Refusal]:
    """MariaDB 10.6 -> 10.11 style jumps: a rolling upgrade works only if the rejoin is IST."""
    target = ctx.options.targets.get("mariadb")
    if target is None:
        return
    goal = major_minor(target)
    for node in ctx.nodes:
        start = major_minor(installed(node, "mariadb"))
        verdict = ctx.verdicts[node.name]
        if start is None or start == goal or verdict.feasible:
            continue
        yield Refusal("sst_across_major", node.name,
                      f"{node.name}: MariaDB {_dotted(start)} -> {_dotted(goal)} cannot use SST, "
                      f"and {_not_ist_because(verdict)}")
