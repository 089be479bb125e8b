"""`upgrader facts` and `upgrader plan`."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from upgrader.cli.common import InventoryOpt, JsonOpt, default_inventory, plans_dir
from upgrader.errors import ConfigError
from upgrader.facts.gather import gather
from upgrader.inventory import load_cluster, load_secrets
from upgrader.model import ClusterFacts
from upgrader.planner import PlanOptions, build_plan, parse_targets, plan_json, plan_table, write_plan

out = Console()


def live_facts(inventory: Path | None, sample_s: float) -> tuple[ClusterFacts, str, dict]:
    inv = inventory or default_inventory()
    cluster = load_cluster(inv)
    return gather(cluster, load_secrets(cluster), sample_s=sample_s), str(cluster.inventory), dict(cluster.targets)


def read_facts_file(path: Path) -> ClusterFacts:
    try:
        data = json.loads(path.read_text())
        facts = ClusterFacts.from_dict(data)
    except FileNotFoundError:
        raise ConfigError(f"facts file {path}: no such file") from None
    except (OSError, json.JSONDecodeError, TypeError, KeyError, AttributeError, ValueError) as e:
        raise ConfigError(f"facts file {path}: not a facts document: {str(e).splitlines()[0]}") from None
    if not isinstance(facts.nodes, tuple) or not facts.nodes:
        raise ConfigError(f"facts file {path}: no nodes")
    return facts


def facts(
    inventory: InventoryOpt = None,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Write to FILE instead of stdout.")] = None,
    sample: Annotated[float, typer.Option(help="Seconds over which the write rate is measured.", min=0.2)] = 2.0,
) -> None:
    """Gather the live facts of the cluster as one JSON document (format: docs/facts.md)."""
    f, _, _ = live_facts(inventory, sample)
    text = json.dumps(f.to_dict(), indent=2) + "\n"
    if out_file:
        out_file.write_text(text)
        out.print(f"facts written to {out_file}")
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
    force: Annotated[list[str] | None, typer.Option("--force", help="Override a named, overridable refusal.")] = None,
    sample: Annotated[float, typer.Option(help="Seconds over which the write rate is measured.", min=0.2)] = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """Compute a safe roll plan from live facts and write it, hashed, under plans/."""
    if facts_file is not None:
        f, inv_path, inv_targets = read_facts_file(facts_file), "", {}
    else:
        f, inv_path, inv_targets = live_facts(inventory, sample)
    targets = {} if patch else (parse_targets(target) if target else inv_targets)
    options = PlanOptions(targets=targets, force=frozenset(force or ()), packages=tuple(package or ()))
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
        Console(stderr=True).print(f"[red]refused:[/] {len(p.refusals)} reason(s); no plan written",
                                   highlight=False)
        raise typer.Exit(2)
    path = write_plan(p, plans_dir())
    (Console(stderr=True) if as_json else out).print(f"plan written to {path}", highlight=False,
                                                      soft_wrap=True)
