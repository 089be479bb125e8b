"""Integration tests run against the real lab: three namespaced hosts on this machine.

The session fixture brings the lab up (idempotent, about a minute from nothing);
the last module (test_zz_lab_down.py) takes it down and checks nothing is left.
"""
import pytest

from upgrader.lab import lifecycle, state
from upgrader.lab.config import LabConfig


@pytest.fixture(scope="session")
def lab():
    cfg = LabConfig.from_env()
    lifecycle.up(cfg, lambda phase, detail: print(f"[lab] {phase}: {detail}"))
    return cfg


@pytest.fixture(scope="session")
def lab_secrets(lab):
    return state.load_secrets(lab)
