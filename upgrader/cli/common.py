"""Options and defaults shared by the commands."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from upgrader.lab.config import LabConfig


def default_inventory() -> Path:
    """UPGRADER_INVENTORY, else the inventory the local lab writes."""
    env = os.environ.get("UPGRADER_INVENTORY")
    return Path(env) if env else LabConfig.from_env().inventory_file


def plans_dir() -> Path:
    return Path(os.environ.get("UPGRADER_PLANS", "plans"))


def runs_dir() -> Path:
    return Path(os.environ.get("UPGRADER_RUNS", "runs"))


InventoryOpt = Annotated[
    Path | None, typer.Option("--inventory", "-i", help="Ansible inventory of the cluster "
                              "(default: $UPGRADER_INVENTORY, else the lab's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
