"""The studio window: header, stage of tiles, control bar, side panels, end-of-stream summary.

Everything shown comes from the room state through the bridge; every click becomes a
:class:`~desktop.session.studio.Studio` command run through the bridge, whose failures appear
in the banner as a sentence with the next step.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop import __version__
from desktop.media.base import (
    AudioCaptureSource,
    SourceEvent,
    SourceState,
    VideoCaptureSource,
)
from desktop.media.errors import MediaError
from desktop.media.fanout import FrameQueue
from desktop.media.frames import AudioFrame
from desktop.media.meter import SILENCE_DBFS, LevelMeter
from desktop.session.state import ConnectionState, ParticipantState, RoomState, Source, TrackState
from desktop.session.studio import StreamSummary, Studio
from desktop.ui.bridge import StateBridge
from desktop.ui.panels import ChatPanel, OutputsPanel, ParticipantsPanel, StatsPanel
from desktop.ui.tile import VideoTile
from desktop.ui.words import disconnect_reason_text

TILE_TICK_MS = 16
"""Tiles look for a new frame at about the display rate (60 Hz)."""
CLOCK_TICK_MS = 1000

SHORTCUTS = {
    "mic": "Ctrl+D",
    "camera": "Ctrl+E",
    "share": "Ctrl+Shift+S",
    "live": "Ctrl+Shift+L",
    "record": "Ctrl+Shift+R",
}
"""Keyboard shortcuts (the same as the common meeting apps where they exist)."""


def _elapsed(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


VideoFactory = Callable[[], VideoCaptureSource]
"""Opens a video source when called (raises MediaError when it cannot)."""


class _SourceWatcher(QObject):
    """Carries a device failure from its capture thread to the window's (a queued signal)."""

    failed = Signal(str, str)
    """(source name, the error in words)."""


class StudioWindow(QMainWindow):
    """The host's studio.

    Args:
        studio: The session-side studio (commands and state).
        screens: Screen sources the share menu offers, by label (opened on demand).
        windows: Lists the windows the share menu offers, each time the menu opens (they come
            and go); None where single windows cannot be shared.
        cameras: Camera sources the camera menu offers, by label.
        microphones: Microphone sources the mic menu offers, by label.
        speakers: Output device names for guests' audio.
        notes: Device notes to show at start (a device replaced by its twin…).
    """

    def __init__(
        self,
        studio: Studio,
        screens: dict[str, VideoFactory] | None = None,
        cameras: dict[str, VideoFactory] | None = None,
        microphones: dict[str, Callable[[], AudioCaptureSource]] | None = None,
        speakers: list[str] | None = None,
        notes: list[str] | None = None,
        windows: Callable[[], dict[str, VideoFactory]] | None = None,
    ) -> None:
        super().__init__()
        self.studio = studio
        self.bridge = StateBridge(studio.store, self)
        self._watcher = _SourceWatcher(self)
        self._watcher.failed.connect(self._on_source_failed)
        self.screens = screens or {}
        self.windows = windows
        self.sharing_label = ""
        """What is being shared now ("" when nothing)."""
        self.cameras = cameras or {}
        self.microphones = microphones or {}
        self.speakers = speakers or []
        self.summary: StreamSummary | None = None
        self.setWindowTitle(f"Spaces Broadcaster {__version__}")
        self.setAccessibleName("Spaces Broadcaster studio")
        self.resize(1280, 800)

        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.addLayout(self._build_header(central))
        self.banner = QLabel(central)
        self.banner.setWordWrap(True)
        self.banner.setAccessibleName("Message")
        self.banner.setToolTip("The latest problem and what to do about it")
        self.banner.setStyleSheet("background:#5b1d1d;color:white;padding:6px;border-radius:4px")
        self.banner.hide()
        outer.addWidget(self.banner)
        splitter = QSplitter(Qt.Orientation.Horizontal, central)
        self.stage = QWidget(splitter)
        self.stage.setAccessibleName("Stage")
        self.grid = QGridLayout(self.stage)
        self.grid.setSpacing(6)
        self.side = QTabWidget(splitter)
        self.side.setAccessibleName("Side panels")
        self.participants = ParticipantsPanel(studio, self.bridge)
        self.chat = ChatPanel(studio, self.bridge)
        self.outputs = OutputsPanel(studio, self.bridge)
        self.stats = StatsPanel(studio, self.bridge)
        self.side.addTab(self.participants, "People")
        self.side.addTab(self.chat, "Chat")
        self.side.addTab(self.outputs, "Outputs")
        self.side.addTab(self.stats, "Stats")
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        outer.addWidget(splitter, stretch=1)
        outer.addLayout(self._build_controls(central))
        self.setCentralWidget(central)
        self._build_menu()

        self.own_tile = VideoTile(ParticipantState("host", "You"), Source.CAMERA)
        self.own_tile.set_local_source(studio.camera)
        self.screen_tile: VideoTile | None = None
        self.tiles: dict[str, VideoTile] = {}
        self._level = LevelMeter()
        self._meter_mic: AudioCaptureSource | None = None
        self._meter_queue: FrameQueue[AudioFrame] | None = None
        self._watch_mic(studio.mic)
        for device in (studio.camera, studio.mic):
            if device is not None:
                self._watch_source(device)
        self._tile_timer = QTimer(self)
        self._tile_timer.setInterval(TILE_TICK_MS)
        self._tile_timer.timeout.connect(self._tick_tiles)
        self._tile_timer.start()
        self._clock = QTimer(self)
        self._clock.setInterval(CLOCK_TICK_MS)
        self._clock.timeout.connect(self._tick_clock)
        self._clock.start()
        self.bridge.changed.connect(self._on_state)
        self.bridge.error.connect(self.show_error)
        self._reflow()
        self._on_state(studio.store.state, studio.store.state)
        if notes:
            self.show_error("\n".join(notes))  # every device note at once, not just the last

    # -- building ----------------------------------------------------------------------------

    def _build_header(self, parent: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        self.room_label = QLabel("", parent)
        self.room_label.setAccessibleName("Room")
        self.room_label.setToolTip("The room you are in")
        self.room_label.setStyleSheet("font-weight:bold;font-size:15px")
        self.live_badge = QLabel("LIVE 0:00:00", parent)
        self.live_badge.setAccessibleName("Live")
        self.live_badge.setToolTip("You are live; time since Go Live")
        self.live_badge.setStyleSheet("background:#e5484d;color:white;padding:2px 6px")
        self.rec_badge = QLabel("REC", parent)
        self.rec_badge.setAccessibleName("Recording")
        self.rec_badge.setToolTip("Recording")
        self.rec_badge.setStyleSheet("color:#e5484d;font-weight:bold")
        self.counts = QLabel("", parent)
        self.counts.setAccessibleName("Participant counts")
        self.counts.setToolTip("People in the room, and how many publish")
        self.connection = QLabel("", parent)
        self.connection.setAccessibleName("Connection")
        self.connection.setToolTip("Connection to the room and its quality")
        self.reconnect = QPushButton("Reconnect now", parent)
        self.reconnect.setAccessibleName("Reconnect now")
        self.reconnect.setToolTip("Leave and join the room again")
        self.reconnect.clicked.connect(
            lambda: self.bridge.run(self.studio.reconnect_now(), "reconnect")
        )
        for widget in (self.room_label, self.live_badge, self.rec_badge):
            row.addWidget(widget)
        row.addStretch(1)
        for right in (self.counts, self.connection, self.reconnect):
            row.addWidget(right)
        return row

    def _tool(self, text: str, tip: str, key: str | None, parent: QWidget) -> QToolButton:
        button = QToolButton(parent)
        button.setText(text)
        button.setAccessibleName(text)
        if key:
            button.setShortcut(QKeySequence(key))
            tip = f"{tip} ({key})"
        button.setToolTip(tip)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        button.setMinimumWidth(96)
        return button

    def _build_controls(self, parent: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        self.mic_button = self._tool("Mic", "Microphone on/off", SHORTCUTS["mic"], parent)
        self.mic_button.setCheckable(True)
        self.mic_button.setChecked(self.studio.mic_on)
        self.mic_button.toggled.connect(self._toggle_mic)
        self.mic_menu = QMenu("Microphone", self)
        for label in self.microphones:
            self.mic_menu.addAction(label, functools.partial(self._pick_mic, label))
        self.mic_button.setMenu(self.mic_menu)
        self.mic_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.meter = QProgressBar(parent)
        self.meter.setRange(int(SILENCE_DBFS), 0)
        self.meter.setTextVisible(False)
        self.meter.setMaximumWidth(90)
        self.meter.setAccessibleName("Microphone level")
        self.meter.setToolTip("How loud your microphone is")
        self.camera_button = self._tool("Camera", "Camera on/off", SHORTCUTS["camera"], parent)
        self.camera_button.setCheckable(True)
        self.camera_button.setChecked(self.studio.camera_on)
        self.camera_button.toggled.connect(self._toggle_camera)
        self.camera_menu = QMenu("Camera", self)
        for label in self.cameras:
            self.camera_menu.addAction(label, functools.partial(self._pick_camera, label))
        self.camera_button.setMenu(self.camera_menu)
        self.camera_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.speaker_button = self._tool("Speaker", "Where guests' voices play", None, parent)
        speaker_menu = QMenu("Speaker", self)
        for name in ["System default", *self.speakers]:
            device = "" if name == "System default" else name
            speaker_menu.addAction(
                name,
                functools.partial(
                    lambda d, n: self.bridge.run(self.studio.set_speaker(d), f"play on {n}"),
                    device, name,
                ),
            )  # fmt: skip
        self.speaker_button.setMenu(speaker_menu)
        self.speaker_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.share_button = self._tool(
            "Share screen", "Share a screen; press again to stop", SHORTCUTS["share"], parent
        )
        self.share_button.setCheckable(True)
        self.share_button.toggled.connect(self._toggle_share)
        self.share_menu = QMenu("Share", self)
        self.share_menu.aboutToShow.connect(self._fill_share_menu)
        self._fill_share_menu()
        self.share_button.setMenu(self.share_menu)
        self.share_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.record_button = self._tool(
            "Record", "Record the program to a file", SHORTCUTS["record"], parent
        )
        self.record_button.setCheckable(True)
        self.record_button.toggled.connect(self._toggle_record)
        self.live_button = self._tool(
            "Go Live", "Start every destination switched on in Outputs", SHORTCUTS["live"], parent
        )
        self.live_button.setCheckable(True)
        self.live_button.toggled.connect(self._toggle_live)
        self.end_button = self._tool("End stream", "End the stream and see the summary", None,
                                     parent)  # fmt: skip
        self.end_button.clicked.connect(self._end_stream)
        for widget in (self.mic_button, self.meter, self.camera_button, self.speaker_button,
                       self.share_button, self.record_button, self.live_button):  # fmt: skip
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.end_button)
        return row

    def _build_menu(self) -> None:
        help_menu = self.menuBar().addMenu("&Help")
        self.about_action = QAction("&About Spaces Broadcaster", self)
        self.about_action.triggered.connect(
            lambda: QMessageBox.about(self, "About", f"Spaces Broadcaster {__version__}")
        )
        help_menu.addAction(self.about_action)

    # -- state → widgets ---------------------------------------------------------------------

    def _on_state(self, old: RoomState, new: RoomState) -> None:
        self.room_label.setText(new.room_name or "Local studio")
        self.live_badge.setVisible(new.is_live)
        self.rec_badge.setVisible(
            new.is_recording
            or any(
                s.output_id == "recording" and s.phase.value == "live" for s in new.direct_outputs
            )  # fmt: skip
        )
        self.counts.setText(f"{new.participant_count} in room · {new.publisher_count} publishing")
        self._show_connection(new)
        if new.local is not None:
            self.own_tile.set_participant(
                ParticipantState(
                    new.local.identity,
                    "You",
                    tracks=new.local.tracks,
                    quality=new.local.quality,
                    is_speaking=new.local.is_speaking,
                )  # fmt: skip
            )
        if old.remotes != new.remotes or not self.tiles and new.remotes:
            self._sync_tiles(new)
        self.live_button.blockSignals(True)
        self.live_button.setChecked(new.is_live)
        self.live_button.setText("Live" if new.is_live else "Go Live")
        self.live_button.blockSignals(False)

    def _show_connection(self, state: RoomState) -> None:
        c = state.connection
        own = (
            state.local.quality.name.lower()
            if state.local and c is ConnectionState.CONNECTED
            else ""
        )
        words = {
            ConnectionState.IDLE: "Local studio (no server)",
            ConnectionState.CONNECTING: "Connecting…",
            ConnectionState.CONNECTED: "Connected"
            + (f" · {own}" if own not in ("", "unknown") else ""),
            ConnectionState.RECONNECTING: "Reconnecting… (your stream continues locally)",
            ConnectionState.DISCONNECTED: "Disconnected: "
            + disconnect_reason_text(state.disconnect_reason),
            ConnectionState.FAILED: f"Could not connect: {state.error}",
        }[c]
        self.connection.setText(words)
        self.reconnect.setVisible(
            c
            in (ConnectionState.RECONNECTING, ConnectionState.DISCONNECTED, ConnectionState.FAILED)
            and self.studio.settings.connect_mode != "local"
        )

    def _sync_tiles(self, state: RoomState) -> None:
        for identity in list(self.tiles):
            if identity not in state.remotes:
                tile = self.tiles.pop(identity)
                video = tile.remote_video
                if video is not None:
                    self.bridge.run(video.aclose(), "close a guest's video")
                tile.setParent(None)
                tile.deleteLater()
        for identity, person in state.remotes.items():
            existing = self.tiles.get(identity)
            if existing is None:
                tile = VideoTile(person, Source.CAMERA, self.stage)
                self.tiles[identity] = tile
            else:
                tile = existing
            tile.set_participant(person)
            camera = person.track(Source.CAMERA)
            if tile.remote_video is None and camera is not None and camera.subscribed:
                tile.set_remote_video(
                    self.studio.open_video(identity, Source.CAMERA, max(tile.height(), 180))
                )
        self._reflow()

    def _reflow(self) -> None:
        """Own tile, screen share, then guests in a grid that grows with the count."""
        while self.grid.count():
            self.grid.takeAt(0)
        tiles: list[QWidget] = [self.own_tile]
        if self.screen_tile is not None:
            tiles.append(self.screen_tile)
        tiles += [self.tiles[k] for k in sorted(self.tiles)]
        columns = max(1, math.ceil(math.sqrt(len(tiles))))
        for index, tile in enumerate(tiles):
            tile.setParent(self.stage)
            self.grid.addWidget(tile, index // columns, index % columns)
            tile.show()

    def _tick_tiles(self) -> None:
        self.own_tile.tick()
        if self.screen_tile is not None:
            self.screen_tile.tick()
        for tile in self.tiles.values():
            tile.tick()
        if self._meter_queue is not None:
            while (block := self._meter_queue.get_nowait()) is not None:
                self._level.update(block.data)
            self.meter.setValue(int(self._level.peak_hold_dbfs))

    def _watch_mic(self, mic: AudioCaptureSource | None) -> None:
        if self._meter_mic is not None and self._meter_queue is not None:
            self._meter_mic.frames.unsubscribe(self._meter_queue)
        self._meter_mic = mic
        self._meter_queue = mic.frames.subscribe("meter", maxsize=20) if mic else None

    def _tick_clock(self) -> None:
        state = self.bridge.state
        if state.is_live and state.live_since_ms:
            self.live_badge.setText("LIVE " + _elapsed(time.time() - state.live_since_ms / 1000))
        self.outputs.refresh(state)
        self.stats.refresh()

    # -- commands ----------------------------------------------------------------------------

    def show_error(self, text: str) -> None:
        """Show a problem in the banner (the latest one wins; it stays until the next)."""
        self.banner.setText(text)
        self.banner.show()

    def _toggle_mic(self, on: bool) -> None:
        self.mic_button.setText("Mic" if on else "Mic off")
        self.bridge.run(
            self.studio.set_mic_on(on), "turn the microphone " + ("on" if on else "off")
        )

    def _toggle_camera(self, on: bool) -> None:
        self.camera_button.setText("Camera" if on else "Camera off")
        self.bridge.run(self.studio.set_camera_on(on), "turn the camera " + ("on" if on else "off"))

    def _pick_camera(self, label: str) -> None:
        try:
            camera = self.cameras[label]()
        except MediaError as error:
            self.show_error(f"Could not open {label}: {error}. Pick another camera.")
            return
        self._watch_source(camera)
        self.own_tile.set_local_source(camera)
        self.bridge.run(self.studio.switch_camera(camera), f"switch to {label}")

    def _pick_mic(self, label: str) -> None:
        try:
            mic = self.microphones[label]()
        except MediaError as error:
            self.show_error(f"Could not open {label}: {error}. Pick another microphone.")
            return
        self._watch_mic(mic)
        self._watch_source(mic)
        self.bridge.run(self.studio.switch_microphone(mic), f"switch to {label}")

    def _fill_share_menu(self) -> None:
        """Screens, then the windows open right now, then "Stop sharing" while sharing."""
        menu = self.share_menu
        menu.clear()
        menu.addSection("Screens")
        for label, factory in self.screens.items():
            menu.addAction(label, functools.partial(self.share, label, factory))
        if self.windows is not None:
            menu.addSection("Windows")
            try:
                windows = self.windows()
            except MediaError as error:
                windows = {}
                menu.addAction(f"Windows cannot be listed: {error.detail}").setEnabled(False)
            for label, factory in windows.items():
                menu.addAction(label, functools.partial(self.share, label, factory))
            if not windows:
                menu.addAction("No other windows are open").setEnabled(False)
        if self.sharing_label:
            menu.addSeparator()
            menu.addAction(f"Stop sharing {self.sharing_label}", self.stop_share)

    def _toggle_share(self, on: bool) -> None:
        # The button itself: share the screen picked last time (or the first), or stop.
        if not on:
            self.stop_share()
            return
        if self.sharing_label:
            return
        if not self.screens:
            self.show_error("There is no screen to share on this computer.")
            self._set_share_checked(False)
            return
        label = self.studio.settings.screen
        if label not in self.screens:
            label = next(iter(self.screens))
        self.share(label, self.screens[label])

    def _set_share_checked(self, on: bool) -> None:
        self.share_button.blockSignals(True)
        self.share_button.setChecked(on)
        self.share_button.blockSignals(False)
        self.share_button.setText("Stop sharing" if on else "Share screen")

    def share(self, label: str, factory: VideoFactory) -> None:
        """Share a screen or window (switching from what is shared now, if anything)."""
        try:
            screen = factory()
        except Exception as error:  # MediaError and friends: say so, keep going
            self.show_error(f"Could not share {label}: {error}")
            self._set_share_checked(bool(self.sharing_label))
            return
        self._watch_source(screen)
        if self.screen_tile is None:
            self.screen_tile = VideoTile(ParticipantState("host", "You"), Source.SCREEN, self.stage)
            self.screen_tile.set_participant(
                ParticipantState("host", "You", tracks=(_screen_track(),))
            )
        self.screen_tile.set_local_source(screen)
        self.screen_tile.setToolTip(f"You are sharing {label}")
        self.sharing_label = label
        if label in self.screens:
            self.studio.settings.screen = label
        self._set_share_checked(True)
        self.bridge.run(self.studio.share_screen(screen), f"share {label}")
        self._reflow()

    def stop_share(self) -> None:
        """Stop the screen share."""
        if self.screen_tile is not None:
            self.screen_tile.set_local_source(None)
            self.screen_tile.setParent(None)
            self.screen_tile.deleteLater()
            self.screen_tile = None
        was_sharing, self.sharing_label = bool(self.sharing_label), ""
        self._set_share_checked(False)
        if was_sharing:
            self.bridge.run(self.studio.stop_sharing(), "stop sharing")
        self._reflow()

    def _watch_source(self, source: VideoCaptureSource | AudioCaptureSource) -> None:
        """Say so in the banner when a device fails (unplugged camera, closed window)."""
        name = source.name

        def on_event(event: SourceEvent) -> None:  # on the capture thread
            if event.state is SourceState.FAILED and event.error is not None:
                self._watcher.failed.emit(name, str(event.error))

        source.add_listener(on_event)

    def _on_source_failed(self, name: str, message: str) -> None:
        self.show_error(message)
        screen = self.studio.screen
        if self.sharing_label and screen is not None and screen.name == name:
            self.stop_share()

    def _toggle_record(self, on: bool) -> None:
        self.record_button.setText("Stop recording" if on else "Record")
        if on:
            self.bridge.run(self.studio.start_recording(), "start recording")
        else:
            self.bridge.run(self.studio.stop_recording(), "stop recording")

    def _toggle_live(self, on: bool) -> None:
        if on:
            task = self.bridge.run(self.studio.go_live(), "go live")

            def report(finished: object) -> None:
                if task.cancelled() or task.exception() is not None:
                    return
                problems: dict[str, str] = task.result()
                for destination_id, problem in problems.items():
                    self.show_error(f"{destination_id} did not start: {problem}")
                if not self.bridge.state.is_live and not problems:
                    self.show_error(
                        "No destination is switched on: switch one on in Outputs and set its key."
                    )
                    self._on_state(self.bridge.state, self.bridge.state)

            task.add_done_callback(report)
        else:
            self.bridge.run(self.studio.end_live(), "end the live stream")

    def _end_stream(self) -> None:
        async def end() -> None:
            self.summary = await self.studio.end_stream()
            self.show_summary(self.summary)

        self.bridge.run(end(), "end the stream")

    def show_summary(self, summary: StreamSummary) -> QDialog:
        """The end-of-stream dialog (non-modal, so tests and the host can read it)."""
        dialog = QDialog(self)
        dialog.setWindowTitle("Stream summary")
        dialog.setAccessibleName("Stream summary")
        layout = QVBoxLayout(dialog)
        lines = [
            f"Duration: {_elapsed(summary.duration_s)}",
            f"Peak participants: {summary.peak_participants}",
            f"Peak publishers: {summary.peak_publishers}",
        ]
        lines += [f"Recording: {r}" for r in summary.recordings] or ["Recording: none"]
        revenue = summary.revenue
        if revenue:
            lines += [
                f"Revenue multiplier: ×{revenue.get('revenueMultiplier', 0):.2f}",
                f"Duration bonus: {revenue.get('durationBonus', 0):.2f}",
                f"Platform commission (20 %): {revenue.get('platformCommission', 0):.2f}",
                f"Your share: {revenue.get('creatorRevenue', 0):.2f}",
            ]
        self.summary_label = QLabel("\n".join(lines), dialog)
        self.summary_label.setAccessibleName("Summary figures")
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
        buttons.rejected.connect(dialog.close)
        layout.addWidget(buttons)
        dialog.show()
        return dialog

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        """Stop the timers; the app closes the studio (recordings are finished cleanly)."""
        self._tile_timer.stop()
        self._clock.stop()
        self.bridge.close()
        self.own_tile.set_local_source(None)
        if self.screen_tile is not None:
            self.screen_tile.set_local_source(None)
        self._watch_mic(None)
        super().closeEvent(event)


def _screen_track() -> TrackState:
    return TrackState("local-screen", Source.SCREEN, True)
