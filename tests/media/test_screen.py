"""ScreenSource captures a real X display (Xvfb showing a known picture)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np
import pytest

from desktop.media.devices import list_screens
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.fanout import FrameQueue
from desktop.media.frames import PixelFormat, VideoFrame, monotonic_us
from desktop.media.screen import STATIC_REPEAT_S, ChangeGate, Region, ScreenSource, same_bytes
from tests.fixtures.devices import ORANGE_RGB, SCREEN_QUADRANTS_RGB, SCREEN_SIZE
from tests.waiting import wait_until


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
    # A still picture is handed on once (then once a second); the grabs go on meanwhile.
    assert len(frames) == 1 and screen.unchanged_grabs >= 4
    frame = frames[-1]
    assert (frame.width, frame.height, frame.format) == (width, height, PixelFormat.BGRA)
    assert frame.data.size == width * height * 4
    for i, rgb in enumerate(SCREEN_QUADRANTS_RGB):
        x = (i % 2) * width // 2 + width // 4
        y = (i // 2) * height // 2 + height // 4
        assert _bgra_at(frame.data, width, x, y) == rgb


def _frame_after(queue: FrameQueue[VideoFrame], after_us: int, timeout_s: float) -> VideoFrame:
    def newer() -> VideoFrame | None:
        frame = queue.get(timeout_s=0.1)  # waits for the next frame itself: no pause between
        return frame if frame is not None and frame.timestamp_us > after_us else None

    return wait_until(newer, timeout_s, f"a frame stamped after {after_us} µs", interval_s=0.0)


def test_still_screen_is_sent_once_a_second_and_a_change_at_the_next_grab(
    x_window: tuple[Any, Any],
) -> None:
    conn, window = x_window
    fps = 20
    screen = ScreenSource(monitor=1, fps=fps)
    queue = screen.frames.subscribe("test", maxsize=100)
    screen.start()
    try:
        first = _frame_after(queue, 0, 10)
        grabs_at_first = screen.unchanged_grabs
        # Still: the same picture is not handed on again within STATIC_REPEAT_S (on a loaded
        # machine the desktop may still be settling right after start: wait for the repeat).
        previous, repeat = first, _frame_after(queue, first.timestamp_us, STATIC_REPEAT_S + 5)
        deadline = time.monotonic() + 10
        while not np.array_equal(repeat.data, previous.data) and time.monotonic() < deadline:
            previous, grabs_at_first = repeat, screen.unchanged_grabs
            repeat = _frame_after(queue, repeat.timestamp_us, STATIC_REPEAT_S + 5)
        assert np.array_equal(repeat.data, previous.data)
        assert repeat.timestamp_us - previous.timestamp_us >= STATIC_REPEAT_S * 1e6 * 0.95
        # ...although it was grabbed at 20 fps meanwhile.
        assert screen.unchanged_grabs - grabs_at_first >= 5
        # A change is handed on at the first grab that sees it (one frame interval).
        window.configure(x=300, y=200)
        conn.sync()
        changed_us, grabs_before = monotonic_us(), screen.unchanged_grabs
        moved = _frame_after(queue, changed_us, 5)
        # At most the grab already under way when the window moved saw the old picture.
        assert screen.unchanged_grabs - grabs_before <= 1
        assert _bgra_at(moved.data, moved.width, 400, 260) == ORANGE_RGB
        assert _bgra_at(moved.data, moved.width, 100, 60) != ORANGE_RGB
    finally:
        screen.stop()


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


def test_the_change_gate_lets_other_threads_run_while_it_compares() -> None:
    """A camera frame on another capture thread must not wait for the screen's 8 MB compare.

    With the switch interval raised, a thread holding the interpreter lock keeps it until it
    lets go itself: the counter below can advance during a ``changed`` call only if the
    compare releases the lock. Progress is asserted, not timing: the counting thread may not
    be scheduled during every compare on a loaded machine, so compares repeat until it was.
    """
    grab = bytearray(np.arange(1920 * 1080 * 4, dtype=np.uint32).astype(np.uint8).tobytes())
    gate = ChangeGate(repeat_s=3600.0)
    assert gate.changed(grab, 0.0)
    counter = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            for _ in range(200):
                counter[0] += 1
            time.sleep(0.0001)  # lets go of the lock now and then: the test thread needs it

    switch_interval_s = sys.getswitchinterval()
    counting = threading.Thread(target=count, name="test-counter")
    advanced_during_a_compare = False
    compares = 0
    sys.setswitchinterval(30.0)
    counting.start()
    try:
        deadline = time.monotonic() + 30
        while not advanced_during_a_compare and time.monotonic() < deadline:
            same_picture = bytearray(grab)  # a new grab of the unchanged screen
            before = counter[0]
            held_back = not gate.changed(same_picture, 1.0)
            advanced_during_a_compare = counter[0] != before
            assert held_back
            compares += 1
    finally:
        stop.set()
        counting.join(10)
        sys.setswitchinterval(switch_interval_s)
    assert advanced_during_a_compare, f"the counter never ran during {compares} compares"


def test_the_change_gate_tells_a_changed_picture_from_the_same_one() -> None:
    grab = bytearray(b"\x10" * (64 * 36 * 4))
    gate = ChangeGate(repeat_s=1.0)
    assert gate.changed(grab, 0.0)
    assert not gate.changed(bytes(grab), 0.1)  # the same picture in a new buffer
    last_byte_changed = bytearray(grab)
    last_byte_changed[-1] ^= 1
    assert gate.changed(last_byte_changed, 0.2)
    assert not gate.changed(bytearray(last_byte_changed), 0.3)
    assert gate.changed(bytearray(last_byte_changed), 1.3)  # still, but the repeat is due
    assert gate.changed(bytearray(b"\x10" * 16), 1.4)  # another size is a change
    assert gate.unchanged == 2
    assert same_bytes(bytearray(), b"") and not same_bytes(b"a", b"b")
