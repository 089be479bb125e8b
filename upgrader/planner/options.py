"""PlanOptions: what the operator asked for, validated once at construction.

Validation raises ConfigError (one line) so a bad flag fails before any fact is read,
and the planner itself can trust every field.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from upgrader.errors import ConfigError
from upgrader.planner.codes import CODES, OVERRIDABLE
from upgrader.planner.steps import ESTIMATE_KEYS
from upgrader import validate

COMPONENTS: tuple[str, ...] = ("galera", "keystone", "mariadb", "rabbitmq")


@dataclass(frozen=True)
class PlanOptions:
    targets: dict[str, str] = field(default_factory=dict)   # component -> target version
    force: frozenset[str] = frozenset()                     # overridable refusal codes
    ist_margin: float = 2.0                                 # multiplies the predicted IST gap
    packages: tuple[str, ...] = ()                          # extra OS packages to apt-upgrade
    estimates: dict[str, float] = field(default_factory=dict)  # step name -> seconds
    # package name -> exact Debian version or "security"; resolved per node (docs/targets.md)
    package_targets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Copies, so a caller mutating its dict cannot change a plan's inputs afterwards.
        object.__setattr__(self, "targets", checked_targets(self.targets))
        object.__setattr__(self, "force", _checked_force(self.force))
        object.__setattr__(self, "ist_margin", _checked_margin(self.ist_margin))
        object.__setattr__(self, "packages", _checked_packages(self.packages))
        object.__setattr__(self, "estimates", _checked_estimates(self.estimates))
        object.__setattr__(self, "package_targets", checked_package_targets(self.package_targets))
        _no_package_twice(self.packages, self.package_targets)


def parse_targets(pairs: Iterable[str]) -> dict[str, str]:
    """["keystone=29.1.0", ...] from the CLI -> {"keystone": "29.1.0"}."""
    targets: dict[str, str] = {}
    for pair in pairs:
        component, sep, version = pair.partition("=")
        if not sep or not component.strip() or not version.strip():
            shown = pair if len(pair) <= 60 else pair[:56] + "..."
            raise ConfigError(f"target {shown!r} is not COMPONENT=VERSION (e.g. keystone=29.1.0)")
        component = component.strip()
        if component in targets:    # last-one-wins would hide a typo in the first
            raise ConfigError(f"--target {component} is given twice ({targets[component]} and "
                              f"{version.strip()}); give it once")
        targets[component] = version.strip()
    return targets


def checked_targets(targets: dict[str, str]) -> dict[str, str]:
    if not isinstance(targets, dict):
        raise ConfigError(f"targets must be a mapping of COMPONENT: VERSION, got {validate.shown(targets)}")
    for component, version in targets.items():
        if component not in COMPONENTS:
            raise ConfigError(
                f"unknown component {validate.shown(component)} in targets (known: {', '.join(COMPONENTS)})"
            )
        validate.release(version, component)
    return dict(targets)


def _checked_force(force: Iterable[str]) -> frozenset[str]:
    codes = frozenset(force)
    for code in sorted(codes):
        if code not in CODES:
            raise ConfigError(f"unknown refusal code {code!r} in --force")
        if code not in OVERRIDABLE:
            raise ConfigError(
                f"refusal {code} cannot be forced (only {', '.join(sorted(OVERRIDABLE))} can)"
            )
    return codes


def _checked_margin(margin: float) -> float:
    if not isinstance(margin, (int, float)) or math.isnan(margin) or margin < 1.0:
        raise ConfigError(f"ist_margin must be a number >= 1.0, got {margin!r}")
    return float(margin)


def _checked_packages(packages: Iterable[str]) -> tuple[str, ...]:
    result = tuple(packages)
    for spec in result:
        validate.package_spec(spec)     # name or name=version; nothing apt could read as an option
    names = [spec.partition("=")[0] for spec in result]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"package {repeated[0]} is given more than once")
    return result


def checked_package_targets(targets: dict[str, str]) -> dict[str, str]:
    if not isinstance(targets, dict):
        raise ConfigError(f"package targets must be a mapping of PACKAGE: VERSION, got {validate.shown(targets)}")
    for name, version in targets.items():
        validate.package_name(name)
        validate.package_target(version, name)
    return dict(targets)


def _no_package_twice(packages: tuple[str, ...], targets: dict[str, str]) -> None:
    # apt would get two answers for one package; the pinned one must be the only one.
    both = sorted({spec.partition("=")[0] for spec in packages} & set(targets))
    if both:
        raise ConfigError(f"package {both[0]} is both in packages and in package targets; give it once")


def _checked_estimates(estimates: dict[str, float]) -> dict[str, float]:
    checked: dict[str, float] = {}
    for name, seconds in estimates.items():
        if name not in ESTIMATE_KEYS:
            raise ConfigError(f"unknown step {name!r} in estimates")
        if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
            raise ConfigError(f"estimate for {name} must be seconds >= 0, got {seconds!r}")
        checked[name] = float(seconds)
    return checked
