"""Live feeds of a run: files in the run directory that any terminal can watch.

The effectful side (``feeds``, ``health``) runs in the apply process; the pure side
(``tasks``, ``figures``, ``grid``) turns events, samples and the journal into what the
TUI shows. See docs/tui.md.

``from upgrader.live import start_live_feeds`` is resolved lazily: a watcher that only
reads the files (``upgrader.live.feed``, ``upgrader.live.grid``) does not import
ansible-runner and pymysql with it.
"""
from __future__ import annotations

from typing import Any

__all__ = ["LiveFeeds", "start_live_feeds"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from upgrader.live import feeds

        return getattr(feeds, name)
    raise AttributeError(name)
