"""The per-cluster registry: one lock and one current-run pointer, whatever the runs directory."""
from __future__ import annotations


import pytest

from upgrader import registry
from upgrader.errors import ConfigError, LockHeld
from upgrader.paths import Locations
from upgrader.registry import RunPaths


def locs_at(tmp_path, runs="runs") -> Locations:
    return Locations(plans=tmp_path / "plans", runs=tmp_path / runs, state=tmp_path / "state", source={})


def test_the_lock_is_the_same_whichever_runs_directory(tmp_path):
    a, b = locs_at(tmp_path, "runs-a"), locs_at(tmp_path, "runs-b")
    with registry.lock(a, "lab", command="upgrader apply one"):
        with pytest.raises(LockHeld, match=r"held by pid \d+ \(upgrader apply one, since "):
            registry.lock(b, "lab").acquire()
        assert registry.holder(b, "lab")["command"] == "upgrader apply one"
    assert registry.holder(b, "lab") is None          # released: nobody holds it


def test_several_clusters_share_a_runs_directory(tmp_path):
    locs = locs_at(tmp_path)
    for name in ("alpha", "beta"):
        run = RunPaths(locs.runs, f"{name}-run1")
        run.dir.mkdir(parents=True)
        run.journal.write_text("")
        registry.set_current(locs, name, run)
    found = {e.cluster: e.run.run_id for e in registry.entries(locs)}
    assert found == {"alpha": "alpha-run1", "beta": "beta-run1"}
    assert (locs.clusters / "alpha.json").stat().st_mode & 0o777 == 0o600
    assert locs.clusters.stat().st_mode & 0o777 == 0o700


def test_a_pointer_to_a_removed_run_has_no_run(tmp_path):
    locs = locs_at(tmp_path)
    registry.set_current(locs, "lab", RunPaths(locs.runs, "gone"))
    assert registry.entry_for(locs, "lab").run is None


def test_a_damaged_pointer_is_one_line(tmp_path):
    locs = locs_at(tmp_path)
    locs.clusters.mkdir(parents=True)
    (locs.clusters / "lab.json").write_text("{nope")
    with pytest.raises(ConfigError, match="is not a valid run pointer; remove it"):
        registry.entry_for(locs, "lab")


def test_a_name_reused_by_another_cluster_is_refused(tmp_path):
    locs = locs_at(tmp_path)
    registry.set_current(locs, "lab", RunPaths(locs.runs, "r1"), addresses=("10.0.0.1", "10.0.0.2"))
    registry.check_same_cluster(locs, "lab", ("10.0.0.2", "10.0.0.1"))     # same cluster: fine
    with pytest.raises(ConfigError, match="already used on this machine by the cluster at 10.0.0.1"):
        registry.check_same_cluster(locs, "lab", ("10.9.9.9",))


@pytest.mark.parametrize("name", ["../etc", "a/b", ""])
def test_cluster_names_never_leave_the_state_directory(tmp_path, name):
    with pytest.raises(ConfigError, match="is not a valid name"):
        registry.lock(locs_at(tmp_path), name)


def test_clear_current_forgets_only_its_own_run(tmp_path):
    locs = locs_at(tmp_path)
    mine, other = RunPaths(locs.runs, "mine"), RunPaths(locs.runs, "other")
    for r in (mine, other):
        r.dir.mkdir(parents=True)
        r.journal.write_text("")
    registry.set_current(locs, "lab", other)
    registry.clear_current(locs, "lab", mine)       # not the current one: left alone
    assert registry.entry_for(locs, "lab").run == other
    registry.clear_current(locs, "lab", other)
    assert registry.entry_for(locs, "lab") is None
