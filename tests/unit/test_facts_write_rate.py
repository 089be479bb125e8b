"""write_rate(): the cluster's write rate from two samples of every node's wsrep counters.

Samples start from rows recorded on the lab (node1, the writer) and move only the three
counters write_rate reads: wsrep_last_committed, wsrep_received_bytes, wsrep_replicated_bytes.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from upgrader.facts.gather import write_rate
from upgrader.model import WriteRate

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "facts" / "galera" /
                       "node1_synced_writer.json").read_text())["output"]


def sample(committed: int, received: int = 0, replicated: int = 0) -> dict:
    """The recorded rows of one node with its counters set."""
    moved = {"wsrep_last_committed": committed, "wsrep_received_bytes": received,
             "wsrep_replicated_bytes": replicated}
    status = [(k, str(moved.get(k, v))) for k, v in RECORDED["status"]]
    return {"status": status, "variables": [tuple(r) for r in RECORDED["variables"]]}


UNREACHABLE = "(2003) Can't connect to MySQL server on '10.123.0.12' ([Errno 111] Connection refused)"

# The lab at rest: node1 replicated 72688 bytes, the backups received them.
QUIET = {"node1": sample(115, 880, 72_688), "node2": sample(115, 73_184), "node3": sample(115, 72_976)}


def _steady(n: int, size: int) -> dict:
    """QUIET after n write-sets of `size` bytes went through node1."""
    return {"node1": sample(115 + n, 880, 72_688 + n * size),
            "node2": sample(115 + n, 73_184 + n * size),
            "node3": sample(115 + n, 72_976 + n * size)}


@pytest.mark.parametrize("first, second, window, expected", [
    pytest.param(QUIET, QUIET, 2.0, WriteRate(window_s=2.0),
                 id="no writes: zero rates and bytes_per_writeset 0 (not a division by zero)"),
    pytest.param(QUIET, _steady(20, 600), 2.0,
                 WriteRate(window_s=2.0, seqno_per_s=10.0, bytes_per_s=6000.0, bytes_per_writeset=600.0),
                 id="steady: 20 write-sets of 600 B in 2 s"),
    pytest.param(QUIET, _steady(3, 1000), 2.106,
                 WriteRate(window_s=2.106, seqno_per_s=1.425, bytes_per_s=1424.5, bytes_per_writeset=1000.0),
                 id="a real window length: rates rounded (3 and 1 decimals)"),
    pytest.param({**QUIET, "node2": UNREACHABLE}, _steady(20, 600), 2.0,
                 WriteRate(window_s=2.0, seqno_per_s=10.0, bytes_per_s=6000.0, bytes_per_writeset=600.0),
                 id="node2 unreachable in the first sample: skipped, the others count"),
    pytest.param(QUIET, {**_steady(20, 600), "node1": UNREACHABLE}, 2.0,
                 WriteRate(window_s=2.0, seqno_per_s=10.0, bytes_per_s=6000.0, bytes_per_writeset=600.0),
                 id="the writer unreachable in the second sample: a backup's received bytes count"),
    pytest.param({n: UNREACHABLE for n in QUIET}, {n: UNREACHABLE for n in QUIET}, 2.0,
                 WriteRate(window_s=2.0),
                 id="every node unreachable: zero, not an error"),
    pytest.param(QUIET, {k: v for k, v in _steady(20, 600).items() if k != "node3"}, 2.0,
                 WriteRate(window_s=2.0, seqno_per_s=10.0, bytes_per_s=6000.0, bytes_per_writeset=600.0),
                 id="a node missing from the second sample is skipped"),
    pytest.param(QUIET, {**_steady(20, 600), "node3": sample(2, 0)}, 2.0,
                 WriteRate(window_s=2.0, seqno_per_s=10.0, bytes_per_s=6000.0, bytes_per_writeset=600.0),
                 id="node3 restarted between samples (counters went back): clamped to 0, others count"),
    pytest.param(QUIET, _steady(20, 600), 0.0, WriteRate(),
                 id="an empty window: the default WriteRate"),
])
def test_write_rate(first: dict, second: dict, window: float, expected: WriteRate) -> None:
    assert write_rate(first, second, window) == expected


def test_write_rate_takes_the_node_that_saw_the_most() -> None:
    """Joined late or lagging: the node with the largest delta speaks for the cluster."""
    second = {"node1": sample(125, 880, 72_688 + 10 * 500),   # 10 write-sets applied
              "node2": sample(120, 73_184 + 5 * 500),          # still 5 behind
              "node3": sample(115, 72_976)}                    # saw nothing yet
    rate = write_rate(QUIET, second, 1.0)
    assert (rate.seqno_per_s, rate.bytes_per_s, rate.bytes_per_writeset) == (10.0, 5000.0, 500.0)


def test_write_rate_is_pure() -> None:
    """Same samples, same answer; the samples are not changed."""
    first, second = json.dumps(QUIET), json.dumps(_steady(7, 300))
    a = write_rate(json.loads(first), json.loads(second), 1.5)
    b = write_rate(json.loads(first), json.loads(second), 1.5)
    assert a == b == WriteRate(window_s=1.5, seqno_per_s=4.667, bytes_per_s=1400.0, bytes_per_writeset=300.0)
