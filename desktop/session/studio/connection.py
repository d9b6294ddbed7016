"""Joining the room: the backend the connection mode needs (the platform's ``HttpBackend``, or
the reference backend in-process, ``LocalBackend``, in "LiveKit server" mode), joining and
publishing, rejoining the same room, leaving it; and "Test connection" (:func:`check_connection`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from desktop.session.backend_client import Backend, HttpBackend, LocalBackend
from desktop.session.broadcast_monitor import BroadcastMonitor
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.moderation import Moderator
from desktop.session.node_urls import connect_first
from desktop.session.publisher import PublishDefaults
from desktop.session.room_session import RoomSession
from desktop.session.settings import ConnectMode, preset_values
from desktop.session.state import Source
from desktop.session.studio.context import StudioContext
from desktop.session.studio.devices import Devices
from desktop.session.studio.summary import Tally

logger = logging.getLogger(__name__)


class Connection:
    """Joins, rejoins and leaves the room; the backend, moderator and status monitor come with
    the room joined.

    Args:
        studio: The studio's shared state (the session, backend, URL and token live there).
        devices: Publishes the host's devices in the room and plays the guests.
        tally: Counts the show's costs from the first room joined.
    """

    def __init__(self, studio: StudioContext, devices: Devices, tally: Tally) -> None:
        self._studio = studio
        self._devices = devices
        self._tally = tally

    async def connect(self, url: str | None = None, token: str | None = None) -> None:
        """Join the room the settings name (or ``url`` with ``token``); publish camera and mic.

        In local mode without a URL there is no room: the studio streams and records directly.

        Raises:
            SessionError: The connection failed (the state says so too).
        """
        studio = self._studio
        mode = ConnectMode.LIVEKIT if url else studio.settings.connect_mode
        if mode is ConnectMode.LOCAL:
            self._devices.local_participant()
            return
        session = self.new_session()
        if mode is ConnectMode.PLATFORM:
            backend: Backend = HttpBackend(
                studio.settings.backend_url, studio.secrets.get("platform-credential")
            )
            created = await backend.create_room(studio.settings.appointment_id)
            url, token = created.room.url, created.room.token
            studio.backend = backend
        elif url and token:
            pass
        else:
            # "LiveKit server" mode: the reference backend runs in-process with the host's key
            # and secret, so moderation and cloud recording work as on a platform and the UI
            # never mints a token itself.
            backend = self._local_backend()
            try:
                created = await backend.create_room(studio.settings.room_name)
            except SessionError:
                await backend.aclose()
                raise
            url, token = created.room.url, created.room.token
            studio.backend = backend
        studio.room_url, studio.room_token = url, token
        await self._join(session)
        self._tally.start_costs(mode)
        if studio.backend is not None:
            room_name = studio.store.state.room_name
            studio.moderator = Moderator(studio.backend, studio.store, room_name)
            studio.monitor = BroadcastMonitor(
                studio.backend,
                studio.store,
                room_name,
                on_status=self._tally.status_costs,
                live_via_egress=lambda: studio.live.via_egress,
            )
            studio.monitor.start()
            studio.live.backend = studio.backend
            studio.live.room_name = room_name
            studio.live.rtmp_via_egress = mode is ConnectMode.PLATFORM

    def new_session(self) -> RoomSession:
        """A room session publishing as the settings say (preset or custom values, codec,
        audio bitrate) and subscribing as they say (autoSubscribe)."""
        studio = self._studio
        width, height, fps, bitrate_bps = preset_values(studio.settings)
        defaults = PublishDefaults(
            video_codec=studio.settings.video_codec, video_bitrate_bps=bitrate_bps,
            audio_bitrate_bps=studio.settings.audio_bitrate_bps, width=width, height=height,
            fps=fps, simulcast=studio.settings.simulcast,
        )  # fmt: skip
        return RoomSession(studio.store, defaults, auto_subscribe=studio.settings.auto_subscribe)

    async def _join(self, session: RoomSession) -> None:
        """Join the room at the saved URL with the saved token and publish camera and mic."""
        studio = self._studio
        # A cluster's nodes may be listed comma-separated: join through the first that answers.
        await connect_first(session, studio.room_url, studio.room_token)
        studio.session = session
        if session.room is not None:
            # The program follows the room joined now (a rejoin is a new room object).
            studio.program.attach(session.room)
            studio.watchdog.start()
        self._devices.start_playback(session)
        if studio.camera is not None:
            await session.publish_camera(studio.camera)
            if not studio.camera_on:
                await session.set_muted(Source.CAMERA, True)
        if studio.mic is not None:
            await session.publish_microphone(studio.mic)
            if not studio.mic_on:
                await session.set_muted(Source.MICROPHONE, True)

    def _local_backend(self) -> LocalBackend:
        """The reference backend in-process, on the LiveKit server the settings name."""
        studio = self._studio
        secret = studio.secrets.get("livekit-api-secret")
        if not studio.settings.livekit_url or not studio.settings.livekit_api_key or not secret:
            raise SessionError(
                SessionErrorCode.TOKEN_REFUSED, "no LiveKit server URL, API key or secret",
                "enter them in File ▸ Settings (LiveKit server)",
            )  # fmt: skip
        import os

        import platformdirs

        return LocalBackend.for_server(
            studio.settings.livekit_url,
            studio.settings.livekit_api_key,
            secret,
            database_path=Path(platformdirs.user_data_dir("spaces-broadcaster"))
            / "studio-backend.sqlite3",
            egress_url=os.environ.get("LIVEKIT_EGRESS_URL", ""),
            # Where this computer sees the egress's recording folder, if it does (progress).
            recording_read_dir=os.environ.get("BROADCASTER_RECORDING_READ_DIR", ""),
        )

    async def reconnect_now(self) -> None:
        """Leave and join the SAME room again ("Reconnect now").

        The platform's room, its guests and its egress stay where they are: the studio rejoins
        with the URL and token it joined with, never creating a new room.

        Raises:
            SessionError: The stream was ended, or there was never a room to rejoin.
        """
        studio = self._studio
        if studio.store.state.ended:
            raise SessionError(
                SessionErrorCode.NOT_CONNECTED, "the stream has ended and its room is closed",
                "start a new show from Setup",
            )  # fmt: skip
        if not studio.room_url:
            raise SessionError(
                SessionErrorCode.NOT_CONNECTED, "there is no room to rejoin",
                "choose a server in File ▸ Settings, then start the studio again",
            )  # fmt: skip
        await self.leave()
        session = self.new_session()
        await self._join(session)
        if studio.screen is not None:
            await session.publish_screen(studio.screen)

    async def leave(self) -> None:
        """Leave the room (guests' audio and the session), keeping devices and the backend."""
        studio = self._studio
        if studio.player is not None:
            try:
                await studio.player.aclose()
            except RuntimeError as error:
                logger.info("closing guest audio: %s", error)
            studio.player = None
        if studio.session is not None:
            session, studio.session = studio.session, None
            await session.aclose()


CONNECTION_TEST_TIMEOUT_S = 8.0
"""How long "Test connection" waits for the server."""


async def check_connection(
    mode: ConnectMode,
    *,
    livekit_url: str = "",
    api_key: str = "",
    api_secret: str = "",
    backend_url: str = "",
    credential: str = "",
) -> str:
    """Really reach the server Setup names, with its credentials; no room is created.

    LiveKit: lists rooms through the server API (checks URL, key and secret). Platform: asks
    the backend for a room that does not exist (a "not found" answer means the credential was
    accepted).

    Returns:
        What worked, in words.

    Raises:
        SessionError: What failed, in words, with the next step.
    """
    if mode is ConnectMode.LOCAL:
        return "The local studio needs no server."
    if mode is ConnectMode.LIVEKIT:
        from desktop.session.errors import check_url

        check_url(livekit_url)
        if not api_key or not api_secret:
            raise SessionError(
                SessionErrorCode.TOKEN_REFUSED, "the API key or secret is empty",
                "copy both from your LiveKit project's settings",
            )  # fmt: skip
        import aiohttp
        from livekit import api

        http_url = livekit_url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
        timeout = aiohttp.ClientTimeout(total=CONNECTION_TEST_TIMEOUT_S)
        client = api.LiveKitAPI(http_url, api_key, api_secret, timeout=timeout)
        try:
            rooms = await client.room.list_rooms(api.ListRoomsRequest())
        except api.TwirpError as error:
            if error.status in (401, 403):
                raise SessionError(
                    SessionErrorCode.TOKEN_REFUSED,
                    "the server refused the API key or secret",
                    "check both in your LiveKit project's settings",
                ) from None  # fmt: skip
            raise SessionError(
                SessionErrorCode.BACKEND_UNAVAILABLE,
                f"the server answered with an error ({error.status})",
                "check the URL points at a LiveKit server",
            ) from None  # fmt: skip
        except (TimeoutError, aiohttp.ClientError, OSError):
            raise SessionError(
                SessionErrorCode.UNREACHABLE, f"nothing answered at {livekit_url}",
                "check the URL and that the server is running",
            ) from None  # fmt: skip
        finally:
            await client.aclose()
        count = len(rooms.rooms)
        return f"Connected: the LiveKit server accepted your key ({count} rooms open now)."
    if mode is ConnectMode.PLATFORM:
        backend = HttpBackend(backend_url, credential, timeout_s=CONNECTION_TEST_TIMEOUT_S,
                              retry_delays_s=())  # fmt: skip
        try:
            await backend.call("get_room_status", roomName="connection-test")
        except SessionError as error:
            if error.code is not SessionErrorCode.NOT_FOUND:
                raise
        finally:
            await backend.aclose()
        return "Connected: the platform accepted your sign-in token."
    raise SessionError(SessionErrorCode.INVALID_REQUEST, f"unknown connection mode {mode!r}")
