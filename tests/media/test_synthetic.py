"""Synthetic twins: paced like devices, and their stamp survives scaling and lossy coding."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from desktop.media.base import SourceState
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.frames import PixelFormat, VideoFrame
from desktop.media.meter import measure
from desktop.media.synthetic import (
    SyntheticCamera,
    SyntheticMicrophone,
    SyntheticScreen,
    decode_stamp,
    i420_luma,
)


def test_camera_frames_are_stamped_i420() -> None:
    camera = SyntheticCamera(640, 360, fps=30)
    frame = camera.make_frame(123456, 987_654_321_000)
    assert frame.format is PixelFormat.I420
    assert frame.data.size == 640 * 360 * 3 // 2
    assert decode_stamp(i420_luma(frame.data, 640, 360)) == (123456, 987_654_321)


@pytest.mark.parametrize("size", [(320, 180), (640, 360)])
def test_stamp_survives_downscale_and_jpeg(size: tuple[int, int]) -> None:
    frame = SyntheticCamera(1280, 720).make_frame(4242, 5_000_000)
    bgr = frame.to_bgr()
    small = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 40])
    assert ok
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert decoded is not None
    grey = cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY)
    assert decode_stamp(grey) == (4242, 5000)


def test_camera_thread_delivers_at_its_rate() -> None:
    camera = SyntheticCamera(320, 180, fps=50)
    queue = camera.frames.subscribe("test", maxsize=1000)
    camera.start()
    time.sleep(0.5)
    camera.stop()
    frames = list(iter(queue.get_nowait, None))
    assert camera.state is SourceState.STOPPED
    assert 15 <= len(frames) <= 35
    assert [f.sequence for f in frames] == list(range(len(frames)))
    stamps = [decode_stamp(i420_luma(f.data, 320, 180))[0] for f in frames]
    assert stamps == [f.sequence for f in frames]


def test_screen_twin_is_bgra_with_moving_box() -> None:
    screen = SyntheticScreen(640, 360)
    first, later = screen.make_frame(0, 0), screen.make_frame(10, 0)
    assert first.format is PixelFormat.BGRA and first.data.size == 640 * 360 * 4
    assert not np.array_equal(first.data, later.data)
    grey = cv2.cvtColor(later.to_bgr(), cv2.COLOR_BGR2GRAY)
    assert decode_stamp(grey)[0] == 10


def test_microphone_twin_tone() -> None:
    mic = SyntheticMicrophone(frequency_hz=1000, level_dbfs=-6)
    blocks = [mic.make_block(0) for _ in range(10)]
    samples = np.concatenate([b.data for b in blocks])
    assert all(b.samples_per_channel == 480 and b.sample_rate_hz == 48_000 for b in blocks)
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) * 48_000 / samples.size == pytest.approx(1000, abs=10)
    assert measure(samples).peak_dbfs == pytest.approx(-6, abs=0.1)


def test_bad_size_is_a_clear_error() -> None:
    with pytest.raises(MediaError) as info:
        SyntheticCamera(641, 360)
    assert info.value.code is MediaErrorCode.INVALID_ARGUMENT
    assert "641x360" in str(info.value)


def test_frame_hand_off_to_livekit_is_zero_copy() -> None:
    frame: VideoFrame = SyntheticCamera(320, 180).make_frame(1, 0)
    lk = frame.to_livekit()
    assert lk.width == 320 and lk.height == 180
    # The LiveKit frame wraps our buffer: same memory, no copy.
    assert np.shares_memory(np.frombuffer(lk.data, np.uint8), frame.data)
