"""`upgrader recover --bootstrap`: refused unless the quorum is lost and the node is the furthest ahead."""
from __future__ import annotations

import pytest

from upgrader.cli.recover import _refuse_unsafe
from upgrader.errors import UnsafeCluster
from upgrader.faults import most_advanced, primary_nodes
from upgrader.model import GaleraFacts


def g(status="non-Primary", seqno=100) -> GaleraFacts:
    return GaleraFacts(reachable=True, cluster_status=status, local_state_comment="Initialized",
                       last_committed=seqno)


DOWN = GaleraFacts(reachable=False, error="Connection refused")

# id, galera, node asked, expected refusal fragment ("" = allowed)
CASES = [
    pytest.param({"node1": g(seqno=120), "node2": g(seqno=90), "node3": DOWN}, "node1", "",
                 id="allowed: no Primary, node1 furthest ahead"),
    pytest.param({"node1": g("Primary"), "node2": g(), "node3": DOWN}, "node2", "would split the cluster",
                 id="refused: node1 is still Primary"),
    pytest.param({"node1": g(seqno=120), "node2": g(seqno=90), "node3": DOWN}, "node2",
                 "would lose the writes only node1 has", id="refused: node1 is further ahead"),
    pytest.param({"node1": g(seqno=120), "node2": g(seqno=90), "node3": DOWN}, "node3",
                 "does not answer", id="refused: node3's server is down"),
]


@pytest.mark.parametrize(("galera", "node", "refusal"), CASES)
def test_bootstrap_refusals(galera, node, refusal):
    call = lambda: _refuse_unsafe(node, galera, primary_nodes(galera), most_advanced(galera))  # noqa: E731
    if not refusal:
        call()
        return
    with pytest.raises(UnsafeCluster, match=refusal):
        call()
