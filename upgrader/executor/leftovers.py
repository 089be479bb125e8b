"""Find and stop what a cancelled ansible-playbook run left running, by pid.

Why: ansible-runner cancels a run by killing ansible-playbook's process group, but a
worker that ansible-core moved into its own session (os.setsid) is not in that group.
When the cancel lands mid-task (the watcher stopping a node whose cluster lost quorum),
such a worker outlives the run, its Mitogen connection gone, and waits forever.

Each run's processes carry ``UPGRADER_RUN=<its private directory>`` in their environment
(runner passes the executor's envvars down, and every child inherits them), so the
leftovers are the processes with that entry: never matched by name, which would hit the
lab hosts' own processes (every host's look alike from the machine). The private
directory lies under the apply run's directory, so the same entry also finds what a
killed `upgrader apply` left running: its playbook goes on without it (it runs in its
own session), and the resumed apply must stop it before it runs the node's steps again.
A daemon a playbook starts on purpose, to outlive the run, drops the entry
(``env -u UPGRADER_RUN``), as galera_arbitrator_join does for garbd.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

RUN_MARKER = "UPGRADER_RUN"

# NOTE: ssh stays: a ControlPersist master started by this run may be serving another
# run's connection to the same host (it lets itself go after ControlPersist's 60 s).
_SPARED_COMMANDS = frozenset({"ssh"})


def environment(private_dir: Path) -> dict[str, str]:
    """The environment entry that names one playbook run's processes."""
    return {RUN_MARKER: str(private_dir)}


def marked_processes(within: Path, proc: Path = Path("/proc")) -> list[tuple[int, str]]:
    """(pid, command) of every live process but this one, ssh included, of a playbook run in
    ``within`` or under it."""
    exact, under = f"{RUN_MARKER}={within}".encode(), f"{RUN_MARKER}={within}/".encode()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "comm").read_text().strip()
        except OSError:      # gone meanwhile, or a kernel thread
            continue
        if any(v == exact or v.startswith(under) for v in environ):
            found.append((int(entry.name), command))
    return sorted(found)


def marked_pids(within: Path) -> list[int]:
    """Pids of the leftovers of the playbook runs in ``within`` or under it (ssh spared)."""
    return [pid for pid, command in marked_processes(within) if command not in _SPARED_COMMANDS]


def stop(within: Path) -> list[int]:
    """SIGKILL the leftover processes of the playbook runs in ``within`` or under it; their pids.

    SIGKILL, not SIGTERM: a leftover's parent is gone (or about to be replaced), so
    nobody reads what it does next; a TERM would let it run its current task on.
    """
    stopped = []
    for pid in marked_pids(within):
        try:
            os.kill(pid, signal.SIGKILL)
            stopped.append(pid)
        except ProcessLookupError:
            pass
    return stopped
