"""Per-host package state: each lab host installs its own MariaDB, so a patch is really pending.

The hosts overlay /usr, /etc and /var, so apt inside one host changes that host only
(lab-notes §10). They have no route out: the debs are downloaded once on the machine
into a pool (``<cache>/debs``) and hard-linked into each host's own apt archive
directory, which its init binds on /var/cache/apt/archives (one directory per host:
two hosts' apt runs would fight over one archive lock).

What `lab up` installs in a new host: MariaDB ``MARIADB_INSTALLED`` (Debian's main
archive), so that ``MARIADB_PATCH`` (the security archive) is a real pending patch.
OpenSSL stays the machine's (seen through the /usr lower layer); when the security
archive offers a newer libssl3, that is the second pending patch, and its debs are in
the pool too.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from upgrader.errors import LabError
from upgrader.facts.packages import newest_security, parse_policy
from upgrader.lab.config import LabConfig, LabNode
from upgrader.lab.sh import last_line, parallel, ssh

MARIADB_INSTALLED = "1:10.11.18-0+deb12u1"
MARIADB_PATCH = "1:10.11.19-0+deb12u1"
POOL_DONE = ".complete"


def machine_family(source: str) -> list[str]:
    """Binary packages of ``source`` installed on the machine (what every host starts with)."""
    cp = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev} ${Package} ${source:Package}\n"],
                        capture_output=True, text=True, check=True)
    return sorted(p[1] for line in cp.stdout.splitlines()
                  if (p := line.split()) and len(p) == 3 and p[0] == "ii" and p[2] == source)


def machine_version(package: str) -> str:
    cp = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return cp.stdout.strip()


def openssl_patch() -> str:
    """The security archive's libssl3 when newer than the machine's, else "" (no OpenSSL patch)."""
    cp = subprocess.run(["apt-cache", "policy", "libssl3"], capture_output=True, text=True)
    _, versions = parse_policy(cp.stdout).get("libssl3", ("", []))
    return newest_security(machine_version("libssl3"), versions)


def wanted_debs() -> list[str]:
    """name=version of every deb the pool must hold."""
    mariadb = machine_family("mariadb")
    specs = [f"{p}={v}" for v in (MARIADB_INSTALLED, MARIADB_PATCH) for p in mariadb]
    if ssl := openssl_patch():
        specs += [f"{p}={ssl}" for p in machine_family("openssl")]
    return specs


def pool(cfg: LabConfig) -> Path:
    return cfg.cache / "debs"


def ensure_pool(cfg: LabConfig) -> str:
    """Download the debs once (apt-get download: no dpkg change on the machine)."""
    directory = pool(cfg)
    specs = wanted_debs()
    stamp = directory / POOL_DONE
    if stamp.exists() and stamp.read_text().split() == specs:
        return f"package pool ready ({len(specs)} debs)"
    directory.mkdir(parents=True, exist_ok=True)
    cp = _download(directory, specs)
    if cp.returncode != 0:          # stale lists on a machine set up long ago: refresh once
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, timeout=300)
        cp = _download(directory, specs)
    if cp.returncode != 0:
        last = (cp.stderr.strip().splitlines() or ["apt-get download failed"])[-1]
        raise LabError(f"lab: downloading the package pool failed: {last}")
    stamp.write_text("\n".join(specs) + "\n")
    return f"package pool: {len(specs)} debs in {directory}"


def _download(directory: Path, specs: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["apt-get", "download", "-q", *specs], cwd=directory, capture_output=True,
                          text=True, timeout=600)


def link_archives(cfg: LabConfig, node: LabNode) -> None:
    """The host's own apt archive directory: hard links of the pool (no extra disk)."""
    archives = cfg.host_dir(node) / "archives"
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    for deb in pool(cfg).glob("*.deb"):
        target = archives / deb.name
        if not target.exists():
            os.link(deb, target)


def installed(cfg: LabConfig, node: LabNode, package: str) -> str:
    """The installed version, or '' when the package is not installed."""
    cp = ssh(cfg, node, f"dpkg-query -W -f='${{Version}}' {package}", check=False)
    if cp.returncode == 255:   # ssh's own failure: the host did not answer, it is not "not installed"
        raise LabError(f"lab: {node.name}: cannot ask dpkg for {package} over ssh: {last_line(cp)}")
    return cp.stdout.strip()


def ensure_host_packages(cfg: LabConfig) -> str:
    """Every host on MariaDB MARIADB_INSTALLED; a no-op for hosts already there."""
    specs = [f"{p}={MARIADB_INSTALLED}" for p in machine_family("mariadb")]
    todo = [n for n in cfg.nodes if installed(cfg, n, "mariadb-server") != MARIADB_INSTALLED]
    # NOTE: man-db's trigger costs ~4 s per apt run and nothing in a lab host reads man pages.
    # NOTE: policy-rc.d keeps the package scripts from starting mariadb: a server started by a
    # postinst on a half-built lab (its Galera peers not up) answers but is in no cluster, and
    # the lab would then try to join the others to it.
    command = ("rm -f /var/lib/man-db/auto-update; printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d; "
               "chmod 755 /usr/sbin/policy-rc.d; DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
               "--allow-downgrades -o DPkg::Options::=--force-unsafe-io -o DPkg::Options::=--force-confold "
               + " ".join(specs) + " >/dev/null; rc=$?; rm -f /usr/sbin/policy-rc.d; exit $rc")
    parallel(lambda n: ssh(cfg, n, command, timeout=300, what=f"{n.name}: apt-get install MariaDB "
                           f"{MARIADB_INSTALLED}"), todo)
    if not todo:
        return f"every host on MariaDB {MARIADB_INSTALLED}"
    return f"MariaDB {MARIADB_INSTALLED} installed in {', '.join(n.name for n in todo)}"
