"""Debian-like lab hosts: namespaces around tini and one sshd, started and stopped by pid."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from upgrader.errors import LabError
from upgrader.lab import render
from upgrader.lab.config import BIND_TARGETS, OVERLAID, LabConfig, LabNode
from upgrader.lab.render import LabSecrets
from upgrader.lab.sh import run, ssh

CREATED_MOUNTPOINTS = "created-mountpoints"


def ensure_mountpoints(cfg: LabConfig) -> None:
    """Bind targets must exist on the machine; remember the ones we made."""
    record = cfg.root / CREATED_MOUNTPOINTS
    made = set(record.read_text().split()) if record.exists() else set()
    for target in BIND_TARGETS:
        if not os.path.isdir(target):
            os.makedirs(target)
            made.add(target)
    record.write_text("\n".join(sorted(made)) + "\n")


def remove_created_mountpoints(cfg: LabConfig) -> None:
    record = cfg.root / CREATED_MOUNTPOINTS
    if not record.exists():
        return
    for target in sorted(record.read_text().split(), reverse=True):
        try:
            os.rmdir(target)  # only if still empty: never delete what someone else put there
        except OSError:
            pass


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


def prepare_host(cfg: LabConfig, node: LabNode, sec: LabSecrets, keys: dict[str, list[str]]) -> None:
    """Create the host's private directories and its first-boot seed. Idempotent."""
    h = cfg.host_dir(node)
    for d in OVERLAID:
        (h / "ovl" / d / "up").mkdir(parents=True, exist_ok=True)
        (h / "ovl" / d / "work").mkdir(parents=True, exist_ok=True)
    for sub, owner, mode in (("mysql-lib", "mysql:mysql", 0o755), ("mysql-log", "mysql:adm", 0o2750)):
        (h / sub).mkdir(exist_ok=True)
        shutil.chown(h / sub, *owner.split(":"))
        os.chmod(h / sub, mode)
    _stage_venvs(cfg, h / "opt-openstack" / "venvs")
    _write(h / "hostname", node.name + "\n")
    _write(h / "hostinit.sh", render.host_init(cfg, node), 0o755)
    seed = h / "seed"
    _write(seed / "etc/mysql/mariadb.conf.d/60-galera.cnf", render.galera_cnf(cfg, node))
    _write(seed / "etc/rabbitmq/rabbitmq.conf", render.rabbitmq_conf())
    _write(seed / "etc/rabbitmq/rabbitmq-env.conf", render.rabbitmq_env())
    _write(seed / "var/lib/rabbitmq/.erlang.cookie", sec.erlang_cookie, 0o400)
    _write(seed / "etc/keystone/keystone.conf", render.keystone_conf(cfg, node, sec), 0o640)
    _write(seed / "etc/keystone/ks_wsgi.py", render.KEYSTONE_WSGI)
    _write(seed / "etc/default/keystone", render.keystone_default(cfg.keystone_installed, node))
    _write(seed / "etc/init.d/keystone", render.KEYSTONE_INIT, 0o755)
    (seed / "var/log/keystone").mkdir(parents=True, exist_ok=True)
    # Fernet keys are shared by every node so a token from one validates on the others.
    for repo, values in keys.items():
        for i, value in enumerate(values):
            _write(seed / "etc/keystone" / repo / str(i), value, 0o600)
        os.chmod(seed / "etc/keystone" / repo, 0o700)


def _stage_venvs(cfg: LabConfig, dest: Path) -> None:
    """Give the host both Keystone releases, as hard links of the venvs setup built."""
    dest.mkdir(parents=True, exist_ok=True)
    for release in (cfg.keystone_installed, cfg.keystone_target):
        name = f"keystone-{release}"
        src = cfg.venv_cache / name
        if not (src / ".complete").exists():
            raise LabError(f"lab: {src} is missing: run scripts/setup.sh first")
        if not (dest / name).exists():
            run(["cp", "-al", str(src), str(dest / name)], what=f"staging {name}")


def host_pid(cfg: LabConfig, node: LabNode) -> int | None:
    """PID of the host's `unshare` process when it is alive."""
    pidfile = cfg.host_pidfile(node)
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return pid if b"unshare" in cmdline[0] else None


def init_pid(unshare_pid: int) -> int | None:
    """The host's PID 1 (tini) is the only child of its `unshare` process."""
    try:
        children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def start_host(cfg: LabConfig, node: LabNode) -> None:
    if host_pid(cfg, node) is not None:
        return
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    log = open(cfg.run_dir / f"{node.name}.log", "ab")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", node.netns, "unshare", "--mount", "--pid", "--fork", "--uts",
         "--mount-proc", "--propagation", "private",
         "tini", "--", "/bin/sh", str(cfg.host_dir(node) / "hostinit.sh")],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )
    # `ip netns exec` execs unshare in place, so this pid is unshare's.
    cfg.host_pidfile(node).write_text(f"{proc.pid}\n")
    wait_ssh(cfg, node)


def wait_ssh(cfg: LabConfig, node: LabNode, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if ssh(cfg, node, "true", check=False, timeout=10).returncode == 0:
            return
        if time.monotonic() > deadline:
            raise LabError(f"lab: host {node.name} did not answer SSH within {timeout:.0f} s "
                           f"(see {cfg.run_dir / (node.name + '.log')})")
        time.sleep(0.2)


def stop_host(cfg: LabConfig, node: LabNode, timeout: float = 10) -> None:
    """TERM the host's init: the kernel then kills everything left in its PID namespace."""
    pid = host_pid(cfg, node)
    if pid is not None:
        run(["ssh", "-F", str(cfg.ssh_config), "-O", "exit", node.name], check=False, timeout=5)
        init = init_pid(pid)
        _signal(init or pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            _signal(init or pid, signal.SIGKILL)
            _signal(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    cfg.host_pidfile(node).unlink(missing_ok=True)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state not in ("Z", "X")
