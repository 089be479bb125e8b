#!/usr/bin/env bash
# Installs everything upgrader and its lab need on a fresh Debian 12 machine. Idempotent.
#
#   bash scripts/setup.sh          # apt packages, .venv with upgrader, the Keystone venvs
#
# Needs root (apt, namespaces). Safe to run again: every step checks before it acts.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${UPGRADER_CACHE:-/var/cache/upgrader}
KEYSTONE_RELEASES=${UPGRADER_KEYSTONE_RELEASES:-"28.1.0 29.1.0"}
PY=${UPGRADER_PYTHON:-python3}

say() { printf '[setup] %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    echo "setup: must run as root (apt-get and Linux namespaces need it)" >&2
    exit 1
fi

# NOTE: our own policy-rc.d keeps the distribution's default mariadb/rabbitmq/haproxy
# instances from starting on install and grabbing the lab's ports. The lab starts every
# service itself, inside its hosts.
if ! grep -qs 'exit 101' /usr/sbin/policy-rc.d; then
    say "installing /usr/sbin/policy-rc.d (deny service starts from package scripts)"
    printf '#!/bin/sh\n# upgrader: package scripts must not start services\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
fi

APT_PACKAGES=(
    mariadb-server galera-4 galera-arbitrator-4 mariadb-backup mariadb-client socat rsync
    haproxy keepalived rabbitmq-server openssh-server openssh-client tini iproute2 procps
    python3-venv python3-pymysql python3-apt tmux
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
    # NOTE: rabbitmq-server's postinst runs a CLI that leaves an epmd daemon listening on
    # the machine's port 4369. The lab runs one epmd per host; stop this stray one by pid.
    stray=$(ss -Hltnp 'sport = :4369' 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
    if [ -n "$stray" ] && [ "$(cat /proc/$stray/comm 2>/dev/null)" = epmd ]; then kill "$stray"; fi
else
    say "apt packages already installed"
fi

# The project's own virtualenv: upgrader, ansible-core, ansible-runner, molecule, pytest.
if [ ! -x "$ROOT/.venv/bin/upgrader" ] || [ "$ROOT/pyproject.toml" -nt "$ROOT/.venv/.installed" ]; then
    say "creating $ROOT/.venv"
    "$PY" -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check -e "$ROOT[test]" 2> >(grep -v "is ignored" >&2)
    touch "$ROOT/.venv/.installed"
else
    say ".venv up to date"
fi

# Keystone release venvs, built once at the path they have inside a lab host
# (/opt/openstack/venvs/keystone-X, the openstack-ansible layout). A private mount
# namespace binds the cache there so the machine's own /opt is never written.
mkdir -p "$CACHE/openstack/venvs" /opt/openstack
build_keystone() {
    local rel=$1 v=/opt/openstack/venvs/keystone-$1
    if [ -f "$CACHE/openstack/venvs/keystone-$rel/.complete" ]; then
        say "keystone $rel venv ready"
        return 0
    fi
    say "building keystone $rel venv (about a minute)"
    rm -rf "$CACHE/openstack/venvs/keystone-$rel"
    unshare --mount --propagation private sh -ec "
        mount --bind '$CACHE/openstack' /opt/openstack
        /usr/bin/python3 -m venv '$v'
        '$v/bin/pip' install -q --disable-pip-version-check 'keystone==$rel' pymysql gunicorn
        touch '$v/.complete'
    " > "$CACHE/keystone-$rel.build.log" 2>&1 || {
        echo "setup: building the keystone $rel venv failed, see $CACHE/keystone-$rel.build.log" >&2
        return 1
    }
}
pids=()
for rel in $KEYSTONE_RELEASES; do build_keystone "$rel" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done

say "done: run '$ROOT/.venv/bin/upgrader lab up'"
