"""ScreenSource captures a real X display (Xvfb showing a known picture)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from desktop.media.devices import list_screens
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.frames import PixelFormat
from desktop.media.screen import Region, ScreenSource
from tests.fixtures.devices import SCREEN_QUADRANTS_RGB, SCREEN_SIZE


@pytest.fixture
def on_xvfb(xvfb_display: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DISPLAY", xvfb_display)
    return xvfb_display


def _bgra_at(data: np.ndarray, width: int, x: int, y: int) -> tuple[int, int, int]:
    b, g, r, _ = data.reshape(-1, width, 4)[y, x]
    return int(r), int(g), int(b)


def test_captures_the_pictures_pixels(on_xvfb: str) -> None:
    width, height = SCREEN_SIZE
    screen = ScreenSource(monitor=1, fps=20)
    queue = screen.frames.subscribe("test", maxsize=100)
    screen.start()
    time.sleep(0.5)
    screen.stop()
    frames = list(iter(queue.get_nowait, None))
    assert len(frames) >= 4
    frame = frames[-1]
    assert (frame.width, frame.height, frame.format) == (width, height, PixelFormat.BGRA)
    assert frame.data.size == width * height * 4
    for i, rgb in enumerate(SCREEN_QUADRANTS_RGB):
        x = (i % 2) * width // 2 + width // 4
        y = (i // 2) * height // 2 + height // 4
        assert _bgra_at(frame.data, width, x, y) == rgb


def test_region_capture(on_xvfb: str) -> None:
    width, height = SCREEN_SIZE
    region = Region(left=width // 2, top=height // 2, width=100, height=60)
    screen = ScreenSource(monitor=1, region=region, fps=20)
    queue = screen.frames.subscribe("test")
    screen.start()
    time.sleep(0.3)
    screen.stop()
    frame = queue.take_latest()
    assert frame is not None and (frame.width, frame.height) == (100, 60)
    assert _bgra_at(frame.data, 100, 50, 30) == SCREEN_QUADRANTS_RGB[3]


def test_monitor_out_of_range_is_a_clear_error(on_xvfb: str) -> None:
    assert len(list_screens()) == 1
    with pytest.raises(MediaError) as info:
        ScreenSource(monitor=3).start()
    assert info.value.code is MediaErrorCode.DEVICE_NOT_FOUND
    assert "no monitor 3" in info.value.detail and "1 to 1" in info.value.hint


def test_no_display_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(MediaError) as info:
        ScreenSource().start()
    assert info.value.code is MediaErrorCode.DEVICE_NOT_FOUND
    assert "DISPLAY" in info.value.hint
