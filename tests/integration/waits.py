"""Polling for lab tests: wait for a real condition, fail with what was awaited."""
from __future__ import annotations

import time


def wait_until(predicate, timeout: float = 30, what: str = "condition", interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
