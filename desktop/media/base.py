"""The interface every capture source shares (camera, microphone, screen, file, synthetic).

A source captures on its own named thread once started, converts each frame once, and
publishes it to ``frames`` (a :class:`~desktop.media.fanout.FanOut`); sinks subscribe there.
Failures during capture are reported as :class:`SourceEvent` values to listeners, never raised
into the capture thread's void; a failed source can be started again.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from desktop.media.errors import MediaError
from desktop.media.fanout import FanOut
from desktop.media.frames import AudioFrame, VideoFrame

FrameT = TypeVar("FrameT", VideoFrame, AudioFrame)
FrameT_co = TypeVar("FrameT_co", VideoFrame, AudioFrame, covariant=True)


class SourceKind(enum.Enum):
    """What a source captures; maps onto LiveKit's TrackSource."""

    CAMERA = 1
    MICROPHONE = 2
    SCREEN = 3


class SourceState(enum.Enum):
    """Life cycle of a source."""

    IDLE = 1
    """Created, not started."""
    RUNNING = 2
    """Capturing."""
    STOPPED = 3
    """Stopped by request."""
    FAILED = 4
    """Stopped by an error (see the last event); may be started again."""


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """A change of a source's state, with the error when it failed."""

    source_name: str
    """The source's human-readable name."""
    state: SourceState
    """The state entered."""
    error: MediaError | None = None
    """Why, when ``state`` is FAILED."""


SourceListener = Callable[[SourceEvent], None]


class MediaSource(Protocol, Generic[FrameT]):
    """What every capture source offers. Listeners are called on the capture thread."""

    @property
    def name(self) -> str:
        """Human-readable name (device name, file name, "Synthetic camera")."""
        ...

    @property
    def kind(self) -> SourceKind:
        """Camera, microphone or screen."""
        ...

    @property
    def state(self) -> SourceState:
        """Current life-cycle state."""
        ...

    @property
    def frames(self) -> FanOut[FrameT]:
        """Where captured frames are published; subscribe a sink here."""
        ...

    def add_listener(self, listener: SourceListener) -> None:
        """Be told of state changes and failures (called on the capture thread)."""
        ...

    def start(self) -> None:
        """Open the device and start capturing; raises :class:`MediaError` if it cannot."""
        ...

    def stop(self) -> None:
        """Stop capturing, release the device and join the thread. Idempotent."""
        ...

    async def aclose(self) -> None:
        """Stop without blocking the event loop, and close the sink queues."""
        ...


class VideoCaptureSource(MediaSource[VideoFrame], Protocol):
    """A source of video frames with a known size and rate."""

    @property
    def width(self) -> int:
        """Actual frame width in pixels (valid after ``start``)."""
        ...

    @property
    def height(self) -> int:
        """Actual frame height in pixels (valid after ``start``)."""
        ...

    @property
    def fps(self) -> float:
        """Actual frames per second delivered (valid after ``start``)."""
        ...


class AudioCaptureSource(MediaSource[AudioFrame], Protocol):
    """A source of 10 ms audio blocks."""

    @property
    def sample_rate_hz(self) -> int:
        """Sample rate of the frames delivered (48 000 unless configured otherwise)."""
        ...

    @property
    def num_channels(self) -> int:
        """Channels of the frames delivered (1 by default)."""
        ...
