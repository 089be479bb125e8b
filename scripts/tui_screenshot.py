"""Render the terminal UI of a run directory to SVG (textual's own screenshot), headless.

  .venv/bin/python scripts/tui_screenshot.py RUN_DIR OUT.svg [--until-paused] [--size 100x30]

The UI is a view over the run directory (journal, control flags, live feeds), so the
screen of a real run can be drawn again from its directory. --until-paused draws it as it
stood when the run was first paused: from a copy whose journal and task log end at that
pause and whose control flags say paused (the health snapshot is the run's last one).
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from upgrader import control
from upgrader.live.feed import TASKS_FILE
from upgrader.tui.app import UpgraderApp


def cut_at_pause(run_dir: Path, into: Path) -> Path:
    """A copy of run_dir as it was when its first pause took effect."""
    copy = into / run_dir.name
    shutil.copytree(run_dir, copy)
    lines = (run_dir / "journal.jsonl").read_text().splitlines()
    asked = {}                                     # the last pause asked for (control record)
    for i, line in enumerate(lines):
        rec = json.loads(line)
        if rec.get("type") == "control" and rec.get("action") == "pause":
            asked = rec
        if rec.get("type") == "run_state" and rec.get("dest") == "paused":
            (copy / "journal.jsonl").write_text("\n".join(lines[: i + 1]) + "\n")
            _cut_by_time(copy / TASKS_FILE, rec["ts"])
            flags = dataclasses.replace(control.read(copy), paused=True, pause_reason=rec.get("reason", "operator"),
                                        paused_by=asked.get("by", ""), paused_at=asked.get("ts", rec["ts"]))
            (copy / control.CONTROL_FILE).write_text(json.dumps(dataclasses.asdict(flags), indent=2) + "\n")
            return copy
    raise SystemExit(f"error: {run_dir} was never paused")


def _cut_by_time(path: Path, until: str) -> None:
    """Keep the lines of a JSON-lines feed stamped at or before ``until``."""
    if path.exists():
        end = datetime.fromisoformat(until)
        kept = [ln for ln in path.read_text().splitlines()
                if datetime.fromisoformat(json.loads(ln)["ts"]) <= end]
        path.write_text("".join(ln + "\n" for ln in kept))


async def render(run_dir: Path, out: Path, size: tuple[int, int]) -> None:
    last = json.loads((run_dir / "journal.jsonl").read_text().splitlines()[-1])["ts"]
    moment = datetime.fromisoformat(last)           # the UI's clock: the journal's last record
    app = UpgraderApp(run_dir, poll_s=0.2, clock=lambda: moment)
    async with app.run_test(size=size) as pilot:
        for _ in range(100):
            if app.grid is not None:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--until-paused", action="store_true")
    ap.add_argument("--size", default="100x30")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = cut_at_pause(args.run_dir, Path(tmp)) if args.until_paused else args.run_dir
        asyncio.run(render(run_dir, args.out.resolve(), (width, height)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
