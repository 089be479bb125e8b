"""Soak: rolls back to back under the probe, what each did to clients, and what it left (issue 13).

Run on the lab (as root, after `upgrader lab up`):

    .venv/bin/python bench/bench_soak.py            # 10 rolls, about half an hour
    .venv/bin/python bench/bench_soak.py --rolls 3

The rolls cycle through the three kinds an operator runs: the Keystone upgrade (N -> N+1),
a package patch, and back (N+1 -> N, `--force target_not_newer`), each `upgrader plan` +
`upgrader apply --yes` with the probe on. Per roll: the kind, the result, the wall time, the
probe's operations, failed operations (overall and inside the writer's window, the node the
plan takes last, where HAProxy moves the writes), the disconnects, lost writes, p99 during
the roll and every rejoin's transfer; then what the machine holds after it (processes, open
file descriptors, upgrader's playbook processes still running, disk used), so that a leak
shows as a column that grows. Then the totals.
Figures go to bench/results/soak.json and bench/results/soak.md. It is a benchmark, not a
test: it asserts nothing; a roll that does not end in success stops the soak (the lab is
left as the failed roll left it, for a look).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_roll import RESULTS, installed_releases, run_upgrader  # noqa: E402

from upgrader.executor import leftovers  # noqa: E402
from upgrader.lab.config import LabConfig  # noqa: E402


def machine_usage() -> dict:
    """What the machine holds now: every process and open fd (the lab's hosts included: their
    count comes back after each restart), the processes of the soak's playbook runs still
    running (executor/leftovers.py; ssh masters apart: ControlPersist keeps them 60 s), and
    the disk used."""
    processes = fds = 0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fds += len(os.listdir(entry / "fd"))
            processes += 1
        except OSError:
            continue
    used = shutil.disk_usage("/")
    return {"processes": processes, "open_fds": fds,
            "playbook_processes": len(leftovers.marked_pids(RESULTS / "runs")),
            "disk_used_mb": round((used.total - used.free) / 2**20)}


def roll_row(number: int, kind: str, report: dict) -> dict:
    probe, writer = report["probe"], report["order"][-1]
    in_writer = (probe.get("node_windows") or {}).get(writer, {})
    return {"roll": number, "kind": kind, "result": report["result"], "wall_s": report["bench_wall_s"],
            "operations": probe["operations"], "failed_operations": probe["failed_operations"],
            "failed_in_writer_window": in_writer.get("failed_operations"),
            "disconnects": probe["disconnects"], "lost_writes": probe["lost_writes"],
            "p99_during_ms": probe["during"]["p99_ms"],
            "windows_s": ", ".join(f"{n} {v['window_s']}" for n, v in report["nodes"].items()),
            "transfers": ", ".join(f"{n} {v['transfer']}" for n, v in report["nodes"].items()),
            "all_ist": all(v["transfer"] == "IST" for v in report["nodes"].values()),
            **machine_usage(), "errors": probe.get("errors", [])}


def totals(rows: list[dict]) -> dict:
    return {"rolls": len(rows), "succeeded": sum(r["result"] == "success" for r in rows),
            "failed_operations": sum(r["failed_operations"] for r in rows),
            "rolls_with_a_failed_operation": sum(r["failed_operations"] > 0 for r in rows),
            "failed_in_writer_windows": sum(r["failed_in_writer_window"] or 0 for r in rows),
            "lost_writes": sum(r["lost_writes"] or 0 for r in rows),
            "lost_writes_not_checked": sum(r["lost_writes"] is None for r in rows),
            "every_rejoin_ist": all(r["all_ist"] for r in rows),
            "playbook_processes_left": max(r["playbook_processes"] for r in rows),
            "processes_first_last": f"{rows[0]['processes']} -> {rows[-1]['processes']}",
            "open_fds_first_last": f"{rows[0]['open_fds']} -> {rows[-1]['open_fds']}",
            "disk_used_mb_first_last": f"{rows[0]['disk_used_mb']} -> {rows[-1]['disk_used_mb']}"}


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--rolls", type=int, default=10, help="patch rolls to run (default 10)")
    opts = args.parse_args()
    if opts.rolls < 1:
        raise SystemExit("--rolls: at least 1")
    RESULTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "UPGRADER_RUNS": str(RESULTS / "runs"), "UPGRADER_PLANS": str(RESULTS / "plans")}
    cfg = LabConfig.from_env()
    kinds = {"upgrade": dict(target=cfg.keystone_target),
             "patch": dict(target=None),
             "back": dict(target=cfg.keystone_installed, force=True)}
    if installed_releases(cfg.inventory_file) != {cfg.keystone_installed}:
        run_upgrader(env, cfg.keystone_installed, probe=False, force=True)     # start from N
    rows: list[dict] = []
    for number in range(1, opts.rolls + 1):
        kind = ("upgrade", "patch", "back")[(number - 1) % 3]
        try:
            report = run_upgrader(env, probe=True, **kinds[kind])
        except SystemExit as e:       # plan or apply exited non-zero: say so, keep what was measured
            print(f"roll {number} ({kind}): {e}", file=sys.stderr)
            break
        rows.append(roll_row(number, kind, report))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "errors"}), flush=True)
        if rows[-1]["result"] != "success":
            break
    if not rows:
        raise SystemExit("no roll finished: nothing to write")
    doc = {"rows": rows, "totals": totals(rows)}
    (RESULTS / "soak.json").write_text(json.dumps(doc, indent=2) + "\n")
    cols = [c for c in rows[0] if c != "errors"]
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    md += ["", "| total | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in doc["totals"].items()]
    errors = sorted({e for r in rows for e in r["errors"]})
    md += ["", "Errors the probe saw:" if errors else "The probe saw no error.", ""] + [f"- {e}" for e in errors]
    (RESULTS / "soak.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
