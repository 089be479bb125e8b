"""The probe's stop after a fault: what it cannot check is said, not raised (unless asked).

The field report: a roll paused with a node down, and the lost-rows check died with
``(1047, 'WSREP has not yet prepared node for application use')`` as a traceback. Here
pymysql and pika answer as such a cluster would; nothing else is faked.
"""
from __future__ import annotations

import pika.exceptions
import pymysql
import pytest

from upgrader.errors import ProbeError
from upgrader.probe.runner import Probe, ProbeTargets

NODES = ("10.123.0.11", "10.123.0.12", "10.123.0.13")
WSREP_1047 = pymysql.err.OperationalError(1047, "WSREP has not yet prepared node for application use")


def probe() -> Probe:
    p = Probe(ProbeTargets(vip="10.123.0.1", node_addresses=NODES, db_user="u", db_password="pw",
                           keystone_password="k", rabbit_user="r", rabbit_password="rp"), run="run-1")
    p.db.acked, p.rabbit.confirmed = ["row-1", "row-2"], ["msg-1"]
    return p


class Rows:
    """A pymysql connection whose probe_writes table holds ``present``."""

    def __init__(self, present):
        self.present = present

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, sql, args=None):
        pass

    def fetchall(self):
        return [(r,) for r in self.present]

    def close(self):
        pass


def no_node_answers(**kwargs):
    raise WSREP_1047


def no_broker_answers(params):
    raise pika.exceptions.AMQPConnectionError("connection refused")


@pytest.fixture
def dead_cluster(monkeypatch):
    monkeypatch.setattr(pymysql, "connect", no_node_answers)
    monkeypatch.setattr(pika, "BlockingConnection", no_broker_answers)


def test_a_roll_stop_with_no_node_answering_says_what_was_not_checked(dead_cluster):
    summary = probe().stop({}, strict=False)
    assert summary["lost_writes"] is None                     # not 0: nothing was checked
    rows, messages = summary["lost_detail"]["not_checked"]
    assert rows.startswith("probe: no Galera node answered the lost-writes check: 10.123.0.11: (1047, ")
    assert messages == ("probe: the lost-messages check could not run: AMQPConnectionError: "
                        "connection refused")
    assert len(summary["lost_detail"]["nodes_not_checked"]) == 3


def test_upgrader_probe_still_refuses_in_one_line(dead_cluster):
    with pytest.raises(ProbeError, match=r"^probe: no Galera node answered the lost-writes check"):
        probe().stop({})


def test_one_node_down_is_named_the_others_checked_and_no_broker_leaves_the_total_unknown(monkeypatch):
    def connect(host, **kw):
        if host == NODES[1]:
            raise WSREP_1047
        return Rows(["row-1"])                                # row-2 lost on the answering nodes
    monkeypatch.setattr(pymysql, "connect", connect)
    monkeypatch.setattr(pika, "BlockingConnection", no_broker_answers)
    summary = probe().stop({}, strict=False)
    detail = summary["lost_detail"]
    assert (summary["lost_writes"], detail["db_rows_lost"], detail["messages_lost"]) == (None, 1, None)
    assert detail["nodes_not_checked"] == [
        "10.123.0.12: (1047, 'WSREP has not yet prepared node for application use')"]
    assert len(detail["not_checked"]) == 1 and detail["not_checked"][0].startswith(
        "probe: the lost-messages check could not run: AMQPConnectionError")
