"""A host's connection to a LiveKit room: the coordinator of its parts.

Everything runs on the application's asyncio loop (qasync in the studio, plain asyncio in
headless mode). The parts, one concept each:

- :mod:`~desktop.session.publisher`: camera (simulcast), screen and microphone going out;
- :mod:`~desktop.session.remote_video`: guests' video coming in, sized for tiles;
- :mod:`~desktop.session.room_events`: SDK events turned into :class:`RoomState`;
- :mod:`~desktop.session.adaptation`: what to do when a connection gets better or worse.

The session joins with dynacast on, so the SFU pauses simulcast layers nobody watches and the
host's uplink only carries what viewers ask for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.frames import wall_clock_ms
from desktop.session import liveness, stage_control
from desktop.session.adaptation import AdaptationPolicy, Layer
from desktop.session.errors import (
    SessionError,
    SessionErrorCode,
    answered,
    check_url,
    connect_error,
)
from desktop.session.link_stats import LinkStats
from desktop.session.media_watchdog import MediaProbe
from desktop.session.publisher import PublishDefaults, Publisher
from desktop.session.receive_drops import count_native_drops
from desktop.session.receive_loop import ReceiveLoop
from desktop.session.remote_video import LAYER_WISHES, RemoteVideo
from desktop.session.room_events import CHAT_TOPIC, SOURCES, DisconnectReason, RoomEvents
from desktop.session.state import ConnectionState, Quality, QualityChange, Source, StateStore
from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    from livekit import rtc
else:
    rtc = lazy_module("livekit.rtc")

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_S = 10.0
DISCONNECT_TIMEOUT_S = 5.0
ANSWER_TIMEOUT_S = 15.0
"""Longest wait for the room to confirm a chat line or a data message (see ``answered``)."""


class RoomSession:
    """The host's session in one room.

    Args:
        store: Where the room state lives (shared with the UI bridge).
        defaults: How to publish.
        auto_subscribe: Receive every track on joining (the SDK's autoSubscribe). Off, the
            session subscribes to guests' voices as they publish and to a video only when
            :meth:`open_remote_video` asks for it (and drops it when that video is closed).
    """

    def __init__(
        self,
        store: StateStore | None = None,
        defaults: PublishDefaults | None = None,
        auto_subscribe: bool = True,
    ) -> None:
        self.store = store or StateStore()
        self.auto_subscribe = auto_subscribe
        # The SDK's line per dropped batch of frames becomes a count (Stats) and a line a minute.
        count_native_drops()
        self.room: rtc.Room | None = None
        self.policy = AdaptationPolicy()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._videos: list[RemoteVideo] = []
        # Tiles' videos are read on one loop of their own (see receive_loop).
        self._receive: ReceiveLoop | None = None
        self.publisher = Publisher(
            self._require_room,
            defaults or PublishDefaults(),
            self._spawn,
            self._refresh_local,
            lambda: self.policy.camera_divider,
        )
        self.events = RoomEvents(
            self.store,
            self._spawn,
            self._on_own_quality,
            self._on_guest_quality,
            self._adapt,
            self.policy.forget,
        )
        self.events.hidden_local = self.publisher.parked_sids

    @property
    def defaults(self) -> PublishDefaults:
        """How tracks are published."""
        return self.publisher.defaults

    async def connect(
        self, url: str, token: str, timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    ) -> None:
        """Join the room, or raise a :class:`SessionError` and say so in the state.

        Raises:
            SessionError: BAD_URL, TOKEN_REFUSED or UNREACHABLE.
        """
        try:
            check_url(url)
        except SessionError as error:
            self.store.update(connection=ConnectionState.FAILED, error=str(error))
            raise
        self.store.update(connection=ConnectionState.CONNECTING, error="", disconnect_reason=None)
        room = rtc.Room()
        self.events.wire(room)
        room.on("track_subscribed", _logged(self._follow_videos))
        room.on("track_unsubscribed", _logged(self._pause_videos))
        # Dynacast: the SFU tells the publisher which layers anyone watches; the rest pause.
        options = rtc.RoomOptions(
            connect_timeout=timeout_s, dynacast=True, auto_subscribe=self.auto_subscribe
        )
        if not self.auto_subscribe:
            room.on("track_published", _subscribe_audio)
        try:
            await asyncio.wait_for(room.connect(url, token, options), timeout_s * 2 + 5)
        except (rtc.ConnectError, TimeoutError, OSError) as exc:
            failure = connect_error(exc, url)
            self.store.update(connection=ConnectionState.FAILED, error=str(failure))
            await room.disconnect()
            raise failure from None
        self.room = room
        self.events.joined(room)
        self._spawn(self.publisher.sample_link(lambda: self.room is not None, self._set_link))
        # The SDK misses a server frozen for seconds; this says "reconnecting" meanwhile.
        self._spawn(liveness.watch(room, self.store, asyncio.get_running_loop().time))

    async def aclose(self) -> None:
        """Stop publishing and leave the room."""
        await self.publisher.aclose()
        self._videos.clear()  # tiles own their videos and close them
        room, self.room = self.room, None
        self.events.room = None
        if room is not None:
            try:
                # After the server removed us (or dropped the connection) the SDK's disconnect
                # can wait forever for an answer that never comes: leaving must not hang.
                await asyncio.wait_for(room.disconnect(), DISCONNECT_TIMEOUT_S)
            except TimeoutError:
                logger.warning("leaving took over %.0f s; left anyway", DISCONNECT_TIMEOUT_S)
        for task in list(self._tasks):
            task.cancel()
        receive, self._receive = self._receive, None
        if receive is not None:
            await receive.aclose()  # every tile's reader ends and closes its stream
        if self.store.state.connection in (ConnectionState.CONNECTED, ConnectionState.RECONNECTING):
            self.store.update(
                connection=ConnectionState.DISCONNECTED, disconnect_reason=DisconnectReason.LEFT
            )

    def _require_room(self) -> rtc.Room:
        if self.room is None or self.store.state.connection is ConnectionState.FAILED:
            raise SessionError(
                SessionErrorCode.NOT_CONNECTED, "not connected to a room", "connect first"
            )
        return self.room

    # --- publishing (see publisher.py) ----------------------------------------------------------

    async def publish_camera(self, camera: VideoCaptureSource) -> rtc.LocalTrackPublication:
        """Publish a camera with the defaults (simulcast on unless disabled)."""
        return await self.publisher.publish_camera(camera)

    async def publish_screen(self, screen: VideoCaptureSource) -> rtc.LocalTrackPublication:
        """Share a screen: screencast mode keeps text sharp under congestion."""
        return await self.publisher.publish_screen(screen)

    async def publish_microphone(self, mic: AudioCaptureSource) -> rtc.LocalTrackPublication:
        """Publish a microphone."""
        return await self.publisher.publish_microphone(mic)

    async def switch_camera(self, camera: VideoCaptureSource) -> None:
        """Switch to another camera while live (a camera of another size gets a new track)."""
        await self.publisher.switch_video(Source.CAMERA, camera)

    async def switch_screen(self, screen: VideoCaptureSource) -> None:
        """Share another monitor or window while live."""
        await self.publisher.switch_video(Source.SCREEN, screen)

    async def switch_microphone(self, mic: AudioCaptureSource) -> None:
        """Switch to another microphone while live, keeping the track (and its mute state)."""
        await self.publisher.switch_microphone(mic)

    async def stop_screen_share(self) -> None:
        """Stop sharing the screen; camera and microphone carry on."""
        await self.publisher.stop(Source.SCREEN, unpublish=True)

    async def set_muted(self, source: Source, muted: bool) -> None:
        """Mute or unmute camera or microphone (``track.mute()``, never unpublish)."""
        await self.publisher.set_muted(source, muted)

    # --- remote video and adaptation -------------------------------------------------------------

    def open_remote_video(
        self, identity: str, source: Source = Source.CAMERA, tile_height_px: int = 360
    ) -> RemoteVideo | None:
        """Frames of a guest's camera or screen for a tile, at the layer that fills it."""
        room = self._require_room()
        participant = room.remote_participants.get(identity)
        if participant is None:
            return None
        for publication in participant.track_publications.values():
            if SOURCES.get(publication.source) is source and not publication.subscribed:
                # Without autoSubscribe the video is asked for now; the tile opens it again
                # when the track arrives (the state marks it subscribed).
                publication.set_subscribed(True)
                return None
            if SOURCES.get(publication.source) is source and publication.track is not None:
                if self._receive is None:
                    self._receive = ReceiveLoop("bc-receive-video")
                video = RemoteVideo(
                    identity, publication, publication.track, self.policy.layer, self._receive
                )
                video.fit(tile_height_px)
                self._videos = [v for v in self._videos if not v.frames.closed] + [video]
                return video
        return None

    def _follow_videos(
        self, track: rtc.Track, publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:  # fmt: skip
        """A guest's video was subscribed (again): their tiles read the new track."""
        for video in self._videos:
            if video.identity == participant.identity and video.source == publication.source:
                video.follow(publication, track)

    def _pause_videos(
        self, _track: rtc.Track, publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:  # fmt: skip
        """A guest's video was unsubscribed: their tiles stop reading it until it returns."""
        for video in self._videos:
            if video.identity == participant.identity and video.source == publication.source:
                video.pause()

    def ask_again(self, video: RemoteVideo) -> None:
        """A tile's video stopped arriving: subscribe again, or read the current track anew."""
        participant = self.room.remote_participants.get(video.identity) if self.room else None
        if participant is None:
            return
        for publication in participant.track_publications.values():
            if publication.source != video.source:
                continue
            if publication.track is None:
                publication.set_subscribed(True)
            else:
                video.publication = publication
                video.restart(publication.track)
            return

    def tile_probes(self) -> list[MediaProbe]:
        """What the media watchdog looks at for tiles: each open guest camera."""
        self._videos = [v for v in self._videos if not v.frames.closed]
        probes = []
        for video in self._videos:
            source = SOURCES.get(video.source)
            if source is not Source.CAMERA:
                continue

            def expected(v: RemoteVideo = video) -> bool:
                guest = self.store.state.remotes.get(v.identity)
                camera = guest.track(Source.CAMERA) if guest else None
                return camera is not None and not camera.muted and not v.frames.closed

            def last_at(v: RemoteVideo = video) -> float:
                return v.frame_at

            def ask(v: RemoteVideo = video) -> None:
                self.ask_again(v)

            probes.append(MediaProbe(video.identity, Source.CAMERA, "tile", expected, last_at, ask))
        return probes

    def _adapt(self, description: str) -> None:
        logger.info("quality adaptation: %s", description)
        change = QualityChange(wall_clock_ms(), description)
        self.store.update(adaptations=(*self.store.state.adaptations, change))

    def _on_own_quality(self, quality: Quality) -> None:
        decision = self.policy.own_quality(quality)
        if decision is not None:
            self._adapt(decision.description)

    def _on_guest_quality(self, identity: str, quality: Quality) -> None:
        participant = self.room.remote_participants.get(identity) if self.room else None
        if participant is None:
            return
        layered = [
            p
            for p in participant.track_publications.values()
            if p.kind == rtc.TrackKind.KIND_VIDEO and p.simulcasted
        ]
        decision = self.policy.guest_quality(identity, quality, has_layers=bool(layered))
        in_tiles = {v.publication.sid for v in self._videos if v.identity == identity}
        for video in self._videos:
            if video.identity == identity and not video.frames.closed:
                video.refit()
        # Outside tiles a poor connection asks for the small layer; anyone who wants more (the
        # program showing them large) still gets it, and a fine connection wants nothing.
        layer = self.policy.layer(identity, None)
        for publication in layered:
            if publication.sid not in in_tiles:
                LAYER_WISHES.want(publication, "connection", layer if layer is Layer.LOW else None)
        if decision is not None:
            self._adapt(decision.description)

    # --- chat, state ---------------------------------------------------------------------------

    async def send_chat(self, text: str) -> None:
        """Send a chat line to everyone (``lk.chat``, as LiveKit's own clients do)."""
        room = self._require_room()
        text = text.strip()
        if not text:
            return
        await answered(
            room.local_participant.send_text(text, topic=CHAT_TOPIC), "the chat line",
            ANSWER_TIMEOUT_S, "check the connection and send it again",
        )  # fmt: skip
        self.events.add_chat(room.local_participant.identity, text, is_local=True)

    async def ask_to_unmute(self, identity: str, source: str = "microphone") -> str:
        """Send one guest an unmute request (see :mod:`~desktop.session.stage_control`).

        Returns:
            The request's id (the guest's answer carries it).

        Raises:
            SessionError: Not in a room, or the guest is not in it.
        """
        room = self._require_room()
        if identity not in room.remote_participants:
            raise SessionError(
                SessionErrorCode.NOT_FOUND, f"{identity} is not in the room",
                "they may have left; pick someone in the People list",
            )  # fmt: skip
        local = room.local_participant
        request = stage_control.new_request(local.identity, local.name, source)
        await answered(
            local.publish_data(
                request.to_json(), reliable=True, destination_identities=[identity],
                topic=stage_control.UNMUTE_REQUEST_TOPIC,
            ),
            "the request to unmute", ANSWER_TIMEOUT_S, "check the connection and ask again",
        )  # fmt: skip
        return request.request_id

    def _refresh_local(self) -> None:
        self.events.refresh_local()

    def _set_link(self, link: LinkStats) -> None:
        self.store.update(link=link)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _logged(handler: Callable[..., None]) -> Callable[..., None]:
    """An SDK event handler whose exceptions are logged (the SDK's emitter would swallow them)."""

    def wrapper(*args: Any) -> None:
        try:
            handler(*args)
        except Exception:
            logger.exception("session handler failed")

    return wrapper


def _subscribe_audio(publication: rtc.RemoteTrackPublication, _: rtc.RemoteParticipant) -> None:
    """Without autoSubscribe, guests are still heard: their audio is taken as it is published."""
    try:
        if publication.kind == rtc.TrackKind.KIND_AUDIO:
            publication.set_subscribed(True)
    except Exception:
        logger.exception("subscribing to a guest's audio failed")
