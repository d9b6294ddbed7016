"""A microphone meter in dBFS, as mixers draw it: green, yellow near -12, red near 0.

While the microphone is off the meter stops and says "muted": a bar moving while guests hear
nothing would tell the host the opposite of the truth.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop.media.meter import SILENCE_DBFS, LevelMeter

FLOOR_DBFS = -60.0
"""The meter's left end (quieter than this reads as silence)."""
YELLOW_DBFS = -18.0
RED_DBFS = -6.0


class MeterWidget(QWidget):
    """A horizontal dBFS meter with a peak-hold line and a readout."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Microphone level")
        self.setToolTip("How loud your microphone is, in dBFS (0 is the loudest possible)")
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self._meter = LevelMeter()
        self.muted = False
        """The microphone is off: the meter stands still."""
        self.level_dbfs = SILENCE_DBFS
        """The level shown (peak hold)."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        """Wide enough for the scale and the readout."""
        return QSize(170, 28)

    def set_muted(self, muted: bool) -> None:
        """Stop (and read "muted") or resume."""
        self.muted = muted
        self._meter = LevelMeter()
        self.level_dbfs = SILENCE_DBFS
        self.setAccessibleDescription("muted" if muted else self.readout())
        self.update()

    def feed(self, samples: object) -> None:
        """Measure a block of int16 samples (ignored while muted)."""
        if self.muted:
            return
        self._meter.update(samples)  # type: ignore[arg-type]
        self.level_dbfs = self._meter.peak_hold_dbfs

    def readout(self) -> str:
        """The level in words: ``-12 dBFS``, ``silent`` or ``muted``."""
        if self.muted:
            return "muted"
        if self.level_dbfs <= FLOOR_DBFS:
            return "silent"
        return f"{self.level_dbfs:.0f} dBFS"

    def refresh(self) -> None:
        """Repaint with the latest level."""
        self.setAccessibleDescription(self.readout())
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt naming)
        """Scale, bar, peak line and readout."""
        painter = QPainter(self)
        rect = self.rect()
        bar = QRect(rect.left(), rect.top() + 6, rect.width() - 64, rect.height() - 12)
        painter.fillRect(bar, QColor("#0f1115"))

        def x_of(dbfs: float) -> float:
            share = (max(FLOOR_DBFS, min(0.0, dbfs)) - FLOOR_DBFS) / -FLOOR_DBFS
            return bar.left() + share * bar.width()

        if not self.muted and self.level_dbfs > FLOOR_DBFS:
            end = x_of(self.level_dbfs)
            for low, high, colour in ((FLOOR_DBFS, YELLOW_DBFS, "#35c46a"),
                                      (YELLOW_DBFS, RED_DBFS, "#f0b429"),
                                      (RED_DBFS, 0.0, "#e5484d")):  # fmt: skip
                left, right = x_of(low), min(end, x_of(high))
                if right > left:
                    painter.fillRect(QRectF(left, bar.top(), right - left, bar.height()),
                                     QColor(colour))  # fmt: skip
        painter.setPen(QColor("#3a4252"))
        for mark in (-48, -36, -24, -12, -6):
            x = int(x_of(mark))
            painter.drawLine(x, bar.bottom() - 2, x, bar.bottom())
        painter.setPen(QColor("#ff6369" if self.muted else "#c9ced8"))
        text_rect = QRect(bar.right() + 6, rect.top(), rect.width() - bar.width() - 6,
                          rect.height())  # fmt: skip
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter, self.readout())
        painter.end()
