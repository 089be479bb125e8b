"""Bring the lab's 3-node RabbitMQ cluster up through Debian's init script, over SSH."""
from __future__ import annotations

import json
import time

from upgrader.errors import LabError
from upgrader.lab.config import LabConfig, LabNode
from upgrader.lab.render import LabSecrets
from upgrader.lab.sh import parallel, ssh

USER = "openstack"
QUORUM_QUEUE = "upgrader.probe"


def running_nodes(cfg: LabConfig, node: LabNode) -> list[str] | None:
    """Cluster members running, as `node` sees them; None when its broker is down."""
    cp = ssh(cfg, node, "rabbitmqctl -q cluster_status --formatter json 2>/dev/null",
             check=False, timeout=30)
    if cp.returncode != 0:
        return None
    try:
        return list(json.loads(cp.stdout).get("running_nodes", []))
    except json.JSONDecodeError:
        return None


def ensure_rabbitmq(cfg: LabConfig, sec: LabSecrets) -> str:
    seen = dict(zip(cfg.nodes, parallel(lambda n: running_nodes(cfg, n), cfg.nodes)))
    everyone = sorted(n.rabbit_node for n in cfg.nodes)
    if all(sorted(members or []) == everyone for members in seen.values()) and _user_logs_in(cfg, sec):
        # NOTE: the lab is already up (every later `lab up`): no join, no user change. Each
        # rabbitmqctl call boots an Erlang VM (1.2-1.5 s); the slow path makes about eight.
        return f"{len(everyone)} nodes running"
    down = [n for n, members in seen.items() if members is None]
    # NOTE: clustered brokers wait for their peers at boot, so start the stopped ones together.
    parallel(lambda n: ssh(cfg, n, "service rabbitmq-server start", timeout=120,
                           what=f"{n.name}: start rabbitmq-server"), down)
    first = cfg.nodes[0]
    _wait_running(cfg, first)
    for node in cfg.nodes[1:]:
        members = running_nodes(cfg, first) or []
        if node.rabbit_node not in members:
            _join(cfg, node, first)
    _ensure_user(cfg, first, sec)
    members = running_nodes(cfg, first) or []
    if len(members) != len(cfg.nodes):
        raise LabError(f"lab: RabbitMQ cluster has {len(members)} running nodes, expected {len(cfg.nodes)}")
    return f"{len(members)} nodes running"


def _wait_running(cfg: LabConfig, node: LabNode, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while running_nodes(cfg, node) is None:
        if time.monotonic() > deadline:
            raise LabError(f"lab: RabbitMQ on {node.name} did not start in {timeout:.0f} s")
        time.sleep(0.5)


def _join(cfg: LabConfig, node: LabNode, seed: LabNode) -> None:
    ssh(cfg, node, "rabbitmqctl -q await_startup --timeout 60 && rabbitmqctl -q stop_app && "
                   f"rabbitmqctl -q reset && rabbitmqctl -q join_cluster {seed.rabbit_node} && "
                   "rabbitmqctl -q start_app", timeout=120, what=f"{node.name}: join RabbitMQ cluster")


def _user_logs_in(cfg: LabConfig, sec: LabSecrets) -> bool:
    """The lab's user exists with the password in the secrets (an AMQP login says both)."""
    import pika

    try:
        pika.BlockingConnection(_amqp_params(cfg, sec, attempts=1)).close()
        return True
    except Exception:  # pika raises several error types; each means "set the user up"
        return False


def _amqp_params(cfg: LabConfig, sec: LabSecrets, attempts: int):
    """The lab user's AMQP login on the first node."""
    import pika

    return pika.ConnectionParameters(
        host=cfg.nodes[0].address, credentials=pika.PlainCredentials(USER, sec.rabbitmq_password),
        connection_attempts=attempts, retry_delay=1, socket_timeout=5)


def _ensure_user(cfg: LabConfig, node: LabNode, sec: LabSecrets) -> None:
    # The password travels on stdin and is read by the remote shell, never on a command line here.
    script = (
        "read -r PW; "
        f"rabbitmqctl -q list_users | grep -q '^{USER}\\b' || rabbitmqctl -q add_user {USER} \"$PW\" >/dev/null; "
        f"rabbitmqctl -q change_password {USER} \"$PW\" >/dev/null && "
        f"rabbitmqctl -q set_permissions -p / {USER} '.*' '.*' '.*' >/dev/null"
    )
    ssh(cfg, node, script, input=sec.rabbitmq_password + "\n", what=f"{node.name}: RabbitMQ user")


def ensure_quorum_queue(cfg: LabConfig, sec: LabSecrets) -> None:
    """A durable quorum queue with a member on every node (what `revive` must restore)."""
    import pika

    conn = pika.BlockingConnection(_amqp_params(cfg, sec, attempts=10))
    try:
        conn.channel().queue_declare(QUORUM_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
    finally:
        conn.close()
