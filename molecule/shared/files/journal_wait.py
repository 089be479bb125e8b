"""Wait for a record in the journal of the lab's current run, and print the journal's path.

  journal_wait.py [--after RUN_ID] --type step_started [--node N] [--step S] [--dest D] [--timeout S]

--after: the run must be another than RUN_ID (a run started after that one). Used by the
Molecule scenarios to act at a precise point of a roll (pause in node two, SIGKILL in the
middle of a node); exits 1 with one line when the record does not come in time.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from upgrader import registry
from upgrader.paths import locations


def current_journal(after: str):
    entry = registry.entry_for(locations(), "lab")
    if entry is None or entry.run is None or entry.run.run_id == after:
        return None
    return entry.run.journal


def matches(record: dict, args: argparse.Namespace) -> bool:
    wanted = {"type": args.type, "node": args.node, "step": args.step, "dest": args.dest}
    return all(record.get(k) == v for k, v in wanted.items() if v is not None)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--after", default="")
    ap.add_argument("--type", required=True)
    ap.add_argument("--node")
    ap.add_argument("--step")
    ap.add_argument("--dest")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        journal = current_journal(args.after)
        if journal is not None and journal.exists():
            for line in journal.read_text().splitlines():
                try:
                    if matches(json.loads(line), args):
                        print(journal)
                        return 0
                except json.JSONDecodeError:   # the line being written right now
                    pass
        time.sleep(0.2)
    print(f"journal_wait: no {vars(args)} record in {args.timeout:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
