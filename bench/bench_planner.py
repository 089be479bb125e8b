"""Benchmark: build_plan over a synthetic multi-region fleet of ~1,000 control-plane nodes.

The multi-region case: 12 regions, each with 16 three-node and 7 five-node control
planes (276 clusters, 996 nodes). Facts vary per cluster (write load, gcache sizes,
writer placement, the odd desynced node or mixed start version) so every planner path
runs: refusals, SST-risk warnings, ordering, hashing and fingerprinting.

Run:  .venv/bin/python bench/bench_planner.py
Writes bench/results/planner.json and bench/results/planner.md. Target: < 1 s for the fleet.
"""
from __future__ import annotations

import json
import platform
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from upgrader.model import ClusterFacts, GaleraFacts, HaproxyServer, NodeFacts, RabbitFacts, WriteRate
from upgrader.planner import PlanOptions, build_plan

REGIONS = 12
SHAPES = (3,) * 16 + (5,) * 7        # cluster sizes in one region
RUNS = 5
TARGET_S = 1.0
SEED = 20261126
MIB = 1024 * 1024
CREATED_AT = "2026-11-26T06:15:00Z"
VERSIONS = {"mariadb": "10.11.19", "rabbitmq": "3.10.8", "keystone": "28.1.0"}
OPTIONS = PlanOptions(targets={"keystone": "29.1.0", "mariadb": "10.11.20"})
RESULTS = Path(__file__).resolve().parent / "results"


def _galera(size: int, addresses: list[str], gcache: int, rng: random.Random) -> GaleraFacts:
    seqno = rng.randrange(10_000, 50_000_000)
    return GaleraFacts(
        reachable=True, local_state=4, local_state_comment="Synced", cluster_size=size,
        cluster_status="Primary", cluster_state_uuid=f"{rng.getrandbits(128):032x}",
        last_committed=seqno, local_cached_downto=max(seqno - rng.randrange(1_000, 900_000), 1),
        gcache_size_bytes=gcache, ready=True, connected=True,
        incoming_addresses=tuple(f"{a}:3306" for a in addresses), version="10.11.19-MariaDB-0+deb12u1",
        grastate_safe_to_bootstrap=False,
    )


def _node(name: str, addr: str, names: list[str], galera: GaleraFacts) -> NodeFacts:
    members = tuple(f"rabbit@{n}" for n in names)
    rabbit = RabbitFacts(reachable=True, node_name=f"rabbit@{name}", running=True,
                         running_nodes=members, disk_nodes=members, version=VERSIONS["rabbitmq"])
    return NodeFacts(name=name, address=addr, galera=galera, rabbitmq=rabbit, versions=dict(VERSIONS))


def _haproxy(names: list[str], writer: str) -> tuple[HaproxyServer, ...]:
    db = [HaproxyServer("mariadb", n, "UP", backup=n != writer, active=n == writer) for n in names]
    api = [HaproxyServer("keystone", n, "UP") for n in names]
    return tuple(db + api)


def _cluster(region: int, index: int, size: int, rng: random.Random) -> ClusterFacts:
    names = [f"r{region:02d}c{index:02d}n{i}" for i in range(1, size + 1)]
    addresses = [f"10.{region}.{index}.{10 + i}" for i in range(1, size + 1)]
    gcache = rng.choice((128, 256, 1024, 2048)) * MIB
    uuid = _galera(size, addresses, gcache, rng).cluster_state_uuid
    nodes = [_node(n, a, names, replace(_galera(size, addresses, gcache, rng), cluster_state_uuid=uuid))
             for n, a in zip(names, addresses)]
    nodes = _perturb(nodes, rng)
    # Log-uniform 0.5..2000 write-sets/s: mostly quiet clouds, a few busy enough to risk SST.
    rate = WriteRate(window_s=30.0, seqno_per_s=10 ** rng.uniform(-0.3, 3.3),
                     bytes_per_writeset=rng.uniform(300.0, 8192.0))
    return ClusterFacts(cluster=f"region{region:02d}-cp{index:02d}", gathered_at=CREATED_AT,
                        nodes=tuple(nodes), haproxy=_haproxy(names, rng.choice(names)),
                        write_rate=rate, inventory_hosts=tuple(names))


def _perturb(nodes: list[NodeFacts], rng: random.Random) -> list[NodeFacts]:
    """About 1 cluster in 20 has a desynced node, 1 in 20 a node on an older keystone."""
    roll = rng.random()
    victim = rng.randrange(len(nodes))
    if roll < 0.05:
        g = replace(nodes[victim].galera, local_state_comment="Donor/Desynced", desync=True)
        nodes[victim] = replace(nodes[victim], galera=g)
    elif roll < 0.10:
        nodes[victim] = replace(nodes[victim], versions={**VERSIONS, "keystone": "28.0.0"})
    return nodes


def fleet() -> list[ClusterFacts]:
    rng = random.Random(SEED)
    return [_cluster(r, i, size, rng) for r in range(1, REGIONS + 1) for i, size in enumerate(SHAPES, 1)]


def _time_once(clusters: list[ClusterFacts]) -> tuple[float, list]:
    start = time.perf_counter()
    plans = [build_plan(facts, OPTIONS, created_at=CREATED_AT) for facts in clusters]
    return time.perf_counter() - start, plans


def measure() -> dict:
    clusters = fleet()
    timings, plans = [], []
    for _ in range(RUNS):
        elapsed, plans = _time_once(clusters)
        timings.append(elapsed)
    nodes = sum(len(c.nodes) for c in clusters)
    best = min(timings)
    return {
        "benchmark": "build_plan over a multi-region fleet",
        "regions": REGIONS, "clusters": len(clusters), "nodes": nodes,
        "cluster_shapes": {"3": SHAPES.count(3) * REGIONS, "5": SHAPES.count(5) * REGIONS},
        "runs": RUNS, "best_s": round(best, 4), "median_s": round(statistics.median(timings), 4),
        "per_cluster_ms": round(best / len(clusters) * 1000, 3),
        "per_node_us": round(best / nodes * 1e6, 1),
        "target_s": TARGET_S, "within_target": best < TARGET_S,
        "refused_clusters": sum(1 for p in plans if p.refusals),
        "sst_risk_nodes": sum(1 for p in plans for n in p.nodes if not n.ist_feasible),
        "python": platform.python_version(), "machine": platform.machine(),
        "measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def markdown(r: dict) -> str:
    rows = [("fleet", f"{r['regions']} regions, {r['clusters']} clusters "
                      f"({r['cluster_shapes']['3']}x3 + {r['cluster_shapes']['5']}x5 nodes), {r['nodes']} nodes"),
            ("best of 5", f"{r['best_s']:.4f} s (median {r['median_s']:.4f} s)"),
            ("per cluster", f"{r['per_cluster_ms']:.3f} ms"), ("per node", f"{r['per_node_us']:.1f} µs"),
            ("target", f"< {r['target_s']:.0f} s: {'met' if r['within_target'] else 'MISSED'}"),
            ("plans refused / SST-risk nodes", f"{r['refused_clusters']} / {r['sst_risk_nodes']}"),
            ("python / machine", f"{r['python']} / {r['machine']}"), ("measured at", r["measured_at"])]
    lines = ["# build_plan benchmark", "", "| measure | value |", "|---|---|"]
    return "\n".join(lines + [f"| {k} | {v} |" for k, v in rows]) + "\n"


def main() -> int:
    result = measure()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "planner.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "planner.md").write_text(markdown(result))
    print(markdown(result))
    return 0 if result["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
