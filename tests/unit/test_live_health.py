"""The health sampler against recorded lab output: its three sources, and each one failing."""
from __future__ import annotations

import json
from pathlib import Path

from upgrader.inventory import Cluster, NodeAccess
from upgrader.live.health import RABBIT_CMD, HealthSampler

FACTS = Path(__file__).parent / "fixtures" / "facts"
NODES = tuple(NodeAccess(f"node{i}", f"10.123.0.1{i}", rabbit_node=f"rabbit@node{i}") for i in (1, 2, 3))
CLUSTER = Cluster(name="lab", inventory=Path("/x"), nodes=NODES, haproxy_socket="/x/admin.sock",
                  db_backend="mariadb", api_backend="keystone", secrets_file="/x", vip="10.123.0.1")


def output(source: str, case: str):
    return json.loads((FACTS / source / f"{case}.json").read_text())["output"]


def query(address, user, password, timeout=5):
    assert (user, password, timeout) == ("upgrader", "pw", 2.0)   # the facts' user, a short timeout
    if address == "10.123.0.12":
        raise ConnectionRefusedError(111, "Can't connect to MySQL server on '10.123.0.12' ([Errno 111])")
    return output("galera", "node1_synced_writer")


def test_a_sample_reads_every_node_and_haproxy_and_reuses_the_last_rabbitmq_answer():
    asked = []

    def ssh(node, command):
        asked.append((node.name, command))
        if node.name == "node1":
            return 69, ""                                    # node1's broker is stopped
        return 0, output("rabbitmq", "node2_under_maintenance")["cluster_status"]

    s = HealthSampler(CLUSTER, "pw", query=query,
                      show_stat=lambda sock: output("haproxy", "keystone_node2_maint"), ssh=ssh)
    assert s.sample()["rabbitmq"] == {}                      # not asked yet: nothing to reuse
    s.sample_rabbit()
    doc = s.sample()
    s.close()
    assert asked == [("node1", RABBIT_CMD), ("node2", RABBIT_CMD)]   # stops at the first answer
    assert doc["rabbitmq"]["from"] == "rabbit@node2" and doc["rabbitmq"]["maintenance"] == ["rabbit@node2"]
    assert doc["nodes"]["node1"]["state"] == "Synced" and doc["nodes"]["node1"]["cluster_size"] == 3
    assert doc["nodes"]["node2"] == {"reachable": False, "error": "MariaDB at 10.123.0.12: "
                                     "[Errno 111] Can't connect to MySQL server on '10.123.0.12' ([Errno 111])"}
    assert doc["haproxy"]["keystone"]["node2"]["status"] == "MAINT" and doc["haproxy_error"] == ""
    assert doc["backends"] == {"db": "mariadb", "api": "keystone"}


def test_no_haproxy_socket_and_no_broker_answering_are_said_not_raised():
    def no_socket(sock):
        raise FileNotFoundError(2, "No such file or directory")

    s = HealthSampler(CLUSTER, "pw", query=query, show_stat=no_socket, ssh=lambda n, c: (255, ""))
    assert s.sample_rabbit()["error"] == "no node answered rabbitmqctl cluster_status"
    doc = s.sample()
    s.close()
    assert doc["haproxy"] == {} and doc["haproxy_error"] == "HAProxy admin socket /x/admin.sock: No such file or directory"
