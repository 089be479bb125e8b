"""`upgrader lab up | down | status`: the local 3-node control plane."""
from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.console import Console

from upgrader.errors import ConfigError
from upgrader.lab import health, lifecycle, state
from upgrader.lab.config import LB_TOPOLOGIES, LabConfig

app = typer.Typer(no_args_is_help=True, help="The local lab: a real 3-node control plane.")
out = Console()


def _reporter():
    def report(phase: str, detail: str) -> None:
        out.print(f"[bold cyan]{phase:>9}[/] {detail}", highlight=False)
    return report


@app.command()
def up(fresh: Annotated[bool, typer.Option(
        "--fresh", help="Start from what a fresh lab installs: after a roll, put Keystone back "
                        "when only Keystone moved, else rebuild the lab.")] = False,
       lb: Annotated[Optional[str], typer.Option(
        "--lb", metavar="TOPOLOGY",
        help="Load balancers: 'controllers' (HAProxy and keepalived on every node, the VIP "
             "floating by VRRP) or 'dedicated' (one HAProxy on this machine). Default: the "
             "lab's current one, dedicated for a new lab. Switching takes seconds.")] = None) -> None:
    """Bring the lab up (idempotent) and print its health."""
    cfg = LabConfig.from_env()
    if lb is not None and lb not in LB_TOPOLOGIES:
        raise ConfigError(f"lab up --lb {lb}: unknown load-balancer topology; choose one of "
                          f"{', '.join(LB_TOPOLOGIES)}")
    with out.status("[bold]bringing the lab up[/]", spinner="dots"):
        took = (lifecycle.up_fresh if fresh else lifecycle.up)(cfg, _reporter(), lb=lb)
        h = health.settled(cfg, state.load_secrets(cfg))   # servers past their rise count
    out.print(health.table(h))
    out.print(f"lab up in {took:.1f} s; inventory: {cfg.inventory_file}")
    if not h.healthy:
        raise typer.Exit(1)


@app.command()
def down() -> None:
    """Stop every lab process by pid and remove namespaces, bridge and files."""
    cfg = LabConfig.from_env()
    took = lifecycle.down(cfg, _reporter())
    out.print(f"lab down in {took:.1f} s")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the lab's health; exit 1 when anything is unhealthy."""
    cfg = LabConfig.from_env()
    h = health.check(cfg, state.load_secrets(cfg))
    if as_json:
        print(json.dumps(h.to_dict(), indent=2))
    else:
        out.print(health.table(h))
    if not h.healthy:
        raise typer.Exit(1)
