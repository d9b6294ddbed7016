"""The main window: local preview and microphone meter (the full studio grows from here)."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from desktop import __version__
from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.meter import SILENCE_DBFS, LevelMeter
from desktop.ui.preview_widget import PreviewWidget

METER_INTERVAL_MS = 50


class MainWindow(QMainWindow):
    """Shows the camera preview, a microphone level meter and device notes."""

    def __init__(
        self, camera: VideoCaptureSource, mic: AudioCaptureSource, notes: list[str]
    ) -> None:
        super().__init__()
        self.setWindowTitle(f"Spaces Broadcaster {__version__}")
        self.resize(960, 620)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        self.preview = PreviewWidget("Starting camera…", central)
        self.preview.setToolTip(f"Preview of {camera.name}")
        self.preview.set_source(camera)
        layout.addWidget(self.preview, stretch=1)
        self.meter = QProgressBar(central)
        self.meter.setRange(int(SILENCE_DBFS), 0)
        self.meter.setFormat(f"{mic.name}: %v dBFS")
        self.meter.setAccessibleName("Microphone level")
        self.meter.setToolTip("Microphone peak level in dBFS")
        layout.addWidget(self.meter)
        self.notes = QLabel("\n".join(notes), central)
        self.notes.setWordWrap(True)
        self.notes.setVisible(bool(notes))
        self.notes.setAccessibleName("Device notes")
        layout.addWidget(self.notes)
        self.setCentralWidget(central)
        self._level = LevelMeter()
        self._mic_queue = mic.frames.subscribe("meter", maxsize=20)
        self._mic = mic
        self._timer = QTimer(self)
        self._timer.setInterval(METER_INTERVAL_MS)
        self._timer.timeout.connect(self._update_meter)
        self._timer.start()
        self.about_action = QAction("&About Spaces Broadcaster", self)
        self.about_action.triggered.connect(self.show_about)
        self.menuBar().addMenu("&Help").addAction(self.about_action)

    def about_text(self) -> str:
        """What the About dialog says: the version comes from the package metadata."""
        return (
            f"<b>Spaces Broadcaster {__version__}</b><br>"
            "The desktop studio for hosts of live streaming events."
        )

    def show_about(self) -> None:
        """Show the About dialog."""
        QMessageBox.about(self, "About Spaces Broadcaster", self.about_text())

    def _update_meter(self) -> None:
        while (block := self._mic_queue.get_nowait()) is not None:
            self._level.update(block.data)
        self.meter.setValue(int(self._level.peak_hold_dbfs))

    def closeEvent(self, event: object) -> None:  # noqa: N802 (Qt naming)
        """Stop observing the sources when the window closes."""
        self._timer.stop()
        self.preview.set_source(None)
        self._mic.frames.unsubscribe(self._mic_queue)
        super().closeEvent(event)  # type: ignore[arg-type]
