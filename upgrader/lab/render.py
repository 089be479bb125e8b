"""Text of every file the lab writes. Pure functions of the config and secrets.

Kept apart from the code that writes them so that each is unit-tested and so
that a reader sees one host's whole configuration in one module.
"""
from __future__ import annotations

import secrets as _random
import base64
import string
from dataclasses import dataclass, asdict

from upgrader.lab.config import LabConfig, LabNode


@dataclass(frozen=True)
class LabSecrets:
    """Passwords the lab generates. Written only to a 0600 file, never logged."""

    mariadb_upgrader_password: str
    keystone_db_password: str
    keystone_admin_password: str
    rabbitmq_password: str
    erlang_cookie: str

    @classmethod
    def generate(cls) -> "LabSecrets":
        def pw() -> str:
            # NOTE: a letter first: token_urlsafe can start with "-", and a password
            # passed as an argument then reads as an option (`rabbitmqctl change_password
            # upgrader -...` exits 64: one fresh lab in 64 failed its `lab up`).
            return _random.choice(string.ascii_letters) + _random.token_urlsafe(18)

        return cls(pw(), pw(), pw(), pw(), _random.token_hex(20).upper())

    def to_yaml(self) -> str:
        return "".join(f"{k}: \"{v}\"\n" for k, v in asdict(self).items())

    def values(self) -> list[str]:
        return list(asdict(self).values())

    def __repr__(self) -> str:
        # NOTE: a failing test's traceback prints its locals' reprs; passwords must not be among them
        return f"LabSecrets({', '.join(asdict(self))}: hidden)"


def fernet_key() -> str:
    """A Fernet key exactly as keystone-manage fernet_setup writes it."""
    return base64.urlsafe_b64encode(_random.token_bytes(32)).decode()


# ----------------------------------------------------------------- MariaDB Galera


def galera_cnf(cfg: LabConfig, node: LabNode) -> str:
    peers = ",".join(n.address for n in cfg.nodes)
    return f"""\
# Written by upgrader lab. Galera settings for {node.name}.
[galera]
wsrep_on                 = ON
wsrep_provider           = /usr/lib/galera/libgalera_smm.so
wsrep_cluster_name       = {cfg.cluster_name}
wsrep_cluster_address    = gcomm://{peers}
wsrep_node_name          = {node.name}
wsrep_node_address       = {node.address}
# NOTE: the donor's gcache decides whether a restarted node rejoins by IST (cheap)
# or SST (full copy). 128M holds minutes of the lab's write rate.
wsrep_provider_options   = "gcache.size={cfg.gcache_size}"
wsrep_sst_method         = rsync
binlog_format            = row
default_storage_engine   = InnoDB
innodb_autoinc_lock_mode = 2
# NOTE: the node's own address, not 0.0.0.0: with the controllers topology the host's
# HAProxy binds the VIP's port 3306 beside it, as in kolla-ansible.
bind-address             = {node.address}
# NOTE: without an explicit port wsrep_incoming_addresses shows IP:0.
port                     = 3306

[mysqld]
log_error                = /var/log/mysql/error.log
innodb_buffer_pool_size  = 64M
performance_schema       = OFF
skip-name-resolve

# NOTE: Debian's 50-mysqld_safe.cnf sends the error log to syslog, and there is
# no syslog in the lab hosts: keep it in a file (the IST/SST verdict reads it).
[mysqld_safe]
log_error                = /var/log/mysql/error.log
skip_syslog

[sst]
sst-log-archive          = 0
"""


# ----------------------------------------------------------------- RabbitMQ


def rabbitmq_conf() -> str:
    return """\
# Written by upgrader lab.
listeners.tcp.default = 5672
# Clients come from other hosts; the lab's user is not guest.
loopback_users = none
"""


def rabbitmq_env() -> str:
    return """\
# Written by upgrader lab.
# NOTE: no scheduler busy-waiting: three brokers, three MariaDB servers and the roll
# share two cores here, and an Erlang scheduler that spins while it has no work takes
# the CPU the others wait for (RabbitMQ's runtime guide: +sbwt none on shared hosts).
SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"
"""


# ----------------------------------------------------------------- Keystone


def keystone_conf(cfg: LabConfig, node: LabNode, sec: LabSecrets) -> str:
    return f"""\
# Written by upgrader lab for {node.name}.
[DEFAULT]
log_dir = /var/log/keystone
log_file = keystone.log

[database]
# Through the VIP: HAProxy sends every node's writes to one Galera node.
connection = mysql+pymysql://keystone:{sec.keystone_db_password}@{cfg.vip}:3306/keystone
max_retries = -1
retry_interval = 1

[identity]
# NOTE: bcrypt's cheapest cost (Keystone's default is 12). A password login then costs
# about 1 ms of CPU instead of 0.3 s: the uptime probe logs in several times a second,
# and at cost 12 those logins alone took most of the lab's two cores from the roll and
# the servers it measures. It only sets how new passwords are hashed (bootstrap's).
password_hash_rounds = 4

[token]
provider = fernet

[fernet_tokens]
key_repository = /etc/keystone/fernet-keys

[fernet_receipts]
key_repository = /etc/keystone/fernet-keys

[credential]
key_repository = /etc/keystone/credential-keys
"""


def keystone_default(release: str, node: LabNode) -> str:
    return f"""\
# Which Keystone release this host serves. The upgrade step changes KEYSTONE_VENV.
KEYSTONE_VENV={LabConfig.keystone_venv(release)}
KEYSTONE_BIND={node.address}:5000
KEYSTONE_WORKERS=2
"""


# NOTE: oslo.config parses sys.argv when the app loads; under gunicorn that is
# gunicorn's own argv and every worker would die at once. Hide it.
KEYSTONE_WSGI = """\
import sys

sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
"""

KEYSTONE_INIT = r"""#!/bin/sh
### BEGIN INIT INFO
# Provides:          keystone
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: OpenStack Identity (Keystone) under gunicorn
### END INIT INFO
# Written by upgrader lab. Stops by pid file only, never by process name.
set -e
. /etc/default/keystone
PIDFILE=/run/keystone/keystone.pid
export OS_KEYSTONE_CONFIG_FILES=/etc/keystone/keystone.conf

running() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "$1" in
  start)
    if running; then echo "keystone is running"; exit 0; fi
    mkdir -p /run/keystone /var/log/keystone
    "$KEYSTONE_VENV/bin/gunicorn" --daemon --bind "$KEYSTONE_BIND" \
        --workers "$KEYSTONE_WORKERS" --timeout 60 --graceful-timeout 10 \
        --pid "$PIDFILE" --pythonpath /etc/keystone \
        --error-logfile /var/log/keystone/gunicorn.log \
        --access-logfile /var/log/keystone/access.log ks_wsgi:application
    echo "keystone started ($KEYSTONE_VENV)"
    ;;
  stop)
    if ! running; then echo "keystone is stopped"; rm -f "$PIDFILE"; exit 0; fi
    start-stop-daemon --stop --quiet --pidfile "$PIDFILE" --retry TERM/20/KILL/5 --remove-pidfile
    echo "keystone stopped"
    ;;
  restart)
    "$0" stop
    "$0" start
    ;;
  status)
    if running; then echo "keystone is running"; exit 0; fi
    echo "keystone is stopped"; exit 3
    ;;
  *)
    echo "Usage: $0 {start|stop|restart|status}" >&2; exit 2
    ;;
esac
"""


# ----------------------------------------------------------------- HAProxy


def haproxy_cfg(cfg: LabConfig, in_host: bool = False) -> str:
    """The same listeners on the machine (dedicated) or in every host (controllers).

    in_host: Debian's paths inside a host (admin socket, server-state file, daemon user).
    """
    socket = cfg.host_haproxy_socket if in_host else str(cfg.haproxy_socket)
    state = cfg.host_haproxy_state if in_host else str(cfg.haproxy_dir / "server-state")
    first, *rest = cfg.nodes
    db_servers = [
        f"    server {n.name} {n.address}:3306 check inter 1s rise 2 fall 2"
        f"{' backup' if n in rest else ''} on-marked-down shutdown-sessions"
        for n in (first, *rest)
    ]
    api_servers = [
        f"    server {n.name} {n.address}:5000 check inter 1s rise 2 fall 2" for n in cfg.nodes
    ]
    return "\n".join([
        "# Written by upgrader lab.",
        "global",
        f"    stats socket {socket} mode 600 level admin expose-fd listeners",
        "    stats timeout 30s",
        # NOTE: runtime drain/maint states survive a reload only through this file.
        f"    server-state-file {state}",
        "    hard-stop-after 30s",
        "defaults",
        "    timeout connect 5s",
        "    timeout client 1h",
        "    timeout server 1h",
        "    timeout check 2s",
        "    load-server-state-from-file global",
        "",
        "# MySQL in the OpenStack pattern: one active Galera node takes every write,",
        "# the others are backups (no multi-writer certification conflicts).",
        "listen mariadb",
        f"    bind {cfg.vip}:3306",
        "    mode tcp",
        "    option tcpka",
        "    option mysql-check user haproxy post-41",
        *db_servers,
        "",
        "listen keystone",
        f"    bind {cfg.vip}:5000",
        "    mode http",
        "    balance roundrobin",
        "    option httpchk GET /v3",
        "    http-check expect status 200",
        "    retries 3",
        "    option redispatch",
        *api_servers,
        "",
    ])


# ----------------------------------------------------------------- keepalived

KEEPALIVED_STATE_FILE = "/run/keepalived.vrrp-state"
KEEPALIVED_NOTIFY = f"""#!/bin/sh
# Written by upgrader lab: keepalived calls this with (type, instance, state, priority);
# the state (MASTER, BACKUP, FAULT, STOP) is what facts read for this host.
echo "$3" > {KEEPALIVED_STATE_FILE}
"""


def keepalived_conf(cfg: LabConfig, node: LabNode) -> str:
    """VRRP for the VIP between the hosts, unicast to the two peers.

    NOTE: unicast, not multicast: it does not depend on the bridge's multicast
    snooping, and it is what sites whose switches filter multicast configure.
    nopreempt on every host: a node coming back from its upgrade stays BACKUP, so the
    VIP does not flap back mid-roll. Priorities differ only so that the first election
    (every host starting at once) is predictable: node1 first.
    """
    peers = "\n".join(f"        {n.address}" for n in cfg.nodes if n != node)
    priority = 150 - 10 * node.index
    return f"""# Written by upgrader lab.
global_defs {{
    router_id {node.name}
    enable_script_security
    script_user root
}}

vrrp_instance VIP {{
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id {cfg.vrrp_router_id}
    priority {priority}
    advert_int 1
    unicast_src_ip {node.address}
    unicast_peer {{
{peers}
    }}
    virtual_ipaddress {{
        {cfg.vip}/24 dev eth0
    }}
    notify /etc/keepalived/notify.sh
}}
"""


# ----------------------------------------------------------------- access


def hosts_file(cfg: LabConfig) -> str:
    lines = ["127.0.0.1 localhost", f"{cfg.gateway} labhost", f"{cfg.vip} vip"]
    lines += [f"{n.address} {n.name}" for n in cfg.nodes]
    return "\n".join(lines) + "\n"


def ssh_config(cfg: LabConfig) -> str:
    blocks = [f"Host {n.name}\n  HostName {n.address}\n" for n in cfg.nodes]
    blocks.append(
        "Host *\n"
        "  User root\n"
        f"  IdentityFile {cfg.ssh_key}\n"
        "  IdentitiesOnly yes\n"
        # The hosts are recreated with every `lab up`; their keys are throwaway.
        "  StrictHostKeyChecking no\n"
        "  UserKnownHostsFile /dev/null\n"
        "  LogLevel ERROR\n"
        "  ConnectTimeout 5\n"
        "  ControlMaster auto\n"
        f"  ControlPath {cfg.run_dir}/ssh-%h\n"
        "  ControlPersist 30s\n"
    )
    return "\n".join(blocks)


def inventory(cfg: LabConfig, topology: str = "dedicated") -> str:
    """An ordinary Ansible inventory: the same playbooks run against real machines.

    topology: where HAProxy runs (LB_TOPOLOGIES): the machine (`lb`), or every node,
    with keepalived holding the VIP on one of them.
    """
    hosts = "\n".join(
        f"{n.name} ansible_host={n.address} rabbitmq_node={n.rabbit_node}" for n in cfg.nodes
    )
    names = "\n".join(n.name for n in cfg.nodes)
    if topology == "controllers":
        lb_groups = f"[haproxy]\n{names}\n\n# VRRP holds the VIP on one of them\n[keepalived]\n{names}\n"
        socket = cfg.host_haproxy_socket
    else:
        lb_groups = "[haproxy]\nlb\n"
        socket = str(cfg.haproxy_socket)
    return f"""\
# Written by upgrader lab. No secrets here: they are in upgrader_secrets_file (0600).
[controllers]
{hosts}

[galera]
{names}

[rabbitmq]
{names}

[keystone]
{names}

{lb_groups}
# garbd for the length of a roll, on the machine (not a node being rolled):
# the third vote that keeps a Primary when a second node fails mid-roll
[galera_arbitrator]
lb ansible_connection=local ansible_python_interpreter=/usr/bin/python3 galera_arbitrator_address={cfg.gateway} galera_arbitrator_dir={cfg.garbd_dir}

[controllers:vars]
ansible_user=root
ansible_ssh_private_key_file={cfg.ssh_key}
ansible_ssh_common_args=-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes
ansible_python_interpreter=/usr/bin/python3
# any ansible run (Molecule's too): modules piped over the one SSH session, not copied first
ansible_pipelining=true

[all:vars]
upgrader_cluster={cfg.cluster_name}
upgrader_secrets_file={cfg.secrets_file}
upgrader_vip={cfg.vip}
haproxy_admin_socket={socket}
haproxy_db_backend=mariadb
haproxy_api_backend=keystone
keystone_installed_release={cfg.keystone_installed}
keystone_target_release={cfg.keystone_target}
"""


def host_init(cfg: LabConfig, node: LabNode) -> str:
    """PID 2 of a host, under tini: private mounts, then sshd in the foreground."""
    h = cfg.host_dir(node)
    overlays = "\n".join(
        f"mount -t overlay ovl-{node.name}-{d} "
        f"-o lowerdir=/{d},upperdir={h}/ovl/{d}/up,workdir={h}/ovl/{d}/work /{d}"
        for d in ("usr", "etc", "var")
    )
    return f"""#!/bin/sh
# Written by upgrader lab: brings up host {node.name} inside its own namespaces.
set -e
hostname {node.name}
# Own package state: /usr (and /bin, /lib via merged-usr), /etc and /var.
{overlays}
# NOTE: binds go on top of the overlays, so they are mounted after them.
# The host's own apt archive (hard links of the machine's pool): it has no route out.
mount --bind {h}/archives /var/cache/apt/archives
mount --bind {h}/mysql-lib /var/lib/mysql
mount --bind {h}/mysql-log /var/log/mysql
mount --bind {h}/opt-openstack /opt/openstack
mount --bind {cfg.hosts_file} /etc/hosts
mount --bind {h}/hostname /etc/hostname
mount -t tmpfs -o mode=755,size=64m tmpfs-{node.name} /run
# NOTE: a private /tmp as well. The hosts' PID namespaces give their processes the same
# pids, and tools that name temporary files by pid collide in a shared /tmp: seen as the
# package postinst's mariadb-install-db failing in one host ("Unknown table
# 'mysql.tmp_user_sys'") when three hosts install MariaDB at once.
mount -t tmpfs -o mode=1777,size=256m tmpfs-{node.name}-tmp /tmp
mkdir -p /run/sshd /run/lock /run/keystone && chmod 1777 /run/lock
install -d -o mysql -g root -m 755 /run/mysqld
if [ ! -e /etc/upgrader-lab-seeded ]; then
    # First boot: copy the rendered configuration into the host's own /etc and /var.
    cp -a {h}/seed/. /
    chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
    chmod 400 /var/lib/rabbitmq/.erlang.cookie
    chmod 755 /etc/init.d/keystone
    touch /etc/upgrader-lab-seeded
fi
exec /usr/sbin/sshd -D -e -o ListenAddress={node.address} -o PidFile=/run/sshd.pid \\
  -o AuthorizedKeysFile={cfg.ssh_dir}/authorized_keys -o StrictModes=no \\
  -o PasswordAuthentication=no -o UseDNS=no -o MaxSessions=30 -o MaxStartups=30
"""
