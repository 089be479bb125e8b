"""Bad input that needs the live lab to be seen: wrong credentials, an unreachable node, drift.

Same Case shape as tests/cli/bad_input_cases.py (docs/cli.md shows both tables); run by
test_bad_input_lab.py. ``{tmp}`` is the case's directory, where ``lab_copy`` puts a copy
of the lab's inventory (inv.ini) and secrets (secrets.yml) with one thing changed.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.cli.bad_input_cases import Case, Setup


def lab_copy(address: dict[str, str] | None = None, secrets: dict[str, str] | None = None,
             extra_host: str = "") -> Setup:
    """{tmp}/inv.ini and {tmp}/secrets.yml: the lab's, with addresses or secrets replaced."""
    def make(tmp: Path) -> None:
        from upgrader.lab.config import LabConfig

        cfg = LabConfig.from_env()
        text = cfg.inventory_file.read_text()
        for node, addr in (address or {}).items():
            text = re.sub(rf"^{node} ansible_host=\S+", f"{node} ansible_host={addr}", text, flags=re.M)
        if extra_host:       # a host in each role's group, as an operator would add one
            for group in ("galera", "rabbitmq", "keystone"):
                text = text.replace(f"[{group}]\n", f"[{group}]\n{extra_host}\n", 1)
        text = re.sub(r"^upgrader_secrets_file=.*$", "upgrader_secrets_file=secrets.yml", text, flags=re.M)
        (tmp / "inv.ini").write_text(text)
        data = yaml.safe_load(cfg.secrets_file.read_text())
        data.update(secrets or {})
        (tmp / "secrets.yml").write_text(yaml.safe_dump(data))
        (tmp / "secrets.yml").chmod(0o600)
    return make


LAB_CASES: list[Case] = [
    Case("lab-unreachable-node", "a node whose address does not answer (nothing listens on it)",
         ("plan", "-i", "{tmp}/inv.ini"),
         "plan refused: node3: Galera unreachable: MariaDB at 127.0.0.9: (2003, \"Can't connect to MySQL server "
         "on '127.0.0.9' ([Errno 111] Connection refused)\") (2 reasons, listed above); no plan written",
         setup=lab_copy(address={"node3": "127.0.0.9"})),
    Case("lab-unknown-host", "an inventory host the Galera cluster does not know",
         ("plan", "-i", "{tmp}/inv.ini"), "plan refused: …node4…", setup=lab_copy(
             extra_host="node4 ansible_host=127.0.0.9\nnode5 ansible_host=127.0.0.9")),
    Case("lab-wrong-db-password", "wrong database credentials", ("plan", "-i", "{tmp}/inv.ini"),
         "plan refused: node1: Galera unreachable: MariaDB at 10.123.0.11: (1045, \"Access denied for user "
         "'upgrader'@'10.123.0.1' (using password: YES)\") (3 reasons, listed above); no plan written",
         setup=lab_copy(secrets={"mariadb_upgrader_password": "wrong"})),
    Case("lab-wrong-rabbitmq-password", "wrong RabbitMQ credentials (the probe)",
         ("probe", "-i", "{tmp}/inv.ini", "-s", "1"), "probe: rabbitmq through the VIP failed before the roll: ProbableAuthenticationError: "
         "ConnectionClosedByBroker: (403) 'ACCESS_REFUSED - Login was refused using authentication mechanism "
         "PLAIN. For details see the broker logfile.'",
         setup=lab_copy(secrets={"rabbitmq_password": "wrong"})),
]
