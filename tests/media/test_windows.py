"""Window sharing on a real X display (Xvfb): list, capture, follow a move, a closed window."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from Xlib import Xatom

from desktop.media.base import SourceState
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.screen import Region
from desktop.media.windows import WindowSource, clip_to, list_windows
from tests.fixtures.devices import ORANGE_RGB, SCREEN_SIZE
from tests.waiting import wait_until


def _rgb_at(frame: Any, x: int, y: int) -> tuple[int, int, int]:
    b, g, r, _ = frame.data.reshape(frame.height, frame.width, 4)[y, x]
    return int(r), int(g), int(b)


def _latest(queue: Any, timeout_s: float = 3.0) -> Any:
    return wait_until(queue.take_latest, timeout_s, "a frame of the window")


def test_lists_the_window_with_its_place_and_title(x_window: tuple[Any, Any]) -> None:
    _, window = x_window
    found = {w.window_id: w for w in list_windows(exclude_pid=0)}
    assert window.id in found
    assert found[window.id].title == "Slides"
    assert found[window.id].region == Region(40, 30, 200, 120)
    # The studio's own windows are not offered (sharing itself would be a hall of mirrors).
    conn, _ = x_window
    window.change_property(conn.intern_atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [os.getpid()])
    conn.sync()
    assert window.id not in {w.window_id for w in list_windows()}


def test_captures_the_window_and_follows_it_when_it_moves(x_window: tuple[Any, Any]) -> None:
    conn, window = x_window
    source = WindowSource(window.id, "Slides", fps=20)
    queue = source.frames.subscribe("test")
    source.start()
    try:
        frame = _latest(queue)
        assert (frame.width, frame.height) == (200, 120)
        assert _rgb_at(frame, 100, 60) == ORANGE_RGB and _rgb_at(frame, 5, 5) == ORANGE_RGB
        window.configure(x=300, y=200, width=150, height=100)
        conn.sync()
        time.sleep(1.2)  # the source looks the window up every FOLLOW_INTERVAL_S
        frame = _latest(queue)
        assert source.region == Region(300, 200, 150, 100)
        assert (frame.width, frame.height) == (150, 100)
        assert _rgb_at(frame, 75, 50) == ORANGE_RGB
        # Minimised: viewers keep the last picture (not the desktop behind), frames keep coming.
        window.unmap()
        conn.sync()
        time.sleep(1.2)
        before = _latest(queue)
        time.sleep(0.3)
        after = _latest(queue)
        assert after.sequence > before.sequence
        assert _rgb_at(after, 75, 50) == ORANGE_RGB
        window.map()
        conn.sync()
        # Closing the shared window is a clear loss, not a frozen share.
        window.destroy()
        conn.sync()
        deadline = time.monotonic() + 3
        while source.state is not SourceState.FAILED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.state is SourceState.FAILED
        assert source.last_error is not None
        assert source.last_error.code is MediaErrorCode.DEVICE_LOST
        assert "closed" in str(source.last_error) and "share another window" in str(
            source.last_error
        )
    finally:
        source.stop()


def test_a_window_that_is_gone_is_a_clear_error(
    xvfb_display: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", xvfb_display)
    with pytest.raises(MediaError) as raised:
        WindowSource(0x3FFFFF0, "Gone").start()
    assert raised.value.code is MediaErrorCode.DEVICE_LOST
    assert "closed" in str(raised.value)


def test_clipping_keeps_even_sizes_inside_the_desktop() -> None:
    width, height = SCREEN_SIZE
    desktop = Region(0, 0, width, height)
    assert clip_to(Region(-10, -10, 101, 51), desktop) == Region(0, 0, 90, 40)
    assert clip_to(Region(width - 5, 0, 100, 100), desktop) == Region(width - 5, 0, 4, 100)
    assert clip_to(Region(width + 1, 0, 10, 10), desktop) is None
    assert clip_to(Region(3, 3, 7, 9), desktop) == Region(3, 3, 6, 8)
