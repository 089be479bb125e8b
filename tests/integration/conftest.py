"""Integration tests run against the real lab: three namespaced hosts on this machine.

The session fixture brings the lab up (idempotent, about a minute from nothing) and
leaves it up: the Molecule scenarios run next on the same lab, and the default scenario's
destroy takes it down and checks nothing is left (molecule/shared/destroy.yml).
"""
import pytest

from upgrader.lab import health, lifecycle, state
from upgrader.lab.config import LabConfig


def _say(phase: str, detail: str) -> None:
    print(f"[lab] {phase}: {detail}")


@pytest.fixture(scope="session")
def lab():
    cfg = LabConfig.from_env()
    # NOTE: the demo (run first in CI) leaves the lab rolled to the target release, with
    # HAProxy and keepalived on the nodes; the tests start from the release a fresh lab
    # installs, with the machine's HAProxy (test_controllers_lab.py switches for its tests).
    lifecycle.up_fresh(cfg, _say, lb="dedicated")
    # the same settle `upgrader lab up` waits for: servers past their rise count, a token
    h = health.settled(cfg, state.load_secrets(cfg))
    assert h.healthy, "lab up did not settle: " + "; ".join(h.problems)
    return cfg


@pytest.fixture(scope="module", autouse=True)
def lab_healed(lab):
    """Each module starts on a healthy lab: a module that broke it (a failed lab up in a
    test that recreates the lab) costs its own tests, not every module after it."""
    if not lab.inventory_file.exists() or not health.check(lab, state.load_secrets(lab)).healthy:
        lifecycle.up(lab, _say)


@pytest.fixture
def lab_secrets(lab):
    """Read for each test: a test that recreates the lab (lab down + up) makes new ones."""
    return state.load_secrets(lab)


# Modules that change the cluster run after the ones that read it as built.
# Unknown modules run before test_probe_lab.py, in name order. test_controllers_lab.py is
# last: it leaves the lab on the controllers topology, which the Molecule scenarios (run
# next by scripts/test.sh) use, so the lab switches topology once, not three times.
MODULE_ORDER = ["test_lab.py", "test_plan_lab.py", "test_bad_input_lab.py", "test_playbooks.py",
                "test_apply_lab.py", "test_tui_lab.py", "test_probe_lab.py", "test_controllers_lab.py"]


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        name = item.path.name
        unknown = MODULE_ORDER.index("test_probe_lab.py") - 0.5
        return (MODULE_ORDER.index(name) if name in MODULE_ORDER else unknown, name)
    items.sort(key=rank)
