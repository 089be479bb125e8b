"""Every case of bad input or misuse gets one clear line, its exit code, no traceback, no change.

The cases are in bad_input_cases.py; docs/cli.md shows them (generated from that table,
checked here). Each case runs the installed console script in its own directory with
its own state, plans and runs directories, so no case sees another's files or the
machine's; the lab is not needed (loopback addresses only).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.cli.bad_input_cases import CASES, Case, doc_table
from tests.cli.conftest import upgrader_executable
from upgrader import exitcodes

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cli.md"


def case_env(tmp: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPGRADER_")}
    env.update(UPGRADER_STATE=str(tmp / "state"), UPGRADER_PLANS=str(tmp / "plans"),
               UPGRADER_RUNS=str(tmp / "runs"), UPGRADER_LAB=str(tmp / "nolab"),
               COLUMNS="200", NO_COLOR="1")
    env.update({k: v.format(tmp=tmp) for k, v in (extra or {}).items()})
    return env


def files_under(tmp: Path) -> set[str]:
    return {str(p.relative_to(tmp)) for d in ("plans", "runs") for p in (tmp / d).rglob("*")
            if (tmp / d).exists()}


def error_lines(stderr: str) -> list[str]:
    """stderr without the one informational line `plan`/`facts` may print (the inventory layout)."""
    return [ln for ln in stderr.splitlines() if ln.strip() and ": inventory layout: " not in ln]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_in_one_line(case: Case, tmp_path: Path) -> None:
    tmp = tmp_path.resolve()
    if case.setup is not None:
        case.setup(tmp)
    argv = case.argv(tmp)
    if "{tmp}/plans/PLAN" in case.args:                      # the plan the setup wrote
        argv[argv.index(str(tmp / "plans" / "PLAN"))] = str(next((tmp / "plans").glob("*.json")))
    before = files_under(tmp)
    try:
        cp = subprocess.run([upgrader_executable(), *argv], capture_output=True, text=True,
                            env=case_env(tmp, case.env), cwd=tmp, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        holder = tmp / "holder.pid"
        if holder.exists():
            os.kill(int(holder.read_text()), signal.SIGTERM)
    assert "Traceback" not in cp.stdout + cp.stderr
    lines = error_lines(cp.stderr)
    assert len(lines) == 1, cp.stderr
    assert case.pattern(tmp).match(lines[0]), f"\n got: {lines[0]}\nwant: error: {case.line}"
    assert cp.returncode == case.code
    assert files_under(tmp) == before, "a refused command changed the plans or runs directory"


def test_case_ids_are_unique_and_there_are_at_least_46_kinds() -> None:
    from tests.integration.bad_input_lab_cases import LAB_CASES

    ids = [c.id for c in CASES + LAB_CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 46


def generated_doc() -> str:
    from tests.integration.bad_input_lab_cases import LAB_CASES

    codes = "\n".join(f"| {code} | {meaning} |" for code, meaning in exitcodes.TABLE)
    template = (Path(__file__).parent / "cli_doc_template.md").read_text()
    return template.format(exit_codes="| exit | meaning |\n|---|---|\n" + codes,
                           offline=doc_table(CASES), lab=doc_table(LAB_CASES),
                           count=len(CASES) + len(LAB_CASES))


def write_docs() -> None:
    DOC.write_text(generated_doc())
    print(f"wrote {DOC}")


def test_docs_cli_md_is_generated_from_these_cases() -> None:
    assert DOC.read_text() == generated_doc(), "run: .venv/bin/python -m tests.cli.bad_input_cases"


def test_every_exit_code_in_the_table_is_one_the_cli_uses() -> None:
    used = {c.code for c in CASES} | set(exitcodes.FOR_RESULT.values())
    documented = {code for code, _ in exitcodes.TABLE}
    assert used <= documented
    assert re.search(r"\| 70 \| internal error", DOC.read_text())
