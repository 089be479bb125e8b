"""Pure builders of the live snapshots: probe figures, sparkline, and health entries."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from upgrader.facts.galera import parse_wsrep, unreachable
from upgrader.facts.haproxy import parse_stat
from upgrader.live.figures import (galera_entry, haproxy_entry, probe_figures, rabbit_entry,
                                   sparkline_series)
from upgrader.probe.record import Sample

FACTS = Path(__file__).parent / "fixtures" / "facts"


def fixture(source: str, case: str) -> dict:
    return json.loads((FACTS / source / f"{case}.json").read_text())


def test_probe_figures_count_the_roll_against_the_budget_and_compare_with_the_baseline():
    base = [Sample("keystone", 100 + i, True, 10.0) for i in range(10)]               # before t=110
    during = [Sample("mariadb", 110 + i, i != 5, 20.0 + i, disconnects=int(i == 5),
                     error="OperationalError: lost" if i == 5 else "") for i in range(10)]
    fig = probe_figures(base + during, baseline_end=110, now=120, budget=0)
    assert (fig["operations"], fig["failed"], fig["budget"], fig["disconnects"]) == (10, 1, 0, 1)
    assert fig["baseline"] == {"operations": 10, "p50_ms": 10.0, "p99_ms": 10.0}
    assert fig["now"]["p99_ms"] == 29.0 and fig["baseline_done"]
    assert fig["last_error"] == "mariadb: OperationalError: lost"


def test_before_the_baseline_ends_every_sample_counts_as_the_roll_and_nothing_as_baseline():
    fig = probe_figures([Sample("keystone", 1, True, 5.0)], baseline_end=0.0, now=2)
    assert fig["operations"] == 1 and fig["baseline"]["operations"] == 0 and not fig["baseline_done"]


def test_the_sparkline_keeps_the_slowest_operation_of_each_bucket():
    samples = [Sample("k", 100.5, True, 10.0), Sample("k", 101.0, True, 1800.0),   # bucket 0
               Sample("k", 104.2, False, 5000.0)]                                 # bucket 2: a failure
    series = sparkline_series(samples, now=106, step_s=2, bars=3)
    assert series == [1800.0, None, 5000.0]
    assert sparkline_series([Sample("k", 10, True, 1.0)], now=106, step_s=2, bars=3) == [None] * 3


def test_galera_entry_from_recorded_rows():
    out = fixture("galera", "node2_desynced")["output"]
    entry = galera_entry(parse_wsrep(out["status"], out["variables"]))
    assert entry == {"reachable": True, "state": "Donor/Desynced", "cluster_size": 3,
                     "cluster_status": "Primary", "ready": True, "desync": True}
    assert galera_entry(unreachable("MariaDB at 10.123.0.12: refused")) == {
        "reachable": False, "error": "MariaDB at 10.123.0.12: refused"}


def test_haproxy_entry_groups_servers_by_backend_and_marks_the_writer():
    servers = parse_stat(fixture("haproxy", "keystone_node2_maint")["output"],
                         backends=("mariadb", "keystone"))
    entry = haproxy_entry(servers)
    assert entry["keystone"]["node2"]["status"] == "MAINT"
    assert [n for n, s in entry["mariadb"].items() if s["active"]] == ["node1"]


@pytest.mark.parametrize("case,maintenance,running", [
    ("node2_under_maintenance", ["rabbit@node2"], 3),   # 3.10 colours 'marked for maintenance'
    ("node2_running", [], 3),
])
def test_rabbit_entry_from_recorded_cluster_status(case, maintenance, running):
    entry = rabbit_entry(fixture("rabbitmq", case)["output"]["cluster_status"], "rabbit@node1")
    assert entry["maintenance"] == maintenance and len(entry["running"]) == running
    assert entry["members"] == ["rabbit@node1", "rabbit@node2", "rabbit@node3"] and not entry["error"]


@pytest.mark.parametrize("text", ["", "Error: unable to perform an operation on node", "[1]"],
                         ids=["no-output", "not-json", "not-an-object"])
def test_rabbit_entry_without_an_answer_says_so(text):
    entry = rabbit_entry(text, "rabbit@node2")
    assert entry["error"].startswith("rabbit@node2: no cluster status") and "members" not in entry
