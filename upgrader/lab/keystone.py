"""Keystone on every lab host: one database on Galera, one gunicorn per host."""
from __future__ import annotations

import time
import urllib.request

from upgrader.errors import LabError
from upgrader.lab.config import LabConfig, LabNode
from upgrader.lab.health import issue_token
from upgrader.lab import render
from upgrader.lab.render import LabSecrets
from upgrader.lab.sh import parallel, ssh


def manage(cfg: LabConfig, release: str) -> str:
    venv = cfg.keystone_venv(release)
    return f"{venv}/bin/keystone-manage --config-file /etc/keystone/keystone.conf"


def ensure_schema(cfg: LabConfig, sec: LabSecrets) -> str:
    if issue_token(cfg.vip, sec.keystone_admin_password, timeout=5)[0] == 201:
        # NOTE: the lab is already up (every later `lab up`): a schema that issues the
        # admin a token is in place. Each keystone-manage check below takes 3-5 s.
        return "schema in use (the admin gets a token)"
    node = cfg.nodes[0]
    km = manage(cfg, cfg.keystone_installed)
    # rc 0: schema current for this release; 2: expand needed (a fresh database).
    check = ssh(cfg, node, f"{km} db_sync --check >/dev/null 2>&1", check=False, timeout=120)
    if check.returncode == 0:
        return "schema current"
    # NOTE: after a roll to the target release the schema is expanded beyond what the
    # installed release's keystone-manage can name (it exits 1); the target's says 0.
    target = ssh(cfg, node, f"{manage(cfg, cfg.keystone_target)} db_sync --check >/dev/null 2>&1",
                 check=False, timeout=120)
    if target.returncode == 0:
        return f"schema current for {cfg.keystone_target}"
    ssh(cfg, node, f"{km} db_sync >/dev/null 2>&1", timeout=180, what=f"{node.name}: keystone db_sync")
    ssh(cfg, node,
        "read -r OS_BOOTSTRAP_PASSWORD; export OS_BOOTSTRAP_PASSWORD; "
        f"{km} bootstrap --bootstrap-username admin --bootstrap-project-name admin "
        f"--bootstrap-admin-url http://{cfg.vip}:5000/v3/ "
        f"--bootstrap-public-url http://{cfg.vip}:5000/v3/ "
        f"--bootstrap-internal-url http://{cfg.vip}:5000/v3/ "
        "--bootstrap-region-id RegionOne >/dev/null 2>&1",
        input=sec.keystone_admin_password + "\n", timeout=180, what=f"{node.name}: keystone bootstrap")
    return "schema created, admin bootstrapped"


def answers(address: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}:5000/v3", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def ensure_servers(cfg: LabConfig) -> str:
    parallel(lambda n: ssh(cfg, n, "service keystone start", timeout=60,
                           what=f"{n.name}: start keystone"), cfg.nodes)
    parallel(lambda n: _wait_answers(n), cfg.nodes)
    return f"{len(cfg.nodes)} servers answer /v3"


def _wait_answers(node: LabNode, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not answers(node.address):
        if time.monotonic() > deadline:
            raise LabError(f"lab: keystone on {node.name} did not answer in {timeout:.0f} s "
                           "(see /var/log/keystone/ in that host)")
        time.sleep(0.5)


def reset(cfg: LabConfig) -> str:
    """Keystone back to the release a fresh lab installs, on a lab that is up.

    NOTE: after a roll the schema is contracted for the target release, and Keystone
    has no downgrade: the database is dropped and made again by the fresh release (its
    grants live in mysql.db and stay). This instead of a rebuild of the whole lab: about
    30 s against 115 s, once per test run after the demo.
    """
    def back(node: LabNode) -> None:
        ssh(cfg, node, "service keystone stop && cat > /etc/default/keystone",
            input=render.keystone_default(cfg.keystone_installed, node), timeout=60,
            what=f"{node.name}: keystone back to {cfg.keystone_installed}")
    parallel(back, cfg.nodes)
    ssh(cfg, cfg.nodes[0], "mariadb", input="DROP DATABASE IF EXISTS keystone;\nCREATE DATABASE keystone;\n",
        what=f"{cfg.nodes[0].name}: drop the contracted keystone schema")
    return f"stopped, pointed at {cfg.keystone_installed}, schema dropped"
