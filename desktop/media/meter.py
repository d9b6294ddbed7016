"""Audio level meter: peak and RMS in dBFS for each block, cheap enough for every 10 ms frame."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SILENCE_DBFS = -96.0
"""Floor reported for digital silence (16-bit range)."""
_FULL_SCALE = 32768.0


@dataclass(frozen=True, slots=True)
class Level:
    """The level of one block of audio."""

    peak_dbfs: float
    """Largest absolute sample, in dBFS (0 is full scale)."""
    rms_dbfs: float
    """Root-mean-square level, in dBFS (a full-scale sine reads about -3)."""


def _dbfs(value: float) -> float:
    if value <= 0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 20.0 * math.log10(value / _FULL_SCALE))


def measure(samples: npt.NDArray[np.int16]) -> Level:
    """Peak and RMS of int16 samples (any channel layout)."""
    if samples.size == 0:
        return Level(SILENCE_DBFS, SILENCE_DBFS)
    wide = samples.astype(np.float32)
    peak = float(np.max(np.abs(wide)))
    rms = float(np.sqrt(np.mean(wide * wide)))
    return Level(_dbfs(peak), _dbfs(rms))


class LevelMeter:
    """Keeps the latest level and a falling peak-hold, as meters in mixers show it.

    Args:
        hold_decay_db_per_s: How fast the held peak falls back.
    """

    def __init__(self, hold_decay_db_per_s: float = 20.0) -> None:
        self.level = Level(SILENCE_DBFS, SILENCE_DBFS)
        """Level of the last block."""
        self.peak_hold_dbfs = SILENCE_DBFS
        """Highest recent peak, falling at ``hold_decay_db_per_s``."""
        self._decay = hold_decay_db_per_s

    def update(self, samples: npt.NDArray[np.int16], duration_s: float = 0.01) -> Level:
        """Measure a block and update the peak hold."""
        self.level = measure(samples)
        fallen = self.peak_hold_dbfs - self._decay * duration_s
        self.peak_hold_dbfs = max(self.level.peak_dbfs, fallen, SILENCE_DBFS)
        return self.level
