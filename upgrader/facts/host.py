"""Facts read inside a node over SSH in one round trip: grastate, versions, RabbitMQ."""
from __future__ import annotations

import re
import shlex
import subprocess

from upgrader.facts import packages
from upgrader.inventory import NodeAccess

# One shell script, one SSH session: each section starts with a '==name' line.
# NOTE: the sections run concurrently, each into its own file, and are printed in order:
# each RabbitMQ CLI call boots an Erlang VM (1.2-1.5 s), and apt-cache and the /proc scan
# take about as long, so run one after another they made the gather 8 s, most of the
# pause between two nodes of a roll.
# NOTE: a newline before each marker: grastate.dat may end without one.
# NOTE: the Keystone release is read from the venv that /etc/default/keystone points at,
# which is how the lab (and openstack-ansible style venv layouts) record it.
SECTIONS = r"""
grastate() { cat /var/lib/mysql/grastate.dat; }
packages() { dpkg-query -W -f='${Package} ${Version}\n' mariadb-server galera-4 rabbitmq-server; }
keystone() { ( . /etc/default/keystone && "$KEYSTONE_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("keystone"))' ); }
rabbit_cluster() { rabbitmqctl -q cluster_status --formatter json; }
rabbit_quorum_critical() { rabbitmq-diagnostics -q check_if_node_is_quorum_critical >/dev/null 2>&1; echo $?; }
vrrp() { echo "state $(cat /run/keepalived.vrrp-state 2>/dev/null)"; ip -o -4 addr show | awk '{print "addr", $2, $4}'; }
haproxy_stat() { echo 'show stat' | socat stdio "UNIX-CONNECT:$HAPROXY_SOCKET"; }
""" + packages.SECTIONS

# Each shell function is a section, named after it, printed in the order defined.
SECTION_NAMES = tuple(re.findall(r"^(\w+)\(\) \{", SECTIONS, re.MULTILINE))
# What the health check between two nodes of a roll reads (refusals and drift): not the
# quorum-critical check (an advisory of the plan, and one Erlang VM boot per node), apt's
# candidates or the replaced-library scan (plan and report only). Under a roll's load on
# two cores the full set took 6-8 s, most of the pause between two nodes.
HEALTH_SECTIONS = ("grastate", "packages", "keystone", "rabbit_cluster", "debs")
# Read only where the nodes are the load balancers (controllers topology): the keepalived
# state and addresses (who holds the VIP), and the node's own HAProxy.
LB_SECTIONS = ("vrrp", "haproxy_stat")


def script(names: tuple[str, ...] = SECTION_NAMES, haproxy_socket: str = "") -> str:
    """The facts script for these sections."""
    return f"HAPROXY_SOCKET={shlex.quote(haproxy_socket)}\n" + SECTIONS + """
d=$(mktemp -d) || exit 1
for s in {names}; do "$s" >"$d/$s" 2>/dev/null & done
wait
for s in {names}; do echo; echo "==$s"; cat "$d/$s"; done
rm -rf "$d"
""".format(names=" ".join(names))


SCRIPT = script(tuple(n for n in SECTION_NAMES if n not in LB_SECTIONS))

_PACKAGE_COMPONENT = {"mariadb-server": "mariadb", "galera-4": "galera", "rabbitmq-server": "rabbitmq"}


def ssh_argv(node: NodeAccess, command: str) -> list[str]:
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-l", node.ssh_user]
    if node.ssh_key:
        argv += ["-i", node.ssh_key]
    argv += shlex.split(node.ssh_args)
    return argv + [node.address, command]


def collect(node: NodeAccess, timeout: float = 30,
            names: tuple[str, ...] = SECTION_NAMES, haproxy_socket: str = "") -> tuple[dict[str, str], str]:
    """({section: text}, error). error is one line, '' on success."""
    try:
        cp = subprocess.run(ssh_argv(node, script(names, haproxy_socket)), capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {}, f"{node.name}: ssh {node.address} timed out after {timeout:.0f} s"
    if cp.returncode == 255:
        last = (cp.stderr.strip().splitlines() or ["unreachable"])[-1]
        return {}, f"{node.name}: ssh {node.address}: {last}"
    return split_sections(cp.stdout), ""


def split_sections(text: str) -> dict[str, str]:
    """{name: text} of each '==name' section; a marker glued to the end of a line counts too."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = re.fullmatch(r"(.*?)==([a-z_]+)", line)
        if m is None:
            if current is not None:
                sections[current].append(line)
            continue
        if current is not None and m.group(1).strip():
            sections[current].append(m.group(1))
        current = m.group(2)
        sections[current] = []
    return {k: "\n".join(v).strip() for k, v in sections.items()}


def upstream(version: str) -> str:
    """'1:10.11.19-0+deb12u1' -> '10.11.19': the release a human compares."""
    m = re.match(r"^(?:\d+:)?([0-9][0-9.]*)", version.strip())
    return m.group(1).rstrip(".") if m else version.strip()


def parse_versions(sections: dict[str, str]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in sections.get("packages", "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in _PACKAGE_COMPONENT and parts[1]:
            versions[_PACKAGE_COMPONENT[parts[0]]] = upstream(parts[1])
    keystone = sections.get("keystone", "").strip()
    if keystone:
        versions["keystone"] = keystone
    return versions
