"""Fixtures of the TUI tests: one recorded run, copied stage by stage into a fresh run dir."""
from __future__ import annotations

import pytest

from recorded import index_of, new_run_dir, record_run


@pytest.fixture(scope="session")
def recording(tmp_path_factory):
    """(plan file, journal lines) of the recorded run."""
    return record_run(tmp_path_factory.mktemp("recording"))


@pytest.fixture
def stages(recording):
    """Cut points of the recorded journal, by what an operator would see."""
    _, lines = recording
    return {
        "node2_drain_api_started": index_of(lines, lambda r: r["type"] == "step_started"
                                            and r.get("node") == "node2") + 1,
        "canary_gate": index_of(lines, lambda r: r.get("dest") == "awaiting_approval") + 1,
        "all": len(lines),
    }


@pytest.fixture
def run_dir(tmp_path, recording):
    plan_file, _ = recording
    return new_run_dir(tmp_path, plan_file)
