"""The lab's health summary: what `lab up` ends with and `lab status` prints."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from rich.table import Table

from upgrader.facts import galera as galera_facts
from upgrader.facts import haproxy as haproxy_facts
from upgrader.lab import garbd, hosts
from upgrader.lab import haproxy as lab_lb
from upgrader.lab.config import LabConfig
from upgrader.lab.rabbitmq import running_nodes
from upgrader.lab.render import LabSecrets
from upgrader.lab.sh import parallel
from upgrader.model import GaleraFacts, HaproxyServer


@dataclass
class LabHealth:
    hosts: dict[str, bool] = field(default_factory=dict)
    galera: dict[str, GaleraFacts] = field(default_factory=dict)
    rabbit: dict[str, list[str] | None] = field(default_factory=dict)
    haproxy: tuple[HaproxyServer, ...] = ()
    balancers: dict[str, tuple[HaproxyServer, ...]] = field(default_factory=dict)  # where -> servers
    topology: str = "dedicated"
    vip_holders: list[str] = field(default_factory=list)   # controllers: the hosts holding the VIP
    token: str = ""                      # "201" when a token was issued through the VIP
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "healthy": self.healthy,
            "problems": self.problems,
            "hosts": self.hosts,
            "galera": {n: {"state": g.local_state_comment, "cluster_size": g.cluster_size,
                           "status": g.cluster_status, "error": g.error}
                       for n, g in self.galera.items()},
            "rabbitmq": {n: m for n, m in self.rabbit.items()},
            "haproxy": [{"backend": s.backend, "server": s.server, "status": s.status,
                         "active": s.active} for s in self.haproxy],
            "load_balancers": {"topology": self.topology, "vip_holders": self.vip_holders,
                               "haproxy": {where: {f"{s.backend}/{s.server}": s.status for s in servers}
                                           for where, servers in self.balancers.items()}},
            "keystone_token_via_vip": self.token,
        }


def issue_token(vip: str, password: str, timeout: float = 10) -> tuple[int, str]:
    """POST /v3/auth/tokens through the VIP; (HTTP status, token or error text)."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    req = urllib.request.Request(f"http://{vip}:5000/v3/auth/tokens", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("X-Subject-Token", "")
    except urllib.error.HTTPError as e:
        return e.code, e.reason
    except OSError as e:
        return 0, str(e)


def check(cfg: LabConfig, sec: LabSecrets | None) -> LabHealth:
    h = LabHealth()
    for node in cfg.nodes:
        h.hosts[node.name] = hosts.host_pid(cfg, node) is not None
        if not h.hosts[node.name]:
            h.problems.append(f"{node.name}: host is not running")
    if sec is None:
        h.problems.append("lab: no secrets file; run `upgrader lab up`")
        return h
    up = [n for n in cfg.nodes if h.hosts[n.name]]
    h.galera = dict(zip((n.name for n in up), parallel(lambda n: _galera(n.address, sec), up)))
    h.rabbit = dict(zip((n.name for n in up), parallel(lambda n: running_nodes(cfg, n), up)))
    h.topology = lab_lb.topology(cfg)
    try:
        h.balancers = {where: haproxy_facts.parse_stat(text)
                       for where, text in lab_lb.show_stat_all(cfg, h.topology).items()}
        h.haproxy = next(iter(h.balancers.values()), ())
    except OSError as e:
        h.problems.append(f"haproxy: {e.strerror or e}")
    if h.topology == "controllers":
        h.vip_holders = lab_lb.vip_holders(cfg)
    status, _ = issue_token(cfg.vip, sec.keystone_admin_password)
    h.token = str(status)
    _judge(cfg, h)
    return h


def _galera(address: str, sec: LabSecrets) -> GaleraFacts:
    return galera_facts.read_node(address, "upgrader", sec.mariadb_upgrader_password, timeout_s=3)


def _judge(cfg: LabConfig, h: LabHealth) -> None:
    expected = len(cfg.nodes)
    # a roll's garbd (a run stopped mid-roll keeps it, on purpose) is one member more
    members = expected + (1 if garbd.pid(cfg) is not None else 0)
    for name, g in h.galera.items():
        if not g.reachable:
            h.problems.append(f"{name}: MariaDB unreachable: {g.error}")
        elif g.local_state_comment != "Synced" or g.cluster_size != members:
            h.problems.append(f"{name}: Galera {g.local_state_comment}, cluster size {g.cluster_size}")
    for name, members in h.rabbit.items():
        if members is None:
            h.problems.append(f"{name}: RabbitMQ not running")
        elif len(members) != expected:
            h.problems.append(f"{name}: RabbitMQ sees {len(members)} running nodes")
    for where, servers in h.balancers.items():
        for s in servers:
            # NOTE: exactly UP: "UP 1/2" is a server failing its checks on its way down and
            # "DOWN 1/2" one still rising; neither has settled.
            if s.status != "UP":
                h.problems.append(f"haproxy on {where}: {s.backend}/{s.server} is {s.status}")
    if h.topology == "controllers" and len(h.vip_holders) != 1:
        h.problems.append(f"keepalived: the VIP is held by {len(h.vip_holders)} hosts "
                          f"({', '.join(h.vip_holders) or 'none'}), not one")
    if h.token != "201":
        h.problems.append(f"keystone: token through the VIP answered {h.token or 'nothing'}")


def table(h: LabHealth) -> Table:
    t = Table(title="lab health", show_lines=False)
    for col in ("host", "galera", "size", "rabbitmq", "haproxy mariadb", "haproxy keystone"):
        t.add_column(col)
    for name, alive in h.hosts.items():
        g = h.galera.get(name)
        members = h.rabbit.get(name)
        srv = {s.backend: s for s in h.haproxy if s.server == name}
        db, api = srv.get("mariadb"), srv.get("keystone")
        t.add_row(
            name + ("" if alive else " (down)"),
            _color(g.local_state_comment if g and g.reachable else "unreachable", "Synced"),
            str(g.cluster_size) if g and g.reachable else "-",
            _color("running" if members is not None else "down", "running")
            + (f" ({len(members)} in cluster)" if members else ""),
            _color(db.status, "UP") + (" active" if db and db.active else " backup" if db and db.backup else "")
            if db else "-",
            _color(api.status, "UP") if api else "-",
        )
    where = (f"VIP on {', '.join(h.vip_holders) or 'no host'} (keepalived), {len(h.balancers)} HAProxies"
             if h.topology == "controllers" else "VIP and HAProxy on the machine")
    t.caption = (f"{where}  ·  keystone token via VIP: HTTP {h.token}  ·  "
                 + ("[green]healthy[/]" if h.healthy else "[red]" + "; ".join(h.problems) + "[/]"))
    return t


def _color(text: str | None, good: str) -> str:
    text = text or "-"
    return f"[green]{text}[/]" if text.startswith(good) else f"[red]{text}[/]"


def settled(cfg: LabConfig, sec: LabSecrets | None, timeout: float = 60.0,
            sleep=time.sleep, clock=time.monotonic) -> LabHealth:
    """The lab's health once it has settled: healthy, or still unhealthy after ``timeout``.

    A server HAProxy just saw come up is "DOWN 1/2" until it passes its rise count
    (2 checks): `lab up` must not report that as a fault, nor return before it is UP.
    """
    deadline = clock() + timeout
    h = check(cfg, sec)
    healthy_in_a_row = int(h.healthy)
    # two healthy looks a second apart: one can catch a server between two checks
    while healthy_in_a_row < 2 and clock() < deadline:
        sleep(1.0)
        h = check(cfg, sec)
        healthy_in_a_row = healthy_in_a_row + 1 if h.healthy else 0
    return h
