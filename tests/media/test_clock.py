"""The media layer's clocks: the wall clock the room state stamps events with."""

from __future__ import annotations

import time

from desktop.media.frames import monotonic_us, wall_clock_ms


def test_wall_clock_ms_is_unix_epoch_milliseconds_not_the_monotonic_clock() -> None:
    before_ms = time.time_ns() // 1_000_000
    stamped_ms = wall_clock_ms()
    after_ms = time.time_ns() // 1_000_000
    # A float-rounding millisecond either side; the monotonic clock is nowhere near.
    assert before_ms - 1 <= stamped_ms <= after_ms + 1
    assert abs(stamped_ms - monotonic_us() // 1000) > 1_000_000
