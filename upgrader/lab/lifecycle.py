"""`lab up` and `lab down`: the order in which the control plane is built and removed."""
from __future__ import annotations

import shutil
import time
from typing import Callable

from upgrader.lab import fresh, galera, garbd, haproxy, hosts, keystone, net, packages, rabbitmq, render, state
from upgrader.lab.config import LabConfig
from upgrader.lab.sh import parallel, run

# A phase reports progress through this callable: (phase name, detail).
Report = Callable[[str, str], None]


def up(cfg: LabConfig, report: Report, keystone_back: bool = False, lb: str | None = None) -> float:
    """Bring every part up that is not up yet. Returns the wall time in seconds.

    keystone_back: Keystone is put back to the fresh lab's release (lab up --fresh after
    a roll that moved only Keystone), once the rest is up.
    lb: the load-balancer topology (config.LB_TOPOLOGIES); None keeps the lab's current one.
    """
    started = time.monotonic()
    net.require_namespaces()
    _require_setup(cfg)
    _require_root_outside_overlays(cfg)
    cfg.root.mkdir(parents=True, exist_ok=True)
    cfg.root.chmod(0o700)  # secrets and keys live here
    sec = state.secrets(cfg)
    keys = state.keystone_keys(cfg)
    topology = lb or haproxy.topology(cfg)
    haproxy.remember_topology(cfg, topology)

    report("network", f"bridge {cfg.bridge} {cfg.gateway}/24 and {len(cfg.nodes)} namespaces")
    net.ensure_network(cfg)
    _write_access_files(cfg, topology)
    hosts.ensure_mountpoints(cfg)

    report("packages", packages.ensure_pool(cfg))
    report("hosts", "namespaces, overlays and sshd per host")
    for node in cfg.nodes:
        hosts.prepare_host(cfg, node, sec, keys)
        packages.link_archives(cfg, node)
    parallel(lambda n: hosts.start_host(cfg, n), cfg.nodes)
    report("packages", packages.ensure_host_packages(cfg))

    report("galera", "MariaDB Galera through `service mariadb`")
    report("galera", galera.ensure_galera(cfg, sec))
    report("haproxy", f"load balancers: {topology}")
    report("haproxy", haproxy.ensure_lb(cfg, topology))
    report("rabbitmq", "RabbitMQ through `service rabbitmq-server`")
    report("rabbitmq", rabbitmq.ensure_rabbitmq(cfg, sec))
    rabbitmq.ensure_quorum_queue(cfg, sec)
    if keystone_back:
        report("keystone", keystone.reset(cfg))
    report("keystone", keystone.ensure_schema(cfg, sec))
    report("keystone", keystone.ensure_servers(cfg))
    return time.monotonic() - started


def up_fresh(cfg: LabConfig, report: Report, lb: str | None = None) -> float:
    """`up`, from the release and packages a fresh lab installs: a lab a roll moved is
    rebuilt, or only its Keystone put back when nothing else moved."""
    found = fresh.moved(cfg)
    lb = lb or haproxy.topology(cfg)   # a rebuild removes the lab directory, and this choice
    if found and not fresh.only_keystone_moved(found):
        report("lab", f"{', '.join(found)} rolled since the lab was built: rebuilding it")
        down(cfg, report)
    elif found:
        report("lab", f"Keystone on {', '.join(found)} rolled since the lab was built: putting it back")
    return up(cfg, report, keystone_back=bool(found), lb=lb)


def _require_setup(cfg: LabConfig) -> None:
    from upgrader.errors import LabError

    for tool in ("tini", "sshd", "haproxy", "keepalived", "mariadbd", "rabbitmq-server", "garbd"):
        if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin:/usr/bin") is None:
            raise LabError(f"lab: {tool} is not installed: run scripts/setup.sh")


def _require_root_outside_overlays(cfg: LabConfig) -> None:
    from upgrader.errors import LabError

    resolved = cfg.root.resolve()
    for top in ("/usr", "/etc", "/var"):
        if resolved.is_relative_to(top):
            raise LabError(f"lab: UPGRADER_LAB={cfg.root} is under {top}, which the hosts overlay; "
                           "choose a directory elsewhere (default /srv/upgrader-lab)")


def _write_access_files(cfg: LabConfig, topology: str) -> None:
    cfg.ssh_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.ssh_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "upgrader-lab", "-f", str(cfg.ssh_key)])
    shutil.copyfile(cfg.ssh_key.with_suffix(".pub"), cfg.ssh_dir / "authorized_keys")
    cfg.ssh_config.write_text(render.ssh_config(cfg))
    cfg.hosts_file.write_text(render.hosts_file(cfg))
    cfg.inventory_file.write_text(render.inventory(cfg, topology))
    cfg.run_dir.mkdir(parents=True, exist_ok=True)


def down(cfg: LabConfig, report: Report) -> float:
    """Stop every process the lab started, by pid, and remove what it created."""
    started = time.monotonic()
    if garbd.stop(cfg):
        report("garbd", "stopped the roll's arbitrator by pid file")
    report("haproxy", "stopping by pid file")
    haproxy.stop_haproxy(cfg)
    report("hosts", "stopping each host's init; its PID namespace takes the services with it")
    parallel(lambda n: hosts.stop_host(cfg, n), cfg.nodes)
    report("network", "removing namespaces and bridge")
    net.remove_network(cfg)
    hosts.remove_created_mountpoints(cfg)
    report("files", f"removing {cfg.root}")
    if cfg.root.exists():
        shutil.rmtree(cfg.root)
    _forget_runs(cfg, report)
    return time.monotonic() - started


def _forget_runs(cfg: LabConfig, report: Report) -> None:
    """The lab cluster is gone: its current run (a pointer under upgrader's state) is too.

    Otherwise the next `apply` on a new lab would resume a run of the old one.
    """
    from upgrader import registry
    from upgrader.paths import locations

    locs = locations()
    if not (locs.clusters / f"{cfg.cluster_name}.json").exists():
        return
    if registry.holder(locs, cfg.cluster_name) is None:   # never under a running apply
        registry.forget(locs, cfg.cluster_name)
        report("files", "forgot the lab cluster's current run")
