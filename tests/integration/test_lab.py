"""The lab is a real control plane: facts read from its live servers, not from config."""
import json
import subprocess
import urllib.request

import pytest

from upgrader.facts import galera, haproxy
from upgrader.lab import health
from upgrader.lab.sh import ssh

pytestmark = pytest.mark.lab


def _galera(lab, secrets, node):
    rows = galera.query(node.address, "upgrader", secrets.mariadb_upgrader_password)
    return galera.parse_wsrep(rows["status"], rows["variables"])


def test_galera_has_three_synced_primary_members(lab, lab_secrets):
    for node in lab.nodes:
        g = _galera(lab, lab_secrets, node)
        assert (g.local_state_comment, g.cluster_size, g.cluster_status) == ("Synced", 3, "Primary")
        assert sorted(g.incoming_addresses) == [f"{n.address}:3306" for n in lab.nodes]
        assert g.gcache_size_bytes == 128 * 1024 * 1024


def test_rabbitmq_has_three_running_members_and_a_quorum_queue(lab):
    for node in lab.nodes:
        status = json.loads(ssh(lab, node, "rabbitmqctl -q cluster_status --formatter json").stdout)
        assert sorted(status["running_nodes"]) == [n.rabbit_node for n in lab.nodes]
        assert status["alarms"] == [] and not status["partitions"]
    queues = ssh(lab, lab.nodes[0], "rabbitmqctl -q list_queues name type members --formatter json").stdout
    qq = [q for q in json.loads(queues) if q["name"] == "upgrader.probe"]
    assert qq and qq[0]["type"] == "quorum" and len(qq[0]["members"]) == 3


def test_haproxy_reports_every_server_up_and_one_mysql_writer(lab):
    servers = haproxy.parse_stat(haproxy.show_stat(str(lab.haproxy_socket)))
    assert {(s.backend, s.server) for s in servers} == {
        (b, n.name) for b in ("mariadb", "keystone") for n in lab.nodes}
    assert all(s.status == "UP" for s in servers)
    assert [s.server for s in servers if s.backend == "mariadb" and s.active] == ["node1"]


def test_keystone_issues_and_validates_a_token_through_the_vip(lab, lab_secrets):
    status, token = health.issue_token(lab.vip, lab_secrets.keystone_admin_password)
    assert status == 201 and token, f"token through the VIP: {status} {token}"
    req = urllib.request.Request(f"http://{lab.vip}:5000/v3/auth/tokens",
                                 headers={"X-Auth-Token": token, "X-Subject-Token": token})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
        assert json.load(r)["token"]["project"]["name"] == "admin"


def test_each_node_serves_the_installed_keystone_release(lab):
    for node in lab.nodes:
        out = ssh(lab, node, ". /etc/default/keystone; $KEYSTONE_VENV/bin/python -c "
                             "'import importlib.metadata as m; print(m.version(\"keystone\"))'").stdout
        assert out.strip() == lab.keystone_installed


def test_hosts_are_isolated_debian_like_hosts(lab):
    for node in lab.nodes:
        assert ssh(lab, node, "hostname").stdout.strip() == node.name
        # Own PID namespace: PID 1 is the host's init, and only this host's mariadbd is visible.
        assert ssh(lab, node, "cat /proc/1/comm").stdout.strip() == "tini"
        assert len(ssh(lab, node, "pgrep -x mariadbd").stdout.split()) == 1
        # Own /etc: the Galera config names this host.
        assert node.address in ssh(lab, node, "grep wsrep_node_address /etc/mysql/mariadb.conf.d/60-galera.cnf").stdout
        assert ssh(lab, node, "service mariadb status >/dev/null; echo $?").stdout.strip() == "0"
    # The machine sees all three servers: that is why the lab never stops anything by name.
    seen = subprocess.run(["pgrep", "-x", "mariadbd"], capture_output=True, text=True).stdout.split()
    assert len(seen) >= 3


def test_lab_status_command_reports_healthy(lab):
    cp = subprocess.run([".venv/bin/upgrader", "lab", "status", "--json"], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    report = json.loads(cp.stdout)
    assert report["healthy"] is True and report["keystone_token_via_vip"] == "201"


def test_lab_up_is_idempotent(lab):
    cp = subprocess.run([".venv/bin/upgrader", "lab", "up"], capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, cp.stderr
    assert "already Synced" in cp.stdout and "healthy" in cp.stdout
