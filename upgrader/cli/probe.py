"""`upgrader probe`: client traffic through the VIP for a while, and its figures."""
from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.console import Console

from upgrader.cli.common import InventoryOpt, inventory_path
from upgrader.executor.session import ProbeOptions, start_probe
from upgrader.inventory import load_cluster, load_secrets

out = Console(stderr=True)


def probe(
    inventory: InventoryOpt = None,
    seconds: Annotated[float, typer.Option("--seconds", "-s", help="How long to send traffic.", min=1)] = 30,
) -> None:
    """Send Keystone, MariaDB and RabbitMQ traffic through the VIP; print the figures as JSON."""
    cluster = load_cluster(inventory_path(inventory))
    secrets = load_secrets(cluster)
    p = start_probe(cluster, secrets, f"probe-{int(time.time())}", ProbeOptions(enabled=True, baseline_s=0),
                    say=lambda line: out.print(line, highlight=False))
    time.sleep(seconds)
    summary = p.stop({})
    print(json.dumps(summary, indent=2))
    if summary["failed_operations"] or summary["lost_writes"]:
        raise typer.Exit(1)
