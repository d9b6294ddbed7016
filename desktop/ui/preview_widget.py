"""A widget that shows the newest frame of a video source at the display's pace.

It never blocks capture: it subscribes with a one-frame queue and, on each repaint tick, takes
whatever is newest (older frames are dropped and counted by the queue, never converted).

:class:`FrameImage` is how a frame becomes pixels on screen, here and in every tile: the frame
is scaled to the exact size it is shown at (I420 or NV12 planes scaled before conversion,
1.5 bytes a pixel instead of 4) and converted into a reused BGRA buffer that a
``Format_RGB32`` QImage wraps — the raster engine's fast path: ``drawImage`` then copies
rows with no per-paint conversion and no per-paint scaling.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.media.base import VideoCaptureSource
from desktop.media.fanout import FrameQueue
from desktop.media.frames import PixelFormat, VideoFrame

REFRESH_INTERVAL_MS = 33

# OpenCV splits even a tile-sized conversion across worker threads that then spin waiting for
# work: on two cores that cost 0.10 ms of CPU per 404x228 tile frame on top of the 0.20 ms the
# conversion itself takes (measured here). Pictures the UI converts are small; one thread.
cv2.setNumThreads(1)


def fitted_size(width: int, height: int, area: QSize) -> QSize:
    """The largest even size with the frame's aspect ratio inside ``area`` (at least 2x2)."""
    return QSize(*fitted_wh(width, height, area.width(), area.height()))


def fitted_wh(width: int, height: int, area_w: int, area_h: int) -> tuple[int, int]:
    """:func:`fitted_size` in plain ints (as ``QSize.scaled`` with ``KeepAspectRatio`` rounds).

    Per frame and per tile, so plain arithmetic: the same through the Qt bindings cost
    ≈ 30 µs a call here, a tenth of converting the frame.
    """
    if width <= 0 or height <= 0:
        return 2, 2
    scaled_w = area_h * width // height
    if scaled_w <= area_w:
        out_w, out_h = scaled_w, area_h
    else:
        out_w, out_h = area_w, area_w * height // width
    return max(2, out_w & ~1), max(2, out_h & ~1)


class FrameImage:
    """The newest frame as a QImage of the size it is shown at, in buffers reused frame to frame.

    Only the frame a paint will show is converted: call :meth:`set_frame` with the newest one
    at display time. Scaling is smooth (bilinear; area averaging when shrinking more than 2x),
    the same quality as ``Qt.SmoothTransformation``.
    """

    def __init__(self) -> None:
        self.image: QImage | None = None
        """The picture to draw (None before the first frame)."""
        self.source_size: tuple[int, int] | None = None
        """(width, height) of the frame it was made from."""
        self._bgra: np.ndarray | None = None
        self._planes: np.ndarray | None = None
        self._out_planes: list[np.ndarray] = []

    def clear(self) -> None:
        """Forget the picture."""
        self.image = None
        self.source_size = None

    def set_frame(
        self,
        data: np.ndarray,
        pixel_format: PixelFormat,
        width: int,
        height: int,
        area: QSize | tuple[int, int],
    ) -> QImage:
        """Scale and convert a frame (flat I420, NV12 or BGRA) to fit ``area`` (a size or
        (w, h)); returns the image."""
        area_w, area_h = (area.width(), area.height()) if isinstance(area, QSize) else area
        out_w, out_h = fitted_wh(width, height, area_w, area_h)
        self.source_size = (width, height)
        if self.image is None or self._bgra is None or self._bgra.shape[:2] != (out_h, out_w):
            self._bgra = np.empty((out_h, out_w, 4), np.uint8)
            self._planes = np.empty(out_w * out_h * 3 // 2, np.uint8)
            self.image = QImage(self._bgra.data, out_w, out_h, out_w * 4,
                                QImage.Format.Format_RGB32)  # fmt: skip
            self._out_planes = _i420_planes(self._planes, out_w, out_h)
        assert self._planes is not None and self.image is not None
        shrink = min(out_w / width, out_h / height)
        interpolation = cv2.INTER_AREA if shrink < 0.5 else cv2.INTER_LINEAR
        if pixel_format is PixelFormat.NV12:
            if (out_w, out_h) == (width, height):
                planes = data
            else:
                # The Y plane and the interleaved U/V plane (as one two-channel picture).
                planes = self._planes
                luma, out_luma = width * height, out_w * out_h
                pairs = data[luma : luma * 3 // 2].reshape(height // 2, width // 2, 2)
                out_pairs = planes[out_luma:].reshape(out_h // 2, out_w // 2, 2)
                cv2.resize(data[:luma].reshape(height, width), (out_w, out_h),
                           dst=planes[:out_luma].reshape(out_h, out_w),
                           interpolation=interpolation)  # fmt: skip
                cv2.resize(pairs, (out_w // 2, out_h // 2), dst=out_pairs,
                           interpolation=interpolation)  # fmt: skip
            yuv = planes.reshape(out_h * 3 // 2, out_w)
            cv2.cvtColor(yuv, cv2.COLOR_YUV2BGRA_NV12, dst=self._bgra)
        elif pixel_format is PixelFormat.I420:
            if (out_w, out_h) == (width, height):
                planes = data
            else:
                planes = self._planes
                for src, dst in zip(_i420_planes(data, width, height), self._out_planes,
                                    strict=True):  # fmt: skip
                    cv2.resize(src, (dst.shape[1], dst.shape[0]), dst=dst,
                               interpolation=interpolation)  # fmt: skip
            yuv = planes.reshape(out_h * 3 // 2, out_w)
            cv2.cvtColor(yuv, cv2.COLOR_YUV2BGRA_I420, dst=self._bgra)
        else:
            bgra = data.reshape(height, width, 4)
            if (out_w, out_h) == (width, height):
                np.copyto(self._bgra, bgra)
            else:
                cv2.resize(bgra, (out_w, out_h), dst=self._bgra, interpolation=interpolation)
        return self.image


def _i420_planes(data: np.ndarray, width: int, height: int) -> list[np.ndarray]:
    luma, chroma = width * height, width * height // 4
    return [
        data[:luma].reshape(height, width),
        data[luma : luma + chroma].reshape(height // 2, width // 2),
        data[luma + chroma : luma + 2 * chroma].reshape(height // 2, width // 2),
    ]


def draw_centred(painter: QPainter, area: QRect, image: QImage) -> None:
    """Draw an image letterboxed in ``area`` (no scaling when it was made for this area)."""
    image_w, image_h = image.width(), image.height()
    if fitted_wh(image_w, image_h, area.width(), area.height()) == (image_w, image_h):
        target = QRect(0, 0, image.width(), image.height())
        target.moveCenter(area.center())
        painter.drawImage(target.topLeft(), image)
        return
    # The widget was resized since the frame was scaled: stretch it until the next frame.
    size = image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
    target = QRect(0, 0, size.width(), size.height())
    target.moveCenter(area.center())
    painter.drawImage(target, image)


class PreviewWidget(QWidget):
    """Shows a video source's newest frame, letterboxed, or a placeholder text without one."""

    def __init__(self, placeholder: str = "No video", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 90)
        self.setAccessibleName("Video preview")
        self._placeholder = placeholder
        self._queue: FrameQueue[VideoFrame] | None = None
        self._source: VideoCaptureSource | None = None
        self._picture = FrameImage()
        self.frames_shown = 0
        """Frames painted so far (tests and the stats panel read it)."""
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) of the frame shown, as the source delivered it (None: no frame)."""
        return self._picture.source_size

    def set_source(self, source: VideoCaptureSource | None) -> None:
        """Show this source (or nothing)."""
        if self._source is not None and self._queue is not None:
            self._source.frames.unsubscribe(self._queue)
        self._source, self._queue = source, None
        self._picture.clear()
        if source is not None:
            self._queue = source.frames.subscribe("preview", maxsize=1)
            self._timer.start()
        else:
            self._timer.stop()
        self.update()

    def _tick(self) -> None:
        if self._queue is None:
            return
        frame = self._queue.take_latest()
        if frame is None:
            return
        self._picture.set_frame(frame.data, frame.format, frame.width, frame.height, self.size())
        self.frames_shown += 1
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt naming)
        """Paint the newest frame letterboxed, or the placeholder."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#101318"))
        image = self._picture.image
        if image is None:
            painter.setPen(QColor("#9aa3b2"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            return
        draw_centred(painter, self.rect(), image)
