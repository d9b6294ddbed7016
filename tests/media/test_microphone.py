"""MicrophoneSource captures a known tone played into PulseAudio's null sink."""

from __future__ import annotations

import time

import numpy as np
import pytest

from desktop.media.base import SourceState
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.frames import AudioFrame
from desktop.media.meter import measure
from desktop.media.microphone import NO_PROCESSING, AudioProcessing, MicrophoneSource
from tests.fixtures.devices import TonePlayer


def _capture(mic: MicrophoneSource, player: TonePlayer, frequency_hz: float, level_dbfs: float
             ) -> list[AudioFrame]:  # fmt: skip
    queue = mic.frames.subscribe("test", maxsize=10_000)
    mic.start()
    try:
        tone = player.play(frequency_hz, level_dbfs, duration_s=2.0)
        tone.wait(timeout=15)
        time.sleep(0.2)
    finally:
        mic.stop()
    return list(iter(queue.get_nowait, None))


def _loudest_stretch(frames: list[AudioFrame]) -> np.ndarray:
    samples = np.concatenate([f.data for f in frames])
    # Keep the part where the tone plays: blocks within 6 dB of the loudest one.
    blocks = samples[: samples.size // 480 * 480].reshape(-1, 480)
    peaks = np.abs(blocks.astype(np.int32)).max(axis=1)
    return np.asarray(blocks[peaks >= peaks.max() / 2].reshape(-1))


def _dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * 48_000 / samples.size)


def test_captures_tone_frequency_and_level(tone_player: TonePlayer) -> None:
    mic = MicrophoneSource(processing=NO_PROCESSING)
    frames = _capture(mic, tone_player, 997.0, -12.0)
    assert mic.device_sample_rate_hz == 48_000
    assert all(f.sample_rate_hz == 48_000 and f.samples_per_channel == 480 for f in frames)
    assert len(frames) >= 150  # two seconds of tone plus margins, in 10 ms blocks
    tone = _loudest_stretch(frames)
    assert tone.size >= 48_000
    assert _dominant_hz(tone) == pytest.approx(997.0, abs=5)
    assert measure(tone).peak_dbfs == pytest.approx(-12.0, abs=1.5)
    stamps = [f.timestamp_us for f in frames]
    assert all(b - a == 10_000 for a, b in zip(stamps, stamps[1:], strict=False))


def test_device_that_cannot_do_48k_is_resampled(tone_player: TonePlayer) -> None:
    mic = MicrophoneSource(processing=NO_PROCESSING, device_sample_rate_hz=44_100)
    frames = _capture(mic, tone_player, 1500.0, -10.0)
    assert mic.device_sample_rate_hz == 44_100
    assert all(f.sample_rate_hz == 48_000 and f.samples_per_channel == 480 for f in frames)
    assert _dominant_hz(_loudest_stretch(frames)) == pytest.approx(1500.0, abs=8)


def test_webrtc_processing_runs_and_keeps_a_voice_band_tone(tone_player: TonePlayer) -> None:
    processing = AudioProcessing(
        echo_cancellation=True, noise_suppression=False, auto_gain_control=False,
        high_pass_filter=True,
    )  # fmt: skip
    mic = MicrophoneSource(processing=processing)
    frames = _capture(mic, tone_player, 800.0, -12.0)
    assert _dominant_hz(_loudest_stretch(frames)) == pytest.approx(800.0, abs=6)
    mic.set_processing(NO_PROCESSING)
    assert not mic.processing.any


def test_unknown_microphone_is_a_clear_error(pulse_sink: str) -> None:
    mic = MicrophoneSource(device="no such microphone 123")
    with pytest.raises(MediaError) as info:
        mic.start()
    assert info.value.code is MediaErrorCode.DEVICE_NOT_FOUND
    assert "broadcaster devices" in info.value.hint
    assert mic.state is SourceState.FAILED
