"""Dropped receive frames: one counted figure per video instead of a log line per drop.

Two places drop a guest's decoded frames when the studio falls behind:

- **Ours** (:class:`~desktop.session.bounded_video.BoundedVideoStream`): at most a couple of
  frames of one video wait for its reader; the rest are dropped and counted per stream, so
  the count belongs to a guest and a source.
- **The SDK's native stream queue**, before the frames reach Python: it logs ``native video
  stream queue overflow; dropped N queued frames`` each time, thousands of lines in a busy show,
  naming no stream. :class:`NativeDropFilter` counts those lines instead and lets one summary
  through at most every :data:`SUMMARY_INTERVAL_S`, with ours per video beside it.

Stats shows :func:`summary`'s figures; the log gets the periodic line.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

SUMMARY_INTERVAL_S = 60.0
"""At most one log line about dropped receive frames this often."""

logger = logging.getLogger(__name__)

_NATIVE_DROP = re.compile(r"native (video|audio) stream queue overflow; dropped (\d+) queued")


class _Counted(Protocol):
    """Something that counts frames received and dropped (a bounded stream)."""

    @property
    def received(self) -> int: ...

    @property
    def dropped(self) -> int: ...


@dataclass(frozen=True)
class VideoDrops:
    """One video's receive figures, summed over its readers (tile, program…)."""

    label: str
    """Whose video, in words ("Ada's camera")."""
    received: int
    """Frames handed to the studio."""
    dropped: int
    """Frames dropped because the studio was behind."""


class ReceiveDrops:
    """The process's dropped-receive-frame counts (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[int, tuple[str, _Counted]] = {}
        self._closed: dict[str, tuple[int, int]] = {}
        self.native_video_dropped = 0
        """Frames the SDK's native queues dropped (its log names no stream)."""
        self.native_audio_dropped = 0
        """Audio frames the SDK's native queues dropped."""

    def track(self, label: str, stream: _Counted) -> Callable[[], None]:
        """Count ``stream``'s frames under ``label``; call the result when the stream ends."""
        key = id(stream)
        with self._lock:
            self._streams[key] = (label, stream)

        def done() -> None:
            with self._lock:
                if self._streams.pop(key, None) is None:
                    return
                received, dropped = self._closed.get(label, (0, 0))
                self._closed[label] = (received + stream.received, dropped + stream.dropped)
            if stream.dropped:
                logger.info(
                    "%s: dropped %d of %d frames on receipt (the studio was behind)",
                    label, stream.dropped, stream.received + stream.dropped,
                )  # fmt: skip

        return done

    def add_native(self, kind: str, frames: int) -> None:
        """The SDK said it dropped ``frames`` of a ``kind`` ("video"/"audio") stream."""
        with self._lock:
            if kind == "audio":
                self.native_audio_dropped += frames
            else:
                self.native_video_dropped += frames

    def videos(self) -> list[VideoDrops]:
        """Each video's figures so far (those ended included), by label."""
        with self._lock:
            totals = dict(self._closed)
            for label, stream in self._streams.values():
                received, dropped = totals.get(label, (0, 0))
                totals[label] = (received + stream.received, dropped + stream.dropped)
        return [VideoDrops(label, r, d) for label, (r, d) in sorted(totals.items())]

    def summary(self) -> str:
        """The figures in one line of words."""
        dropped = [v for v in self.videos() if v.dropped]
        ours = (
            ", ".join(f"{v.label} {v.dropped} of {v.received + v.dropped}" for v in dropped)
            or "none"
        )
        native = ""
        if self.native_video_dropped or self.native_audio_dropped:
            native = (
                f"; before reaching the studio the SDK dropped {self.native_video_dropped} "
                f"video and {self.native_audio_dropped} audio frames"
            )
        return f"dropped receive frames (the studio was behind): {ours}{native}"


RECEIVE_DROPS = ReceiveDrops()
"""The process's one set of counts (publication sids and streams are unique process-wide)."""


class NativeDropFilter(logging.Filter):
    """On the SDK's ``livekit`` logger: counts its queue-overflow lines into
    :data:`RECEIVE_DROPS` and lets one summary line through per :data:`SUMMARY_INTERVAL_S`."""

    def __init__(
        self, drops: ReceiveDrops = RECEIVE_DROPS, interval_s: float = SUMMARY_INTERVAL_S
    ) -> None:
        super().__init__("livekit")
        self.drops = drops
        self.interval_s = interval_s
        self._last_line_s = float("-inf")
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """Count and swallow an overflow line; turn one in each interval into the summary."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        match = _NATIVE_DROP.search(message)
        if match is None:
            return True
        self.drops.add_native(match.group(1), int(match.group(2)))
        now_s = time.monotonic()
        with self._lock:
            if now_s - self._last_line_s < self.interval_s:
                return False
            self._last_line_s = now_s
        record.msg = "%s (one such line every %.0f s at most)"
        record.args = (self.drops.summary(), self.interval_s)
        return True


_INSTALLED: NativeDropFilter | None = None


def count_native_drops() -> NativeDropFilter:
    """Install :class:`NativeDropFilter` on the ``livekit`` logger once; returns it."""
    global _INSTALLED
    if _INSTALLED is None:
        _INSTALLED = NativeDropFilter()
        logging.getLogger("livekit").addFilter(_INSTALLED)
    return _INSTALLED
