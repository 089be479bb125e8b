"""Fixtures shared by every test directory."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def app():
    """upgrader.cli.app with its commands registered (once: typer does not dedupe)."""
    from upgrader import cli

    if not cli.app.registered_commands:
        cli._register()
    return cli.app
