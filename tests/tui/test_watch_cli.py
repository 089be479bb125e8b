"""`upgrader watch` refuses, in one line, what it cannot show."""
from __future__ import annotations

import pytest

from upgrader.cli import watch as watch_cli
from upgrader.errors import ConfigError


def test_watch_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(ConfigError, match="is not a run directory"):
        watch_cli.watch(run=tmp_path)


def test_watch_and_apply_tui_need_a_terminal(run_dir):
    with pytest.raises(ConfigError, match="upgrader watch needs a terminal"):
        watch_cli.watch(run=run_dir)          # pytest's stdin is not a tty
    with pytest.raises(ConfigError, match="apply --tui needs a terminal"):
        watch_cli.run_apply_tui(run_dir, ("node2",), lambda bus, say: None)
