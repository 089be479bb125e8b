"""The uptime gate over the probe's figures: failures beyond a budget, or p99 blow-up."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from upgrader.probe.record import Sample, percentile


@dataclass
class UptimeGate:
    """problems() is [] while the roll may go on.

    Failures count from the roll's start; once reported they are acknowledged, so
    an operator's resume is not refused again for the same failures.
    """

    samples: callable            # () -> list[Sample]
    baseline_end: float
    budget: int = 0              # failed operations tolerated
    p99_multiple: float = 10.0   # tolerated p99 vs the baseline's, per kind
    # NOTE: slower responses are acceptable during a roll; the latency gate is for requests
    # that nearly stall, so it also needs the p99 above this floor before it trips. 1 s was
    # too low: on a 2-core CI machine the joiner's flow control held the writer's commits for
    # 1.0-1.4 s several times in one IST rejoin, with no client failing. 5 s is half the
    # probe's own Keystone timeout (10 s): a request that slow is close to failing.
    p99_floor_ms: float = 5000.0
    window_s: float = 60.0
    min_samples: int = 50
    # NOTE: one slow operation is not a p99: with fewer than 100 samples in the window
    # (early in a roll the window starts at the baseline's end) the nearest-rank p99 is
    # the maximum, and a Galera join stalls the writer's commits once for 1.5-2.5 s (seen
    # on every node's rejoin, with or without anything else starting). So the slow
    # operations must also be at least this many, and over 1 % of the window.
    min_slow: int = 3
    acknowledged: int = 0
    now: callable = field(default=time.time)

    def reset(self) -> None:
        """An operator resumed: the failures seen so far are acknowledged."""
        during = [s for s in self.samples() if s.t >= self.baseline_end]
        self.acknowledged = max(0, sum(1 for s in during if not s.ok) - self.budget)

    def problems(self) -> list[str]:
        samples: list[Sample] = self.samples()
        during = [s for s in samples if s.t >= self.baseline_end]
        failed = [s for s in during if not s.ok]
        out = []
        if len(failed) > self.budget + self.acknowledged:
            last = failed[-1]
            out.append(f"probe: {len(failed)} failed operations (budget {self.budget}); "
                       f"last: {last.kind}: {last.error}")
            self.acknowledged = len(failed) - self.budget
        out += self._latency(samples)
        return out

    def _latency(self, samples: list[Sample]) -> list[str]:
        out = []
        recent_from = self.now() - self.window_s
        for kind in sorted({s.kind for s in samples}):
            base = [s.latency_ms for s in samples if s.kind == kind and s.ok and s.t < self.baseline_end]
            recent = [s.latency_ms for s in samples
                      if s.kind == kind and s.ok and s.t >= max(recent_from, self.baseline_end)]
            if len(base) < self.min_samples // 4 or len(recent) < self.min_samples:
                continue
            b, r = percentile(base, 99), percentile(recent, 99)
            if not (b and r):
                continue
            limit = max(self.p99_multiple * b, self.p99_floor_ms)
            slow = sum(1 for ms in recent if ms > limit)
            if r > limit and slow >= max(self.min_slow, len(recent) / 100):
                out.append(f"probe: {kind} p99 {r:.0f} ms over the last {self.window_s:.0f} s is "
                           f"more than {self.p99_multiple:g}x the baseline's {b:.0f} ms "
                           f"({slow} of {len(recent)} operations over {limit:.0f} ms)")
        return out
