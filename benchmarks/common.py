"""What every benchmark shares: result rows, repeat-and-summarise, process counters.

Each figure is measured next to a baseline in the same run and reported as a ratio, because
absolute times drift between machines; a missed target is reported as missed, never hidden.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
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
    """Anything a reader needs to interpret the figure."""

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
