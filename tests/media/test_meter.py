"""The level meter reads known signals correctly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desktop.media.meter import SILENCE_DBFS, LevelMeter, measure


def _sine(level_dbfs: float, n: int = 480) -> np.ndarray:
    t = np.arange(n) / 48_000
    return np.round(32767 * 10 ** (level_dbfs / 20) * np.sin(2 * math.pi * 1000 * t)).astype(
        np.int16
    )


@pytest.mark.parametrize("level_dbfs", [-1.0, -6.0, -20.0, -40.0])
def test_sine_peak_and_rms(level_dbfs: float) -> None:
    level = measure(_sine(level_dbfs))
    assert level.peak_dbfs == pytest.approx(level_dbfs, abs=0.1)
    # A sine's RMS is 3.01 dB under its peak.
    assert level.rms_dbfs == pytest.approx(level_dbfs - 3.01, abs=0.1)


def test_silence_and_full_scale() -> None:
    assert measure(np.zeros(480, np.int16)).peak_dbfs == SILENCE_DBFS
    full = np.full(480, -32768, np.int16)
    assert measure(full).peak_dbfs == pytest.approx(0.0, abs=1e-6)


def test_peak_hold_falls_back() -> None:
    meter = LevelMeter(hold_decay_db_per_s=20.0)
    meter.update(_sine(-6.0))
    for _ in range(50):  # half a second of silence
        meter.update(np.zeros(480, np.int16))
    assert meter.peak_hold_dbfs == pytest.approx(-6.0 - 10.0, abs=0.2)
    assert meter.level.peak_dbfs == SILENCE_DBFS
