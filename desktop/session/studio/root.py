"""The studio: every command the window sends, in one place, with no Qt and no widgets.

The window observes :attr:`Studio.store` (through its bridge) and calls these coroutines; it
never touches LiveKit, devices or the backend itself. Failures come back as
:class:`~desktop.session.errors.SessionError` or :class:`~desktop.media.errors.MediaError`
with words and a next step, for the window to show.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from pathlib import Path
from types import MethodType
from typing import Concatenate, Generic, ParamSpec, TypeVar, cast, overload

from desktop.media.outputs.output import OutputPhase
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.live import cloud_recording, local_recording
from desktop.session.on_screen import OnScreen
from desktop.session.recording_guard import RecordingGuard
from desktop.session.settings import Secrets, Settings, SettingsStore
from desktop.session.state import (
    StateStore,
)
from desktop.session.studio.connection import Connection
from desktop.session.studio.context import StudioContext, make_recording_folder
from desktop.session.studio.destinations import Destinations
from desktop.session.studio.devices import Devices
from desktop.session.studio.guests import Guests
from desktop.session.studio.program import ProgramDesk
from desktop.session.studio.summary import StreamSummary, Tally

logger = logging.getLogger(__name__)


class RecordingPlace(enum.Enum):
    """Where a recording goes."""

    LOCAL = "local"
    """A file in the recording folder on this computer."""
    CLOUD = "cloud"
    """The platform records the room (LiveKit egress); needs the platform backend."""
    BOTH = "both"
    """Both at once: the local file is a safety copy."""


C = TypeVar("C")
P = ParamSpec("P")
R = TypeVar("R")


class _Command(Generic[C, P, R]):
    """A studio command that one coordinator carries out: ``studio.command`` is that
    coordinator's own bound method (the same signature and docstring), so the window, the
    headless runner and the remote control call the studio as they always did.

    Args:
        coordinator: The studio's coordinator that has the method.
        method: The method, as the coordinator's class has it.
    """

    def __init__(
        self, coordinator: Callable[[Studio], C], method: Callable[Concatenate[C, P], R]
    ) -> None:
        self._coordinator = coordinator
        self._method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, studio: None, owner: type[Studio]) -> _Command[C, P, R]: ...
    @overload
    def __get__(self, studio: Studio, owner: type[Studio]) -> Callable[P, R]: ...
    def __get__(
        self, studio: Studio | None, owner: type[Studio]
    ) -> _Command[C, P, R] | Callable[P, R]:
        if studio is None:
            return self
        return cast(Callable[P, R], MethodType(self._method, self._coordinator(studio)))


class Studio(StudioContext):
    """One studio session: devices, room, outputs, moderation, chat.

    Its state is the :class:`StudioContext` it is; each command is carried out by the
    coordinator of its concept (``devices.py``, ``connection.py``…).

    Args:
        settings: What the host chose (devices, connection, presets, destinations).
        secrets: Where keys live.
        store: The state the window observes.
    """

    _devices: Devices
    _tally: Tally
    _connection: Connection
    _desk: ProgramDesk
    _guests: Guests
    _destinations: Destinations

    # -- devices (devices.py) ----------------------------------------------------------------
    use_devices = _Command(lambda studio: studio._devices, Devices.use_devices)
    set_mic_on = _Command(lambda studio: studio._devices, Devices.set_mic_on)
    set_camera_on = _Command(lambda studio: studio._devices, Devices.set_camera_on)
    switch_camera = _Command(lambda studio: studio._devices, Devices.switch_camera)
    switch_microphone = _Command(lambda studio: studio._devices, Devices.switch_microphone)
    share_screen = _Command(lambda studio: studio._devices, Devices.share_screen)
    stop_sharing = _Command(lambda studio: studio._devices, Devices.stop_sharing)
    choose_screen = _Command(lambda studio: studio._devices, Devices.choose_screen)
    set_speaker = _Command(lambda studio: studio._devices, Devices.set_speaker)

    # -- the room (connection.py) -----------------------------------------------------------
    connect = _Command(lambda studio: studio._connection, Connection.connect)
    reconnect_now = _Command(lambda studio: studio._connection, Connection.reconnect_now)
    # Tests build a room session the way connect does.
    _new_session = _Command(lambda studio: studio._connection, Connection.new_session)

    # -- the program (program.py) ------------------------------------------------------------
    program_info = _Command(lambda s: s._desk, ProgramDesk.program_info)
    set_program_layout = _Command(lambda s: s._desk, ProgramDesk.set_program_layout)
    set_in_program = _Command(lambda s: s._desk, ProgramDesk.set_in_program)
    set_pinned = _Command(lambda s: s._desk, ProgramDesk.set_pinned)
    set_banner = _Command(lambda s: s._desk, ProgramDesk.set_banner)
    set_program_preview = _Command(lambda s: s._desk, ProgramDesk.set_program_preview)

    # -- the guests (guests.py) --------------------------------------------------------------
    send_chat = _Command(lambda s: s._guests, Guests.send_chat)
    open_video = _Command(lambda s: s._guests, Guests.open_video)
    mute_guest = _Command(lambda s: s._guests, Guests.mute_guest)
    mute_all = _Command(lambda s: s._guests, Guests.mute_all)
    remove_guest = _Command(lambda s: s._guests, Guests.remove_guest)
    ask_to_unmute = _Command(lambda s: s._guests, Guests.ask_to_unmute)
    export_moderation_log = _Command(lambda s: s._guests, Guests.export_moderation_log)

    @property
    def can_chat(self) -> bool:
        """Whether chat can be sent (a room is joined)."""
        return self._guests.can_chat

    # -- going live (destinations.py) --------------------------------------------------------
    destination = _Command(lambda s: s._destinations, Destinations.destination)
    check_destinations = _Command(lambda s: s._destinations, Destinations.check_destinations)
    go_live = _Command(lambda s: s._destinations, Destinations.go_live)
    rehearse = _Command(lambda s: s._destinations, Destinations.rehearse)
    set_rehearsal_url = _Command(lambda s: s._destinations, Destinations.set_rehearsal_url)
    end_rehearsal = _Command(lambda s: s._destinations, Destinations.end_rehearsal)
    add_destination = _Command(lambda s: s._destinations, Destinations.add_destination)
    edit_destination = _Command(lambda s: s._destinations, Destinations.edit_destination)
    remove_destination = _Command(lambda s: s._destinations, Destinations.remove_destination)
    set_destination_enabled = _Command(
        lambda s: s._destinations, Destinations.set_destination_enabled
    )
    retry_destination = _Command(lambda s: s._destinations, Destinations.retry_destination)
    end_live = _Command(lambda s: s._destinations, Destinations.end_live)

    # -- the show's figures (summary.py) ------------------------------------------------------
    live_duration_s = _Command(lambda studio: studio._tally, Tally.live_duration_s)

    async def end_stream(self) -> StreamSummary:
        """End the show for everyone: stop outputs, close the room, leave it, sum it up.

        After this the state says ``ended``; guests' tiles go, nothing reconnects.
        """
        return await self._tally.end_stream(self._connection.leave)

    def __init__(
        self,
        settings: Settings,
        secrets: Secrets,
        store: StateStore | None = None,
        settings_store: SettingsStore | None = None,
    ) -> None:
        super().__init__(settings, secrets, store, settings_store)
        self._devices = Devices(self)
        self._desk = ProgramDesk(self)
        self._guests = Guests(self)
        self._destinations = Destinations(self)
        self.on_screen = OnScreen(self.live.direct.compositor, self.set_banner)
        """A viewer's comment, the ticker and the banner over the program."""
        self._tally = Tally(self)
        self._connection = Connection(self, self._devices, self._tally)

    # -- controls ----------------------------------------------------------------------------

    @property
    def can_record_in_cloud(self) -> bool:
        """Whether a backend can record the room (platform, or LiveKit server mode)."""
        return self.live.backend is not None

    def set_recording_folder(self, folder: str) -> None:
        """Record into ``folder`` from now on ('' = the default Videos folder)."""
        self.settings.recording_folder = folder
        self.save_settings()

    async def start_recording(
        self, cloud: bool = False, place: RecordingPlace | None = None
    ) -> Path | None:
        """Record the program locally, in the cloud, or both.

        The recording folder is created when missing (a fresh account has no Videos folder).

        Args:
            cloud: Also record in the cloud (kept for callers of the old form).
            place: Where to record (default: local, or both when ``cloud``).

        Raises:
            SessionError: Cloud recording asked for without the platform backend.
            MediaError: The folder cannot be created or written.
        """
        if place is None:
            place = RecordingPlace.BOTH if cloud else RecordingPlace.LOCAL
        wants_cloud = place in (RecordingPlace.CLOUD, RecordingPlace.BOTH)
        if wants_cloud and not self.can_record_in_cloud:
            raise SessionError(
                SessionErrorCode.FORBIDDEN, "cloud recording needs the platform backend",
                "record on this computer, or connect through the platform in Settings",
            )  # fmt: skip
        local = place in (RecordingPlace.LOCAL, RecordingPlace.BOTH)
        folder = self.settings.recording_dir()
        if local:
            make_recording_folder(folder)
        self.live.cloud_recording_options = cloud_recording(self.settings)
        self.live.local_recording_options = local_recording(self.settings)
        path = await self.live.start_recording(folder, cloud=wants_cloud, local=local)
        if path is not None:
            self.recordings.append(str(path))
        if wants_cloud and self.backend is not None:
            self._guard_recording()
        return path

    def _guard_recording(self) -> None:
        """Watch the cloud recording: a stop or stall is flagged, a new one started."""
        if self.guard is not None and self.guard.room_name != self.store.state.room_name:
            self.guard = None
        if self.guard is None and self.backend is not None:
            folder = self.settings.recording_dir()

            async def restart() -> None:
                await self.live.start_recording(folder, cloud=True, local=False)

            self.guard = RecordingGuard(
                self.backend, self.store, self.store.state.room_name, restart,
                self._ensure_local_copy,
            )  # fmt: skip
        if self.guard is not None:
            self.guard.arm()

    async def _ensure_local_copy(self) -> None:
        """Start a local safety copy unless one is recording (which goes on untouched)."""
        current = self.live.direct.statuses().get("recording")
        if current is not None and current.phase not in (OutputPhase.STOPPED, OutputPhase.FAILED):
            return
        await self.start_recording(place=RecordingPlace.LOCAL)

    async def stop_recording(self) -> None:
        """Stop recording (the file is closed cleanly)."""
        if self.guard is not None:
            await self.guard.disarm()
        await self.live.stop_recording()

    async def start_hls(self, segment_s: int = 4) -> Path:
        """Write the program as HLS (segments + a playlist that grows while live) into a new
        folder in the recording folder; returns the playlist's path (serve the folder over
        HTTP and players follow it live).

        Raises:
            MediaError: The folder cannot be created or written.
        """
        folder = self.settings.recording_dir()
        make_recording_folder(folder)
        playlist = await self.live.start_hls(folder, segment_s)
        self.recordings.append(str(playlist))
        return playlist

    async def stop_hls(self) -> None:
        """End the HLS output; the playlist is closed and plays from start to end."""
        await self.live.stop_hls()

    async def aclose(self) -> None:
        """Leave the room and stop everything (recordings are closed cleanly)."""
        if self.costs is not None:
            await self.costs.aclose()
            self.costs = None
        if self.guard is not None:
            await self.guard.disarm()
        await self.watchdog.aclose()
        if not self.store.state.ended:  # End stream closed the program feed already
            await self.program.aclose()
        await self.live.aclose()
        if self.player is not None:
            try:
                await self.player.aclose()
            except RuntimeError as error:
                # Quitting under qasync, the SDK's mixer may be bound to the loop that is
                # ending; the speaker is released with the process either way.
                logger.info("closing guest audio: %s", error)
            self.player = None
        if self.monitor is not None:
            await self.monitor.aclose()
        if self.session is not None:
            await self.session.aclose()
        if self.backend is not None:
            await self.backend.aclose()
        for source in (self.camera, self.mic, self.screen):
            if source is not None:
                await source.aclose()
