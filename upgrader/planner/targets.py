"""Target files: the releases and Debian packages a roll moves to, as one reviewable YAML file.

Pure: text in, a validated TargetSpec out (the CLI reads the file). Every value is
checked with upgrader.validate, so nothing a playbook or apt would misread gets through;
every error is one ConfigError line that names the file. Format: docs/targets.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from upgrader.errors import ConfigError
from upgrader.planner.options import checked_package_targets, checked_targets
from upgrader.validate import shown

SECTIONS = ("packages", "releases")


@dataclass(frozen=True)
class TargetSpec:
    releases: dict[str, str] = field(default_factory=dict)   # PlanOptions.targets
    packages: dict[str, str] = field(default_factory=dict)   # PlanOptions.package_targets


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (PyYAML keeps the last one silently)."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, (str, int, float, bool)) and key in seen:
            raise ConfigError(f"line {key_node.start_mark.line + 1}: {key} is given twice; give it once")
        seen.add(key if isinstance(key, (str, int, float, bool)) else id(key_node))
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse_target_file(text: str, where: str = "target file") -> TargetSpec:
    """``where`` (e.g. "target file /etc/upgrader/patch.yml") starts every error line."""
    try:
        return _parse(text)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _parse(text: str) -> TargetSpec:
    data = _load(text)
    if not isinstance(data, dict):
        raise ConfigError("not a mapping (expected releases: and packages:, see docs/targets.md)")
    unknown = sorted(str(k) for k in data if k not in SECTIONS)
    if unknown:
        raise ConfigError(f"unknown key {shown(unknown[0])} (known: {', '.join(SECTIONS)})")
    releases = checked_targets(_section(data, "releases"))
    packages = checked_package_targets(_section(data, "packages"))
    if not releases and not packages:
        raise ConfigError("names no release and no package to change")
    return TargetSpec(releases=releases, packages=packages)


def _load(text: str) -> Any:
    if not text.strip():
        raise ConfigError("empty file")
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"not YAML{at}: {getattr(e, 'problem', None) or e}") from None
    if data is None:
        raise ConfigError("empty file")     # only comments
    return data


def _section(data: dict, key: str) -> dict[str, str]:
    """A section's mapping; an empty section (``packages:`` and nothing under it) is {}."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: is not a mapping of NAME: VERSION")
    for name, version in value.items():
        if not isinstance(version, str):
            # YAML reads 2024.1 as a float and yes as a bool: the version as written is lost
            raise ConfigError(f"{key}: {name} is the YAML {type(version).__name__} {version!r}, "
                              "not a version: quote it")
    return value
