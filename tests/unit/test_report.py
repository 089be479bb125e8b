"""What the report takes from a node's last successful verify_node."""
from upgrader.report import _verified


def _verify(node, ok=True, **results):
    return {"type": "step_finished", "node": node, "step": "verify_node", "ok": ok, **results}


def test_the_last_successful_verify_gives_server_version_and_cluster_size():
    records = [
        _verify("node2", galera_server_version="10.11.18-MariaDB", galera_cluster_size="2"),
        _verify("node2", ok=False, galera_server_version="x", galera_cluster_size="1"),
        _verify("node2", galera_server_version="10.11.19-MariaDB", galera_cluster_size="3",
                stale_libraries=[]),
        _verify("node3", galera_server_version="10.11.18-MariaDB", galera_cluster_size="3"),
    ]
    seen = _verified(records, "node2")
    assert seen["server_version"] == "10.11.19-MariaDB"
    assert seen["cluster_size_at_verify"] == 3
    assert seen["stale_libraries_after"] == []


def test_a_journal_from_before_the_size_was_recorded_gives_none():
    assert _verified([_verify("node1", galera_server_version="v")], "node1")["cluster_size_at_verify"] is None
    assert _verified([], "node1") == {}
