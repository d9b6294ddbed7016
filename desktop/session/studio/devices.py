"""The host's devices: camera, microphone and screen (in the program and in the room) and the
speaker the guests play on (the player).
"""

from __future__ import annotations

import logging

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.errors import MediaError
from desktop.session.room_session import RoomSession
from desktop.session.state import ParticipantState, ProblemCode, Source, TrackState
from desktop.session.studio.context import StudioContext

logger = logging.getLogger(__name__)


class Devices:
    """Switches the host's devices on, off and over, in the program and in the room alike.

    Args:
        studio: The studio's shared state (its devices, session, program and player).
    """

    def __init__(self, studio: StudioContext) -> None:
        self._studio = studio

    def use_devices(
        self,
        camera: VideoCaptureSource | None,
        mic: AudioCaptureSource | None,
        screen: VideoCaptureSource | None = None,
    ) -> None:
        """Hand the studio its opened devices (the window opens them from the picker)."""
        self._studio.camera, self._studio.mic, self._studio.screen = camera, mic, screen
        self.update_program()
        if self._studio.session is None:
            self.local_participant()

    def update_program(self) -> None:
        """Hand the program the devices that are on (a switched-off camera or mic is left out)."""
        self._studio.live.set_sources(
            self._studio.camera if self._studio.camera_on else None,
            self._studio.screen,
            self._studio.mic if self._studio.mic_on else None,
        )

    def local_participant(self) -> None:
        """Show the host's own tracks in the state while there is no room."""
        # In the local studio there is no room, but the stage still shows the host's tracks.
        studio = self._studio
        tracks = []
        if studio.camera is not None:
            tracks.append(TrackState("local-camera", Source.CAMERA, True, not studio.camera_on))
        if studio.mic is not None:
            tracks.append(TrackState("local-mic", Source.MICROPHONE, False, not studio.mic_on))
        if studio.screen is not None:
            tracks.append(TrackState("local-screen", Source.SCREEN, True))
        studio.store.update(
            local=ParticipantState(
                identity="host", name=studio.settings.display_name, tracks=tuple(tracks)
            ),
            room_name=studio.store.state.room_name or "Local studio",
        )

    async def set_mic_on(self, on: bool) -> None:
        """Microphone on or off (muted in the room; silent in the program)."""
        self._studio.mic_on = on
        self.update_program()
        if self._studio.session is not None and self._studio.mic is not None:
            await self._studio.session.set_muted(Source.MICROPHONE, not on)
        elif self._studio.session is None:
            self.local_participant()

    async def set_camera_on(self, on: bool) -> None:
        """Camera on or off (muted in the room; off the program picture)."""
        self._studio.camera_on = on
        self.update_program()
        if self._studio.session is not None and self._studio.camera is not None:
            await self._studio.session.set_muted(Source.CAMERA, not on)
        elif self._studio.session is None:
            self.local_participant()

    async def switch_camera(self, camera: VideoCaptureSource) -> None:
        """Use another camera on the same track (guests see no gap)."""
        old, self._studio.camera = self._studio.camera, camera
        self.update_program()
        if self._studio.session is not None:
            await self._studio.session.switch_camera(camera)
        if old is not None and old is not camera:
            await old.aclose()

    async def switch_microphone(self, mic: AudioCaptureSource) -> None:
        """Use another microphone on the same track."""
        old, self._studio.mic = self._studio.mic, mic
        self.update_program()
        if self._studio.session is not None:
            await self._studio.session.switch_microphone(mic)
        if old is not None and old is not mic:
            await old.aclose()

    async def share_screen(self, screen: VideoCaptureSource) -> None:
        """Start (or change) the screen share."""
        old, self._studio.screen = self._studio.screen, screen
        self.update_program()
        if self._studio.session is not None:
            if old is None:
                await self._studio.session.publish_screen(screen)
            else:
                await self._studio.session.switch_screen(screen)
        else:
            self.local_participant()
        if old is not None and old is not screen:
            await old.aclose()

    async def stop_sharing(self) -> None:
        """Stop the screen share."""
        old, self._studio.screen = self._studio.screen, None
        self.update_program()
        if self._studio.session is not None:
            await self._studio.session.stop_screen_share()
        else:
            self.local_participant()
        if old is not None:
            await old.aclose()

    def choose_screen(self, label: str) -> None:
        """Remember the screen "Share screen" shares next time."""
        self._studio.settings.screen = label
        self._studio.save_settings()

    async def set_speaker(self, device: str) -> None:
        """Play guests on another output device ('' = the system default), while live."""
        self._studio.settings.speaker = device
        if self._studio.player is not None:
            try:
                self._studio.player.set_device(device or None)
            except MediaError as error:
                self._studio.set_problem(ProblemCode.NO_SPEAKER, error.detail)
                raise
            self._studio.clear_problem(ProblemCode.NO_SPEAKER)

    def start_playback(self, session: RoomSession) -> None:
        """Play the guests' voices on the chosen speaker (the mic's echo canceller hears it)."""
        from desktop.session.playback import GuestAudioPlayer

        if session.room is None:
            return
        feed = getattr(self._studio.mic, "feed_playback", None)
        player = GuestAudioPlayer(self._studio.settings.speaker or None, echo_reference=feed)
        player.attach(session.room)
        try:
            player.start()
        except MediaError as error:
            # No speaker (a server, a CI machine): the studio works on, silently, and says so.
            self._studio.set_problem(ProblemCode.NO_SPEAKER, error.detail)
            logger.warning("guest audio: %s", error)
        else:
            self._studio.clear_problem(ProblemCode.NO_SPEAKER)
        self._studio.player = player
