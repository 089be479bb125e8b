"""HAProxy facts over its runtime API (a unix socket): query plus a pure parser."""
from __future__ import annotations

import csv
import io
import os
import select
import shlex
import socket
import subprocess
import threading
import time
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


class RemoteSocket:
    """The runtime API of the HAProxy on a node (the controllers topology), asked through one
    long-lived SSH session running socat in HAProxy's interactive mode (`prompt`).

    NOTE: one session, not one per ask: a new SSH session runs the node's PAM session stack
    (pam_motd and friends), measured at about 0.24 s of CPU each on the lab: the watcher's
    three asks a second took a third of the two cores and slowed every step of the roll.
    After a failure (the node's HAProxy stopped for its upgrade) the session is tried again
    only after ``retry_s``, and asks meanwhile fail at once.
    """

    PROMPT = b"\n> "

    def __init__(self, node: NodeAccess, socket_path: str, timeout: float = 5, retry_s: float = 5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.node, self.socket_path, self.timeout, self.retry_s = node, socket_path, timeout, retry_s
        self._clock = clock
        self._proc: subprocess.Popen | None = None
        self._down_until = 0.0
        self._lock = threading.Lock()

    def __call__(self, line: str) -> str:
        with self._lock:
            closed = self._proc is None or self._proc.poll() is not None
            if closed and self._clock() < self._down_until:
                raise OSError(f"HAProxy on {self.node.name}: unreachable (asked again shortly)")
            try:
                if closed:
                    self._open()
                return self._ask(line)
            except OSError:
                self.close()
                self._down_until = self._clock() + self.retry_s
                raise

    def _open(self) -> None:
        remote = f"socat stdio UNIX-CONNECT:{shlex.quote(self.socket_path)}"
        self._proc = subprocess.Popen(ssh_argv(self.node, remote), stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        self._ask("prompt")

    def _ask(self, line: str) -> str:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(line.encode() + b"\n")
        except (BrokenPipeError, ValueError):
            raise OSError(f"HAProxy on {self.node.name}: the session ended") from None
        buf = b""
        deadline = self._clock() + self.timeout
        while not buf.endswith(self.PROMPT):
            left = deadline - self._clock()
            if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                raise OSError(f"HAProxy on {self.node.name}: no answer in {self.timeout:.0f} s")
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise OSError(f"HAProxy on {self.node.name}: the session ended (is HAProxy running?)")
            buf += chunk
        return buf[: -len(self.PROMPT)].decode()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()   # our own child, by its pid
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def commands(cluster: Cluster) -> dict[str, Command]:
    """Every HAProxy of the cluster: {node: command} when the nodes balance, else {"": the
    admin socket on this machine}."""
    if not cluster.balancers:
        return {"": lambda line: command(cluster.haproxy_socket, line)}
    return {name: RemoteSocket(cluster.node(name), cluster.haproxy_socket) for name in cluster.balancers}
