"""A widget that shows the newest frame of a video source at the display's pace.

It never blocks capture: it subscribes with a one-frame queue and, on each repaint tick, takes
whatever is newest (older frames are dropped and counted by the queue).
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.media.base import VideoCaptureSource
from desktop.media.fanout import FrameQueue
from desktop.media.frames import PixelFormat, VideoFrame

REFRESH_INTERVAL_MS = 33


def frame_to_qimage(frame: VideoFrame) -> tuple[QImage, np.ndarray]:
    """Wrap a frame as a QImage; returns the image and the buffer it points into (keep both)."""
    if frame.format is PixelFormat.BGRA:
        buffer = frame.data
        image = QImage(
            buffer.data, frame.width, frame.height, frame.width * 4, QImage.Format.Format_RGB32
        )
        return image, buffer
    yuv = frame.data.reshape(frame.height * 3 // 2, frame.width)
    rgb = np.ascontiguousarray(cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420))
    image = QImage(
        rgb.data, frame.width, frame.height, frame.width * 3, QImage.Format.Format_RGB888
    )
    return image, rgb


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
        self._image: QImage | None = None
        self._buffer: np.ndarray | None = None
        self.frames_shown = 0
        """Frames painted so far (tests and the stats panel read it)."""
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)

    def set_source(self, source: VideoCaptureSource | None) -> None:
        """Show this source (or nothing)."""
        if self._source is not None and self._queue is not None:
            self._source.frames.unsubscribe(self._queue)
        self._source, self._queue = source, None
        self._image = self._buffer = None
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
        self._image, self._buffer = frame_to_qimage(frame)
        self.frames_shown += 1
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt naming)
        """Paint the newest frame letterboxed, or the placeholder."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#101318"))
        if self._image is None:
            painter.setPen(QColor("#9aa3b2"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            return
        size = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(self.rect().center())
        painter.drawImage(target, self._image)
