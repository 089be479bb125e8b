"""Running commands on the machine and, over SSH, inside the lab hosts."""
from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

from upgrader.errors import LabError
from upgrader.lab.config import LabConfig, LabNode

T = TypeVar("T")
R = TypeVar("R")


def run(argv: list[str], *, check: bool = True, timeout: float = 120, input: str | None = None,
        what: str = "") -> subprocess.CompletedProcess[str]:
    """Run argv; on failure raise LabError naming what failed and its last stderr line."""
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                            stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LabError(f"{what or argv[0]}: timed out after {timeout:.0f} s") from None
    except FileNotFoundError:
        raise LabError(f"{argv[0]}: command not found (run scripts/setup.sh)") from None
    if check and cp.returncode != 0:
        raise LabError(f"{what or ' '.join(argv[:3])}: exit {cp.returncode}: {last_line(cp)}")
    return cp


def last_line(cp: subprocess.CompletedProcess[str]) -> str:
    text = (cp.stderr or "").strip() or (cp.stdout or "").strip()
    return text.splitlines()[-1] if text else "no output"


def ssh(cfg: LabConfig, node: LabNode, command: str, *, check: bool = True, timeout: float = 120,
        input: str | None = None, what: str = "") -> subprocess.CompletedProcess[str]:
    """Run a shell command inside a lab host, the way an operator would: over SSH."""
    return run(["ssh", "-F", str(cfg.ssh_config), node.name, command], check=check,
               timeout=timeout, input=input, what=what or f"{node.name}: {command[:60]}")


def parallel(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """fn over items concurrently (one thread each); the first error is raised."""
    items = list(items)
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        return list(pool.map(fn, items))
