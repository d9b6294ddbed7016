"""Screen capture with mss: a whole monitor or a region of it, BGRA straight through.

mss objects are not thread-safe, so the grabber is created on the capture thread itself.

A screen is mostly still (a slide, a document): each grab is compared with the last one
published (one ``memcmp``, called through ctypes so the interpreter lock is let go while it
reads 8 MB: a camera frame on another capture thread never waits for it), and an unchanged
picture is not handed on again, except once every
``STATIC_REPEAT_S`` so a viewer who just joined gets a picture and the encoder a keyframe. A
change is published at the next grab, within one frame interval. Sinks keep showing the last
frame they got; the encoder and everything after it run only when the picture changed.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mss
import mss.exception
import numpy as np

from desktop.media.base import SourceKind
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.frames import PixelFormat, VideoFrame, monotonic_us
from desktop.media.threaded import Pacer, ThreadedSource

logger = logging.getLogger(__name__)

STATIC_REPEAT_S = 1.0
"""An unchanged screen is handed on again after this long (new viewers, keyframes)."""


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle in desktop coordinates (pixels)."""

    left: int
    """Left edge."""
    top: int
    """Top edge."""
    width: int
    """Width."""
    height: int
    """Height."""


def _find_memcmp() -> Callable[[int, int, int], int] | None:
    """The C library's ``memcmp`` through ctypes, or ``None`` where it cannot be found.

    A ctypes foreign call releases the interpreter lock (GIL) for its duration; comparing two
    bytes objects in Python (``==``) runs the very same ``memcmp`` with the lock held.
    """
    try:
        libc = ctypes.cdll.msvcrt if sys.platform == "win32" else ctypes.CDLL(None)
        memcmp = libc.memcmp
    except (OSError, AttributeError):  # pragma: no cover - every libc we ship on has it
        return None
    memcmp.restype = ctypes.c_int
    memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
    compare: Callable[[int, int, int], int] = memcmp
    return compare


_MEMCMP = _find_memcmp()


def _address(buffer: bytes | bytearray) -> int:
    """Address of a buffer's first byte (it stays valid while ``buffer`` lives, unresized)."""
    if isinstance(buffer, bytes):
        address = ctypes.cast(ctypes.c_char_p(buffer), ctypes.c_void_p).value
    else:
        address = ctypes.addressof(ctypes.c_char.from_buffer(buffer))
    assert address is not None
    return address


def same_bytes(a: bytes | bytearray, b: bytes | bytearray) -> bool:
    """Whether two buffers hold the same bytes, compared without holding the GIL.

    Stops at the first difference, as ``==`` does; only the compare of two equal grabs reads
    them whole (about 0.5–1 ms for a 1080p BGRA grab here).
    """
    if len(a) != len(b):
        return False
    if a is b or not a:
        return True
    if _MEMCMP is None:  # pragma: no cover - see _find_memcmp
        return a == b
    return _MEMCMP(_address(a), _address(b), len(a)) == 0


class ChangeGate:
    """Decides which grabs are handed on: a changed picture, or a still one once a second.

    Args:
        repeat_s: How long an unchanged picture waits before it is handed on again.
    """

    def __init__(self, repeat_s: float = STATIC_REPEAT_S) -> None:
        self.repeat_s = repeat_s
        self._last: bytes | bytearray | None = None
        self._last_sent_s = 0.0
        self.unchanged = 0
        """Grabs held back because the picture had not changed."""

    def changed(self, raw: bytes | bytearray, now_s: float) -> bool:
        """Whether to hand this grab on; remembers it if so.

        The grab is compared with the last one handed on by one ``memcmp`` that runs without
        the GIL (:func:`same_bytes`), and only when the repeat is not due anyway. ``raw`` must
        not be written afterwards (mss hands a fresh buffer per grab).
        """
        last = self._last
        if last is not None and now_s - self._last_sent_s < self.repeat_s and same_bytes(raw, last):
            self.unchanged += 1
            return False
        self._last, self._last_sent_s = raw, now_s
        return True

    def reset(self) -> None:
        """Forget the last picture: the next grab is handed on."""
        self._last = None


def new_grabber() -> Any:
    """Create an mss grabber for the calling thread (mss 10 renamed the factory to ``MSS``)."""
    factory = getattr(mss, "MSS", None) or mss.mss
    return factory()


def _no_display(name: str, exc: Exception) -> MediaError:
    return MediaError(
        MediaErrorCode.DEVICE_NOT_FOUND,
        name,
        f"no screen to capture ({exc})",
        "run the app in a desktop session (DISPLAY/WAYLAND_DISPLAY set)",
    )


def list_monitors() -> list[dict[str, int]]:
    """Monitors as mss reports them, without the all-monitors entry (index 1 is the first).

    Raises:
        MediaError: There is no display to query.
    """
    try:
        with new_grabber() as grabber:
            return [dict(m) for m in grabber.monitors[1:]]
    except mss.exception.ScreenShotError as exc:
        raise _no_display("screen", exc) from exc


class ScreenSource(ThreadedSource[VideoFrame]):
    """Captures a monitor (1-based, as mss counts) or a region of it as BGRA frames.

    Args:
        monitor: Monitor number, 1 for the first.
        region: Part of the desktop to capture instead of the whole monitor (e.g. a window).
        fps: Target frames per second.
        name: Name shown to the user.
    """

    def __init__(
        self,
        monitor: int = 1,
        region: Region | None = None,
        fps: float = 15.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name or f"screen {monitor}", SourceKind.SCREEN)
        if fps <= 0:
            raise MediaError(
                MediaErrorCode.INVALID_ARGUMENT, self.name, f"fps {fps} is not positive"
            )
        self.monitor = monitor
        self.region = region
        self._fps = fps
        self._area: dict[str, int] = {}
        self._grabber: Any = None
        self._pacer: Pacer | None = None
        self._sequence = 0
        self._gate = ChangeGate()

    @property
    def unchanged_grabs(self) -> int:
        """Grabs not handed on because the picture had not changed (stats, tests)."""
        return self._gate.unchanged

    @property
    def width(self) -> int:
        """Captured width (after ``start``)."""
        return self._area.get("width", 0)

    @property
    def height(self) -> int:
        """Captured height (after ``start``)."""
        return self._area.get("height", 0)

    @property
    def fps(self) -> float:
        """Target frame rate."""
        return self._fps

    def _open(self) -> None:
        monitors = list_monitors()
        if not 1 <= self.monitor <= len(monitors):
            raise MediaError(
                MediaErrorCode.DEVICE_NOT_FOUND,
                self.name,
                f"there is no monitor {self.monitor}; this desktop has {len(monitors)}",
                f"pick a monitor from 1 to {len(monitors)}",
            )
        area = monitors[self.monitor - 1]
        if self.region is not None:
            r = self.region
            inside = (
                r.width > 0
                and r.height > 0
                and r.left >= area["left"]
                and r.top >= area["top"]
                and r.left + r.width <= area["left"] + area["width"]
                and r.top + r.height <= area["top"] + area["height"]
            )
            if not inside:
                raise MediaError(
                    MediaErrorCode.INVALID_ARGUMENT,
                    self.name,
                    f"region {r.width}x{r.height} at ({r.left},{r.top}) is not on this monitor",
                    "pick the window or area again",
                )
            area = {"left": r.left, "top": r.top, "width": r.width, "height": r.height}
        self._area = {"left": area["left"], "top": area["top"]}
        self._area["width"], self._area["height"] = area["width"], area["height"]
        self._sequence = 0

    def _read(self) -> VideoFrame | None:
        while True:
            if self._grabber is None:
                # Created here, on the capture thread: mss handles are bound to their thread.
                try:
                    self._grabber = new_grabber()
                except mss.exception.ScreenShotError as exc:
                    raise _no_display(self.name, exc) from exc
                self._pacer = Pacer(1.0 / self._fps, self._stop)
            elif self._pacer is not None and not self._pacer.wait():
                return None
            try:
                shot = self._grabber.grab(self._area)
            except mss.exception.ScreenShotError as exc:
                raise MediaError(
                    MediaErrorCode.DEVICE_LOST,
                    self.name,
                    f"the screen can no longer be captured ({exc})",
                    "check the display (unplugged monitor, locked session) and share again",
                ) from exc
            timestamp_us = monotonic_us()
            raw = shot.raw
            if not self._gate.changed(raw, timestamp_us / 1e6):
                continue
            data = np.frombuffer(raw, np.uint8)
            frame = VideoFrame(
                data, shot.width, shot.height, PixelFormat.BGRA, timestamp_us, self._sequence
            )
            self._sequence += 1
            return frame

    def _close(self) -> None:
        if self._grabber is not None:
            self._grabber.close()
            self._grabber = None
        self._pacer = None
        self._gate.reset()
