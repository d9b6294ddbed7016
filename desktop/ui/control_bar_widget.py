"""The control bar: mic, camera, speaker, share, record, Go Live, End stream.

Every control is a :class:`QAction` with its shortcut, shown by an icon button: a shortcut lives
on the action, so changing a button's words never clears it (``setText`` on a button does), and
the shortcut works as often as it is pressed. On/off is unmistakable: a muted microphone is red
and says "Mic off"; recording and live are filled red and say how to stop. Stopping something
that cannot be undone (ending the broadcast, ending the stream for everyone) asks first, with
Cancel as the default.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QMenu, QToolButton, QWidget

from desktop.media.base import AudioCaptureSource, SourceEvent, SourceState, VideoCaptureSource
from desktop.media.errors import MediaError
from desktop.media.outputs.output import OutputPhase
from desktop.session.state import RoomState
from desktop.session.studio import RecordingPlace, Studio
from desktop.ui import theme
from desktop.ui.bridge import StateBridge
from desktop.ui.confirm import ask
from desktop.ui.devices import (
    SYNTHETIC_MIC,
    SYSTEM_DEFAULT_MIC,
    AudioFactory,
    MicTap,
    VideoFactory,
    open_offered,
)
from desktop.ui.meter_widget import MeterWidget
from desktop.ui.notice_widget import Notice, Severity

logger = logging.getLogger(__name__)

SHORTCUTS = {
    "mic": "Ctrl+D",
    "camera": "Ctrl+E",
    "share": "Ctrl+Shift+S",
    "live": "Ctrl+Shift+L",
    "record": "Ctrl+Shift+R",
}
"""Keyboard shortcuts (the same as the common meeting apps where they exist)."""


@dataclass(frozen=True, slots=True)
class _Toggle:
    """The words and icons of an on/off device control."""

    kind: str
    """Its key in :data:`SHORTCUTS` and its icon's name (``<icon>-off`` when off)."""
    noun: str
    """What it is called in a sentence."""
    on_text: str
    """The button's words when on."""
    off_text: str
    """The button's words when off."""
    on_tip: str
    """Tooltip when on."""
    off_tip: str
    """Tooltip when off."""
    menu_title: str
    """Its device menu."""

    @property
    def icon(self) -> str:
        """The icon when on."""
        return self.kind


_MIC = _Toggle("mic", "microphone", "Mic", "Mic off",
               "Your microphone is on: guests hear you; press to mute",
               "Your microphone is OFF: nobody hears you; press to unmute",
               "Microphone")  # fmt: skip
_CAMERA = _Toggle("camera", "camera", "Camera", "Camera off",
                  "Your camera is on; press to turn it off",
                  "Your camera is OFF: guests see your initials; press to turn it on",
                  "Camera")  # fmt: skip


class _SourceWatcher(QObject):
    """Carries a device failure from its capture thread to the window's (a queued signal)."""

    failed = Signal(str, str)
    """(source name, the error in words)."""


class ControlBarWidget(QWidget):
    """The host's controls.

    Args:
        studio: The studio (commands).
        bridge: The state bridge.
        cameras: Lists the cameras now connected (called each time the menu opens).
        microphones: Lists the microphones now connected.
        speakers: Lists the speakers now connected.
        screens: Lists the screens.
        windows: Lists the windows open now (None where single windows cannot be shared).
        parent: Parent widget.
    """

    notice = Signal(object)
    """A :class:`Notice` to show."""
    notice_cleared = Signal(str)
    """A notice's condition cleared (its key)."""
    camera_changed = Signal(object)
    """The host's camera is now this source."""
    share_changed = Signal(object, str)
    """(screen source or None, what is shared in words)."""
    stream_ended = Signal(object)
    """End stream finished: the :class:`StreamSummary`."""

    def __init__(
        self,
        studio: Studio,
        bridge: StateBridge,
        cameras: Callable[[], dict[str, VideoFactory]],
        microphones: Callable[[], dict[str, AudioFactory]],
        speakers: Callable[[], list[str]],
        screens: Callable[[], dict[str, VideoFactory]],
        windows: Callable[[], dict[str, VideoFactory]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.studio, self.bridge = studio, bridge
        self.setAccessibleName("Controls")
        self.list_cameras, self.list_microphones = cameras, microphones
        self.list_speakers, self.list_screens, self.list_windows = speakers, screens, windows
        self.sharing_label = ""
        """What is being shared now ("" when nothing)."""
        self.mic_label = studio.settings.microphone
        """The Mic menu's label of the microphone in use."""
        self.default_microphone: Callable[[], str] = lambda: ""
        """Names the system's default microphone now ('' when the system cannot say)."""
        self._watcher = _SourceWatcher(self)
        self._watcher.failed.connect(self._on_source_failed)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)

        self.mic_action, self.mic_menu, self.mic_button = self._device_toggle(
            _MIC, studio.mic_on, self._fill_mic_menu
        )
        self.meter = MeterWidget(self)
        self.camera_action, self.camera_menu, self.camera_button = self._device_toggle(
            _CAMERA, studio.camera_on, self._fill_camera_menu
        )

        self.speaker_action = self._action("Speaker", "speaker", None)
        self.speaker_menu = QMenu("Speaker", self)
        self.speaker_menu.aboutToShow.connect(self._fill_speaker_menu)
        self.speaker_button = self._button(self.speaker_action, self.speaker_menu, instant=True)

        self.share_action = self._action("Share screen", "screen", SHORTCUTS["share"])
        self.share_action.triggered.connect(self._share_pressed)
        self.share_menu = QMenu("Share", self)
        self.share_menu.aboutToShow.connect(self._fill_share_menu)
        self.share_button = self._button(self.share_action, self.share_menu)

        self.record_action = self._action("Record", "record", SHORTCUTS["record"])
        self.record_action.triggered.connect(self._record_pressed)
        self.record_menu = QMenu("Record", self)
        self.record_menu.aboutToShow.connect(self._fill_record_menu)
        self.record_button = self._button(self.record_action, self.record_menu)
        self.record_place = RecordingPlace.LOCAL
        """Where Record records (chosen in its menu)."""

        self.live_action = self._action("Go Live", "live", SHORTCUTS["live"])
        self.live_action.triggered.connect(self._live_pressed)
        self.live_button = self._button(self.live_action)
        self.going_live = False
        """Go Live was pressed and is checking and starting destinations."""

        self.end_action = self._action("End stream", "end", None)
        self.end_action.triggered.connect(self.ask_end_stream)
        self.end_button = self._button(self.end_action)
        theme.set_tone(self.end_button, "end")

        for widget in (self.mic_button, self.meter, self.camera_button, self.speaker_button,
                       self.share_button, self.record_button):  # fmt: skip
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.live_button)
        row.addWidget(self.end_button)

        self._meter_tap = MicTap("meter")
        self.watch_mic(studio.mic)
        for device in (studio.camera, studio.mic):
            if device is not None:
                self.watch_source(device)
        self._show_toggle(_MIC, studio.mic_on)
        self._show_toggle(_CAMERA, studio.camera_on)

    # -- building ----------------------------------------------------------------------------

    def _action(self, text: str, icon: str, key: str | None, checkable: bool = False) -> QAction:
        action = QAction(theme.icon(icon), text, self)
        action.setCheckable(checkable)
        if key:
            action.setShortcut(QKeySequence(key))
            # The window's shortcut, wherever the focus is inside it.
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.addAction(action)
        return action

    def _button(self, action: QAction, menu: QMenu | None = None,
                instant: bool = False) -> QToolButton:  # fmt: skip
        button = QToolButton(self)
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setMinimumWidth(104)
        button.setAccessibleName(action.text())
        if menu is not None:
            button.setMenu(menu)
            button.setPopupMode(
                QToolButton.ToolButtonPopupMode.InstantPopup
                if instant
                else QToolButton.ToolButtonPopupMode.MenuButtonPopup
            )
        self._describe(action, button, action.toolTip())
        return button

    @staticmethod
    def _describe(action: QAction, button: QToolButton, tip: str) -> None:
        key = action.shortcut().toString()
        full = f"{tip} ({key})" if key else tip
        action.setToolTip(full)
        button.setToolTip(full)
        button.setAccessibleName(action.text())

    def _say(self, key: str, severity: Severity, text: str, step: str = "") -> None:
        self.notice.emit(Notice(key, severity, text, step))

    # -- microphone and camera ---------------------------------------------------------------

    def _device_toggle(
        self, toggle: _Toggle, on: bool, fill_menu: Callable[[], None]
    ) -> tuple[QAction, QMenu, QToolButton]:
        """An on/off device control: its action (with shortcut), its device menu, its button."""
        action = self._action(toggle.on_text, toggle.icon, SHORTCUTS[toggle.kind], checkable=True)
        action.setChecked(on)
        action.toggled.connect(functools.partial(self._toggle, toggle))
        menu = QMenu(toggle.menu_title, self)
        menu.aboutToShow.connect(fill_menu)
        return action, menu, self._button(action, menu)

    def _toggle(self, toggle: _Toggle, on: bool) -> None:
        self._show_toggle(toggle, on)
        command = self.studio.set_mic_on(on) if toggle is _MIC else self.studio.set_camera_on(on)
        self.bridge.run(command, f"turn the {toggle.noun} " + ("on" if on else "off"))

    def _show_toggle(self, toggle: _Toggle, on: bool) -> None:
        """Words, icon, colour and tooltip that say unmistakably whether it is on."""
        action, button = (
            (self.mic_action, self.mic_button) if toggle is _MIC
            else (self.camera_action, self.camera_button)
        )  # fmt: skip
        action.setText(toggle.on_text if on else toggle.off_text)
        action.setIcon(theme.icon(toggle.icon if on else f"{toggle.icon}-off"))
        theme.set_tone(button, "" if on else "danger")
        self._describe(action, button, toggle.on_tip if on else toggle.off_tip)
        if toggle is _MIC:
            self.meter.set_muted(not on)

    def _fill_camera_menu(self) -> None:
        self.camera_menu.clear()
        for label in self.list_cameras():
            self.camera_menu.addAction(label, functools.partial(self.pick_camera, label))

    def _fill_mic_menu(self) -> None:
        self.mic_menu.clear()
        for label in self.list_microphones():
            text = label
            if label == SYSTEM_DEFAULT_MIC and (now := self.default_microphone()):
                text = f"{label} (now {now})"
            action = self.mic_menu.addAction(text, functools.partial(self.pick_mic, label))
            action.setCheckable(True)
            action.setChecked(label == self.mic_label)

    def _fill_speaker_menu(self) -> None:
        self.speaker_menu.clear()
        for name in ["System default", *self.list_speakers()]:
            device = "" if name == "System default" else name
            self.speaker_menu.addAction(name, functools.partial(self.pick_speaker, device, name))

    def pick_speaker(self, device: str, name: str) -> None:
        """Play guests on ``device`` ('' = the system default)."""
        self.bridge.run(self.studio.set_speaker(device), f"play guests on {name}")

    def pick_camera(self, label: str) -> None:
        """Switch to the camera the menu names ``label``."""
        camera = self._open_picked("camera", label, self.list_cameras(),
                                   "Pick another camera from the Camera menu.")  # fmt: skip
        if camera is None:
            return
        self.notice_cleared.emit("camera")
        self.watch_source(camera)
        self.camera_changed.emit(camera)
        self.bridge.run(self.studio.switch_camera(camera), f"switch to {label}")

    def pick_mic(self, label: str) -> None:
        """Switch to the microphone the menu names ``label``."""
        mic = self._open_picked("microphone", label, self.list_microphones(),
                                "Pick another microphone from the Mic menu.")  # fmt: skip
        if mic is None:
            return
        self.notice_cleared.emit("microphone")
        self.mic_label = label
        self.watch_mic(mic)
        self.watch_source(mic)
        self.bridge.run(self.studio.switch_microphone(mic), f"switch to {label}")

    def _open_picked(
        self, kind: str, label: str, offered: Mapping[str, Callable[[], Any]], step: str
    ) -> Any:
        """Open the ``kind`` device the menu names ``label``; when it is gone or will not
        open, say so (with ``step``) and return None."""
        opened = open_offered(offered, label)
        if opened.gone:
            self._say(kind, Severity.ERROR, f"{label} is no longer connected.", step)
        elif opened.device is None:
            self._say(kind, Severity.ERROR, f"Could not open {label}: {opened.detail}.", step)
        return opened.device

    def fall_back_mic(self) -> str:
        """The microphone in use is gone: switch to the system default, else the test tone.

        Returns:
            The label now in use.
        """
        offered = self.list_microphones()
        for label in (SYSTEM_DEFAULT_MIC, SYNTHETIC_MIC):
            if label in offered:
                self.pick_mic(label)
                if self.mic_label == label:
                    return label
        return self.mic_label

    def watch_mic(self, mic: AudioCaptureSource | None) -> None:
        """Meter this microphone."""
        self._meter_tap.follow(mic)

    def tick(self) -> None:
        """Read the meter's blocks (each display tick)."""
        if self._meter_tap.following:
            for samples in self._meter_tap.blocks():
                self.meter.feed(samples)
            self.meter.refresh()

    def watch_source(self, source: VideoCaptureSource | AudioCaptureSource) -> None:
        """Say so when a device fails (unplugged camera, closed window)."""
        name = source.name

        def on_event(event: SourceEvent) -> None:  # on the capture thread
            if event.state is SourceState.FAILED and event.error is not None:
                self._watcher.failed.emit(name, str(event.error))

        source.add_listener(on_event)

    def _on_source_failed(self, name: str, message: str) -> None:
        screen = self.studio.screen
        if self.sharing_label and screen is not None and screen.name == name:
            self._say("share", Severity.ERROR, message, "Share another screen or window.")
            self.stop_share()
        else:
            self._say(f"device:{name}", Severity.ERROR, message,
                      "Pick another device from its menu.")  # fmt: skip

    # -- sharing -----------------------------------------------------------------------------

    def _fill_share_menu(self) -> None:
        """Screens, then the windows open right now, then "Stop sharing" while sharing."""
        menu = self.share_menu
        menu.clear()
        menu.addSection("Screens")
        screens = self.list_screens()
        for label in screens:
            menu.addAction(label, functools.partial(self.share, label))
        if self.list_windows is not None:
            menu.addSection("Windows")
            try:
                windows = self.list_windows()
            except MediaError as error:
                windows = {}
                menu.addAction(f"Windows cannot be listed: {error.detail}").setEnabled(False)
            for label in windows:
                menu.addAction(label, functools.partial(self.share, label, window=True))
            if not windows:
                menu.addAction("No other windows are open").setEnabled(False)
        if self.sharing_label:
            menu.addSeparator()
            menu.addAction(f"Stop sharing {self.sharing_label}", self.stop_share)

    def _share_pressed(self) -> None:
        # The button itself: share the screen picked last time (or the first), or stop.
        if self.sharing_label:
            self.stop_share()
            return
        screens = self.list_screens()
        if not screens:
            self._say("share", Severity.ERROR, "There is no screen to share on this computer.")
            return
        label = self.studio.settings.screen
        if label not in screens:
            label = next(iter(screens))
        self.share(label)

    def share(self, label: str, window: bool = False) -> None:
        """Share a screen or window (switching from what is shared now, if anything)."""
        listed = self.list_windows() if window and self.list_windows else self.list_screens()
        # MediaError and friends (a window gone, a driver's own error): say so, keep going.
        opened = open_offered(listed, label, catching=Exception)
        if opened.gone:
            self._say("share", Severity.ERROR, f"{label} is no longer there.",
                      "Open the Share menu and pick again.")  # fmt: skip
            return
        screen = opened.device
        if screen is None:
            self._say("share", Severity.ERROR, f"Could not share {label}: {opened.detail}.",
                      "Pick another screen or window from the Share menu.")  # fmt: skip
            return
        self.notice_cleared.emit("share")
        self.watch_source(screen)
        self.sharing_label = label
        if not window:
            self.studio.choose_screen(label)
        self._show_share()
        self.share_changed.emit(screen, label)
        self.bridge.run(self.studio.share_screen(screen), f"share {label}")

    def stop_share(self) -> None:
        """Stop the screen share."""
        was_sharing, self.sharing_label = bool(self.sharing_label), ""
        self._show_share()
        self.share_changed.emit(None, "")
        if was_sharing:
            self.bridge.run(self.studio.stop_sharing(), "stop sharing")

    def _show_share(self) -> None:
        on = bool(self.sharing_label)
        self.share_action.setText("Stop sharing" if on else "Share screen")
        theme.set_tone(self.share_button, "active" if on else "")
        self._describe(
            self.share_action,
            self.share_button,
            f"You are sharing {self.sharing_label}; press to stop"
            if on
            else "Share a screen (the arrow lists screens and windows)",
        )

    # -- recording ---------------------------------------------------------------------------

    def _fill_record_menu(self) -> None:
        menu = self.record_menu
        menu.clear()
        folder = self.studio.settings.recording_dir()
        places = [(RecordingPlace.LOCAL, f"On this computer ({folder})")]
        if self.studio.can_record_in_cloud:
            places += [(RecordingPlace.CLOUD, "In the cloud (the platform records the room)"),
                       (RecordingPlace.BOTH, "Both (a local safety copy)")]  # fmt: skip
        for place, text in places:
            action = menu.addAction(text, functools.partial(self._set_place, place))
            action.setCheckable(True)
            action.setChecked(place is self.record_place)
        if not self.studio.can_record_in_cloud:
            menu.addAction("Cloud recording needs the platform backend").setEnabled(False)
        menu.addSeparator()
        # HLS of the program into the recording folder (serve it and players follow it live).
        hls = next((o for o in self.bridge.state.direct_outputs if o.output_id == "hls"), None)
        if hls is not None and hls.phase in (OutputPhase.CONNECTING, OutputPhase.LIVE):
            menu.addAction("Stop HLS", self.stop_hls)
        else:
            menu.addAction("Write HLS to the folder", self.start_hls)
        menu.addAction("Choose folder…", self.choose_folder)

    def start_hls(self) -> None:
        """Write the program as HLS into the recording folder."""
        self.bridge.run(self.studio.start_hls(), "write HLS")

    def stop_hls(self) -> None:
        """End the HLS output (its playlist is closed)."""
        self.bridge.run(self.studio.stop_hls(), "stop HLS")

    def _set_place(self, place: RecordingPlace) -> None:
        self.record_place = place

    def choose_folder(self) -> None:
        """Ask for the recording folder (a non-blocking dialog)."""
        dialog = QFileDialog(self, "Record into folder", str(self.studio.settings.recording_dir()))
        dialog.setObjectName("RecordingFolder")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        dialog.fileSelected.connect(self.set_folder)
        dialog.open()
        self.folder_dialog = dialog

    def set_folder(self, folder: str) -> None:
        """Record into ``folder`` from now on."""
        if folder:
            self.studio.set_recording_folder(str(Path(folder)))
            self._say("recording-folder", Severity.INFO, f"Recordings go to {folder}.")

    def is_recording(self, state: RoomState) -> bool:
        """Whether a local or cloud recording runs (or is starting)."""
        local = next((s for s in state.direct_outputs if s.output_id == "recording"), None)
        local_on = local is not None and local.phase in (
            OutputPhase.CONNECTING, OutputPhase.LIVE, OutputPhase.RETRYING)  # fmt: skip
        return local_on or state.is_recording

    def _record_pressed(self) -> None:
        if self.is_recording(self.bridge.state):
            self.bridge.run(self.studio.stop_recording(), "stop recording")
        else:
            self.notice_cleared.emit("recording")
            self.bridge.run(self.studio.start_recording(place=self.record_place), "start recording")

    # -- live and end ------------------------------------------------------------------------

    def _live_pressed(self) -> None:
        if self.bridge.state.is_live:
            ask(self, "End the broadcast?",
                "Stop sending to every destination? Viewers on YouTube, Twitch and the others "
                "will see the stream end.", "End broadcast",
                lambda: self.bridge.run(self.studio.end_live(), "end the broadcast"),
                detail="The room, guests and recording carry on.")  # fmt: skip
            return
        if self.going_live:
            return
        self.going_live = True
        self.live_action.setText("Checking…")
        task = self.bridge.run(self.studio.go_live(), "go live")

        def report(_: object) -> None:
            self.going_live = False
            self.show_state(self.bridge.state)
            if task.cancelled() or task.exception() is not None:
                return
            problems: dict[str, str] = task.result()
            names = {d.id: d.name for d in self.studio.settings.destinations}
            for destination_id, problem in problems.items():
                name = names.get(destination_id, destination_id)
                self._say(f"destination:{destination_id}", Severity.ERROR,
                          f"{name} did not start: {problem}",
                          f"Fix {name} in Outputs (URL and stream key), then switch it off and "
                          "on again.")  # fmt: skip
            if not self.bridge.state.is_live and not problems:
                self._say("go-live", Severity.WARNING, "No destination is switched on.",
                          "Switch one on in the Outputs tab and set its stream key.")  # fmt: skip
            elif self.bridge.state.is_live:
                self.notice_cleared.emit("go-live")

        task.add_done_callback(report)

    def ask_end_stream(self) -> None:
        """Ask, then end the stream for everyone."""
        if self.bridge.state.ended:
            return
        ask(self, "End the stream for everyone?",
            "End the stream? Every guest leaves the room, every destination stops and the "
            "recording is finished.", "End stream for everyone", self.end_stream,
            detail="This cannot be undone.")  # fmt: skip

    def end_stream(self) -> None:
        """End the stream now (no question)."""

        async def end() -> None:
            summary = await self.studio.end_stream()
            self.stop_share()
            self.stream_ended.emit(summary)

        self.bridge.run(end(), "end the stream")

    # -- state -------------------------------------------------------------------------------

    def show_state(self, state: RoomState) -> None:
        """Buttons follow the session state (not their own clicks)."""
        recording = self.is_recording(state)
        self.record_action.setText("Stop recording" if recording else "Record")
        theme.set_tone(self.record_button, "recording" if recording else "")
        self._describe(
            self.record_action,
            self.record_button,
            "Recording; press to stop (the file is closed cleanly)"
            if recording
            else "Record the program (the arrow picks where and the folder)",
        )
        live = state.is_live
        if not self.going_live:
            self.live_action.setText("Live — End" if live else "Go Live")
        theme.set_tone(self.live_button, "live" if live else "primary")
        self._describe(
            self.live_action,
            self.live_button,
            "You are live; press to end the broadcast (asks first)"
            if live
            else "Check, then start every destination switched on in Outputs",
        )
        for action in (self.mic_action, self.camera_action, self.share_action,
                       self.record_action, self.live_action, self.end_action):  # fmt: skip
            action.setEnabled(not state.ended)

    def close_sources(self) -> None:
        """Stop metering (the window closes)."""
        self.watch_mic(None)

    def factories(self) -> dict[str, Any]:
        """The device listers (for Setup when it is reopened)."""
        return {"cameras": self.list_cameras, "microphones": self.list_microphones,
                "screens": self.list_screens}  # fmt: skip
