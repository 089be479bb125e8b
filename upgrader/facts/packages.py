"""Installed packages, what apt offers for them, and processes left on replaced libraries.

Three sections of the node's one facts script (facts/host.py), each parsed here from
text (pure: tested from output recorded on the lab):

- ``debs``: ``dpkg-query`` lines ``name version source`` of every installed package
  (held ones too: a hold is the operator's, and apt says so at install time) whose
  source package is watched (MariaDB, Galera, RabbitMQ and Erlang, OpenSSL);
- ``policy``: ``apt-cache policy`` of those packages: the candidate and every version
  the host's apt lists know, with the archives that serve each;
- ``stale``: ``comm[pid] /path`` of each process that still maps a shared library that
  was deleted or replaced on disk (the check ``needrestart``/``checkrestart`` make
  after an OpenSSL update: the process runs the old code until it restarts).
"""
from __future__ import annotations

import re

from upgrader.model import PackageFacts

# Source packages whose binaries a patch roll may move. openssl: libssl3 is what every
# TLS-speaking service maps; erlang: RabbitMQ's runtime.
WATCHED_SOURCES = ("mariadb", "galera-4", "rabbitmq-server", "erlang", "openssl")

_SOURCES_RE = "|".join(WATCHED_SOURCES)
# Shell functions, one per section, run by the node's facts script (facts/host.py).
# policy asks apt about the packages debs finds (dpkg-query again: 10 ms, and the health
# check between two nodes of a roll can then skip apt, which it does not need).
# stale: one grep over every process's maps, not a grep, an awk and a cat per process
# (those forks took 1-2 s of CPU per node in every gather).
SECTIONS = rf"""
debs() {{
  dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}} ${{Version}} ${{source:Package}}\n' 2>/dev/null |
    awk '$1 ~ /^[ih]i$/ && $4 ~ /^({_SOURCES_RE})$/ {{print $2, $3, $4}}'
}}
policy() {{
  names=$(debs | cut -d' ' -f1)
  [ -n "$names" ] && apt-cache policy $names
}}
stale() {{
  grep -H '\.so[^ ]* (deleted)$' /proc/[0-9]*/maps 2>/dev/null |
    sed -n 's#^/proc/\([0-9]*\)/maps:.* \(/[^ ]*\) (deleted)$#\1 \2#p' | sort -u |
    while read -r p f; do echo "$(cat /proc/$p/comm 2>/dev/null)[$p] $f"; done
}}
"""

_VERSION_LINE = re.compile(r"^ (?:\*\*\*| {3}) (\S+) (-?\d+)$")
_ORIGIN_LINE = re.compile(r"^ {8}-?\d+ (\S+) (\S+) ")


def parse_debs(text: str) -> list[tuple[str, str, str]]:
    """[(name, version, source)] from the ``debs`` section."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            rows.append((parts[0], parts[1], parts[2]))
    return rows


def parse_policy(text: str) -> dict[str, tuple[str, list[tuple[str, list[str]]]]]:
    """{name: (candidate, [(version, [archive suite, ...]), ...])} from ``apt-cache policy``.

    Versions come in apt's order (highest priority pin first, which for plain
    Debian sources is newest first); a version's suites are the lines under it
    ("bookworm-security/main"), the local dpkg status shows as "/var/lib/dpkg/status".
    """
    out: dict[str, tuple[str, list[tuple[str, list[str]]]]] = {}
    name, candidate, versions = "", "", []
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            if name:
                out[name] = (candidate, versions)
            name, candidate, versions = line[:-1], "", []
        elif line.startswith("  Candidate: "):
            candidate = line.split(": ", 1)[1].strip()
            candidate = "" if candidate == "(none)" else candidate
        elif m := _VERSION_LINE.match(line):
            versions.append((m.group(1), []))
        elif (m := _ORIGIN_LINE.match(line)) and versions:
            versions[-1][1].append(m.group(2) if m.group(1).startswith("http") else m.group(1))
    if name:
        out[name] = (candidate, versions)
    return out


def newest_security(installed: str, versions: list[tuple[str, list[str]]]) -> str:
    """The newest version a ``*-security`` suite serves that is newer than ``installed``, or "".

    apt lists a package's versions newest first, so only those before the installed
    one are newer.
    """
    for version, suites in versions:
        if version == installed:
            return ""
        if any(s.split("/")[0].endswith("-security") for s in suites):
            return version
    return ""


def package_facts(debs_text: str, policy_text: str) -> tuple[PackageFacts, ...]:
    policy = parse_policy(policy_text)
    facts = []
    for name, version, source in parse_debs(debs_text):
        candidate, versions = policy.get(name, ("", []))
        facts.append(PackageFacts(name=name, version=version, source=source,
                                  security=newest_security(version, versions), candidate=candidate,
                                  available=tuple(v for v, _ in versions)))
    return tuple(sorted(facts, key=lambda p: p.name))


def parse_stale(text: str) -> tuple[str, ...]:
    """("mariadbd[812] /usr/lib/x86_64-linux-gnu/libssl.so.3", ...), sorted, one per process and file."""
    return tuple(sorted({line.strip() for line in text.splitlines()
                         if re.fullmatch(r"\S+\[\d+\] /\S+", line.strip())}))
