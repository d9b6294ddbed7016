"""The green room: pick devices with a live preview and meter, where to connect, and presets.

Settings persist (platformdirs); the LiveKit secret and the platform credential go to the OS
keyring and are shown masked.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.meter import SILENCE_DBFS, LevelMeter
from desktop.session.settings import PRESETS, Secrets, Settings
from desktop.ui.preview_widget import PreviewWidget

MODES = {"local": "Local studio (no server)", "livekit": "LiveKit server",
         "platform": "Platform backend"}  # fmt: skip


class SetupDialog(QDialog):
    """Choose devices, connection and publish defaults before going live.

    Args:
        settings: Current settings (changed in place on accept).
        secrets: Keyring access.
        camera: The camera open now (previewed).
        mic: The microphone open now (metered).
    """

    def __init__(
        self,
        settings: Settings,
        secrets: Secrets,
        camera: VideoCaptureSource | None,
        mic: AudioCaptureSource | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings, self.secrets = settings, secrets
        self.setWindowTitle("Setup — Spaces Broadcaster")
        self.setAccessibleName("Setup")
        layout = QVBoxLayout(self)
        self.preview = PreviewWidget("No camera", self)
        self.preview.setAccessibleName("Camera preview")
        self.preview.setToolTip("What your camera shows")
        self.preview.set_source(camera)
        layout.addWidget(self.preview, stretch=1)
        self.meter = QProgressBar(self)
        self.meter.setRange(int(SILENCE_DBFS), 0)
        self.meter.setAccessibleName("Microphone level")
        self.meter.setToolTip("Speak: the bar should move")
        layout.addWidget(self.meter)
        form = QFormLayout()
        self.mode = self._combo(form, "Connect to", "Where the studio connects", MODES,
                                settings.connect_mode)  # fmt: skip
        self.name = self._line(form, "Your name", "Shown to guests", settings.display_name)
        self.url = self._line(form, "LiveKit URL", "wss://… of your LiveKit server",
                              settings.livekit_url)  # fmt: skip
        self.api_key = self._line(form, "API key", "LiveKit API key", settings.livekit_api_key)
        self.api_secret = self._line(form, "API secret", "Kept in the keyring",
                                     secrets.get("livekit-api-secret"), secret=True)  # fmt: skip
        self.room = self._line(form, "Room", "Room to create or join", settings.room_name)
        self.backend = self._line(form, "Backend URL", "The platform's /api/livekit URL",
                                  settings.backend_url)  # fmt: skip
        self.credential = self._line(form, "Sign-in token", "Kept in the keyring",
                                     secrets.get("platform-credential"), secret=True)  # fmt: skip
        self.appointment = self._line(form, "Appointment", "The appointment to go live for",
                                      settings.appointment_id)  # fmt: skip
        self.preset = self._combo(form, "Quality", "Resolution, frame rate and bitrate",
                                  {k: k for k in PRESETS}, settings.preset)  # fmt: skip
        self.codec = self._combo(form, "Codec", "Camera codec in the room",
                                 {"vp8": "VP8", "h264": "H.264", "vp9": "VP9"},
                                 settings.video_codec)  # fmt: skip
        self.simulcast = QCheckBox("Simulcast (three layers for guests on weak links)", self)
        self.simulcast.setChecked(settings.simulcast)
        self.simulcast.setAccessibleName("Simulcast")
        self.simulcast.setToolTip("Publish the camera at three sizes")
        form.addRow(self.simulcast)
        layout.addLayout(form)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.mode.currentIndexChanged.connect(self._show_fields)
        self._show_fields()
        self._level = LevelMeter()
        self._mic = mic
        self._queue = mic.frames.subscribe("setup-meter", 20) if mic else None
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(50)
        self.finished.connect(self._stop)

    def _line(self, form: QFormLayout, label: str, tip: str, value: str,
              secret: bool = False) -> QLineEdit:  # fmt: skip
        line = QLineEdit(value, self)
        line.setAccessibleName(label)
        line.setToolTip(tip)
        if secret:
            line.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow(label, line)
        return line

    def _combo(self, form: QFormLayout, label: str, tip: str, items: dict[str, str],
               current: str) -> QComboBox:  # fmt: skip
        combo = QComboBox(self)
        combo.setAccessibleName(label)
        combo.setToolTip(tip)
        for key, text in items.items():
            combo.addItem(text, key)
        index = combo.findData(current)
        combo.setCurrentIndex(max(0, index))
        form.addRow(label, combo)
        return combo

    def _show_fields(self) -> None:
        mode = self.mode.currentData()
        for widget in (self.url, self.api_key, self.api_secret, self.room):
            widget.setEnabled(mode == "livekit")
        for widget in (self.backend, self.credential, self.appointment):
            widget.setEnabled(mode == "platform")

    def _tick(self) -> None:
        if self._queue is not None:
            while (block := self._queue.get_nowait()) is not None:
                self._level.update(block.data)
            self.meter.setValue(int(self._level.peak_hold_dbfs))

    def _stop(self) -> None:
        self._timer.stop()
        self.preview.set_source(None)
        if self._mic is not None and self._queue is not None:
            self._mic.frames.unsubscribe(self._queue)
            self._queue = None

    def apply(self) -> None:
        """Write the choices into the settings and the keyring."""
        s = self.settings
        s.connect_mode = str(self.mode.currentData())
        s.display_name = self.name.text().strip() or "Host"
        s.livekit_url = self.url.text().strip()
        s.livekit_api_key = self.api_key.text().strip()
        s.room_name = self.room.text().strip() or "studio"
        s.backend_url = self.backend.text().strip()
        s.appointment_id = self.appointment.text().strip()
        s.preset = str(self.preset.currentData())
        s.video_codec = str(self.codec.currentData())
        s.simulcast = self.simulcast.isChecked()
        self.secrets.set("livekit-api-secret", self.api_secret.text().strip())
        self.secrets.set("platform-credential", self.credential.text().strip())
