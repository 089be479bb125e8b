"""The panels of the run view, and the abort confirmation.

Panels are Statics that hold the text render.py made, so a test reads exactly what
the screen shows (``panel.text``). The task log is a RichLog: scrollable, bounded.
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, RichLog, Static


class Panel(Static):
    """A Static that remembers its plain text (what tests and `watch` captures read)."""

    def __init__(self, text: str = "", **kwargs) -> None:
        super().__init__(text, markup=False, **kwargs)
        self.text = text

    def show(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.update(text)


class Banner(Panel):
    """The one line that says whether the roll goes on; its class colours what it says."""

    KINDS = ("running", "paused", "awaiting", "abort", "failed", "done")

    def show_kind(self, kind: str, text: str) -> None:
        for k in self.KINDS:
            self.set_class(k == kind, f"-{k}")
        self.show(text)


class TaskLog(RichLog):
    """The streaming task log of the playbook run in flight, newest at the bottom."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_lines=2000, wrap=False, markup=False, highlight=False,
                         auto_scroll=True, **kwargs)
        self.texts: list[str] = []           # what was written, for tests

    def add(self, text: str) -> None:
        self.texts.append(text)
        del self.texts[:-2000]
        self.write(text)


class ConfirmAbort(ModalScreen[bool]):
    """x asks first: an abort cannot be undone (resume does not cancel it)."""

    BINDINGS = [Binding("y", "answer(True)", "Yes, abort"),
                Binding("n", "answer(False)", "No"),
                Binding("escape", "answer(False)", "No", show=False)]

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static("Abort the roll?\n\nIt stops at the next safe point: a node in flight is "
                         "finished first, then nothing further starts. Resume does not cancel "
                         "an abort.\n\ny: yes, abort   n: no, keep rolling", id="question")
            with Horizontal(id="answers"):
                yield Button("Yes, abort (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
