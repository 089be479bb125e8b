"""HAProxy on the machine, bound to the lab VIP, started and stopped by pid file."""
from __future__ import annotations

import os
import signal
import time

from upgrader.errors import LabError
from upgrader.lab import render
from upgrader.lab.config import LabConfig
from upgrader.lab.sh import run


def pid(cfg: LabConfig) -> int | None:
    try:
        value = int(cfg.haproxy_pidfile.read_text().split()[0])
        os.kill(value, 0)
        return value
    except (OSError, ValueError, IndexError):
        return None


def ensure_haproxy(cfg: LabConfig) -> str:
    cfg.haproxy_dir.mkdir(parents=True, exist_ok=True)
    conf = cfg.haproxy_dir / "haproxy.cfg"
    conf.write_text(render.haproxy_cfg(cfg))
    run(["haproxy", "-c", "-q", "-f", str(conf)], what="haproxy -c")
    if pid(cfg) is not None:
        return "already running"
    run(["haproxy", "-D", "-p", str(cfg.haproxy_pidfile), "-f", str(conf)], what="start haproxy")
    deadline = time.monotonic() + 10
    while not cfg.haproxy_socket.exists():
        if time.monotonic() > deadline:
            raise LabError("lab: haproxy started but its admin socket did not appear")
        time.sleep(0.1)
    return f"VIP {cfg.vip}: mariadb :3306, keystone :5000"


def stop_haproxy(cfg: LabConfig) -> None:
    p = pid(cfg)
    if p is not None:
        os.kill(p, signal.SIGUSR1)  # soft stop: finish serving, then exit
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(p, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(p, signal.SIGKILL)
    cfg.haproxy_pidfile.unlink(missing_ok=True)
