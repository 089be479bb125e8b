"""CLI test helpers: the real typer app, a private plans directory, facts files, the console script.

Nothing here reaches the lab: every `plan` runs from a facts file (``--facts``), and the
only inventories are broken ones that fail before any probe runs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def plans_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """UPGRADER_PLANS for this test; not created, so 'no plan written' means 'no directory'."""
    path = tmp_path / "plans"
    monkeypatch.setenv("UPGRADER_PLANS", str(path))
    monkeypatch.delenv("UPGRADER_INVENTORY", raising=False)
    return path


@pytest.fixture
def lab_healthy() -> dict:
    """`upgrader facts` as printed on the healthy, idle lab (node1 HAProxy's active writer)."""
    return json.loads((FIXTURES / "lab_healthy.json").read_text())


@pytest.fixture
def write_facts(tmp_path: Path) -> Callable[..., Path]:
    """write_facts(doc_or_text, name=...) -> path of a facts file in tmp_path."""
    def write(doc: dict | list | str, name: str = "facts.json") -> Path:
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
        return path
    return write


def upgrader_executable() -> str:
    """The console script of the venv running the tests (main(), not the bare typer app)."""
    beside = Path(sys.executable).with_name("upgrader")
    return str(beside) if beside.exists() else (shutil.which("upgrader") or "upgrader")


@pytest.fixture
def run_upgrader(plans_dir: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """run_upgrader(*args) runs the installed `upgrader` in tmp_path with UPGRADER_PLANS set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPGRADER_")}
    env.update(UPGRADER_PLANS=str(plans_dir), COLUMNS="120", NO_COLOR="1")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([upgrader_executable(), *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=60, stdin=subprocess.DEVNULL)
    return run
