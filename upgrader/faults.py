"""What the roll's watcher concludes from one look at the cluster: pure rules, no I/O.

A look is every Galera node's wsrep status and HAProxy's servers, read from outside
the playbooks every second while a roll runs (upgrader/executor/watcher.py), with
RabbitMQ's last cluster status (the health feed's, every 10 s). The rules separate
what the roll does on purpose (the node in flight is drained, stopped, desynced; its
IST donor is Donor/Desynced) from a fault outside it: another member lost or out of
the Primary component, the quorum gone, a drained server back in HAProxy's pool (a
reload forgets runtime MAINT states), a RabbitMQ network partition or resource alarm.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from upgrader.machine import NodeState
from upgrader.model import GaleraFacts, HaproxyServer

# States a member outside the roll may be in without anything being wrong: an IST or
# SST donor is Donor/Desynced while it serves the node in flight.
SERVING_STATES = ("Synced", "Donor/Desynced")

QUORUM_LOST = "Galera lost its quorum"    # the finding's words; the CLI's next action keys on them

_ORDER = [s for s in NodeState if s not in (NodeState.DONE, NodeState.FAILED)]


@dataclass(frozen=True)
class Look:
    """One look at the cluster."""

    galera: dict[str, GaleraFacts]                 # by node name
    haproxy: tuple[HaproxyServer, ...] | None      # None: the admin socket did not answer
    haproxy_error: str = ""
    # node -> its broker accepts AMQP connections (False: refused; None or absent: unknown)
    brokers: dict[str, bool | None] = field(default_factory=dict)
    # RabbitMQ's cluster status (live/figures.rabbit_entry): partitioned, alarms; {} unknown
    rabbit: dict = field(default_factory=dict)
    # With an HAProxy on every node: node -> its servers (None: unreadable, as the node in
    # flight's own while it is stopped). `haproxy` is then None.
    balancers: dict[str, tuple[HaproxyServer, ...] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class InFlight:
    """The node the roll is working on, as the orchestrator's events tell it."""

    node: str = ""            # "" when no node is between its first and last step
    state: str = ""           # NodeState value
    step: str = ""            # the step whose playbook runs now ("" between steps)


@dataclass(frozen=True)
class Finding:
    kind: str                 # member_lost | broker_lost | broker_partitioned | broker_alarm
                              # | quorum_lost | undrained
    node: str
    message: str
    backend: str = ""         # undrained: the backend whose server must go back to MAINT
    where: str = ""           # undrained: the node whose HAProxy shows it ("" the one on this machine)


def _at_or_after(state: str, first: NodeState) -> bool:
    try:
        s = NodeState(state)
    except ValueError:
        return False
    return s in _ORDER and _ORDER.index(s) >= _ORDER.index(first)


def must_be_maint(in_flight: InFlight, db_backend: str, api_backend: str) -> tuple[str, ...]:
    """The backends in which the node in flight must be in MAINT right now.

    From its drain until it is verified back up: the API server once drain_api is
    done, the database server once drain_db is done. Not after: from REVIVED on the
    node serves again, and its undrain runs in the same playbook run as resync_galera,
    so its "ready" can come before the event that says undrain started; a MAINT put
    back then would fight the undrain.
    """
    if not in_flight.node or in_flight.step == "undrain":
        return ()
    if not _at_or_after(in_flight.state, NodeState.API_DRAINED) or \
            _at_or_after(in_flight.state, NodeState.REVIVED):
        return ()
    backends = [api_backend]
    if _at_or_after(in_flight.state, NodeState.DB_DRAINED):
        backends.append(db_backend)
    return tuple(backends)


def assess(look: Look, in_flight: InFlight, db_backend: str, api_backend: str) -> list[Finding]:
    """Every fault outside what the roll does on purpose; [] when the cluster is as expected."""
    findings = _quorum(look)
    if not findings:
        findings = _members(look, in_flight) + _brokers(look.rabbit)
    return findings + _undrained(look, in_flight, db_backend, api_backend)


def _brokers(rabbit: dict) -> list[Finding]:
    """A partition or a resource alarm: neither is what a roll does, both hurt clients.

    A partition splits the queues' views (pause_minority stops the minority's brokers);
    an alarm (memory or disk) blocks every publisher in the cluster. Stopping a broker
    on purpose is neither: its peers list it as not running, nothing more.
    """
    if not rabbit or rabbit.get("error"):
        return []
    seen_by = rabbit.get("from", "")
    out = []
    if rabbit.get("partitioned"):
        out.append(Finding("broker_partitioned", "", f"RabbitMQ: {seen_by} reports a network partition "
                           f"with {', '.join(rabbit['partitioned'])}"))
    if rabbit.get("alarms"):
        out.append(Finding("broker_alarm", "", f"RabbitMQ: {rabbit['alarms']} resource alarm(s) in force "
                           f"(memory or disk, seen from {seen_by}): publishers are blocked"))
    return out


def _quorum(look: Look) -> list[Finding]:
    """No Primary component anywhere, on evidence: a node that answers non-Primary, or
    every server refusing connections. Timeouts alone prove nothing (a loaded machine),
    and this finding cancels the step in flight, so it must not come from a slow look."""
    answering = {n: g for n, g in look.galera.items() if g.reachable}
    if any(g.cluster_status == "Primary" for g in answering.values()):
        return []
    if not answering and not all(refused(g) for g in look.galera.values()):
        return []     # every look timed out: each is reported as a member lost, not more
    return [Finding("quorum_lost", "", f"{QUORUM_LOST}: no node is in a Primary component; "
                    + quorum_recovery(look.galera))]


def refused(g: GaleraFacts) -> bool:
    """The server is down for sure: its port refuses connections (not a timeout)."""
    return not g.reachable and ("refused" in g.error.lower() or "(111)" in g.error)


def _members(look: Look, in_flight: InFlight) -> list[Finding]:
    out = []
    for name, g in look.galera.items():
        if name == in_flight.node:
            continue     # the node in flight is drained, desynced or stopped on purpose
        if not g.reachable:
            out.append(Finding("member_lost", name, f"{name}: MariaDB does not answer ({g.error})"))
        elif g.cluster_status != "Primary":
            out.append(Finding("member_lost", name, f"{name}: Galera is {g.cluster_status or 'not Primary'}"))
        elif g.local_state_comment not in SERVING_STATES:
            out.append(Finding("member_lost", name, f"{name}: Galera is {g.local_state_comment}"))
    for name, accepts in look.brokers.items():
        if name != in_flight.node and accepts is False:
            out.append(Finding("broker_lost", name, f"{name}: RabbitMQ refuses AMQP connections"))
    return out


def _undrained(look: Look, in_flight: InFlight, db_backend: str, api_backend: str) -> list[Finding]:
    views = [("", look.haproxy), *look.balancers.items()]
    out = []
    for where, servers in views:
        if servers is None:
            continue
        which = f"haproxy on {where}" if where else "haproxy"
        for backend in must_be_maint(in_flight, db_backend, api_backend):
            server = next((s for s in servers if s.backend == backend and s.server == in_flight.node), None)
            if server is not None and not server.status.startswith("MAINT"):
                out.append(Finding("undrained", in_flight.node,
                                   f"{which}: {backend}/{in_flight.node} is {server.status} while "
                                   f"{in_flight.node} is drained (a reload forgets MAINT)", backend, where))
    return out


def most_advanced(galera: dict[str, GaleraFacts]) -> str:
    """The node that answers with the highest committed seqno ("" when none answers)."""
    answering = {n: g for n, g in galera.items() if g.reachable}
    return max(sorted(answering), key=lambda n: answering[n].last_committed) if answering else ""


def primary_nodes(galera: dict[str, GaleraFacts]) -> list[str]:
    return sorted(n for n, g in galera.items() if g.reachable and g.cluster_status == "Primary")


def quorum_recovery(galera: dict[str, GaleraFacts]) -> str:
    """The exact recovery of a lost quorum, for the operator to run (upgrader does not).

    The node to bootstrap is the one with the highest committed seqno, so no
    committed write is lost; a node that does not answer may be further ahead, and
    its position must be read from disk before choosing.
    """
    answering = {n: g for n, g in galera.items() if g.reachable}
    silent = sorted(n for n in galera if n not in answering)
    if not answering:
        return ("no node answers; on each node read its position (`mariadbd --wsrep-recover`, or "
                "seqno in /var/lib/mysql/grastate.dat), then run `galera_new_cluster` on the most "
                "advanced one only, and start the others normally")
    best = most_advanced(galera)
    seqnos = ", ".join(f"{n} {answering[n].last_committed}" for n in sorted(answering))
    text = (f"the most advanced node that answers is {best} (last committed: {seqnos}); "
            f"recover with: on {best}, mariadb -e \"SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'\"; "
            f"(or `upgrader recover --bootstrap {best}`); the other nodes rejoin by themselves; "
            "then `upgrader apply` continues the roll")
    if silent:
        text += (f"; {', '.join(silent)} did not answer: check its position first "
                 "(`mariadbd --wsrep-recover` or grastate.dat) and bootstrap it instead if it is further ahead")
    return text
