"""The health check before each node: fresh facts, except the drift check's own for the first."""
from __future__ import annotations

from planner_fixtures import CREATED_AT, cluster, with_galera
from upgrader.executor import session
from upgrader.facts.host import HEALTH_SECTIONS
from upgrader.planner import PlanOptions, build_plan

PLAN = build_plan(cluster(), PlanOptions(targets={"keystone": "29.1.0"}), created_at=CREATED_AT,
                  inventory="inventory/lab.yml")


def test_first_check_reuses_the_drift_checks_facts_then_reads_fresh_ones(monkeypatch):
    reads = []
    desynced = with_galera(cluster(), "node3", desync=True, local_state_comment="Donor/Desynced")

    def gather(cluster_, secrets, sample_s, sections):
        reads.append((sample_s, sections))
        return desynced
    monkeypatch.setattr(session, "gather", gather)
    check = session.health_check(None, {}, PLAN, just_read=cluster())

    assert check("node2", ()) == [] and reads == []          # the facts just read: healthy
    problems = check("node2", ())                             # a retry of the gate reads again
    assert reads == [(0.5, HEALTH_SECTIONS)] and any("node3" in p for p in problems)


def test_without_just_read_facts_every_check_reads_the_cluster(monkeypatch):
    reads = []
    monkeypatch.setattr(session, "gather", lambda c, s, sample_s, sections: reads.append(1) or cluster())
    check = session.health_check(None, {}, PLAN)
    assert check("node2", ()) == [] and check("node2", ()) == []
    assert len(reads) == 2
