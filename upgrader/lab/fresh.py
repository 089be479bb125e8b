"""Whether the lab still runs what a fresh lab installs (Keystone release, MariaDB package).

Read from the machine, in each host's overlay upper directories, so it needs no host
to be running: a lab left rolled by an earlier run is recognised before it is started.
"""
from __future__ import annotations

from pathlib import Path

from upgrader.lab.config import LabConfig
from upgrader.lab.packages import MARIADB_INSTALLED


MACHINE_STATUS = Path("/var/lib/dpkg/status")


def moved(cfg: LabConfig, machine_status: Path = MACHINE_STATUS) -> dict[str, tuple[str, ...]]:
    """{host: components moved off what a fresh lab installs ("keystone", "mariadb", "libssl3")}.

    NOTE: a fresh host has the machine's libssl3 (its overlays lie over the machine's
    /usr and /var); a patch roll moves it. `lab up` puts a moved MariaDB back to the lab's
    version by itself, so after a patch roll and a plain `lab up` libssl3 is what tells.
    """
    machine_libssl = dpkg_version(machine_status.read_text(), "libssl3") if machine_status.exists() else ""
    found = {}
    for node in cfg.nodes:
        upper = cfg.host_dir(node) / "ovl"
        defaults = upper / "etc" / "up" / "default" / "keystone"
        keystone_moved = defaults.exists() and f"keystone-{cfg.keystone_installed}" not in defaults.read_text()
        status = upper / "var" / "up" / "lib" / "dpkg" / "status"
        mariadb_moved = status.exists() and dpkg_version(status.read_text(), "mariadb-server") != MARIADB_INSTALLED
        libssl_moved = status.exists() and dpkg_version(status.read_text(), "libssl3") != machine_libssl
        parts = tuple(c for c, m in (("keystone", keystone_moved), ("mariadb", mariadb_moved),
                                     ("libssl3", libssl_moved)) if m)
        if parts:
            found[node.name] = parts
    return found


def only_keystone_moved(found: dict[str, tuple[str, ...]]) -> bool:
    """Keystone can be put back in place (keystone.reset); a moved package needs a rebuild."""
    return bool(found) and all(parts == ("keystone",) for parts in found.values())


def dpkg_version(status: str, package: str) -> str:
    for stanza in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line)
        if fields.get("Package") == package:
            return fields.get("Version", "")
    return ""
