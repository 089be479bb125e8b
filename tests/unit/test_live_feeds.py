"""The feeds an apply process writes: private files, whole lines, no secret, never an exception."""
from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from types import SimpleNamespace

from upgrader.events import ApprovalNeeded, EventBus, LogLine, StepStarted
from upgrader.live.feed import TailReader, append_line, read_snapshot
from upgrader.live.feeds import LiveFeeds
from upgrader.probe.record import Recorder, Sample
from upgrader.redact import Redactor

SECRET = "s3cr3t-galera-pw"


class FakeSampler:
    def __init__(self) -> None:
        self.rabbit_calls = 0

    def sample(self) -> dict:
        return {"nodes": {"node2": {"reachable": False,
                                    "error": f"MariaDB at 10.123.0.12: denied for password={SECRET}"}},
                "haproxy": {}, "haproxy_error": "", "rabbitmq": {}}

    def sample_rabbit(self) -> dict:
        self.rabbit_calls += 1
        return {}

    def close(self) -> None:
        pass


def fake_probe() -> SimpleNamespace:
    rec = Recorder()
    now = time.time()
    rec.add(Sample("keystone", now - 1, False, 30.0, error=f"HTTPError: token {SECRET} refused"))
    return SimpleNamespace(recorder=rec, baseline_end=now - 5)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def feeds(tmp_path: Path, bus=None, sampler=None) -> LiveFeeds:
    return LiveFeeds(tmp_path, Redactor([SECRET]), sampler, bus, intervals=(0.05, 0.05, 0.05))


def test_runner_events_become_private_scrubbed_task_lines(tmp_path):
    f = feeds(tmp_path).start()
    f.on_runner_event({"event": "runner_on_failed", "runner_ident": "004-node2-rejoin_galera",
                       "event_data": {"task": "Start MariaDB", "host": "node2",
                                      "res": {"msg": f"mysql -p{SECRET} failed"}}})
    f.on_runner_event({"event": "verbose", "stdout": "noise"})
    f.stop()
    (line,) = lines(tmp_path / "tasks.jsonl")
    assert (line["node"], line["step"], line["status"]) == ("node2", "rejoin_galera", "failed")
    assert SECRET not in (tmp_path / "tasks.jsonl").read_text()
    assert stat.S_IMODE((tmp_path / "tasks.jsonl").stat().st_mode) == 0o600


def test_a_bad_event_never_reaches_the_runner_as_an_exception(tmp_path):
    f = feeds(tmp_path)
    f.on_runner_event({"event": "runner_on_ok", "event_data": "not a dict"})
    f.on_runner_event(None)  # type: ignore[arg-type]
    assert f.errors == 2 and not (tmp_path / "tasks.jsonl").exists()


def test_health_and_probe_snapshots_are_refreshed_scrubbed_and_marked_stale_at_stop(tmp_path):
    sampler = FakeSampler()
    f = feeds(tmp_path, sampler=sampler).start()
    assert read_snapshot(tmp_path / "probe.json") is None      # the probe still measures its baseline
    f.attach_probe(fake_probe(), budget=2)
    deadline = time.monotonic() + 5
    while not (tmp_path / "health.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    health, probe = read_snapshot(tmp_path / "health.json"), read_snapshot(tmp_path / "probe.json")
    assert health["live"] and health["nodes"]["node2"]["reachable"] is False and health["pid"]
    assert probe["enabled"] and probe["failed"] == 1 and probe["budget"] == 2
    f.stop()
    assert read_snapshot(tmp_path / "health.json")["live"] is False
    assert read_snapshot(tmp_path / "probe.json")["live"] is False
    for name in ("health.json", "probe.json"):
        assert SECRET not in (tmp_path / name).read_text()
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert sampler.rabbit_calls >= 1


def test_the_probe_off_is_said_once_attached_as_none(tmp_path):
    f = feeds(tmp_path)
    f.attach_probe(None)
    assert read_snapshot(tmp_path / "probe.json")["enabled"] is False


def test_roll_log_lines_from_the_bus_join_the_task_log(tmp_path):
    bus = EventBus()
    f = feeds(tmp_path, bus=bus).start()
    bus.publish(LogLine("waiting for health before node3: node1: Joined, not Synced", "node3"))
    bus.publish(StepStarted("node3", "drain_api"))                # in the journal already
    bus.publish(ApprovalNeeded("canary:node2", "node2 is upgraded and verified"))
    f.stop()
    texts = [(x["kind"], x["node"], x["text"]) for x in lines(tmp_path / "tasks.jsonl")]
    assert texts == [("log", "node3", "waiting for health before node3: node1: Joined, not Synced"),
                     ("log", "", "waiting for approval of canary:node2: node2 is upgraded and verified")]


def test_the_tail_reader_returns_whole_lines_once_and_waits_for_a_line_being_written(tmp_path):
    path = tmp_path / "tasks.jsonl"
    reader = TailReader(path)
    assert reader.read_new() == []                                 # no file yet
    append_line(path, {"n": 1})
    with open(path, "a") as handle:
        handle.write('{"n": 2')                                    # its newline is yet to come
    assert reader.read_new() == [{"n": 1}]
    with open(path, "a") as handle:
        handle.write("}\n")
    assert reader.read_new() == [{"n": 2}] and reader.read_new() == []
    path.write_text('{"n": 3}\n')                                  # replaced: start over
    assert reader.read_new() == [{"n": 3}]
