"""A widget that shows the newest frame of a video source at the display's pace.

It never blocks capture: it subscribes with a one-frame queue and, on each repaint tick, takes
whatever is newest (older frames are dropped and counted by the queue, never converted), and
hands it to the preview's worker thread (:mod:`desktop.ui.frame_worker`), which scales and
converts it; the UI thread only draws the finished picture.

:class:`FrameImage` is how a frame becomes pixels on screen, here and in every tile: the frame
is scaled to the exact size it is shown at (I420 or NV12 planes scaled before conversion,
1.5 bytes a pixel instead of 4) and converted into a BGRA buffer that a ``Format_RGB32`` QImage
wraps — the raster engine's fast path: ``drawImage`` then copies rows with no per-paint
conversion and no per-paint scaling.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QRect, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.media.base import VideoCaptureSource
from desktop.media.display import DisplayConverter, fitted_wh
from desktop.media.fanout import FrameQueue
from desktop.media.frames import PixelFormat, VideoFrame
from desktop.ui.frame_worker import Converted, forget_when_destroyed, new_key, worker

__all__ = ["FrameImage", "PreviewWidget", "draw_centred", "fitted_size", "fitted_wh"]

REFRESH_INTERVAL_MS = 33


def fitted_size(width: int, height: int, area: QSize) -> QSize:
    """The largest even size with the frame's aspect ratio inside ``area`` (at least 2x2)."""
    return QSize(*fitted_wh(width, height, area.width(), area.height()))


class FrameImage:
    """The picture shown: a QImage of the size it is shown at, over a BGRA buffer.

    The buffer comes finished from a worker thread (:meth:`show`), or is made here on the
    calling thread (:meth:`set_frame`, for tools and benchmarks that convert in place). Scaling
    is smooth (bilinear; area averaging when shrinking more than 2x), the quality of
    ``Qt.SmoothTransformation``.
    """

    def __init__(self) -> None:
        self.image: QImage | None = None
        """The picture to draw (None before the first frame)."""
        self.source_size: tuple[int, int] | None = None
        """(width, height) of the frame it was made from."""
        self._bgra: npt.NDArray[np.uint8] | None = None
        self._converter: DisplayConverter | None = None

    def clear(self) -> None:
        """Forget the picture."""
        self.image = None
        self.source_size = None
        self._bgra = None

    def show(self, converted: Converted) -> QImage:
        """Show a picture a worker finished (its buffer is kept, and so never rewritten, for as
        long as it is shown); returns the image."""
        return self._wrap(converted.bgra, converted.source_w, converted.source_h)

    def set_frame(
        self,
        data: np.ndarray,
        pixel_format: PixelFormat,
        width: int,
        height: int,
        area: QSize | tuple[int, int],
    ) -> QImage:
        """Scale and convert a frame (flat I420, NV12 or BGRA) to fit ``area`` (a size or
        (w, h)) here, on the calling thread; returns the image."""
        area_w, area_h = (area.width(), area.height()) if isinstance(area, QSize) else area
        out_w, out_h = fitted_wh(width, height, area_w, area_h)
        if self._converter is None:
            self._converter = DisplayConverter()
        bgra = self._bgra
        if bgra is None or bgra.shape[:2] != (out_h, out_w):
            bgra = np.empty((out_h, out_w, 4), np.uint8)
        self._converter.convert(data, pixel_format, width, height, bgra)
        return self._wrap(bgra, width, height)

    def _wrap(self, bgra: npt.NDArray[np.uint8], width: int, height: int) -> QImage:
        self.source_size = (width, height)
        if bgra is not self._bgra or self.image is None:
            out_h, out_w = bgra.shape[:2]
            self._bgra = bgra
            self.image = QImage(bgra.data, out_w, out_h, out_w * 4, QImage.Format.Format_RGB32)
        return self.image


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
        self._key = new_key()
        forget_when_destroyed(self, "preview", self._key)
        self.frames_shown = 0
        """Frames converted and shown so far (tests and the stats panel read it)."""
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
        worker("preview").forget(self._key)
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
        if frame is None or not self.isVisible():
            return
        taken = (frame.data, frame.format, frame.width, frame.height)
        area = (self.width(), self.height())
        worker("preview").submit(self._key, lambda: taken, area, self._show)

    def _show(self, converted: Converted) -> None:
        if self._source is None:
            return  # the source was taken away while this picture was being made
        self._picture.show(converted)
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
