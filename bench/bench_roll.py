"""Benchmark: `upgrader apply` against the naive serial play, both under the same probe.

Run on the lab (as root, after `upgrader lab up`):

    .venv/bin/python bench/bench_roll.py            # the Keystone upgrade
    .venv/bin/python bench/bench_roll.py --patch    # the patch roll (restart every service)

Upgrade: (a) Keystone 28.1.0 -> 29.1.0 with `upgrader plan` + `upgrader apply`, the
nodes reset to 28.1.0 without measuring, then (b) bench/naive_roll.yml (stop, upgrade,
start, node by node; no drains, no IST checks). Patch: (a) `upgrader plan --patch` +
`upgrader apply`, then (b) bench/naive_patch.yml (restart MariaDB, wait for Synced,
restart RabbitMQ, node by node). Both under an identical probe. Figures go to
bench/results/{roll,patch}.json and .md.
It is a benchmark, not a test: it asserts nothing and takes about ten minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from upgrader.executor.runner import HOLD_TASK_PREFIX, STEP_MARKER  # noqa: E402
from upgrader.executor.session import ProbeOptions, start_probe  # noqa: E402
from upgrader.inventory import load_cluster, load_secrets  # noqa: E402
from upgrader.lab.config import LabConfig  # noqa: E402

RESULTS = ROOT / "bench" / "results"
UPGRADER = str(ROOT / ".venv" / "bin" / "upgrader")
BASELINE_S = 10.0


def sh(*argv: str, env=None, check=True) -> subprocess.CompletedProcess:
    cp = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, stdin=subprocess.DEVNULL)
    if check and cp.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed ({cp.returncode}): {cp.stderr.strip()[-400:]}")
    return cp


def run_upgrader(env: dict, target: str | None, probe: bool, force: bool = False) -> dict:
    """One plan and apply: to a Keystone release, or a patch roll when target is None."""
    args = (["plan", "--patch"] if target is None else
            ["plan", "--target", f"keystone={target}"] + (["--force", "target_not_newer"] if force else []))
    sh(UPGRADER, *args, env=env)
    report = RESULTS / f"roll-upgrader-{target or 'patch'}.json"
    started = time.time()
    sh(UPGRADER, "apply", "--yes", "--report", str(report), "--probe" if probe else "--no-probe",
       "--baseline", str(BASELINE_S), env=env)
    data = json.loads(report.read_text())
    # NOTE: from the command's start to the roll's last step, less the probe's baseline:
    # start-up, the drift check and every step count; the probe's closing lost-writes
    # check does not (nor does it for the naive play, timed around ansible-playbook).
    finished = datetime.fromisoformat(data["finished_at"]).timestamp()
    data["bench_wall_s"] = round(finished - started - (BASELINE_S if probe else 0), 1)
    return data


def run_naive(inventory: Path, playbook: str, target: str) -> dict:
    cluster = load_cluster(inventory)
    probe = start_probe(cluster, load_secrets(cluster), f"bench-naive-{int(time.time())}",
                        ProbeOptions(enabled=True, baseline_s=BASELINE_S), say=print)
    started = time.time()
    cp = sh(str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(inventory), playbook,
            "-e", f"keystone_target_release={target}", check=False)
    wall = time.time() - started
    summary = probe.stop({"roll": (started, started + wall)})
    return {"bench_wall_s": round(wall, 1), "rc": cp.returncode, "probe": summary}


def installed_releases(inventory: Path) -> set[str]:
    """The Keystone release each node is set to run, as `upgrader facts` reads it."""
    from upgrader.facts.host import collect, parse_versions

    return {parse_versions(collect(n)[0]).get("keystone", "") for n in load_cluster(inventory).nodes}


def row(name: str, wall: float, probe: dict, transfers: str) -> dict:
    base, during = probe["baseline"], probe["during"]
    ratio = (during["p99_ms"] / base["p99_ms"]) if base["p99_ms"] and during["p99_ms"] else None
    keystone = probe.get("by_kind", {}).get("keystone", {})
    k_base, k_during = (keystone.get("baseline") or {}), (keystone.get("during") or {})
    return {"tool": name, "wall_s": wall, "operations": probe["operations"],
            "failed_operations": probe["failed_operations"], "disconnects": probe["disconnects"],
            "p50_baseline_ms": base["p50_ms"], "p50_during_ms": during["p50_ms"],
            "p99_baseline_ms": base["p99_ms"], "p99_during_ms": during["p99_ms"],
            "p99_degradation": round(ratio, 2) if ratio else None,
            "keystone_p99_baseline_ms": k_base.get("p99_ms"), "keystone_p99_during_ms": k_during.get("p99_ms"),
            "lost_writes": probe["lost_writes"], "rejoins": transfers}


SERVICE_STEPS = ("stop_services", "rejoin_galera", "verify_node", "revive_rabbitmq")


def playbook_span_s(artifacts: Path, ident: str) -> tuple[float, float]:
    """One run's first step's start to its last event (its steps' plays and tasks, without
    process start-up), and the time before that first step (start-up, the warm-up play that
    opens the connections, the health gate's hold: outside the node's window)."""
    timed = sorted(((datetime.fromisoformat(e["created"]).timestamp(), e) for e in
                    (json.loads(f.read_text()) for f in (artifacts / ident / "job_events").glob("*.json"))),
                   key=lambda te: te[0])
    if len(timed) < 2:
        return 0.0, 0.0
    data = [(t, e.get("event"), e.get("event_data", {})) for t, e in timed]
    marker = next((t for t, kind, d in data if kind == "playbook_on_play_start"
                   and str(d.get("play", "")).startswith(STEP_MARKER)), None)
    # the hold of the first step (the health gate) ends where the step's own work begins
    gate = next((t for t, kind, d in data if marker is not None and t >= marker and kind == "runner_on_ok"
                 and str(d.get("task", "")).startswith(HOLD_TASK_PREFIX)), None)
    first_step = gate or marker or data[0][0]
    return data[-1][0] - first_step, first_step - data[0][0]


def overhead(report: dict, runs: Path) -> dict:
    """Per node: its window split into step work and orchestration overhead.

    - service_restart_steps_s: the steps that stop, start and wait for the services;
    - other_steps_s: drains, desync, upgrade, resync, undrain (HAProxy, SQL, CLI calls);
    - ansible_startup_s: within all the steps, the time after the last event of each
      playbook run (ansible-playbook's exit; one run carries a node's whole window, see
      upgrader/machine.py HOLD_BEFORE);
    - before_window_s: each run's time before its first step: start-up, the warm-up play
      that opens the connections and the health gate's hold (outside the window);
    - between_steps_s: window less the steps (journal fsyncs, uptime gate, state machine).
    """
    run_dir = runs / report["run_id"]
    artifacts = run_dir / "ansible" / "artifacts"
    ident_of = {(r.get("node"), r.get("step")): r.get("artifact_id")
                for r in map(json.loads, (run_dir / "journal.jsonl").read_text().splitlines())
                if r.get("type") == "step_finished" and r.get("ok")}
    out = {}
    for name, node in report["nodes"].items():
        steps = node["steps"]
        by_run: dict[str, float] = {}
        for step, seconds in steps.items():
            ident = ident_of.get((name, step))
            if ident:
                by_run[ident] = by_run.get(ident, 0.0) + seconds
        spans = {ident: playbook_span_s(artifacts, ident) for ident in by_run}
        startup = {ident: round(total - spans[ident][0], 2) for ident, total in by_run.items()}
        service = sum(steps.get(k, 0) for k in SERVICE_STEPS)
        out[name] = {"window_s": node["window_s"], "steps": steps, "playbook_runs": len(by_run),
                     # NOTE: the overhead: the window less stopping and starting the
                     # services, the IST and the brokers' boot (the service restart steps)
                     "overhead_s": round(max(0.0, node["window_s"] - service), 1),
                     "ansible_startup_by_run": startup,
                     "service_restart_steps_s": round(service, 1),
                     "other_steps_s": round(sum(steps.values()) - service, 1),
                     "ansible_startup_s": round(sum(startup.values()), 1),
                     "before_window_s": round(sum(before for _, before in spans.values()), 1),
                     "between_steps_s": round(max(0.0, node["window_s"] - sum(steps.values())), 1)}
    return out


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--patch", action="store_true", help="the patch roll instead of the upgrade")
    opts = args.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    cfg = LabConfig.from_env()
    env = {**os.environ, "UPGRADER_RUNS": str(RESULTS / "runs"), "UPGRADER_PLANS": str(RESULTS / "plans")}
    name = "patch" if opts.patch else "roll"
    if opts.patch:
        upgraded = run_upgrader(env, None, probe=True)
        naive = run_naive(cfg.inventory_file, "bench/naive_patch.yml", cfg.keystone_target)
    else:
        if installed_releases(cfg.inventory_file) != {cfg.keystone_installed}:
            run_upgrader(env, cfg.keystone_installed, probe=False, force=True)    # start from N
        upgraded = run_upgrader(env, cfg.keystone_target, probe=True)
        run_upgrader(env, cfg.keystone_installed, probe=False, force=True)        # reset, not measured
        naive = run_naive(cfg.inventory_file, "bench/naive_roll.yml", cfg.keystone_target)
        run_upgrader(env, cfg.keystone_installed, probe=False, force=True)        # leave the lab as found
    transfers = ", ".join(f"{n} {v['transfer']}" for n, v in upgraded["nodes"].items())
    rows = [row("upgrader apply", upgraded["bench_wall_s"], upgraded["probe"], transfers),
            row("naive serial play", naive["bench_wall_s"], naive["probe"], "not checked")]
    doc = {"rows": rows, "upgrader_nodes": overhead(upgraded, RESULTS / "runs"), "naive_rc": naive["rc"],
           "wall_ratio": round(rows[0]["wall_s"] / rows[1]["wall_s"], 2) if rows[1]["wall_s"] else None}
    (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    cols = list(rows[0])
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    md += ["", f"wall time ratio upgrader/naive: {doc['wall_ratio']}", "",
           "| node | window s | service restart steps s | overhead s | other steps s | playbook runs "
           "| Ansible exit s (all runs) | between steps s | before the window s (start-up, warm-up, gate) |",
           "|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {n} | {v['window_s']} | {v['service_restart_steps_s']} | {v['overhead_s']} "
           f"| {v['other_steps_s']} "
           f"| {v['playbook_runs']} | {v['ansible_startup_s']} | {v['between_steps_s']} "
           f"| {v['before_window_s']} |"
           for n, v in doc["upgrader_nodes"].items()]
    md += ["", "Step durations, s:", "",
           "| step | " + " | ".join(doc["upgrader_nodes"]) + " |",
           "|---|" + "---|" * len(doc["upgrader_nodes"])]
    for step in next(iter(doc["upgrader_nodes"].values()))["steps"]:
        md.append(f"| {step} | " + " | ".join(str(v["steps"].get(step, 0))
                                            for v in doc["upgrader_nodes"].values()) + " |")
    (RESULTS / f"{name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
