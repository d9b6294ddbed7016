"""A host's connection to a LiveKit room: connect, publish the media sources, keep the state.

Everything runs on the application's asyncio loop (qasync in the studio, plain asyncio in
headless mode). Frames come from the media layer's fan-out queues; each published source has
one pump task that awaits its queue and hands frames to LiveKit without copying. SDK events are
turned into :class:`~desktop.session.state.RoomState` updates; every handler is wrapped so an
exception is logged instead of being swallowed by the SDK's emitter.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livekit import rtc
from livekit.rtc._proto.room_pb2 import AudioEncoding  # not re-exported by livekit.rtc
from livekit.rtc.participant import PublishTrackError

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.fanout import FrameQueue
from desktop.media.frames import AudioFrame, VideoFrame
from desktop.session import liveness
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.link_stats import LinkSampler
from desktop.session.state import (
    ChatMessage,
    ConnectionState,
    DisconnectReason,
    ParticipantState,
    Quality,
    QualityChange,
    Source,
    StateStore,
    TrackState,
)

logger = logging.getLogger(__name__)

CHAT_TOPIC = "lk.chat"
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DISCONNECT_TIMEOUT_S = 5.0
PUBLISH_TIMEOUT_S = 20.0
"""Longer than the SDK's own 10 s wait for the server's answer, which it does not always keep."""
AUDIO_QUEUE_MS = 100
"""LiveKit's default audio queue is a second of latency; keep it short (a multiple of 10)."""
LINK_STATS_INTERVAL_S = 2.0
"""How often the uplink figures (bitrate per layer, RTT, loss) are sampled."""

_SOURCES = {
    rtc.TrackSource.SOURCE_CAMERA: Source.CAMERA,
    rtc.TrackSource.SOURCE_MICROPHONE: Source.MICROPHONE,
    rtc.TrackSource.SOURCE_SCREENSHARE: Source.SCREEN,
    rtc.TrackSource.SOURCE_SCREENSHARE_AUDIO: Source.SCREEN_AUDIO,
}
_QUALITIES = {
    rtc.ConnectionQuality.QUALITY_EXCELLENT: Quality.EXCELLENT,
    rtc.ConnectionQuality.QUALITY_GOOD: Quality.GOOD,
    rtc.ConnectionQuality.QUALITY_POOR: Quality.POOR,
    rtc.ConnectionQuality.QUALITY_LOST: Quality.LOST,
}
_CODECS = {"vp8": rtc.VideoCodec.VP8, "h264": rtc.VideoCodec.H264, "vp9": rtc.VideoCodec.VP9}


@dataclass(frozen=True, slots=True)
class PublishDefaults:
    """How tracks are published (the platform's ConnectionRequest ``publishDefaults``)."""

    video_codec: str = "vp8"
    """h264, vp8 or vp9."""
    video_bitrate_bps: int = 2_500_000
    """Top layer bitrate of the camera."""
    audio_bitrate_bps: int = 48_000
    """Microphone bitrate."""
    width: int = 1280
    """Camera width published."""
    height: int = 720
    """Camera height published."""
    fps: int = 30
    """Camera frame rate published."""
    simulcast: bool = True
    """Publish the camera in several layers so small tiles get small video."""
    screen_bitrate_bps: int = 2_000_000
    """Screen share bitrate."""
    screen_fps: int = 15
    """Screen share frame rate."""

    def __post_init__(self) -> None:
        if self.video_codec not in _CODECS:
            raise ValueError(f"video codec must be one of {', '.join(_CODECS)}")


def check_url(url: str) -> str:
    """Validate a LiveKit server URL and return it.

    Raises:
        SessionError: BAD_URL with what is wrong.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("ws", "wss", "http", "https") or not parsed.hostname:
        raise SessionError(
            SessionErrorCode.BAD_URL,
            f"'{url}' is not a LiveKit server URL",
            "use the wss://… (or ws://host:7880 for a local server) address of your LiveKit server",
        )
    return url


def _connect_error(exc: Exception, url: str) -> SessionError:
    text = str(exc)
    lowered = text.lower()
    if any(w in lowered for w in ("401", "403", "invalid token", "unauthorized", "permission")):
        return SessionError(
            SessionErrorCode.TOKEN_REFUSED,
            f"the server refused the access token ({text.split(' - ')[-1][:160]})",
            "get a new token (sign in again), or check the API key and secret",
        )
    return SessionError(
        SessionErrorCode.UNREACHABLE,
        f"could not reach the LiveKit server at {url}",
        "check the URL and your network, then connect again",
    )


@dataclass
class _Published:
    """A source being published: its LiveKit track and the task feeding it."""

    publication: rtc.LocalTrackPublication
    track: rtc.LocalVideoTrack | rtc.LocalAudioTrack
    pump: asyncio.Task[None]
    queue: FrameQueue[Any]
    unsubscribe: Callable[[], None]
    lk_source: rtc.VideoSource | rtc.AudioSource
    width: int = 0
    height: int = 0


@dataclass(frozen=True, slots=True)
class RemoteFrame:
    """A remote video frame ready to paint: packed RGB24, no further conversion needed."""

    rgb: Any
    """(height, width, 3) uint8 array."""
    width: int
    height: int
    timestamp_us: int


class RemoteVideo:
    """One remote video track feeding one tile: newest frame only, sized for the tile."""

    def __init__(self, publication: rtc.RemoteTrackPublication, track: rtc.Track) -> None:
        self.publication = publication
        self.frames: FrameQueue[RemoteFrame] = FrameQueue("tile", maxsize=1)
        # capacity=1: a tile only ever wants the newest frame; RGB24 paints without conversion.
        self._stream = rtc.VideoStream(track, capacity=1, format=rtc.VideoBufferType.RGB24)
        self._task = asyncio.ensure_future(self._read())

    def fit(self, tile_height_px: int) -> None:
        """Ask for the smallest simulcast layer that fills a tile this tall."""
        if tile_height_px <= 240:
            quality = rtc.VideoQuality.VIDEO_QUALITY_LOW
        elif tile_height_px <= 540:
            quality = rtc.VideoQuality.VIDEO_QUALITY_MEDIUM
        else:
            quality = rtc.VideoQuality.VIDEO_QUALITY_HIGH
        if self.publication.simulcasted:  # a single-layer track has nothing smaller to give
            self.publication.set_video_quality(quality)

    async def _read(self) -> None:
        import numpy as np

        async for event in self._stream:
            frame = event.frame
            rgb = np.frombuffer(frame.data, np.uint8).reshape(frame.height, frame.width, 3)
            self.frames.put(RemoteFrame(rgb, frame.width, frame.height, event.timestamp_us))

    async def aclose(self) -> None:
        """Stop reading."""
        self._task.cancel()
        await self._stream.aclose()
        self.frames.close()


class RoomSession:
    """The host's session in one room.

    Args:
        store: Where the room state lives (shared with the UI bridge).
        defaults: How to publish.
    """

    def __init__(
        self, store: StateStore | None = None, defaults: PublishDefaults | None = None
    ) -> None:
        self.store = store or StateStore()
        self.defaults = defaults or PublishDefaults()
        self.room: rtc.Room | None = None
        self._published: dict[Source, _Published] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._camera_divider = 1
        """Send every n-th camera frame: 2 while the host's connection is poor."""

    # --- connecting --------------------------------------------------------------------------

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
        self.store.update(
            connection=ConnectionState.CONNECTING, error="", disconnect_reason="", disconnect=None
        )
        room = rtc.Room()
        self._wire(room)
        try:
            await asyncio.wait_for(
                room.connect(url, token, rtc.RoomOptions(connect_timeout=timeout_s)),
                timeout_s * 2 + 5,
            )
        except (rtc.ConnectError, TimeoutError, OSError) as exc:
            failure = _connect_error(exc, url)
            self.store.update(connection=ConnectionState.FAILED, error=str(failure))
            await room.disconnect()
            raise failure from None
        self.room = room
        local = room.local_participant
        self.store.update(
            connection=ConnectionState.CONNECTED,
            room_name=room.name,
            room_metadata=room.metadata,
            local=ParticipantState(identity=local.identity, name=local.name, sid=local.sid),
            remotes={
                p.identity: _replace(self._participant(p), joined_at_ms=int(time.time() * 1000))
                for p in room.remote_participants.values()
            },
        )
        room.register_text_stream_handler(CHAT_TOPIC, self._on_chat_stream)
        self._spawn(self._sample_link())
        # The SDK misses a server frozen for seconds; this says "reconnecting" meanwhile.
        loop = asyncio.get_running_loop()
        self._spawn(liveness.watch(room, self.store, lambda: bool(self._published), loop.time))

    async def aclose(self) -> None:
        """Stop publishing and leave the room."""
        for source in list(self._published):
            await self._stop_pump(source)
        room, self.room = self.room, None
        if room is not None:
            try:
                # After the server removed us (or dropped the connection) the SDK's disconnect
                # can wait forever for an answer that never comes: leaving must not hang.
                await asyncio.wait_for(room.disconnect(), DISCONNECT_TIMEOUT_S)
            except TimeoutError:
                logger.warning(
                    "leaving the room took over %.0f s; left anyway", DISCONNECT_TIMEOUT_S
                )
        for task in list(self._tasks):
            task.cancel()
        if self.store.state.connection in (ConnectionState.CONNECTED, ConnectionState.RECONNECTING):
            self.store.update(
                connection=ConnectionState.DISCONNECTED,
                disconnect_reason="you left",
                disconnect=DisconnectReason.LEFT,
            )

    def _require_room(self) -> rtc.Room:
        if self.room is None or self.store.state.connection is ConnectionState.FAILED:
            raise SessionError(
                SessionErrorCode.NOT_CONNECTED, "not connected to a room", "connect first"
            )
        return self.room

    # --- publishing --------------------------------------------------------------------------

    async def publish_camera(self, camera: VideoCaptureSource) -> rtc.LocalTrackPublication:
        """Publish a camera with the defaults (simulcast on unless disabled)."""
        d = self.defaults
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA,
            simulcast=d.simulcast,
            video_codec=_CODECS[d.video_codec],
            video_encoding=rtc.VideoEncoding(max_bitrate=d.video_bitrate_bps, max_framerate=d.fps),
        )
        return await self._publish_video(Source.CAMERA, camera, options, is_screencast=False)

    async def publish_screen(self, screen: VideoCaptureSource) -> rtc.LocalTrackPublication:
        """Share a screen: screencast mode keeps text sharp under congestion."""
        d = self.defaults
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_SCREENSHARE,
            simulcast=False,
            video_codec=_CODECS[d.video_codec],
            video_encoding=rtc.VideoEncoding(
                max_bitrate=d.screen_bitrate_bps, max_framerate=d.screen_fps
            ),
        )
        return await self._publish_video(Source.SCREEN, screen, options, is_screencast=True)

    async def publish_microphone(self, mic: AudioCaptureSource) -> rtc.LocalTrackPublication:
        """Publish a microphone."""
        room = self._require_room()
        await self._stop_pump(Source.MICROPHONE)
        lk_source = rtc.AudioSource(
            mic.sample_rate_hz, mic.num_channels, queue_size_ms=AUDIO_QUEUE_MS
        )
        track = rtc.LocalAudioTrack.create_audio_track("microphone", lk_source)
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_MICROPHONE,
            audio_encoding=AudioEncoding(max_bitrate=self.defaults.audio_bitrate_bps),
        )
        publication = await _publish_track(room, track, options)
        self._published[Source.MICROPHONE] = self._feed_audio(publication, track, lk_source, mic)
        self._refresh_local()
        return publication

    async def _publish_video(
        self,
        kind: Source,
        capture: VideoCaptureSource,
        options: rtc.TrackPublishOptions,
        is_screencast: bool,
    ) -> rtc.LocalTrackPublication:
        room = self._require_room()
        await self._stop_pump(kind)
        width = capture.width or self.defaults.width
        height = capture.height or self.defaults.height
        # Simulcast layers follow the size given here, so it is the real capture size.
        lk_source = rtc.VideoSource(width, height, is_screencast=is_screencast)
        name = "screen" if kind is Source.SCREEN else "camera"
        track = rtc.LocalVideoTrack.create_video_track(name, lk_source)
        publication = await _publish_track(room, track, options)
        self._published[kind] = self._feed_video(kind, publication, track, lk_source, capture)
        self._refresh_local()
        return publication

    def _feed_video(
        self,
        kind: Source,
        publication: rtc.LocalTrackPublication,
        track: rtc.LocalVideoTrack,
        lk_source: rtc.VideoSource,
        capture: VideoCaptureSource,
    ) -> _Published:
        queue: FrameQueue[VideoFrame] = capture.frames.subscribe("publisher", maxsize=2)

        async def pump() -> None:
            sent = 0
            while (frame := await queue.aget()) is not None:
                sent += 1
                divider = self._camera_divider if kind is Source.CAMERA else 1
                if sent % divider:
                    continue  # adapting to a poor connection: fewer frames, fewer bits
                lk_source.capture_frame(frame.to_livekit(), timestamp_us=frame.timestamp_us)

        return _Published(
            publication,
            track,
            self._spawn(pump()),
            queue,
            functools.partial(capture.frames.unsubscribe, queue),
            lk_source,
            capture.width,
            capture.height,
        )

    def _feed_audio(
        self,
        publication: rtc.LocalTrackPublication,
        track: rtc.LocalAudioTrack,
        lk_source: rtc.AudioSource,
        mic: AudioCaptureSource,
    ) -> _Published:
        queue: FrameQueue[AudioFrame] = mic.frames.subscribe("publisher", maxsize=10)

        async def pump() -> None:
            while (frame := await queue.aget()) is not None:
                await lk_source.capture_frame(frame.to_livekit())

        return _Published(
            publication,
            track,
            self._spawn(pump()),
            queue,
            functools.partial(mic.frames.unsubscribe, queue),
            lk_source,
        )

    async def switch_camera(self, camera: VideoCaptureSource) -> None:
        """Switch to another camera while live; the track (and everything else) stays.

        A camera of another size needs a new track (LiveKit sources have a fixed size).
        """
        await self._switch_video(Source.CAMERA, camera)

    async def switch_screen(self, screen: VideoCaptureSource) -> None:
        """Share another monitor or window while live."""
        await self._switch_video(Source.SCREEN, screen)

    async def _switch_video(self, kind: Source, capture: VideoCaptureSource) -> None:
        current = self._published.get(kind)
        if current is None or (current.width, current.height) != (capture.width, capture.height):
            if current is not None:
                await self._stop_pump(kind, unpublish=True)
            if kind is Source.CAMERA:
                await self.publish_camera(capture)
            else:
                await self.publish_screen(capture)
            return
        current.unsubscribe()
        current.pump.cancel()
        assert isinstance(current.track, rtc.LocalVideoTrack)
        assert isinstance(current.lk_source, rtc.VideoSource)
        self._published[kind] = self._feed_video(
            kind, current.publication, current.track, current.lk_source, capture
        )

    async def switch_microphone(self, mic: AudioCaptureSource) -> None:
        """Switch to another microphone while live, keeping the track (and its mute state)."""
        current = self._published.get(Source.MICROPHONE)
        if current is None:
            await self.publish_microphone(mic)
            return
        current.unsubscribe()
        current.pump.cancel()
        assert isinstance(current.track, rtc.LocalAudioTrack)
        assert isinstance(current.lk_source, rtc.AudioSource)
        self._published[Source.MICROPHONE] = self._feed_audio(
            current.publication, current.track, current.lk_source, mic
        )

    def open_remote_video(
        self, identity: str, source: Source = Source.CAMERA, tile_height_px: int = 360
    ) -> RemoteVideo | None:
        """Frames of a guest's camera or screen for a tile, at the layer that fills it."""
        room = self._require_room()
        participant = room.remote_participants.get(identity)
        if participant is None:
            return None
        for publication in participant.track_publications.values():
            if _SOURCES.get(publication.source) is source and publication.track is not None:
                video = RemoteVideo(publication, publication.track)
                video.fit(tile_height_px)
                return video
        return None

    def _adapt(self, description: str) -> None:
        logger.info("quality adaptation: %s", description)
        change = QualityChange(int(time.time() * 1000), description)
        self.store.update(adaptations=(*self.store.state.adaptations, change))

    def _on_own_quality(self, quality: Quality) -> None:
        if quality in (Quality.POOR, Quality.LOST) and self._camera_divider == 1:
            self._camera_divider = 2
            self._adapt("your connection is poor: camera frame rate halved to save bandwidth")
        elif quality in (Quality.EXCELLENT, Quality.GOOD) and self._camera_divider != 1:
            self._camera_divider = 1
            self._adapt("your connection recovered: camera back to full frame rate")

    def _on_guest_quality(self, identity: str, quality: Quality) -> None:
        room = self.room
        participant = room.remote_participants.get(identity) if room else None
        if participant is None:
            return
        low = quality in (Quality.POOR, Quality.LOST)
        layered = [
            p
            for p in participant.track_publications.values()
            if p.kind == rtc.TrackKind.KIND_VIDEO and p.simulcasted
        ]
        for publication in layered:
            publication.set_video_quality(
                rtc.VideoQuality.VIDEO_QUALITY_LOW if low else rtc.VideoQuality.VIDEO_QUALITY_HIGH
            )
        if low:
            action = (
                "asking for their smallest video layer"
                if layered
                else ("their video has a single layer, nothing smaller to ask for")
            )
            self._adapt(f"{identity}'s connection is poor: {action}")

    async def stop_screen_share(self) -> None:
        """Stop sharing the screen; camera and microphone carry on."""
        await self._stop_pump(Source.SCREEN, unpublish=True)
        self._refresh_local()

    async def set_muted(self, source: Source, muted: bool) -> None:
        """Mute or unmute camera or microphone (``track.mute()``, never unpublish)."""
        published = self._published.get(source)
        if published is None:
            what = source.name.lower()
            raise SessionError(
                SessionErrorCode.NOT_CONNECTED, f"no {what} is published", "start it first"
            )
        if muted:
            published.track.mute()
        else:
            published.track.unmute()
        self._refresh_local()

    async def _stop_pump(self, source: Source, unpublish: bool = False) -> None:
        published = self._published.pop(source, None)
        if published is None:
            return
        published.unsubscribe()
        published.pump.cancel()
        if unpublish and self.room is not None:
            await self.room.local_participant.unpublish_track(published.publication.sid)
        if unpublish:
            # Release the native source now: left to the garbage collector, every screen share
            # started and stopped kept its buffers (about 10 MB each at 720p, measured).
            try:
                await published.lk_source.aclose()
            except Exception as exc:  # noqa: BLE001 - already gone with the room is fine
                logger.debug("closing the %s source: %r", source.name, exc)

    # --- uplink statistics -------------------------------------------------------------------

    async def _sample_link(self) -> None:
        """Sample WebRTC's counters of every published track into ``state.link``."""
        sampler = LinkSampler()
        while self.room is not None:
            await asyncio.sleep(LINK_STATS_INTERVAL_S)
            reports: dict[Source, list[Any]] = {}
            for source, published in list(self._published.items()):
                try:
                    reports[source] = await published.track.get_stats()
                except Exception as exc:  # noqa: BLE001 - a track closing mid-sample is normal
                    logger.debug("stats of %s: %r", source.name, exc)
            if reports:
                self.store.update(link=sampler.sample(reports, int(time.time() * 1000)))

    # --- chat --------------------------------------------------------------------------------

    async def send_chat(self, text: str) -> None:
        """Send a chat line to everyone."""
        room = self._require_room()
        text = text.strip()
        if not text:
            return
        await room.local_participant.send_text(text, topic=CHAT_TOPIC)
        identity = room.local_participant.identity
        message = ChatMessage(identity, text, int(time.time() * 1000), is_local=True)
        self.store.update(chat=(*self.store.state.chat, message))

    def _on_chat_stream(self, reader: rtc.TextStreamReader, sender: str) -> None:
        async def read() -> None:
            text = await reader.read_all()
            message = ChatMessage(sender, text, int(time.time() * 1000))
            self.store.update(chat=(*self.store.state.chat, message))

        self._spawn(read())

    # --- SDK events → state ------------------------------------------------------------------

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _wire(self, room: rtc.Room) -> None:
        def guarded(handler: Callable[..., None]) -> Callable[..., None]:
            @functools.wraps(handler)
            def wrapper(*args: Any) -> None:
                try:
                    handler(*args)
                except Exception:  # the SDK's emitter would swallow it silently
                    logger.exception("room event handler %s failed", handler.__name__)

            return wrapper

        def refresh_remote(participant: rtc.RemoteParticipant, *_: Any) -> None:
            if participant.identity in room.remote_participants:
                fields = _fields(self._participant(participant))
                if participant.identity not in self.store.state.remotes:
                    # The SDK does not expose the server's join time: note when we saw them.
                    fields["joined_at_ms"] = int(time.time() * 1000)
                self.store.update_remote(participant.identity, **fields)

        def on_track_event(*args: Any) -> None:
            participant = next(a for a in args if isinstance(a, rtc.RemoteParticipant))
            refresh_remote(participant)

        def on_local_track_event(*args: Any) -> None:
            self._refresh_local()

        def on_disconnected(participant: rtc.RemoteParticipant) -> None:
            self.store.remove_remote(participant.identity)

        def on_speakers(speakers: list[rtc.Participant]) -> None:
            speaking = {p.identity for p in speakers}
            for identity, state in self.store.state.remotes.items():
                if state.is_speaking != (identity in speaking):
                    self.store.update_remote(identity, is_speaking=identity in speaking)
            local = self.store.state.local
            if local is not None and local.is_speaking != (local.identity in speaking):
                self.store.update(local=_replace(local, is_speaking=local.identity in speaking))

        def on_quality(participant: rtc.Participant, quality: int) -> None:
            value = _QUALITIES.get(quality, Quality.UNKNOWN)  # type: ignore[call-overload]
            local = self.store.state.local
            if local is not None and participant.identity == local.identity:
                if local.quality is not value:
                    self.store.update(local=_replace(local, quality=value))
                    self._on_own_quality(value)
            elif participant.identity in self.store.state.remotes:
                previous = self.store.state.remotes[participant.identity].quality
                self.store.update_remote(participant.identity, quality=value)
                if previous is not value:
                    self._on_guest_quality(participant.identity, value)

        def on_subscription_failed(
            participant: rtc.RemoteParticipant, track_sid: str, error: str
        ) -> None:
            self._adapt(f"could not receive {participant.identity}'s track ({error}); retrying")
            publication = participant.track_publications.get(track_sid)
            if publication is not None:

                async def retry() -> None:
                    await asyncio.sleep(1.0)
                    publication.set_subscribed(True)

                self._spawn(retry())

        def on_metadata(metadata: str) -> None:
            self.store.update(room_metadata=metadata)

        def on_reconnecting() -> None:
            self.store.update(connection=ConnectionState.RECONNECTING)

        def on_reconnected() -> None:
            self.store.update(connection=ConnectionState.CONNECTED)

        def on_room_disconnected(reason: int) -> None:
            self.store.update(
                connection=ConnectionState.DISCONNECTED,
                disconnect_reason=_reason_words(reason),
                disconnect=_REASONS.get(reason, DisconnectReason.CONNECTION_LOST),
            )

        handlers: dict[str, Callable[..., None]] = {
            "participant_connected": refresh_remote,
            "participant_disconnected": on_disconnected,
            "participant_metadata_changed": refresh_remote,
            "participant_name_changed": refresh_remote,
            "participant_attributes_changed": lambda changed, p: refresh_remote(p),
            "track_published": on_track_event,
            "track_unpublished": on_track_event,
            "track_subscribed": on_track_event,
            "track_unsubscribed": on_track_event,
            "track_muted": lambda p, pub: (
                on_track_event(p)
                if isinstance(p, rtc.RemoteParticipant)
                else on_local_track_event()
            ),
            "track_unmuted": lambda p, pub: (
                on_track_event(p)
                if isinstance(p, rtc.RemoteParticipant)
                else on_local_track_event()
            ),
            "local_track_published": on_local_track_event,
            "local_track_unpublished": on_local_track_event,
            "active_speakers_changed": on_speakers,
            "connection_quality_changed": on_quality,
            "track_subscription_failed": on_subscription_failed,
            "reconnecting": on_reconnecting,
            "reconnected": on_reconnected,
            "disconnected": on_room_disconnected,
            "room_metadata_changed": lambda old, new: on_metadata(new),
        }
        for event, handler in handlers.items():
            room.on(event, guarded(handler))  # type: ignore[arg-type]

    def _refresh_local(self) -> None:
        room = self.room
        local = self.store.state.local
        if room is None or local is None:
            return
        tracks = tuple(_track(pub) for pub in room.local_participant.track_publications.values())
        self.store.update(local=_replace(local, tracks=tracks))

    @staticmethod
    def _participant(p: rtc.RemoteParticipant) -> ParticipantState:
        return ParticipantState(
            identity=p.identity,
            name=p.name,
            sid=p.sid,
            metadata=p.metadata,
            attributes=dict(p.attributes),
            can_publish=bool(p.permissions.can_publish) if p.permissions else True,
            tracks=tuple(_track(pub) for pub in p.track_publications.values()),
        )


def _track(pub: rtc.TrackPublication) -> TrackState:
    # A local track knows it is muted at once; its publication learns it from an event later.
    local_track = pub.track if isinstance(pub, rtc.LocalTrackPublication) else None
    return TrackState(
        sid=pub.sid,
        source=_SOURCES.get(pub.source, Source.UNKNOWN),
        is_video=pub.kind == rtc.TrackKind.KIND_VIDEO,
        muted=local_track.muted if local_track is not None else pub.muted,
        simulcast=pub.simulcasted,
        width=pub.width,
        height=pub.height,
        subscribed=bool(getattr(pub, "subscribed", False)),
    )


def _fields(state: ParticipantState) -> dict[str, Any]:
    keep = ("name", "sid", "metadata", "attributes", "can_publish", "tracks")
    return {name: getattr(state, name) for name in keep}


def _replace(state: ParticipantState, **changes: Any) -> ParticipantState:
    import dataclasses

    return dataclasses.replace(state, **changes)


async def _publish_track(
    room: rtc.Room, track: rtc.LocalTrack, options: rtc.TrackPublishOptions
) -> rtc.LocalTrackPublication:
    """Publish, turning the SDK's failure (often a connection that just dropped) into words.

    Bounded: when the room is lost mid-publish (removed, server gone) the SDK's call can wait
    forever for a confirmation that will never come, so it also ends as soon as the room is.
    """
    publishing = asyncio.ensure_future(room.local_participant.publish_track(track, options))
    deadline_s = time.monotonic() + PUBLISH_TIMEOUT_S
    reason = f"no confirmation within {PUBLISH_TIMEOUT_S:.0f} s"
    try:
        while time.monotonic() < deadline_s:
            done, _ = await asyncio.wait({publishing}, timeout=0.25)
            if done:
                return publishing.result()
            if room.connection_state == rtc.ConnectionState.CONN_DISCONNECTED:
                reason = "the room was left meanwhile"
                break
    except PublishTrackError as exc:
        reason = exc.message
    finally:
        if not publishing.done():
            publishing.cancel()
    raise SessionError(
        SessionErrorCode.PUBLISH_FAILED,
        f"the server did not take the {track.name} ({reason})",
        "check the connection; it is published again when the room is back",
    )


_REASONS: dict[int, DisconnectReason] = {
    rtc.DisconnectReason.CLIENT_INITIATED: DisconnectReason.LEFT,
    rtc.DisconnectReason.PARTICIPANT_REMOVED: DisconnectReason.REMOVED,
    rtc.DisconnectReason.ROOM_DELETED: DisconnectReason.ROOM_CLOSED,
    rtc.DisconnectReason.DUPLICATE_IDENTITY: DisconnectReason.REPLACED,
    rtc.DisconnectReason.SERVER_SHUTDOWN: DisconnectReason.SERVER_SHUTDOWN,
}
"""The SDK's reasons as ours; anything else (signal closed, join failure, unknown) is a lost
connection that may come back."""


def _reason_words(reason: int) -> str:
    words = {
        rtc.DisconnectReason.CLIENT_INITIATED: "you left",
        rtc.DisconnectReason.PARTICIPANT_REMOVED: "a moderator removed you from the room",
        rtc.DisconnectReason.ROOM_DELETED: "the room was closed",
        rtc.DisconnectReason.DUPLICATE_IDENTITY: "you joined from somewhere else",
        rtc.DisconnectReason.SERVER_SHUTDOWN: "the server shut down",
        rtc.DisconnectReason.JOIN_FAILURE: "joining failed",
        rtc.DisconnectReason.SIGNAL_CLOSE: "the connection to the server was lost",
    }
    return str(words.get(reason, "the connection ended"))  # type: ignore[call-overload]
