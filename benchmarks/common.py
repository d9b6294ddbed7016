"""What every benchmark shares: result rows, interleaved repeats, process and thread counters.

Each figure is measured next to a baseline in the same run and reported as a ratio, because
absolute times drift between machines. Ours and the baseline run in turns (ours, baseline,
baseline, ours, …), so load from other work lands on both alike; the medians and the spread
(max − min) of both are shown. A missed target is reported as MISSED with the measured reason,
never hidden.
"""

from __future__ import annotations

import os
import resource
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Row:
    """One figure, ours against the baseline."""

    benchmark: str
    """Which benchmark (ingest, tiles…)."""
    metric: str
    """What was measured, with its unit."""
    ours: float
    """Median of our pipeline."""
    baseline: float | None = None
    """Median of the obvious way, measured in the same run (None: no baseline applies)."""
    spread: float = 0.0
    """Max − min of ours over the repeats."""
    target: str = ""
    """The target in words."""
    met: bool | None = None
    """Whether the target is met (None: no target)."""
    notes: str = ""
    """Anything a reader needs to interpret the figure (for a MISSED one: the measured reason)."""
    baseline_spread: float = 0.0
    """Max − min of the baseline over the repeats."""

    @property
    def ratio(self) -> float | None:
        """baseline / ours: how many times cheaper (or faster) ours is."""
        if self.baseline is None or self.ours == 0:
            return None
        return self.baseline / self.ours

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "ratio": self.ratio}


@dataclass
class CpuClock:
    """Process CPU seconds (user + system) and wall seconds over a span."""

    cpu_start_s: float = field(default_factory=time.process_time)
    wall_start_s: float = field(default_factory=time.monotonic)

    def cpu_per_wall(self) -> float:
        """CPU seconds used per wall second since start (1.0 = one full core)."""
        wall = time.monotonic() - self.wall_start_s
        return (time.process_time() - self.cpu_start_s) / wall if wall > 0 else 0.0


def rss_mib() -> float:
    """Resident set size now, in MiB (Linux /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of values; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def repeat(measure: Callable[[], float], times: int) -> tuple[float, float]:
    """Run ``measure`` ``times`` times: (median, spread)."""
    values = [measure() for _ in range(times)]
    return statistics.median(values), max(values) - min(values)


def median_spread(values: list[float]) -> tuple[float, float]:
    """(median, max − min) of values; NaN for none."""
    if not values:
        return float("nan"), 0.0
    return statistics.median(values), max(values) - min(values)


def turns(repeats: int) -> list[bool]:
    """The order ours (True) and the baseline (False) run in: ABBA…, so drift hits both."""
    order: list[bool] = []
    for n in range(repeats):
        order += [True, False] if n % 2 == 0 else [False, True]
    return order


def interleaved(measure: Callable[[bool], dict[str, float]], repeats: int) -> Samples:
    """Run ``measure(ours)`` for both sides in turns; every figure's samples per side."""
    samples = Samples()
    for ours in turns(repeats):
        samples.add(ours, measure(ours))
    return samples


async def ainterleaved(
    measure: Callable[[bool], Awaitable[dict[str, float]]], repeats: int
) -> Samples:
    """``interleaved`` for coroutines."""
    samples = Samples()
    for ours in turns(repeats):
        samples.add(ours, await measure(ours))
    return samples


@dataclass
class Samples:
    """Figures of repeated runs, per side."""

    ours: dict[str, list[float]] = field(default_factory=dict)
    """Figure name → one value per run of ours."""
    base: dict[str, list[float]] = field(default_factory=dict)
    """Figure name → one value per run of the baseline."""

    def add(self, ours: bool, figures: dict[str, float]) -> None:
        """Record one run's figures."""
        side = self.ours if ours else self.base
        for name, value in figures.items():
            side.setdefault(name, []).append(value)

    def row(
        self,
        benchmark: str,
        metric: str,
        key: str,
        target: str = "",
        met: Callable[[float, float], bool] | None = None,
        notes: str = "",
        baseline: bool = True,
    ) -> Row:
        """A row for figure ``key``: medians and spreads of both sides; ``met(ours, base)``."""
        ours, spread = median_spread(self.ours.get(key, []))
        base, base_spread = median_spread(self.base.get(key, [])) if baseline else (None, 0.0)
        verdict = None
        if met is not None:
            verdict = bool(met(ours, base if base is not None else float("nan")))
        return Row(benchmark, metric, ours, base, spread, target, verdict, notes, base_spread)


def load_note() -> str:
    """The machine's load now, for the reason a latency target was missed."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def thread_cpu_s(thread: threading.Thread) -> float:
    """CPU seconds a (running) Python thread has used, read from any thread (Linux)."""
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def native_threads_cpu_s() -> dict[str, float]:
    """CPU seconds per thread name of this process, from /proc (native threads included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    by_name: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue  # the thread ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        by_name[name] = by_name.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return by_name
