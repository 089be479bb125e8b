"""The uptime gate and the probe statistics: pure, over recorded samples."""
from upgrader.probe.gate import UptimeGate
from upgrader.probe.record import Sample, percentile, stats, summarize


def s(t, ok=True, ms=5.0, kind="mariadb"):
    return Sample(kind, t, ok, ms, 0 if ok else 1, "" if ok else "OperationalError: lost")


def test_percentile_nearest_rank():
    assert percentile([], 99) is None
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile(list(range(1, 101)), 99) == 99


def test_stats_count_failures_and_disconnects():
    got = stats([s(1), s(2, ok=False), s(3)])
    assert (got["operations"], got["failed_operations"], got["disconnects"]) == (3, 1, 1)


def test_summary_splits_baseline_and_node_windows():
    samples = [s(t) for t in range(10)] + [s(10, ok=False)]
    out = summarize(samples, baseline_end=5, windows={"node2": (8, 11)})
    assert out["baseline"]["operations"] == 5 and out["during"]["operations"] == 6
    assert out["node_windows"]["node2"] == {"operations": 3, "failed_operations": 1, "disconnects": 1,
                                            "p50_ms": 5.0, "p99_ms": 5.0}


def test_gate_trips_on_failures_beyond_budget_and_reset_acknowledges_them():
    samples = [s(1), s(2)]
    gate = UptimeGate(lambda: samples, baseline_end=1.5, budget=0, now=lambda: 10)
    assert gate.problems() == []
    samples.append(s(3, ok=False))
    assert "1 failed operations" in gate.problems()[0]
    samples.append(s(4, ok=False))
    gate.reset()
    assert gate.problems() == []
    samples.append(s(5, ok=False))
    assert "3 failed operations" in gate.problems()[0]


def test_gate_tolerates_slower_responses_but_not_near_stalls():
    base = [s(t / 10, ms=50) for t in range(20)]
    slow = [s(10 + t / 10, ms=400) for t in range(100)]           # 8x slower: acceptable
    gate = UptimeGate(lambda: base + slow, baseline_end=2, now=lambda: 30)
    assert gate.problems() == []
    stall = [s(20 + t / 10, ms=6000) for t in range(100)]         # 120x and over 5 s
    gate = UptimeGate(lambda: base + stall, baseline_end=2, now=lambda: 30)
    assert "p99" in gate.problems()[0]


def test_gate_one_stalled_operation_is_not_a_p99_blow_up():
    """Early in a roll (60 samples since the baseline) one Galera join stall is the maximum."""
    base = [s(t / 10, ms=40) for t in range(20)]
    recent = [s(10 + t / 10, ms=5) for t in range(60)]
    one_stall = recent[:30] + [s(13.05, ms=7000)] + recent[30:]
    assert UptimeGate(lambda: base + one_stall, baseline_end=2, now=lambda: 30).problems() == []
    three = one_stall + [s(15.05, ms=6500), s(16.05, ms=5900)]
    problems = UptimeGate(lambda: base + three, baseline_end=2, now=lambda: 30).problems()
    assert len(problems) == 1 and "3 of 63 operations over 5000 ms" in problems[0]
