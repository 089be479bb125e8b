"""`upgrader plan` against the live lab: writer last, refusal on a desynced node (SST risk: molecule/sst_risk)."""
import contextlib
import json
import os
import subprocess

import pymysql
import pytest

from upgrader.facts import haproxy

pytestmark = pytest.mark.lab
UPGRADER = os.path.abspath(".venv/bin/upgrader")


def plan_json(tmp_path, *args):
    env = {**os.environ, "UPGRADER_PLANS": str(tmp_path / "plans")}
    cp = subprocess.run([UPGRADER, "plan", "--json", *args], capture_output=True, text=True,
                        env=env, timeout=120)
    return cp, (json.loads(cp.stdout) if cp.stdout.strip().startswith("{") else None)


def db(lab, secrets, host):
    return pymysql.connect(host=host, user="upgrader", password=secrets.mariadb_upgrader_password,
                           connect_timeout=5, autocommit=True)


@contextlib.contextmanager
def haproxy_weight(lab, server, weight):
    sock = str(lab.haproxy_socket)
    haproxy.command(sock, f"set weight mariadb/{server} {weight}")
    try:
        yield
    finally:
        haproxy.command(sock, f"set weight mariadb/{server} 1")


def test_plan_orders_the_haproxy_writer_last(lab, lab_secrets, tmp_path):
    cp, plan = plan_json(tmp_path)
    assert cp.returncode == 0, cp.stderr
    assert plan["order"][-1] == "node1" and plan["refusals"] == []
    with haproxy_weight(lab, "node1", 0):
        # a new client connection through the VIP now really lands on node2
        conn = db(lab, lab_secrets, lab.vip)
        with conn.cursor() as cur:
            cur.execute("SELECT @@wsrep_node_name")
            assert cur.fetchone()[0] == "node2"
        conn.close()
        cp, plan = plan_json(tmp_path)
    assert cp.returncode == 0, cp.stderr
    assert plan["order"][-1] == "node2"
    assert "writer" in plan["nodes"]["node2"]["reason"]
    assert len(list((tmp_path / "plans").glob("*.json"))) == 2


def test_plan_is_refused_naming_a_desynced_node(lab, lab_secrets, tmp_path):
    conn = db(lab, lab_secrets, lab.nodes[0].address)
    try:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL wsrep_desync = ON")
        cp, plan = plan_json(tmp_path)
    finally:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL wsrep_desync = OFF")
        conn.close()
    assert cp.returncode == 2
    assert any(r.startswith("node1:") and "Desynced" in r for r in plan["refusals"]), plan["refusals"]
    assert not list((tmp_path / "plans").glob("*.json"))      # no partial plan file


def test_plan_from_a_facts_file_needs_no_cluster(lab, tmp_path):
    facts = tmp_path / "facts.json"
    cp = subprocess.run([UPGRADER, "facts", "--out", str(facts)], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    env = {**os.environ, "UPGRADER_PLANS": str(tmp_path / "plans"),
           "UPGRADER_INVENTORY": "/nonexistent/inventory.ini"}
    cp = subprocess.run([UPGRADER, "plan", "--facts", str(facts), "--json"], capture_output=True,
                        text=True, env=env)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["order"] == ["node2", "node3", "node1"]


def test_wrong_credentials_give_one_line_and_no_plan(lab, tmp_path):
    secrets = tmp_path / "secrets.yml"
    secrets.write_text('mariadb_upgrader_password: "Not-The-Pa55word"\n')
    inv = tmp_path / "inventory.ini"
    inv.write_text(lab.inventory_file.read_text().replace(str(lab.secrets_file), str(secrets)))
    env = {**os.environ, "UPGRADER_PLANS": str(tmp_path / "plans")}
    cp = subprocess.run([UPGRADER, "plan", "-i", str(inv)], capture_output=True, text=True, env=env)
    text = " ".join((cp.stdout + cp.stderr).split())   # rich wraps long lines at 80 columns
    assert cp.returncode == 2
    assert "Access denied" in text and "Traceback" not in text
    assert "Not-The-Pa55word" not in text      # the secret itself is never printed
    assert not (tmp_path / "plans").exists() or not list((tmp_path / "plans").glob("*.json"))
