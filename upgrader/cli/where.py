"""`upgrader where`: where plans, runs and the per-cluster state go, and why there."""
from __future__ import annotations

import json

from rich.console import Console

from upgrader.cli.common import JsonOpt
from upgrader.paths import locations, playbooks_dir

out = Console()


def where(as_json: JsonOpt = False) -> None:
    """Print the plans, runs, state and playbooks directories and what chose each."""
    locs = locations()
    doc = {
        "plans_dir": {"path": str(locs.plans), "from": locs.source["plans_dir"]},
        "runs_dir": {"path": str(locs.runs), "from": locs.source["runs_dir"]},
        "state_dir": {"path": str(locs.state), "from": locs.source["state_dir"]},
        "playbooks_dir": {"path": str(playbooks_dir()), "from": "the installed package"},
    }
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    for key, v in doc.items():
        out.print(f"{key:<14} {v['path']}  ({v['from']})", highlight=False, soft_wrap=True)
