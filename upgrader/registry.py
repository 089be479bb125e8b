"""Runs, found from the cluster: one lock and one current-run pointer per cluster per machine.

The run directory (<runs>/<run_id>/) holds everything about one run. Which run is a
cluster's current one is recorded under the state directory, not under the runs
directory or the current directory, so `upgrader status` from any terminal finds
it, two `apply` started from two directories meet at the same lock, and several
clusters can share one runs directory:

    <state>/clusters/<cluster>.lock    flock held by the `apply` rolling it
    <state>/clusters/<cluster>.json    {"cluster", "run_dir", "inventory", "addresses"}
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from upgrader.errors import ConfigError
from upgrader.fileio import write_atomic
from upgrader.lock import ClusterLock
from upgrader.paths import Locations, private_dir
from upgrader.validate import cluster_name


@dataclass(frozen=True)
class RunPaths:
    root: Path          # the runs directory (absolute)
    run_id: str

    @classmethod
    def at(cls, run_dir: Path) -> "RunPaths":
        return cls(run_dir.parent, run_dir.name)

    @property
    def dir(self) -> Path:
        return self.root / self.run_id

    @property
    def journal(self) -> Path:
        return self.dir / "journal.jsonl"

    @property
    def plan(self) -> Path:
        return self.dir / "plan.json"

    @property
    def report(self) -> Path:
        return self.dir / "report.json"


@dataclass(frozen=True)
class ClusterEntry:
    cluster: str
    run: RunPaths | None        # None when the pointer names a run that is gone
    inventory: str = ""
    addresses: tuple[str, ...] = ()

    @property
    def current(self) -> RunPaths:
        """The run, for an entry known to have one (what cli.common.find_run returns)."""
        if self.run is None:
            raise ConfigError(f"the current run of cluster {self.cluster} is gone; start one with "
                              "`upgrader apply`")
        return self.run


def _dir(locs: Locations) -> Path:
    return private_dir(locs.clusters, "upgrader state directory")


def lock(locs: Locations, cluster: str, command: str | None = None) -> ClusterLock:
    """The cluster's lock: the same file whichever directory or runs directory is used."""
    return ClusterLock(_dir(locs) / f"{cluster_name(cluster)}.lock", command=command)


def set_current(locs: Locations, cluster: str, run: RunPaths, inventory: str = "",
                addresses: tuple[str, ...] = ()) -> None:
    """Point the cluster at ``run`` (call with the cluster's lock held)."""
    record = {"cluster": cluster_name(cluster), "run_dir": str(run.dir), "inventory": inventory,
              "addresses": list(addresses)}
    write_atomic(_dir(locs) / f"{cluster}.json", json.dumps(record, indent=2) + "\n")


def clear_current(locs: Locations, cluster: str, run: RunPaths) -> None:
    """Forget ``run`` if it is still the cluster's current one (a run that never started)."""
    entry = entry_for(locs, cluster)
    if entry is not None and entry.run == run:
        forget(locs, cluster)


def forget(locs: Locations, cluster: str) -> None:
    """Drop the cluster's current-run pointer (a damaged one too); the lock file stays."""
    (locs.clusters / f"{cluster_name(cluster)}.json").unlink(missing_ok=True)


def entry_for(locs: Locations, cluster: str) -> ClusterEntry | None:
    path = locs.clusters / f"{cluster_name(cluster)}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise ConfigError(f"{path} is not a valid run pointer; remove it") from None
    if not isinstance(data, dict) or not isinstance(data.get("run_dir"), str):
        raise ConfigError(f"{path} is not a valid run pointer; remove it")
    run = RunPaths.at(Path(data["run_dir"]))
    return ClusterEntry(cluster=cluster, run=run if run.journal.exists() or run.plan.exists() else None,
                        inventory=str(data.get("inventory", "")),
                        addresses=tuple(map(str, data.get("addresses") or ())))


def entries(locs: Locations) -> list[ClusterEntry]:
    if not locs.clusters.is_dir():
        return []
    found = []
    for p in sorted(locs.clusters.glob("*.json")):
        try:
            entry = entry_for(locs, p.stem)
        except ConfigError:
            continue
        if entry is not None:
            found.append(entry)
    return found


def check_same_cluster(locs: Locations, cluster: str, addresses: tuple[str, ...]) -> None:
    """Refuse a second, different cluster that reuses a name: they would share one lock."""
    entry = entry_for(locs, cluster)
    if entry is None or not entry.addresses or set(entry.addresses) == set(addresses):
        return
    raise ConfigError(f"cluster name {cluster!r} is already used on this machine by the cluster at "
                      f"{', '.join(entry.addresses)}; give this one its own upgrader_cluster name")


def holder(locs: Locations, cluster: str) -> dict | None:
    """Who holds the cluster's lock right now ({"pid", "command", "since", ...}), or None.

    Read, never taken: a probe that took the lock for an instant could make an
    `apply` starting at that instant fail. The holder truncates the file on release,
    and a holder killed by SIGKILL left a pid that no longer lives.
    """
    try:
        data = json.loads((locs.clusters / f"{cluster_name(cluster)}.lock").read_text() or "{}")
    except (OSError, ValueError):
        return None
    pid = data.get("pid") if isinstance(data, dict) else None
    if not isinstance(pid, int) or not Path(f"/proc/{pid}").exists():
        return None
    return data
