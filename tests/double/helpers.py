"""The participant helpers moved to ``tests/participants.py``; kept for the egress tests here."""

from tests.participants import Feeder, join, read_audio_peak, read_video_stamps, wait_for

__all__ = ["Feeder", "join", "read_audio_peak", "read_video_stamps", "wait_for"]
