"""Messages the feed worker posts to the app (post_message is thread-safe).

Snapshots (health, probe) replace an older one still queued: only the newest is worth
painting. Journal and control changes carry whole views, so a newer one supersedes
too. Task lines and roll outcomes accumulate: each one is news.
"""
from __future__ import annotations

from typing import Any

from textual.message import Message

from upgrader.control import ControlFlags
from upgrader.model import Plan
from upgrader.tui.reader import JournalView


class _Replaceable(Message):
    def can_replace(self, message: Message) -> bool:
        return type(message) is type(self)


class PlanLoaded(Message):
    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan


class JournalChanged(_Replaceable):
    def __init__(self, view: JournalView) -> None:
        super().__init__()
        self.view = view


class ControlChanged(_Replaceable):
    def __init__(self, flags: ControlFlags) -> None:
        super().__init__()
        self.flags = flags


class HealthChanged(_Replaceable):
    def __init__(self, doc: dict[str, Any]) -> None:
        super().__init__()
        self.doc = doc


class ProbeChanged(_Replaceable):
    def __init__(self, doc: dict[str, Any]) -> None:
        super().__init__()
        self.doc = doc


class TasksAppended(Message):
    def __init__(self, lines: list[dict[str, Any]]) -> None:
        super().__init__()
        self.lines = lines


class FeedProblem(_Replaceable):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class RollStopped(Message):
    """apply --tui: the roll in this process returned (done, at a gate, paused, failed)."""

    def __init__(self, result: str, message: str) -> None:
        super().__init__()
        self.result = result
        self.message = message
