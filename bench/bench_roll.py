"""Benchmark: `upgrader apply` against the naive serial play, both under the same probe.

Run on the lab (as root, after `upgrader lab up`):

    .venv/bin/python bench/bench_roll.py

It (a) upgrades Keystone 28.1.0 -> 29.1.0 with `upgrader plan` + `upgrader apply`,
resets the nodes to 28.1.0 without measuring, then (b) runs bench/naive_roll.yml
(stop, upgrade, start, node by node; no drains, no IST checks) under an identical
probe. Figures go to bench/results/roll.json and bench/results/roll.md.
It is a benchmark, not a test: it asserts nothing and takes about ten minutes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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


def run_upgrader(env: dict, target: str, probe: bool, force: bool = False) -> dict:
    args = ["plan", "--target", f"keystone={target}"] + (["--force", "target_not_newer"] if force else [])
    sh(UPGRADER, *args, env=env)
    report = RESULTS / f"roll-upgrader-{target}.json"
    started = time.monotonic()
    sh(UPGRADER, "apply", "--yes", "--report", str(report), "--probe" if probe else "--no-probe",
       "--baseline", str(BASELINE_S), env=env)
    data = json.loads(report.read_text())
    data["bench_wall_s"] = round(time.monotonic() - started - (BASELINE_S if probe else 0), 1)
    return data


def run_naive(inventory: Path, target: str) -> dict:
    cluster = load_cluster(inventory)
    probe = start_probe(cluster, load_secrets(cluster), f"bench-naive-{int(time.time())}",
                        ProbeOptions(enabled=True, baseline_s=BASELINE_S), say=print)
    started = time.time()
    cp = sh(str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(inventory), "bench/naive_roll.yml",
            "-e", f"keystone_target_release={target}", check=False)
    wall = time.time() - started
    summary = probe.stop({"roll": (started, started + wall)})
    return {"bench_wall_s": round(wall, 1), "rc": cp.returncode, "probe": summary}


def installed_releases(cfg: LabConfig) -> set[str]:
    from upgrader.lab.sh import ssh

    return {ssh(cfg, n, ". /etc/default/keystone; echo ${KEYSTONE_VENV##*-}").stdout.strip()
            for n in cfg.nodes}


def row(name: str, wall: float, probe: dict, transfers: str) -> dict:
    base, during = probe["baseline"], probe["during"]
    ratio = (during["p99_ms"] / base["p99_ms"]) if base["p99_ms"] and during["p99_ms"] else None
    return {"tool": name, "wall_s": wall, "operations": probe["operations"],
            "failed_operations": probe["failed_operations"], "disconnects": probe["disconnects"],
            "p99_baseline_ms": base["p99_ms"], "p99_during_ms": during["p99_ms"],
            "p99_degradation": round(ratio, 2) if ratio else None, "lost_writes": probe["lost_writes"],
            "rejoins": transfers}


def overhead(report: dict) -> dict:
    """Per node: window and step durations; what is irreducible vs orchestration."""
    out = {}
    for name, node in report["nodes"].items():
        steps = node["steps"]
        core = {k: steps.get(k, 0) for k in ("stop_services", "rejoin_galera", "verify_node",
                                              "revive_rabbitmq")}
        out[name] = {"window_s": node["window_s"], "steps": steps,
                     "service_restart_steps_s": round(sum(core.values()), 1),
                     "drain_undrain_and_checks_s": round(sum(steps.values()) - sum(core.values()), 1)}
    return out


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    cfg = LabConfig.from_env()
    env = {**os.environ, "UPGRADER_RUNS": str(RESULTS / "runs"), "UPGRADER_PLANS": str(RESULTS / "plans")}
    if installed_releases(cfg) != {cfg.keystone_installed}:
        run_upgrader(env, cfg.keystone_installed, probe=False, force=True)    # start from N
    upgraded = run_upgrader(env, cfg.keystone_target, probe=True)
    run_upgrader(env, cfg.keystone_installed, probe=False, force=True)        # reset, not measured
    naive = run_naive(cfg.inventory_file, cfg.keystone_target)
    run_upgrader(env, cfg.keystone_installed, probe=False, force=True)        # leave the lab as found
    transfers = ", ".join(f"{n} {v['transfer']}" for n, v in upgraded["nodes"].items())
    rows = [row("upgrader apply", upgraded["bench_wall_s"], upgraded["probe"], transfers),
            row("naive serial play", naive["bench_wall_s"], naive["probe"], "not checked")]
    doc = {"rows": rows, "upgrader_nodes": overhead(upgraded), "naive_rc": naive["rc"],
           "wall_ratio": round(rows[0]["wall_s"] / rows[1]["wall_s"], 2) if rows[1]["wall_s"] else None}
    (RESULTS / "roll.json").write_text(json.dumps(doc, indent=2) + "\n")
    cols = list(rows[0])
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    md += ["", f"wall time ratio upgrader/naive: {doc['wall_ratio']}", "",
           "| node | window s | service restart steps s | drains, checks, orchestration s |",
           "|---|---|---|---|"]
    md += [f"| {n} | {v['window_s']} | {v['service_restart_steps_s']} | {v['drain_undrain_and_checks_s']} |"
           for n, v in doc["upgrader_nodes"].items()]
    (RESULTS / "roll.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
