"""`lab up --fresh` recognises a rolled lab from the hosts' overlay files alone."""
from pathlib import Path

from upgrader.lab.config import LabConfig
from upgrader.lab.fresh import dpkg_version, moved, only_keystone_moved
from upgrader.lab.packages import MARIADB_INSTALLED, MARIADB_PATCH

STATUS = "Package: libssl3\nVersion: 3.0.1\n\nPackage: mariadb-server\nStatus: install ok installed\nVersion: {}\n"


def _host(cfg: LabConfig, name: str, keystone: str, mariadb: str) -> None:
    upper = cfg.root / "hosts" / name / "ovl"
    (upper / "etc/up/default").mkdir(parents=True)
    (upper / "etc/up/default/keystone").write_text(f"KEYSTONE_VENV=/opt/openstack/venvs/keystone-{keystone}\n")
    (upper / "var/up/lib/dpkg").mkdir(parents=True)
    (upper / "var/up/lib/dpkg/status").write_text(STATUS.format(mariadb))


def _machine(tmp_path: Path, libssl: str = "3.0.1") -> Path:
    """The machine's own dpkg status: a fresh host's libssl3 is the machine's."""
    status = tmp_path / "machine-status"
    status.write_text(f"Package: libssl3\nVersion: {libssl}\n")
    return status


def test_a_fresh_lab_and_a_lab_never_built_are_not_rolled(tmp_path: Path) -> None:
    cfg = LabConfig(root=tmp_path, cache=tmp_path / "cache")
    assert moved(cfg, _machine(tmp_path)) == {}
    for node in cfg.nodes:
        _host(cfg, node.name, cfg.keystone_installed, MARIADB_INSTALLED)
    assert moved(cfg, _machine(tmp_path)) == {}


def test_a_host_on_another_release_or_package_is_rolled(tmp_path: Path) -> None:
    cfg = LabConfig(root=tmp_path, cache=tmp_path / "cache")
    _host(cfg, "node1", cfg.keystone_installed, MARIADB_INSTALLED)
    _host(cfg, "node2", cfg.keystone_target, MARIADB_INSTALLED)
    _host(cfg, "node3", cfg.keystone_installed, MARIADB_PATCH)
    assert moved(cfg, _machine(tmp_path)) == {"node2": ("keystone",), "node3": ("mariadb",)}


def test_a_patched_libssl3_is_a_move_even_with_mariadb_put_back(tmp_path: Path) -> None:
    """After a patch roll, a plain `lab up` puts MariaDB back by itself; libssl3 still tells."""
    cfg = LabConfig(root=tmp_path, cache=tmp_path / "cache")
    for node in cfg.nodes:
        _host(cfg, node.name, cfg.keystone_installed, MARIADB_INSTALLED)
    found = moved(cfg, _machine(tmp_path, libssl="3.0.0"))
    assert found == {n.name: ("libssl3",) for n in cfg.nodes} and not only_keystone_moved(found)


def test_dpkg_version_reads_the_named_stanza_only() -> None:
    assert dpkg_version(STATUS.format("1:10.11.19"), "mariadb-server") == "1:10.11.19"
    assert dpkg_version(STATUS.format("x"), "galera-4") == ""


def test_what_moved_decides_between_putting_keystone_back_and_a_rebuild(tmp_path: Path) -> None:
    cfg = LabConfig(root=tmp_path, cache=tmp_path / "cache")
    _host(cfg, "node1", cfg.keystone_target, MARIADB_INSTALLED)
    _host(cfg, "node2", cfg.keystone_target, MARIADB_INSTALLED)
    _host(cfg, "node3", cfg.keystone_installed, MARIADB_INSTALLED)
    found = moved(cfg, _machine(tmp_path))
    assert found == {"node1": ("keystone",), "node2": ("keystone",)} and only_keystone_moved(found)
    (cfg.root / "hosts/node3/ovl/var/up/lib/dpkg/status").write_text(STATUS.format(MARIADB_PATCH))
    found = moved(cfg, _machine(tmp_path))
    assert found["node3"] == ("mariadb",) and not only_keystone_moved(found)
    assert not only_keystone_moved({})
