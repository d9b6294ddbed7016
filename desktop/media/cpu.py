"""How busy this process keeps the CPU (the Stats panel's first figure)."""

from __future__ import annotations

import psutil


class ProcessCpu:
    """Samples this process's CPU use: each reading covers the time since the one before.

    The first reading is taken when it is made, so the first :meth:`percent_of_one_core`
    already covers a real interval instead of psutil's meaningless first 0.
    """

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)

    def percent_of_one_core(self) -> float:
        """CPU used since the last reading, in percent of one core (over 100 on several)."""
        return float(self._process.cpu_percent(None))
