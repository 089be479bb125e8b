"""The lab's network: one bridge on the machine and one network namespace per host."""
from __future__ import annotations

import os
import time

from upgrader.errors import LabError
from upgrader.lab.config import LabConfig, LabNode
from upgrader.lab.sh import run


def require_namespaces() -> None:
    """Refuse in one line where the lab cannot be made (not root, locked-down kernel)."""
    if os.geteuid() != 0:
        raise LabError("lab: must run as root: it creates network, mount and PID namespaces")
    cp = run(["unshare", "--mount", "--pid", "--fork", "--uts", "true"], check=False)
    if cp.returncode != 0:
        raise LabError(f"lab: this kernel refuses new namespaces: {cp.stderr.strip()}")


def existing_netns() -> set[str]:
    cp = run(["ip", "netns", "list"], check=False)
    return {line.split()[0] for line in cp.stdout.splitlines() if line.strip()}


def link_exists(name: str) -> bool:
    return run(["ip", "link", "show", name], check=False).returncode == 0


def ensure_network(cfg: LabConfig) -> None:
    if not link_exists(cfg.bridge):
        cp = run(["ip", "link", "add", cfg.bridge, "type", "bridge"], check=False)
        if cp.returncode != 0:
            raise LabError(f"lab: cannot create the bridge {cfg.bridge}: {cp.stderr.strip()}")
        run(["ip", "addr", "add", f"{cfg.gateway}/24", "dev", cfg.bridge])
    run(["ip", "link", "set", cfg.bridge, "up"])
    have = existing_netns()
    for node in cfg.nodes:
        if node.netns not in have:
            _add_host_netns(cfg, node)


def _add_host_netns(cfg: LabConfig, node: LabNode) -> None:
    ns = node.netns
    if link_exists(node.veth_host):  # left over from an interrupted run
        run(["ip", "link", "del", node.veth_host], check=False)
    run(["ip", "netns", "add", ns], what=f"ip netns add {ns}")
    # Inside the host the interface is called eth0, as on a real machine.
    run(["ip", "link", "add", node.veth_host, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "link", "set", node.veth_host, "master", cfg.bridge, "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "addr", "add", f"{node.address}/24", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "route", "add", "default", "via", cfg.gateway])
    # HAProxy in a host that does not hold the VIP still binds it (controllers topology),
    # as kolla-ansible's load balancers do.
    run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1"])


def remove_network(cfg: LabConfig) -> None:
    have = existing_netns()
    for node in cfg.nodes:
        if node.netns in have:
            run(["ip", "netns", "del", node.netns], check=False)
    if link_exists(cfg.bridge):
        run(["ip", "link", "del", cfg.bridge], check=False)
    # veth pairs vanish with their namespace, asynchronously.
    deadline = time.monotonic() + 5
    while any(link_exists(n.veth_host) for n in cfg.nodes) and time.monotonic() < deadline:
        time.sleep(0.1)
    # `ip netns add` bind-mounts /run/netns onto itself; undo it once nothing uses it.
    if not existing_netns():
        run(["umount", "/run/netns"], check=False)
