"""`upgrader` with a fake roll: the real entry point, CLI, session, orchestrator and journal.

    python tests/cli/fake_roll.py MODE [upgrader arguments...]

Only the playbooks are faked (test_orchestrator's FakeExecutor), and the plan's inventory
is set aside inside the roll, so no cluster is read and no probe runs unless MODE brings
one. MODE is what the roll meets:

    ok               every step succeeds
    boom             the executor raises RuntimeError in the first node's stop_services
    wait             the first node's stop_services waits (for a SIGTERM from the test)
    control          control.json is corrupted after the first node's drain_api
    probe-stop       a probe whose stop raises
    early            an internal error before the run's first record
    early-interrupt  Ctrl-C before the run's first record
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unit")]

from test_exit_paths import FakeProbe, raise_at  # noqa: E402
from test_orchestrator import FakeExecutor  # noqa: E402
from upgrader import control  # noqa: E402
from upgrader.cli import apply as apply_cli  # noqa: E402
from upgrader.executor import session  # noqa: E402

STEP = "stop_services"


def hook(mode: str, first: str, run_dir: Path):
    def wait(node, step):
        if (node, step) == (first, STEP):
            time.sleep(60)

    def corrupt(node, step):
        if (node, step) == (first, "drain_api"):
            (run_dir / control.CONTROL_FILE).write_text("{")
    return {"boom": raise_at(first, STEP, RuntimeError("ansible-runner died")),
            "wait": wait, "control": corrupt}.get(mode)


def fake_execute(mode: str):
    def execute(paths, plan, **kw):
        if mode == "early":
            raise RuntimeError("broken before the first record")
        if mode == "early-interrupt":
            raise KeyboardInterrupt
        probe = FakeProbe(RuntimeError("thread wedged")) if mode == "probe-stop" else None
        return session.execute(paths, dataclasses.replace(plan, inventory=""),
                               executor=FakeExecutor(on_step=hook(mode, plan.order[0], paths.dir)),
                               health=lambda node, rolled: [], probe=probe, **kw)
    return execute


if __name__ == "__main__":
    apply_cli.execute = fake_execute(sys.argv[1])
    sys.argv = ["upgrader", *sys.argv[2:]]
    from upgrader.cli import main

    main()
