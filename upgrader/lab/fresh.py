"""Whether the lab still runs what a fresh lab installs (Keystone release, MariaDB package).

Read from the machine, in each host's overlay upper directories, so it needs no host
to be running: a lab left rolled by an earlier run is recognised before it is started.
"""
from __future__ import annotations

from upgrader.lab.config import LabConfig
from upgrader.lab.packages import MARIADB_INSTALLED


def rolled_hosts(cfg: LabConfig) -> list[str]:
    """Hosts that run another Keystone release or MariaDB package than a fresh lab."""
    found = []
    for node in cfg.nodes:
        upper = cfg.host_dir(node) / "ovl"
        defaults = upper / "etc" / "up" / "default" / "keystone"
        keystone_moved = defaults.exists() and f"keystone-{cfg.keystone_installed}" not in defaults.read_text()
        status = upper / "var" / "up" / "lib" / "dpkg" / "status"
        mariadb_moved = status.exists() and dpkg_version(status.read_text(), "mariadb-server") != MARIADB_INSTALLED
        if keystone_moved or mariadb_moved:
            found.append(node.name)
    return found


def dpkg_version(status: str, package: str) -> str:
    for stanza in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line)
        if fields.get("Package") == package:
            return fields.get("Version", "")
    return ""
