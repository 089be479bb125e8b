"""The roll's watcher: one look at the cluster every second, from outside the playbooks.

The playbooks see only the node they work on, and the health gate looks only between
nodes, so a fault elsewhere (another member crashing while a node is out, an HAProxy
reload putting a drained server back in the pool) went unnoticed for minutes. The
watcher reads every Galera node and HAProxy's servers each second, follows the roll
through the orchestrator's events (which node is in flight, in which state, which
step runs), and applies upgrader/faults.py:

- a drained server back in the pool: put back in MAINT at once (journaled), so the
  node's services never stop under client traffic;
- a member lost or out of the Primary component, a broker refusing AMQP connections,
  or a RabbitMQ partition or resource alarm, seen twice in a row: the roll pauses
  (reason cluster_fault); the node in flight finishes if it can, since its return
  restores a copy of the data, and the run stops before the next node;
- the quorum lost: the same, and the playbook in flight is cancelled, since a wait for
  Synced can no longer end; the recovery is journaled and printed.
"""
from __future__ import annotations

import queue
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from upgrader import control
from upgrader.events import EventBus, LogLine, NodeStateChanged, Paused, StepFinished, StepStarted
from upgrader.facts import galera as galera_facts
from upgrader.facts import haproxy as haproxy_facts
from upgrader.faults import Finding, InFlight, Look, assess, must_be_maint
from upgrader.inventory import Cluster
from upgrader.journal import Journal

Reader = Callable[[], Look]
NOT_CANCELLED = ("stop_services", "upgrade")   # steps left to finish even when the quorum is gone


def cluster_reader(cluster: Cluster, password: str, timeout_s: float = 3.0,
                   rabbit: Callable[[], dict] | None = None,
                   balancers: dict[str, haproxy_facts.Command] | None = None) -> Reader:
    """Reads one Look: every node's wsrep status (in parallel) and HAProxy's servers.

    rabbit: RabbitMQ's last cluster status, read elsewhere (the health feed runs
    rabbitmqctl every 10 s; an Erlang VM a second would cost a core's tenth).

    NOTE: 3 s: on two loaded cores a healthy server can take over a second to accept;
    a crashed one refuses at once, and a cut link costs two looks of 3 s.
    """
    pool = ThreadPoolExecutor(max_workers=2 * len(cluster.nodes), thread_name_prefix="watch")

    def read() -> Look:
        futures = {n.name: pool.submit(galera_facts.read_node, n.address, cluster.db_user, password, timeout_s)
                   for n in cluster.nodes}
        brokers = {n.name: pool.submit(broker_accepts, n.address) for n in cluster.nodes}
        views = {where: pool.submit(_servers, ask) for where, ask in balancers.items()}
        servers, error = views.pop("").result() if "" in views else (None, "")
        return Look({name: f.result() for name, f in futures.items()}, servers, error,
                    {name: f.result() for name, f in brokers.items()}, rabbit() if rabbit else {},
                    balancers={where: f.result()[0] for where, f in views.items()})

    def _servers(ask: haproxy_facts.Command) -> tuple[tuple | None, str]:
        try:
            return haproxy_facts.parse_stat(ask("show stat"), backends), ""
        except OSError as e:
            return None, f"haproxy admin socket: {e.strerror or e}"

    balancers = balancers if balancers is not None else haproxy_facts.commands(cluster)
    backends = (cluster.db_backend, cluster.api_backend)
    return read


def broker_accepts(address: str, port: int = 5672, timeout_s: float = 1.0) -> bool | None:
    """True: the broker's AMQP port accepts; False: refused (it is down); None: no answer in time.

    A TCP connect only: an AMQP login would cost the broker a connection and a log line a second.
    """
    try:
        with socket.create_connection((address, port), timeout=timeout_s):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return None


class Watcher:
    """Runs beside the orchestrator for one `apply`; start() and stop() bracket the roll."""

    def __init__(self, read: Reader, bus: EventBus, journal: Journal, run_dir: Path,
                 db_backend: str, api_backend: str, states: dict[str, str],
                 balancers: dict[str, haproxy_facts.Command] | None = None, interval_s: float = 1.0,
                 set_maint: Callable[[str, str, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.read = read
        self.bus = bus
        self.journal = journal
        self.run_dir = run_dir
        self.backends = (db_backend, api_backend)
        self.interval_s = interval_s
        self.states = dict(states)               # node -> NodeState value, from the events
        self.step = ("", "")                     # (node, step) whose playbook runs now
        asks = balancers or {}
        self._asks = asks
        self.set_maint = set_maint or (lambda backend, node, where: _maint(asks[where], backend, node,
                                                                           cut=backend == db_backend))
        self.clock = clock
        self.fault = ""                          # the first fault that paused the roll
        self.cancel_requested = False            # read by the executor's cancel callback
        self.redrained: list[dict] = []          # each put back in MAINT: when, what
        self.detected: list[dict] = []           # each fault: kind, message, monotonic time
        self._events = bus.subscribe()
        self._pending: dict[str, int] = {}       # fault message -> looks in a row
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "Watcher":
        self._thread = threading.Thread(target=self._loop, name="watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.bus.unsubscribe(self._events)
        for ask in self._asks.values():   # the HAProxy sessions on the nodes, if any
            getattr(ask, "close", lambda: None)()

    def should_cancel(self) -> bool:
        """The executor's cancel callback: quorum lost, and the step in flight only waits.

        NOTE: ansible-runner's cancel kills the playbook, not the task on the node; a stop
        or an apt run cut in the middle is worse than one that finishes, so those steps
        end first and the wait after them (rejoin_galera) is the one cancelled.
        """
        return self.cancel_requested and self.step[1] not in NOT_CANCELLED

    # ------------------------------------------------------------------ loop
    def _loop(self) -> None:
        while not self._stop.is_set():
            started = self.clock()
            try:
                self.look_once()
            except Exception as e:  # noqa: BLE001 - a failed look must not end the watch
                self._say(f"watcher: could not look at the cluster: {' '.join(str(e).split())[:160]}")
            self._stop.wait(max(0.0, self.interval_s - (self.clock() - started)))

    def look_once(self) -> None:
        self._follow_events()
        before = self.in_flight()
        look = self.read()
        self._follow_events()   # a step may have ended while we looked
        findings = assess(look, self.in_flight(), *self.backends)
        # NOTE: HAProxy was read before a drain that ended during the look had put its
        # server in MAINT (seen: mariadb/node3 still DRAIN in its grace, then MAINT put
        # "back" by the watcher, cutting the grace short). Only a server that had to be
        # in MAINT when the look began can be one a reload let back in.
        required = must_be_maint(before, *self.backends)
        self.act([f for f in findings if f.kind != "undrained" or f.backend in required])

    def _follow_events(self) -> None:
        while True:
            try:
                ev = self._events.get_nowait()
            except queue.Empty:
                return
            if isinstance(ev, NodeStateChanged):
                self.states[ev.node] = ev.dest
            elif isinstance(ev, StepStarted) and ev.node:
                self.step = (ev.node, ev.step)
            elif isinstance(ev, StepFinished) and self.step == (ev.node, ev.step):
                self.step = ("", "")

    def in_flight(self) -> InFlight:
        """The node between its first step and done (at most one: nodes roll one at a time).

        A failed node counts: it stays out on purpose (drained, maybe stopped) until the
        operator's fix, and is not a fault of another member.
        """
        node = next((n for n, s in self.states.items() if s not in ("pending", "done")), "")
        if not node and self.step[0]:
            node = self.step[0]            # its first step runs; it is still "pending"
        step = self.step[1] if self.step[0] == node else ""
        return InFlight(node, self.states.get(node, ""), step)

    # ------------------------------------------------------------------ acting
    def act(self, findings: list[Finding]) -> None:
        seen = set()
        for f in findings:
            if f.kind == "undrained":
                self._redrain(f)
                continue
            key = f"{f.kind}:{f.node}"
            seen.add(key)
            self._pending[key] = self._pending.get(key, 0) + 1
            # NOTE: twice in a row (about 2 s): one look can catch a member between
            # two states; a fault that lasts is acted on once, a blip not at all.
            if self._pending[key] == 2:
                self._fault(f)
        self._pending = {k: c for k, c in self._pending.items() if k in seen}

    def _redrain(self, f: Finding) -> None:
        try:
            self.set_maint(f.backend, f.node, f.where)
        except OSError as e:
            self._say(f"watcher: could not put {f.backend}/{f.node} back in MAINT: {e.strerror or e}")
            return
        entry = {"at": time.time(), "backend": f.backend, "node": f.node, "message": f.message,
                 "haproxy": f.where or "machine"}
        self.redrained.append(entry)
        self.journal.append("note", reason="redrained", message=f.message + "; put back in MAINT")
        self._say(f"watcher: {f.message}; put back in MAINT", f.node)

    def _fault(self, f: Finding) -> None:
        self.detected.append({"at": time.time(), "kind": f.kind, "node": f.node, "message": f.message})
        first = not self.fault
        if first:
            self.fault = f.message
        if f.kind == "quorum_lost" and not self.cancel_requested:
            self.cancel_requested = True   # the step in flight waits for what cannot come
        self.journal.append("note", reason="cluster_fault", message=f.message)
        self._say(f"watcher: {f.message}")
        if first:
            # NOTE: over the uptime gate's pause: a crashed member makes clients fail too, and
            # the gate may see that first; the cause decides, and the node in flight finishes.
            control.pause(self.run_dir, "cluster_fault", by="upgrader", overrides=("health_gate",))
            self.bus.publish(Paused("cluster_fault", f.message))

    def _say(self, line: str, node: str = "") -> None:
        self.bus.publish(LogLine(line, node, ""))


def _maint(ask: haproxy_facts.Command, backend: str, node: str, cut: bool) -> None:
    """MAINT again; for the database, the pooled sessions a reload let in are cut too (as
    drain_db does: they would break when the node's server stops). API requests finish."""
    answer = ask(f"set server {backend}/{node} state maint").strip()
    if answer:
        raise OSError(answer)
    if cut:
        ask(f"shutdown sessions server {backend}/{node}")
