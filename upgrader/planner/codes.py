"""The refusal catalogue: every code, what it means, and whether --force may override it.

One table so the safety checks, option validation and docs/planning.md agree.
Only codes about *our own expectations* (version shapes) are overridable; codes about
the cluster's health or about data safety never are, because forcing them is how
rolls lose quorum or a dataset.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    name: str
    overridable: bool
    summary: str


_TABLE = (
    Code("galera_unreachable", False, "a node's MariaDB/Galera status could not be read"),
    Code("node_not_synced", False, "a node is not Synced, not wsrep_ready, or has wsrep_desync=ON"),
    Code("cluster_size", False, "fewer than 3 nodes, a node sees fewer than 3, or sizes disagree"),
    Code("not_primary", False, "a node's wsrep_cluster_status is not Primary"),
    Code("rabbit_unreachable", False, "a node's RabbitMQ status could not be read"),
    Code("rabbit_down", False, "a RabbitMQ node is stopped, under maintenance, or not running everywhere"),
    Code("rabbit_partitioned", False, "RabbitMQ reports a network partition"),
    Code("rabbit_alarm", False, "a RabbitMQ memory or disk alarm is set"),
    Code("haproxy_server_down", False, "a mariadb/keystone HAProxy server is not UP before the roll"),
    Code("haproxy_disagree", False, "the nodes' HAProxies disagree about a server, or one cannot be read"),
    Code("vip_not_held_once", False, "keepalived's VIP is held by no node or by more than one"),
    Code("mixed_start_versions", True, "nodes start from different versions of a changed component"),
    Code("inventory_mismatch", False, "inventory, facts, HAProxy and Galera disagree on the members"),
    Code("sst_across_major", False, "a MariaDB major.minor change whose rejoin is not predicted IST"),
    Code("target_not_newer", True, "a target version is lower than the installed one"),
    # Package targets (docs/targets.md). A downgrade is not overridable: the upgrade step
    # installs without --allow-downgrades, and MariaDB never supports running an older
    # server on a data directory a newer one has written.
    Code("package_not_installed", False, "a named package is not installed on a node"),
    Code("package_version_missing", False, "a package of a moving source lacks the target version in apt"),
    Code("package_target_conflict", False, "two named packages of one source ask for different versions"),
    Code("package_downgrade", False, "a package target is older than the installed version"),
    Code("mariadb_major_change", False, "a package change moves mariadb-server to another major.minor"),
)

CODES: dict[str, Code] = {code.name: code for code in _TABLE}
OVERRIDABLE: frozenset[str] = frozenset(c.name for c in _TABLE if c.overridable)
