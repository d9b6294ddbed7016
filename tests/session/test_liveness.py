"""The silence detector reads a received-packet counter; plain numbers, no server."""

from __future__ import annotations

from desktop.session.liveness import Liveness, SilenceDetector


def test_a_counter_that_stops_moving_is_silence_and_moving_again_is_answering() -> None:
    detector = SilenceDetector(limit_s=4.0)
    assert detector.observe(10, 0.0, publishing=True) is Liveness.UNKNOWN
    assert detector.observe(13, 0.5, publishing=True) is Liveness.ANSWERING
    assert detector.observe(13, 4.0, publishing=True) is Liveness.ANSWERING  # 3.5 s: not yet
    assert detector.observe(13, 4.5, publishing=True) is Liveness.SILENT
    assert detector.observe(13, 9.0, publishing=True) is Liveness.SILENT
    assert detector.observe(14, 9.5, publishing=True) is Liveness.ANSWERING


def test_nothing_published_says_nothing() -> None:
    # With nothing to acknowledge the server may rightly send nothing: no verdict.
    detector = SilenceDetector(limit_s=4.0)
    assert detector.observe(5, 0.0, publishing=False) is Liveness.UNKNOWN
    assert detector.observe(5, 60.0, publishing=False) is Liveness.UNKNOWN
    # Publishing starts: the first reading is a baseline, not an answer.
    assert detector.observe(5, 61.0, publishing=True) is Liveness.UNKNOWN
    assert detector.observe(5, 64.0, publishing=True) is Liveness.ANSWERING
    assert detector.observe(5, 65.0, publishing=True) is Liveness.SILENT
