"""The studio window: header, notices, stage, side panels, control bar, and the summary.

The window only assembles widgets and routes between them. Everything shown comes from the
session's state through the bridge; every click becomes a
:class:`~desktop.session.studio.Studio` command run through the bridge, whose failures appear
in the notice stack as a sentence with the next step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop import __version__
from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.session.settings import ConnectMode
from desktop.session.state import ConnectionState, RoomState
from desktop.session.studio import StreamSummary, Studio
from desktop.ui.bridge import StateBridge
from desktop.ui.chat_panel import ChatPanel
from desktop.ui.confirm import ask
from desktop.ui.control_bar_widget import SHORTCUTS, ControlBarWidget
from desktop.ui.devices import AudioFactory, VideoFactory
from desktop.ui.header_widget import HeaderWidget
from desktop.ui.hotkeys import Hotkeys
from desktop.ui.hotplug import HotplugCheck
from desktop.ui.moderation_log_widget import ModerationLogWidget
from desktop.ui.notice_widget import Notice, NoticeStackWidget, Severity
from desktop.ui.outputs_panel import OutputsPanel
from desktop.ui.participants_panel import ParticipantsPanel
from desktop.ui.program_widget import ProgramWidget
from desktop.ui.rehearsal_widget import RehearsalWidget
from desktop.ui.stage_widget import StageWidget
from desktop.ui.state_notices import post_state_notices
from desktop.ui.stats_panel import StatsPanel
from desktop.ui.summary_widget import SummaryWidget

__all__ = ["SHORTCUTS", "StudioWindow"]

TILE_TICK_MS = 16
"""Tiles look for a new frame at about the display rate (60 Hz)."""
CLOCK_TICK_MS = 1000
HOTPLUG_POLL_MS = 3000
"""How often device lists are compared with what is plugged in."""


def _lister(value: Any, empty: Any) -> Callable[[], Any]:
    """A device list given as a value or as a callable, as a callable."""
    if value is None:
        return lambda: empty
    if callable(value):
        return value  # type: ignore[no-any-return]
    return lambda: value


class StudioWindow(QMainWindow):
    """The host's studio.

    Args:
        studio: The session-side studio (commands and state).
        screens: Screens the share menu offers, by label (a dict, or a callable listing them).
        cameras: Cameras the camera menu offers, by label (dict or callable; re-listed when
            the menu opens, so a camera plugged in later appears).
        microphones: Microphones, by label (dict or callable).
        speakers: Output device names for guests' audio (list or callable).
        notes: Device notes to show at start (a device replaced by its twin…).
        windows: Lists the windows the share menu offers, each time the menu opens; None where
            single windows cannot be shared.
        open_settings: Opens Setup again (File ▸ Settings); None hides the entry.
        default_microphone: Names the system's default microphone now ('' when unknown), so
            "System default microphone" can say which one it follows.
    """

    def __init__(
        self,
        studio: Studio,
        screens: dict[str, VideoFactory] | Callable[[], dict[str, VideoFactory]] | None = None,
        cameras: dict[str, VideoFactory] | Callable[[], dict[str, VideoFactory]] | None = None,
        microphones: dict[str, AudioFactory] | Callable[[], dict[str, AudioFactory]] | None = None,
        speakers: list[str] | Callable[[], list[str]] | None = None,
        notes: list[str] | None = None,
        windows: Callable[[], dict[str, VideoFactory]] | None = None,
        open_settings: Callable[[StudioWindow], object] | None = None,
        default_microphone: Callable[[], str] | None = None,
    ) -> None:
        super().__init__()
        self.studio = studio
        self.bridge = StateBridge(studio.store, self)
        self.summary: StreamSummary | None = None
        self.summary_widget: SummaryWidget | None = None
        self._close_confirmed = False
        self._open_settings = open_settings
        self.setWindowTitle(f"Spaces Broadcaster {__version__}")
        self.setAccessibleName("Spaces Broadcaster studio")
        self.resize(1280, 800)

        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        self.header = HeaderWidget(central)
        self.header.local_mode = studio.settings.connect_mode is ConnectMode.LOCAL
        self.header.reconnect_requested.connect(
            lambda: self.bridge.run(self.studio.reconnect_now(), "reconnect")
        )
        outer.addWidget(self.header)
        self.notices = NoticeStackWidget(central)
        self.notices.setContentsMargins(8, 6, 8, 0)
        outer.addWidget(self.notices)
        splitter = QSplitter(Qt.Orientation.Horizontal, central)
        self.stage = StageWidget(studio, self.bridge, splitter)
        # The Program monitor (what viewers see) sits beside the stage (what the room sees).
        self.program = ProgramWidget(studio, self.bridge, splitter)
        self.side = QTabWidget(splitter)
        self.side.setAccessibleName("Side panels")
        self.participants = ParticipantsPanel(studio, self.bridge)
        self.chat = ChatPanel(studio, self.bridge)
        self.hotkeys = Hotkeys(self, studio)
        """Next layout, guest N on or off stage, the banner (Settings ▸ Remote control)."""
        self.outputs = OutputsPanel(studio, self.bridge)
        self.stats = StatsPanel(studio, self.bridge)
        self.moderation_log = ModerationLogWidget(studio, self.bridge)
        self.stats.stage_frames = self.stage.frame_counts
        self.side.addTab(self.participants, "People")
        self.side.addTab(self.chat, "Chat")
        self.side.addTab(self.outputs, "Outputs")
        self.side.addTab(self.stats, "Stats")
        self.side.addTab(self.moderation_log, "Log")
        self.side.currentChanged.connect(self._tab_changed)
        self.chat.unread_changed.connect(self._show_unread)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([700, 460, 360])
        outer.addWidget(splitter, stretch=1)
        self.controls = ControlBarWidget(
            studio, self.bridge,
            cameras=_lister(cameras, {}), microphones=_lister(microphones, {}),
            speakers=_lister(speakers, []), screens=_lister(screens, {}), windows=windows,
            parent=central,
        )  # fmt: skip
        self.rehearsal = RehearsalWidget(studio, self.bridge, central)
        outer.addWidget(self.rehearsal)
        self.controls.notice.connect(self.notices.post)
        self.controls.notice_cleared.connect(self.notices.clear)
        self.controls.camera_changed.connect(self.stage.set_own_source)
        self.controls.share_changed.connect(self.stage.show_share)
        self.controls.stream_ended.connect(self._stream_ended)
        if default_microphone is not None:
            self.controls.default_microphone = default_microphone
        outer.addWidget(self.controls)
        self.setCentralWidget(central)
        self._build_menu()
        self.hotplug = HotplugCheck(studio, self.controls, self.notices)
        """Devices plugged in or out (looked for every few seconds)."""

        self._tile_timer = QTimer(self)
        self._tile_timer.setInterval(TILE_TICK_MS)
        self._tile_timer.timeout.connect(self._tick_tiles)
        self._tile_timer.start()
        self._clock = QTimer(self)
        self._clock.setInterval(CLOCK_TICK_MS)
        self._clock.timeout.connect(self._tick_clock)
        self._clock.start()
        self._hotplug_timer = QTimer(self)
        self._hotplug_timer.setInterval(HOTPLUG_POLL_MS)
        self._hotplug_timer.timeout.connect(self.check_devices)
        self._hotplug_timer.start()
        self.bridge.changed.connect(self._on_state)
        self.bridge.error.connect(self.show_error)
        self.bridge.failure.connect(self._on_failure)
        self._on_state(studio.store.state, studio.store.state)
        for index, note in enumerate(notes or []):
            self.notices.post(Notice(f"note:{index}", Severity.WARNING, note))

    # -- convenience for tests and the app ---------------------------------------------------

    @property
    def own_tile(self) -> Any:
        """The host's own tile."""
        return self.stage.own_tile

    @property
    def tiles(self) -> dict[str, Any]:
        """Guests' tiles by identity."""
        return self.stage.tiles

    @property
    def screen_tile(self) -> Any:
        """The screen share's tile (None when not sharing)."""
        return self.stage.screen_tile

    # -- building ----------------------------------------------------------------------------

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Preferences))
        self.settings_action.triggered.connect(self.open_settings)
        self.settings_action.setEnabled(self._open_settings is not None)
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        self.about_action = QAction("&About Spaces Broadcaster", self)
        self.about_action.triggered.connect(
            lambda: QMessageBox.about(self, "About", f"Spaces Broadcaster {__version__}")
        )
        help_menu.addAction(self.about_action)

    def open_settings(self) -> None:
        """File ▸ Settings: Setup again, with the devices in use."""
        if self._open_settings is not None:
            self._open_settings(self)

    # -- state → widgets ---------------------------------------------------------------------

    def _on_state(self, old: RoomState, new: RoomState) -> None:
        self.header.destination_names = {d.id: d.name for d in self.studio.settings.destinations}
        self.header.show_state(new)
        self.stage.show_state(old, new)
        self.controls.show_state(new)
        self.chat.set_enabled_reason(self._chat_off_reason(new))
        self._notices_from_state(new)

    def _chat_off_reason(self, state: RoomState) -> str:
        """Why chat cannot be used now ('' when it can)."""
        if state.ended:
            return "The stream has ended."
        if self.studio.can_chat:
            return ""
        if state.connection is ConnectionState.IDLE and self.header.local_mode:
            return "Chat needs a room: the local studio has no guests to talk to."
        if state.connection in (ConnectionState.IDLE, ConnectionState.CONNECTING):
            return "Chat opens when the studio has joined the room."
        return "Chat comes back when the studio is in the room again."

    def _notices_from_state(self, state: RoomState) -> None:
        """Notices that stand while their condition does, and go when it clears."""
        names = {d.id: d.name for d in self.studio.settings.destinations}
        post_state_notices(self.notices, state, names)

    def _tick_tiles(self) -> None:
        self.stage.tick()
        self.controls.tick()

    def _tick_clock(self) -> None:
        state = self.bridge.state
        self.header.tick(state)
        self.outputs.refresh(state)
        self.stats.refresh()

    def _tab_changed(self, index: int) -> None:
        self.chat.set_visible_to_host(self.side.widget(index) is self.chat)

    def _show_unread(self, count: int) -> None:
        index = self.side.indexOf(self.chat)
        self.side.setTabText(index, f"Chat ({count})" if count else "Chat")

    # -- devices -----------------------------------------------------------------------------

    def check_devices(self) -> None:
        """Look for devices plugged in or out since last time (hot-plug) and say so.

        The microphone or speaker in use going away falls back to the system default (the
        show goes on) with a notice naming it; the system's default microphone changing is
        followed when the host chose "System default microphone".
        """
        self.hotplug.check()

    # -- commands ----------------------------------------------------------------------------

    def use_camera(self, camera: VideoCaptureSource) -> None:
        """Switch the studio to an already opened camera (after Settings)."""
        self.controls.watch_source(camera)
        self.stage.set_own_source(camera)
        self.bridge.run(self.studio.switch_camera(camera), f"switch to {camera.name}")

    def use_mic(self, mic: AudioCaptureSource, label: str = "") -> None:
        """Switch the studio to an already opened microphone (after Settings)."""
        self.controls.mic_label = label or self.controls.mic_label
        self.controls.watch_mic(mic)
        self.controls.watch_source(mic)
        self.bridge.run(self.studio.switch_microphone(mic), f"switch to {mic.name}")

    def show_error(self, text: str, next_step: str = "") -> None:
        """Show a problem in the notice stack (same words twice are shown once)."""
        self.notices.post(Notice(f"error:{text}", Severity.ERROR, text, next_step))

    def _on_failure(self, text: str, next_step: str) -> None:
        self.show_error(text, next_step)

    def _stream_ended(self, summary: StreamSummary) -> None:
        self.summary = summary
        self.show_summary(summary)

    def show_summary(self, summary: StreamSummary) -> SummaryWidget:
        """The end-of-stream dialog."""
        dialog = SummaryWidget(summary, self)
        self.summary_widget = dialog
        dialog.show()
        return dialog

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        """Ask first while live or recording; then stop the timers (the app closes the studio)."""
        state = self.bridge.state
        busy = state.is_live or self.controls.is_recording(state)
        if busy and not self._close_confirmed:
            event.ignore()
            doing = " and ".join(
                w for w, on in (("live", state.is_live),
                                ("recording", self.controls.is_recording(state))) if on
            )  # fmt: skip
            ask(self, "Quit while the show runs?",
                f"You are {doing}. Quit and stop everything?", "Stop and quit",
                self._close_now,
                detail="Destinations stop and the recording is finished cleanly.")  # fmt: skip
            return
        self._tile_timer.stop()
        self._clock.stop()
        self._hotplug_timer.stop()
        self.bridge.close()
        self.stage.close_tiles()
        self.controls.close_sources()
        super().closeEvent(event)

    def _close_now(self) -> None:
        self._close_confirmed = True
        self.close()

    def close_without_asking(self) -> None:
        """Close even while live or recording, as confirming "Stop and quit" does."""
        self._close_now()
