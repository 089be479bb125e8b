"""Helpers of the pilot tests: a sync runner (no pytest-asyncio), bounded waits, a fixed clock."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from recorded import START


def at(seconds: float):
    """A fixed 'now' for the UI, seconds after the recording started."""
    moment = START + timedelta(seconds=seconds)
    return lambda: moment


def run(coro) -> None:
    """pytest-asyncio is not installed: each test drives its own event loop."""
    asyncio.run(asyncio.wait_for(coro, timeout=60))


async def until(pilot, predicate, timeout: float = 5.0, what: str = "the screen to change") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.05)


def journal_records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
