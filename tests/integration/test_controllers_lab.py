"""The controllers topology on the real lab: HAProxy and keepalived on every node, the VIP
floating between them by VRRP (`upgrader lab up --lb controllers`): what facts and plan read.

The rolls on this topology are the demo's (Keystone 28.1.0 -> 29.1.0) and the Molecule
scenarios' (molecule/, all on this topology): the patch scenario asserts the VIP moved
exactly once, by its holder, with no failed request.
"""
import json
import subprocess
from pathlib import Path

import pytest

from upgrader.lab.sh import ssh

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
UPGRADER = str(ROOT / ".venv/bin/upgrader")


def cli(*args, timeout=900):
    # from /, as an operator would: no path or variable of the checkout
    return subprocess.run([UPGRADER, *args], capture_output=True, text=True, timeout=timeout,
                          cwd="/", stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def controllers(lab):
    """The lab on the controllers topology. NOTE: left so: this module runs last
    (conftest.MODULE_ORDER) and the Molecule scenarios next use this topology; the `lab`
    fixture of a later pytest session switches back to the machine's HAProxy."""
    cp = cli("lab", "up", "--lb", "controllers")
    assert cp.returncode == 0, cp.stdout[-2000:] + cp.stderr[-2000:]
    return lab


def facts() -> dict:
    cp = cli("facts")
    assert cp.returncode == 0, cp.stderr
    return json.loads(cp.stdout)


def assert_one_holder_and_agreeing_haproxies(doc: dict) -> str:
    vip = doc["vip"]
    assert vip["managed"] and len(vip["holders"]) == 1, vip
    views = {b["host"]: {(s["backend"], s["server"]): s["status"] for s in b["servers"]}
             for b in doc["balancers"]}
    assert sorted(views) == ["node1", "node2", "node3"], doc["balancers"]
    assert all(v == views["node1"] for v in views.values()), views
    assert set(views["node1"].values()) == {"UP"}, views["node1"]
    assert len(views["node1"]) == 6   # mariadb and keystone, three servers each
    return vip["holders"][0]


def test_lab_up_puts_haproxy_on_every_node_and_the_vip_on_the_writer(controllers):
    doc = facts()
    assert assert_one_holder_and_agreeing_haproxies(doc) == "node1"
    assert dict(map(tuple, doc["vip"]["vrrp_states"])) == {"node1": "MASTER", "node2": "BACKUP",
                                                           "node3": "BACKUP"}
    # nothing of the dedicated topology is left: the machine does not hold the VIP
    addresses = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", controllers.bridge],
                               capture_output=True, text=True).stdout
    assert f" {controllers.vip}/" not in addresses


def test_the_plan_refuses_when_the_haproxies_disagree(controllers):
    node3 = controllers.node("node3")
    ask = "echo 'set server mariadb/node2 state maint' | socat stdio UNIX-CONNECT:/run/haproxy/admin.sock"
    ssh(controllers, node3, ask)
    try:
        cp = cli("plan", "--patch")
        assert cp.returncode == 2, cp.stdout + cp.stderr
        assert "node2: HAProxies disagree about mariadb/node2: UP on node1, UP on node2, MAINT on node3" \
            in cp.stdout + cp.stderr
    finally:
        ssh(controllers, node3, ask.replace("state maint", "state ready"))
