"""Views of a plan: the JSON shape other tools read, and the table people read."""
from __future__ import annotations

import json
from dataclasses import replace

from rich.console import Console

from planner_fixtures import CREATED_AT, MIB, cluster, lab_rate, with_all_galera, with_galera
from upgrader.planner import NODE_STEPS, PlanOptions, build_plan, plan_json, plan_table

KEYSTONE_UP = PlanOptions(targets={"keystone": "29.1.0"})


def _render(plan) -> str:
    console = Console(record=True, width=220, color_system=None)
    console.print(plan_table(plan))
    return console.export_text()


def test_plan_json_shape():
    plan = build_plan(cluster(), KEYSTONE_UP, created_at=CREATED_AT)
    data = plan_json(plan)
    assert {"order", "refusals", "nodes", "plan_hash", "plan_id", "warnings", "kind"} <= data.keys()
    assert data["order"] == ["node2", "node3", "node1"] and data["refusals"] == [] and data["safe"]
    node2 = data["nodes"]["node2"]
    assert node2["steps"] == list(NODE_STEPS)
    assert node2["estimates"]["upgrade"] == 5.0
    assert (node2["ist_feasible"], node2["donor"]) == (True, "node1")
    assert data["estimate_s"] == 3 * 45.0 + 10 + 10 + 5
    json.dumps(data)  # serialisable as is


def test_table_lists_nodes_in_order_with_reasons():
    text = _render(build_plan(cluster(), KEYSTONE_UP, created_at=CREATED_AT))
    rows = [line for line in text.splitlines() if " node" in line and "│" in line]
    assert [row.split("│")[2].strip() for row in rows] == ["node2", "node3", "node1"]
    assert "HAProxy's active MySQL writer: last so writes move once" in text
    assert "before: keystone_expand" in text and "after: rabbitmq_feature_flags" in text


def test_table_shows_refusals_and_warnings_one_per_line():
    facts = with_galera(with_all_galera(cluster(), gcache_size_bytes=2 * MIB), "node1",
                        local_state_comment="Donor/Desynced")
    facts = replace(facts, write_rate=lab_rate(seqno_per_s=300.0, bytes_per_writeset=4096.0))
    text = _render(build_plan(facts, KEYSTONE_UP, created_at=CREATED_AT))
    assert "refused: node1: wsrep_local_state_comment is Donor/Desynced, not Synced" in text
    assert "warning: node2: SST risk:" in text
    assert "SST risk" in text.split("refused:")[0]  # and in the table's rejoin column
