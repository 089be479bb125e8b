"""Events are frozen plain data; the bus fans out and never blocks the roll."""
from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest

from upgrader.events import (
    EVENT_TYPES, ApprovalNeeded, EventBus, HealthSample, LogLine, NodeStateChanged, Paused,
    RunStateChanged, StepFinished, StepStarted, event_from_dict,
)

SAMPLES = [
    RunStateChanged("r1", "rolling", "paused", "pause"),
    NodeStateChanged("node1", "pending", "api_drained", "drain_api"),
    StepStarted("node1", "drain_api", attempt=2),
    StepFinished("node1", "rejoin_galera", 12.5, True, "joined", "r1-node1-rejoin", "IST"),
    HealthSample({"keystone_p95_ms": 41.0, "galera_synced": 3}, node="node2"),
    LogLine("TASK [Wait for Synced]", node="node1", step="rejoin_galera"),
    ApprovalNeeded("canary:node3", "node3 is upgraded; approve to continue"),
    Paused("step_failed", "drain_db failed on node2"),
]


def test_every_event_type_has_a_sample():
    assert {type(e).__name__ for e in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_events_are_frozen(event):
    field = dataclasses.fields(event)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, field, "changed")


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_to_dict_is_json_and_round_trips(event):
    data = event.to_dict()
    assert data["event"] == type(event).__name__
    assert event_from_dict(json.loads(json.dumps(data))) == event


def test_step_finished_to_dict_names_its_figures():
    assert SAMPLES[3].to_dict() == {
        "event": "StepFinished", "node": "node1", "step": "rejoin_galera", "duration_s": 12.5,
        "ok": True, "message": "joined", "artifact_id": "r1-node1-rejoin", "transfer": "IST"}


@pytest.mark.parametrize("data,expected", [
    ({"event": "Teleported", "node": "node1"}, None),                     # a future event type
    ({"node": "node1"}, None),                                            # no event name
    ({"event": "Paused", "reason": "operator", "colour": "red"}, Paused("operator")),  # extra key
])
def test_event_from_dict_is_tolerant(data, expected):
    assert event_from_dict(data) == expected


def test_every_subscriber_gets_every_event_in_order():
    bus = EventBus()
    a, b = bus.subscribe(), bus.subscribe()
    for event in SAMPLES:
        bus.publish(event)
    assert [a.get_nowait() for _ in SAMPLES] == SAMPLES == [b.get_nowait() for _ in SAMPLES]
    assert a.empty() and b.empty()


def test_unsubscribed_queue_gets_nothing_more():
    bus = EventBus()
    q = bus.subscribe()
    bus.unsubscribe(q)
    bus.unsubscribe(q)                 # twice is harmless
    bus.publish(SAMPLES[0])
    assert q.empty()


def test_a_subscriber_that_never_reads_does_not_block_the_publisher():
    bus = EventBus(maxsize=3)
    stuck, live = bus.subscribe(), bus.subscribe()
    started = time.monotonic()
    for i in range(1000):
        bus.publish(LogLine(str(i)))
        live.get_nowait()
    assert time.monotonic() - started < 2
    # the stuck watcher keeps the newest events; the oldest are dropped and counted
    assert [stuck.get_nowait().line for _ in range(3)] == ["997", "998", "999"]
    assert bus.dropped == 997


def test_concurrent_publishers_lose_nothing_and_keep_their_own_order():
    bus = EventBus(maxsize=20_000)
    q = bus.subscribe()

    def publish(node: str) -> None:
        for i in range(2000):
            bus.publish(StepStarted(node, "drain_api", attempt=i))

    threads = [threading.Thread(target=publish, args=(f"node{n}",)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    received = [q.get_nowait() for _ in range(q.qsize())]
    assert len(received) == 6 * 2000 and bus.dropped == 0
    for n in range(6):
        attempts = [e.attempt for e in received if e.node == f"node{n}"]
        assert attempts == list(range(2000))
