"""The green room: pick devices with a live preview and meter, where to connect, and presets.

Settings persist (platformdirs); the LiveKit secret and the platform credential go to the OS
keyring and are shown masked.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.session.errors import SessionError
from desktop.session.settings import CUSTOM_PRESET, PRESETS, ConnectMode, Secrets, Settings
from desktop.session.studio import check_connection
from desktop.ui import words
from desktop.ui.devices import AudioFactory, MicTap, VideoFactory, is_synthetic_label, open_offered
from desktop.ui.meter_widget import MeterWidget
from desktop.ui.preview_widget import PreviewWidget
from desktop.ui.remote_settings import RemoteControlSettings

MODES = {ConnectMode.LOCAL: "Local studio (no server)", ConnectMode.LIVEKIT: "LiveKit server",
         ConnectMode.PLATFORM: "Platform backend"}  # fmt: skip


class _ListingCombo(QComboBox):
    """A combo box that lists again right before it opens (a device plugged in appears)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.before_popup: Callable[[], None] | None = None

    def showPopup(self) -> None:  # noqa: N802 (Qt naming)
        """Refresh, then open."""
        if self.before_popup is not None:
            self.before_popup()
        super().showPopup()


class _Answer(QObject):
    """Carries the connection test's answer from its thread to the dialog's (queued)."""

    done = Signal(bool, str)
    """(worked, what happened in words)."""


class SetupDialog(QDialog):
    """Choose devices, connection and publish defaults before going live.

    The dialog owns the devices while it is open: picking another camera or microphone opens
    it (a device that will not open is named, and the previous one stays), and ``camera`` /
    ``mic`` are the ones chosen when it closes. The chosen screen is previewed too and becomes
    what "Share screen" shares.

    Args:
        settings: Current settings (changed in place on accept).
        secrets: Keyring access.
        camera: The camera open now (previewed).
        mic: The microphone open now (metered).
        cameras: Cameras to offer, by label (opened when picked).
        microphones: Microphones to offer, by label.
        screens: Screens to offer, by label.
        camera_label: Label of ``camera`` in ``cameras``.
        mic_label: Label of ``mic`` in ``microphones``.
    """

    def __init__(
        self,
        settings: Settings,
        secrets: Secrets,
        camera: VideoCaptureSource | None,
        mic: AudioCaptureSource | None,
        parent: QWidget | None = None,
        *,
        cameras: dict[str, VideoFactory] | None = None,
        microphones: dict[str, AudioFactory] | None = None,
        screens: dict[str, VideoFactory] | None = None,
        camera_label: str = "",
        mic_label: str = "",
        from_studio: bool = False,
        list_cameras: Callable[[], dict[str, VideoFactory]] | None = None,
        list_microphones: Callable[[], dict[str, AudioFactory]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings, self.secrets = settings, secrets
        self.camera, self.mic = camera, mic
        self.shared_screen: VideoCaptureSource | None = None
        self._cameras, self._microphones = cameras or {}, microphones or {}
        self._screens = screens or {}
        self.setWindowTitle(
            "Settings — Spaces Broadcaster" if from_studio else "Setup — Spaces Broadcaster"
        )
        self.setAccessibleName("Setup")
        layout = QVBoxLayout(self)
        previews = QHBoxLayout()
        self.preview = PreviewWidget("No camera", self)
        self.preview.setAccessibleName("Camera preview")
        self.preview.setToolTip("What your camera shows")
        self.preview.set_source(camera)
        previews.addWidget(self.preview, stretch=2)
        self.screen_preview = PreviewWidget("No screen", self)
        self.screen_preview.setAccessibleName("Screen preview")
        self.screen_preview.setToolTip("The screen that Share screen will share")
        previews.addWidget(self.screen_preview, stretch=1)
        layout.addLayout(previews, stretch=1)
        self.meter = MeterWidget(self)
        self.meter.setToolTip("Speak: the bar should move (dBFS; 0 is the loudest possible)")
        layout.addWidget(self.meter)
        self.problem = QLabel("", self)
        self.problem.setAccessibleName("Device problem")
        self.problem.setToolTip("Why a device could not be used, and what to do")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color:#e5484d")
        self.problem.hide()
        layout.addWidget(self.problem)
        self.device_note = QLabel("", self)
        self.device_note.setAccessibleName("Device note")
        self.device_note.setToolTip("Which devices are test stand-ins, and what to do")
        self.device_note.setWordWrap(True)
        self.device_note.setStyleSheet("color:#f0b429")
        self.device_note.hide()
        layout.addWidget(self.device_note)
        form = QFormLayout()
        self.form = form
        self.camera_pick = self._combo(form, "Camera", "Which camera guests see",
                                       {k: k for k in self._cameras}, camera_label)  # fmt: skip
        self.mic_pick = self._combo(form, "Microphone", "Which microphone guests hear",
                                    {k: k for k in self._microphones}, mic_label)  # fmt: skip
        self.screen_pick = self._combo(form, "Screen to share", "What Share screen shares",
                                       {k: k for k in self._screens}, settings.screen)  # fmt: skip
        self._chosen = {"camera": self.camera_pick.currentText(),
                        "mic": self.mic_pick.currentText()}  # fmt: skip
        self._listers: dict[str, Any] = {"camera": list_cameras, "mic": list_microphones}
        for kind, combo in (("camera", self.camera_pick), ("mic", self.mic_pick)):
            if isinstance(combo, _ListingCombo):
                combo.before_popup = functools.partial(self._relist, kind, combo)
        self.camera_pick.currentTextChanged.connect(self._pick_camera)
        self.mic_pick.currentTextChanged.connect(self._pick_mic)
        self.screen_pick.currentTextChanged.connect(self._pick_screen)
        # The combo carries each mode's saved word: Qt hands item data back as a plain str.
        self.mode = self._combo(form, "Connect to", "Where the studio connects",
                                {mode.value: text for mode, text in MODES.items()},
                                settings.connect_mode.value)  # fmt: skip
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
        test_row = QHBoxLayout()
        self.test_button = QPushButton("Test connection", self)
        self.test_button.setAccessibleName("Test connection")
        self.test_button.setToolTip("Reach the server with these details now (creates no room)")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel("", self)
        self.test_result.setAccessibleName("Connection test result")
        self.test_result.setWordWrap(True)
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, stretch=1)
        self.test_row = QWidget(self)
        self.test_row.setLayout(test_row)
        form.addRow(self.test_row)
        self._answer = _Answer(self)
        self._answer.done.connect(self._show_test)
        self.preset = self._combo(form, "Quality", "Resolution, frame rate and bitrate",
                                  {**{k: k for k in PRESETS}, CUSTOM_PRESET: "Custom"},
                                  settings.preset)  # fmt: skip
        self._publish_choices(form, settings)
        self.codec = self._combo(form, "Codec", "Camera codec in the room",
                                 {"vp8": "VP8", "h264": "H.264", "vp9": "VP9"},
                                 settings.video_codec)  # fmt: skip
        self.simulcast = QCheckBox("Simulcast (three layers for guests on weak links)", self)
        self.simulcast.setChecked(settings.simulcast)
        self.simulcast.setAccessibleName("Simulcast")
        self.simulcast.setToolTip("Publish the camera at three sizes")
        form.addRow(self.simulcast)
        layout.addLayout(form)
        self.remote_control = RemoteControlSettings(settings, secrets, self)
        layout.addWidget(self.remote_control)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.mode.currentIndexChanged.connect(self._show_fields)
        self._show_fields()
        self._note_twins()
        self.meter.set_muted(False)  # a new microphone starts from silence
        self._tap = MicTap("setup-meter")
        self._tap.follow(mic)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(50)
        self.finished.connect(self._stop)
        if self._screens:
            self._pick_screen(self.screen_pick.currentText())

    # -- devices -----------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.setVisible(bool(text))

    def _open(self, kind: str, label: str, offered: Mapping[str, Callable[[], Any]],
              combo: QComboBox) -> Any:  # fmt: skip
        """Open a picked device; on failure say why and put the picker back."""
        # MediaError, or a driver's own exception: say it.
        opened = open_offered(offered, label, catching=Exception)
        device = opened.device
        if opened.gone:
            return None
        if device is None:
            self._say(f"{label} cannot be used: {opened.error}. Pick another {kind}.")
            combo.blockSignals(True)
            combo.setCurrentIndex(max(0, combo.findText(self._chosen.get(kind, ""))))
            combo.blockSignals(False)
            return None
        self._say("")
        self._chosen[kind] = label
        if kind in ("camera", "mic"):
            self._note_twins()
        return device

    def _pick_camera(self, label: str) -> None:
        camera = self._open("camera", label, self._cameras, self.camera_pick)
        if camera is None:
            return
        old, self.camera = self.camera, camera
        self.preview.set_source(camera)
        if old is not None:
            old.stop()

    def _pick_mic(self, label: str) -> None:
        mic = self._open("mic", label, self._microphones, self.mic_pick)
        if mic is None:
            return
        old, self.mic = self.mic, mic
        self._tap.follow(mic)
        self.meter.set_muted(False)  # a new microphone starts from silence
        if old is not None:
            old.stop()

    def _pick_screen(self, label: str) -> None:
        screen = self._open("screen", label, self._screens, self.screen_pick)
        old, self.shared_screen = self.shared_screen, screen
        self.screen_preview.set_source(screen)
        if old is not None:
            old.stop()

    @property
    def camera_label(self) -> str:
        """The picked camera's label."""
        return self._chosen.get("camera", "")

    @property
    def mic_label(self) -> str:
        """The picked microphone's label."""
        return self._chosen.get("mic", "")

    def _line(self, form: QFormLayout, label: str, tip: str, value: str,
              secret: bool = False) -> QLineEdit:  # fmt: skip
        line = QLineEdit(value, self)
        line.setAccessibleName(label)
        line.setToolTip(tip)
        if secret:
            line.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow(label, line)
        return line

    def _publish_choices(self, form: QFormLayout, settings: Settings) -> None:
        """Custom size, frame rate and bitrate; microphone bitrate; receiving; recording."""
        self.custom_size = QLineEdit(
            f"{settings.custom_width}x{settings.custom_height}@{settings.custom_fps} "
            f"{settings.custom_video_bitrate_bps // 1000} kb/s", self)  # fmt: skip
        self.custom_size.setAccessibleName("Custom video")
        self.custom_size.setToolTip("With Quality ▸ Custom: WIDTHxHEIGHT@FPS BITRATE kb/s")
        form.addRow("Custom video", self.custom_size)
        self.audio_bitrate = self._combo(
            form, "Microphone bitrate", "Opus bitrate of your microphone in the room",
            {str(b): f"{b // 1000} kb/s" for b in (24_000, 32_000, 48_000, 64_000, 96_000)},
            str(settings.audio_bitrate_bps),
        )  # fmt: skip
        self.auto_subscribe = QCheckBox("Receive every guest's video at once", self)
        self.auto_subscribe.setChecked(settings.auto_subscribe)
        self.auto_subscribe.setAccessibleName("Receive every guest at once")
        self.auto_subscribe.setToolTip(
            "Off: guests' voices at once, their video only when a tile shows it"
        )
        form.addRow(self.auto_subscribe)
        self.recording_output = self._combo(
            form, "Recording file", "Container of recordings (in the cloud and on this computer)",
            {"mp4": "MP4 (H.264)", "webm": "WebM (VP8 + Opus)"}, settings.recording_output,
        )  # fmt: skip
        self.recording_layout = self._combo(
            form, "Cloud layout", "How the cloud recording composes the room",
            {"": "Follow the program", "speaker": "Speaker", "grid": "Grid",
             "custom": "Custom template"}, settings.recording_layout,
        )  # fmt: skip
        self.recording_quality = self._combo(
            form, "Cloud quality", "The cloud recording's egress preset",
            {"low": "Low (720p)", "medium": "Medium (1080p30)", "high": "High (1080p60)"},
            settings.recording_quality,
        )  # fmt: skip
        self.local_recording_quality = self._combo(
            form, "Quality on this computer",
            "The stream's own encoding costs nothing extra; 3, 4.5 or 6 Mb/s at the program's "
            "size runs one more encoder (more CPU), as does WebM",
            {"stream": "Same as the stream (no extra encoder)", "low": "Low (3 Mb/s)",
             "medium": "Medium (4.5 Mb/s)", "high": "High (6 Mb/s)"},
            settings.local_recording_quality,
        )  # fmt: skip

    def _apply_publish_choices(self, s: Settings) -> None:
        found = re.fullmatch(
            r"\s*(\d+)\s*[x×]\s*(\d+)\s*@\s*(\d+)\s+(\d+)\s*kb/?s\s*",
            self.custom_size.text(),
        )
        if found:
            width, height, fps, kbps = (int(g) for g in found.groups())
            if width >= 16 and height >= 16 and 1 <= fps <= 60 and kbps >= 50:
                s.custom_width, s.custom_height = width // 2 * 2, height // 2 * 2
                s.custom_fps, s.custom_video_bitrate_bps = fps, kbps * 1000
        s.audio_bitrate_bps = int(str(self.audio_bitrate.currentData()))
        s.auto_subscribe = self.auto_subscribe.isChecked()
        s.recording_output = str(self.recording_output.currentData())
        s.recording_layout = str(self.recording_layout.currentData())
        s.recording_quality = str(self.recording_quality.currentData())
        s.local_recording_quality = str(self.local_recording_quality.currentData())

    def _combo(self, form: QFormLayout, label: str, tip: str, items: dict[str, str],
               current: str) -> QComboBox:  # fmt: skip
        combo = _ListingCombo(self)
        combo.setAccessibleName(label)
        combo.setToolTip(tip)
        for key, text in items.items():
            combo.addItem(text, key)
        index = combo.findData(current)
        combo.setCurrentIndex(max(0, index))
        form.addRow(label, combo)
        return combo

    def _show_fields(self) -> None:
        """Only the chosen connection mode's fields are shown."""
        mode = ConnectMode(self.mode.currentData())
        for widget in (self.url, self.api_key, self.api_secret, self.room):
            self.form.setRowVisible(widget, mode is ConnectMode.LIVEKIT)
        for widget in (self.backend, self.credential, self.appointment):
            self.form.setRowVisible(widget, mode is ConnectMode.PLATFORM)
        self.form.setRowVisible(self.test_row, mode is not ConnectMode.LOCAL)
        self.test_result.setText("")
        self.adjustSize()

    def _relist(self, kind: str, combo: QComboBox) -> None:
        """Add devices plugged in since the list was made (kept: the one in use)."""
        lister = self._listers.get(kind)
        if lister is None:
            return
        try:
            found: dict[str, Any] = lister()
        except Exception as error:  # a driver refusing to list: say so, keep the old list
            self._say(f"Devices could not be listed again: {error}")
            return
        offered = self._cameras if kind == "camera" else self._microphones
        combo.blockSignals(True)
        for label, factory in found.items():
            if label not in offered:
                offered[label] = factory
                combo.addItem(label, label)
        combo.blockSignals(False)

    def _note_twins(self) -> None:
        """Say so when a synthetic device stands in because no real one was found."""
        notes = []
        real_cameras = [k for k in self._cameras if not is_synthetic_label(k)]
        real_mics = [k for k in self._microphones if not is_synthetic_label(k)]
        if self._cameras and is_synthetic_label(self.camera_label):
            notes.append(
                "No camera was found: guests will see the synthetic test picture. Plug one in "
                "and pick it here or from the Camera menu."
                if not real_cameras
                else "The synthetic test picture is picked as the camera."
            )
        if self._microphones and is_synthetic_label(self.mic_label):
            notes.append(
                "No microphone was found: guests will hear a test tone. Plug one in and pick "
                "it here or from the Mic menu."
                if not real_mics
                else "The synthetic test tone is picked as the microphone."
            )
        self.device_note.setText(" ".join(notes))
        self.device_note.setVisible(bool(notes))

    def test_connection(self) -> None:
        """Reach the chosen server with the details typed now (on a worker thread)."""
        mode = ConnectMode(self.mode.currentData())
        details = {
            "livekit_url": self.url.text().strip(), "api_key": self.api_key.text().strip(),
            "api_secret": self.api_secret.text().strip(),
            "backend_url": self.backend.text().strip(),
            "credential": self.credential.text().strip(),
        }  # fmt: skip
        self.test_button.setEnabled(False)
        self.test_result.setText("Testing…")
        answer = self._answer

        def work() -> None:
            try:
                said = asyncio.run(check_connection(mode, **details))
            except SessionError as error:
                text, step = words.failure(error, "connect")
                answer.done.emit(False, f"{text}. {step}".replace("..", "."))
                return
            except Exception as error:  # an unexpected one is still said, not lost
                answer.done.emit(False, f"Could not connect: {error}")
                return
            answer.done.emit(True, said)

        self._test_thread = threading.Thread(target=work, name="bc-connection-test", daemon=True)
        self._test_thread.start()

    def _show_test(self, worked: bool, text: str) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(("✓ " if worked else "✗ ") + text)
        self.test_result.setStyleSheet("color:#35c46a" if worked else "color:#ff6369")

    def _tick(self) -> None:
        if self._tap.following:
            for samples in self._tap.blocks():
                self.meter.feed(samples)
            self.meter.refresh()

    def _stop(self) -> None:
        self._timer.stop()
        self.preview.set_source(None)
        self.screen_preview.set_source(None)
        if self.shared_screen is not None:
            # Previewed only: sharing opens the screen again when the host shares.
            self.shared_screen.stop()
            self.shared_screen = None
        self._tap.follow(None)

    def apply(self) -> None:
        """Write the choices into the settings and the keyring."""
        s = self.settings
        s.connect_mode = ConnectMode(self.mode.currentData())
        s.display_name = self.name.text().strip() or "Host"
        s.livekit_url = self.url.text().strip()
        s.livekit_api_key = self.api_key.text().strip()
        s.room_name = self.room.text().strip() or "studio"
        s.backend_url = self.backend.text().strip()
        s.appointment_id = self.appointment.text().strip()
        s.preset = str(self.preset.currentData())
        s.video_codec = str(self.codec.currentData())
        s.simulcast = self.simulcast.isChecked()
        self._apply_publish_choices(s)
        self.remote_control.apply()
        if self._cameras:
            s.camera = self.camera_label
        if self._microphones:
            s.microphone = self.mic_label
        if self._screens:
            s.screen = self._chosen.get("screen", s.screen)
        self.secrets.set("livekit-api-secret", self.api_secret.text().strip())
        self.secrets.set("platform-credential", self.credential.text().strip())
