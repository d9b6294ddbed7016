"""A participant tile: video (or initials), name, mic state, speaking ring, quality bars.

Painting costs what it must and no more: the session hands I420 frames as decoded; on each
stage tick (the display rate) the tile takes only the newest one — frames the display cannot
show are never converted — scales its planes to the tile's exact size and converts them into
a reused buffer painted as ``Format_RGB32`` (see :class:`~desktop.ui.preview_widget.FrameImage`).
Tiles repaint only when a new frame arrived, and ask the session for the simulcast layer that
fits their size.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen, QPixmap, QResizeEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.media.base import VideoCaptureSource
from desktop.media.fanout import FrameQueue
from desktop.media.frames import PixelFormat, VideoFrame
from desktop.session.remote_video import RemoteVideoFeed
from desktop.session.state import ParticipantState, Quality, Source
from desktop.ui import words
from desktop.ui.preview_widget import FrameImage, draw_centred

QUALITY_BARS = {Quality.EXCELLENT: 3, Quality.GOOD: 2, Quality.POOR: 1, Quality.LOST: 0}
QUALITY_COLOURS = {
    Quality.EXCELLENT: "#35c46a", Quality.GOOD: "#35c46a", Quality.POOR: "#f0b429",
    Quality.LOST: "#e5484d", Quality.UNKNOWN: "#6b7280",
}  # fmt: skip
SPEAKING_COLOUR = "#35c46a"
STRIP_HEIGHT_PX = 24
"""Height of the name strip at the bottom of a tile."""
BACKDROP = "#101318"


def initials(name: str) -> str:
    """Up to two capital letters for a camera-off tile."""
    parts = [p for p in name.replace("_", " ").replace("-", " ").split() if p]
    letters = "".join(p[0] for p in parts[:2]) or "?"
    return letters.upper()


class VideoTile(QWidget):
    """One person (or the host's screen share) on the stage.

    Args:
        participant: Who it shows.
        source: Camera or screen.
        parent: Parent widget.
    """

    def __init__(
        self, participant: ParticipantState, source: Source = Source.CAMERA,
        parent: QWidget | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.source = source
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(64, 36)  # the stage sizes tiles; a tight stage may need small ones
        self.participant = participant
        self._remote: RemoteVideoFeed | None = None
        self._local_queue: FrameQueue[VideoFrame] | None = None
        self._local_source: VideoCaptureSource | None = None
        self._picture = FrameImage()
        self._strip: QPixmap | None = None
        self._strip_key: tuple[object, ...] = ()
        self.frames_shown = 0
        """Frames painted (stats, tests)."""
        self._skipped_before = 0
        self.set_participant(participant)

    # -- inputs ------------------------------------------------------------------------------

    def set_participant(self, participant: ParticipantState) -> None:
        """Show a participant's current state (name, mic, speaking, quality)."""
        self.participant = participant
        label = participant.name or participant.identity
        what = " screen" if self.source is Source.SCREEN else ""
        self.setAccessibleName(f"{label}{what} tile")
        self.setToolTip(self.describe())
        if not self.camera_on:
            self._picture.clear()
        self.update()

    def set_remote_video(self, video: RemoteVideoFeed | None) -> None:
        """Paint frames of a guest's video (or none)."""
        self._remote = video
        if video is not None:
            video.fit(self.height())

    def set_local_source(self, source: VideoCaptureSource | None) -> None:
        """Paint the host's own camera or screen."""
        if self._local_source is not None and self._local_queue is not None:
            self._skipped_before += self._local_queue.stats().dropped
            self._local_source.frames.unsubscribe(self._local_queue)
        self._local_source = source
        self._local_queue = source.frames.subscribe("tile", maxsize=1) if source else None

    @property
    def frames_skipped(self) -> int:
        """Frames that arrived but were replaced by a newer one before a paint (the display
        could not keep up: OBS's "missed due to rendering lag")."""
        queue = self._remote.frames if self._remote is not None else self._local_queue
        return self._skipped_before + (queue.stats().dropped if queue is not None else 0)

    @property
    def remote_video(self) -> RemoteVideoFeed | None:
        """The remote video feeding the tile, if any."""
        return self._remote

    @property
    def camera_on(self) -> bool:
        """Whether the tile's video track exists and is not muted."""
        track = self.participant.track(self.source)
        return track is not None and not track.muted

    def describe(self) -> str:
        """Tooltip: who, quality in words with the figures the session has."""
        p = self.participant
        lines = [p.name or p.identity, f"Connection: {words.quality(p.quality)}"]
        if p.audio_level:
            lines.append(f"Speaking level: {p.audio_level:.0%}")
        for track in p.tracks:
            size = f" {track.width}x{track.height}" if track.width else ""
            state = "muted" if track.muted else "on"
            layers = ", simulcast" if track.simulcast else ""
            lines.append(f"{words.source(track.source)}: {state}{size}{layers}")
        return "\n".join(lines)

    # -- painting ----------------------------------------------------------------------------

    def tick(self) -> bool:
        """Take the newest frame if one arrived; returns whether a repaint was asked for."""
        if self._remote is not None:
            queue = self._remote.frames
            frame = queue.take_latest()
            if frame is None:
                return False
            self._picture.set_frame(frame.i420, PixelFormat.I420, frame.width, frame.height,
                                    self.size())  # fmt: skip
        elif self._local_queue is not None:
            local = self._local_queue.take_latest()
            if local is None:
                return False
            self._picture.set_frame(local.data, local.format, local.width, local.height,
                                    self.size())  # fmt: skip
        else:
            return False
        self.frames_shown += 1
        self.update()
        return True

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt naming)
        """Ask for the simulcast layer that fits the new size."""
        super().resizeEvent(event)
        if self._remote is not None:
            self._remote.fit(event.size().height())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt naming)
        """Video letterboxed or initials; name, mic state, quality bars, speaking ring."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.rect()
        painter.fillRect(rect, QColor(BACKDROP))
        p = self.participant
        image = self._picture.image
        if image is not None and self.camera_on:
            draw_centred(painter, rect, image)
        else:
            diameter = max(24, min(rect.width(), rect.height()) // 2)
            circle = QRect(0, 0, diameter, diameter)
            circle.moveCenter(rect.center())
            painter.setBrush(QColor("#3b4252"))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawEllipse(circle)
            painter.setPen(QColor("#e5e9f0"))
            font = QFont(self.font())
            font.setPixelSize(max(10, diameter // 3))
            painter.setFont(font)
            painter.drawText(circle, Qt.AlignmentFlag.AlignCenter, initials(p.name or p.identity))
        # Name strip, mic state and quality bars: drawn once per change of what they show,
        # then blitted (text layout per frame cost more than the video itself).
        strip = QRect(rect.left(), rect.bottom() - STRIP_HEIGHT_PX, rect.width(),
                      STRIP_HEIGHT_PX)  # fmt: skip
        painter.drawPixmap(strip.topLeft(), self._strip_pixmap(rect.width()))
        if p.is_speaking and self.source is Source.CAMERA:
            painter.setPen(QPen(QColor(SPEAKING_COLOUR), 4))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(2, 2, -2, -2))
        painter.end()

    def _strip_pixmap(self, width: int) -> QPixmap:
        p = self.participant
        name = (p.name or p.identity) + (" (screen)" if self.source is Source.SCREEN else "")
        mic = "" if self.source is Source.SCREEN or not p.mic_muted else "mic off"
        ratio = self.devicePixelRatioF()
        key = (width, ratio, name, mic, p.quality, self.source, self.font().key())
        if self._strip is not None and self._strip_key == key:
            return self._strip
        pixmap = QPixmap(round(width * ratio), round(STRIP_HEIGHT_PX * ratio))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(QColor(0, 0, 0, 140))
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setFont(self.font())
        strip = QRect(0, 0, width, STRIP_HEIGHT_PX)
        painter.setPen(QColor("#ffffff"))
        # Words rather than an icon glyph: every font has them, and screen readers say them.
        painter.drawText(strip.adjusted(8, 0, -48, 0), Qt.AlignmentFlag.AlignVCenter, name)
        if mic and width >= 200:
            painter.setPen(QColor("#ff6b6b"))
            right = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
            painter.drawText(strip.adjusted(8, 0, -48, 0), right, mic)
        elif mic:
            # Too small for words beside the name: a red dot (the tooltip lists their tracks).
            painter.setBrush(QColor("#ff6b6b"))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawEllipse(QRectF(strip.right() - 48, strip.center().y() - 4, 8, 8))
        # Quality bars, bottom right (a person's connection; a share has none of its own).
        bars = QUALITY_BARS.get(p.quality, 0)
        colour = QColor(QUALITY_COLOURS[p.quality])
        for i in range(3 if self.source is Source.CAMERA else 0):
            h = 6 + 4 * i
            bar = QRectF(strip.right() - 36 + i * 9, strip.bottom() - 4 - h, 6, h)
            painter.fillRect(bar, colour if i < bars else QColor("#4b5563"))
        painter.end()
        self._strip, self._strip_key = pixmap, key
        return pixmap

    @property
    def quality_bars(self) -> int:
        """How many bars are lit (0-3)."""
        return QUALITY_BARS.get(self.participant.quality, 0)
