"""The roll's garbd on the machine (the lab's arbitrator host): found and stopped by pid file.

A roll starts and stops it (playbooks/galera_arbitrator_join.yml, _leave.yml); the lab
only needs to know it so that `lab down` leaves no process behind after a roll that
stopped mid-way, and `lab status` counts its vote.
"""
from __future__ import annotations

import os
import signal
import time

from upgrader.lab.config import LabConfig


def pid(cfg: LabConfig) -> int | None:
    """The pid of the roll's garbd when one runs (its comm checked: pids are reused)."""
    try:
        value = int(cfg.garbd_pidfile.read_text().split()[0])
        with open(f"/proc/{value}/comm") as f:
            return value if f.read().strip() == "garbd" else None
    except (OSError, ValueError, IndexError):
        return None


def stop(cfg: LabConfig, wait_s: float = 10.0) -> bool:
    """SIGTERM by pid, SIGKILL after ``wait_s``; True when one was running."""
    p = pid(cfg)
    if p is not None:
        os.kill(p, signal.SIGTERM)   # a graceful leave: the nodes need no eviction wait
        deadline = time.monotonic() + wait_s
        while pid(cfg) == p and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid(cfg) == p:
            os.kill(p, signal.SIGKILL)
    cfg.garbd_pidfile.unlink(missing_ok=True)
    return p is not None
