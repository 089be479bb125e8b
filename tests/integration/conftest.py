"""Integration tests run against the real lab: three namespaced hosts on this machine.

The session fixture brings the lab up (idempotent, about a minute from nothing);
the last module (test_zz_lab_down.py) takes it down and checks nothing is left.
"""
import pytest

from upgrader.lab import lifecycle, state
from upgrader.lab.config import LabConfig


def _say(phase: str, detail: str) -> None:
    print(f"[lab] {phase}: {detail}")


@pytest.fixture(scope="session")
def lab():
    cfg = LabConfig.from_env()
    if _rolled(cfg):
        # NOTE: the demo (run first in CI) leaves the lab rolled to the target release;
        # the tests start from the release a fresh lab installs.
        lifecycle.down(cfg, _say)
    lifecycle.up(cfg, _say)
    return cfg


def _rolled(cfg: LabConfig) -> bool:
    """True when a host runs another Keystone release or MariaDB than a fresh lab installs."""
    from upgrader.lab.packages import MARIADB_INSTALLED

    for node in cfg.nodes:
        # the host's own files, seen from the machine in its overlay's upper directories
        defaults = cfg.host_dir(node) / "ovl" / "etc" / "up" / "default" / "keystone"
        if defaults.exists() and f"keystone-{cfg.keystone_installed}" not in defaults.read_text():
            return True
        status = cfg.host_dir(node) / "ovl" / "var" / "up" / "lib" / "dpkg" / "status"
        if status.exists() and _dpkg_version(status.read_text(), "mariadb-server") != MARIADB_INSTALLED:
            return True
    return False


def _dpkg_version(status: str, package: str) -> str:
    for stanza in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line)
        if fields.get("Package") == package:
            return fields.get("Version", "")
    return ""


@pytest.fixture(scope="module", autouse=True)
def lab_healed(lab):
    """Each module starts on a healthy lab: a module that broke it (a failed lab up in a
    test that recreates the lab) costs its own tests, not every module after it."""
    from upgrader.lab import health

    if not lab.inventory_file.exists() or not health.check(lab, state.load_secrets(lab)).healthy:
        lifecycle.up(lab, _say)


@pytest.fixture
def lab_secrets(lab):
    """Read for each test: a test that recreates the lab (lab down + up) makes new ones."""
    return state.load_secrets(lab)


# Modules that change the cluster run after the ones that read it as built, and
# test_zz_lab_down.py last. Unknown modules run in between, in name order.
MODULE_ORDER = ["test_lab.py", "test_plan_lab.py", "test_bad_input_lab.py", "test_playbooks.py",
                "test_apply_lab.py", "test_patch_roll_lab.py", "test_first_run_lab.py", "test_tui_lab.py",
                "test_probe_lab.py", "test_zz_lab_down.py"]


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        name = item.path.name
        return (MODULE_ORDER.index(name) if name in MODULE_ORDER else len(MODULE_ORDER) - 1.5, name)
    items.sort(key=rank)
