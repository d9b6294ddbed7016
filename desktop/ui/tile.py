"""A participant tile: video (or initials), name, mic state, speaking ring, quality bars.

Painting costs what it must and no more, and none of it on the UI thread but the drawing
(each figure measured, see ``docs/benchmarks.md``):

- the session hands I420 frames as decoded, at the simulcast layer that fits the tile (the
  tile says its height whenever it is resized);
- on each stage tick (the display rate) a visible tile takes only the newest frame and hands
  it to the tiles' worker thread (:mod:`desktop.ui.frame_worker`), which scales the planes to
  the tile's exact size and converts them into a buffer painted as ``Format_RGB32``; a frame
  replaced before the worker took it, or taken by a hidden tile, is never converted;
- when the picture is ready the tile asks Qt to repaint itself — only itself: it is opaque
  (``WA_OpaquePaintEvent``), so neither its parent nor a sibling is painted with it — and the
  paint is a plain row copy; only the letterbox bars are filled, and the name strip is a
  pixmap drawn once per change of what it shows.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen, QPixmap, QResizeEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.media.base import VideoCaptureSource
from desktop.media.fanout import FrameQueue
from desktop.media.frames import PixelFormat, VideoFrame
from desktop.session.remote_video import RemoteVideoFeed
from desktop.session.state import ParticipantState, Quality, Source
from desktop.ui import words
from desktop.ui.frame_worker import Converted, Fetch, forget_when_destroyed, new_key, worker
from desktop.ui.preview_widget import FrameImage, draw_centred, fitted_wh

QUALITY_BARS = {Quality.EXCELLENT: 3, Quality.GOOD: 2, Quality.POOR: 1, Quality.LOST: 0}
QUALITY_COLOURS = {
    Quality.EXCELLENT: "#35c46a", Quality.GOOD: "#35c46a", Quality.POOR: "#f0b429",
    Quality.LOST: "#e5484d", Quality.UNKNOWN: "#6b7280",
}  # fmt: skip
SPEAKING_COLOUR = "#35c46a"
STRIP_HEIGHT_PX = 24
"""Height of the name strip at the bottom of a tile."""
BACKDROP = "#101318"
TILE_WORKER = "tiles"
"""The worker thread every tile's pictures are made on."""
_BACKDROP_COLOUR = QColor(BACKDROP)


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
        # The tile paints every one of its pixels: Qt need not paint the parent beneath it
        # first, so a new frame repaints this tile and nothing else.
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.participant = participant
        self._remote: RemoteVideoFeed | None = None
        self._local_queue: FrameQueue[VideoFrame] | None = None
        self._local_source: VideoCaptureSource | None = None
        self._picture = FrameImage()
        self._key = new_key()
        forget_when_destroyed(self, TILE_WORKER, self._key)
        self._camera_on = False
        self._strip_content: tuple[str, str, Quality] = ("", "", Quality.UNKNOWN)
        self._strip: QPixmap | None = None
        self._strip_key: tuple[object, ...] = ()
        self.frames_shown = 0
        """Frames converted and painted (stats, tests)."""
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
        track = participant.track(self.source)
        self._camera_on = track is not None and not track.muted
        # What the name strip shows, worked out here rather than on each frame's paint.
        name = label + (" (screen)" if self.source is Source.SCREEN else "")
        mic = "" if self.source is Source.SCREEN or not participant.mic_muted else "mic off"
        self._strip_content = (name, mic, participant.quality)
        if not self._camera_on:
            self._picture.clear()
            worker(TILE_WORKER).forget(self._key)
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
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) of the frame painted, as received (for a guest: the simulcast layer
        the SFU sends); None before the first painted frame."""
        return self._picture.source_size

    @property
    def remote_video(self) -> RemoteVideoFeed | None:
        """The remote video feeding the tile, if any."""
        return self._remote

    @property
    def camera_on(self) -> bool:
        """Whether the tile's video track exists and is not muted."""
        return self._camera_on

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
        """Take the newest frame if one arrived and hand it to the tiles' worker thread;
        returns whether one was handed over (the tile repaints when its picture is ready).

        A hidden tile, or one whose camera is off, converts nothing: the frame counts as
        skipped. So does a frame replaced by a newer one before the worker took it.
        """
        if self._remote is not None:
            frame = self._remote.frames.take_latest()
            if frame is None:
                return False
            taken = (frame.i420, PixelFormat.I420, frame.width, frame.height)
        elif self._local_queue is not None:
            local = self._local_queue.take_latest()
            if local is None:
                return False
            taken = (local.data, local.format, local.width, local.height)
        else:
            return False
        if not self._camera_on or not self.isVisible():
            self._skipped_before += 1
            return False
        fetch: Fetch = lambda: taken  # noqa: E731 (the frame, handed over as it is)
        area = (self.width(), self.height())
        if worker(TILE_WORKER).submit(self._key, fetch, area, self._show):
            self._skipped_before += 1
        return True

    def _show(self, converted: Converted) -> None:
        """A picture is ready (on the UI thread): paint it."""
        if not self._camera_on:
            return  # turned off while the picture was being made
        self._picture.show(converted)
        self.frames_shown += 1
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt naming)
        """Ask for the simulcast layer that fits the new size."""
        super().resizeEvent(event)
        if self._remote is not None:
            self._remote.fit(event.size().height())

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt naming)
        """A new font: the name strip is drawn again."""
        if event.type() == QEvent.Type.FontChange:
            self._strip = None
        super().changeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt naming)
        """Video letterboxed or initials; name, mic state, quality bars, speaking ring."""
        width, height = self.width(), self.height()
        painter = QPainter(self)
        rect = self.rect()
        p = self.participant
        image = self._picture.image if self._camera_on else None
        if image is not None:
            image_w, image_h = image.width(), image.height()
            if fitted_wh(image_w, image_h, width, height) == (image_w, image_h):
                # Made for this size: a plain copy, and only the bars around it are filled.
                left, top = (width - image_w) // 2, (height - image_h) // 2
                painter.drawImage(left, top, image)
                right, bottom = left + image_w, top + image_h
                for x, y, w, h in (
                    (0, 0, width, top),
                    (0, bottom, width, height - bottom),
                    (0, top, left, image_h),
                    (right, top, width - right, image_h),
                ):
                    if w > 0 and h > 0:
                        painter.fillRect(x, y, w, h, _BACKDROP_COLOUR)
            else:  # resized since the frame was converted: stretched until the next frame
                painter.fillRect(rect, _BACKDROP_COLOUR)
                draw_centred(painter, rect, image)
        else:
            painter.fillRect(rect, _BACKDROP_COLOUR)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
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
        painter.drawPixmap(0, height - 1 - STRIP_HEIGHT_PX, self._strip_pixmap(width))
        if p.is_speaking and self.source is Source.CAMERA:
            painter.setPen(QPen(QColor(SPEAKING_COLOUR), 4))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(2, 2, -2, -2))
        painter.end()

    def _strip_pixmap(self, width: int) -> QPixmap:
        ratio = self.devicePixelRatioF()
        key = (width, ratio, self._strip_content)
        if self._strip is not None and self._strip_key == key:
            return self._strip
        p = self.participant
        name, mic, _ = self._strip_content
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
