"""Cheap live health of the cluster, sampled in the apply process for health.json.

Each source is read the way facts/gather.py reads it, with the same credentials,
but only the few figures the TUI shows and with short timeouts, so a stopped node
costs a refused connection, not a stall:

- wsrep status of every node: pymysql, in parallel, every ~2 s;
- HAProxy's servers of the database and API backends: the admin socket, every ~2 s;
- RabbitMQ members and maintenance: ``rabbitmqctl cluster_status`` over SSH on the
  first node that answers. It costs ~1 s of an Erlang VM per call, so it is read
  every ~10 s, on its own thread, and the last answer is reused in between.
"""
from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Callable

from upgrader.facts import galera, haproxy
from upgrader.facts.host import ssh_argv
from upgrader.inventory import Cluster, NodeAccess
from upgrader.live.figures import galera_entry, haproxy_entry, rabbit_entry

RABBIT_CMD = "rabbitmqctl -q cluster_status --formatter json"
DB_TIMEOUT_S = 2.0
SSH_TIMEOUT_S = 8.0


def _one_line(error: BaseException | str) -> str:
    text = " ".join(str(error).split())[:200]
    return text or type(error).__name__


class HealthSampler:
    """``sample()`` -> the health document (without RabbitMQ); ``sample_rabbit()`` refreshes it."""

    def __init__(self, cluster: Cluster, db_password: str,
                 query: Callable[..., dict] = galera.query,
                 show_stat: Callable[[str], str] = haproxy.show_stat,
                 ssh: Callable[[NodeAccess, str], tuple[int, str]] | None = None) -> None:
        self.cluster = cluster
        self._password = db_password
        self._query, self._show_stat = query, show_stat
        self._ssh = ssh or _ssh
        self._lock = threading.Lock()
        self._rabbit: dict[str, Any] = {}
        self._pool = ThreadPoolExecutor(max_workers=len(cluster.nodes), thread_name_prefix="health")
        # one long-lived session per node's HAProxy (facts/haproxy.RemoteSocket), or the socket here
        self._asks = (haproxy.commands(cluster) if cluster.balancers
                      else {"": lambda line: self._show_stat(cluster.haproxy_socket)})

    def sample(self) -> dict[str, Any]:
        futures = {n.name: self._pool.submit(self._galera, n) for n in self.cluster.nodes}
        servers, error = self._haproxy()
        with self._lock:
            rabbit = dict(self._rabbit)
        return {"nodes": {name: f.result() for name, f in futures.items()},
                "haproxy": servers, "haproxy_error": error, "rabbitmq": rabbit,
                "backends": {"db": self.cluster.db_backend, "api": self.cluster.api_backend},
                "rabbit_names": {n.name: n.rabbit_node or f"rabbit@{n.name}"
                                 for n in self.cluster.nodes}}

    def _galera(self, node: NodeAccess) -> dict[str, Any]:
        try:
            rows = self._query(node.address, self.cluster.db_user, self._password,
                               timeout=DB_TIMEOUT_S)
        except Exception as e:  # pymysql raises several families; each means "not readable"
            return galera_entry(galera.unreachable(f"MariaDB at {node.address}: {_one_line(e)}"))
        return galera_entry(galera.parse_wsrep(rows["status"], rows["variables"]))

    def _haproxy(self) -> tuple[dict[str, Any], str]:
        """The servers as the first HAProxy that answers sees them (with one on every node,
        the others are the watcher's to compare); the error names the ones that did not."""
        backends = (self.cluster.db_backend, self.cluster.api_backend)
        shown: dict[str, Any] | None = None
        errors = []
        for where, ask in self._asks.items():
            try:
                text = ask("show stat")
            except OSError as e:
                errors.append(f"{e.strerror or e}" if where else
                              f"HAProxy admin socket {self.cluster.haproxy_socket}: {e.strerror or e}")
                continue
            if shown is None:
                shown = haproxy_entry(haproxy.parse_stat(text, backends=backends))
        return shown or {}, "; ".join(errors)

    def sample_rabbit(self) -> dict[str, Any]:
        """Ask the nodes in turn; the first whole answer wins (a stopped broker says nothing)."""
        entry: dict[str, Any] = {"error": "no node answered rabbitmqctl cluster_status"}
        for node in self.cluster.nodes:
            rc, out = self._ssh(node, RABBIT_CMD)
            if rc == 0:
                entry = rabbit_entry(out, node.rabbit_node or node.name)
                if not entry.get("error"):
                    break
        entry["at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            self._rabbit = entry
        return entry

    def latest_rabbit(self) -> dict[str, Any]:
        """The last cluster_status entry sample_rabbit read ({} before the first)."""
        with self._lock:
            return dict(self._rabbit)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for ask in self._asks.values():
            getattr(ask, "close", lambda: None)()


def _ssh(node: NodeAccess, command: str) -> tuple[int, str]:
    try:
        cp = subprocess.run(ssh_argv(node, command), capture_output=True, text=True,
                            timeout=SSH_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return 255, ""
    return cp.returncode, cp.stdout
