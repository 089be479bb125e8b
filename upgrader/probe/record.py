"""Samples of client operations and the statistics the report quotes. Pure."""
from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    kind: str              # "keystone" | "mariadb" | "rabbitmq"
    t: float               # wall-clock seconds (time.time) when the operation started
    ok: bool               # succeeded after the client's retry policy
    latency_ms: float
    disconnects: int = 0   # connections lost (and re-made) during this operation
    error: str = ""


class Recorder:
    """Thread-safe append-only list of samples."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: list[Sample] = []

    def add(self, sample: Sample) -> None:
        with self._lock:
            self._samples.append(sample)

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-int(q * len(ordered)) // 100)))
    return round(ordered[rank - 1], 1)


def stats(samples: list[Sample]) -> dict:
    lat = [s.latency_ms for s in samples if s.ok]
    return {
        "operations": len(samples),
        "failed_operations": sum(1 for s in samples if not s.ok),
        "disconnects": sum(s.disconnects for s in samples),
        "p50_ms": percentile(lat, 50),
        "p99_ms": percentile(lat, 99),
    }


def window(samples: list[Sample], start: float, end: float) -> list[Sample]:
    return [s for s in samples if start <= s.t < end]


def summarize(samples: list[Sample], baseline_end: float, windows: dict[str, tuple[float, float]]) -> dict:
    """Baseline (before the roll) vs during it, overall, per kind and per node window."""
    base = [s for s in samples if s.t < baseline_end]
    during = [s for s in samples if s.t >= baseline_end]
    kinds = sorted({s.kind for s in samples})
    return {
        **stats(during),
        "baseline": stats(base),
        "during": stats(during),
        "by_kind": {k: {"baseline": stats([s for s in base if s.kind == k]),
                        "during": stats([s for s in during if s.kind == k])} for k in kinds},
        "node_windows": {n: stats(window(samples, a, b)) for n, (a, b) in windows.items()},
        "errors": sorted({f"{s.kind}: {s.error}" for s in samples if not s.ok})[:10],
    }
