"""Sharing one application window: list the desktop's windows and capture one that moves.

On X11 the windows come from the window manager's ``_NET_CLIENT_LIST`` (EWMH), or, with no
window manager (a bare Xvfb), from the root window's mapped children. Capture grabs the window's
rectangle of the screen with mss, as a region, and follows the window when it moves or is
resized; what covers the window is captured too, as with every screen-region share on X11.
Other platforms share a monitor (the picker offers no windows there).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.frames import VideoFrame, monotonic_us
from desktop.media.screen import Region, ScreenSource, list_monitors

logger = logging.getLogger(__name__)

FOLLOW_INTERVAL_S = 0.5
"""How often a shared window's position is looked up again (a move shows within this)."""
MIN_SIZE_PX = 16
"""Windows smaller than this (tool tips, hidden helpers) are not offered."""


@dataclass(frozen=True, slots=True)
class WindowInfo:
    """A top-level window that can be shared."""

    window_id: int
    """The X11 window id."""
    title: str
    """Its title, as the window manager shows it."""
    region: Region
    """Where it is on the desktop now."""


def windows_supported() -> bool:
    """Whether this platform offers single windows to share (X11 with python-xlib)."""
    if not sys.platform.startswith("linux") or not os.environ.get("DISPLAY"):
        return False
    try:
        import Xlib.display  # noqa: F401
    except ImportError:
        return False
    return True


def _open_display() -> Any:
    import Xlib.display
    import Xlib.error

    try:
        return Xlib.display.Display()
    except (Xlib.error.DisplayError, Xlib.error.ConnectionClosedError) as exc:
        raise MediaError(
            MediaErrorCode.DEVICE_NOT_FOUND,
            "windows",
            f"the display cannot be reached ({exc})",
            "run the app in a desktop session (DISPLAY set)",
        ) from exc


def _title(display: Any, window: Any) -> str:
    utf8 = display.intern_atom("UTF8_STRING")
    net_name = window.get_full_property(display.intern_atom("_NET_WM_NAME"), utf8)
    if net_name is not None and net_name.value:
        value = net_name.value
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    name = window.get_wm_name()
    if isinstance(name, bytes):
        return name.decode("latin-1")
    return name or ""


def _pid(display: Any, window: Any) -> int:
    from Xlib import X

    prop = window.get_full_property(display.intern_atom("_NET_WM_PID"), X.AnyPropertyType)
    return int(prop.value[0]) if prop is not None and len(prop.value) else 0


def _region(display: Any, window: Any) -> Region:
    """Where ``window`` is, in root coordinates."""
    geometry = window.get_geometry()
    origin = window.translate_coords(display.screen().root, 0, 0)
    # translate_coords gives the root's origin in the window's coordinates: negate it.
    return Region(-origin.x, -origin.y, int(geometry.width), int(geometry.height))


def list_windows(exclude_pid: int | None = None) -> list[WindowInfo]:
    """The windows that can be shared, front-most last, without this app's own.

    Args:
        exclude_pid: Leave out this process's windows (default: the calling process), so the
            studio does not offer to share itself, a hall of mirrors.

    Raises:
        MediaError: There is no display, or this platform does not list windows.
    """
    if not windows_supported():
        raise MediaError(
            MediaErrorCode.DEVICE_NOT_FOUND,
            "windows",
            "single windows can be shared on Linux/X11 only",
            "share a whole screen instead",
        )
    import Xlib.error
    from Xlib import X

    own_pid = os.getpid() if exclude_pid is None else exclude_pid
    display = _open_display()
    try:
        root = display.screen().root
        listed = root.get_full_property(
            display.intern_atom("_NET_CLIENT_LIST_STACKING"), X.AnyPropertyType
        ) or root.get_full_property(display.intern_atom("_NET_CLIENT_LIST"), X.AnyPropertyType)
        if listed is not None:
            candidates = [display.create_resource_object("window", wid) for wid in listed.value]
        else:
            candidates = list(root.query_tree().children)
        found: list[WindowInfo] = []
        for window in candidates:
            try:
                if window.get_attributes().map_state != X.IsViewable:
                    continue
                title = _title(display, window)
                region = _region(display, window)
                if not title or region.width < MIN_SIZE_PX or region.height < MIN_SIZE_PX:
                    continue
                if own_pid and _pid(display, window) == own_pid:
                    continue
            except Xlib.error.XError:
                continue  # closed while we looked
            found.append(WindowInfo(int(window.id), title, region))
        return found
    finally:
        display.close()


def _desktop_area() -> Region:
    monitors = list_monitors()
    left = min(m["left"] for m in monitors)
    top = min(m["top"] for m in monitors)
    right = max(m["left"] + m["width"] for m in monitors)
    bottom = max(m["top"] + m["height"] for m in monitors)
    return Region(left, top, right - left, bottom - top)


def clip_to(region: Region, area: Region) -> Region | None:
    """The part of ``region`` inside ``area``, with even sizes (I420 wants them); None if none."""
    left, top = max(region.left, area.left), max(region.top, area.top)
    right = min(region.left + region.width, area.left + area.width)
    bottom = min(region.top + region.height, area.top + area.height)
    width, height = (right - left) // 2 * 2, (bottom - top) // 2 * 2
    if width < 2 or height < 2:
        return None
    return Region(left, top, width, height)


class WindowSource(ScreenSource):
    """Captures one window as BGRA frames, following it as it moves and resizes.

    The frame size changes with the window's; consumers (LiveKit sources, the encoder) scale.

    Args:
        window_id: The X11 window id (from :func:`list_windows`).
        title: Its title, for messages.
        fps: Target frames per second.
    """

    def __init__(self, window_id: int, title: str = "", fps: float = 15.0) -> None:
        super().__init__(fps=fps, name=f"window “{title or hex(window_id)}”")
        self.window_id = window_id
        self._display: Any = None
        self._window: Any = None
        self._next_lookup_s = 0.0
        self._hidden = False
        self._last: VideoFrame | None = None

    def _lost(self, detail: str) -> MediaError:
        return MediaError(MediaErrorCode.DEVICE_LOST, self.name, detail,
                          "share another window or a whole screen")  # fmt: skip

    def _locate(self) -> Region | None:
        """Where the window is now, clipped to the desktop; None while it is minimised.

        Raises:
            MediaError: DEVICE_LOST when the window was closed or is off the screen.
        """
        import Xlib.error
        from Xlib import X

        try:
            if self._window.get_attributes().map_state != X.IsViewable:
                return None
            region = _region(self._display, self._window)
        except Xlib.error.XError as exc:
            raise self._lost("the window was closed") from exc
        clipped = clip_to(region, _desktop_area())
        if clipped is None:
            raise self._lost("the window is off the screen")
        return clipped

    def _open(self) -> None:
        if not windows_supported():
            raise MediaError(
                MediaErrorCode.DEVICE_NOT_FOUND, self.name,
                "single windows can be shared on Linux/X11 only", "share a whole screen instead",
            )  # fmt: skip
        self._display = _open_display()
        self._window = self._display.create_resource_object("window", self.window_id)
        try:
            region = self._locate()
            if region is None:
                raise self._lost("the window is minimised or hidden; restore it first")
            self._apply(region)
        except MediaError:
            self._display.close()
            self._display = None
            raise
        self._sequence = 0
        self._next_lookup_s = time.monotonic() + FOLLOW_INTERVAL_S

    def _apply(self, region: Region) -> None:
        self.region = region
        self._area = {"left": region.left, "top": region.top,
                      "width": region.width, "height": region.height}  # fmt: skip

    def _viewable(self) -> bool:
        import Xlib.error
        from Xlib import X

        try:
            return bool(self._window.get_attributes().map_state == X.IsViewable)
        except Xlib.error.XError as exc:
            raise self._lost("the window was closed") from exc

    def _read(self) -> VideoFrame | None:
        # The display connection is this source's alone, so Xlib is used from one thread at a
        # time: _open ran before the capture thread started, _read runs on it.
        now_s = time.monotonic()
        if self._display is not None and now_s >= self._next_lookup_s:
            self._next_lookup_s = now_s + FOLLOW_INTERVAL_S
            region = self._locate()
            if region is not None and region != self.region:
                logger.info("%s moved to %s", self.name, region)
                self._apply(region)
        if self._last is not None and not self._viewable():
            return self._hold()
        frame = super()._read()
        # Checked again after the grab: a window minimised while it was grabbed would show
        # the desktop behind it, and that picture must not be the one held.
        if frame is not None and self._display is not None and not self._viewable():
            return self._hold()
        if self._hidden:
            logger.info("%s visible again", self.name)
            self._hidden = False
        self._last = frame
        return frame

    def _hold(self) -> VideoFrame | None:
        """Minimised: viewers keep the last picture rather than whatever is behind it."""
        if not self._hidden:
            logger.info("%s hidden: holding its last picture", self.name)
            self._hidden = True
        if self._pacer is not None and not self._pacer.wait():
            return None
        assert self._last is not None
        held = dataclasses.replace(self._last, timestamp_us=monotonic_us(), sequence=self._sequence)
        self._sequence += 1
        return held

    def _close(self) -> None:
        super()._close()
        if self._display is not None:
            self._display.close()
            self._display = None
