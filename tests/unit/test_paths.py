"""Where files go: absolute at the boundary, the documented precedence, private directories."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from upgrader import paths
from upgrader.errors import ConfigError


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("UPGRADER_PLANS", "UPGRADER_RUNS", "UPGRADER_STATE", "UPGRADER_CONFIG", "XDG_STATE_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(paths, "SYSTEM_CONFIG", Path("/nonexistent/upgrader.yml"))
    return monkeypatch


@pytest.mark.parametrize("given, base, want", [
    ("runs", Path("/srv"), "/srv/runs"),              # relative: against the base, not the cwd
    ("/a/./b/../c", None, "/a/c"),                    # absolute: normalised
    ("~/x", None, str(Path.home() / "x")),            # ~ expanded
])
def test_absolute(given, base, want):
    assert paths.absolute(given, "x", base) == Path(want)


@pytest.mark.parametrize("given", ["", "a\0b", "x" * 5000])   # empty, NUL, over PATH_MAX
def test_absolute_refuses_in_one_line(given):
    with pytest.raises(ConfigError) as e:
        paths.absolute(given, "--inventory")
    assert "\n" not in str(e.value) and str(e.value).startswith("--inventory: ")


def test_relative_paths_are_made_absolute_from_any_cwd(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    clean_env.setenv("UPGRADER_RUNS", "rel/runs")
    locs = paths.locations()
    assert locs.runs == tmp_path / "rel" / "runs" and locs.runs.is_absolute()


def test_precedence_environment_then_config_then_default(clean_env, tmp_path):
    config = tmp_path / "etc" / "config.yml"
    config.parent.mkdir()
    config.write_text("plans_dir: p\nruns_dir: /r\nstate_dir: s\n")
    clean_env.setenv("UPGRADER_CONFIG", str(config))
    clean_env.setenv("UPGRADER_RUNS", str(tmp_path / "env-runs"))
    locs = paths.locations()
    assert locs.runs == tmp_path / "env-runs" and locs.source["runs_dir"] == "$UPGRADER_RUNS"
    assert locs.plans == tmp_path / "etc" / "p"      # relative to the config file
    assert locs.state == tmp_path / "etc" / "s" and locs.clusters == tmp_path / "etc" / "s" / "clusters"


def test_defaults_from_a_checkout_and_the_state_dir(clean_env):
    locs = paths.locations()
    assert paths.from_checkout()                     # the tests run from the source checkout
    assert locs.plans == paths.CHECKOUT / "plans" and locs.runs == paths.CHECKOUT / "runs"
    assert locs.state == (Path("/var/lib/upgrader") if os.geteuid() == 0
                          else Path.home() / ".local" / "state" / "upgrader")


def test_playbooks_are_found_from_the_package():
    found = paths.playbooks_dir()
    assert (found / "stop_services.yml").is_file() and found.is_absolute()


def test_private_dir_is_created_0700_and_tightened(tmp_path):
    d = paths.private_dir(tmp_path / "cp", "SSH control directory")
    assert d.stat().st_mode & 0o777 == 0o700
    d.chmod(0o755)
    paths.private_dir(d, "SSH control directory")
    assert d.stat().st_mode & 0o777 == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the directory away")
def test_private_dir_owned_by_someone_else_is_refused(tmp_path):
    d = tmp_path / "cp"
    d.mkdir()
    os.chown(d, 65534, 65534)      # nobody: what a predictable /tmp name invites
    with pytest.raises(ConfigError, match="owned by uid 65534, not by this user; remove it"):
        paths.private_dir(d, "SSH control directory")


def test_private_dir_refuses_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "cp").symlink_to(tmp_path / "real")
    with pytest.raises(ConfigError, match="not a directory"):
        paths.private_dir(tmp_path / "cp", "SSH control directory")
