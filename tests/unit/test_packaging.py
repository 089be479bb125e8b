"""An installed upgrader (a wheel, not the checkout) carries its playbooks and finds them."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from upgrader.paths import CHECKOUT


def test_a_wheel_install_finds_every_step_playbook(tmp_path: Path) -> None:
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    had_build = (CHECKOUT / "build").exists()
    try:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                        str(CHECKOUT)], check=True, capture_output=True, timeout=300, cwd=tmp_path)
    finally:
        if not had_build:   # setuptools builds in the tree; leave the checkout as it was
            shutil.rmtree(CHECKOUT / "build", ignore_errors=True)
    wheel = next(wheels.glob("upgrader-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    code = ("from upgrader.paths import playbooks_dir, from_checkout, locations\n"
            "print(playbooks_dir()); print(from_checkout()); print(locations().runs)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd="/", env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}).stdout.split()
    found = Path(out[0])
    assert found == target / "upgrader" / "playbooks"
    steps = sorted(p.name for p in (CHECKOUT / "playbooks").glob("*.yml"))
    assert steps and sorted(p.name for p in found.glob("*.yml")) == steps
    assert (found / "tasks" / "haproxy_drain.yml").is_file() and (found / "vars" / "galera.yml").is_file()
    assert out[1] == "False" and not out[2].startswith(str(CHECKOUT))   # runs go to the state dir
