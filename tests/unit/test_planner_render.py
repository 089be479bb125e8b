"""Views of a plan: the JSON shape other tools read, and the table people read."""
from __future__ import annotations

import json
from dataclasses import replace

from rich.console import Console

from package_fixtures import M18, M19, S19, S22, openssl, packaged, with_packages, without_package
from planner_fixtures import CREATED_AT, MIB, cluster, lab_rate, with_all_galera, with_galera
from upgrader.planner import NODE_STEPS, PlanOptions, build_plan, plan_json, plan_table
from upgrader.planner.render import package_lines

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
    assert data["estimate_s"] == 3 * 45.0 + 10 + 10   # nodes, expand, contract
    json.dumps(data)  # serialisable as is


def test_table_lists_nodes_in_order_with_reasons():
    text = _render(build_plan(cluster(), KEYSTONE_UP, created_at=CREATED_AT))
    rows = [line for line in text.splitlines() if " node" in line and "│" in line]
    assert [row.split("│")[2].strip() for row in rows] == ["node2", "node3", "node1"]
    assert "HAProxy's active MySQL writer: last so writes move once" in text
    assert "before: keystone_expand" in text and "after: keystone_contract" in text


def test_table_shows_refusals_and_warnings_one_per_line():
    facts = with_galera(with_all_galera(cluster(), gcache_size_bytes=2 * MIB), "node1",
                        local_state_comment="Donor/Desynced")
    facts = replace(facts, write_rate=lab_rate(seqno_per_s=300.0, bytes_per_writeset=4096.0))
    text = _render(build_plan(facts, KEYSTONE_UP, created_at=CREATED_AT))
    assert "refused: node1: wsrep_local_state_comment is Donor/Desynced, not Synced" in text
    assert "warning: node2: SST risk:" in text
    assert "SST risk" in text.split("refused:")[0]  # and in the table's rejoin column


# ------------------------------------------------------------------ package changes


def _package_plan(facts, targets):
    return build_plan(facts, PlanOptions(package_targets=targets), created_at=CREATED_AT)


def test_package_lines_per_node_with_restarts_and_at_target():
    facts = with_packages(packaged(), "node3", openssl=openssl(S22))
    lines = package_lines(_package_plan(facts, {"libssl3": "security"}))
    assert lines == [
        "package targets: libssl3=security",
        "node2: 2 packages",
        f"  libssl3  {S19} -> {S22}",
        f"  openssl  {S19} -> {S22}",
        "  then restart keystone, mariadb, rabbitmq-server, ssh (reload)",
        "node3: already at the target",
        "node1: 2 packages",
        f"  libssl3  {S19} -> {S22}",
        f"  openssl  {S19} -> {S22}",
        "  then restart keystone, mariadb, rabbitmq-server, ssh (reload)",
    ]


def test_package_lines_fit_80_columns_and_show_in_the_table():
    plan = _package_plan(packaged(), {"mariadb-server": M19, "libssl3": "security"})
    lines = package_lines(plan)
    assert len(lines) == 1 + 3 * 16 and max(map(len, lines)) <= 80
    assert f"  mariadb-plugin-provider-snappy  {M18} -> {M19}" in lines
    console = Console(record=True, width=80, color_system=None)
    console.print(plan_table(plan))
    text = console.export_text()
    assert "node2: 14 packages\n" in text
    assert "  then restart keystone, mariadb, rabbitmq-server, ssh (reload)\n" in text


def test_refused_node_is_not_shown_as_at_target():
    facts = without_package(packaged(), "node2", "libssl3")
    lines = package_lines(_package_plan(facts, {"libssl3": "security"}))
    assert "node2: refused, see below" in lines


def test_no_package_section_without_package_targets():
    assert package_lines(build_plan(cluster(), KEYSTONE_UP, created_at=CREATED_AT)) == []


def test_plan_json_carries_the_package_changes():
    data = plan_json(_package_plan(packaged(), {"libssl3": "security"}))
    assert (data["package_targets"], data["mariadb_upgrade"], data["packages"]) == ({"libssl3": "security"}, False, [])
    node2 = data["nodes"]["node2"]
    assert node2["package_changes"] == [
        {"name": "libssl3", "from_version": S19, "to_version": S22},
        {"name": "openssl", "from_version": S19, "to_version": S22},
    ]
    assert node2["restarts"] == ["keystone", "mariadb", "rabbitmq-server", "ssh"]
    json.dumps(data)


def test_a_major_change_plan_says_mariadb_upgrade_would_run():
    from package_fixtures import M11_4, mariadb

    plan = _package_plan(packaged(mariadb=mariadb(M18, (M11_4, M18))), {"mariadb-server": M11_4})
    assert package_lines(plan)[-1] == "mariadb-upgrade runs on each node once its server has started"
    assert "refused: node2: mariadb-server" in _render(plan)
