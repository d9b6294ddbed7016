"""Frames as the media layer hands them on: converted once, stamped, ready for LiveKit.

A video frame is already in a layout LiveKit takes without another conversion (I420, or NV12
as a camera delivers it, for cameras; BGRA for screens), so the publisher only wraps the buffer
(zero copy, see LIVEKIT-NOTES: ``memoryview`` of a flat contiguous array). A consumer that
works on I420 planes (the compositor) converts an NV12 frame itself, with :func:`as_i420`, and
only when it needs the frame: the publisher never pays for it.
"""

from __future__ import annotations

import enum
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    from livekit import rtc
else:
    rtc = lazy_module("livekit.rtc")


def monotonic_us() -> int:
    """Return the monotonic clock in microseconds, the time base of every capture timestamp."""
    return time.monotonic_ns() // 1000


def wall_clock_ms() -> int:
    """Return the wall clock (Unix epoch) in milliseconds, what the room state stamps events with.

    It jumps when the system clock is set, so durations are measured with :func:`monotonic_us`.
    """
    return int(time.time() * 1000)


class PixelFormat(enum.Enum):
    """Pixel layouts the capture pipeline produces."""

    I420 = 1
    """Planar YUV 4:2:0: Y (w*h), then U and V (w/2*h/2 each). Cameras, files, synthetic."""
    BGRA = 2
    """Packed 8-bit B, G, R, A (what mss grabs). Screens."""
    NV12 = 3
    """Y (w*h), then U and V interleaved (w/2*h/2 pairs): what most cameras deliver natively,
    handed on as delivered."""

    @property
    def livekit_type(self) -> rtc.VideoBufferType.ValueType:
        """The matching LiveKit buffer type."""
        if self is PixelFormat.I420:
            return rtc.VideoBufferType.I420
        if self is PixelFormat.NV12:
            return rtc.VideoBufferType.NV12
        return rtc.VideoBufferType.BGRA


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One captured video frame.

    The buffer is owned by the frame and never written again after it is handed on, so any
    number of sinks may read it concurrently.
    """

    data: npt.NDArray[np.uint8]
    """Contiguous 1-D uint8 buffer in ``format`` (I420, NV12: w*h*3/2 bytes; BGRA: w*h*4)."""
    width: int
    """Width in pixels (even for I420 and NV12)."""
    height: int
    """Height in pixels (even for I420 and NV12)."""
    format: PixelFormat
    """Pixel layout of ``data``."""
    timestamp_us: int
    """Monotonic capture time (``monotonic_us``) of the moment the device delivered it."""
    sequence: int
    """Frame counter of the source, starting at 0; gaps mean frames the device dropped."""

    def to_livekit(self) -> rtc.VideoFrame:
        """Wrap the buffer as a LiveKit frame without copying it."""
        return rtc.VideoFrame(self.width, self.height, self.format.livekit_type, self.data.data)

    def to_bgr(self) -> npt.NDArray[np.uint8]:
        """Return an (h, w, 3) BGR copy, for previews and encoders that want packed RGB."""
        import cv2

        if self.format is not PixelFormat.BGRA:
            yuv = self.data.reshape(self.height * 3 // 2, self.width)
            code = (
                cv2.COLOR_YUV2BGR_I420
                if self.format is PixelFormat.I420
                else cv2.COLOR_YUV2BGR_NV12
            )
            return np.asarray(cv2.cvtColor(yuv, code), dtype=np.uint8)
        bgra = self.data.reshape(self.height, self.width, 4)
        return np.asarray(cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One block of captured audio: signed 16-bit interleaved PCM, normally 10 ms."""

    data: npt.NDArray[np.int16]
    """Contiguous 1-D int16 buffer of ``samples_per_channel * num_channels`` samples."""
    sample_rate_hz: int
    """Sample rate of ``data``."""
    num_channels: int
    """Channel count of ``data`` (interleaved)."""
    timestamp_us: int
    """Monotonic capture time of the first sample."""
    sequence: int
    """Block counter of the source, starting at 0."""

    @property
    def samples_per_channel(self) -> int:
        """Samples in each channel."""
        return int(self.data.shape[0]) // self.num_channels

    @property
    def duration_us(self) -> int:
        """Length of the block in microseconds."""
        return self.samples_per_channel * 1_000_000 // self.sample_rate_hz

    def to_livekit(self) -> rtc.AudioFrame:
        """Copy the samples into a LiveKit audio frame (the SDK owns its buffer)."""
        return rtc.AudioFrame(
            self.data.tobytes(), self.sample_rate_hz, self.num_channels, self.samples_per_channel
        )


class BufferPool:
    """Reuses frame buffers that no sink holds any more, so capture allocates nothing per frame.

    A 1080p I420 buffer is 3 MB: a fresh one per frame costs a page fault per 4 KiB page the
    first time it is written (the kernel's share of ingest). A buffer handed on in a
    :class:`VideoFrame` is never written again while anything still refers to it (a queue, a
    tile, an encoder): the pool hands it out again only when its own reference is the last one,
    which CPython's reference count tells exactly (NumPy views and memoryviews hold a reference
    to the array they look into).

    Args:
        size: Bytes per buffer.
        keep: Buffers kept at most; more are allocated (and let go) while sinks hold them all.
    """

    def __init__(self, size: int, keep: int = 6) -> None:
        self.size = size
        self._keep = keep
        self._buffers: list[npt.NDArray[np.uint8]] = []
        self._lock = threading.Lock()
        self.allocated = 0
        """Buffers allocated so far (tests and benchmarks read it)."""

    def acquire(self) -> npt.NDArray[np.uint8]:
        """A 1-D uint8 buffer of ``size`` bytes that nothing else refers to."""
        with self._lock:
            for buffer in self._buffers:
                # References: the list's, the loop variable's and getrefcount's own argument.
                if sys.getrefcount(buffer) <= 3:
                    return buffer
            buffer = np.empty(self.size, np.uint8)
            self.allocated += 1
            if len(self._buffers) < self._keep:
                self._buffers.append(buffer)
            return buffer


def nv12_to_i420(
    nv12: npt.NDArray[np.uint8], width: int, height: int, out: npt.NDArray[np.uint8]
) -> None:
    """Write a flat NV12 picture as I420 into ``out`` (both width*height*3/2 bytes).

    The Y plane is copied and the U/V pairs are split, all in native code (the GIL is let go).
    """
    import cv2

    luma = width * height
    chroma = luma // 4
    flat = nv12.reshape(-1)
    np.copyto(out[:luma], flat[:luma])
    u = out[luma : luma + chroma].reshape(height // 2, width // 2)
    v = out[luma + chroma : luma + 2 * chroma].reshape(height // 2, width // 2)
    cv2.split(flat[luma : luma + 2 * chroma].reshape(height // 2, width // 2, 2), [u, v])


def as_i420(frame: VideoFrame, out: npt.NDArray[np.uint8] | None = None) -> VideoFrame:
    """The frame as I420, for consumers that work on I420 planes; the same frame if it is.

    An NV12 frame is converted into ``out`` (width*height*3/2 bytes; a new buffer when not
    given). A BGRA frame is refused: screens are converted by their consumers, which know the
    crop they need first.

    Raises:
        ValueError: ``frame`` is BGRA.
    """
    if frame.format is PixelFormat.I420:
        return frame
    if frame.format is not PixelFormat.NV12:
        raise ValueError(f"{frame.format.name} frames are not converted to I420 here")
    size = frame.width * frame.height * 3 // 2
    data = np.empty(size, np.uint8) if out is None else out
    nv12_to_i420(frame.data, frame.width, frame.height, data)
    return VideoFrame(
        data, frame.width, frame.height, PixelFormat.I420, frame.timestamp_us, frame.sequence
    )


def fit_frame(frame: VideoFrame, width: int, height: int) -> VideoFrame:
    """The frame scaled to exactly ``width`` × ``height``, cropped to that shape (cover).

    A published track's size is fixed when it is made, and encoders send the size they are
    given: a camera that delivers another size than the chosen preset is scaled here, so what
    the room receives is the preset. The same frame comes back when it already fits; an NV12
    frame that does not comes back as I420.
    """
    if (frame.width, frame.height) == (width, height):
        return frame
    import cv2

    frame = as_i420(frame) if frame.format is PixelFormat.NV12 else frame

    # Crop the source to the target's aspect, centred, on even coordinates (I420 chroma).
    scale = max(width / frame.width, height / frame.height)
    crop_w = min(frame.width, round(width / scale)) // 2 * 2
    crop_h = min(frame.height, round(height / scale)) // 2 * 2
    x, y = (frame.width - crop_w) // 4 * 2, (frame.height - crop_h) // 4 * 2
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    if frame.format is PixelFormat.BGRA:
        bgra = frame.data.reshape(frame.height, frame.width, 4)[y : y + crop_h, x : x + crop_w]
        out = cv2.resize(bgra, (width, height), interpolation=interpolation)
        data: npt.NDArray[np.uint8] = np.ascontiguousarray(out, dtype=np.uint8).reshape(-1)
    else:
        w, h = frame.width, frame.height
        y_plane = frame.data[: w * h].reshape(h, w)
        u_plane = frame.data[w * h : w * h * 5 // 4].reshape(h // 2, w // 2)
        v_plane = frame.data[w * h * 5 // 4 : w * h * 3 // 2].reshape(h // 2, w // 2)
        planes = [
            cv2.resize(y_plane[y : y + crop_h, x : x + crop_w], (width, height),
                       interpolation=interpolation),
            cv2.resize(u_plane[y // 2 : (y + crop_h) // 2, x // 2 : (x + crop_w) // 2],
                       (width // 2, height // 2), interpolation=interpolation),
            cv2.resize(v_plane[y // 2 : (y + crop_h) // 2, x // 2 : (x + crop_w) // 2],
                       (width // 2, height // 2), interpolation=interpolation),
        ]  # fmt: skip
        data = np.concatenate([p.reshape(-1) for p in planes]).astype(np.uint8, copy=False)
    return VideoFrame(data, width, height, frame.format, frame.timestamp_us, frame.sequence)
