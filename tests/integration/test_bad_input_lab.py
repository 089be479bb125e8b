"""Bad input seen only against the live lab: each refused in one line, nothing changed.

The cases are in bad_input_lab_cases.py (docs/cli.md lists them with the offline ones);
each runs the installed `upgrader` on a copy of the lab's inventory and secrets with one
thing wrong. The lab's own files are never edited.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bad_input_lab_cases import LAB_CASES
from tests.cli.bad_input_cases import Case
from tests.cli.conftest import upgrader_executable
from tests.cli.test_bad_input import case_env, error_lines, files_under
from upgrader.facts import haproxy
from upgrader.lab import health
from waits import wait_until

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("case", LAB_CASES, ids=[c.id for c in LAB_CASES])
def test_bad_input_on_the_lab_is_refused_in_one_line(case: Case, tmp_path: Path, lab, lab_secrets) -> None:
    tmp = tmp_path.resolve()
    assert case.setup is not None
    case.setup(tmp)
    before = files_under(tmp)
    cp = subprocess.run([upgrader_executable(), *case.argv(tmp)], capture_output=True, text=True,
                        env=case_env(tmp, case.env), cwd=tmp, timeout=120, stdin=subprocess.DEVNULL)
    assert "Traceback" not in cp.stdout + cp.stderr
    lines = error_lines(cp.stderr)
    assert len(lines) == 1, cp.stderr
    assert case.pattern(tmp).match(lines[0]), f"\n got: {lines[0]}\nwant: error: {case.line}"
    assert cp.returncode == case.code
    assert files_under(tmp) == before
    assert health.check(lab, lab_secrets).healthy


def _writer(lab) -> str:
    servers = haproxy.parse_stat(haproxy.show_stat(str(lab.haproxy_socket)), ("mariadb",))
    return next(s.server for s in servers if s.active)


def test_a_stale_plan_is_refused_before_any_step(tmp_path: Path, lab, lab_secrets) -> None:
    """The writer moved after `plan`: `apply` says the plan is stale, starts nothing."""
    tmp = tmp_path.resolve()
    env = case_env(tmp)
    env.pop("UPGRADER_LAB")        # the lab's own inventory, from its default place

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([upgrader_executable(), *args], capture_output=True, text=True, env=env,
                              cwd=tmp, timeout=300, stdin=subprocess.DEVNULL)
    assert run("plan", "--patch").returncode == 0
    sock, writer = str(lab.haproxy_socket), _writer(lab)
    haproxy.set_state(sock, "mariadb", writer, "maint")
    try:
        wait_until(lambda: _writer(lab) != writer, what="the writer moved")
        cp = run("apply", "--yes", "--no-probe")
    finally:
        haproxy.set_state(sock, "mariadb", writer, "ready")
        wait_until(lambda: _writer(lab) == writer, what="the writer back")
    assert "Traceback" not in cp.stdout + cp.stderr
    lines = error_lines(cp.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: plan lab-") and " is stale: " in lines[0], cp.stderr
    assert "(run `upgrader plan` again)" in lines[0]
    assert cp.returncode == 2
    assert not (tmp / "runs").exists() or not any((tmp / "runs").iterdir())
    assert health.check(lab, lab_secrets).healthy
