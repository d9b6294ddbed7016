"""The studio: every command the window sends, in one place, with no Qt and no widgets.

The window observes :attr:`Studio.store` (through its bridge) and calls these coroutines; it
never touches LiveKit, devices or the backend itself. Failures come back as
:class:`~desktop.session.errors.SessionError` or :class:`~desktop.media.errors.MediaError`
with words and a next step, for the window to show.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.outputs.destinations import Destination
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.program import OutputOptions
from desktop.session.backend_client import Backend, HttpBackend, LocalBackend
from desktop.session.broadcast_monitor import BroadcastMonitor
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.live import LiveOutputs
from desktop.session.moderation import Moderator
from desktop.session.node_urls import connect_first
from desktop.session.publisher import PublishDefaults
from desktop.session.remote_video import RemoteVideo
from desktop.session.room_session import RoomSession
from desktop.session.settings import PRESETS, Secrets, Settings
from desktop.session.state import (
    ParticipantState,
    RoomState,
    Source,
    StateStore,
    TrackState,
)

logger = logging.getLogger(__name__)


@dataclass
class StreamSummary:
    """What the end-of-stream screen shows."""

    duration_s: float
    """How long the stream ran."""
    peak_participants: int
    """Most people in the room at once (the host included)."""
    peak_publishers: int
    """Most people publishing at once."""
    recordings: list[str] = field(default_factory=list)
    """Local recording files and cloud recording links."""
    revenue: dict[str, float] = field(default_factory=dict)
    """The platform's split (multiplier, duration bonus, commission, creator share)."""


class Studio:
    """One studio session: devices, room, outputs, moderation, chat.

    Args:
        settings: What the host chose (devices, connection, presets, destinations).
        secrets: Where keys live.
        store: The state the window observes.
    """

    def __init__(
        self, settings: Settings, secrets: Secrets, store: StateStore | None = None
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.store = store or StateStore()
        self.session: RoomSession | None = None
        self.backend: Backend | None = None
        self.moderator: Moderator | None = None
        self.monitor: BroadcastMonitor | None = None
        self.camera: VideoCaptureSource | None = None
        self.mic: AudioCaptureSource | None = None
        self.screen: VideoCaptureSource | None = None
        self.camera_on = True
        self.mic_on = True
        width, height, fps, bitrate = PRESETS.get(settings.preset, PRESETS["720p30"])
        self.live = LiveOutputs(
            self.store, secrets, EncoderSettings(width, height, fps, bitrate),
            OutputOptions(max_retries=settings.max_retries),
        )  # fmt: skip
        self._peak_participants = 1
        self._peak_publishers = 0
        self._started_s = time.monotonic()
        self._recordings: list[str] = []
        self._url: str = ""
        self._token: str = ""
        self.player: Any = None
        """Plays the guests' voices (a GuestAudioPlayer once in a room)."""
        self.notes: list[str] = []
        """Things the host should know that are not errors (no speaker…)."""
        self.store.subscribe(self._track_peaks)

    # -- devices -----------------------------------------------------------------------------

    def use_devices(
        self,
        camera: VideoCaptureSource | None,
        mic: AudioCaptureSource | None,
        screen: VideoCaptureSource | None = None,
    ) -> None:
        """Hand the studio its opened devices (the window opens them from the picker)."""
        self.camera, self.mic, self.screen = camera, mic, screen
        self._update_program()
        if self.session is None:
            self._local_participant()

    def _update_program(self) -> None:
        self.live.set_sources(
            self.camera if self.camera_on else None,
            self.screen,
            self.mic if self.mic_on else None,
        )

    def _local_participant(self) -> None:
        # In the local studio there is no room, but the stage still shows the host's tracks.
        tracks = []
        if self.camera is not None:
            tracks.append(TrackState("local-camera", Source.CAMERA, True, not self.camera_on))
        if self.mic is not None:
            tracks.append(TrackState("local-mic", Source.MICROPHONE, False, not self.mic_on))
        if self.screen is not None:
            tracks.append(TrackState("local-screen", Source.SCREEN, True))
        self.store.update(
            local=ParticipantState(
                identity="host", name=self.settings.display_name, tracks=tuple(tracks)
            ),
            room_name=self.store.state.room_name or "Local studio",
        )

    # -- connecting --------------------------------------------------------------------------

    async def connect(self, url: str | None = None, token: str | None = None) -> None:
        """Join the room the settings name (or ``url`` with ``token``); publish camera and mic.

        In local mode without a URL there is no room: the studio streams and records directly.

        Raises:
            SessionError: The connection failed (the state says so too).
        """
        mode = "livekit" if url else self.settings.connect_mode
        if mode == "local":
            self._local_participant()
            return
        width, height, fps, _ = PRESETS.get(self.settings.preset, PRESETS["720p30"])
        session = RoomSession(
            self.store,
            PublishDefaults(
                video_codec=self.settings.video_codec, width=width, height=height, fps=fps,
                simulcast=self.settings.simulcast,
            ),
        )  # fmt: skip
        if mode == "platform":
            backend: Backend = HttpBackend(
                self.settings.backend_url, self.secrets.get("platform-credential")
            )
            created = await backend.create_room(self.settings.appointment_id)
            url, token = created.room.url, created.room.token
            self.backend = backend
        elif url and token:
            pass
        else:
            # "LiveKit server" mode: the reference backend runs in-process with the host's key
            # and secret, so moderation and cloud recording work as on a platform and the UI
            # never mints a token itself.
            backend = self._local_backend()
            try:
                created = await backend.create_room(self.settings.room_name)
            except SessionError:
                await backend.aclose()
                raise
            url, token = created.room.url, created.room.token
            self.backend = backend
        self._url, self._token = url, token
        # A cluster's nodes may be listed comma-separated: join through the first that answers.
        await connect_first(session, url, token)
        self.session = session
        if self.backend is not None:
            room_name = self.store.state.room_name
            self.moderator = Moderator(self.backend, self.store, room_name)
            self.monitor = BroadcastMonitor(self.backend, self.store, room_name)
            self.monitor.start()
            self.live.backend = self.backend
            self.live.room_name = room_name
            # Go Live pushes from this computer in "LiveKit server" mode (that server may run
            # no egress); cloud recording and moderation go through the in-process backend.
            self.live.rtmp_via_egress = mode == "platform"
        self._start_playback(session)
        if self.camera is not None:
            await session.publish_camera(self.camera)
            if not self.camera_on:
                await session.set_muted(Source.CAMERA, True)
        if self.mic is not None:
            await session.publish_microphone(self.mic)
            if not self.mic_on:
                await session.set_muted(Source.MICROPHONE, True)

    def _start_playback(self, session: RoomSession) -> None:
        """Play the guests' voices on the chosen speaker (the mic's echo canceller hears it)."""
        from desktop.session.playback import GuestAudioPlayer

        if session.room is None:
            return
        feed = getattr(self.mic, "feed_playback", None)
        player = GuestAudioPlayer(self.settings.speaker or None, echo_reference=feed)
        player.attach(session.room)
        try:
            player.start()
        except MediaError as error:
            # No speaker (a server, a CI machine): the studio works on, silently, and says so.
            self.notes.append(f"Guests cannot be heard: {error}")
            logger.warning("guest audio: %s", error)
        self.player = player

    async def set_speaker(self, device: str) -> None:
        """Play guests on another output device ('' = the system default), while live."""
        self.settings.speaker = device
        if self.player is not None:
            self.player.set_device(device or None)

    def _local_backend(self) -> LocalBackend:
        secret = self.secrets.get("livekit-api-secret")
        if not self.settings.livekit_url or not self.settings.livekit_api_key or not secret:
            raise SessionError(
                SessionErrorCode.TOKEN_REFUSED, "no LiveKit server URL, API key or secret",
                "enter them in Setup → Connection",
            )  # fmt: skip
        import os

        import platformdirs

        from backend.config import BackendConfig

        config = BackendConfig(
            livekit_url=self.settings.livekit_url,
            api_key=self.settings.livekit_api_key,
            api_secret=secret,
            database_path=Path(platformdirs.user_data_dir("spaces-broadcaster"))
            / "studio-backend.sqlite3",
            embedded=True,
            egress_url=os.environ.get("LIVEKIT_EGRESS_URL", ""),
        )
        return LocalBackend("host", config=config)

    async def reconnect_now(self) -> None:
        """Leave and join again (the banner's "Reconnect now")."""
        if self.player is not None:
            await self.player.aclose()
            self.player = None
        if self.session is not None:
            await self.session.aclose()
            self.session = None
        if self.backend is None and self._url:
            await self.connect(self._url, self._token)
        else:
            await self.connect()

    # -- controls ----------------------------------------------------------------------------

    async def set_mic_on(self, on: bool) -> None:
        """Microphone on or off (muted in the room; silent in the program)."""
        self.mic_on = on
        self._update_program()
        if self.session is not None and self.mic is not None:
            await self.session.set_muted(Source.MICROPHONE, not on)
        elif self.session is None:
            self._local_participant()

    async def set_camera_on(self, on: bool) -> None:
        """Camera on or off (muted in the room; off the program picture)."""
        self.camera_on = on
        self._update_program()
        if self.session is not None and self.camera is not None:
            await self.session.set_muted(Source.CAMERA, not on)
        elif self.session is None:
            self._local_participant()

    async def switch_camera(self, camera: VideoCaptureSource) -> None:
        """Use another camera on the same track (guests see no gap)."""
        old, self.camera = self.camera, camera
        self._update_program()
        if self.session is not None:
            await self.session.switch_camera(camera)
        if old is not None and old is not camera:
            await old.aclose()

    async def switch_microphone(self, mic: AudioCaptureSource) -> None:
        """Use another microphone on the same track."""
        old, self.mic = self.mic, mic
        self._update_program()
        if self.session is not None:
            await self.session.switch_microphone(mic)
        if old is not None and old is not mic:
            await old.aclose()

    async def share_screen(self, screen: VideoCaptureSource) -> None:
        """Start (or change) the screen share."""
        old, self.screen = self.screen, screen
        self._update_program()
        if self.session is not None:
            if old is None:
                await self.session.publish_screen(screen)
            else:
                await self.session.switch_screen(screen)
        else:
            self._local_participant()
        if old is not None and old is not screen:
            await old.aclose()

    async def stop_sharing(self) -> None:
        """Stop the screen share."""
        old, self.screen = self.screen, None
        self._update_program()
        if self.session is not None:
            await self.session.stop_screen_share()
        else:
            self._local_participant()
        if old is not None:
            await old.aclose()

    async def send_chat(self, text: str) -> None:
        """Send a chat line (``lk.chat``)."""
        if self.session is None:
            raise SessionError(
                SessionErrorCode.NOT_CONNECTED, "chat needs a room", "connect to a room first"
            )
        await self.session.send_chat(text)

    def open_video(self, identity: str, source: Source, tile_height_px: int) -> RemoteVideo | None:
        """A guest's video for a tile, at the layer that fits it."""
        if self.session is None:
            return None
        return self.session.open_remote_video(identity, source, tile_height_px)

    # -- moderation --------------------------------------------------------------------------

    def _moderator(self) -> Moderator:
        if self.moderator is None:
            raise SessionError(
                SessionErrorCode.FORBIDDEN, "moderation needs the platform backend",
                "connect through the platform (Setup → Connection)",
            )  # fmt: skip
        return self.moderator

    async def mute_guest(self, identity: str, source: Source = Source.MICROPHONE) -> None:
        """Mute a guest's microphone or camera."""
        await self._moderator().mute(identity, source)

    async def mute_all(self) -> list[str]:
        """Mute every guest's microphone."""
        return await self._moderator().mute_all()

    async def remove_guest(self, identity: str) -> None:
        """Remove a guest from the room."""
        await self._moderator().remove(identity)

    # -- going live --------------------------------------------------------------------------

    def destination(self, destination_id: str) -> Destination:
        """A saved destination by id."""
        for destination in self.settings.destinations:
            if destination.id == destination_id:
                return destination
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, destination_id, "no such destination",
            "add it in the Outputs panel",
        )  # fmt: skip

    async def go_live(self) -> dict[str, str]:
        """Start every enabled destination; returns id → problem for those that could not."""
        return await self.live.go_live(self.settings.destinations)

    async def set_destination_enabled(self, destination_id: str, enabled: bool) -> None:
        """Switch one destination (saved; applied at once while live)."""
        from dataclasses import replace

        self.settings.destinations = [
            replace(d, enabled=enabled) if d.id == destination_id else d
            for d in self.settings.destinations
        ]
        await self.live.set_enabled(self.destination(destination_id), enabled)

    async def end_live(self) -> None:
        """Stop every destination."""
        await self.live.end()

    async def start_recording(self, cloud: bool = False) -> Path | None:
        """Record the program locally (and in the cloud when asked and possible)."""
        path = await self.live.start_recording(self.settings.recording_dir(), cloud=cloud)
        if path is not None:
            self._recordings.append(str(path))
        return path

    async def stop_recording(self) -> None:
        """Stop recording (the file is closed cleanly)."""
        await self.live.stop_recording()

    async def end_stream(self) -> StreamSummary:
        """End everything and return the summary (with the platform's revenue split)."""
        await self.live.aclose()
        summary = StreamSummary(
            duration_s=time.monotonic() - self._started_s,
            peak_participants=self._peak_participants,
            peak_publishers=self._peak_publishers,
            recordings=list(self._recordings),
        )
        if self.backend is not None and self.store.state.room_name:
            try:
                ended = await self.backend.end_stream(self.store.state.room_name)
                stats = ended.stats
                summary.duration_s = stats.duration / 1000 or summary.duration_s
                # The backend samples the room; the studio saw every join. Show the larger.
                summary.peak_participants = max(summary.peak_participants, stats.total_participants)
                summary.peak_publishers = max(summary.peak_publishers, stats.peak_publishers)
                summary.revenue = {
                    "basePrice": ended.revenue.base_price,
                    "revenueMultiplier": ended.revenue.revenue_multiplier,
                    "durationBonus": ended.revenue.duration_bonus,
                    "totalRevenue": ended.revenue.total_revenue,
                    "commissionRate": ended.revenue.commission_rate,
                    "platformCommission": ended.revenue.platform_commission,
                    "creatorRevenue": ended.revenue.creator_revenue,
                }
                if ended.recording is not None and ended.recording.name:
                    summary.recordings.append(ended.recording.name)
            except SessionError as error:
                logger.warning("end_stream: %s", error)
        return summary

    def _track_peaks(self, old: RoomState, new: RoomState) -> None:
        self._peak_participants = max(self._peak_participants, new.participant_count)
        self._peak_publishers = max(self._peak_publishers, new.publisher_count)

    async def aclose(self) -> None:
        """Leave the room and stop everything (recordings are closed cleanly)."""
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
