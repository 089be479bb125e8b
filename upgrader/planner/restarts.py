"""Which services a package change needs restarted: one table, by source package.

Why a table at all: dpkg replaces files on disk, but a running process keeps the old
binary and the old shared libraries mapped (they show up in facts as
``stale_libraries``) until it restarts. A patch, a CVE fix above all, takes effect only
once every process that maps the changed files has restarted, so the plan names them.
"""
from __future__ import annotations

from fnmatch import fnmatchcase

# source package (a shell-style pattern) -> services to restart, with the reason.
RESTARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mariadb", ("mariadb",)),                   # mariadbd itself, its client and plugins
    ("galera-4", ("mariadb",)),                  # libgalera_smm.so is loaded by mariadbd
    ("rabbitmq-server", ("rabbitmq-server",)),
    ("erlang*", ("rabbitmq-server",)),           # the broker runs on the Erlang VM (beam.smp)
    # libssl3/libcrypto: every TLS speaker maps them; sshd only for new connections
    ("openssl", ("mariadb", "rabbitmq-server", "keystone", "ssh")),
    ("python3.*", ("keystone",)),                # the interpreter under Keystone's venv
)

# NOTE: sshd is reloaded, never restarted: SIGHUP makes it re-exec itself (new libraries
# for new connections) while existing sessions, Ansible's own included, keep running.
RELOAD_ONLY: frozenset[str] = frozenset({"ssh"})


def services_for(source: str) -> tuple[str, ...]:
    """Services that must restart after a binary of ``source`` changed; () when none known."""
    found: list[str] = []
    for pattern, services in RESTARTS:
        if fnmatchcase(source, pattern):
            found += [s for s in services if s not in found]
    return tuple(found)


def shown(service: str) -> str:
    """"ssh (reload)" for reload-only services, the bare name otherwise."""
    return f"{service} (reload)" if service in RELOAD_ONLY else service
