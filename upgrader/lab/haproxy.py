"""The lab's load-balancer tier, in one of two topologies (config.LB_TOPOLOGIES).

dedicated: one HAProxy on the machine binds the VIP, an address on the bridge; it is
started and stopped by pid file.
controllers: Debian's HAProxy and keepalived in every host, through their init scripts;
keepalived's VRRP puts the VIP on one host's eth0 and moves it when that host leaves.
Switching between them takes seconds: the VIP, the listeners and the services'
configuration are the same, only who holds the VIP changes.
"""
from __future__ import annotations

import os
import signal
import time

from upgrader.errors import LabError
from upgrader.facts import haproxy as haproxy_facts
from upgrader.lab import render
from upgrader.lab.config import LB_TOPOLOGIES, LabConfig, LabNode
from upgrader.lab.sh import parallel, run, ssh

SHOW_STAT = "echo 'show stat' | socat stdio UNIX-CONNECT:{socket}"


def topology(cfg: LabConfig) -> str:
    """The topology the lab was last brought up with; dedicated when never chosen."""
    try:
        chosen = cfg.lb_topology_file.read_text().strip()
    except OSError:
        return "dedicated"
    return chosen if chosen in LB_TOPOLOGIES else "dedicated"


def remember_topology(cfg: LabConfig, chosen: str) -> None:
    if chosen not in LB_TOPOLOGIES:
        raise LabError(f"lab: unknown load-balancer topology {chosen!r}; choose one of "
                       f"{', '.join(LB_TOPOLOGIES)}")
    cfg.lb_topology_file.write_text(chosen + "\n")


def ensure_lb(cfg: LabConfig, chosen: str) -> str:
    """Bring the chosen topology up and the other one down; returns the progress line."""
    if chosen == "controllers":
        stop_haproxy(cfg)
        _vip_on_bridge(cfg, present=False)
        # NOTE: node1 first, alone: with nopreempt the first host to time out as a backup
        # keeps the VIP, and node1 is the lab's MySQL writer, rolled last; so the VIP
        # moves once per roll, at its end, to a node already rolled.
        first, *rest = cfg.nodes
        _start_in_host(cfg, first)
        if len(vip_holders(cfg)) == 0:
            wait_vip_holder(cfg)
        parallel(lambda n: _start_in_host(cfg, n), rest)
        holder = wait_vip_holder(cfg)
        if holder != first.name:
            # A roll left the VIP elsewhere (nopreempt keeps it there); the lab starts with it
            # on node1. Restarting the holder's keepalived hands it to node1, the highest priority.
            ssh(cfg, cfg.node(holder), "service keepalived stop >/dev/null; sleep 0.5; "
                                       "service keepalived start >/dev/null", what=f"{holder}: move the VIP")
            holder = _wait_holder_is(cfg, first.name)
        return f"HAProxy and keepalived in {', '.join(n.name for n in cfg.nodes)}; VIP {cfg.vip} on {holder}"
    parallel(lambda n: _stop_in_host(cfg, n), cfg.nodes)
    _vip_on_bridge(cfg, present=True)
    return ensure_haproxy(cfg)


# ----------------------------------------------------------------- dedicated


def pid(cfg: LabConfig) -> int | None:
    try:
        value = int(cfg.haproxy_pidfile.read_text().split()[0])
        os.kill(value, 0)
        return value
    except (OSError, ValueError, IndexError):
        return None


def ensure_haproxy(cfg: LabConfig) -> str:
    cfg.haproxy_dir.mkdir(parents=True, exist_ok=True)
    conf = cfg.haproxy_dir / "haproxy.cfg"
    conf.write_text(render.haproxy_cfg(cfg))
    run(["haproxy", "-c", "-q", "-f", str(conf)], what="haproxy -c")
    if pid(cfg) is not None:
        return "already running"
    run(["haproxy", "-D", "-p", str(cfg.haproxy_pidfile), "-f", str(conf)], what="start haproxy")
    deadline = time.monotonic() + 10
    while not cfg.haproxy_socket.exists():
        if time.monotonic() > deadline:
            raise LabError("lab: haproxy started but its admin socket did not appear")
        time.sleep(0.1)
    return f"VIP {cfg.vip} on the machine: mariadb :3306, keystone :5000"


def stop_haproxy(cfg: LabConfig) -> None:
    p = pid(cfg)
    if p is not None:
        os.kill(p, signal.SIGUSR1)  # soft stop: finish serving, then exit
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(p, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(p, signal.SIGKILL)
    cfg.haproxy_pidfile.unlink(missing_ok=True)


def _vip_on_bridge(cfg: LabConfig, present: bool) -> None:
    have = f" {cfg.vip}/" in run(["ip", "-o", "-4", "addr", "show", "dev", cfg.bridge]).stdout
    if present and not have:
        run(["ip", "addr", "add", f"{cfg.vip}/24", "dev", cfg.bridge], what="VIP on the bridge")
        # NOTE: the hosts may still map the VIP to the host whose keepalived held it; no
        # gratuitous ARP announces the move to the bridge, so their connections to the VIP
        # (Keystone's to MariaDB) went to that host and hung until the entry went stale, up
        # to about 45 s. Forget the entry: the next packet asks again.
        for node in cfg.nodes:
            run(["ip", "-n", node.netns, "neigh", "flush", "to", cfg.vip],
                what=f"{node.name}: forget where the VIP was")
    elif have and not present:
        run(["ip", "addr", "del", f"{cfg.vip}/24", "dev", cfg.bridge], what="VIP off the bridge")


# ----------------------------------------------------------------- controllers


def _start_in_host(cfg: LabConfig, node: LabNode) -> None:
    """Write the host's HAProxy and keepalived configuration, start both (idempotent)."""
    files = {
        "/etc/haproxy/haproxy.cfg": render.haproxy_cfg(cfg, in_host=True),
        "/etc/keepalived/keepalived.conf": render.keepalived_conf(cfg, node),
        "/etc/keepalived/notify.sh": render.KEEPALIVED_NOTIFY,
    }
    for path, text in files.items():
        ssh(cfg, node, f"mkdir -p $(dirname {path}) && cat > {path}.new && mv {path}.new {path}",
            input=text, what=f"{node.name}: write {path}")
    ssh(cfg, node, "chmod 755 /etc/keepalived/notify.sh && mkdir -p /var/lib/haproxy && "
                   "haproxy -c -q -f /etc/haproxy/haproxy.cfg", what=f"{node.name}: haproxy -c")
    # NOTE: the init scripts, as an operator's host runs them; `start` is a no-op when running.
    # NOTE: a roll's stop_services leaves the node's server-state file behind when a roll
    # was cut short; the lab starts HAProxy with every server ready, so it goes first.
    ssh(cfg, node, f"service haproxy status >/dev/null 2>&1 || "
                   f"{{ rm -f {cfg.host_haproxy_state}; service haproxy start; }}",
        what=f"{node.name}: start haproxy")
    # NOTE: Debian 12's keepalived init script has no status action: its pid file tells.
    ssh(cfg, node, 'kill -0 "$(cat /run/keepalived.pid 2>/dev/null)" 2>/dev/null || service keepalived start',
        what=f"{node.name}: start keepalived")


def _stop_in_host(cfg: LabConfig, node: LabNode) -> None:
    """Stop the host's keepalived, then HAProxy, when they run (switching to dedicated)."""
    ssh(cfg, node, "service keepalived stop; service haproxy stop", check=False, timeout=30)


def vip_holders(cfg: LabConfig) -> list[str]:
    """The hosts whose eth0 carries the VIP."""
    found = parallel(lambda n: ssh(cfg, n, "ip -o -4 addr show dev eth0", check=False,
                                   timeout=10).stdout, cfg.nodes)
    return [n.name for n, text in zip(cfg.nodes, found) if f" {cfg.vip}/" in text]


def wait_vip_holder(cfg: LabConfig, timeout: float = 20) -> str:
    """The one host holding the VIP, once VRRP has elected it (about 3 advert intervals)."""
    deadline = time.monotonic() + timeout
    holders: list[str] = []
    while time.monotonic() < deadline:
        holders = vip_holders(cfg)
        if len(holders) == 1:
            return holders[0]
        time.sleep(0.5)
    raise LabError(f"lab: keepalived did not elect one VIP holder in {timeout:.0f} s "
                   f"(holders: {', '.join(holders) or 'none'})")


def _wait_holder_is(cfg: LabConfig, name: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while vip_holders(cfg) != [name]:
        if time.monotonic() > deadline:
            raise LabError(f"lab: the VIP did not move to {name} in {timeout:.0f} s")
        time.sleep(0.3)
    return name


def show_stat_all(cfg: LabConfig, chosen: str) -> dict[str, str]:
    """`show stat` of every HAProxy of the topology: {where: CSV}; OSError when unreadable."""
    if chosen != "controllers":
        return {"machine": haproxy_facts.show_stat(str(cfg.haproxy_socket))}
    cmd = SHOW_STAT.format(socket=cfg.host_haproxy_socket)
    answers = parallel(lambda n: ssh(cfg, n, cmd, check=False, timeout=10), cfg.nodes)
    out = {}
    for node, cp in zip(cfg.nodes, answers):
        if cp.returncode != 0 or "pxname" not in cp.stdout:
            raise OSError(f"{node.name}: HAProxy admin socket {cfg.host_haproxy_socket} did not answer")
        out[node.name] = cp.stdout
    return out
