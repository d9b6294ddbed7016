"""Synthetic twins of every device: colour bars, a sine tone, a moving box.

Each twin has the same interface as the real device, so the whole app runs (and is tested) on
machines without a camera, a microphone or a screen. The video twins draw a machine-readable
stamp — the frame counter and the capture time in milliseconds as rows of black/white blocks —
that survives scaling and lossy encoding, so a receiver can tell which frame it got and how old
it is (:func:`decode_stamp`).
"""

from __future__ import annotations

import abc
import functools
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from desktop.media.base import SourceKind
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.frames import AudioFrame, BufferPool, PixelFormat, VideoFrame, monotonic_us
from desktop.media.threaded import Pacer, ThreadedSource

STAMP_BITS = 32
"""Bits per stamp row: row 0 carries the frame counter, row 1 the capture time in ms (mod 2^32)."""
_STAMP_COLUMNS = STAMP_BITS + 2  # a margin block each side
_Y_BLACK, _Y_WHITE = 16, 235

# Classic 75 % colour bars as (Y, U, V), BT.601 limited range.
_BARS_YUV = [
    (180, 128, 128),  # white
    (162, 44, 142),  # yellow
    (131, 156, 44),  # cyan
    (112, 72, 58),  # green
    (84, 184, 198),  # magenta
    (65, 100, 212),  # red
    (35, 212, 114),  # blue
]


def _block_size(width: int) -> float:
    return width / _STAMP_COLUMNS


def stamp_height(width: int) -> int:
    """Rows at the top of a frame of this width that the stamp occupies (with margins)."""
    return int(np.ceil(3 * _block_size(width))) + 1


def _check_size(name: str, width: int, height: int) -> None:
    if width < 64 or height < 36 or width % 2 or height % 2:
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT,
            name,
            f"size {width}x{height} is not usable",
            "use an even width ≥ 64 and an even height ≥ 36",
        )


def _bits(value: int) -> npt.NDArray[np.uint8]:
    shifts = np.arange(STAMP_BITS - 1, -1, -1, dtype=np.uint64)
    return ((np.uint64(value & 0xFFFFFFFF) >> shifts) & np.uint64(1)).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _column_cells(width: int) -> npt.NDArray[np.intp]:
    # Each pixel column belongs to one of the cells: a margin, 32 bits, a margin.
    return np.arange(width) * _STAMP_COLUMNS // width


def _stamp_rows(
    width: int, counter: int, time_ms: int
) -> list[tuple[int, int, npt.NDArray[np.uint8]]]:
    """The stamp as (first row, end row, one row of grey levels) for its two value rows."""
    block = _block_size(width)
    column_cell = _column_cells(width)
    rows = []
    for row, value in enumerate((counter, time_ms)):
        top, bottom = round((0.5 + row) * block), round((1.5 + row) * block)
        levels = np.where(_bits(value) == 1, _Y_WHITE, _Y_BLACK).astype(np.uint8)
        cells = np.concatenate(([_Y_BLACK], levels, [_Y_BLACK])).astype(np.uint8)
        rows.append((top, bottom, cells[column_cell]))
    return rows


def draw_stamp(luma: npt.NDArray[np.uint8], counter: int, time_ms: int) -> None:
    """Draw the counter and time rows into a luma (or grey) plane of shape (h, w), in place.

    Only the stamp's rows are written; the cost does not grow with the frame's height.
    """
    for top, bottom, line in _stamp_rows(luma.shape[1], counter, time_ms):
        luma[top:bottom, :] = line[np.newaxis, :]


def decode_stamp(luma: npt.NDArray[Any]) -> tuple[int, int]:
    """Read ``(frame counter, capture time in ms mod 2^32)`` from a luma/grey plane (h, w).

    Works on any scaled copy of a stamped frame (e.g. a 320x180 simulcast layer), because it
    samples the centre of each block relative to the frame width.
    """
    height, width = luma.shape[:2]
    block_f = width / _STAMP_COLUMNS
    values = []
    for row in range(2):
        y = int((0.5 + row + 0.5) * block_f)
        y = min(y, height - 1)
        xs = ((np.arange(STAMP_BITS) + 1.5) * block_f).astype(int)
        samples = luma[y, np.clip(xs, 0, width - 1)].astype(np.int32)
        bits = (samples > (_Y_BLACK + _Y_WHITE) // 2).astype(np.uint64)
        value = 0
        for bit in bits:
            value = (value << 1) | int(bit)
        values.append(value)
    return values[0], values[1]


def i420_luma(data: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """View the Y plane of a flat I420 (or NV12) buffer as (h, w) without copying."""
    return data[: width * height].reshape(height, width)


def _colour_bars_i420(width: int, height: int) -> npt.NDArray[np.uint8]:
    y = np.empty((height, width), np.uint8)
    u = np.empty((height // 2, width // 2), np.uint8)
    v = np.empty((height // 2, width // 2), np.uint8)
    for i, (by, bu, bv) in enumerate(_BARS_YUV):
        x0, x1 = i * width // len(_BARS_YUV), (i + 1) * width // len(_BARS_YUV)
        y[:, x0:x1] = by
        u[:, x0 // 2 : x1 // 2] = bu
        v[:, x0 // 2 : x1 // 2] = bv
    # The stamp area is neutral grey in chroma so colour bleed cannot flip a bit.
    stamp_rows = stamp_height(width)
    y[:stamp_rows, :] = _Y_BLACK
    u[: stamp_rows // 2 + 1, :] = 128
    v[: stamp_rows // 2 + 1, :] = 128
    return np.concatenate((y.reshape(-1), u.reshape(-1), v.reshape(-1)))


class _GeneratedVideo(ThreadedSource[VideoFrame]):
    """A video twin: renders frames at a fixed size and rate on its capture thread."""

    def __init__(self, name: str, kind: SourceKind, width: int, height: int, fps: float) -> None:
        super().__init__(name, kind)
        _check_size(name, width, height)
        if fps <= 0:
            raise MediaError(MediaErrorCode.INVALID_ARGUMENT, name, f"fps {fps} is not positive")
        self._width, self._height, self._fps = width, height, fps
        self._sequence = 0
        self._pacer: Pacer | None = None

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return self._width

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return self._height

    @property
    def fps(self) -> float:
        """Frames per second."""
        return self._fps

    @abc.abstractmethod
    def make_frame(self, sequence: int, timestamp_us: int) -> VideoFrame:
        """Render one stamped frame (also used by benchmarks and tests without the thread)."""

    def _open(self) -> None:
        self._pacer = Pacer(1.0 / self._fps, self._stop)

    def _read(self) -> VideoFrame | None:
        assert self._pacer is not None
        if not self._pacer.wait():
            return None
        frame = self.make_frame(self._sequence, monotonic_us())
        self._sequence += 1
        return frame

    def _close(self) -> None:
        self._pacer = None


class SyntheticCamera(_GeneratedVideo):
    """Colour bars at a fixed size and rate, stamped with the frame counter and capture time.

    Args:
        width: Frame width (even).
        height: Frame height (even).
        fps: Frames per second.
        name: Name shown to the user.
        pixel_format: I420, or NV12 as most real cameras deliver (the same picture).
    """

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        name: str = "Synthetic camera",
        pixel_format: PixelFormat = PixelFormat.I420,
    ) -> None:
        super().__init__(name, SourceKind.CAMERA, width, height, fps)
        if pixel_format is PixelFormat.BGRA:
            raise MediaError(
                MediaErrorCode.INVALID_ARGUMENT, name, "a camera twin makes I420 or NV12 frames"
            )
        self.pixel_format = pixel_format
        """The layout of the frames it makes."""
        self._template = _colour_bars_i420(width, height)
        if pixel_format is PixelFormat.NV12:
            luma = width * height
            u, v = self._template[luma : luma * 5 // 4], self._template[luma * 5 // 4 :]
            self._template = np.concatenate((self._template[:luma], np.dstack((u, v)).reshape(-1)))
        self._pool = BufferPool(self._template.size)

    def make_frame(self, sequence: int, timestamp_us: int) -> VideoFrame:
        """Stamp the pre-rendered colour bars into a reused buffer."""
        data = self._pool.acquire()
        np.copyto(data, self._template)
        draw_stamp(i420_luma(data, self._width, self._height), sequence, timestamp_us // 1000)
        return VideoFrame(
            data, self._width, self._height, self.pixel_format, timestamp_us, sequence
        )


class SyntheticScreen(_GeneratedVideo):
    """A screen with a box moving across a dark desktop, stamped like the camera, in BGRA.

    Args:
        width: Screen width.
        height: Screen height.
        fps: Frames per second.
        name: Name shown to the user.
    """

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        fps: float = 15.0,
        name: str = "Synthetic screen",
    ) -> None:
        super().__init__(name, SourceKind.SCREEN, width, height, fps)
        # Rendered once: each frame is this picture with the box and the stamp put on it.
        self._desktop = np.empty((height, width, 4), np.uint8)
        self._desktop[:] = (60, 40, 30, 255)
        self._desktop[: stamp_height(width), :, :3] = _Y_BLACK
        self._box_px = max(16, height // 6)
        self._box = np.empty((self._box_px, self._box_px, 4), np.uint8)
        self._box[:] = (40, 170, 250, 255)
        self._pool = BufferPool(width * height * 4)

    def make_frame(self, sequence: int, timestamp_us: int) -> VideoFrame:
        """Stamp one frame: the pre-rendered desktop, the box at its place, the stamp rows."""
        data = self._pool.acquire()
        bgra = data.reshape(self._height, self._width, 4)
        np.copyto(bgra, self._desktop)
        box = self._box_px
        span = max(1, self._width - box)
        x = (sequence * 8) % (2 * span)
        x = x if x < span else 2 * span - x
        y = self._height // 2 - box // 2
        bgra[y : y + box, x : x + box] = self._box
        # The stamp as whole BGRA pixels (grey, opaque): one uint32 per pixel, row by row.
        pixels = data.view(np.uint32).reshape(self._height, self._width)
        for top, bottom, line in _stamp_rows(self._width, sequence, timestamp_us // 1000):
            grey = line.astype(np.uint32)
            pixels[top:bottom, :] = (grey * 0x010101 | 0xFF000000)[np.newaxis, :]
        return VideoFrame(data, self._width, self._height, PixelFormat.BGRA, timestamp_us, sequence)


@dataclass
class ToneSettings:
    """What the synthetic microphone plays."""

    frequency_hz: float = 440.0
    """Pitch of the sine tone."""
    level_dbfs: float = -12.0
    """Peak level of the tone in dBFS."""


class SyntheticMicrophone(ThreadedSource[AudioFrame]):
    """A sine tone in 10 ms blocks of 48 kHz mono int16, paced at real time.

    Args:
        frequency_hz: Pitch of the tone.
        level_dbfs: Peak level in dBFS (0 is full scale).
        sample_rate_hz: Sample rate of the blocks.
        name: Name shown to the user.
    """

    def __init__(
        self,
        frequency_hz: float = 440.0,
        level_dbfs: float = -12.0,
        sample_rate_hz: int = 48_000,
        name: str = "Synthetic microphone",
    ) -> None:
        super().__init__(name, SourceKind.MICROPHONE)
        self.tone = ToneSettings(frequency_hz, level_dbfs)
        """The tone played; change it while running (e.g. to silence with level -inf)."""
        self._rate = sample_rate_hz
        self._block = sample_rate_hz // 100
        self._phase = 0.0
        self._sequence = 0
        self._pacer: Pacer | None = None
        self._tone_lock = threading.Lock()

    @property
    def sample_rate_hz(self) -> int:
        """Sample rate of the blocks."""
        return self._rate

    @property
    def num_channels(self) -> int:
        """Always mono."""
        return 1

    def make_block(self, timestamp_us: int) -> AudioFrame:
        """Generate the next 10 ms block, continuing the phase."""
        amplitude = (
            32767.0 * 10 ** (self.tone.level_dbfs / 20) if self.tone.level_dbfs > -200 else 0
        )
        step = 2 * math.pi * self.tone.frequency_hz / self._rate
        phases = self._phase + step * np.arange(self._block)
        self._phase = float((self._phase + step * self._block) % (2 * math.pi))
        samples = np.round(amplitude * np.sin(phases)).astype(np.int16)
        frame = AudioFrame(samples, self._rate, 1, timestamp_us, self._sequence)
        self._sequence += 1
        return frame

    def _open(self) -> None:
        self._pacer = Pacer(self._block / self._rate, self._stop)

    def _read(self) -> AudioFrame | None:
        assert self._pacer is not None
        if not self._pacer.wait():
            return None
        return self.make_block(monotonic_us())

    def _close(self) -> None:
        self._pacer = None
