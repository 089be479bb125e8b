"""`upgrader recover`: where the Galera quorum stands, and a bootstrap only when asked.

upgrader never bootstraps by itself (a wrong choice loses the writes only the other
node had): without --bootstrap this command only reads and says what to do; with
--bootstrap NODE it refuses unless the quorum is really lost and NODE is the most
advanced node that answers, then runs playbooks/galera_bootstrap.yml on it.
"""
from __future__ import annotations

import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from upgrader import registry
from upgrader.cli.common import InventoryOpt, JsonOpt, inventory_path
from upgrader.errors import ConfigError, UnsafeCluster
from upgrader.faults import most_advanced, primary_nodes, quorum_recovery
from upgrader.inventory import Cluster, load_cluster, load_secrets
from upgrader.model import GaleraFacts

out = Console()


def recover(
    inventory: InventoryOpt = None,
    bootstrap: Annotated[str | None, typer.Option(
        "--bootstrap", metavar="NODE", help="Make NODE's component Primary (pc.bootstrap=YES): "
        "only when no node is Primary and NODE is the most advanced node that answers.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show each Galera node's state and the way back when the quorum is lost."""
    cluster = load_cluster(inventory_path(inventory))
    if bootstrap is not None and bootstrap not in {n.name for n in cluster.nodes}:
        raise ConfigError(f"--bootstrap {bootstrap}: not a Galera node of cluster {cluster.name}")
    password = load_secrets(cluster).get("mariadb_upgrader_password")
    if not password:
        raise ConfigError(f"recover reads every node as {cluster.db_user}: no mariadb_upgrader_password "
                          f"in {cluster.secrets_file}")
    galera = read_galera(cluster, password)
    primary, best = primary_nodes(galera), most_advanced(galera)
    verdict = (f"quorum: Primary on {', '.join(primary)}; nothing to recover" if primary
               else quorum_recovery(galera))
    if as_json:
        print(json.dumps({"primary": primary, "most_advanced": best, "verdict": verdict,
                          "nodes": {n: _row(g) for n, g in galera.items()}}, indent=2))
    else:
        out.print(_table(cluster.name, galera))
        out.print(verdict, highlight=False, soft_wrap=True)
    if bootstrap is None:
        raise typer.Exit(0 if primary else 1)
    _refuse_unsafe(bootstrap, galera, primary, best)
    if not yes:
        _confirm(bootstrap)
    _bootstrap(cluster, bootstrap)


def read_galera(cluster: Cluster, password: str) -> dict[str, GaleraFacts]:
    from upgrader.facts.galera import read_node

    with ThreadPoolExecutor(max_workers=len(cluster.nodes)) as pool:
        found = {n.name: pool.submit(read_node, n.address, cluster.db_user, password) for n in cluster.nodes}
        return {name: f.result() for name, f in found.items()}


def _refuse_unsafe(node: str, galera: dict[str, GaleraFacts], primary: list[str], best: str) -> None:
    if primary:
        raise UnsafeCluster(f"--bootstrap {node}: {', '.join(primary)} is Primary; a second Primary "
                            "component would split the cluster")
    if not galera[node].reachable:
        raise UnsafeCluster(f"--bootstrap {node}: its server does not answer ({galera[node].error}); "
                            "start it first, or bootstrap the most advanced node that answers")
    if node != best:
        raise UnsafeCluster(f"--bootstrap {node}: {best} is further ahead (last committed "
                            f"{galera[best].last_committed}, {node} {galera[node].last_committed}); "
                            f"bootstrapping {node} would lose the writes only {best} has")


def _confirm(node: str) -> None:
    if not sys.stdin.isatty():
        raise ConfigError("refusing to bootstrap without confirmation: no terminal; pass --yes")
    if not typer.confirm(f"bootstrap a Primary component from {node}?"):
        raise ConfigError("not confirmed; nothing was changed")


def _bootstrap(cluster: Cluster, node: str) -> None:
    from upgrader.executor.runner import AnsibleRunnerExecutor
    from upgrader.executor.session import runtime_inventory
    from upgrader.paths import locations, playbooks_dir, private_dir

    locs = locations()
    with tempfile.TemporaryDirectory(prefix="recover-", dir=private_dir(locs.state, "state directory")) as work:
        executor = AnsibleRunnerExecutor(
            inventory=runtime_inventory(cluster, Path(work)), playbooks_dir=playbooks_dir(),
            work_dir=Path(work), control_dir=private_dir(locs.control_sockets, "SSH control directory"))
        result = executor.run_step("galera_bootstrap", node, {"upgrader_node": node})
    _journal(cluster, node, result.ok, result.message)
    if not result.ok:
        out.print(f"bootstrap of {node} failed: {result.message}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    out.print(f"{node} is Primary again (cluster size {result.results.get('galera_cluster_size', '?')}); "
              "the other nodes rejoin by themselves; `upgrader apply` continues an unfinished roll",
              highlight=False, soft_wrap=True)


def _journal(cluster: Cluster, node: str, ok: bool, message: str) -> None:
    """The bootstrap goes in the journal of the cluster's current run, if it has one (audit)."""
    from upgrader.journal import Journal
    from upgrader.paths import locations

    entry = registry.entry_for(locations(), cluster.name)
    if entry is None or entry.run is None or not entry.run.journal.exists():
        return
    Journal(entry.run.journal).append(
        "note", reason="recover", message=f"pc.bootstrap on {node}: " + ("done" if ok else f"failed: {message}"))


def _row(g: GaleraFacts) -> dict:
    return {"answers": g.reachable, "status": g.cluster_status, "state": g.local_state_comment,
            "last_committed": g.last_committed if g.reachable else None, "error": g.error}


def _table(name: str, galera: dict[str, GaleraFacts]) -> Table:
    t = Table(title=f"cluster {name}: Galera")
    for col in ("node", "answers", "status", "state", "last committed"):
        t.add_column(col)
    for n, g in galera.items():
        t.add_row(n, "yes" if g.reachable else f"no ({g.error[:60]})", g.cluster_status or "-",
                  g.local_state_comment or "-", str(g.last_committed) if g.reachable else "-")
    return t
