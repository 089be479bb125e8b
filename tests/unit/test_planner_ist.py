"""IST feasibility: predicted gap vs the best donor's gcache, and the advice when it fails."""
from __future__ import annotations

from dataclasses import replace

import pytest

from planner_fixtures import MIB, cluster, lab_rate, with_all_galera, with_galera
from upgrader.planner import PlanOptions, ist_verdict, ist_verdicts
from upgrader.planner.ist import predicted_gap
from upgrader.planner.steps import downtime_s


def _busy(facts, gcache_mib=2, rate=300.0, size=4096.0):
    facts = with_all_galera(facts, gcache_size_bytes=gcache_mib * MIB)
    return replace(facts, write_rate=lab_rate(seqno_per_s=rate, bytes_per_writeset=size))


# id, write-sets/s, downtime s, margin, expected gap
GAPS = [
    pytest.param(0.0, 21.0, 2.0, 4, id="gap: idle cluster still writes 4 at start"),
    pytest.param(1.5, 21.0, 2.0, 67, id="gap: lab rate"),
    pytest.param(300.0, 21.0, 2.0, 12604, id="gap: 300 ws/s"),
    pytest.param(0.01, 21.0, 2.0, 5, id="gap: rounds up"),
]


@pytest.mark.parametrize(("rate", "downtime", "margin", "expected"), GAPS)
def test_predicted_gap(rate, downtime, margin, expected):
    assert predicted_gap(rate, downtime, margin) == expected


# id, options, expected downtime (stop_services + upgrade + rejoin_galera)
DOWNTIMES = [
    pytest.param(PlanOptions(), 21.0, id="downtime: defaults 8+5+8"),
    pytest.param(PlanOptions(packages=("openssl",)), 36.0, id="downtime: packages add 15 s"),
    pytest.param(PlanOptions(estimates={"rejoin_galera": 20.0}), 33.0, id="downtime: override rejoin"),
]


@pytest.mark.parametrize(("options", "expected"), DOWNTIMES)
def test_downtime(options, expected):
    assert downtime_s(options) == expected


def test_lab_gcache_128m_low_rate_is_ist_for_all_three():
    verdicts = ist_verdicts(cluster(), PlanOptions())
    assert all(v.feasible and not v.warning for v in verdicts.values())
    assert {n: v.donor for n, v in verdicts.items()} == {"node1": "node2", "node2": "node1", "node3": "node1"}
    assert verdicts["node1"].donor_window_writesets == 128 * MIB // 600


def test_gcache_2m_under_300_ws_of_4k_is_sst_risk():
    verdict = ist_verdict(_busy(cluster()), "node2", PlanOptions())
    assert not verdict.feasible
    assert (verdict.gap_writesets, verdict.gap_bytes) == (12604, 12604 * 4096)
    assert verdict.donor == "node1" and verdict.donor_window_writesets == 512
    assert verdict.warning == (
        "node2: SST risk: predicted gap 12604 write-sets (49.2 MiB) exceeds the best donor's gcache "
        "(node1: 2.0 MiB); set gcache.size >= 50M on the donors or roll while writes stay under "
        "12.0 write-sets/s"
    )


def test_advertised_quieter_rate_really_fits():
    facts = _busy(cluster())
    facts = replace(facts, write_rate=lab_rate(seqno_per_s=12.0, bytes_per_writeset=4096.0))
    assert ist_verdict(facts, "node2", PlanOptions()).feasible


def test_advertised_gcache_size_really_fits():
    verdict = ist_verdict(_busy(cluster(), gcache_mib=50), "node2", PlanOptions())
    assert verdict.feasible


# id, facts, node, expected (feasible, donor)
DONORS = [
    pytest.param(with_galera(cluster(), "node3", gcache_size_bytes=256 * MIB), "node1", (True, "node3"),
                 id="donor: the widest gcache wins"),
    pytest.param(cluster(), "node2", (True, "node1"), id="donor: equal gcaches, tie by name"),
    pytest.param(with_galera(cluster(), "node1", local_state_comment="Donor/Desynced"), "node2",
                 (True, "node3"), id="donor: a desynced node cannot donate"),
    pytest.param(with_galera(with_galera(cluster(), "node1", reachable=False), "node3",
                             local_state_comment="Joining"), "node2", (False, ""),
                 id="donor: none Synced means SST risk"),
    pytest.param(with_galera(_busy(cluster()), "node3", gcache_size_bytes=64 * MIB), "node1", (True, "node3"),
                 id="donor: one big gcache is enough"),
]


@pytest.mark.parametrize(("facts", "name", "expected"), DONORS)
def test_donor_choice(facts, name, expected):
    verdict = ist_verdict(facts, name, PlanOptions())
    assert (verdict.feasible, verdict.donor) == expected


def test_no_donor_warning():
    facts = with_galera(with_galera(cluster(), "node1", reachable=False), "node3", local_state_comment="Joining")
    assert ist_verdict(facts, "node2", PlanOptions()).warning == (
        "node2: SST risk: no other node is Synced to donate IST"
    )


def test_unknown_writeset_size_reports_the_held_window():
    facts = replace(cluster(), write_rate=lab_rate(seqno_per_s=0.0, bytes_per_writeset=0.0))
    facts = with_galera(facts, "node1", last_committed=1000, local_cached_downto=401)
    facts = with_galera(facts, "node3", last_committed=1000, local_cached_downto=1)
    verdict = ist_verdict(facts, "node2", PlanOptions())
    # No size measured: capacity is not the limit, and the donor holding most wins.
    assert (verdict.feasible, verdict.donor, verdict.donor_window_writesets) == (True, "node3", 1000)


# id, options, expected feasible under a load that just fits at margin 2
MARGINS = [
    pytest.param(PlanOptions(), True, id="margin: 2.0 fits 12 ws/s"),
    pytest.param(PlanOptions(ist_margin=3.0), False, id="margin: 3.0 does not"),
    pytest.param(PlanOptions(packages=("openssl",)), False, id="margin: packages lengthen downtime"),
]


@pytest.mark.parametrize(("options", "feasible"), MARGINS)
def test_margin_and_downtime_change_the_verdict(options, feasible):
    facts = replace(_busy(cluster()), write_rate=lab_rate(seqno_per_s=12.0, bytes_per_writeset=4096.0))
    assert ist_verdict(facts, "node2", options).feasible is feasible
