"""`upgrader facts` and `upgrader plan`."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from upgrader import validate
from upgrader.cli.common import InventoryOpt, JsonOpt, inventory_path
from upgrader.errors import ConfigError
from upgrader.facts.gather import gather
from upgrader.inventory import load_cluster, load_secrets
from upgrader.model import ClusterFacts
from upgrader.paths import absolute, locations, writable_dir
from upgrader.planner import (PlanOptions, TargetSpec, build_plan, parse_target_file, parse_targets,
                              plan_json, plan_table, write_plan)

out = Console()


def live_facts(inventory: Path | None, sample_s: float, view: Console) -> tuple[ClusterFacts, str, dict]:
    cluster = load_cluster(inventory_path(inventory))
    if cluster.layout is not None:
        view.print(f"{cluster.inventory}: {cluster.layout.describe()}", highlight=False, soft_wrap=True)
    return gather(cluster, load_secrets(cluster), sample_s=sample_s), str(cluster.inventory), dict(cluster.targets)


def _no_constants(name: str) -> float:
    # NOTE: json accepts NaN and Infinity by default; no fact is ever either.
    raise ValueError(f"{name} is not a JSON number")


def read_facts_file(given: Path) -> ClusterFacts:
    path = absolute(given, "--facts")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"facts file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"facts file {path}: unreadable: {getattr(e, 'strerror', None) or e}") from None
    if not text.strip():
        raise ConfigError(f"facts file {path}: empty file")
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except ValueError as e:
        raise ConfigError(f"facts file {path}: not JSON: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise ConfigError(f"facts file {path}: not a facts document (a JSON object with a 'nodes' "
                          "list, as `upgrader facts` writes)")
    try:
        facts = ClusterFacts.from_dict(data)
    except (TypeError, KeyError, AttributeError, ValueError) as e:
        raise ConfigError(f"facts file {path}: not a facts document: {str(e).splitlines()[0]}") from None
    if not isinstance(facts.nodes, tuple) or not facts.nodes:
        raise ConfigError(f"facts file {path}: no nodes")
    try:
        validate.cluster_name(facts.cluster)
        for n in facts.nodes:
            validate.node_name(getattr(n, "name", None))
    except ConfigError as e:
        raise ConfigError(f"facts file {path}: not a facts document: {e}") from None
    return facts


def read_target_file(given: Path) -> TargetSpec:
    path = absolute(given, "--target-file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"target file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"target file {path}: unreadable: {getattr(e, 'strerror', None) or e}") from None
    return parse_target_file(text, f"target file {path}")


def _one_source_of_targets(target_file: Path | None, target: list[str] | None, patch: bool,
                           package: list[str] | None) -> None:
    """--target-file says every release and package; a second source would be merged silently."""
    if target_file is None:
        return
    for given, flag in ((target, "--target"), (patch, "--patch"), (package, "--package")):
        if given:
            raise ConfigError(f"give --target-file or {flag}, not both (the file names every "
                              "release and package to change)")


def _plan_options(spec: TargetSpec | None, target: list[str] | None, patch: bool,
                  package: list[str] | None, force: list[str] | None, inv_targets: dict) -> PlanOptions:
    forced = frozenset(force or ())
    if spec is not None:    # the file replaces the inventory's *_target_release variables too
        return PlanOptions(targets=spec.releases, force=forced, package_targets=spec.packages)
    targets = {} if patch else (parse_targets(target) if target else inv_targets)
    return PlanOptions(targets=targets, force=forced, packages=tuple(package or ()))


def facts(
    inventory: InventoryOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write to FILE instead of stdout.")] = None,
    sample: Annotated[float, typer.Option(help="Seconds over which the write rate is measured.", min=0.2)] = 2.0,
) -> None:
    """Gather the live facts of the cluster as one JSON document (format: docs/facts.md)."""
    target = absolute(out_file, "--out") if out_file else None
    if target is not None and not target.parent.is_dir():
        raise ConfigError(f"--out {target}: directory {target.parent} does not exist")
    # the layout line goes where the JSON does not: stdout when writing a file
    f, _, _ = live_facts(inventory, sample, out if target else Console(stderr=True))
    text = json.dumps(f.to_dict(), indent=2) + "\n"
    if target:
        try:
            target.write_text(text)
        except OSError as e:
            raise ConfigError(f"--out {target}: cannot write: {e.strerror or e}") from None
        out.print(f"facts written to {target}", highlight=False, soft_wrap=True)
    else:
        print(text, end="")


def plan(
    inventory: InventoryOpt = None,
    facts_file: Annotated[Path | None, typer.Option("--facts", help="Plan from a facts file, "
                                                    "without reaching the cluster.")] = None,
    target: Annotated[list[str] | None, typer.Option("--target", "-t", help="COMPONENT=VERSION "
                      "(default: the inventory's *_target_release variables).")] = None,
    patch: Annotated[bool, typer.Option("--patch", help="A patch roll: restart every node, change no release.")] = False,
    package: Annotated[list[str] | None, typer.Option("--package", help="OS package to upgrade with apt on each node.")] = None,
    target_file: Annotated[Path | None, typer.Option("--target-file", help="YAML file of releases and "
                           "Debian package versions to roll to (docs/targets.md).")] = None,
    force: Annotated[list[str] | None, typer.Option("--force", help="Override a named, overridable refusal.")] = None,
    sample: Annotated[float, typer.Option(help="Seconds over which the write rate is measured.", min=0.2)] = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """Compute a safe roll plan from live facts and write it, hashed, under plans/."""
    if facts_file is not None and inventory is not None:
        raise ConfigError("give --facts or --inventory, not both (a facts file names its own cluster)")
    if patch and target:
        raise ConfigError("give --target or --patch, not both (a patch roll keeps every release)")
    _one_source_of_targets(target_file, target, patch, package)
    spec = read_target_file(target_file) if target_file is not None else None
    plans = writable_dir(locations().plans, "plans directory")   # before any fact is read
    if facts_file is not None:
        f, inv_path, inv_targets = read_facts_file(facts_file), "", {}
    else:
        f, inv_path, inv_targets = live_facts(inventory, sample, Console(stderr=True) if as_json else out)
    options = _plan_options(spec, target, patch, package, force, inv_targets)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        p = build_plan(f, options, created_at=created, inventory=inv_path)
    except (TypeError, AttributeError, ValueError) as e:
        if facts_file is None:
            raise
        # from_dict is tolerant, not type-checking: a wrong value type shows up here
        raise ConfigError(f"facts file {facts_file}: not a facts document: {e}") from None
    if as_json:
        print(json.dumps(plan_json(p), indent=2))
    else:
        out.print(plan_table(p))
    if p.refusals:
        more = f" ({len(p.refusals)} reasons, listed above)" if len(p.refusals) > 1 else ""
        Console(stderr=True).print(f"[red]error:[/] plan refused: {p.refusals[0]}{more}; no plan written",
                                   highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    path = write_plan(p, plans)
    (Console(stderr=True) if as_json else out).print(f"plan written to {path}", highlight=False,
                                                      soft_wrap=True)
