"""The studio: every command the window sends, in one place, with no Qt and no widgets.

The window observes :attr:`Studio.store` (through its bridge) and calls these coroutines; it
never touches LiveKit, devices or the backend itself. Failures come back as
:class:`~desktop.session.errors.SessionError` or :class:`~desktop.media.errors.MediaError`
with words and a next step, for the window to show.

:class:`Studio` is the composition root: it holds the shared state (it is a
:class:`~desktop.session.studio.context.StudioContext`) and hands each command to the
coordinator of its concept, one module each in this package.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import MethodType
from typing import Concatenate, Generic, ParamSpec, TypeVar, cast, overload

from desktop.session.on_screen import OnScreen
from desktop.session.settings import Secrets, Settings, SettingsStore
from desktop.session.state import StateStore
from desktop.session.studio.connection import Connection
from desktop.session.studio.context import StudioContext
from desktop.session.studio.destinations import Destinations
from desktop.session.studio.devices import Devices
from desktop.session.studio.guests import Guests
from desktop.session.studio.program import ProgramDesk
from desktop.session.studio.recording import Recording
from desktop.session.studio.summary import StreamSummary, Tally

logger = logging.getLogger(__name__)


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

    def __init__(
        self,
        settings: Settings,
        secrets: Secrets,
        store: StateStore | None = None,
        settings_store: SettingsStore | None = None,
    ) -> None:
        super().__init__(settings, secrets, store, settings_store)
        # One coordinator per concept, each handed this studio as the state they share.
        self._devices = Devices(self)
        self._desk = ProgramDesk(self)
        self._guests = Guests(self)
        self._destinations = Destinations(self)
        self._recording = Recording(self)
        self._tally = Tally(self)
        self._connection = Connection(self, self._devices, self._tally)
        self.on_screen = OnScreen(self.live.direct.compositor, self.set_banner)
        """A viewer's comment, the ticker and the banner over the program."""

    # -- devices (devices.py) ----------------------------------------------------------------
    use_devices = _Command(lambda s: s._devices, Devices.use_devices)
    set_mic_on = _Command(lambda s: s._devices, Devices.set_mic_on)
    set_camera_on = _Command(lambda s: s._devices, Devices.set_camera_on)
    switch_camera = _Command(lambda s: s._devices, Devices.switch_camera)
    switch_microphone = _Command(lambda s: s._devices, Devices.switch_microphone)
    share_screen = _Command(lambda s: s._devices, Devices.share_screen)
    stop_sharing = _Command(lambda s: s._devices, Devices.stop_sharing)
    choose_screen = _Command(lambda s: s._devices, Devices.choose_screen)
    set_speaker = _Command(lambda s: s._devices, Devices.set_speaker)

    # -- the room (connection.py) ------------------------------------------------------------
    connect = _Command(lambda s: s._connection, Connection.connect)
    reconnect_now = _Command(lambda s: s._connection, Connection.reconnect_now)
    # Tests build a room session the way connect does.
    _new_session = _Command(lambda s: s._connection, Connection.new_session)

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

    # -- recording (recording.py) ------------------------------------------------------------
    set_recording_folder = _Command(lambda s: s._recording, Recording.set_recording_folder)
    start_recording = _Command(lambda s: s._recording, Recording.start_recording)
    stop_recording = _Command(lambda s: s._recording, Recording.stop_recording)
    start_hls = _Command(lambda s: s._recording, Recording.start_hls)
    stop_hls = _Command(lambda s: s._recording, Recording.stop_hls)

    @property
    def can_record_in_cloud(self) -> bool:
        """Whether a backend can record the room (platform, or LiveKit server mode)."""
        return self._recording.can_record_in_cloud

    # -- the show's figures (summary.py) -----------------------------------------------------
    live_duration_s = _Command(lambda s: s._tally, Tally.live_duration_s)

    async def end_stream(self) -> StreamSummary:
        """End the show for everyone: stop outputs, close the room, leave it, sum it up.

        After this the state says ``ended``; guests' tiles go, nothing reconnects.
        """
        return await self._tally.end_stream(self._connection.leave)

    # -- the end -----------------------------------------------------------------------------

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
