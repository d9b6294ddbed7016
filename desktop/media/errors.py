"""Typed, expected failures of the media layer.

Expected failures are values with a code and words a host can act on; the UI maps codes to
sentences and next steps. Nothing here imports Qt.
"""

from __future__ import annotations

import enum


class MediaErrorCode(enum.Enum):
    """What went wrong with a device or a media output. There is deliberately no zero value."""

    DEVICE_NOT_FOUND = 1
    """The device named does not exist (index, path, URL or name)."""
    DEVICE_BUSY = 2
    """The device exists but another application holds it."""
    DEVICE_LOST = 3
    """The device stopped delivering while capturing (unplugged, driver reset)."""
    UNSUPPORTED_FORMAT = 4
    """The device cannot deliver what was asked (size, rate, channels) and it cannot be adapted."""
    PERMISSION_DENIED = 5
    """The operating system refused access (camera/microphone/screen-recording permission)."""
    LIBRARY_MISSING = 6
    """A system library is missing (for example PortAudio for microphones)."""
    INVALID_ARGUMENT = 7
    """A setting is malformed (negative fps, empty device name, unknown scheme)."""
    OUTPUT_FAILED = 8
    """A local output (recording, RTMP push) failed."""
    DISK_FULL = 9
    """The disk a recording writes to is full or below the safety margin."""


class MediaError(Exception):
    """An expected media failure: a code, the device or output it concerns, and what to do.

    Args:
        code: What kind of failure this is.
        device: The device or output the failure concerns, as the user named it.
        detail: What happened, in plain words (no secrets, no tracebacks).
        hint: The next step for the user.
    """

    def __init__(self, code: MediaErrorCode, device: str, detail: str, hint: str = "") -> None:
        self.code = code
        self.device = device
        self.detail = detail
        self.hint = hint
        message = f"{device}: {detail}"
        if hint:
            message += f" — {hint}"
        super().__init__(message)
