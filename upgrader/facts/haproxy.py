"""HAProxy facts over its runtime API (a unix socket): query plus a pure parser."""
from __future__ import annotations

import csv
import io
import shlex
import socket
import subprocess
from typing import Callable

from upgrader.facts.host import ssh_argv
from upgrader.inventory import Cluster, NodeAccess
from upgrader.model import HaproxyServer

# One runtime API command in, the whole answer out; OSError when it cannot be asked.
Command = Callable[[str], str]


def command(socket_path: str, line: str, timeout: float = 5) -> str:
    """Send one runtime API command and return the whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(socket_path)
        s.sendall(line.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def show_stat(socket_path: str) -> str:
    return command(socket_path, "show stat")


def parse_stat(text: str, backends: tuple[str, ...] | None = None) -> tuple[HaproxyServer, ...]:
    """Servers from `show stat` CSV. Marks the server taking new connections as active.

    For a one-active-plus-backups backend HAProxy sends new connections to the
    first usable non-backup server, else to the first usable backup (without
    `option allbackups`). 'Usable' means UP and not draining or in maintenance.
    """
    body = text.lstrip("# ").strip()
    rows = [r for r in csv.DictReader(io.StringIO(body))
            if r.get("svname") not in ("FRONTEND", "BACKEND")]
    servers = [
        HaproxyServer(
            backend=r["pxname"], server=r["svname"], status=r.get("status", ""),
            backup=r.get("bck", "0") == "1", sessions=int(r.get("scur") or 0),
            weight=int(r.get("weight") or 0),
        )
        for r in rows if backends is None or r["pxname"] in backends
    ]
    return tuple(_mark_active(servers))


def _usable(s: HaproxyServer) -> bool:
    return s.status.startswith("UP") and s.weight > 0


def _mark_active(servers: list[HaproxyServer]) -> list[HaproxyServer]:
    out: list[HaproxyServer] = []
    for backend in dict.fromkeys(s.backend for s in servers):
        group = [s for s in servers if s.backend == backend]
        if any(s.backup for s in group):
            chosen = next((s for s in group if not s.backup and _usable(s)), None) or \
                next((s for s in group if s.backup and _usable(s)), None)
            active = {chosen.server} if chosen else set()
        else:  # a balanced backend: every usable server takes traffic
            active = {s.server for s in group if _usable(s)}
        out += [HaproxyServer(**{**s.__dict__, "active": s.server in active}) for s in group]
    return out


def set_state(socket_path: str, backend: str, server: str, state: str) -> str:
    """state is ready, drain or maint (the runtime API's words)."""
    return command(socket_path, f"set server {backend}/{server} state {state}").strip()


def over_ssh(node: NodeAccess, socket_path: str, timeout: float = 5) -> Command:
    """The runtime API of the HAProxy on a node (the controllers topology), through socat."""
    def ask(line: str) -> str:
        remote = f"echo {shlex.quote(line)} | socat stdio UNIX-CONNECT:{shlex.quote(socket_path)}"
        try:
            cp = subprocess.run(ssh_argv(node, remote, multiplex=True), capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise OSError(f"HAProxy on {node.name}: no answer over SSH in {timeout:.0f} s") from None
        if cp.returncode != 0:
            last = (cp.stderr.strip().splitlines() or [f"exit {cp.returncode}"])[-1]
            raise OSError(f"HAProxy on {node.name}: {last}")
        return cp.stdout
    return ask


def commands(cluster: Cluster) -> dict[str, Command]:
    """Every HAProxy of the cluster: {node: command} when the nodes balance, else {"": the
    admin socket on this machine}."""
    if not cluster.balancers:
        return {"": lambda line: command(cluster.haproxy_socket, line)}
    return {name: over_ssh(cluster.node(name), cluster.haproxy_socket) for name in cluster.balancers}
