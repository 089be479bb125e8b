"""The watcher's rules (upgrader/faults.py) and its acting (executor/watcher.py), on scripted looks."""
from __future__ import annotations

import json

import pytest

from upgrader import control
from upgrader.events import EventBus, NodeStateChanged, Paused, StepFinished, StepStarted
from upgrader.executor.watcher import Watcher
from upgrader.faults import InFlight, Look, assess, must_be_maint, quorum_recovery
from upgrader.journal import Journal
from upgrader.model import GaleraFacts, HaproxyServer

DB, API = "mariadb", "keystone"


def galera(status="Primary", state="Synced", seqno=100) -> GaleraFacts:
    return GaleraFacts(reachable=True, cluster_status=status, local_state_comment=state,
                       cluster_size=3, last_committed=seqno)


DOWN = GaleraFacts(reachable=False, error="(2003, \"Can't connect to MySQL server on '10.123.0.13' "
                                         "([Errno 111] Connection refused)\")")
SLOW = GaleraFacts(reachable=False, error="(2003, \"Can't connect to MySQL server on '10.123.0.13' "
                                         "(timed out)\")")


def servers(**status) -> tuple[HaproxyServer, ...]:
    """servers(node2="MAINT") -> both backends, node2 in that status, the others UP."""
    return tuple(HaproxyServer(b, n, status.get(n, "UP")) for b in (DB, API)
                 for n in ("node1", "node2", "node3"))


def look(haproxy=None, **nodes) -> Look:
    g = {"node1": galera(), "node2": galera(), "node3": galera()}
    g.update(nodes)
    return Look(g, servers() if haproxy is None else haproxy)


# id, look, in flight, expected (kind, node) pairs
CASES = [
    pytest.param(look(), InFlight(), [], id="healthy cluster, no node in flight: nothing"),
    pytest.param(look(node2=DOWN, haproxy=servers(node2="MAINT")), InFlight("node2", "stopped", "upgrade"),
                 [], id="the node in flight stopped on purpose: nothing"),
    pytest.param(look(node3=galera(state="Donor/Desynced"), haproxy=servers(node2="MAINT")),
                 InFlight("node2", "upgraded", "rejoin_galera"),
                 [], id="node3 is the IST donor of the node in flight: nothing"),
    pytest.param(look(node2=DOWN, node3=DOWN, haproxy=servers(node2="MAINT")),
                 InFlight("node2", "stopped", "upgrade"), [("member_lost", "node3")],
                 id="node3 crashed while node2 is out, node1 Primary (garbd): member lost"),
    pytest.param(look(node2=DOWN, node1=galera(status="non-Primary"), node3=DOWN,
                      haproxy=servers(node2="MAINT")),
                 InFlight("node2", "upgraded", "rejoin_galera"), [("quorum_lost", "")],
                 id="node1 left alone non-Primary: quorum lost"),
    pytest.param(look(node1=DOWN, node2=DOWN, node3=DOWN, haproxy=servers(node2="MAINT")),
                 InFlight("node2", "upgraded", "rejoin_galera"), [("quorum_lost", "")],
                 id="node1 and node3 refuse connections while node2 is out: quorum lost"),
    pytest.param(look(node1=SLOW, node2=SLOW, node3=SLOW, haproxy=servers(node2="MAINT")),
                 InFlight("node2", "upgraded", "rejoin_galera"),
                 [("member_lost", "node1"), ("member_lost", "node3")],
                 id="every look timed out: members reported, no quorum verdict (it cancels)"),
    pytest.param(Look(look().galera, servers(node2="MAINT"), brokers={"node1": True, "node2": False, "node3": False}),
                 InFlight("node2", "stopped", "upgrade"), [("broker_lost", "node3")],
                 id="node3's broker refuses while node2's is down on purpose: broker lost"),
    pytest.param(Look(look().galera, servers(node2="MAINT"), brokers={"node1": True, "node2": None, "node3": None}),
                 InFlight("node2", "stopped", "upgrade"), [], id="brokers that do not answer in time: unknown, nothing"),
    pytest.param(Look(look().galera, servers(node2="MAINT"),
                      rabbit={"from": "node1", "error": "", "running": ["rabbit@node1", "rabbit@node3"],
                              "partitioned": [], "alarms": 0}),
                 InFlight("node2", "stopped", "upgrade"), [],
                 id="node2's broker stopped on purpose: its peers list it not running, nothing"),
    pytest.param(Look(look().galera, servers(), rabbit={"from": "node1", "error": "",
                                                         "partitioned": ["rabbit@node3"], "alarms": 0}),
                 InFlight(), [("broker_partitioned", "")], id="a RabbitMQ partition: broker partitioned"),
    pytest.param(Look(look().galera, servers(), rabbit={"from": "node3", "error": "", "partitioned": [],
                                                         "alarms": 1}),
                 InFlight(), [("broker_alarm", "")], id="a memory or disk alarm blocks publishers: broker alarm"),
    pytest.param(Look(look().galera, servers(), rabbit={"from": "node1", "alarms": 2,
                                                         "error": "node1: no cluster status"}),
                 InFlight(), [], id="no RabbitMQ status could be read: unknown, nothing"),
    pytest.param(look(haproxy=servers()), InFlight("node2", "desynced", "drain_rabbitmq"),
                 [("undrained", "node2"), ("undrained", "node2")],
                 id="reload put node2 back UP in both backends while drained"),
    pytest.param(Look(look().galera, None, balancers={"node1": servers(node2="MAINT"), "node2": None,
                                                     "node3": servers()}),
                 InFlight("node2", "stopped", "upgrade"),
                 [("undrained", "node2"), ("undrained", "node2")],
                 id="HAProxy on every node: node3's lets node2 back while node2's own is stopped"),
    pytest.param(look(haproxy=servers(node2="MAINT")), InFlight("node2", "resynced", "undrain"),
                 [], id="undrain in flight puts the servers back: nothing"),
    pytest.param(look(haproxy=servers()), InFlight("node2", "pending", "drain_api"),
                 [], id="drain_api in flight: not drained yet"),
]


@pytest.mark.parametrize(("seen", "in_flight", "expected"), CASES)
def test_assess(seen, in_flight, expected):
    assert [(f.kind, f.node) for f in assess(seen, in_flight, DB, API)] == expected


def test_must_be_maint_follows_the_drains():
    assert must_be_maint(InFlight("node2", "api_drained", "drain_db"), DB, API) == (API,)
    assert must_be_maint(InFlight("node2", "db_drained", ""), DB, API) == (API, DB)
    assert must_be_maint(InFlight("node2", "verified", "revive_rabbitmq"), DB, API) == (API, DB)
    # from revived on the node serves again; undrain's "ready" may come before its event
    assert must_be_maint(InFlight("node2", "resynced", ""), DB, API) == ()
    assert must_be_maint(InFlight("node2", "undrained", ""), DB, API) == ()


def test_quorum_recovery_names_the_most_advanced_node_and_the_silent_one():
    text = quorum_recovery({"node1": galera("non-Primary", seqno=90), "node3": galera("non-Primary", seqno=120),
                            "node2": DOWN})
    assert "most advanced node that answers is node3" in text
    assert "on node3, mariadb -e \"SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'\"" in text
    assert "node2 did not answer" in text


class Scripted:
    def __init__(self, looks):
        self.looks = list(looks)

    def __call__(self):
        return self.looks.pop(0) if len(self.looks) > 1 else self.looks[0]


def watcher(tmp_path, looks, maint_calls):
    bus = EventBus()
    w = Watcher(Scripted(looks), bus, Journal(tmp_path / "journal.jsonl"), tmp_path, DB, API,
                states={"node1": "pending", "node2": "pending", "node3": "pending"},
                set_maint=lambda backend, node, where: maint_calls.append((backend, node)))
    return w, bus


def notes(tmp_path):
    lines = (tmp_path / "journal.jsonl").read_text().splitlines()
    return [(r["reason"], r["message"]) for r in map(json.loads, lines) if r["type"] == "note"]


def test_a_lasting_member_fault_pauses_once_and_a_blip_does_not(tmp_path):
    maint = []
    w, bus = watcher(tmp_path, [look()], maint)
    seen = bus.subscribe()
    bus.publish(NodeStateChanged("node2", "pending", "api_drained", "drain_api"))
    bus.publish(NodeStateChanged("node2", "api_drained", "db_drained", "drain_db"))
    w._follow_events()
    blip = assess(look(node3=DOWN, haproxy=servers(node2="MAINT")), w.in_flight(), DB, API)
    w.act(blip)
    w.act([])                                        # gone at the next look: a blip
    assert not control.read(tmp_path).paused
    for _ in range(3):                               # lasting: paused once
        w.act(assess(look(node3=DOWN, haproxy=servers(node2="MAINT")), w.in_flight(), DB, API))
    flags = control.read(tmp_path)
    assert flags.paused and flags.pause_reason == "cluster_fault"
    assert [r for r, _ in notes(tmp_path)] == ["cluster_fault"]
    assert w.fault.startswith("node3: MariaDB does not answer") and not w.should_cancel()
    published = []
    while not seen.empty():
        published.append(seen.get_nowait())
    assert [e.reason for e in published if isinstance(e, Paused)] == ["cluster_fault"]
    assert maint == []


def test_quorum_lost_cancels_the_step_in_flight(tmp_path):
    w, _ = watcher(tmp_path, [look()], [])
    w.states["node2"] = "upgraded"
    lost = look(node1=galera("non-Primary"), node2=DOWN, node3=DOWN, haproxy=servers(node2="MAINT"))
    w.act(assess(lost, w.in_flight(), DB, API))
    assert not w.should_cancel()
    w.step = ("node2", "upgrade")                     # apt is never cut in the middle
    w.act(assess(lost, w.in_flight(), DB, API))
    assert not w.should_cancel()
    w.step = ("node2", "rejoin_galera")               # the wait for Synced is
    assert w.should_cancel()
    assert "pc.bootstrap=YES" in notes(tmp_path)[0][1]


def test_a_reload_that_undrains_the_node_is_put_back_in_maint_at_once(tmp_path):
    maint = []
    w, bus = watcher(tmp_path, [look()], maint)
    bus.publish(StepStarted("node2", "drain_api", 1))
    w._follow_events()
    assert w.in_flight() == InFlight("node2", "pending", "drain_api")
    bus.publish(StepFinished("node2", "drain_api", 1.0, True, "", "a", ""))
    bus.publish(NodeStateChanged("node2", "pending", "api_drained", "drain_api"))
    bus.publish(NodeStateChanged("node2", "api_drained", "db_drained", "drain_db"))
    w._follow_events()
    w.act(assess(look(haproxy=servers()), w.in_flight(), DB, API))
    assert sorted(maint) == [(API, "node2"), (DB, "node2")]
    assert [r for r, _ in notes(tmp_path)] == ["redrained", "redrained"]
    assert not control.read(tmp_path).paused        # repaired, not a reason to stop


def test_a_drain_that_ends_during_the_look_is_not_a_reload(tmp_path):
    """HAProxy read in drain_db's grace (DRAIN), drain_db over before the look ends: no MAINT put back."""
    maint = []
    bus = EventBus()

    def read_while_drain_db_ends():
        bus.publish(NodeStateChanged("node2", "api_drained", "db_drained", "drain_db"))
        return look(haproxy=servers(node2="DRAIN"))

    w = Watcher(read_while_drain_db_ends, bus, Journal(tmp_path / "journal.jsonl"), tmp_path, DB, API,
                states={"node1": "pending", "node2": "api_drained", "node3": "pending"},
                set_maint=lambda backend, node, where: maint.append((backend, node)))
    w.look_once()
    assert maint == [(API, "node2")]   # the API server had to be MAINT before the look: put back
    maint.clear()
    w.look_once()                      # the next look begins after drain_db: the database's too
    assert sorted(maint) == [(API, "node2"), (DB, "node2")]


def test_a_failed_node_is_out_on_purpose_not_a_lost_member(tmp_path):
    w, _ = watcher(tmp_path, [look()], [])
    w.states["node2"] = "failed"
    assert w.in_flight().node == "node2"
    assert assess(look(node2=DOWN, haproxy=servers(node2="MAINT")), w.in_flight(), DB, API) == []


def test_a_member_fault_takes_over_the_uptime_gates_pause(tmp_path):
    control.pause(tmp_path, "health_gate", by="upgrader")          # clients failed first
    w, _ = watcher(tmp_path, [look()], [])
    w.states["node2"] = "stopped"
    crashed = look(node1=DOWN, node2=DOWN, haproxy=servers(node2="MAINT"))
    for _ in range(2):
        w.act(assess(crashed, w.in_flight(), DB, API))
    assert control.read(tmp_path).pause_reason == "cluster_fault"
    control.pause(tmp_path, "health_gate", by="upgrader")          # and never the other way round
    assert control.read(tmp_path).pause_reason == "cluster_fault"


def test_the_undrained_finding_names_the_haproxy_that_let_the_server_out():
    found = assess(Look(look().galera, None, balancers={"node1": servers(node2="MAINT"), "node3": servers()}),
                   InFlight("node2", "stopped", "upgrade"), DB, API)
    assert {(f.backend, f.where) for f in found} == {(DB, "node3"), (API, "node3")}
    assert all(f.message.startswith("haproxy on node3: ") for f in found)
