"""Options and lookups shared by the commands."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from upgrader import registry, validate
from upgrader.errors import ConfigError
from upgrader.lab.config import LabConfig
from upgrader.paths import Locations, absolute, locations
from upgrader.registry import ClusterEntry


def default_inventory() -> Path:
    """UPGRADER_INVENTORY, else the inventory the local lab writes."""
    env = os.environ.get("UPGRADER_INVENTORY")
    return absolute(env, "UPGRADER_INVENTORY") if env else LabConfig.from_env().inventory_file


def inventory_path(given: Path | None) -> Path:
    return absolute(given, "--inventory") if given is not None else default_inventory()


def find_run(cluster: str | None = None, inventory: Path | None = None,
             locs: Locations | None = None) -> ClusterEntry:
    """The cluster's entry in the registry: named, from an inventory, or the only one there is."""
    locs = locs or locations()
    if cluster is not None and inventory is not None:
        raise ConfigError("give --cluster or --inventory, not both")
    if inventory is not None:
        from upgrader.inventory import load_cluster

        cluster = load_cluster(inventory_path(inventory)).name
    if cluster is not None:
        entry = registry.entry_for(locs, validate.cluster_name(cluster))
        if entry is None or entry.run is None:
            raise ConfigError(f"no run of cluster {cluster} on this machine: start one with `upgrader apply`")
        return entry
    found = [e for e in registry.entries(locs) if e.run is not None]
    if not found:
        raise ConfigError("no run on this machine: start one with `upgrader apply`")
    if len(found) > 1:
        unfinished = [e for e in found if _unfinished(e)]
        if len(unfinished) == 1:
            return unfinished[0]
        names = ", ".join(e.cluster for e in (unfinished or found))
        raise ConfigError(f"several clusters have runs ({names}); name one with --cluster")
    return found[0]


def _unfinished(entry: ClusterEntry) -> bool:
    from upgrader.executor.session import FINISHED
    from upgrader.journal import replay

    try:
        return entry.run is not None and replay(entry.run.journal).run_state not in FINISHED
    except Exception:  # noqa: BLE001 - an unreadable journal: let the chosen command say why
        return True


InventoryOpt = Annotated[
    Path | None, typer.Option("--inventory", "-i", help="Ansible inventory of the cluster "
                              "(default: $UPGRADER_INVENTORY, else the lab's).")]
ClusterOpt = Annotated[
    str | None, typer.Option("--cluster", "-c", help="The cluster whose run to act on "
                             "(default: the only cluster with a run on this machine).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
